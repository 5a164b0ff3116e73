"""``backward-variance``: the forward and the backward pass at initialization, through width changes.

Glorot & Bengio (2010) chose ``fan_avg`` to balance the variance of the forward signal and of
the back-propagated gradient; ``fan_in`` keeps the first, ``fan_out`` the second (He et al.
2015's "mode"). An MLP with an expansion and a bottleneck repeated (256 -> 1024 -> 256 ...)
shows why they differ: through a layer whose width changes by a factor k, fan_in keeps the
forward variance and multiplies the backward one by k (or 1/k), fan_out the reverse. Measured
for ReLU and tanh under the three modes (each scaled by the activation's gain), simulation
(exact path, autograd through built networks) beside the mean-field chi_1 products; and text
000's decomposition applied to the gradient: how much of its variance is over samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from initscope.errors import InitscopeError, unknown
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLPSpec
from initscope.palette import PALETTE

MODES = ("fan_in", "fan_out", "fan_avg")
MODE_COLORS = {"fan_in": PALETTE[0], "fan_out": PALETTE[3], "fan_avg": PALETTE[2]}


@dataclass(frozen=True)
class BackwardVarianceConfig:
    input_dim: int = 256
    widths: tuple[int, ...] = (1024, 256, 1024, 256, 1024, 256)  # an expansion and a bottleneck, three times
    output_dim: int = 256
    activations: tuple[str, ...] = ("relu", "tanh")
    modes: tuple[str, ...] = MODES
    networks: int = 200  # network view: variance over networks at x0 (error bars ~ sqrt(2/200) = 10%)
    samples: int = 64  # sample view: inputs per network
    input: str = "gaussian"
    dtype: str = "float32"
    gi_widths: tuple[int, ...] = (8, 32, 128)  # where gradient independence fails: narrow deep nets (empty: skip)
    gi_depth: int = 24
    gi_networks: int = 200

    def __post_init__(self) -> None:
        from initscope.activations import get_activation
        from initscope.data import get_input
        from initscope.engine.probe import DTYPES

        if not self.widths or min(self.widths) < 1 or self.input_dim < 1 or self.output_dim < 1:
            raise InitscopeError("widths, input_dim and output_dim must be positive integers")
        if len(self.widths) > 1000:
            raise InitscopeError(f"at most 1,000 layers, got {len(self.widths)}")
        if self.networks < 2 or self.samples < 2 or self.gi_networks < 2:
            raise InitscopeError("networks, gi_networks and samples must be >= 2 (variances over them)")
        if self.gi_widths and (min(self.gi_widths) < 1 or not 1 <= self.gi_depth <= 1000):
            raise InitscopeError("gi_widths must be positive and gi_depth in [1, 1000]")
        if not self.activations or not self.modes:
            raise InitscopeError("activations and modes must name at least one each")
        for a in self.activations:
            get_activation(a)
        for m in self.modes:
            if m not in MODES:
                raise unknown("mode", m, MODES)
        if self.dtype not in DTYPES:
            raise unknown("dtype", self.dtype, DTYPES)
        get_input(self.input)
        from initscope.resources import check_model

        for a in self.activations:
            check_model(self.spec(a, self.modes[0]), self.samples, what="the MLP")
        for w in self.gi_widths:
            check_model(MLPSpec(input_dim=w, widths=(w,) * self.gi_depth, output_dim=w), 2, what=f"the width-{w} independence check")
        dims = (self.input_dim, *self.widths, self.output_dim)
        macs = sum(x * y for x, y in zip(dims[:-1], dims[1:]))
        from initscope.resources import check_operations

        check_operations(3.0 * macs * self.samples * self.networks * len(self.activations) * len(self.modes),
                         "use fewer networks, samples or layers")

    def spec(self, activation: str, mode: str) -> MLPSpec:
        from initscope.activations import gain
        from initscope.schemes import Scheme

        scheme = Scheme(f"{mode}-{activation}", gain(activation) ** 2, mode, "normal", f"N(0, gain^2 / {mode})")
        return MLPSpec(input_dim=self.input_dim, widths=self.widths, activation=activation, init=scheme, bias="zero",
                       output_dim=self.output_dim)


def run(cfg: BackwardVarianceConfig, ctx: RunContext) -> Outcome:
    import torch

    from initscope.data import get_input
    from initscope.engine.backward import backward_probe
    from initscope.engine.probe import DTYPES
    from initscope.repro import generator
    from initscope.theory import predict_backward

    t0 = time.perf_counter()
    x = get_input(cfg.input).sample(cfg.samples, cfg.input_dim, generator=generator(ctx.seed, "inputs"), dtype=torch.float64)
    x0_sq = float((x[0] ** 2).mean())  # the network view's input (the theory's layer 1 for it)
    parts, theory_rows = [], []
    total, done = len(cfg.activations) * len(cfg.modes), 0
    for act in cfg.activations:
        for mode in cfg.modes:
            spec = cfg.spec(act, mode)
            df = backward_probe(spec, networks=cfg.networks, samples=cfg.samples, seed=ctx.seed, input=cfg.input, dtype=DTYPES[cfg.dtype])
            parts.append(df.assign(variant=f"{act}/{mode}", activation=act, mode=mode))
            p = predict_backward(spec, x_sq=x0_sq)
            for direction, values in (("forward", p.q), ("backward", p.g)):
                theory_rows += [dict(variant=f"{act}/{mode}", activation=act, mode=mode, direction=direction, layer=l + 1,
                                     stat="network_variance", value=float(v)) for l, v in enumerate(values)]
            done += 1
            ctx.progress("variants", done, total)
    cols = ["variant", "activation", "mode", "direction", "view", "layer", "stat", "value", "stderr", "n"]
    stats = pd.concat(parts, ignore_index=True)[cols]
    theory = pd.DataFrame(theory_rows)
    tables = {"stats": stats, "theory": theory}
    if cfg.gi_widths:
        tables["independence"] = independence_check(cfg, ctx)
    summary = summarize(stats, theory, cfg)
    if "independence" in tables:
        summary["independence"] = independence_summary(tables["independence"])
    return Outcome(tables=tables, summary=summary, timings={"simulation_s": time.perf_counter() - t0})


def independence_check(cfg: BackwardVarianceConfig, ctx: RunContext) -> pd.DataFrame:
    """Deep narrow fan_in MLPs (width w, ``gi_depth`` layers) for each activation: the simulated
    backward variance over the mean-field one (which assumes each W independent of the gradient
    coming back through it), its z-score, and the relative spread over networks of each layer's
    mean-square gradient. Both leave their infinite-width values as depth/width grows."""
    import torch

    from initscope.activations import gain
    from initscope.engine.backward import backward_probe
    from initscope.repro import generator
    from initscope.schemes import Scheme
    from initscope.theory import predict_backward

    rows = []
    for act in cfg.activations:
        for w in cfg.gi_widths:
            spec = MLPSpec(input_dim=w, widths=(w,) * cfg.gi_depth, activation=act, bias="zero", output_dim=w,
                           init=Scheme(f"fan_in-{act}", gain(act) ** 2, "fan_in", "normal"))
            df = backward_probe(spec, networks=cfg.gi_networks, samples=2, seed=ctx.seed, dtype=torch.float32)
            x0 = torch.randn(2, w, generator=generator(ctx.seed, "inputs"), dtype=torch.float64)[0]
            g = predict_backward(spec, x_sq=float((x0**2).mean())).g
            b = df[(df.direction == "backward") & (df.stat == "network_variance")].sort_values("layer")
            spread = df[(df.direction == "backward") & (df.stat == "norm_spread")].set_index("layer").value
            median = df[(df.direction == "backward") & (df.stat == "network_variance_median")].set_index("layer").value
            for layer, v, se in zip(b.layer, b.value, b.stderr):
                t = float(g[int(layer) - 1])
                rows.append(dict(activation=act, width=w, layer=int(layer), depth_over_width=(cfg.gi_depth - int(layer) + 1) / w,
                                 ratio=v / t if t > 0 else math.nan, z=(v - t) / se if se > 0 else math.nan,
                                 typical_ratio=float(median.get(layer, math.nan)) / t if t > 0 else math.nan,
                                 norm_spread=float(spread.get(layer, math.nan))))
    return pd.DataFrame(rows)


def independence_summary(ind: pd.DataFrame) -> dict[str, Any]:
    """Per activation and width: the largest |ratio - 1| and |z|, and the spread at layer 1."""
    out: dict[str, Any] = {}
    for (act, w), d in ind.groupby(["activation", "width"], sort=False):
        first = d[d.layer == 1].iloc[0]
        out[f"{act}/{w}"] = {"mean_ratio_layer_1": float(first.ratio), "z_layer_1": float(first.z),
                             "typical_ratio_layer_1": float(first.typical_ratio), "norm_spread_layer_1": float(first.norm_spread),
                             "max_abs_z": float(d.z.abs().max())}
    return out


def _series(df: pd.DataFrame, variant: str, direction: str, stat: str = "network_variance") -> list[float | None]:
    d = df[(df.variant == variant) & (df.direction == direction) & (df.stat == stat)].sort_values("layer")
    return [float(v) if math.isfinite(v) else None for v in d.value]


def swing(values: list[float | None]) -> float:
    """max / min over the layers: 1 when a variance is kept through every width change."""
    v = [x for x in values if x is not None and x > 0]
    return max(v) / min(v) if v else math.nan


def summarize(stats: pd.DataFrame, theory: pd.DataFrame, cfg: BackwardVarianceConfig) -> dict[str, Any]:
    variants = list(dict.fromkeys(stats.variant))
    out: dict[str, Any] = {"layers": list(range(1, len(cfg.widths) + 1)), "widths": list(cfg.widths)}
    for key, table, direction, stat in (
        ("forward_variance", stats, "forward", "network_variance"),
        ("backward_variance", stats, "backward", "network_variance"),
        ("theory_forward_variance", theory, "forward", "network_variance"),
        ("theory_backward_variance", theory, "backward", "network_variance"),
        ("backward_sample_fraction", stats, "backward", "sample_fraction"),
    ):
        out[key] = {v: _series(table, v, direction, stat) for v in variants}
    out["agreement"] = agreement(stats, theory)
    out["verdict"] = verdict(out)
    return out


def agreement(stats: pd.DataFrame, theory: pd.DataFrame) -> dict[str, Any]:
    """Per variant and direction: the largest |simulation - theory| in standard errors, and the
    first layer past 3 (None: none) — where gradient independence stops holding at this width."""
    out: dict[str, Any] = {}
    sim = stats[stats.stat == "network_variance"].set_index(["variant", "direction", "layer"])
    th = theory.set_index(["variant", "direction", "layer"]).value
    for (variant, direction), d in sim.groupby(level=[0, 1]):
        t = th.loc[d.index]
        z = ((d.value - t) / d.stderr.where(d.stderr > 0)).abs()
        past = [int(i[2]) for i, zz in z.items() if zz > 3]
        out[f"{variant}/{direction}"] = {"max_z": float(z.max()), "first_layer_past_3se": past[0] if past else None,
                                         "max_relative_gap": float(((d.value - t) / t).abs().max())}
    return out


def verdict(summary: dict[str, Any]) -> str:
    parts = []
    acts = list(dict.fromkeys(v.split("/")[0] for v in summary["forward_variance"]))
    for act in acts:
        bits = []
        for mode in MODES:
            v = f"{act}/{mode}"
            if v in summary["forward_variance"]:
                bits.append(f"{mode} forward x{swing(summary['forward_variance'][v]):.2f}, backward x{swing(summary['backward_variance'][v]):.2f}")
        parts.append(f"{act}: " + "; ".join(bits))
    gaps = [a["max_relative_gap"] for a in summary["agreement"].values()]
    worst = max(gaps) if gaps else math.nan
    return ("Largest over smallest variance across the layers (1 = kept through every width change) — " + " | ".join(parts)
            + f". Mean field (chi_1 products, gradient independence) is within {worst:.0%} of the simulation at every layer and variant.")


def report(tables: dict[str, pd.DataFrame], cfg: BackwardVarianceConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.figures import backward_variance as fig

    stats, theory = tables["stats"], tables["theory"]
    summary = summarize(stats, theory, cfg)  # from the tables
    acts = list(dict.fromkeys(stats.activation))
    out = []
    for act in acts:
        chart = fig.per_activation(stats, theory, act, cfg.widths, MODE_COLORS)
        fi, fo = f"{act}/fan_in", f"{act}/fan_out"
        line = []
        if fi in summary["forward_variance"] and fo in summary["backward_variance"]:
            line.append(f"fan_in keeps the forward variance (largest/smallest over layers x{swing(summary['forward_variance'][fi]):.2f}) "
                        f"while its backward variance swings x{swing(summary['backward_variance'][fi]):.2f}; fan_out keeps the backward "
                        f"(x{swing(summary['backward_variance'][fo]):.2f}) and swings the forward (x{swing(summary['forward_variance'][fo]):.2f}).")
        out.append(Section(f"{act}: forward and backward through the widths", " ".join(line) or summary["verdict"], (chart,),
                           note=("Dots: simulation (network view at one input x0, error bars over networks); dashes: mean field. A "
                                 "width change by k multiplies the backward variance by k under fan_in and the forward one by 1/k "
                                 "under fan_out; fan_avg sits between. Right: text 000's decomposition applied to the gradient, the "
                                 "share of its variance that is over samples; the output cotangent is drawn once per network, so the "
                                 "gradient varies over samples only through the input, and it collapses with depth as the forward "
                                 "signal does.")))
    if "independence" in tables:
        chart = fig.independence(tables["independence"])
        text = "At layer 1, after the gradient has come back through every layer — " + "; ".join(
            f"{k.split('/')[0]} width {k.split('/')[1]}: mean {v['mean_ratio_layer_1']:.2f}x mean field ({v['z_layer_1']:+.1f} se), "
            f"typical network {v['typical_ratio_layer_1']:.2f}x, spread {v['norm_spread_layer_1']:.2f}" for k, v in independence_summary(tables["independence"]).items())
        out.append(Section(f"Where gradient independence fails: depth {cfg.gi_depth}, fan_in", text + ".", (chart,),
                           note="The mean-field backward line treats each weight matrix as independent of the gradient coming back "
                                "through it. At finite width the same W carries the signal forward and the gradient back, and the "
                                "error compounds with depth/width: the narrow nets' gradients spread over networks (relative spread "
                                "of each layer's mean-square gradient: 0 as width grows) and the typical network's gradient leaves the "
                                "line even where the mean over networks, carried by a few large ones, stays near it."))
    ag = summary["agreement"]
    worst = max(ag.items(), key=lambda kv: kv[1]["max_relative_gap"]) if ag else None
    overview = fig.overview(stats, theory, cfg.widths, MODE_COLORS, f"Forward and backward variance through width changes "
                            f"({cfg.input_dim} -> {' -> '.join(map(str, cfg.widths))} -> {cfg.output_dim})")
    out.append(Section("Theory: chi_1 products and gradient independence", summary["verdict"], (overview,),
                       note=(f"Largest gap: {worst[0]}, {worst[1]['max_relative_gap']:.1%} ({worst[1]['max_z']:.1f} standard errors). "
                             "The backward prediction assumes each weight matrix independent of the gradient coming back through "
                             "it; that holds as widths grow at fixed depth, and its error grows with depth/width." if worst else "")))
    return out


EXPERIMENT = Experiment(
    name="backward-variance",
    description="Forward and backward variance through an expansion and a bottleneck: fan_in, fan_out, fan_avg, beside mean field",
    config=BackwardVarianceConfig,
    run=run,
    report=report,
    source="Glorot & Bengio 2010; He et al. 2015; Schoenholz et al. 2017 (beyond text 000)",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
