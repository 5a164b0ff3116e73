"""CUDA against CPU: the engine's statistics agree across devices within their spread over seeds.

    python benchmarks/check_cuda.py [--device cuda] [--seeds 16]

CUDA and CPU draw from different random streams (inputs and weights), so their numbers
differ; what must hold is that they estimate the same quantities. For each sampler path
(the exact Gaussian shortcut, an exact non-Gaussian law, the full-matrix path), every view is
run for ``--seeds`` seeds on each device. Each row of ``stats`` (view, site, layer, stat) is
averaged over seeds on each device, and Welch's t = (mean_a - mean_b) / sqrt(s_a^2/K + s_b^2/K)
compares the two (the spread over seeds includes the input's randomness, which a single
run's error bar does not). With K = 16 seeds |t| should look like |Student t| with about 30
degrees of freedom: mean near 0.81, about 0.5% of rows above 3. The script prints these
per path and exits 1 if any |t| is above 8 (about 1e-8 per row under the null) or a value is
finite on one device and not the other.

``--device cpu`` runs the check CPU against CPU with disjoint seeds: a run of the check itself.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from initscope.engine import ProbeConfig, probe
from initscope.nets import MLPSpec

PATHS = {
    "kaiming-normal": "exact Gaussian shortcut",
    "orthogonal": "exact orthogonal law",
    "kaiming-uniform": "full-matrix path",
}
KEYS = ["view", "site", "layer", "stat"]


def runs(init: str, device: str, seeds: range) -> pd.DataFrame:
    frames = []
    for s in seeds:
        cfg = ProbeConfig(spec=MLPSpec(init=init, depth=10, width=256, input_dim=256), networks=500, samples=500,
                          sample_networks=4, trace_layers=(), seed=s, device=device)
        frames.append(probe(cfg).stats.assign(seed=s))
    return pd.concat(frames, ignore_index=True)


def welch(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    def agg(df: pd.DataFrame) -> pd.DataFrame:
        g = df.groupby(KEYS)["value"]
        return pd.DataFrame({"mean": g.mean(), "var": g.var(ddof=1), "k": g.count(), "finite": g.apply(lambda v: np.isfinite(v).all())})

    m = agg(a).add_suffix("_a").join(agg(b).add_suffix("_b"), how="inner")
    se = np.sqrt(m["var_a"] / m["k_a"] + m["var_b"] / m["k_b"])
    m["t"] = (m["mean_a"] - m["mean_b"]).abs() / se.where(se > 0)
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seeds", type=int, default=16)
    args = ap.parse_args()
    k = args.seeds
    other = range(k, 2 * k) if args.device == "cpu" else range(k)  # CPU against itself: disjoint seeds
    failed = False
    for init, path in PATHS.items():
        t0 = time.perf_counter()
        a = runs(init, "cpu", range(k))
        t_a = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = runs(init, args.device, other)
        t_b = time.perf_counter() - t0
        m = welch(a, b)
        t = m["t"].dropna()
        mismatch = int((m["finite_a"] != m["finite_b"]).sum())
        print(f"{init} ({path}): {k} seeds each, cpu {t_a:.1f} s, {args.device} {t_b:.1f} s; {len(m)} statistics, "
              f"|t| mean {t.mean():.2f}, above 3: {(t > 3).mean():.1%}, max {t.max():.2f}"
              + (f"; {mismatch} finite on one device only" if mismatch else ""))
        worst = m.sort_values("t", ascending=False).head(3)
        print(worst[["mean_a", "mean_b", "t"]].to_string())
        failed |= bool((t > 8).any()) or mismatch > 0
    print("FAILED" if failed else "ok")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
