"""Finite-width theory against simulation (issue 17): accuracy and speed, in one process.

    python benchmarks/bench_finite_width.py [--widths 256,1024] [--networks 1600,400] [--samples 200]

For each setup (ReLU/Kaiming; tanh with sigma_w^2 = 1.5, sigma_b^2 = 0.05) and width, at
depth 50: the sample view with many networks (whole weight matrices; the error bar is a
jackknife over networks), the sampled Gram chain (``theory.finite_width``) on the same
inputs, and mean field. Prints the simulated sample fraction at layers 10, 20 and 50 with
its relative error, and each theory's gap in combined standard errors (|z| <= 3 agrees).
Also the chain's time for depth 50 at width 1024 (target < 2 s) beside the simulation's.
"""

from __future__ import annotations

import argparse
import time

import torch

from initscope.data import get_input
from initscope.engine import ProbeConfig, probe
from initscope.nets import MLPSpec
from initscope.repro import generator
from initscope.theory import predict
from initscope.theory.finite_width import pairs_from, predict_finite_width

SETUPS = {
    "relu-kaiming": dict(activation="relu", init="kaiming-normal"),
    "tanh-1.5-0.05": dict(activation="tanh", init="lecun-normal", weight_scale=1.5, bias="normal", sigma_b=0.05**0.5),
}
LAYERS = (10, 20, 50)


def one(setup: str, width: int, networks: int, samples: int, replicates: int) -> None:
    spec = MLPSpec(input_dim=width, width=width, depth=50, **SETUPS[setup])
    t0 = time.perf_counter()
    res = probe(ProbeConfig(spec=spec, samples=samples, sample_networks=networks, views=("sample",), seed=1))
    t_sim = time.perf_counter() - t0
    x = get_input("gaussian").sample(samples, width, generator=generator(1, "inputs"), dtype=torch.float64)
    t0 = time.perf_counter()
    fw = predict_finite_width(spec, pairs=pairs_from(x, replicates, 2), x0=x[0], samples=samples, seed=2)
    t_fw = time.perf_counter() - t0
    sw2 = spec.scheme.second_moment((width, width)) * width
    x_sq = float((x * x).mean())
    total = x.sum(0)
    x_ab = (float(total @ total) - float((x * x).sum())) / (samples * (samples - 1) * width)
    mf = predict(spec.act, sw2, spec.sigma_b**2, 50, x_sq=x_sq, x_ab=x_ab, samples=samples)
    print(f"{setup}, width {width}: simulation {networks} networks x {samples} samples {t_sim:.0f} s; chain {replicates} replicates {t_fw:.2f} s")
    s = res.stats
    for layer in LAYERS:
        row = s[(s.stat == "sample_fraction") & (s.site == "pre") & (s.layer == layer)]
        v, se = float(row.value.iloc[0]), float(row.stderr.iloc[0])
        f, fse = fw.sample_fraction[layer - 1], fw.sample_fraction_stderr[layer - 1]
        m = mf.sample_fraction[layer - 1]
        zf = (v - f) / (se**2 + fse**2) ** 0.5
        zm = (v - m) / se
        print(f"  layer {layer:2d}: simulated {v:.5f} ± {se / v:.1%} | finite width {f:.5f} ± {fse / f:.1%} (z {zf:+.1f}) "
              f"| mean field {m:.5f} (z {zm:+.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--widths", default="256,1024")
    ap.add_argument("--networks", default="1600,400", help="sample-view networks per width")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--replicates", type=int, default=4000)
    args = ap.parse_args()
    spec = MLPSpec(input_dim=1024, width=1024, depth=50)
    x = get_input("gaussian").sample(1000, 1024, generator=generator(0, "inputs"), dtype=torch.float64)
    predict_finite_width(spec, pairs=pairs_from(x, 1000, 0), x0=x[0], samples=1000)  # warm-up
    t0 = time.perf_counter()
    predict_finite_width(spec, pairs=pairs_from(x, 1000, 0), x0=x[0], samples=1000)
    t_fw = time.perf_counter() - t0
    t0 = time.perf_counter()
    probe(ProbeConfig(spec=spec, samples=1000, sample_networks=12, views=("sample",)))
    t_sim = time.perf_counter() - t0
    print(f"depth 50, width 1024: chain (1000 replicates) {t_fw:.2f} s (target < 2 s); "
          f"the sample view it replaces (12 networks x 1000 samples) {t_sim:.1f} s")
    for setup in args.setups.split(","):
        for width, networks in zip(map(int, args.widths.split(",")), map(int, args.networks.split(","))):
            one(setup, width, networks, args.samples, args.replicates)


if __name__ == "__main__":
    main()
