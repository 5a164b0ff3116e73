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

Theory: with q_l the second moment of a pre-activation (zero mean over weights),
q_1 = sigma_w^2 E|x|^2 / N_0 and q_{l+1} = sigma_w^2 E[phi(u)^2], u ~ N(0, q_l), where
sigma_w^2 = fan_in x weight variance (784 for N(0, 1) weights). The post-activation
variance is E[phi(u)^2] - E[phi(u)]^2 (for ReLU q/2 - q/(2 pi)): exact recursions for
linear and ReLU layers of any width, given Gaussian weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from initscope.activations import ACTIVATIONS, get_activation, moments
from initscope.data import get_input
from initscope.errors import InitscopeError
from initscope.experiments.base import Experiment, Outcome, RunContext, Section
from initscope.nets import MLPSpec, draw_layer
from initscope.repro import generator
from initscope.schemes import SCHEMES

ALIASES = {"lecun": "lecun-normal", "kaiming": "kaiming-normal", "xavier": "xavier-normal"}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parse_variant(name: str) -> tuple[str, str]:
    """``'lecun-relu'`` -> ``('lecun-normal', 'relu')``; unknown parts name the choices."""
    for act in sorted(ACTIVATIONS, key=len, reverse=True):
        if name.endswith("-" + act):
            scheme = name[: -len(act) - 1]
            scheme = ALIASES.get(scheme, scheme)
            if scheme in SCHEMES:
                return scheme, act
            raise InitscopeError(
                f"variant {name!r}: unknown init scheme {scheme!r}; choose from: {', '.join(sorted(SCHEMES) + sorted(ALIASES))}"
            )
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
    hist_layers: tuple[int, ...] = (1, 10, 50)
    hist_values: int = 3000  # values kept per histogram
    dtype: str = "float32"  # torch's default, where the text's variance overflowed

    def __post_init__(self) -> None:
        for name in ("depth", "width", "networks", "hist_values"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.samples < 2:
            raise InitscopeError(f"samples must be >= 2, got {self.samples}")
        if not self.variants:
            raise InitscopeError("variants must name at least one SCHEME-ACTIVATION")
        for v in self.variants:
            parse_variant(v)
        if self.dtype not in DTYPES:
            raise InitscopeError(f"unknown dtype {self.dtype!r}; choose from: {', '.join(DTYPES)}")

    def spec(self, variant: str) -> MLPSpec:
        scheme, act = parse_variant(variant)
        return MLPSpec(input_dim=self.width, width=self.width, depth=self.depth, activation=act, init=scheme)


# --- theory --------------------------------------------------------------------------


def theory(spec: MLPSpec, x_sq: float) -> dict[str, np.ndarray]:
    """Pre-activation second moment q_l and post-activation variance per layer (NaN past float64)."""
    act = spec.act
    n = spec.n_layers
    q = np.full(n, np.nan)
    post = np.full(n, np.nan)
    sw2 = [spec.scheme.second_moment(spec.weight_shape(l)) * spec.fan_in(l) for l in range(1, spec.n_layers + 1)]
    ql = sw2[0] * x_sq
    for i in range(n):
        if not (math.isfinite(ql) and ql < 1e300):
            break
        m = moments(act, ql)
        q[i], post[i] = ql, m.second - m.mean**2
        if i + 1 < n:
            ql = sw2[i + 1] * m.second
    return {"pre_variance": q, "post_variance": post}


def predicted_overflow(spec: MLPSpec, x_sq: float, n_values: int, max_layers: int = 5000) -> dict[str, dict[str, int | None]]:
    """First layer where, by the recursion, the activations (expected largest |N(0, q)| of
    ``n_values`` draws: sqrt(2 ln n) standard deviations) or the variance q itself exceed
    each float type's largest number. The recursion runs in log space so that float64's
    limit, 1.8e308, can be passed: log q_{l+1} = log q_l + log(sigma_w^2 E[phi(u)^2] / q_l),
    the ratio taken at the last q float64 can hold (exact for linear and ReLU-like phi)."""
    act = spec.act
    sw2 = spec.scheme.second_moment(spec.weight_shape(spec.n_layers)) * spec.fan_in(spec.n_layers)
    sw2_first = spec.scheme.second_moment(spec.weight_shape(1)) * spec.fan_in(1)
    log_z = math.log(math.sqrt(2 * math.log(max(n_values, 2))))
    q = sw2_first * x_sq
    log_q = math.log(q) if q > 0 else -math.inf
    ratio = None
    limits = {name: math.log(float(np.finfo(dt).max)) for name, dt in (("float32", np.float32), ("float64", np.float64))}
    out: dict[str, dict[str, int | None]] = {name: {"activations": None, "variance": None} for name in limits}
    for layer in range(1, max_layers + 1):
        for name, lim in limits.items():
            if out[name]["activations"] is None and 0.5 * log_q + log_z > lim:
                out[name]["activations"] = layer
            if out[name]["variance"] is None and log_q > lim:
                out[name]["variance"] = layer
        if all(v is not None for d in out.values() for v in d.values()) or log_q < -700:
            break
        if log_q < 650:  # q still fits a float64 with room: use the true map
            q = math.exp(log_q)
            ratio = sw2 * moments(act, q).second / q
        log_q += math.log(ratio) if ratio and ratio > 0 else -math.inf
    return out


# --- simulation ----------------------------------------------------------------------


def _pooled(v: torch.Tensor) -> tuple[float, float]:
    """Variance (ddof 1) and mean over every entry, as the text's ``x.var()``; in float64 when
    float32 squares could overflow (the values themselves are finite here)."""
    lo, hi = torch.aminmax(v)
    if v.dtype == torch.float32 and max(-float(lo), float(hi)) > 1e15:
        v = v.to(torch.float64)
    mean = v.mean()
    d = v - mean
    return float((d * d).sum(dtype=torch.float64)) / (v.numel() - 1), float(mean)


def _simulate(cfg: VarianceExplosionConfig, variant: str, x: torch.Tensor, seed: int, device: str) -> tuple[list[dict], list[dict], int | None]:
    """Pooled statistics per layer and network; histogram values from network 0."""
    spec, dtype = cfg.spec(variant), DTYPES[cfg.dtype]
    act = spec.act
    rows, hist = [], []
    first_bad: int | None = None
    keep = torch.randperm(x.shape[0] * spec.width, generator=generator(seed, "hist"))[: cfg.hist_values]
    for r in range(cfg.networks):
        h = x
        for layer in range(1, spec.n_layers + 1):
            w, _ = draw_layer(spec, seed, r, layer, stream=f"explosion-{variant}", dtype=dtype, device=device)
            y = h @ w.T
            post = act.fn(y)
            finite = bool(torch.isfinite(y).all()) and bool(torch.isfinite(post).all())
            if not finite:
                first_bad = layer if first_bad is None else min(first_bad, layer)
                break
            for site, v in (("pre", y), ("post", post)):
                var, mean = _pooled(v)
                rows.append(dict(variant=variant, network=r, layer=layer, site=site, variance=var, mean=mean))
            if r == 0 and layer in cfg.hist_layers:
                vals = post.reshape(-1)[keep.to(post.device)].to(torch.float64).cpu().numpy()
                hist.extend(dict(variant=variant, layer=layer, value=float(v)) for v in vals)
            h = post
    return rows, hist, first_bad


def sums_demo(seed: int, ns: tuple[int, ...] = (1, 10, 100, 784), draws: int = 20_000) -> pd.DataFrame:
    """Text 002's demonstration: a sum of n unit-variance terms has variance n; / sqrt(n) gives 1."""
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


def run(cfg: VarianceExplosionConfig, ctx: RunContext) -> Outcome:
    t0 = time.perf_counter()
    dtype = DTYPES[cfg.dtype]
    x = get_input("gaussian").sample(cfg.samples, cfg.width, generator=generator(ctx.seed, "inputs"), dtype=dtype, device=ctx.device)
    x_sq = float((x.to(torch.float64) ** 2).mean())
    stats_rows, hist_rows, theory_rows, summary_variants = [], [], [], {}
    for k, variant in enumerate(cfg.variants):
        rows, hist, first_bad = _simulate(cfg, variant, x, ctx.seed, ctx.device)
        hist_rows += hist
        th = theory(cfg.spec(variant), x_sq)
        df = pd.DataFrame(rows)
        per_layer: dict[str, list[float | None]] = {"variance": [], "pre_activation_variance": [], "pre_activation_mean": []}
        for layer in range(1, cfg.depth + 1):
            for site in ("pre", "post"):
                cell = df[(df.layer == layer) & (df.site == site)] if not df.empty else df
                ok = len(cell) == cfg.networks and (first_bad is None or layer < first_bad)
                for stat in ("variance", "mean"):
                    vals = cell[stat].to_numpy() if ok else np.array([])
                    value = float(vals.mean()) if ok else math.nan
                    se = float(vals.std(ddof=1) / math.sqrt(len(vals))) if ok and len(vals) > 1 else math.nan
                    stats_rows.append(dict(variant=variant, layer=layer, site=site, stat=stat, value=value, stderr=se, n=cfg.networks))
            # the last four rows: pre variance, pre mean, post variance, post mean
            per_layer["variance"].append(_or_none(stats_rows[-2]["value"]))
            per_layer["pre_activation_variance"].append(_or_none(stats_rows[-4]["value"]))
            per_layer["pre_activation_mean"].append(_or_none(stats_rows[-3]["value"]))
        for i, layer in enumerate(range(1, cfg.depth + 1)):
            theory_rows.append(dict(variant=variant, layer=layer, stat="variance", site="post", value=float(th["post_variance"][i])))
            theory_rows.append(dict(variant=variant, layer=layer, stat="variance", site="pre", value=float(th["pre_variance"][i])))
        summary_variants[variant] = {
            "variance": per_layer["variance"],
            "pre_activation_variance": per_layer["pre_activation_variance"],
            "pre_activation_mean": per_layer["pre_activation_mean"],
            "first_nonfinite_layer": first_bad,
            "theory_variance": [_or_none(v) for v in th["post_variance"]],
            "theory_pre_activation_variance": [_or_none(v) for v in th["pre_variance"]],
            "predicted_overflow_layer": predicted_overflow(cfg.spec(variant), x_sq, cfg.samples * cfg.width),
        }
        ctx.progress("variants", k + 1, len(cfg.variants))
    sums = sums_demo(ctx.seed)
    return Outcome(
        tables={"stats": pd.DataFrame(stats_rows), "theory": pd.DataFrame(theory_rows), "histograms": pd.DataFrame(hist_rows, columns=["variant", "layer", "value"]), "sums": sums},
        summary={"variants": summary_variants, "layers": list(range(1, cfg.depth + 1)), "dtype": cfg.dtype},
        timings={"simulation_s": time.perf_counter() - t0},
    )


# --- figures and report ----------------------------------------------------------------


def verdicts(summary_variants: dict[str, Any]) -> str:
    parts = []
    for name, v in summary_variants.items():
        var = [x for x in v["variance"] if x is not None]
        if v["first_nonfinite_layer"] is not None:
            pred = v["predicted_overflow_layer"]
            parts.append(f"{name}: {var[0]:.3g} after layer 1, activations overflow at layer {v['first_nonfinite_layer']} "
                         f"(predicted {pred['float32']['activations']} in float32, {pred['float64']['activations']} in float64)")
        elif var:
            parts.append(f"{name}: {var[0]:.3g} at layer 1, {var[-1]:.3g} at layer {len(var)}")
    return "; ".join(parts) + "."


def figures(tables: dict[str, pd.DataFrame], cfg: VarianceExplosionConfig, meta: dict[str, Any]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    stats, theory_df, hist = tables["stats"], tables["theory"], tables["histograms"]
    figs: dict[str, Any] = {}
    fig, ax = plt.subplots(figsize=(8.5, 5))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.1)
    big = float(np.finfo(np.float32).max)
    for i, variant in enumerate(cfg.variants):
        color = f"C{i}"
        s = stats[(stats.variant == variant) & (stats.site == "post") & (stats.stat == "variance")].sort_values("layer")
        ax.errorbar(s.layer, s.value, yerr=2 * s.stderr.fillna(0), color=color, marker="o", ms=3, lw=1.3, label=variant)
        t = theory_df[(theory_df.variant == variant) & (theory_df.site == "post")].sort_values("layer")
        ax.plot(t.layer, t.value, ls="--", color=color, lw=1, label=f"{variant} (theory)")
        finite = s.dropna(subset=["value"])
        if len(finite) < len(s) and len(finite):
            last = finite.iloc[-1]
            ax.annotate(f"leaves float range\nat layer {int(last.layer) + 1}", (last.layer, last.value), xytext=(8, -30),
                        textcoords="offset points", color=color, fontsize=8, arrowprops=dict(arrowstyle="->", color=color))
    ax.axhline(big, color="grey", ls=":", lw=1)
    ax.text(1, big * 3, "float32 max", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("variance of a layer's activations (pooled over samples and units)")
    ax.set_title("Text 002: exploding, vanishing, preserved", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    figs["variance_by_depth"] = fig

    relu = [v for v in cfg.variants if v.endswith("-relu")]
    if relu:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.13, wspace=0.25)
        for i, variant in enumerate(relu):
            for site, ls in (("pre", "-"), ("post", "--")):
                for ax, stat in zip(axes, ("variance", "mean")):
                    s = stats[(stats.variant == variant) & (stats.site == site) & (stats.stat == stat)].sort_values("layer")
                    ax.plot(s.layer, s.value, ls=ls, color=f"C{cfg.variants.index(variant)}", label=f"{variant}, {'before' if site == 'pre' else 'after'} ReLU")
        axes[0].set_yscale("log")
        axes[0].set_title("variance before and after ReLU", fontsize=10)
        axes[1].set_title("mean before and after ReLU", fontsize=10)
        for ax in axes:
            ax.set_xlabel("layer")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        figs["relu_before_after"] = fig

    layers = [l for l in cfg.hist_layers if l <= cfg.depth]
    fig, axes = plt.subplots(len(cfg.variants), max(1, len(layers)), figsize=(3.2 * max(1, len(layers)), 2.2 * len(cfg.variants)), squeeze=False)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.93, bottom=0.05, hspace=0.55, wspace=0.3)
    for i, variant in enumerate(cfg.variants):
        for j, layer in enumerate(layers):
            ax = axes[i][j]
            vals = hist[(hist.variant == variant) & (hist.layer == layer)].value.to_numpy()
            if len(vals):
                ax.hist(vals, bins=50, color=f"C{i}", alpha=0.8)
            else:
                ax.text(0.5, 0.5, "not finite", ha="center", va="center", transform=ax.transAxes, color="grey")
            if i == 0:
                ax.set_title(f"layer {layer}", fontsize=9)
            if j == 0:
                ax.set_ylabel(variant, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle("Activations after each layer (network 0)", fontsize=10)
    figs["histograms"] = fig
    return figs


def sections(tables: dict[str, pd.DataFrame], cfg: VarianceExplosionConfig, meta: dict[str, Any]) -> list[Section]:
    import plotly.graph_objects as go

    stats, theory_df, sums = tables["stats"], tables["theory"], tables["sums"]
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for i, variant in enumerate(cfg.variants):
        color = palette[i % len(palette)]
        s = stats[(stats.variant == variant) & (stats.site == "post") & (stats.stat == "variance")].sort_values("layer")
        fig.add_trace(go.Scatter(x=s.layer, y=[v if math.isfinite(v) else None for v in s.value], name=variant, mode="lines+markers",
                                 line=dict(color=color), error_y=dict(type="data", array=2 * s.stderr.fillna(0).to_numpy(), visible=True)))
        t = theory_df[(theory_df.variant == variant) & (theory_df.site == "post")].sort_values("layer")
        fig.add_trace(go.Scatter(x=t.layer, y=[v if math.isfinite(v) else None for v in t.value], name=f"{variant} (theory)", mode="lines", line=dict(color=color, dash="dash")))
    fig.update_layout(yaxis_type="log", xaxis_title="layer", yaxis_title="variance after the activation", height=460, template="plotly_white")
    table = go.Figure(go.Table(header=dict(values=list(sums.columns)), cells=dict(values=[sums[c].map(lambda v: f"{v:.4g}" if isinstance(v, float) else v) for c in sums.columns])))
    table.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10))
    summary = meta.get("summary", {}).get("variants", {})
    return [
        Section("Variance by depth", verdicts(summary), (fig,),
                note="Dashed: the exact recursion q_{l+1} = fan_in x Var(w) x E[phi(u)^2]. Gaps are layers whose activations left the float range."),
        Section("Why: a sum of n unit-variance terms has variance n", "Dividing by sqrt(n) brings it back to 1 (text 002's demonstration, by Monte Carlo).", (table,)),
    ]


EXPERIMENT = Experiment(
    name="variance-explosion",
    description="50 stacked layers: N(0,1) weights explode, 1/sqrt(fan_in) fixes it, ReLU halves it, Kaiming fixes that",
    config=VarianceExplosionConfig,
    run=run,
    figures=figures,
    sections=sections,
    source="002_76a6168605d556b4.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
