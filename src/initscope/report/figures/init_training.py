"""init-training's figure: training loss, held-out accuracy, and accuracy against the sample
fraction at init, one colour per start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from initscope.engine.moments import mean_stderr_rows
from initscope.report.charts import Chart, Panel, Trace


def curves(stats: pd.DataFrame, variants: Mapping[str, Any], steps_per_epoch: int) -> dict[str, pd.DataFrame]:
    """Per variant: the training loss per step averaged over one epoch's window (the minibatch
    loss is noisy), mean and standard error over the seeds averaged (``variants[v]["seeds"]``)."""
    out = {}
    for v, d in variants.items():
        t = stats[(stats.variant == v) & (stats.stat == "train_loss") & stats.seed.isin(d["seeds"])]
        if t.empty:
            continue
        wide = t.pivot_table(index="step", columns="seed", values="value").sort_index()
        smooth = wide.rolling(steps_per_epoch, min_periods=1).mean()
        mean, se = mean_stderr_rows(smooth)
        out[v] = pd.DataFrame({"step": smooth.index, "mean": mean, "se": se})
    return out


def final_points(stats: pd.DataFrame, variants: Mapping[str, Any]) -> pd.DataFrame:
    """One point per variant and seed that did not diverge: last-layer sample fraction at init,
    final held-out accuracy."""
    keep = pd.concat([pd.DataFrame({"variant": v, "seed": d["seeds"]}) for v, d in variants.items()])
    stats = stats.merge(keep, on=["variant", "seed"])
    sf = stats[stats.stat == "sample_fraction_at_init"]
    last = sf[sf.layer == sf.layer.max()].set_index(["variant", "seed"]).value.rename("sample_fraction")
    acc = stats[stats.stat == "test_accuracy"].sort_values("step").groupby(["variant", "seed"]).value.last().rename("accuracy")
    return pd.concat([last, acc], axis=1).dropna().reset_index()


def training(stats: pd.DataFrame, summary: Mapping[str, Any], colors: Mapping[str, str], *, depth: int, epochs: int,
             title: str) -> Chart:
    """Training loss (one-epoch running mean, band +-1 se over seeds), held-out accuracy per
    epoch, and one point per seed: final accuracy against the sample fraction at init."""
    variants = summary["variants"]
    loss, acc, final = [], [], []
    for v, c in curves(stats, variants, summary["steps_per_epoch"]).items():
        loss.append(Trace("band", c.step, c["mean"] - c.se, "", colors[v], y2=c["mean"] + c.se, alpha=0.2, legend=False))
        loss.append(Trace("line", c.step, c["mean"], v, colors[v]))
    for v, d in variants.items():
        a = np.array([x if x is not None else np.nan for x in d["accuracy"]])
        se = np.array([s or 0.0 for s in d["accuracy_stderr"]])
        ep = np.arange(len(a))
        acc.append(Trace("band", ep, a - se, "", colors[v], y2=a + se, alpha=0.2, legend=False))
        acc.append(Trace("errorbar", ep, a, v, colors[v], legend=False))
    pts = final_points(stats, variants)
    for v in variants:
        p = pts[pts.variant == v]
        final.append(Trace("markers", p.sample_fraction, p.accuracy, v, colors[v], size=5.5, legend=False,
                           hover=[f"{v}, seed {s}" for s in p.seed]))
    return Chart("init_training", (
        Panel(tuple(loss), title="training loss (one-epoch running mean, band ± 1 se over seeds)", x_title="SGD step",
              y_title="training loss (1-epoch running mean)", y_log=True),
        Panel(tuple(acc), title="held-out accuracy (band ± 1 se)", x_title="epoch (0: at init)", y_title="held-out accuracy"),
        Panel(tuple(final), title="one point per seed (diverged seeds not drawn)",
              x_title=f"sample fraction at init, layer {depth} (pre-activation)", y_title=f"held-out accuracy after {epochs} epochs"),
    ), title=title, size=(16, 4.6), height=460)
