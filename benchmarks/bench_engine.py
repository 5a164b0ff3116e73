"""The engine at the speed of each init's randomness (issue 12), ratios measured in one process.

    python benchmarks/bench_engine.py [--parts laws,run,full,memory,presets] [--device cpu]

* ``laws``: the network view of text 000's setup (1000 networks, 50 layers of 1024) with
  the exact laws of orthogonal and sphere weights against the Gaussian shortcut.
  Targets: orthogonal <= 1.5x; sphere <= 2x (a Beta draw needs a Gamma, two more random
  numbers per unit than a normal).
* ``run``: the whole default ``kaiming-variance`` run with ``init=orthogonal`` (and
  ``sphere``) against the ``kaiming-normal`` run. Target <= 2x (the sample view needs a
  Householder QR per layer: its floor).
* ``full``: the full-matrix path (uniform, truncated normal: no exact law) against the
  time to draw the same random numbers alone. Target <= 1.3x.
* ``memory``: peak resident memory of ``kaiming-variance`` with every view at width
  30000, depth 3, ``memory_mb=512`` (one float32 matrix is 3.4 GiB), in a child process.
  Target < 2.5 GiB. One sample-view network instead of 4: networks are measured one
  after another, so the peak does not depend on it, and the run takes minutes, not tens.
* ``presets``: the network view of every preset on 128 networks, scaled to the default
  1000 (the rest of a run does not depend on the preset, except orthogonal's QR).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from initscope.engine import ProbeConfig, probe
from initscope.nets import TILE_ENTRIES, MLPSpec, row_tiles
from initscope.repro import generator
from initscope.runner import run
from initscope.schemes import SCHEMES


def _timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def laws(device: str) -> None:
    def view(init: str) -> float:
        cfg = ProbeConfig(spec=MLPSpec(init=init), views=("network",), device=device)
        return _timed(lambda: probe(cfg), repeat=3)

    base = view("kaiming-normal")
    print(f"network view, 1000 networks x 50 layers of 1024, {device}, {torch.get_num_threads()} threads")
    print(f"  kaiming-normal (Gaussian shortcut): {base:6.2f} s")
    for init, target in (("orthogonal", 1.5), ("sphere", 2.0)):
        t = view(init)
        print(f"  {init:14s} exact law:           {t:6.2f} s  ratio {t / base:4.2f}x  (target <= {target}x)")


def whole_run(device: str) -> None:
    def wall(init: str) -> float:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            run("kaiming-variance", overrides={"init": init}, seed=0, device=device, out=Path(d) / "run")
            return time.perf_counter() - t0

    base = wall("kaiming-normal")
    print(f"whole default kaiming-variance run, {device}")
    print(f"  kaiming-normal: {base:6.1f} s")
    for init in ("orthogonal", "sphere"):
        t = wall(init)
        print(f"  {init:14s} {t:6.1f} s  ratio {t / base:4.2f}x  (target <= 2x)")


def full_path(device: str) -> None:
    depth, networks = 10, 256
    print(f"full-matrix path, {networks} networks x {depth} layers of 1024, {device}")
    for init in ("kaiming-uniform", "truncated-normal"):
        spec = MLPSpec(init=init, depth=depth)
        cfg = ProbeConfig(spec=spec, views=("network",), networks=networks, device=device)
        t = _timed(lambda: probe(cfg))
        scheme, g = spec.scheme, generator(0, "bench", device=device)
        tiles = row_tiles(1024, 1024, 64)

        buffer = torch.empty(64, len(tiles[0]), 1024, device=device)  # the floor: no allocation at all

        def draw_only() -> None:
            for _ in range(depth):
                for _ in range(networks // 64):
                    for rows in tiles:
                        scheme.init_(buffer[:, : len(rows)], generator=g, batch_dims=1, fan_shape=(1024, 1024))
            if device == "cuda":
                torch.cuda.synchronize()

        td = _timed(draw_only)
        print(f"  {init:16s} probe {t:6.2f} s, drawing its weights alone {td:6.2f} s: ratio {t / td:4.2f}x  (target <= 1.3x)")


def memory() -> None:
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "initscope", "run", "kaiming-variance", "--set", "width=30000", "--set", "depth=3",
               "--set", "memory_mb=512", "--set", "sample_networks=1", "--out", str(Path(d) / "run"), "--json"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    print("kaiming-variance, every view, width 30000, depth 3, memory_mb=512 (a float32 matrix is 3.35 GiB)")
    print(f"  peak resident memory {peak:.2f} GiB  (target < 2.5 GiB), wall {wall:.0f} s, weights drawn in tiles of {TILE_ENTRIES:,} entries")


def presets(device: str) -> None:
    print(f"network view of every preset, 128 networks x 50 layers of 1024, scaled to 1000 networks, {device}")
    for name in sorted(SCHEMES):
        cfg = ProbeConfig(spec=MLPSpec(init=name), views=("network",), networks=128, device=device)
        t0 = time.perf_counter()
        res = probe(cfg)
        t = time.perf_counter() - t0
        print(f"  {name:18s} {res.sampler:5s} {t * 1000 / 128:8.1f} s per 1000 networks")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="laws,run,full,memory", help="comma-separated: laws, run, full, memory, presets")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    parts = args.parts.split(",")
    for part, fn in (("laws", lambda: laws(args.device)), ("run", lambda: whole_run(args.device)),
                     ("full", lambda: full_path(args.device)), ("memory", memory), ("presets", lambda: presets(args.device))):
        if part in parts:
            fn()
    unknown = set(parts) - {"laws", "run", "full", "memory", "presets"}
    if unknown:
        sys.exit(f"unknown parts: {', '.join(sorted(unknown))}")


if __name__ == "__main__":
    main()
