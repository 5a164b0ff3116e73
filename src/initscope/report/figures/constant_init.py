"""constant-init's figure: distinct hidden units, their spread and the training loss per SGD step."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from initscope.report.charts import Chart, Panel, Trace

# random is drawn first, wide and pale, so that constant-dropout (also at full width) shows on top of it
_WIDE = {"random": dict(lw=5, alpha=0.35), "constant-dropout": dict(lw=1.5), "constant": dict(lw=1.5)}
_DRAW_ORDER = ("random", "constant-dropout", "constant")


def _series(stats: pd.DataFrame, variant: str, stat: str, layer: int) -> pd.DataFrame:
    return stats[(stats.variant == variant) & (stats.stat == stat) & (stats.layer == layer)].sort_values("step")


def symmetry_under_training(stats: pd.DataFrame, colors: Mapping[str, str]) -> Chart:
    layers = sorted(int(l) for l in stats[stats.stat == "distinct_units"].layer.unique())
    distinct, spread, loss = [], [], []
    for variant in _DRAW_ORDER:
        style = dict(color=colors[variant], width=_WIDE[variant].get("lw", 1.5), alpha=_WIDE[variant].get("alpha", 1.0))
        for layer, dash in zip(layers, ("solid", "dash", "dot") * len(layers)):
            t = _series(stats, variant, "distinct_units", layer)
            distinct.append(Trace("line", t.step, t.value, f"{variant}, hidden layer {layer}", dash=dash, **style))
            t = _series(stats, variant, "unit_spread", layer)
            t = t[t.value > 0]  # exactly 0 (constant) has no place on a log axis
            if len(t):
                spread.append(Trace("line", t.step, t.value, f"{variant}, hidden layer {layer}", dash=dash, **style))
        t = _series(stats, variant, "loss", 0)
        loss.append(Trace("line", t.step, t.value, variant, **style))
    notes = ()
    if not (stats[(stats.variant == "constant") & (stats.stat == "unit_spread")].value > 0).any() and spread:
        first = spread[0]
        notes = ((float(first.x.iloc[0]), float(min(min(t.y) for t in spread)), "constant: exactly 0 at every step (not drawn)"),)
    return Chart("constant_init", (
        Panel(tuple(distinct), title="distinct hidden units", x_title="SGD step", y_title="distinct hidden units", y_log=True),
        Panel(tuple(spread), title="unit spread (0 not drawn)", x_title="SGD step", y_title="unit spread: max |unit - first unit| / max |w|",
              y_log=True, notes=notes),
        Panel(tuple(loss), title="training loss", x_title="SGD step", y_title="training loss (cross-entropy, full data)", y_log=True),
    ), title="Constant init: SGD never breaks the symmetry, dropout does (weakly), random init starts at full width (digits)",
        size=(15, 4.4), height=440)
