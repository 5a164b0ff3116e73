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
import torch

from initscope.engine.probe import ProbeConfig, probe
from initscope.errors import InitscopeError
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLPSpec
from initscope.palette import PALETTE
from initscope.repro import derive_seed
from initscope.results import conform_stats


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
    case_depth: int = 50  # text 000's "nearly linear networks and edge of chaos": depth profiles of five cases
    case_width: int = 256

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
        if self.case_depth < 0 or self.case_width < 2:
            raise InitscopeError("case_depth must be >= 0 (0: no cases) and case_width >= 2")
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


# Text 000's "Nearly linear networks and edge of chaos": (name, sigma_w^2, sigma_b^2, why); the edge's
# sigma_w^2 is found on the chi_1 = 1 line at its sigma_b^2.
CASES = (
    ("odd, no bias", 1.5, 0.0,
     "an odd activation without bias makes the network odd, f(-x) = -f(x); over inputs as likely as their negatives every "
     "unit's mean is 0, so the mean spread is 0 and the whole variance is over samples at every depth (up to the 1/S noise of "
     "a mean over S samples: S / (S + 1))"),
    ("nearly linear", 0.25, 0.01,
     "small weights keep the pre-activations inside the activation's linear range (q* = sigma_b^2 / (1 - sigma_w^2) for tanh): "
     "the network is nearly affine, y = A x + c; the input's part shrinks by sigma_w^2 per layer while each layer's bias adds "
     "to what every input shares, so the fraction falls geometrically"),
    ("ordered", 0.8, 0.1,
     "ordered phase (chi_1 < 1): two inputs' correlation goes to 1 exponentially, the network forgets its input and the "
     "fraction goes to 0 within a few correlation depths"),
    ("edge of chaos", None, 0.1,
     "on the edge (chi_1 = 1) the correlation approaches 1 only as a power of the depth: the fraction decays slowly, "
     "which is why deep networks are initialized there"),
    ("chaotic", 3.0, 0.1,
     "chaotic phase (chi_1 > 1): correlations settle at c* < 1, so a fixed share 1 - c* of the variance stays over samples "
     "at any depth, but nearby inputs are pulled apart"),
)


def _is_odd(act: str) -> bool:
    from initscope.activations import get_activation

    z = torch.linspace(-4, 4, 81, dtype=torch.float64)
    f = get_activation(act).fn
    return bool(torch.allclose(f(-z), -f(z), atol=1e-12))


def run_cases(cfg: PhaseDiagramConfig, ctx: RunContext) -> pd.DataFrame:
    """Sample fraction by depth for each of CASES, simulated (sample view) and mean field."""
    from initscope.theory import order_chaos_boundary, predict

    rows = []
    for k, (name, sw, sb, _) in enumerate(CASES):
        if sw is None:
            sw = order_chaos_boundary(cfg.activation, [sb], lo=0.05, hi=20.0)[0]
            if sw is None:
                continue
        spec = MLPSpec(input_dim=cfg.case_width, width=cfg.case_width, depth=cfg.case_depth, activation=cfg.activation,
                       init="lecun-normal", weight_scale=sw, bias="normal" if sb > 0 else "zero", sigma_b=math.sqrt(sb))
        res = probe(ProbeConfig(spec=spec, samples=cfg.samples * 2, sample_networks=cfg.sample_networks, views=("sample",),
                                trace_layers=(), seed=derive_seed(ctx.seed, "phase-diagram-case", k), device=ctx.device,
                                dtype="float64"))  # float32 floors a fraction near 1e-14 (its eps squared): the nearly linear case gets there
        s = res.stats[(res.stats.stat == "sample_fraction") & (res.stats.site == "pre")]
        pred = predict(cfg.activation, sw, sb, cfg.case_depth, samples=cfg.samples * 2)
        for r in s.itertuples():
            rows.append(dict(case=name, sigma_w2=float(sw), sigma_b2=float(sb), layer=int(r.layer), value=float(r.value),
                             stderr=float(r.stderr), theory=float(pred.sample_fraction[int(r.layer) - 1])))
        ctx.progress("cases", k + 1, len(CASES))
    return pd.DataFrame(rows, columns=["case", "sigma_w2", "sigma_b2", "layer", "value", "stderr", "theory"])


def cases_verdict(cases: pd.DataFrame, activation: str) -> str:
    parts = []
    for name, d in cases.groupby("case", sort=False):
        last = d.sort_values("layer").iloc[-1]
        th = f", mean field {last.theory:.3g}" if math.isfinite(last.theory) else ""
        parts.append(f"{name} (sigma_w^2 {last.sigma_w2:.3g}, sigma_b^2 {last.sigma_b2:.3g}): {last.value:.3g} ± {last.stderr:.2g} "
                     f"at layer {int(last.layer)}{th}")
    odd = "" if _is_odd(activation) else f" ({activation} is not odd: the first case's symmetry argument does not hold for it.)"
    return "Sample fraction — " + "; ".join(parts) + "." + odd if parts else ""


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
                                trace_layers=(), seed=derive_seed(ctx.seed, "phase-diagram-point", k), device=ctx.device))
        row = res.stats.query("stat == 'sample_fraction' and site == 'pre' and layer == @cfg.depth").iloc[0]
        pred = predict(cfg.activation, sw, sb, cfg.depth, samples=cfg.samples)
        fw = predict_setup_finite_width(spec, replicates=cfg.theory_replicates, seed=derive_seed(ctx.seed, "phase-diagram-theory", k), samples=cfg.samples) if cfg.theory_replicates else None
        sims.append(dict(sigma_w2=sw, sigma_b2=sb, layer=cfg.depth, stat="sample_fraction", value=float(row.value),
                         stderr=float(row.stderr), theory=float(pred.sample_fraction[-1]),
                         theory_finite_width=fw.sample_fraction[-1] if fw else math.nan,
                         theory_finite_width_stderr=fw.sample_fraction_stderr[-1] if fw else math.nan))
        ctx.progress("simulated points", k + 1, len(points))
    keys = ["sigma_w2", "sigma_b2", "layer", "stat"]
    sim = pd.DataFrame(sims, columns=keys + ["value", "stderr", "theory", "theory_finite_width", "theory_finite_width_stderr"])
    stats = conform_stats(sim[keys + ["value", "stderr"]], n=cfg.sample_networks)  # stderr over the sampled networks
    theory = sim[keys + ["theory", "theory_finite_width", "theory_finite_width_stderr"]]
    cases = run_cases(cfg, ctx) if cfg.case_depth else pd.DataFrame()
    summary = {
        "activation": cfg.activation,
        "boundary_sigma_b2": [float(v) for v in boundary.sigma_b2],
        "boundary_sigma_w2": [None if v is None or not math.isfinite(v) else float(v) for v in boundary.sigma_w2],
        "simulated": [
            {k: (None if isinstance(r[k], float) and not math.isfinite(r[k]) else r[k])
             for k in ("sigma_w2", "sigma_b2", "value", "stderr", "theory", "theory_finite_width", "theory_finite_width_stderr")}
            for r in sims
        ],
        "cases": {name: {"sigma_w2": float(d.sigma_w2.iloc[0]), "sigma_b2": float(d.sigma_b2.iloc[0]),
                         "sample_fraction": [float(v) for v in d.sort_values("layer").value],
                         "theory": [float(v) if math.isfinite(v) else None for v in d.sort_values("layer").theory]}
                  for name, d in cases.groupby("case", sort=False)} if not cases.empty else {},
    }
    return Outcome(
        tables={"stats": stats, "theory": theory, "grid": grid, "boundary": boundary, **({"cases": cases} if not cases.empty else {})},
        summary=summary,
        timings={"theory_grid_s": t1 - t0, "simulation_s": time.perf_counter() - t1},
    )


def simulated(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The simulated points beside their predictions (``stats`` joined with ``theory``)."""
    stats = tables["stats"]
    if "theory" not in tables:  # a run directory from before the theory table: the columns were in stats
        return stats
    return stats.merge(tables["theory"], on=["sigma_w2", "sigma_b2", "layer", "stat"], how="left")


def verdict(stats: pd.DataFrame) -> str:
    """``stats``: :func:`simulated`'s table."""
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


CASE_COLORS = tuple(PALETTE[i] for i in (0, 2, 1, 3, 4))


def report(tables: dict[str, pd.DataFrame], cfg: PhaseDiagramConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.builders import simulated_beside_theory
    from initscope.report.figures.phase_diagram import phase_diagram

    stats = simulated(tables)
    chart = phase_diagram(tables["grid"], tables["boundary"], stats, activation=cfg.activation, depth=cfg.depth,
                          w_range=(cfg.sigma_w2_min, cfg.sigma_w2_max), b_max=cfg.sigma_b2_max)
    out = [Section("Order and chaos", verdict(stats), (chart,),
                   note="Colour: depth over which the correlation of two inputs relaxes to its fixed point. Markers: share of variance "
                        "over samples at the last layer, simulated (theory beside it, and in the hover).")]
    if "cases" in tables:
        cases = tables["cases"]
        labelled = cases.assign(case=[f"{c} ({w:.3g}, {bb:.3g})" for c, w, bb in zip(cases.case, cases.sigma_w2, cases.sigma_b2)])
        cf = simulated_beside_theory("nearly_linear_and_edge_of_chaos", labelled, "case", CASE_COLORS, y_title="sample fraction (pre-activation)",
                                     title=f"Nearly linear networks and the edge of chaos ({cfg.activation}, width {cfg.case_width}; (sigma_w^2, sigma_b^2))",
                                     height=440)
        why = " ".join(f"{name.capitalize()}: {reason}." for name, _, _, reason in CASES)
        out.append(Section("Nearly linear networks and the edge of chaos", cases_verdict(cases, cfg.activation), (cf,), note=why))
    return out


EXPERIMENT = Experiment(
    name="phase-diagram",
    description="Order-to-chaos diagram in the (sigma_w^2, sigma_b^2) plane, with simulated points",
    config=PhaseDiagramConfig,
    run=run,
    report=report,
    source="Poole et al. 2016; Schoenholz et al. 2017 (beyond text 000)",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
