"""``phase-diagram``: the order-to-chaos diagram in the (sigma_w^2, sigma_b^2) plane.

Colour: the correlation depth scale xi_c = -1 / ln chi_c (Schoenholz et al. 2017), which
diverges on the edge of chaos chi_1 = 1 (the line). On top: simulated networks at a few
points, their measured share of variance over samples at the last layer (= 1 - c_L for
inputs of equal norm) beside the mean-field prediction.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from initscope.engine.probe import ProbeConfig, probe
from initscope.errors import InitscopeError
from initscope.experiments.base import Experiment, Outcome, RunContext, Section
from initscope.nets import MLPSpec


@dataclass(frozen=True)
class PhaseDiagramConfig:
    activation: str = "tanh"  # the classic picture (Poole et al. 2016, fig. 2)
    sigma_w2_min: float = 0.5
    sigma_w2_max: float = 4.0  # spans ordered and chaotic phases for tanh
    sigma_b2_max: float = 0.3
    grid_w: int = 25  # theory grid along sigma_w^2 (each point ~30 ms)
    grid_b: int = 13  # theory grid along sigma_b^2
    sim_sigma_w2: tuple[float, ...] = (0.8, 1.5, 3.0)  # simulated points, one in each regime for tanh
    sim_sigma_b2: tuple[float, ...] = (0.0, 0.1, 0.25)
    depth: int = 20  # simulated depth: deep enough for c to approach c*
    width: int = 512  # wide enough for mean-field to hold at this depth
    samples: int = 64  # inputs per simulated network
    sample_networks: int = 3  # networks per simulated point, for error bars
    theory_replicates: int = 1000  # finite-width prediction at `width` for each simulated point (0: off)

    def __post_init__(self) -> None:
        from initscope.activations import get_activation

        get_activation(self.activation)
        if not 0 < self.sigma_w2_min < self.sigma_w2_max:
            raise InitscopeError("need 0 < sigma_w2_min < sigma_w2_max")
        if self.sigma_b2_max < 0:
            raise InitscopeError(f"sigma_b2_max must be >= 0, got {self.sigma_b2_max}")
        if self.grid_w < 2 or self.grid_b < 2:
            raise InitscopeError("grid_w and grid_b must be >= 2")
        if self.grid_w * self.grid_b > 10_000:
            raise InitscopeError(f"grid_w x grid_b must be <= 10,000 points (about 30 ms each), got {self.grid_w * self.grid_b:,}")
        if self.depth < 1:
            raise InitscopeError(f"depth must be >= 1, got {self.depth}")
        if self.width < 2:
            raise InitscopeError(f"width must be >= 2 (the sample fraction takes a variance over a layer's units), got {self.width}")
        if self.samples < 2 or self.sample_networks < 2:
            raise InitscopeError("samples and sample_networks must be >= 2 (error bars)")
        if any(v < 0 for v in self.sim_sigma_w2 + self.sim_sigma_b2):
            raise InitscopeError("simulated sigma_w2 and sigma_b2 must be >= 0")


def _point(act: str, sw2: float, sb2: float) -> dict[str, Any]:
    from initscope.theory import c_star, chi1, chi_c, depth_scale, q_star

    q, _ = q_star(act, sw2, sb2)
    if q is None:
        return dict(sigma_w2=sw2, sigma_b2=sb2, q_star=math.nan, chi1=math.nan, c_star=math.nan, xi_c=math.nan)
    c1 = chi1(act, sw2, sb2, q=q)
    cs = c_star(act, sw2, sb2, q) if q > 0 else 1.0
    xi = depth_scale(chi_c(act, sw2, q, cs)) if q > 0 else depth_scale(c1)
    return dict(sigma_w2=sw2, sigma_b2=sb2, q_star=q, chi1=c1, c_star=cs, xi_c=math.inf if xi is None else xi)


def run(cfg: PhaseDiagramConfig, ctx: RunContext) -> Outcome:
    from initscope.theory import order_chaos_boundary, predict
    from initscope.theory.finite_width import predict_setup_finite_width

    t0 = time.perf_counter()
    sw_grid = np.linspace(cfg.sigma_w2_min, cfg.sigma_w2_max, cfg.grid_w)
    sb_grid = np.linspace(0.0, cfg.sigma_b2_max, cfg.grid_b)
    rows = []
    total = len(sw_grid) * len(sb_grid)
    for i, sw in enumerate(sw_grid):
        for j, sb in enumerate(sb_grid):
            rows.append(_point(cfg.activation, float(sw), float(sb)))
            ctx.progress("theory grid", i * len(sb_grid) + j + 1, total)
    grid = pd.DataFrame(rows)
    boundary = pd.DataFrame(
        {"sigma_b2": sb_grid, "sigma_w2": order_chaos_boundary(cfg.activation, list(sb_grid), lo=cfg.sigma_w2_min / 2, hi=cfg.sigma_w2_max * 2)}
    )
    t1 = time.perf_counter()
    sims = []
    points = [(sw, sb) for sw in cfg.sim_sigma_w2 for sb in cfg.sim_sigma_b2]
    for k, (sw, sb) in enumerate(points):
        spec = MLPSpec(input_dim=cfg.width, width=cfg.width, depth=cfg.depth, activation=cfg.activation, init="lecun-normal",
                       weight_scale=sw, bias="normal", sigma_b=math.sqrt(sb))
        res = probe(ProbeConfig(spec=spec, samples=cfg.samples, sample_networks=cfg.sample_networks, views=("sample",),
                                trace_layers=(), seed=ctx.seed + k, device=ctx.device))
        row = res.stats.query("stat == 'sample_fraction' and site == 'pre' and layer == @cfg.depth").iloc[0]
        pred = predict(cfg.activation, sw, sb, cfg.depth, samples=cfg.samples)
        fw = predict_setup_finite_width(spec, replicates=cfg.theory_replicates, seed=ctx.seed + k, samples=cfg.samples) if cfg.theory_replicates else None
        sims.append(dict(sigma_w2=sw, sigma_b2=sb, layer=cfg.depth, stat="sample_fraction", value=float(row.value),
                         stderr=float(row.stderr), theory=float(pred.sample_fraction[-1]),
                         theory_finite_width=fw.sample_fraction[-1] if fw else math.nan,
                         theory_finite_width_stderr=fw.sample_fraction_stderr[-1] if fw else math.nan))
        ctx.progress("simulated points", k + 1, len(points))
    stats = pd.DataFrame(sims)
    summary = {
        "activation": cfg.activation,
        "boundary_sigma_b2": [float(v) for v in boundary.sigma_b2],
        "boundary_sigma_w2": [None if v is None or not math.isfinite(v) else float(v) for v in boundary.sigma_w2],
        "simulated": [
            {k: (None if isinstance(r[k], float) and not math.isfinite(r[k]) else r[k])
             for k in ("sigma_w2", "sigma_b2", "value", "stderr", "theory", "theory_finite_width", "theory_finite_width_stderr")}
            for r in sims
        ],
    }
    return Outcome(
        tables={"stats": stats, "grid": grid, "boundary": boundary},
        summary=summary,
        timings={"theory_grid_s": t1 - t0, "simulation_s": time.perf_counter() - t1},
    )


def verdict(stats: pd.DataFrame) -> str:
    if stats.empty:
        return "no simulated points."
    z = ((stats.value - stats.theory) / stats.stderr.where(stats.stderr > 0)).abs()
    ok = int((z < 5).sum())
    fw = ""
    if "theory_finite_width" in stats and stats.theory_finite_width.notna().any():
        err = np.hypot(stats.stderr, stats.theory_finite_width_stderr.fillna(0))
        zf = ((stats.value - stats.theory_finite_width) / err.where(err > 0)).abs()
        fw = f" and {int((zf < 5).sum())} with the finite-width prediction at this width"
    return (
        f"{ok} of {len(stats)} simulated points agree with mean-field theory within 5 standard errors{fw}; "
        "left of the line correlations go to 1 (ordered: inputs become indistinguishable), right of it they settle below 1 (chaotic)."
    )


def figures(tables: dict[str, pd.DataFrame], cfg: PhaseDiagramConfig, meta: dict[str, Any]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    grid, boundary, stats = tables["grid"], tables["boundary"], tables["stats"]
    piv = grid.pivot(index="sigma_b2", columns="sigma_w2", values="xi_c")
    fig, ax = plt.subplots(figsize=(8, 5.2))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.1)
    z = np.log10(np.clip(piv.to_numpy(dtype=float), 1e-2, 1e3))
    mesh = ax.pcolormesh(piv.columns, piv.index, z, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log10 correlation depth scale xi_c")
    b = boundary.dropna()
    ax.plot(b.sigma_w2, b.sigma_b2, "w-", lw=2.5, label="chi_1 = 1 (edge of chaos)")
    if not stats.empty:
        sc = ax.scatter(stats.sigma_w2, stats.sigma_b2, c=stats.value, cmap="magma", vmin=0, vmax=1, s=140, edgecolors="w", zorder=3)
        for _, r in stats.iterrows():
            ax.annotate(f"{r.value:.2f} ({r.theory:.2f})", (r.sigma_w2, r.sigma_b2), textcoords="offset points", xytext=(8, 6), color="w", fontsize=8)
        fig.colorbar(sc, ax=ax, label=f"simulated 1 - c at layer {cfg.depth} (theory)", pad=0.02)
    ax.set_xlim(cfg.sigma_w2_min, cfg.sigma_w2_max)
    ax.set_ylim(0, cfg.sigma_b2_max)
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("sigma_b^2")
    ax.set_title(f"Order-to-chaos phase diagram, {cfg.activation}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return {"phase_diagram": fig}


def sections(tables: dict[str, pd.DataFrame], cfg: PhaseDiagramConfig, meta: dict[str, Any]) -> list[Section]:
    import plotly.graph_objects as go

    grid, boundary, stats = tables["grid"], tables["boundary"], tables["stats"]
    piv = grid.pivot(index="sigma_b2", columns="sigma_w2", values="xi_c")
    z = np.log10(np.clip(piv.to_numpy(dtype=float), 1e-2, 1e3))
    fig = go.Figure(go.Heatmap(x=list(piv.columns), y=list(piv.index), z=z, colorscale="Viridis",
                               colorbar=dict(title="log10 xi_c"), hovertemplate="sigma_w2 %{x:.3g}<br>sigma_b2 %{y:.3g}<br>log10 xi_c %{z:.3g}<extra></extra>"))
    b = boundary.dropna()
    fig.add_trace(go.Scatter(x=b.sigma_w2, y=b.sigma_b2, mode="lines", line=dict(color="white", width=3), name="chi_1 = 1"))
    if not stats.empty:
        fig.add_trace(go.Scatter(
            x=stats.sigma_w2, y=stats.sigma_b2, mode="markers", name="simulated",
            marker=dict(size=14, color=stats.value, colorscale="Magma", cmin=0, cmax=1, line=dict(color="white", width=1)),
            text=[f"simulated {v:.3f} ± {s:.3f}, mean-field theory {t:.3f}, finite width {f:.3f}"
                  for v, s, t, f in zip(stats.value, stats.stderr, stats.theory, stats.get("theory_finite_width", stats.theory))],
            hovertemplate="%{text}<extra></extra>",
        ))
    fig.update_layout(xaxis_title="sigma_w^2", yaxis_title="sigma_b^2", height=480, template="plotly_white", legend=dict(x=0, y=1.12, orientation="h"))
    return [Section("Order and chaos", verdict(stats), (fig,),
                    note="Colour: depth over which the correlation of two inputs relaxes to its fixed point. Markers: share of variance over samples at the last layer, simulated (theory in the hover).")]


EXPERIMENT = Experiment(
    name="phase-diagram",
    description="Order-to-chaos diagram in the (sigma_w^2, sigma_b^2) plane, with simulated points",
    config=PhaseDiagramConfig,
    run=run,
    figures=figures,
    sections=sections,
    source="Poole et al. 2016; Schoenholz et al. 2017 (beyond text 000)",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
