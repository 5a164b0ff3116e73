"""Network view of the default ``kaiming-variance`` run: the tutorial way vs initscope.

The tutorial way builds ``nn.Linear`` layers and calls ``torch.nn.init.kaiming_normal_``
for every one of the M networks, then pushes the fixed input through. It is timed
on a subset of networks and scaled per network. initscope's exact sampler draws
``W h ~ sigma_w |h| z`` instead of whole matrices. Both run here, in one process,
and the script prints the per-network ratio and the wall time of the whole default
``initscope run kaiming-variance`` (network + sample + layer views, figures, report).

    python benchmarks/bench_network_view.py [--naive-networks 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from initscope.engine import ProbeConfig, probe
from initscope.nets import MLPSpec
from initscope.runner import run

DEPTH, WIDTH, M = 50, 1024, 1000  # text 000's setup


def naive_network_view(n_networks: int, x0: torch.Tensor, device: str) -> float:
    """Seconds per network the way a tutorial does it."""
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(n_networks):
            layers = [nn.Linear(WIDTH, WIDTH, bias=False, device=device) for _ in range(DEPTH)]
            for layer in layers:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            h = x0
            for i, layer in enumerate(layers):
                y = layer(h)
                h = torch.relu(y)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n_networks


def initscope_network_view(networks: int, device: str) -> float:
    cfg = ProbeConfig(spec=MLPSpec(input_dim=WIDTH, width=WIDTH, depth=DEPTH), networks=networks, views=("network",), device=device)
    probe(cfg)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    probe(cfg)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / networks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--naive-networks", type=int, default=5)
    ap.add_argument("--networks", type=int, default=M)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-full-run", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    x0 = torch.randn(1, WIDTH, device=args.device)
    naive_network_view(1, x0, args.device)  # warm-up
    naive = naive_network_view(args.naive_networks, x0, args.device)
    ours = initscope_network_view(args.networks, args.device)
    print(f"network view, depth {DEPTH}, width {WIDTH}, device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"  tutorial (nn.Linear + kaiming_normal_), {args.naive_networks} networks: {naive * 1e3:9.2f} ms / network")
    print(f"  initscope exact sampler, {args.networks} networks:          {ours * 1e3:9.4f} ms / network")
    print(f"  speed-up per network: {naive / ours:,.0f}x  (target >= 1000x)")
    print(f"  M={M} networks the tutorial way would take ~{naive * M:.0f} s; initscope: {ours * M:.2f} s")
    if not args.skip_full_run:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            run("kaiming-variance", seed=0, device=args.device, out=Path(d) / "run")
            wall = time.perf_counter() - t0
        print(f"whole default `initscope run kaiming-variance` (in-process): {wall:.2f} s  (target < 10 s)")


if __name__ == "__main__":
    main()
