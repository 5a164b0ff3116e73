"""What a figure shows, declared once, drawn by two backends.

An experiment says *what* to draw as a :class:`Chart` (panels of traces built from its tidy
tables; no plotting library imported); the report layer draws it as a static matplotlib figure
(``figures/NAME.png`` and ``.svg``, :func:`to_matplotlib`) and as an interactive plotly figure
in ``report.html`` (:func:`to_plotly`). One palette (:mod:`initscope.palette`), one place per
backend for every kind of trace, so a figure cannot say one thing in the PNG and another in the
report.

Trace kinds: ``line`` (``dash`` solid / dash / dot), ``markers`` (with +- ``err`` bars if
given), ``errorbar`` (line, markers and +- ``err`` bars), ``band`` (shaded between ``y`` and ``y2``), ``hist`` (of ``x``),
``heatmap`` (``z`` over ``x`` by ``y``), ``scatter3d`` (points ``x, y, z`` coloured by ``values``). A panel adds horizontal and vertical reference lines
and text notes; a chart with ``frames`` has one set of panels per frame (matplotlib: the frames
side by side in a grid; plotly: a slider).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Trace:
    kind: str  # line | markers | errorbar | band | hist | heatmap
    x: Sequence[Any] = ()
    y: Sequence[float] = ()
    name: str = ""
    color: str | None = None
    err: Sequence[float] | None = None  # errorbar: +- this
    y2: Sequence[float] | None = None  # band: from y to y2
    z: Any = None  # heatmap: rows follow y, columns x; scatter3d: the third coordinate
    values: Sequence[float] | None = None  # scatter3d, markers: a value per point, coloured on ``colorscale``
    dash: str = "solid"  # solid | dash | dot
    width: float = 1.3
    alpha: float = 1.0
    size: float = 4.0  # marker size (points)
    symbol: str = "o"  # markers: o | s (square) | x
    bins: int | Sequence[float] = 40  # hist: a number of bins or their edges
    density: bool = True
    legend: bool = True
    colorbar: str = ""  # heatmap: the colour scale's title
    colorscale: str = "viridis"
    zrange: tuple[float, float] | None = None
    hover: Sequence[str] | None = None  # plotly hover text per point

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown trace kind {self.kind!r}; choose from: {', '.join(KINDS)}")


KINDS = ("line", "markers", "errorbar", "band", "hist", "heatmap", "scatter3d")


@dataclass(frozen=True)
class Panel:
    traces: tuple[Trace, ...]
    title: str = ""
    x_title: str = ""
    y_title: str = ""
    x_log: bool = False
    y_log: bool = False
    hlines: tuple[tuple[float, str], ...] = ()  # (y, label)
    vlines: tuple[tuple[float, str], ...] = ()
    notes: tuple[tuple[float, float, str], ...] = ()  # (x, y, text) in data coordinates
    legend: bool = True
    xticks: tuple[tuple[float, str], ...] = ()  # (position, label): named ticks instead of numbers
    note_color: str = "black"
    y_reversed: bool = False  # the first row on top (a heatmap of layers)
    legend_below: int = 0  # > 0: the legend below the axes in this many columns (the plot area is all curves)
    x_range: tuple[float | None, float | None] | None = None
    y_range: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class Chart:
    """``name``: the PNG's file stem; ``panels`` in a grid of ``cols`` columns; ``frames``:
    (label, panels) pairs instead of ``panels`` when the chart steps through a variable."""

    name: str
    panels: tuple[Panel, ...] = ()
    title: str = ""
    cols: int = 0  # 0: all panels in one row
    frames: tuple[tuple[str, tuple[Panel, ...]], ...] = ()
    frame_label: str = ""
    size: tuple[float, float] = (8.0, 4.8)  # matplotlib inches for the whole figure
    height: int = 420  # plotly pixels
    png: bool = True
    html: bool = True

    def grid(self) -> tuple[int, int]:
        n = len(self.frames[0][1]) if self.frames else len(self.panels)
        cols = self.cols or max(1, n)
        return max(1, math.ceil(n / cols)), cols


def finite(values: Sequence[float]) -> list[float | None]:
    """Values for plotly: NaN and inf become gaps (None)."""
    return [float(v) if v is not None and math.isfinite(float(v)) else None for v in np.asarray(values, dtype=float)]


# --- matplotlib ------------------------------------------------------------------------

_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":"}


@dataclass(frozen=True)
class Section:
    """One block of the report: a title, a verdict in plain words, and figures, declared as
    :class:`Chart` (drawn as ``figures/NAME.png`` and in the HTML page)
    or given as plotly figures (HTML only)."""

    title: str
    verdict: str
    figures: tuple[Any, ...] = ()  # Chart declarations, or plotly.graph_objects.Figure
    note: str = ""
    html: str = ""  # trusted markup built with escaping (inspect's sortable table), after the figures



def to_matplotlib(chart: Chart) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    three_d = any(t.kind == "scatter3d" for _, ps in chart.frames for p in ps for t in p.traces) or any(
        t.kind == "scatter3d" for p in chart.panels for t in p.traces)
    if chart.frames:  # rows: the panels; columns: the frames
        rows, cols = len(chart.frames[0][1]), len(chart.frames)
        fig, axes = plt.subplots(max(1, rows), max(1, cols), figsize=chart.size, squeeze=False,
                                 subplot_kw=dict(projection="3d") if three_d else None)
        for j, (label, panels) in enumerate(chart.frames):
            for i, panel in enumerate(panels):
                _mpl_panel(axes[i][j], panel, fig, small=True)
                axes[i][j].set_title(f"{chart.frame_label} {label}".strip() if i == 0 else "", fontsize=9)
                axes[i][j].set_ylabel(panel.title if j == 0 else "", fontsize=9)
        fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.06, wspace=0.25, hspace=0.3)
    else:
        rows, cols = chart.grid()
        fig, axes = plt.subplots(rows, cols, figsize=chart.size, squeeze=False, subplot_kw=dict(projection="3d") if three_d else None)
        for k, panel in enumerate(chart.panels):
            _mpl_panel(axes[k // cols][k % cols], panel, fig)
        for k in range(len(chart.panels), rows * cols):
            axes[k // cols][k % cols].set_visible(False)
        if any(p.legend_below for p in chart.panels):  # the legend lives in the bottom margin, outside tight_layout's reach
            fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.26)
        else:
            fig.tight_layout(rect=(0, 0, 1, 0.95 if chart.title else 1))
    if chart.title:
        fig.suptitle(chart.title, fontsize=10)
    return fig


def _gaps(values: Any) -> Any:
    """inf and NaN as NaN: a gap in a matplotlib line (an inf would stretch a log axis to nothing)."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v), v, np.nan)


def _mpl_panel(ax: Any, p: Panel, fig: Any, small: bool = False) -> None:
    labelled = False
    for t in p.traces:
        if t.kind in ("line", "markers", "errorbar", "band") and len(t.y):
            t = dataclasses.replace(t, y=_gaps(t.y), y2=None if t.y2 is None else _gaps(t.y2))
        label = t.name if (t.legend and t.name) else None
        labelled |= label is not None
        if t.kind == "line":
            ax.plot(t.x, t.y, ls=_MPL_DASH[t.dash], color=t.color, lw=t.width, alpha=t.alpha, label=label)
        elif t.kind == "markers" and t.err is not None:
            ax.errorbar(t.x, t.y, yerr=np.nan_to_num(np.asarray(t.err, dtype=float)), fmt="o", ms=t.size * 0.75, color=t.color,
                        alpha=t.alpha, label=label, zorder=3)
        elif t.kind == "markers" and t.values is not None:  # coloured by value, with its own colour bar
            lo, hi = t.zrange if t.zrange else (np.nanmin(t.values), np.nanmax(t.values))
            sc = ax.scatter(t.x, t.y, c=t.values, cmap=t.colorscale, vmin=lo, vmax=hi, s=t.size ** 2, edgecolors="w", label=label, zorder=3)
            fig.colorbar(sc, ax=ax, label=t.colorbar, pad=0.02)
        elif t.kind == "markers":
            ax.scatter(t.x, t.y, color=t.color, s=t.size ** 2, alpha=t.alpha, label=label, zorder=3, marker=t.symbol)
        elif t.kind == "errorbar":
            ax.errorbar(t.x, t.y, yerr=None if t.err is None else np.nan_to_num(np.asarray(t.err, dtype=float)), color=t.color,
                        marker="o", ms=t.size * 0.6, lw=t.width, capsize=1.5, alpha=t.alpha, label=label,
                        ls=_MPL_DASH[t.dash])
        elif t.kind == "band":
            ax.fill_between(t.x, t.y, t.y2, color=t.color, alpha=t.alpha, lw=0, label=label)
        elif t.kind == "hist":
            v = np.asarray(t.x, dtype=float)
            v = v[np.isfinite(v)]
            if len(v):
                ax.hist(v, bins=t.bins, density=t.density, color=t.color, alpha=t.alpha, label=label)
        elif t.kind == "scatter3d":
            ax.scatter(t.x, t.y, t.z, c=t.values, cmap=t.colorscale, s=t.size * 2)
        elif t.kind == "heatmap":
            z = np.asarray(t.z, dtype=float)
            lo, hi = t.zrange if t.zrange else (np.nanmin(z), np.nanmax(z))
            mesh = ax.pcolormesh(t.x, t.y, z, shading="nearest", cmap=t.colorscale, vmin=lo, vmax=hi)
            fig.colorbar(mesh, ax=ax, label=t.colorbar)
    for y, text in p.hlines:
        ax.axhline(y, color="k", ls=":", lw=1, label=text or None)
        labelled |= bool(text)
    for x, text in p.vlines:
        ax.axvline(x, color="k", ls=":", lw=1, label=text or None)
        labelled |= bool(text)
    for x, y, text in p.notes:
        if not p.traces:  # an empty panel's note says why it is empty: in its middle
            ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8, color=p.note_color, wrap=True)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8, color=p.note_color)
    if p.xticks:
        ax.set_xticks([x for x, _ in p.xticks])
        ax.set_xticklabels([lab for _, lab in p.xticks], fontsize=7)
    if p.x_log:
        ax.set_xscale("log")
    if p.y_log:
        ax.set_yscale("log")
    if p.y_reversed:
        ax.invert_yaxis()
    if p.x_range:  # after the scales: a log axis autoscales its open end anew
        ax.set_xlim(*p.x_range)
    if p.y_range:
        ax.set_ylim(*p.y_range)  # (None, top) keeps the automatic bottom
    if not small:
        ax.set_title(p.title, fontsize=10)
        ax.set_ylabel(p.y_title)
    ax.set_xlabel(p.x_title)
    ax.tick_params(labelsize=7 if small else 9)
    if not hasattr(ax, "zaxis"):
        ax.grid(True, which="both", alpha=0.3)
    if labelled and p.legend and p.legend_below:
        ax.legend(fontsize=7, ncol=p.legend_below, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    elif labelled and p.legend:
        ax.legend(fontsize=7 if small else 8)


# --- plotly ----------------------------------------------------------------------------

_PLOTLY_DASH = {"solid": "solid", "dash": "dash", "dot": "dot"}
_PLOTLY_SCALES = {"coolwarm": "RdBu_r", "viridis": "Viridis", "magma": "Magma"}


def to_plotly(chart: Chart) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panel_sets = [p for _, p in chart.frames] if chart.frames else [chart.panels]
    first = panel_sets[0]
    rows, cols = (1, len(first)) if chart.frames else chart.grid()
    titles = [p.title for p in first]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles) if len(first) > 1 else go.Figure()
    owner: list[int] = []  # the frame each trace belongs to
    for f, panels in enumerate(panel_sets):
        for k, panel in enumerate(panels):
            where = dict(row=k // cols + 1, col=k % cols + 1) if len(first) > 1 else {}
            for t in panel.traces:
                for tr in _plotly_traces(go, t):
                    if chart.frames:
                        tr.visible = f == 0
                    fig.add_trace(tr, **where)
                    owner.append(f)
            for y, text in panel.hlines:
                fig.add_hline(y=y, line=dict(color="black", dash="dot", width=1), annotation_text=text, **where)
            for x, text in panel.vlines:
                fig.add_vline(x=x, line=dict(color="black", dash="dot", width=1), annotation_text=text, **where)
            if f == 0:
                for x, y, text in panel.notes:  # annotation coordinates on a log axis are log10 values
                    x = math.log10(x) if panel.x_log and x > 0 else x
                    y = math.log10(y) if panel.y_log and y > 0 else y
                    fig.add_annotation(x=x, y=y, xanchor="left" if panel.traces else "center", text=text, showarrow=False,
                                       yshift=10 if panel.traces else 0, font=dict(color=panel.note_color),
                                       **({"row": where["row"], "col": where["col"]} if where else {}))
                axis = dict(**where) if where else {}
                ticks = dict(tickvals=[x for x, _ in panel.xticks], ticktext=[lab.replace("\n", "<br>") for _, lab in panel.xticks]) if panel.xticks else {}
                fig.update_xaxes(title_text=panel.x_title, type="log" if panel.x_log else None, **ticks, **axis)
                fig.update_yaxes(title_text=panel.y_title, type="log" if panel.y_log else None, **_range(panel.y_range, panel.y_log),
                                 **({"autorange": "reversed"} if panel.y_reversed else {}), **axis)
                if panel.x_range:
                    fig.update_xaxes(**_range(panel.x_range, panel.x_log), **axis)
    layout: dict[str, Any] = dict(height=chart.height, template="plotly_white", margin=dict(l=60, r=20, t=50, b=50),
                                  barmode="overlay", legend=dict(font=dict(size=11)))
    scene = any(t.kind == "scatter3d" for p in first for t in p.traces)
    if scene:  # a 3-D scene wants the whole width; a slider hangs below the plot area, into the margin
        layout["margin"] = dict(l=0, r=0, t=40, b=90 if chart.frames else 0)
    if chart.title and len(first) == 1 and not first[0].title:
        layout["title"] = chart.title
    elif len(first) == 1 and first[0].title:
        layout["title"] = first[0].title
    if chart.frames:
        steps = [dict(method="update", label=label, args=[{"visible": [o == f for o in owner]}])
                 for f, (label, _) in enumerate(chart.frames)]
        layout["sliders"] = [dict(active=0, currentvalue=dict(prefix=f"{chart.frame_label} "), steps=steps, pad=dict(t=10 if scene else 40),
                                  x=0.03, len=0.94)]  # inset: the end labels are not clipped where the margin is 0
    fig.update_layout(**layout)
    return fig


def _range(r: tuple[float | None, float | None] | None, log: bool) -> dict[str, Any]:
    """A plotly axis range (in log10 units on a log axis); none where either end is open."""
    if not r or r[0] is None or r[1] is None:
        return {}
    return dict(range=[math.log10(r[0]), math.log10(r[1])] if log else list(r))


def _plotly_traces(go: Any, t: Trace) -> list[Any]:
    common: dict[str, Any] = dict(name=t.name, showlegend=t.legend and bool(t.name), legendgroup=t.name or None)
    line = dict(color=t.color, dash=_PLOTLY_DASH[t.dash], width=t.width * 1.4)
    hover = dict(text=list(t.hover), hovertemplate="%{text}<extra></extra>") if t.hover is not None else {}
    if t.kind == "line":
        return [go.Scatter(x=list(t.x), y=finite(t.y), mode="lines", line=line, opacity=t.alpha, **common, **hover)]
    err = None if t.err is None else dict(type="data", array=list(np.nan_to_num(np.asarray(t.err, dtype=float))), visible=True, thickness=1)
    if t.kind == "markers":
        marker: dict[str, Any] = dict(color=t.color, size=t.size * 1.6, symbol={"o": "circle", "s": "square", "x": "x"}[t.symbol])
        if t.values is not None:
            lo, hi = t.zrange if t.zrange else (float(np.nanmin(t.values)), float(np.nanmax(t.values)))
            marker.update(color=list(t.values), colorscale=_PLOTLY_SCALES.get(t.colorscale, t.colorscale), cmin=lo, cmax=hi,
                          line=dict(color="white", width=1))
        return [go.Scatter(x=list(t.x), y=finite(t.y), mode="markers", marker=marker, error_y=err, opacity=t.alpha, **common, **hover)]
    if t.kind == "errorbar":
        return [go.Scatter(x=list(t.x), y=finite(t.y), mode="lines+markers", line=line, marker=dict(size=t.size, color=t.color),
                           error_y=err, opacity=t.alpha, **common, **hover)]
    if t.kind == "band":
        xs = list(t.x)
        return [go.Scatter(x=xs + xs[::-1], y=finite(list(t.y) + list(t.y2 if t.y2 is not None else ())[::-1]), fill="toself", mode="lines",
                           fillcolor=_rgba(t.color, t.alpha), line=dict(width=0), hoverinfo="skip", **common)]
    if t.kind == "scatter3d":
        return [go.Scatter3d(x=list(t.x), y=list(t.y), z=list(t.z), mode="markers", name=t.name, showlegend=False,
                             marker=dict(size=t.size * 0.75, color=list(t.values) if t.values is not None else t.color,
                                         colorscale=_PLOTLY_SCALES.get(t.colorscale, t.colorscale)))]
    if t.kind == "hist":
        v = np.asarray(t.x, dtype=float)
        return [go.Histogram(x=v[np.isfinite(v)], nbinsx=t.bins if isinstance(t.bins, int) else len(t.bins) - 1, histnorm="probability density" if t.density else "",
                             marker_color=t.color, opacity=t.alpha, **common)]
    z = np.asarray(t.z, dtype=float)
    lo, hi = t.zrange if t.zrange else (float(np.nanmin(z)), float(np.nanmax(z)))
    return [go.Heatmap(x=list(t.x), y=list(t.y), z=[finite(r) for r in z], colorscale=_PLOTLY_SCALES.get(t.colorscale, t.colorscale), zmin=lo, zmax=hi,
                       colorbar=dict(title=t.colorbar), name=t.name, showscale=True)]


def _rgba(color: str | None, alpha: float) -> str:
    from matplotlib.colors import to_rgba

    r, g, b, _ = to_rgba(color or "black")
    return f"rgba({int(r * 255)},{int(g * 255)},{int(b * 255)},{alpha})"
