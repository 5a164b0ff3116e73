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

import pandas as pd
import torch

from initscope.data import get_input
from initscope.engine.forward import forward
from initscope.engine.moments import mean_stderr
from initscope.errors import InitscopeError, unknown
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
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


def verdict(stats: pd.DataFrame) -> str:
    """Per variant, from the stats table: the effective rank at the first and last layer and the
    scale at the last."""
    parts = []
    for v in dict.fromkeys(stats.variant):
        s = stats[stats.variant == v]
        er = [x for x in s[s.stat == "effective_rank"].sort_values("layer").value if math.isfinite(x)]
        sc = [x for x in s[s.stat == "scale"].sort_values("layer").value if math.isfinite(x)]
        if er and sc:
            parts.append(f"{v}: effective rank {er[0]:.1f} -> {er[-1]:.1f}, scale x{sc[-1]:.3g}")
    return "; ".join(parts) + "."


def report(tables: dict[str, pd.DataFrame], cfg: DataDistributionsConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.figures import data_distributions as fig

    stats = tables["stats"]
    return [
        Section("Information through depth", verdict(stats),
                (fig.rank_and_scale(stats, cfg.variants, width=cfg.width, depth=cfg.depth, networks=cfg.networks),
                 *fig.spectra(tables["spectra"], cfg.variants, cfg.depth), fig.weight_norms(tables["weight_norms"])),
                note="'sphere' draws each unit's weight vector i.i.d. uniform on the unit sphere; the text's own 'well spaced' sphere points are not reproduced."),
        Section("The data, layer by layer", "Each picture is one network (seed 0) with 3-dimensional inputs; move the slider through the layers.",
                fig.pca(tables["pca"], cfg.variants, cfg.depth)),
    ]


EXPERIMENT = Experiment(
    name="data-distributions",
    description="Text 001: PCA views, weight norms and singular-value spectra per layer of a shifted ReLU MLP",
    config=DataDistributionsConfig,
    run=run,
    report=report,
    source="001_ed742d2eed62457b.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
