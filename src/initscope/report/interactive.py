"""Interactive plotly figures for the HTML report; same content as the static ones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from initscope.palette import PALETTE, color as palette_color
from initscope.report.figures import STAT_COLORS, VIEW_COLORS


def depth_profile(
    stats: pd.DataFrame,
    stat_names: Sequence[str],
    *,
    log: bool = True,
    site: str = "pre",
    theory: pd.DataFrame | None = None,
    group: str | None = None,
    title: str = "",
) -> go.Figure:
    fig = go.Figure()
    sub = stats[stats.stat.isin(stat_names) & (stats.site == site)]
    keys = [(s, None) for s in stat_names] if group is None else [(s, g) for s in stat_names for g in sub[group].unique()]
    for i, (stat, g) in enumerate(keys):
        rows = sub[sub.stat == stat] if g is None else sub[(sub.stat == stat) & (sub[group] == g)]
        rows = rows.sort_values("layer")
        if rows.empty:
            continue
        color = STAT_COLORS.get(stat) if g is None else palette_color(i)
        name = stat if g is None else f"{g}: {stat}"
        y = rows.value.to_numpy(dtype=float)
        trace = go.Scatter  # SVG: faster than WebGL under software rendering, even at 1000 layers
        fig.add_trace(
            trace(
                x=rows.layer, y=np.where(np.isfinite(y), y, None), name=name, mode="lines+markers",
                marker=dict(size=4, color=color), line=dict(color=color),
                error_y=dict(type="data", array=2 * rows.stderr.fillna(0).to_numpy(), visible=True, thickness=1),
                hovertemplate="layer %{x}<br>%{y:.4g}<extra>" + name + "</extra>",
            )
        )
        if theory is not None:
            t = theory[theory.stat == stat].sort_values("layer")
            if not t.empty:
                fig.add_trace(go.Scatter(x=t.layer, y=t.value, name=f"{name} (mean-field theory)", mode="lines", line=dict(color=color, dash="dash")))
            a = theory[theory.stat == f"{stat}_asymptote"].sort_values("layer")
            if not a.empty:
                fig.add_trace(go.Scatter(x=a.layer, y=a.value, name=f"{name} (asymptote)", mode="lines", line=dict(color="black", dash="dot")))
            lo = theory[theory.stat == f"{stat}_lo"].sort_values("layer")
            hi = theory[theory.stat == f"{stat}_hi"].sort_values("layer")
            if not lo.empty and len(lo) == len(hi):
                fig.add_trace(go.Scatter(x=list(lo.layer) + list(hi.layer)[::-1], y=list(lo.value) + list(hi.value)[::-1],
                                         fill="toself", fillcolor="rgba(44,160,44,0.12)", line=dict(width=0),
                                         name=f"{name} (finite-width spread)", hoverinfo="skip"))
            fw = theory[theory.stat == f"{stat}_finite_width"].sort_values("layer")
            if not fw.empty:
                se = theory[theory.stat == f"{stat}_finite_width_stderr"].sort_values("layer")
                if len(se) == len(fw):
                    lo_v, hi_v = fw.value.to_numpy() - 2 * se.value.to_numpy(), fw.value.to_numpy() + 2 * se.value.to_numpy()
                    fig.add_trace(go.Scatter(x=list(fw.layer) + list(fw.layer)[::-1], y=list(lo_v) + list(hi_v)[::-1],
                                             fill="toself", fillcolor="rgba(0,0,0,0.10)", line=dict(width=0),
                                             name=f"{name} (finite-width theory, ±2 se)", hoverinfo="skip"))
                fig.add_trace(go.Scatter(x=fw.layer, y=fw.value, name=f"{name} (finite-width theory)", mode="lines",
                                         line=dict(color=color, width=2.5)))
    fig.update_layout(
        title=title, xaxis_title="layer", yaxis_type="log" if log else "linear", height=420,
        margin=dict(l=60, r=20, t=40, b=50), legend=dict(font=dict(size=11)), template="plotly_white",
    )
    return fig


def view_histograms(traces: pd.DataFrame, *, site: str = "pre") -> go.Figure:
    """One histogram panel per view, with a slider over the traced layers."""
    from plotly.subplots import make_subplots

    tr = traces[traces.site == site]
    views = [v for v in ("network", "sample", "layer") if v in set(tr.view)]
    layers = sorted(int(l) for l in tr.layer.unique())
    fig = make_subplots(rows=1, cols=max(1, len(views)), subplot_titles=[f"{v} randomness" for v in views])
    trace_layer: list[int] = []
    for layer in layers:
        for j, view in enumerate(views, start=1):
            cell = tr[(tr.view == view) & (tr.layer == layer)]
            groups = cell.groupby("neuron") if view == "sample" else [("all", cell)]
            for k, (neuron, grp) in enumerate(groups):
                vals = grp.value.to_numpy()
                color = VIEW_COLORS[view] if view != "sample" else [PALETTE[i] for i in (3, 1, 5, 6)][k % 4]
                fig.add_trace(
                    go.Histogram(
                        x=vals[np.isfinite(vals)], nbinsx=40, histnorm="probability density", opacity=0.6,
                        marker_color=color, name=f"{view}, neuron {neuron}", visible=layer == layers[0], showlegend=False,
                    ),
                    row=1, col=j,
                )
                trace_layer.append(layer)
    steps = [
        dict(method="update", label=str(layer), args=[{"visible": [tl == layer for tl in trace_layer]}])
        for layer in layers
    ]
    fig.update_layout(
        barmode="overlay", height=380, template="plotly_white", margin=dict(l=40, r=20, t=40, b=40),
        sliders=[dict(active=0, currentvalue=dict(prefix="layer "), steps=steps, pad=dict(t=40))],
    )
    return fig


def simulated_beside_theory(df: pd.DataFrame, by: str, colors: Sequence[str], *, y_title: str, log: bool = True,
                            height: int = 430) -> go.Figure:
    """One group per value of ``by``: simulated ``value`` per ``layer`` with ``stderr`` bars, and its
    ``theory`` column dashed in the same colour (the depth profiles of several setups side by side)."""
    fig = go.Figure()
    for (name, d), c in zip(df.groupby(by, sort=False), colors):
        d = d.sort_values("layer")
        fig.add_trace(go.Scatter(x=d.layer, y=d.value, mode="markers", name=f"{name} (simulated)", marker=dict(color=c, size=6),
                                 error_y=dict(type="data", array=list(d.stderr.fillna(0)), visible=True), legendgroup=str(name)))
        fig.add_trace(go.Scatter(x=d.layer, y=d.theory, mode="lines", name=f"{name} (mean field)", line=dict(color=c, dash="dash"),
                                 legendgroup=str(name)))
    fig.update_layout(xaxis_title="layer", yaxis_title=y_title, yaxis_type="log" if log else "linear", height=height,
                      template="plotly_white")
    return fig
