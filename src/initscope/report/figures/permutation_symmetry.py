"""permutation-symmetry's figure: the largest difference per SGD step for each of the three
claims, per dtype, against machine epsilon and an inconsistent permutation as control."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from initscope.palette import color
from initscope.report.charts import Chart, Panel, Trace

PANEL_TITLES = {"forward": "outputs", "grad": "gradients vs permuted gradients", "update": "after SGD vs permuted update"}


def per_step(stats: pd.DataFrame, claim: str) -> pd.Series:
    """The largest |difference| per step over networks and layers (0 shown at 1e-20 on the log axis)."""
    return stats[stats.stat == f"{claim}_max_abs_diff"].groupby("step").value.max().clip(lower=1e-20)


def checks(stats: pd.DataFrame, control: pd.DataFrame, eps: Mapping[str, float]) -> Chart:
    """``stats``: the consistent permutation's rows (a ``dtype`` column); ``control``: the
    inconsistent one's (float64); ``eps``: dtype -> machine epsilon, dotted."""
    panels = []
    for i, claim in enumerate(PANEL_TITLES):  # the three claims, in the experiment's order
        traces = []
        for k, name in enumerate(eps):
            s = per_step(stats[stats.dtype == name], claim)
            traces.append(Trace("errorbar", s.index, s.to_numpy(), name, color(k), legend=i == 0))
        if len(control):
            s = per_step(control, claim)
            traces.append(Trace("errorbar", s.index, s.to_numpy(), "inconsistent (control), float64", "#808080", dash="dash", legend=i == 0))
        lines = tuple((e, f"{name} eps" if i == 0 else "") for name, e in eps.items())
        panels.append(Panel(tuple(traces), title=PANEL_TITLES[claim], x_title="SGD step", y_log=True, hlines=lines,
                            y_title="largest |difference| (dotted: machine epsilon)" if i == 0 else ""))
    return Chart("permutation_checks", tuple(panels), title="Permuting hidden units changes nothing, at every step (text 003)",
                 size=(12, 3.8), height=420)
