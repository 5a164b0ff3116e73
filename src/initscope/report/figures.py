"""Static matplotlib figures. Each function takes tidy tables and returns a Figure; none saves or prints."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from initscope.palette import PALETTE  # noqa: E402

BLUE, ORANGE, GREEN, RED, PURPLE = PALETTE[:5]
VIEW_COLORS = {"network": BLUE, "sample": RED, "layer": GREEN}
STAT_COLORS = {
    "network_variance": BLUE,
    "sample_variance": RED,
    "mean_spread": PURPLE,
    "layer_variance": GREEN,
    "sample_fraction": RED,
}


def depth_profile(
    stats: pd.DataFrame,
    stat_names: Sequence[str],
    *,
    title: str = "",
    log: bool = True,
    site: str = "pre",
    theory: pd.DataFrame | None = None,
    group: str | None = None,
) -> Figure:
    """Statistics against depth with Monte-Carlo error bars (±2 standard errors).

    ``theory``: optional tidy table (layer, stat, value) drawn as dashed lines.
    ``group``: optional column (e.g. ``variant``) whose values get separate lines.
    """
    fig, ax = plt.subplots(figsize=(8, 4.8))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
    sub = stats[stats.stat.isin(stat_names) & (stats.site == site)]
    keys = [(s, None) for s in stat_names] if group is None else [(s, g) for s in stat_names for g in sub[group].unique()]
    for i, (stat, g) in enumerate(keys):
        rows = sub[sub.stat == stat] if g is None else sub[(sub.stat == stat) & (sub[group] == g)]
        rows = rows.sort_values("layer")
        if rows.empty:
            continue
        label = stat if g is None else f"{g}: {stat}"
        color = STAT_COLORS.get(stat) if g is None else f"C{i % 10}"
        y, err = rows.value.to_numpy(), 2 * rows.stderr.fillna(0).to_numpy()
        ax.errorbar(rows.layer, y, yerr=err, label=label, color=color, marker="o", ms=2.5, lw=1.2, capsize=1.5)
        if theory is not None:
            _draw_theory(ax, theory, stat, color, label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("value" if len(stat_names) > 1 else stat_names[0])
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _draw_theory(ax, theory: pd.DataFrame, stat: str, color: str | None, label: str) -> None:
    """Dashed: the mean-field prediction; dotted: an asymptote; shaded: the spread over networks;
    thick solid with a grey band: the finite-width prediction and its ±2 standard errors."""
    t = theory[theory.stat == stat].sort_values("layer")
    if not t.empty:
        ax.plot(t.layer, t.value, ls="--", color=color, lw=1.3, label=f"{label} (mean-field theory)")
    a = theory[theory.stat == f"{stat}_asymptote"].sort_values("layer")
    if not a.empty:
        ax.plot(a.layer, a.value, ls=":", color="k", lw=1.2, label=f"{label} (large-depth asymptote)")
    lo = theory[theory.stat == f"{stat}_lo"].sort_values("layer")
    hi = theory[theory.stat == f"{stat}_hi"].sort_values("layer")
    if not lo.empty and len(lo) == len(hi):
        ax.fill_between(lo.layer, lo.value, hi.value, color=color, alpha=0.12, lw=0, label=f"{label} (finite-width spread, 1 sd)")
    fw = theory[theory.stat == f"{stat}_finite_width"].sort_values("layer")
    if not fw.empty:
        ax.plot(fw.layer, fw.value, ls="-", color=color, lw=2.4, alpha=0.55, label=f"{label} (finite-width theory)")
        se = theory[theory.stat == f"{stat}_finite_width_stderr"].sort_values("layer")
        if len(se) == len(fw):
            v, e = fw.value.to_numpy(), 2 * se.value.to_numpy()
            ax.fill_between(fw.layer, v - e, v + e, color="k", alpha=0.12, lw=0, label=f"{label} (finite-width theory, ±2 se)")


def view_histograms(traces: pd.DataFrame, *, site: str = "pre", title: str = "") -> Figure:
    """Rows: randomness views; columns: traced layers (text 000's figure grid)."""
    tr = traces[traces.site == site]
    views = [v for v in ("network", "sample", "layer") if v in set(tr.view)]
    layers = sorted(tr.layer.unique())
    fig, axes = plt.subplots(
        max(1, len(views)), max(1, len(layers)), figsize=(3.0 * max(1, len(layers)), 2.4 * max(1, len(views))),
        squeeze=False,
    )
    # fixed margins: constrained_layout costs a second per grid for no visible gain
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.06, wspace=0.25, hspace=0.3)
    for i, view in enumerate(views):
        for j, layer in enumerate(layers):
            ax = axes[i][j]
            cell = tr[(tr.view == view) & (tr.layer == layer)]
            # Only the sample view follows separate neurons; the layer view's values
            # are the neurons, the network view's one neuron over networks.
            groups = cell.groupby("neuron") if view == "sample" else [(0, cell)]
            for k, (neuron, grp) in enumerate(groups):
                vals = grp.value.to_numpy()
                vals = vals[np.isfinite(vals)]
                if len(vals) == 0:
                    continue
                ax.hist(vals, bins=40, alpha=0.6, color=VIEW_COLORS[view] if view != "sample" else f"C{k}", density=True)
            if i == 0:
                ax.set_title(f"layer {layer}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{view}\nrandomness", fontsize=9)
            ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return fig
