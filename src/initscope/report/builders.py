"""The figures experiments share, as :class:`~initscope.report.charts.Chart` declarations over
tidy tables: a depth profile with error bars and theory, neuron histograms per view and layer,
simulated points beside their predictions. Pure: tables in, a chart out; the backends in
:mod:`initscope.report.charts` draw them."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from initscope.palette import PALETTE, color as palette_color
from initscope.report.charts import Chart, Panel, Trace

BLUE, ORANGE, GREEN, RED, PURPLE = PALETTE[:5]
VIEW_COLORS = {"network": BLUE, "sample": RED, "layer": GREEN}
STAT_COLORS = {
    "network_variance": BLUE,
    "sample_variance": RED,
    "mean_spread": PURPLE,
    "layer_variance": GREEN,
    "sample_fraction": RED,
}


def theory_traces(theory: pd.DataFrame, stat: str, color: str | None, label: str) -> list[Trace]:
    """Dashed: the mean-field prediction; dotted: an asymptote; shaded: the spread over networks
    (``STAT_lo``..``STAT_hi``); thick solid with a grey band: the finite-width prediction and its
    +-2 standard errors (``STAT_finite_width``, ``STAT_finite_width_stderr``)."""
    def rows(name: str) -> pd.DataFrame:
        return theory[theory.stat == name].sort_values("layer")

    out = []
    t = rows(stat)
    if not t.empty:
        out.append(Trace("line", t.layer, t.value, f"{label} (mean-field theory)", color, dash="dash"))
    a = rows(f"{stat}_asymptote")
    if not a.empty:
        out.append(Trace("line", a.layer, a.value, f"{label} (large-depth asymptote)", "black", dash="dot", width=1.2))
    lo, hi = rows(f"{stat}_lo"), rows(f"{stat}_hi")
    if not lo.empty and len(lo) == len(hi):
        out.append(Trace("band", lo.layer, lo.value, f"{label} (finite-width spread, 1 sd)", color, y2=hi.value, alpha=0.12))
    fw = rows(f"{stat}_finite_width")
    if not fw.empty:
        se = rows(f"{stat}_finite_width_stderr")
        if len(se) == len(fw):
            v, e = fw.value.to_numpy(), 2 * se.value.to_numpy()
            out.append(Trace("band", fw.layer, v - e, f"{label} (finite-width theory, ±2 se)", "black", y2=v + e, alpha=0.12))
        out.append(Trace("line", fw.layer, fw.value, f"{label} (finite-width theory)", color, width=2.4, alpha=0.55))
    return out


def depth_profile(
    name: str,
    stats: pd.DataFrame,
    stat_names: Sequence[str],
    *,
    title: str = "",
    log: bool = True,
    site: str = "pre",
    theory: pd.DataFrame | None = None,
    group: str | None = None,
) -> Chart:
    """Statistics against depth with Monte-Carlo error bars (+-2 standard errors); ``theory``
    (layer, stat, value) beside them (:func:`theory_traces`); ``group``: a column (e.g.
    ``variant``) whose values get lines of their own."""
    sub = stats[stats.stat.isin(stat_names) & (stats.site == site)]
    keys = [(s, None) for s in stat_names] if group is None else [(s, g) for s in stat_names for g in sub[group].unique()]
    traces: list[Trace] = []
    for i, (stat, g) in enumerate(keys):
        rows = sub[sub.stat == stat] if g is None else sub[(sub.stat == stat) & (sub[group] == g)]
        rows = rows.sort_values("layer")
        if rows.empty:
            continue
        label = stat if g is None else f"{g}: {stat}"
        color = STAT_COLORS.get(stat) if g is None else palette_color(i)
        traces.append(Trace("errorbar", rows.layer, rows.value, label, color, err=2 * rows.stderr.fillna(0).to_numpy(), width=1.2))
        if theory is not None:
            traces += theory_traces(theory, stat, color, label)
    many = sum(1 for t in traces if t.name) > 8  # a legend that long covers curves inside the axes: it goes below them
    panel = Panel(tuple(traces), title=title, x_title="layer", y_title="value" if len(stat_names) > 1 else stat_names[0], y_log=log,
                  legend_below=2 if many else 0)
    return Chart(name, (panel,), size=(8, 7.6) if many else (8, 4.8))


def view_histograms(name: str, traces: pd.DataFrame, *, site: str = "pre", title: str = "") -> Chart:
    """Each randomness view's neuron histograms per traced layer (text 000's figure grid): the
    sample view follows separate neurons, one colour each; the layer view's values are the units
    of a layer, the network view's one neuron over networks."""
    tr = traces[traces.site == site]
    views = [v for v in ("network", "sample", "layer") if v in set(tr.view)]
    layers = sorted(int(v) for v in tr.layer.unique())
    frames = []
    for layer in layers:
        panels = []
        for view in views:
            cell = tr[(tr.view == view) & (tr.layer == layer)]
            groups = list(cell.groupby("neuron")) if view == "sample" else [("all", cell)]
            hist = tuple(Trace("hist", grp.value.to_numpy(), name=f"{view}, neuron {neuron}", legend=False, alpha=0.6,
                               color=VIEW_COLORS[view] if view != "sample" else [PALETTE[i] for i in (3, 1, 5, 6)][k % 4])
                         for k, (neuron, grp) in enumerate(groups))
            panels.append(Panel(hist, title=f"{view} randomness"))
        frames.append((str(layer), tuple(panels)))
    n_l, n_v = max(1, len(layers)), max(1, len(views))
    return Chart(name, title=title, frames=tuple(frames), frame_label="layer", size=(3.0 * n_l, 2.4 * n_v), height=380)


def simulated_beside_theory(name: str, df: pd.DataFrame, by: str, colors: Sequence[str], *, y_title: str, log: bool = True,
                            title: str = "", height: int = 430) -> Chart:
    """One group per value of ``by``: simulated ``value`` per ``layer`` with ``stderr`` bars, and its
    ``theory`` column dashed in the same colour (the depth profiles of several setups side by side)."""
    traces: list[Trace] = []
    for (group, d), c in zip(df.groupby(by, sort=False), colors):
        d = d.sort_values("layer")
        traces.append(Trace("markers", d.layer, d.value, f"{group} (simulated)", c, err=d.stderr.fillna(0).to_numpy()))
        traces.append(Trace("line", d.layer, d.theory, f"{group} (mean field)", c, dash="dash"))
    return Chart(name, (Panel(tuple(traces), title=title, x_title="layer", y_title=y_title, y_log=log),), height=height)
