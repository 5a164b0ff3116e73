"""data-distributions' figures: effective rank and scale by depth, singular-value spectra,
weight-vector norms, and the data on its first three principal components."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from initscope.palette import color, sequential
from initscope.report.charts import Chart, Panel, Trace


def rank_and_scale(stats: pd.DataFrame, variants: Sequence[str], *, width: int, depth: int, networks: int) -> Chart:
    rank, scale = [], []
    for i, v in enumerate(variants):
        for out, stat in ((rank, "effective_rank"), (scale, "scale")):
            s = stats[(stats.variant == v) & (stats.stat == stat)].sort_values("layer")
            out.append(Trace("errorbar", s.layer, s.value, v, color(i), err=2 * s.stderr.fillna(0).to_numpy(), legend=stat == "effective_rank"))
    return Chart("effective_rank", (
        Panel(tuple(rank), title="effective rank", x_title="layer", y_title=f"effective rank (of {width})"),
        Panel(tuple(scale), title="scale", x_title="layer", y_title="scale: mean |h| / mean |x|", y_log=True),
    ), title=f"Text 001: information and scale through {depth} ReLU layers (mean ± 2 SE over {networks} seeds)",
        size=(11, 4), height=420)


def spectra(spectra: pd.DataFrame, variants: Sequence[str], depth: int) -> tuple[Chart, Chart]:
    """In the PNG every layer per variant (colour runs with depth); in the page a slider over layers."""
    def spectrum(v: str, layer: int) -> pd.DataFrame:
        return spectra[(spectra.variant == v) & (spectra.layer == layer)].sort_values("index")

    per_variant = tuple(
        Panel(tuple(Trace("line", spectrum(v, layer)["index"], spectrum(v, layer).value.clip(lower=1e-12), f"layer {layer}",
                          sequential((layer - 1) / max(depth - 1, 1)), width=1.0, legend=False) for layer in range(1, depth + 1)),
              title=v, x_title="component", y_title="singular value / largest" if i == 0 else "", y_log=True)
        for i, v in enumerate(variants))
    png = Chart("spectra", per_variant, title="Singular-value spectra per layer (dark: layer 1, yellow: last)",
                size=(3.2 * len(variants), 3.4), html=False)
    page = Chart("spectra_by_layer", frame_label="layer", png=False, height=400, frames=tuple(
        (str(layer), (Panel(tuple(Trace("line", spectrum(v, layer)["index"], spectrum(v, layer).value.clip(lower=1e-12), v, color(i))
                                  for i, v in enumerate(variants)), x_title="component", y_title="singular value / largest", y_log=True),))
        for layer in range(1, depth + 1)))
    return png, page


def weight_norms(norms: pd.DataFrame) -> Chart:
    """On shared log bins: sphere and orthogonal rows all have norm exactly 1."""
    bins = np.geomspace(max(float(norms.norm.min()), 1e-3) * 0.8, float(norms.norm.max()) * 1.25, 80)
    return Chart("weight_norms", (Panel(tuple(Trace("hist", grp.norm, name=scheme, color=color(i), bins=tuple(bins), density=False, alpha=0.6)
                                              for i, (scheme, grp) in enumerate(norms.groupby("scheme"))),
                                        title="Weight-vector norms: N(0, 1) rows are ~sqrt(40) = 6.3, almost all > 1",
                                        x_title="2-norm of a unit's weight vector (width 40)", x_log=True, vlines=((1.0, ""),)),),
                 size=(7, 3.6), html=False)


def pca(pcs: pd.DataFrame, variants: Sequence[str], depth: int) -> tuple[Chart, ...]:
    """The data on its first three principal components: a PNG grid of a few layers for two
    variants, and per variant a slider over every layer for the page."""
    def points(v: str, layer: int) -> Trace:
        p = pcs[(pcs.variant == v) & (pcs.layer == layer)]
        return Trace("scatter3d", p.pc1, p.pc2, z=p.pc3, values=p.target, colorscale="coolwarm", size=4)

    show = [v for v in ("normal", "sphere") if v in variants] or list(variants[:2])
    layers = sorted({0, 1, (depth + 1) // 2 + 1 if depth > 2 else 1, depth})
    png = Chart("pca", frame_label="", html=False, size=(3.2 * len(layers), 3.2 * len(show)),
                title="Data on its first three principal components, coloured by cos(|x|)",
                frames=tuple(("input" if layer == 0 else f"layer {layer}", tuple(Panel((points(v, layer),), title=v) for v in show))
                             for layer in layers))
    pages = tuple(Chart(f"pca_{v}", png=False, frame_label="layer", height=420, title=f"{v}: first three principal components",
                        frames=tuple(("input" if layer == 0 else str(layer), (Panel((points(v, layer),)),))
                                     for layer in sorted(int(x) for x in pcs[pcs.variant == v].layer.unique())))
                  for v in variants)
    return (png, *pages)
