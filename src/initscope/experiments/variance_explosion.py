"""``variance-explosion``: text 002, 50 stacked layers from exploding to vanishing to fixed.

The text's setup: N(0, 1) inputs of dimension 784, 50 square layers of width 784, no
biases. Its variance is ``x.var()`` of a layer's output: pooled over samples and units,
after the activation. Four variants retell it:

* ``normal-linear``  N(0, 1) weights, no activation: x 784 per layer until it overflows;
* ``lecun-linear``   weights / sqrt(fan_in): stays at 1;
* ``lecun-relu``     the same with ReLU: the second moment halves every layer;
* ``kaiming-relu``   sqrt(2 / fan_in): stays put again.

A variant is ``SCHEME-ACTIVATION`` for any registered scheme and activation (aliases:
``lecun`` = lecun-normal, ``kaiming`` = kaiming-normal, ``xavier`` = xavier-normal), so
``--set variants=orthogonal-tanh,kaiming-gelu`` adds any other pair.

Theory. Let q_l be the second moment of a pre-activation, E[y_l^2] (its mean is 0 over
weights), and sigma_w^2 = fan_in x Var(w) (784 for N(0, 1) weights, 1 for LeCun, 2 for
Kaiming). Then

    q_1 = sigma_w^2 E|x|^2 / N_0,        q_{l+1} = sigma_w^2 E[phi(u)^2],  u ~ N(0, q_l),

and the post-activation pooled variance is E[phi(u)^2] - E[phi(u)]^2 (any phi, through
:func:`initscope.activations.moments`). Linear: q_{l+1} = sigma_w^2 q_l and the variance is
q_l. ReLU: E[relu(u)^2] = q/2, so it is the *second moment* that halves (x sigma_w^2 / 2)
every layer; the post-activation variance is q/2 - q/(2 pi) = 0.341 q, and the ratio of
consecutive variances is also 1/2 for LeCun, 1 for Kaiming.

For Gaussian weights the second-moment recursion is exact in expectation over the weights
at any width (given h, each unit of W h is exactly N(0, sigma_w^2 |h|^2 / fan_in)). The
post-activation variance subtracts the squared pooled mean, whose expectation is
sqrt(q/(2 pi)) only when every sample has the same |h|; the spread of |h| over samples
makes this an O(depth / width) approximation for ReLU (exact for linear layers).

One network's pooled statistic is not its expectation: the weights are shared by all
samples, so the log of the second moment random-walks from layer to layer with a step
variance of order 2/width (linear) to 5/width (ReLU). The run therefore draws ``networks``
independent networks and reports the mean over them with its standard error; the tests
compare with the recursion within a few standard errors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from initscope.activations import ACTIVATIONS
from initscope.data import get_input
from initscope.engine.pooled import over_networks, pooled_run, text_reductions
from initscope.errors import InitscopeError, unknown
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLPSpec
from initscope.repro import generator
from initscope.schemes import SCHEMES
from initscope.theory.overflow import expected_max_abs_normal, predicted_overflow, single_input_chain

ALIASES = {"lecun": "lecun-normal", "kaiming": "kaiming-normal", "xavier": "xavier-normal"}
from initscope.engine.probe import DTYPES  # one table of the dtypes runs take


def parse_variant(name: str) -> tuple[str, str]:
    """``'lecun-relu'`` -> ``('lecun-normal', 'relu')``; unknown parts name the choices.

    The activation is the longest registered activation name the variant ends with, so
    schemes with dashes (``torch-default``, ``kaiming-normal``) parse without ambiguity.
    """
    for act in sorted(ACTIVATIONS, key=len, reverse=True):
        if name.endswith("-" + act):
            scheme = name[: -len(act) - 1]
            scheme = ALIASES.get(scheme, scheme)
            if scheme in SCHEMES:
                return scheme, act
            raise InitscopeError(f"variant {name!r}: {unknown('init scheme', scheme, [*SCHEMES, *ALIASES])}")
    raise InitscopeError(
        f"variant {name!r} must be SCHEME-ACTIVATION with an activation from: {', '.join(sorted(ACTIVATIONS))}"
    )


@dataclass(frozen=True)
class VarianceExplosionConfig:
    depth: int = 50  # text 002: "stack 50 layers"
    width: int = 784  # text 002: MNIST-sized layers, "784 is the number of inputs to our layer"
    samples: int = 1000  # random N(0, 1) inputs "as many samples as we want"; 1000 keep it fast
    networks: int = 4  # independent draws of the weights, for error bars (the text ran one)
    variants: tuple[str, ...] = ("normal-linear", "lecun-linear", "lecun-relu", "kaiming-relu")
    hist_layers: tuple[int, ...] = (1, 10, 50)  # the layers whose activations are histogrammed
    hist_values: int = 1500  # values kept per histogram (enough for 50 bins; keeps report.html near 6 MB)
    dtype: str = "float32"  # torch's default, where the text's variance overflowed

    def __post_init__(self) -> None:
        for name in ("depth", "width", "networks", "hist_values"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.samples < 2:
            raise InitscopeError(f"samples must be >= 2, got {self.samples}")
        if not self.variants:
            raise InitscopeError("variants must name at least one SCHEME-ACTIVATION")
        if len(set(self.variants)) != len(self.variants):
            raise InitscopeError(f"variants must be distinct, got {', '.join(self.variants)}")
        for v in self.variants:
            parse_variant(v)
        if self.dtype not in DTYPES:
            raise unknown("dtype", self.dtype, DTYPES)
        from initscope.resources import check_memory, check_operations

        self.spec(self.variants[0])  # depth within bounds before anything is sized
        item = 8 if self.dtype == "float64" else 4
        check_memory(6.0 * self.samples * self.width * item, f"the activations of {self.samples:,} samples at width {self.width:,}")
        check_memory(float(self.width) * self.width * item, f"one {self.width:,} x {self.width:,} weight")
        check_operations(float(len(self.variants)) * self.networks * self.depth * self.samples * self.width * self.width,
                         "use fewer samples, networks, layers or a smaller width")

    def spec(self, variant: str) -> MLPSpec:
        scheme, act = parse_variant(variant)
        return MLPSpec(input_dim=self.width, width=self.width, depth=self.depth, activation=act, init=scheme)


# --- simulation ----------------------------------------------------------------------


def sums_demo(seed: int, ns: tuple[int, ...] = (1, 10, 100, 784), draws: int = 20_000) -> pd.DataFrame:
    """Text 002's demonstration: a sum of n unit-variance terms has variance n; / sqrt(n) gives 1.

    ``stderr`` is the standard error of a Gaussian sample variance, var x sqrt(2 / (draws - 1)).
    """
    g = generator(seed, "sums")
    rows = []
    for n in ns:
        s = torch.randn(draws, n, generator=g, dtype=torch.float64).sum(dim=1)
        for label, vals, expected in (("sum", s, float(n)), ("sum / sqrt(n)", s / math.sqrt(n), 1.0)):
            var = float(vals.var())
            rows.append(dict(n=n, quantity=label, variance=var, stderr=var * math.sqrt(2 / (draws - 1)), expected=expected))
    return pd.DataFrame(rows)


def _or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _series(stats: pd.DataFrame, site: str, stat: str) -> list[float | None]:
    s = stats[(stats.site == site) & (stats.stat == stat)].sort_values("layer")
    return [_or_none(v) for v in s.value]


THEORY_ROWS = (  # (site, stat, key of single_input_chain())
    ("pre", "variance", "pre_second_moment"),
    ("pre", "second_moment", "pre_second_moment"),
    ("pre", "mean", None),
    ("post", "variance", "post_variance"),
    ("post", "second_moment", "post_second_moment"),
    ("post", "mean", "post_mean"),
)


def run(cfg: VarianceExplosionConfig, ctx: RunContext) -> Outcome:
    t0 = time.perf_counter()
    dtype = DTYPES[cfg.dtype]
    x = get_input("gaussian").sample(cfg.samples, cfg.width, generator=generator(ctx.seed, "inputs"), dtype=dtype, device=ctx.device)
    x_sq = float((x.to(torch.float64) ** 2).mean())
    keep = torch.randperm(cfg.samples * cfg.width, generator=generator(ctx.seed, "hist"))[: cfg.hist_values].to(x.device)
    stats_parts, hist_rows, theory_rows, float_rows, extras = [], [], [], [], {}
    timings: dict[str, float] = {}
    with torch.no_grad():
        for k, variant in enumerate(cfg.variants):
            t1 = time.perf_counter()
            spec = cfg.spec(variant)
            sim = pooled_run(spec, x.to(dtype), seed=ctx.seed, stream=f"explosion-{variant}", networks=cfg.networks,
                             hist_layers=cfg.hist_layers, hist_keep=keep)
            timings[f"{variant}_s"] = time.perf_counter() - t1
            stats = over_networks(sim, cfg.depth, cfg.networks)
            text_stats, text_first = text_reductions(sim, cfg.depth)
            for t in (stats, text_stats):
                t.insert(0, "variant", variant)
            stats_parts.append(pd.concat([stats, text_stats], ignore_index=True))
            hist_rows.append(pd.DataFrame(sim.hist, columns=["site", "layer", "value"]).assign(variant=variant))
            th = single_input_chain(spec, x_sq)
            for site, stat, key in THEORY_ROWS:
                values = th[key] if key is not None else np.zeros(cfg.depth)
                theory_rows += [dict(variant=variant, layer=l, site=site, stat=stat, value=float(values[l - 1])) for l in range(1, cfg.depth + 1)]
            predicted = predicted_overflow(spec, x_sq, cfg.networks * cfg.samples * cfg.width)
            float_rows += [dict(variant=variant, source="measured", dtype=cfg.dtype, quantity=q, layer=layer) for q, layer in
                           (("activations", sim.first_nonfinite_layer), ("text_variance", text_first["text_variance_first_nonfinite_layer"]),
                            ("text_sum", text_first["text_sum_first_nonfinite_layer"]))]
            float_rows += [dict(variant=variant, source="predicted", dtype=dt, quantity=q, layer=layer)
                           for dt, d in predicted.items() for q, layer in d.items()]
            extras[variant] = {"first_nonfinite_layer_per_network": sim.per_network_first, "scheme": spec.init,
                               "activation": spec.activation, "sigma_w2": spec.sigma_w2()[0]}
            ctx.progress("variants", k + 1, len(cfg.variants))
    sums = sums_demo(ctx.seed)
    timings["simulation_s"] = time.perf_counter() - t0
    tables = {
        "stats": pd.concat(stats_parts, ignore_index=True),
        "theory": pd.DataFrame(theory_rows, columns=["variant", "layer", "site", "stat", "value"]),
        "histograms": pd.concat(hist_rows, ignore_index=True)[["variant", "site", "layer", "value"]],
        "sums": sums,
        # where the float range ends, measured and predicted (layer NaN: never, within the depth)
        "float_range": pd.DataFrame(float_rows, columns=["variant", "source", "dtype", "quantity", "layer"]).astype({"layer": float}),
    }
    summary_variants = {v: {**s, **extras[v]} for v, s in variants_from_tables(tables).items()}  # the --json summary, from the tables
    return Outcome(
        tables=tables,
        summary={
            "variants": summary_variants,
            "layers": list(range(1, cfg.depth + 1)),
            "dtype": cfg.dtype,
            "input_second_moment": x_sq,
            "activation_max_criterion": expected_max_abs_normal(cfg.networks * cfg.samples * cfg.width),
            "sums": sums.to_dict(orient="records"),
        },
        timings=timings,
    )


# --- figures and report ----------------------------------------------------------------


def theory_agreement(stats: pd.DataFrame, theory: pd.DataFrame, variants: tuple[str, ...]) -> str:
    """Per variant, where the simulated post-activation variance leaves the recursion and by how much."""
    from initscope.agreement import gap

    parts = []
    for v in variants:
        st = stats[(stats.variant == v) & (stats.site == "post")]
        th = theory[(theory.variant == v) & (theory.site == "post")]
        g = gap(st, th, "variance", site=None)
        if g is not None:
            parts.append(f"{v}: " + g.sentence("recursion"))
    return ("Against theory: " + "; ".join(parts) + ". One network's pooled variance random-walks in log with a step of "
            "order 2-5/width per layer, so over many layers a few networks wander off the expectation.") if parts else ""


def variants_from_tables(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """Per variant, from the run's tables alone (the --json summary's lists and the report's
    verdicts): statistics and their recursion per layer, where the float range ends
    (``float_range``: measured, and predicted per dtype)."""
    stats, theory_df, fr = tables["stats"], tables["theory"], tables.get("float_range")
    layer = lambda v: None if v is None or not math.isfinite(v) else int(v)  # noqa: E731
    out: dict[str, dict[str, Any]] = {}
    for variant in dict.fromkeys(stats.variant):
        st, th = stats[stats.variant == variant], theory_df[theory_df.variant == variant]
        post = st[(st.site == "post") & (st.stat == "variance")]
        v: dict[str, Any] = {"variance": _series(st, "post", "variance"), "pre_activation_variance": _series(st, "pre", "variance"),
                             "first_nonfinite_layer": None, "theory_variance": _series(th, "post", "variance"),
                             "variance_stderr": _series(post.assign(value=post.stderr), "post", "variance"),
                             "pre_activation_mean": _series(st, "pre", "mean"), "mean": _series(st, "post", "mean"),
                             "theory_pre_activation_variance": _series(th, "pre", "variance"),
                             "text_variance": _series(st, "post", "text_variance"), "predicted_overflow_layer": {}}
        for r in (fr[fr.variant == variant] if fr is not None else pd.DataFrame()).itertuples():
            if r.source == "measured":
                v["first_nonfinite_layer" if r.quantity == "activations" else f"{r.quantity}_first_nonfinite_layer"] = layer(r.layer)
            else:
                v["predicted_overflow_layer"].setdefault(r.dtype, {})[r.quantity] = layer(r.layer)
        out[variant] = v
    return out


def verdicts(summary_variants: dict[str, Any], dtype: str = "float32") -> str:
    """One plain sentence per variant: where the variance starts and ends, or where it overflows."""
    parts = []
    for name, v in summary_variants.items():
        var = [x for x in v["variance"] if x is not None]
        first = v["first_nonfinite_layer"]
        if first is not None and var:
            pred = v["predicted_overflow_layer"]
            parts.append(
                f"{name}: {var[0]:.3g} after layer 1, x{var[1] / var[0]:.0f} per layer, activations leave {dtype} at layer {first} "
                f"(predicted {pred[dtype]['activations']}; in float64 it would be layer {pred['float64']['activations']})"
                if len(var) > 1 else f"{name}: activations leave {dtype} at layer {first}"
            )
        elif first is not None:
            parts.append(f"{name}: activations leave {dtype} at layer {first}")
        elif var:
            parts.append(f"{name}: {var[0]:.3g} at layer 1, {var[-1]:.3g} at layer {len(var)} (theory {v['theory_variance'][len(var) - 1]:.3g})")
        tv, ts = v.get("text_variance_first_nonfinite_layer"), v.get("text_sum_first_nonfinite_layer")
        if tv is not None and (first is None or tv < first):
            parts[-1] += (
                f"; the text's own x.var() in {dtype} is already inf from layer {tv}"
                + (f" and x.sum() not finite from layer {ts}" if ts is not None else "")
                + " (the safe float64 reductions above stay finite)"
            )
    return "; ".join(parts) + "." if parts else "no finite statistics."


def report(tables: dict[str, pd.DataFrame], cfg: VarianceExplosionConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.figures import variance_explosion as fig

    stats, theory_df, sums = tables["stats"], tables["theory"], tables["sums"]
    summary = variants_from_tables(tables)  # from the tables, not read back from run.json
    first = {v: summary.get(v, {}).get("first_nonfinite_layer") for v in cfg.variants}
    acts = {v: parse_variant(v)[1] for v in cfg.variants}
    out = [Section(
        "Variance by depth",
        verdicts(summary, cfg.dtype) + " " + theory_agreement(stats, theory_df, cfg.variants),
        (fig.variance_by_depth(stats, theory_df, first, variants=cfg.variants, networks=cfg.networks, samples=cfg.samples,
                               width=cfg.width, depth=cfg.depth, dtype=cfg.dtype),),
        note=f"Mean over {cfg.networks} networks, error bars 2 standard errors over networks. Dashed: q_1 = sigma_w^2 E[x^2], "
        "q_{l+1} = sigma_w^2 E[phi(u)^2], u ~ N(0, q_l), sigma_w^2 = fan_in x Var(w); plotted is E[phi(u)^2] - E[phi(u)]^2. "
        "Gaps are layers whose activations left the float range.",
    )]
    nonlinear = {v: a for v, a in acts.items() if a != "linear"}
    if nonlinear:
        words = []
        for variant in nonlinear:
            pre, post, mean = (_series(stats[stats.variant == variant], site, stat) for site, stat in
                               (("pre", "variance"), ("post", "variance"), ("post", "mean")))
            if pre and pre[0] is not None and post[0] is not None:
                words.append(f"{variant}: at layer 1 the variance is {pre[0]:.3g} before and {post[0]:.3g} after, the mean {mean[0]:.3g} after")
        out.append(Section(
            "Before and after the activation",
            ("; ".join(words) + ". ReLU keeps half the second moment (q/2) and moves the mean to sqrt(q/(2 pi)), so the variance after it is "
             "q/2 - q/(2 pi) = 0.34 q; with weights of variance 1/fan_in the next layer's q is half this one's.") if words else "",
            (fig.before_after(stats, theory_df, nonlinear, cfg.variants),),
        ))
    layers = [l for l in cfg.hist_layers if l <= cfg.depth]
    if layers:
        missing = [f"{v} after layer {first[v] - 1}" for v in cfg.variants if first[v] is not None]
        out.append(Section(
            "Histograms of the activations",
            "Network 0, the same entries in every panel of a row (grey: before the activation)."
            + (f" Empty panels: activations no longer finite ({', '.join(missing)})." if missing else ""),
            (fig.histograms(tables["histograms"], first, {v: a == "linear" for v, a in acts.items()}, variants=cfg.variants,
                            layers=layers, dtype=cfg.dtype, values=cfg.hist_values),),
        ))

    rows = []
    for variant in cfg.variants:
        v = summary.get(variant, {})
        pred = v.get("predicted_overflow_layer", {})
        rows.append([variant, v.get("first_nonfinite_layer"), pred.get("float32", {}).get("activations"), pred.get("float32", {}).get("variance"),
                     pred.get("float64", {}).get("activations"), pred.get("float64", {}).get("variance")])
    header = ["variant", f"measured ({cfg.dtype})", "float32: activations", "float32: variance", "float64: activations", "float64: variance"]
    table = pd.DataFrame([["-" if x is None else x for x in r] for r in rows], columns=header)
    out.append(Section(
        "Where the float range ends",
        "Predicted first layer at which the largest activation (sqrt(q_l) x sqrt(2 ln n) over the n values drawn) or the variance q_l itself "
        "exceeds the type's largest number, beside the first layer measured with non-finite activations ('-': never).",
        html=table.to_html(index=False, escape=True, classes="data"),
    ))
    s = sums.set_index(["n", "quantity"]).variance
    n_max = int(sums.n.max())
    out.append(Section(
        "Why: a sum of n unit-variance terms has variance n",
        f"Summing {n_max} N(0, 1) terms gives variance {s[(n_max, 'sum')]:.4g}; dividing by sqrt({n_max}) gives {s[(n_max, 'sum / sqrt(n)')]:.4g} "
        "(text 002's demonstration, by Monte Carlo; stderr = var x sqrt(2 / (draws - 1))). A layer's unit is such a sum over its fan-in.",
        html=sums.to_html(index=False, escape=True, classes="data", float_format=lambda v: f"{v:.4g}"),
    ))
    return out


EXPERIMENT = Experiment(
    name="variance-explosion",
    description="50 stacked layers: N(0,1) weights explode, 1/sqrt(fan_in) fixes it, ReLU halves it, Kaiming fixes that",
    config=VarianceExplosionConfig,
    run=run,
    report=report,
    source="002_76a6168605d556b4.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
