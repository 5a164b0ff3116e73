"""A sweep's report: for every statistic, lines over the swept numeric key with one line per value
of the other keys; a heatmap when two numeric keys are swept. Drawn from the sweep's table only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from initscope.report.charts import Section
from initscope.results import stats_keys

MAX_STATS = 16  # statistics drawn (the table holds them all)
MAX_LINES = 8  # a key of the experiment's table with more values (steps, epochs) is averaged over, not drawn as lines


def table_column(key: str, table: pd.DataFrame) -> str:
    """Grid key ``key``'s column: ``grid_KEY`` where the points' own tables had a column ``key``."""
    return f"grid_{key}" if f"grid_{key}" in table.columns else key


def numeric_keys(table: pd.DataFrame, grid: dict[str, list[str]]) -> list[str]:
    """Columns of grid keys with more than one value, all of them numbers."""
    cols = [table_column(k, table) for k, v in grid.items() if len(v) > 1]
    return [c for c in cols if pd.api.types.is_numeric_dtype(table[c])]


def at_depth(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows a sweep plot reads: the deepest layer (where depth profiles differ most); and a
    phrase saying so."""
    t, where = table, []
    if "layer" in t.columns and t.layer.notna().any():
        last = t.groupby("stat").layer.transform("max")
        t = t[t.layer == last]
        where.append("each statistic at its deepest layer")
    return t, ", ".join(where)


def summarize_lines(table: pd.DataFrame, x: str, by: list[str]) -> pd.DataFrame:
    """Mean and standard error of ``value`` per (stat, x, by): over seeds and any other rows."""
    g = table.groupby(["stat", x, *by], dropna=False).value
    out = g.agg(["mean", "count", "std"]).reset_index()
    out["se"] = out["std"] / out["count"].pow(0.5)
    return out


def sections(table: pd.DataFrame, grid: dict[str, list[str]]) -> list[Section]:
    from initscope.palette import color
    from initscope.report.charts import Chart, Panel, Trace, to_plotly

    rows, where = at_depth(table)
    nums = numeric_keys(table, grid)
    grid_cols = [table_column(k, table) for k, v in grid.items() if len(v) > 1]
    # the experiment's own keys (the stats schema: everything before layer, stat, value, ...) that
    # vary get lines of their own: view, site, variant, norm, ...; grid keys and seeds do not
    own = [c for c in stats_keys(rows) if c not in grid_cols and c not in ("seed", "grid_seed") and not c.startswith("grid_")
           and c not in grid]
    label_cols = [c for c in own if 1 < rows[c].nunique() <= MAX_LINES]
    stats = list(dict.fromkeys(rows.stat))[:MAX_STATS]
    out: list[Section] = []
    if nums:
        x = nums[0]
        for stat in stats:
            part_rows = rows[rows.stat == stat]
            by = [c for c in grid_cols if c != x and c not in ("seed", "grid_seed")] + [c for c in label_cols if part_rows[c].nunique() > 1]
            d = summarize_lines(part_rows, x, by)
            traces = []
            for i, (key, part) in enumerate(d.groupby(by, dropna=False) if by else [((), d)]):
                key = key if isinstance(key, tuple) else (key,)
                name = ", ".join(f"{b}={v}" for b, v in zip(by, key)) or stat
                part = part.sort_values(x)
                traces.append(Trace("errorbar", part[x], part["mean"], name, color(i), err=part.se.fillna(0).to_numpy()))
            positive = bool((d["mean"] > 0).all() and len(d) and d["mean"].max() / max(d["mean"].min(), 1e-300) > 100)
            fig = to_plotly(Chart(f"{stat}_over_{x}", (Panel(tuple(traces), x_title=x, y_title=stat, y_log=positive),), height=380))
            out.append(Section(f"{stat} over {x}", _line_verdict(d, x, stat, by), (fig,),
                               note=f"{where}; one line per value of {', '.join(by) or 'nothing else'}; mean over seeds and repeats, "
                                    "error bars one standard error."))
    if len(nums) >= 2:
        a, b = nums[0], nums[1]
        for stat in stats[: MAX_STATS // 2]:
            d = rows[rows.stat == stat].groupby([a, b]).value.mean().reset_index()
            piv = d.pivot(index=b, columns=a, values="value")
            z, title = piv.to_numpy(dtype=float), stat
            finite = z[np.isfinite(z)]
            if finite.size and (finite > 0).all() and finite.max() / finite.min() > 100:  # spans decades: colour by log10
                z, title = np.log10(z), f"log10 {stat}"
            heat = Trace("heatmap", list(piv.columns), list(piv.index), z=z, colorbar=title)
            fig = to_plotly(Chart(f"{stat}_over_{a}_{b}", (Panel((heat,), x_title=a, y_title=b),), height=420))
            out.append(Section(f"{stat} over {a} x {b}", f"{stat} ({where}) over the two swept numbers, mean over the other keys.", (fig,)))
    if not out:
        out.append(Section("Points", "no grid key with two or more numeric values: the table holds every point's statistics "
                                     "side by side (stats.parquet).", ()))
    return out


def _line_verdict(d: pd.DataFrame, x: str, stat: str, by: list[str] | None = None) -> str:
    """Where the statistic is smallest and largest over the swept key, and on which line (plain words)."""
    if d.empty:
        return "no finite values."
    lo, hi = d.loc[d["mean"].idxmin()], d.loc[d["mean"].idxmax()]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)  # noqa: E731
    line = lambda r: f" ({', '.join(f'{b}={fmt(r[b])}' for b in by)})" if by else ""  # noqa: E731
    return (f"{stat}: smallest {fmt(lo['mean'])} at {x}={fmt(lo[x])}{line(lo)}, "
            f"largest {fmt(hi['mean'])} at {x}={fmt(hi[x])}{line(hi)}.")


def write_sweep_report(root: Path, experiment: str, grid: dict[str, list[str]], table: pd.DataFrame, meta: dict[str, Any]) -> Path:
    from initscope.report.html import render

    config = {**{f"grid {k}": ", ".join(v) for k, v in grid.items()}, **{f"set {k}": v for k, v in (meta.get("set") or {}).items()},
              "engine": meta.get("engine"), "workers": meta.get("workers")}
    desc = f"{experiment} over {' x '.join(f'{k} ({len(v)})' for k, v in grid.items())}; the points' own reports are under points/"
    page = render(f"initscope sweep: {experiment}", {**meta, "config": config, "description": desc},
                  sections(table, grid), {"stats": table} if len(table) <= 200_000 else {})
    path = root / "report.html"
    tmp = root / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
