"""``initscope compare``: several runs' depth profiles side by side in one report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from initscope.errors import InitscopeError
from initscope.report.charts import Section
from initscope.results import RunDir, RunWriter, conform_stats, load_run, stats_keys


MAX_VALUES = 8  # a key with more distinct values in a run (steps, seeds) is averaged over, not drawn as series


def _profiles(rd: RunDir, label: str) -> tuple[pd.DataFrame, list[str]]:
    """A run's stats as series ``run`` (its label, then the values of every key that varies in
    it: variant, view, site, ...) over ``layer``; keys with more than MAX_VALUES values are
    averaged over (and named, for the verdict). Any experiment's table, through one schema."""
    try:
        st = conform_stats(rd.stats)
    except ValueError:
        raise InitscopeError(f"run {str(rd.path)!r} has no per-layer statistics to compare") from None
    varying = [k for k in stats_keys(st) if st[k].nunique(dropna=False) > 1]
    series = [k for k in varying if st[k].nunique(dropna=False) <= MAX_VALUES]
    averaged = [f"{k} ({st[k].nunique()} values)" for k in varying if k not in series]
    if averaged:
        st = st.groupby(series + ["layer", "stat"], sort=False, dropna=False).value.mean().reset_index().assign(stderr=np.nan)
    st = st.copy()
    st["run"] = label
    for k in series:
        st["run"] = st["run"] + ", " + st[k].astype(str)
    return st[["run", "layer", "stat", "value", "stderr"]], averaged


def _labels(runs: Sequence[RunDir]) -> list[str]:
    """Short labels: the config keys in which the runs differ, else the directory names."""
    configs = [r.meta.get("config", {}) for r in runs]
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
    labels = []
    for r, c in zip(runs, configs):
        if differing:
            labels.append(", ".join(f"{k}={c.get(k)}" for k in differing[:3]))
        else:
            labels.append(r.path.name)
    if len(set(labels)) < len(labels):
        labels = [f"{lab} [{r.path.name}]" for lab, r in zip(labels, runs)]
    return labels


def compare(run_dirs: Sequence[str | Path], out: str | Path | None = None, *, force: bool = False) -> Path:
    """Load runs, draw each shared statistic against depth for all of them, write a report."""
    if len(run_dirs) < 2:
        raise InitscopeError("compare needs at least two run directories")
    runs = [load_run(d) for d in run_dirs]
    labels = _labels(runs)
    profiles = [_profiles(r, lab) for r, lab in zip(runs, labels)]
    table = pd.concat([t for t, _ in profiles], ignore_index=True)
    shared = sorted(set.intersection(*[set(t.stat) for t, _ in profiles]))
    averaged = "; ".join(f"{lab}: averaged over {', '.join(a)}" for lab, (_, a) in zip(labels, profiles) if a)
    if not shared:
        raise InitscopeError("the runs share no statistic to compare")
    out_path = Path(out) if out is not None else Path("runs") / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    from initscope.palette import color
    from initscope.report.charts import Chart, Panel, Trace, to_matplotlib, to_plotly

    sections = []
    with RunWriter(out_path, force) as w:
        for stat in shared:
            sub = table[table.stat == stat]
            vals = sub.value.to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            log = bool(len(vals)) and vals.min() > 0 and vals.max() / vals.min() > 10
            traces = tuple(Trace("errorbar", g.layer, g.value, run_name, color(i), err=2 * g.stderr.fillna(0).to_numpy())
                           for i, (run_name, g) in enumerate((r, grp.sort_values("layer")) for r, grp in sub.groupby("run", sort=False)))
            chart = Chart(stat, (Panel(traces, title=stat, x_title="layer", y_log=log),), size=(8, 4.5), height=400)
            w.figure(to_matplotlib(chart), stat)
            last = sub.sort_values("layer").groupby("run", sort=False).value.last()
            verdict = "; ".join(f"{r}: {v:.4g} at the last layer" for r, v in last.items()) + (f" ({averaged})" if averaged else "")
            sections.append(Section(stat, verdict, (to_plotly(chart),)))
        meta: dict[str, Any] = {
            "experiment": "compare",
            "seed": None,  # nothing is drawn: the runs' own seeds are in their run.json
            "description": "Depth profiles of " + ", ".join(str(r.path) for r in runs),
            "runs": [{"path": str(r.path), "label": lab, "experiment": r.meta.get("experiment"), "config": r.meta.get("config")} for r, lab in zip(runs, labels)],
            "config": {lab: str(r.path) for r, lab in zip(runs, labels)},
        }
        w.tables({"stats": table})
        w.report("initscope: compare", meta, sections, {"stats": table})
        w.meta(meta)
    return w.out


__all__ = ["compare"]
