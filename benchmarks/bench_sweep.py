"""A 16-point grid of small kaiming-variance runs: `initscope sweep --workers 2` (process pool)
against the same points one after another in this process, in the same run.

    python benchmarks/bench_sweep.py [--workers 2] [--engine local|ray]

Prints the speed-up and the per-point overhead of the sweep (its wall time against the sum of
the points' own run times, per point).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from initscope.runner import run
from initscope.sweep import sweep

SETS = ["depth=10", "networks=200", "samples=200", "sample_networks=2", "theory_replicates=100", "compare_norms="]
GRID = ["width=64,128,192,256", "seed=0,1,2,3"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engine", default="local")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        t0 = time.perf_counter()
        for w in (64, 128, 192, 256):
            for s in range(4):
                run("kaiming-variance", [*SETS, f"width={w}"], seed=s, out=tmp / "seq" / f"{w}-{s}", device="cpu")
        sequential = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = sweep("kaiming-variance", GRID, SETS, out=tmp / "sweep", engine=args.engine, workers=args.workers)
        swept = time.perf_counter() - t0
        point_s = sum(r.seconds for r in res.points)
        print(f"16 points: sequential in one process {sequential:.1f} s; sweep --engine {args.engine} --workers {args.workers} "
              f"{swept:.1f} s; speed-up {sequential / swept:.2f}x")
        print(f"sum of the points' own times in the sweep {point_s:.1f} s; overhead per point "
              f"{(swept - point_s / args.workers) / 16:.2f} s (wall time not spent running points, per point)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
