"""Golden tables for refactoring: save every experiment's default tables, then check that a
change left them bit-identical (ISSUE-NOTES: "numbers unchanged" while refactoring).

    python scripts/golden.py save  DIR [EXPERIMENT ...]   # run the defaults, keep every table
    python scripts/golden.py check DIR [EXPERIMENT ...]   # run again, compare with what DIR holds

``check`` prints, per experiment and table, "identical" or the number of differing cells and
the largest relative difference, and exits 1 when anything differs. Runs on CPU, seed 0,
without writing run directories (a few minutes for all experiments on 2 cores).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from initscope.experiments import list_experiments
from initscope.runner import run


def tables(name: str) -> dict[str, pd.DataFrame]:
    t0 = time.perf_counter()
    rec = run(name, seed=0, device="cpu", write=False)
    print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return rec.outcome.tables


def diff(old: pd.DataFrame, new: pd.DataFrame) -> str:
    if list(old.columns) != list(new.columns) or len(old) != len(new):
        return f"shape or columns changed: {old.shape} {list(old.columns)} -> {new.shape} {list(new.columns)}"
    if old.equals(new):
        return "identical"
    parts = []
    for c in old.columns:
        a, b = old[c], new[c]
        if a.equals(b):
            continue
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            both_nan = np.isnan(x) & np.isnan(y)
            bad = (x != y) & ~both_nan
            if not bad.any():
                parts.append(f"{c}: same values, dtype {a.dtype} -> {b.dtype}")
                continue
            rel = np.abs(x - y)[bad] / np.maximum(np.abs(x[bad]), 1e-300)
            parts.append(f"{c}: {int(bad.sum())} cells, max rel {rel.max():.2g}")
        else:
            parts.append(f"{c}: {int((a.astype(str) != b.astype(str)).sum())} cells")
    return "; ".join(parts)


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("save", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    what, root, names = sys.argv[1], Path(sys.argv[2]), sys.argv[3:] or list_experiments()
    changed = False
    for name in names:
        got = tables(name)
        d = root / name
        if what == "save":
            d.mkdir(parents=True, exist_ok=True)
            for t, df in got.items():
                df.to_parquet(d / f"{t}.parquet", index=False)
            continue
        for t, df in got.items():
            p = d / f"{t}.parquet"
            verdict = diff(pd.read_parquet(p), pd.read_parquet(io.BytesIO(df.to_parquet(index=False)))) if p.exists() else "new table"
            changed |= verdict != "identical"
            print(f"  {name}/{t}: {verdict}")
    return int(changed)


if __name__ == "__main__":
    sys.exit(main())
