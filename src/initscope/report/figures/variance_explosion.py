"""variance-explosion's figures: variance by depth against the float range, before and after
the activation, histograms of the activations."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from initscope.palette import color as palette_color
from initscope.report.charts import Chart, Panel, Trace
from initscope.theory.overflow import activation_limit


def _finite_or_nan(values: Any) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def curve(stats: pd.DataFrame, variant: str, site: str, stat: str) -> pd.DataFrame:
    return stats[(stats.variant == variant) & (stats.site == site) & (stats.stat == stat)].sort_values("layer")


def variance_by_depth(stats: pd.DataFrame, theory: pd.DataFrame, first_nonfinite: Mapping[str, int | None], *,
                      variants: Sequence[str], networks: int, samples: int, width: int, depth: int, dtype: str) -> Chart:
    """The post-activation variance per variant (mean over networks, 2 SE) with its recursion
    dashed; an x where a variant's activations leave the float range; a grey band where the
    largest activation cannot be represented, a line where the variance itself cannot."""
    traces, notes, top = [], [], 1.0
    for i, variant in enumerate(variants):
        color = palette_color(i)
        st = curve(stats, variant, "post", "variance")
        y = _finite_or_nan(st.value)
        traces.append(Trace("errorbar", st.layer, y, f"{variant} (mean of {networks} networks, 2 SE)", color, err=2 * st.stderr.fillna(0).to_numpy()))
        t = curve(theory, variant, "post", "variance")
        ty = _finite_or_nan(t.value)
        traces.append(Trace("line", t.layer, ty, f"{variant}, recursion", color, dash="dash", width=1.0))
        top = max(top, np.nanmax(ty, initial=1.0), np.nanmax(y, initial=1.0))
        first = first_nonfinite.get(variant)
        ok = st[np.isfinite(y)]
        if first is not None and len(ok):
            last = ok.iloc[-1]
            traces.append(Trace("markers", [last.layer], [last.value], "", color, symbol="x", size=9, legend=False))
            notes.append((float(last.layer), float(last.value), f"{variant}: activations leave {dtype} at layer {first}"))
    var_limit = float(np.finfo(np.dtype(dtype)).max)
    act_limit = activation_limit(dtype, networks * samples * width)
    hlines, y_range = [], None
    if top > var_limit:
        hlines.append((var_limit, ""))
        notes.append((1.0, var_limit, f"variance = {dtype} max: x.var() in {dtype} overflows"))
    if top > act_limit and math.isfinite(act_limit):
        # the recursion goes on past the float range; show a few decades of it, not all
        ceiling = min(top * 1e3, act_limit * 1e15)
        traces.append(Trace("band", [1, depth], [act_limit, act_limit], "", "grey", y2=[ceiling, ceiling], alpha=0.15, legend=False))
        notes.append((1.0, math.sqrt(act_limit * ceiling), f"largest activation > {dtype} max: outside the float range (recursion continues above)"))
        y_range = (None, ceiling)
    return Chart("variance_by_depth", (Panel(
        tuple(traces), title=f"Text 002: exploding, vanishing, preserved (width {width}, {samples} N(0, 1) inputs, {dtype})",
        x_title="layer", y_title="variance of a layer's activations\n(pooled over samples and units, after the activation)", y_log=True,
        hlines=tuple(hlines), notes=tuple(notes), y_range=y_range, legend_below=4),), size=(10, 6.5), height=520)


def before_after(stats: pd.DataFrame, theory: pd.DataFrame, activations: Mapping[str, str], variants: Sequence[str]) -> Chart:
    """Variance and mean before (o) and after (s) the activation for the variants in
    ``activations`` (variant -> activation name), their recursions as lines."""
    panels: dict[str, list[Trace]] = {"variance": [], "mean": []}
    for variant, act in activations.items():
        color = palette_color(list(variants).index(variant))
        for site, symbol in (("pre", "o"), ("post", "s")):
            word = "before" if site == "pre" else "after"
            for stat, traces_ in panels.items():
                st = curve(stats, variant, site, stat)
                traces_.append(Trace("markers", st.layer, st.value, f"{variant}, {word} {act}", color,
                                     symbol=symbol, size=3.5, legend=stat == "variance"))
                t = curve(theory, variant, site, stat)
                traces_.append(Trace("line", t.layer, t.value, "", color, dash="solid" if site == "pre" else "dash",
                                     width=1.0, legend=False))
    return Chart("before_after_activation", (
        Panel(tuple(panels["variance"]), title="variance before (o) and after (s) the activation; lines: recursion", x_title="layer", y_log=True),
        Panel(tuple(panels["mean"]), title="mean before and after the activation", x_title="layer"),
    ), size=(11, 4.4), height=430)


def histograms(hist: pd.DataFrame, first_nonfinite: Mapping[str, int | None], linear: Mapping[str, bool], *,
               variants: Sequence[str], layers: Sequence[int], dtype: str, values: int) -> Chart:
    """One row per variant, one panel per layer: the activations after (colour) and before
    (grey, nonlinear variants) the activation, on shared bins; an empty panel says why."""
    panels: list[Panel] = []
    for i, variant in enumerate(variants):
        for layer in layers:
            cell = hist[(hist.variant == variant) & (hist.layer == layer)]
            post, pre = cell[cell.site == "post"].value.to_numpy(), cell[cell.site == "pre"].value.to_numpy()
            if len(post):
                lo, hi = float(min(pre.min(), post.min())), float(max(pre.max(), post.max()))
                bins = tuple(np.linspace(lo, hi, 51)) if hi > lo else 50
                tr = [Trace("hist", post, name="after", color=palette_color(i), bins=bins, density=False, alpha=0.8, legend=False)]
                if not linear[variant]:
                    tr.append(Trace("hist", pre, name="before", color="black", bins=bins, density=False, alpha=0.3, legend=False))
                panels.append(Panel(tuple(tr), title=f"{variant}, layer {layer}: var {np.var(post, ddof=1):.3g}", legend=False))
            else:
                first = first_nonfinite.get(variant)
                msg = f"not finite: left {dtype} at layer {first}" if first is not None else "not reached"
                panels.append(Panel((), title=f"{variant}, layer {layer}", notes=((0.5, 0.5, msg),)))
    return Chart("histograms", tuple(panels), cols=len(layers), size=(3.3 * len(layers), 2.3 * len(variants) + 0.6),
                 title=f"Activations at layers {', '.join(map(str, layers))} (network 0, {values} values each; grey: before the activation)",
                 height=230 * len(variants) + 60)
