"""``data-distributions``: text 001, what the layers do to the shape of the data.

The text's setup: inputs uniform in the unit ball, target cos(|x|), a 10-layer ReLU
MLP of width 40 whose layer i adds the shift vector linspace(-1, 1, 40), output layer
zero-initialized. Pictures use 3-dimensional inputs; spectra and every number use
40-dimensional ones (the text's "raise the input dimension to 40"). Variants:
``normal`` (N(0, 1) weights, the text's ``normal(input_dim, state_dim)``), ``sphere``
(each unit's weight vector i.i.d. uniform on the unit sphere), then the remedies the
text names: Kaiming, orthogonal, residual connections, LayerNorm.

Not offered: ``sphere-spaced``. The text's code draws "well spaced" directions with a
helper it does not show; an i.i.d. uniform sphere is what we can reproduce faithfully,
and the report says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from initscope.data import get_input
from initscope.engine.forward import forward
from initscope.engine.moments import mean_stderr
from initscope.errors import InitscopeError, unknown
from initscope.experiments.base import Experiment, Outcome, RunContext, Section
from initscope.geometry import effective_rank, jacobian_singular_values, normalized_spectrum, pca, top_k_fraction, weight_norms
from initscope.nets import MLPSpec
from initscope.repro import generator

# variant -> MLPSpec overrides on the text's base network
VARIANTS: dict[str, dict[str, Any]] = {
    "normal": dict(init="normal"),
    "sphere": dict(init="sphere"),
    "kaiming": dict(init="kaiming-normal"),
    "orthogonal": dict(init="orthogonal", weight_scale=2.0),  # with the ReLU gain sqrt 2
    "residual": dict(init="kaiming-normal", residual=True),  # branch scaled by 1/depth in spec(): sigma_w^2 = 2 / depth
    "layernorm": dict(init="kaiming-normal", norm="layernorm"),
}


@dataclass(frozen=True)
class DataDistributionsConfig:
    depth: int = 10  # text 001: num_states = 10
    width: int = 40  # text 001: state_dim = 40
    picture_dim: int = 3  # text 001: input_dim = 3 for the pictures
    spectrum_dim: int = 40  # "raise the input dimension to 40" for the spectra
    samples: int = 100  # text 001: ball(100, input_dim)
    networks: int = 8  # seeds averaged: at width 40 one draw says little
    variants: tuple[str, ...] = tuple(VARIANTS)
    jacobian_points: int = 10

    def __post_init__(self) -> None:
        for name in ("depth", "width", "picture_dim", "spectrum_dim", "jacobian_points"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.samples < 3:
            raise InitscopeError(f"samples must be >= 3, got {self.samples}")
        if self.networks < 2:
            raise InitscopeError(f"networks must be >= 2 (the spread over seeds is shown), got {self.networks}")
        for v in self.variants:
            if v not in VARIANTS:
                raise unknown("variant", v, VARIANTS)
        from initscope.resources import check_model

        for v in self.variants:
            check_model(self.spec(v, self.spectrum_dim), self.samples, item=8, what=f"the {v} MLP")

    def spec(self, variant: str, input_dim: int) -> MLPSpec:
        base = MLPSpec(input_dim=input_dim, width=self.width, depth=self.depth, activation="relu", bias="linspace",
                       output_dim=1, output_init="zeros")
        spec = replace(base, **VARIANTS[variant])
        if variant == "residual":  # each of the depth branches adds 2/depth of Kaiming's variance: the stream's grows by e^2, not 2^depth
            spec = replace(spec, weight_scale=2.0 / self.depth)
        return spec


def states(spec: MLPSpec, x: torch.Tensor, seed: int, network: int = 0) -> list[torch.Tensor]:
    """The text's ``states``: every layer's output after the shift and the ReLU, for network
    ``network`` (``build_mlp(spec, seed, network)``), through the engine's forward pass."""
    return [post for _, _, post in forward(spec, x, seed, "net", network)]


def _ball(n: int, dim: int, seed: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = get_input("ball").sample(n, dim, generator=generator(seed, name), dtype=torch.float64)
    return x, torch.cos(x.norm(dim=1))


def run(cfg: DataDistributionsConfig, ctx: RunContext) -> Outcome:
    t0 = time.perf_counter()
    x40, _ = _ball(cfg.samples, cfg.spectrum_dim, ctx.seed, "ball-spectra")
    x3, y3 = _ball(cfg.samples, cfg.picture_dim, ctx.seed, "ball-pictures")
    rows, spectra_rows, pca_rows, jac_rows = [], [], [], []
    in_scale = float(x40.norm(dim=1).mean())
    total = len(cfg.variants) * cfg.networks
    for vi, variant in enumerate(cfg.variants):
        spec40, spec3 = cfg.spec(variant, cfg.spectrum_dim), cfg.spec(variant, cfg.picture_dim)
        for r in range(cfg.networks):
            for layer, h in enumerate(states(spec40, x40, ctx.seed, r), start=1):
                finite = bool(torch.isfinite(h).all())
                rows.append(dict(variant=variant, network=r, layer=layer,
                                 scale=float(h.norm(dim=1).mean()) / in_scale if finite else math.nan,
                                 effective_rank=effective_rank(h) if finite else math.nan,
                                 top1_fraction=top_k_fraction(h, 1) if finite else math.nan))
                if finite:
                    for i, s in enumerate(normalized_spectrum(h).tolist()):
                        spectra_rows.append(dict(variant=variant, network=r, layer=layer, index=i + 1, value=s))
            if r == 0:
                layers = [x3] + states(spec3, x3, ctx.seed, 0)
                for layer, h in enumerate(layers):
                    p = pca(h, 3) if bool(torch.isfinite(h).all()) else torch.full((h.shape[0], 3), math.nan)
                    for i in range(h.shape[0]):
                        pca_rows.append(dict(variant=variant, layer=layer, sample=i, pc1=float(p[i, 0]), pc2=float(p[i, 1]), pc3=float(p[i, 2]), target=float(y3[i])))

                def last_state(v: torch.Tensor, spec: MLPSpec = spec40) -> torch.Tensor:
                    return states(spec, v.unsqueeze(0), ctx.seed, 0)[-1][0]

                with torch.enable_grad():
                    sv = jacobian_singular_values(last_state, x40[: cfg.jacobian_points])
                for p_i in range(sv.shape[0]):
                    for k, s in enumerate(sv[p_i].tolist()):
                        jac_rows.append(dict(variant=variant, point=p_i, index=k + 1, value=s))
            ctx.progress("variants x networks", vi * cfg.networks + r + 1, total)
    per_net = pd.DataFrame(rows)
    stats = (
        per_net.melt(id_vars=["variant", "network", "layer"], var_name="stat", value_name="v")
        .groupby(["variant", "layer", "stat"]).v.agg(value="mean", stderr=lambda s: mean_stderr(s)[1], n="count")
        .reset_index()
    )
    spectra = pd.DataFrame(spectra_rows).groupby(["variant", "layer", "index"]).value.mean().reset_index()
    norms = pd.concat([
        pd.DataFrame({"scheme": f"{v} ({cfg.spec(v, cfg.width).init})", "norm": weight_norms(
            cfg.spec(v, cfg.width).scheme, (cfg.width, cfg.width), draws=25, generator=generator(ctx.seed, "norms", v)).numpy()})
        for v in cfg.variants
    ], ignore_index=True)
    jac = pd.DataFrame(jac_rows)
    summary: dict[str, Any] = {"layers": list(range(1, cfg.depth + 1)), "variants": {}}
    for v in cfg.variants:
        s = stats[stats.variant == v]

        def series(stat: str) -> list[float | None]:
            vals = s[s.stat == stat].sort_values("layer").value
            return [float(x) if math.isfinite(x) else None for x in vals]

        summary["variants"][v] = {
            "scale": series("scale"),
            "effective_rank": series("effective_rank"),
            "top1_fraction": series("top1_fraction"),
            "singular_values": [spectra[(spectra.variant == v) & (spectra.layer == l)].sort_values("index").value.tolist() for l in range(1, cfg.depth + 1)],
            "jacobian_singular_values": jac[jac.variant == v].groupby("index").value.mean().tolist(),
        }
    return Outcome(
        tables={"stats": stats, "per_network": per_net, "spectra": spectra, "pca": pd.DataFrame(pca_rows), "weight_norms": norms, "jacobian": jac},
        summary=summary,
        timings={"run_s": time.perf_counter() - t0},
    )


# --- figures and report --------------------------------------------------------------------


def verdict(summary: dict[str, Any]) -> str:
    parts = []
    for v, d in summary["variants"].items():
        er = [x for x in d["effective_rank"] if x is not None]
        sc = [x for x in d["scale"] if x is not None]
        if er and sc:
            parts.append(f"{v}: effective rank {er[0]:.1f} -> {er[-1]:.1f}, scale x{sc[-1]:.3g}")
    return "; ".join(parts) + "."


def figures(tables: dict[str, pd.DataFrame], cfg: DataDistributionsConfig, meta: dict[str, Any]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    stats, spectra, pcs, norms = tables["stats"], tables["spectra"], tables["pca"], tables["weight_norms"]
    figs: dict[str, Any] = {}
    # effective rank and scale against depth
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.13, wspace=0.22)
    for i, v in enumerate(cfg.variants):
        for ax, stat in zip(axes, ("effective_rank", "scale")):
            s = stats[(stats.variant == v) & (stats.stat == stat)].sort_values("layer")
            ax.errorbar(s.layer, s.value, yerr=2 * s.stderr.fillna(0), color=f"C{i}", marker="o", ms=3, capsize=2, label=v)
    axes[0].set_ylabel(f"effective rank (of {cfg.width})")
    axes[1].set_ylabel("scale: mean |h| / mean |x|")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Text 001: information and scale through {cfg.depth} ReLU layers (mean ± 2 SE over {cfg.networks} seeds)", fontsize=10)
    figs["effective_rank"] = fig
    # spectra per variant
    n = len(cfg.variants)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), sharey=True, squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.83, bottom=0.16, wspace=0.08)
    cmap = plt.get_cmap("viridis")
    for ax, v in zip(axes[0], cfg.variants):
        for layer in range(1, cfg.depth + 1):
            s = spectra[(spectra.variant == v) & (spectra.layer == layer)].sort_values("index")
            ax.semilogy(s["index"], s.value.clip(lower=1e-12), color=cmap((layer - 1) / max(cfg.depth - 1, 1)), lw=1)
        ax.set_title(v, fontsize=9)
        ax.set_xlabel("component")
        ax.set_ylim(1e-6, 1.5)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("singular value / largest")
    fig.suptitle("Singular-value spectra per layer (dark: layer 1, yellow: last)", fontsize=10)
    figs["spectra"] = fig
    # weight norms
    fig, ax = plt.subplots(figsize=(7, 3.6))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.15)
    # shared log bins: sphere and orthogonal rows all have norm exactly 1
    bins = np.geomspace(max(float(norms.norm.min()), 1e-3) * 0.8, float(norms.norm.max()) * 1.25, 80)
    for i, (scheme, grp) in enumerate(norms.groupby("scheme")):
        ax.hist(grp.norm, bins=bins, alpha=0.6, label=scheme)
    ax.axvline(1.0, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("2-norm of a unit's weight vector (width 40)")
    ax.legend(fontsize=8)
    ax.set_title("Weight-vector norms: N(0, 1) rows are ~sqrt(40) = 6.3, almost all > 1", fontsize=10)
    figs["weight_norms"] = fig
    # PCA pictures: input, first, middle, last layer
    show = [v for v in ("normal", "sphere") if v in cfg.variants] or list(cfg.variants[:2])
    layers = sorted({0, 1, (cfg.depth + 1) // 2 + 1 if cfg.depth > 2 else 1, cfg.depth})
    fig = plt.figure(figsize=(3.2 * len(layers), 3.2 * len(show)))
    for i, v in enumerate(show):
        for j, layer in enumerate(layers):
            ax = fig.add_subplot(len(show), len(layers), i * len(layers) + j + 1, projection="3d")
            p = pcs[(pcs.variant == v) & (pcs.layer == layer)]
            ax.scatter(p.pc1, p.pc2, p.pc3, c=p.target, cmap="coolwarm", s=8)
            ax.set_title(f"{v}, {'input' if layer == 0 else f'layer {layer}'}", fontsize=9)
            ax.tick_params(labelsize=6)
    fig.suptitle("Data on its first three principal components, coloured by cos(|x|)", fontsize=10)
    figs["pca"] = fig
    return figs


def sections(tables: dict[str, pd.DataFrame], cfg: DataDistributionsConfig, meta: dict[str, Any]) -> list[Section]:
    import plotly.graph_objects as go

    stats, spectra, pcs = tables["stats"], tables["spectra"], tables["pca"]
    er = go.Figure()
    for v in cfg.variants:
        s = stats[(stats.variant == v) & (stats.stat == "effective_rank")].sort_values("layer")
        er.add_trace(go.Scatter(x=s.layer, y=s.value, name=v, mode="lines+markers", error_y=dict(type="data", array=2 * s.stderr.fillna(0).to_numpy())))
    er.update_layout(xaxis_title="layer", yaxis_title="effective rank", height=400, template="plotly_white")
    # 3-D scatter with a slider over layers, per variant
    pics = []
    for v in cfg.variants:
        fig = go.Figure()
        layers = sorted(pcs[pcs.variant == v].layer.unique())
        for layer in layers:
            p = pcs[(pcs.variant == v) & (pcs.layer == layer)]
            fig.add_trace(go.Scatter3d(x=p.pc1, y=p.pc2, z=p.pc3, mode="markers", visible=layer == layers[0],
                                       marker=dict(size=3, color=p.target, colorscale="RdBu"), name=f"layer {layer}"))
        steps = [dict(method="update", label="input" if l == 0 else str(l), args=[{"visible": [k == i for k in range(len(layers))]}]) for i, l in enumerate(layers)]
        fig.update_layout(height=420, title=f"{v}: first three principal components", sliders=[dict(steps=steps, currentvalue=dict(prefix="layer "))], margin=dict(l=0, r=0, t=40, b=0))
        pics.append(fig)
    sp = go.Figure()
    trace_layer = []
    for v in cfg.variants:
        for layer in range(1, cfg.depth + 1):
            s = spectra[(spectra.variant == v) & (spectra.layer == layer)].sort_values("index")
            sp.add_trace(go.Scatter(x=s["index"], y=s.value.clip(lower=1e-12), name=v, mode="lines", visible=layer == 1))
            trace_layer.append(layer)
    sp.update_layout(yaxis_type="log", xaxis_title="component", yaxis_title="singular value / largest", height=400, template="plotly_white",
                     sliders=[dict(steps=[dict(method="update", label=str(l), args=[{"visible": [t == l for t in trace_layer]}]) for l in range(1, cfg.depth + 1)], currentvalue=dict(prefix="layer "))])
    return [
        Section("Information through depth", verdict(meta.get("summary", {"variants": {}})), (er, sp),
                note="'sphere' draws each unit's weight vector i.i.d. uniform on the unit sphere; the text's own 'well spaced' sphere points are not reproduced."),
        Section("The data, layer by layer", "Each picture is one network (seed 0) with 3-dimensional inputs; move the slider through the layers.", tuple(pics)),
    ]


EXPERIMENT = Experiment(
    name="data-distributions",
    description="Text 001: PCA views, weight norms and singular-value spectra per layer of a shifted ReLU MLP",
    config=DataDistributionsConfig,
    run=run,
    figures=figures,
    sections=sections,
    source="001_ed742d2eed62457b.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
