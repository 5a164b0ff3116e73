"""``kaiming-variance``: text 000, variance over weights vs over samples vs over a layer.

Defaults are the text's: 50 layers of width 1024, Kaiming normal weights, zero
biases, Gaussian white-noise inputs of dimension 1024, 1000 networks for the
network view and 1000 samples for the sample view.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from initscope.engine.probe import ProbeConfig, probe
from initscope.errors import InitscopeError
from initscope.experiments.base import Experiment, Outcome, RunContext, Section
from initscope.nets import MLPSpec
from initscope.palette import PALETTE


@dataclass(frozen=True)
class KaimingVarianceConfig:
    depth: int = 50  # text 000: "50 layer fully connected ReLU networks"
    width: int = 1024  # text 000: "uniform width N=1024"
    input_dim: int | None = None  # None: the width (text 000's white noise has the layer's size)
    activation: str = "relu"
    init: str = "kaiming-normal"  # text 000: weights N(0, 2/N)
    weight_scale: float | None = None  # sigma_w^2, overriding the scheme's scale
    bias: str = "zero"  # text 000: "biases are zero"
    sigma_b: float = 0.0
    bias_value: float = 0.0
    residual: bool = False
    norm: str = "none"  # none | layernorm | rmsnorm | batchnorm (text 000's last sections)
    batch_size: int = 32  # batchnorm: samples normalized together; the network view's batch (x0 and 31 others)
    input: str = "gaussian"  # text 000: "inputs are Gaussian white noise"
    networks: int = 1000  # text 000: "randomly sample 1000 different networks"
    samples: int = 1000  # text 000: "generate 1000 different input samples"
    sample_networks: int = 12  # the text froze one network; 12 put the layer-50 sample fraction within 5% (1 se, jackknife)
    trace_layers: tuple[int, ...] = (1, 5, 10, 50)  # the text's histogram layers
    trace_neurons: int = 3  # text 000: "3 neurons in layers 1,5,10,50"
    sampler: str = "auto"  # network view: exact shortcut for Gaussian weights, else full matrices
    dtype: str = "float32"
    memory_mb: float = 1024.0
    theory_replicates: int = 1000  # replicates of the finite-width Gram chain (0: mean field only)
    compare_norms: tuple[str, ...] = ("layernorm", "batchnorm")  # text 000's last sections: the same net with these norms (sample view)

    def spec(self) -> MLPSpec:
        names = {f.name for f in fields(MLPSpec)}
        kw = {k: getattr(self, k) for k in names if hasattr(self, k)}
        kw["input_dim"] = self.input_dim if self.input_dim is not None else self.width
        return MLPSpec(**kw)

    def companion(self, norm: str, seed: int, device: str) -> ProbeConfig:
        return companion(self, norm, seed, device)

    def probe_config(self, seed: int, device: str) -> ProbeConfig:
        return ProbeConfig(
            spec=self.spec(),
            input=self.input,
            networks=self.networks,
            samples=self.samples,
            sample_networks=self.sample_networks,
            trace_layers=self.trace_layers,
            trace_neurons=self.trace_neurons,
            sampler=self.sampler,
            dtype=self.dtype,
            memory_mb=self.memory_mb,
            seed=seed,
            device=device,
        )

    def __post_init__(self) -> None:
        self.probe_config(0, "cpu")  # validate everything up front, before any work
        for norm in self.compare_norms:
            self.companion(norm, 0, "cpu")
        if self.theory_replicates == 1 or self.theory_replicates < 0:
            raise InitscopeError(f"theory_replicates must be 0 (off) or >= 2, got {self.theory_replicates}")


SUMMARY_STATS = ("network_variance", "sample_variance", "mean_spread", "sample_fraction", "layer_variance")


def _series(stats: pd.DataFrame, stat: str, layers: list[int], site: str | None = "pre") -> list[float | None]:
    """``stat`` at each of ``layers``; None where it is undefined (no row: past an overflow, or 0/0)."""
    rows = stats[stats.stat == stat] if site is None else stats[(stats.stat == stat) & (stats.site == site)]
    by_layer = dict(zip(rows.layer.astype(int), rows.value.astype(float)))
    return [by_layer[l] if l in by_layer and math.isfinite(by_layer[l]) else None for l in layers]


COMPANION_SAMPLES, COMPANION_NETWORKS = 256, 3  # the comparison's sample view: ~4% of the main one's work per norm


def companion(cfg: KaimingVarianceConfig, norm: str, seed: int, device: str) -> ProbeConfig:
    """The run's network with ``norm`` instead of its own, sample view only, at a smaller size."""
    import dataclasses

    pc = cfg.probe_config(seed, device)
    samples = min(cfg.samples, COMPANION_SAMPLES)
    if norm == "batchnorm" and samples % cfg.batch_size == 1:
        samples -= 1
    return dataclasses.replace(pc, spec=dataclasses.replace(pc.spec, norm=norm), views=("sample",), samples=samples,
                               sample_networks=min(cfg.sample_networks, COMPANION_NETWORKS), trace_layers=())


def norm_comparison(cfg: KaimingVarianceConfig, stats: pd.DataFrame, theory: pd.DataFrame, ctx: RunContext) -> pd.DataFrame:
    """Sample fraction per layer with each norm (the run's own from its tables), beside its mean-field line."""
    own = stats[(stats.stat == "sample_fraction") & (stats.site == "pre")]
    line = theory[theory.stat == "sample_fraction"].set_index("layer").value
    frames = [own.assign(norm=cfg.norm, theory=own.layer.map(line))]
    for k, norm in enumerate(n for n in cfg.compare_norms if n != cfg.norm):
        pc = companion(cfg, norm, ctx.seed, ctx.device)
        s = probe(pc).stats
        s = s[(s.stat == "sample_fraction") & (s.site == "pre")]
        t, _ = theory_table(pc, replicates=0)
        line = t[t.stat == "sample_fraction"].set_index("layer").value
        frames.append(s.assign(norm=norm, theory=s.layer.map(line)))
        ctx.progress("norm comparison", k + 1, len(cfg.compare_norms))
    cols = ["norm", "layer", "stat", "value", "stderr", "n", "theory"]
    return pd.concat(frames, ignore_index=True).reindex(columns=cols)


def summarize(stats: pd.DataFrame, first_nonfinite: dict[str, int | None], depth: int | None = None) -> dict[str, Any]:
    """The ``--json`` summary: per-layer lists of pre-activation statistics (None where undefined)."""
    layers = list(range(1, depth + 1)) if depth else sorted(int(l) for l in stats.layer.unique())
    out: dict[str, Any] = {"layers": layers}
    for stat in SUMMARY_STATS:
        out[stat] = _series(stats, stat, layers)
    out["first_nonfinite_layer"] = first_nonfinite
    measured = set(stats.layer[stats.stat == "sample_variance"].astype(int))
    flat = [l for l, v in zip(layers, out["sample_fraction"]) if v is None and l in measured]
    out["notes"] = ([f"sample_fraction undefined at layer(s) {_ranges(flat)}: every pre-activation of those layers is the same "
                     "number (no variance over samples or networks), so the fraction is 0/0"] if flat else [])
    return out


def _ranges(layers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts: list[str] = []
    for l in layers:
        if parts and int(parts[-1].split("-")[-1]) == l - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{l}"
        else:
            parts.append(str(l))
    return ", ".join(parts)


def run(cfg: KaimingVarianceConfig, ctx: RunContext) -> Outcome:
    pc = cfg.probe_config(ctx.seed, ctx.device)
    result = probe(pc, ctx.progress)
    t0 = time.perf_counter()
    theory, notes = theory_table(pc, replicates=cfg.theory_replicates)
    summary = summarize(result.stats, result.first_nonfinite, pc.spec.n_layers)
    for stat in ("network_variance", "sample_fraction", "sample_fraction_finite_width", "network_variance_finite_width"):
        if (theory.stat == stat).any():
            summary[f"theory_{stat}"] = _series(theory, stat, summary["layers"], site=None)
    summary["theory_notes"] = notes
    summary["theory_verdict"] = theory_verdict(result.stats, theory)
    tables = {"stats": result.stats, "traces": result.traces, "theory": theory}
    if cfg.compare_norms:
        norms = norm_comparison(cfg, result.stats, theory, ctx)
        tables["norms"] = norms
        summary["norms"] = {n: _series(d, "sample_fraction", summary["layers"], site=None) for n, d in norms.groupby("norm", sort=False)}
    return Outcome(
        tables=tables,
        summary=summary,
        timings={**result.timings, "theory_s": time.perf_counter() - t0},
        info={"sampler": result.sampler, "first_nonfinite_layer": result.first_nonfinite, "theory_notes": notes},
    )


def drawn_inputs(pc: ProbeConfig) -> tuple[Any, Any]:
    """The engine's own inputs, in float64: x0 of the network view and the S samples of the
    sample view (same generators, same dtype: a float64 draw would be another number)."""
    import torch

    from initscope.data import get_input
    from initscope.repro import generator

    dist, n0 = get_input(pc.input), pc.spec.input_dim
    x0 = dist.sample(1, n0, generator=generator(pc.seed, "x0"), dtype=pc.torch_dtype)[0].to(torch.float64)
    x = dist.sample(pc.samples, n0, generator=generator(pc.seed, "inputs"), dtype=pc.torch_dtype).to(torch.float64)
    return x0, x


def mean_field_inputs(pc: ProbeConfig, inputs: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """What the mean-field maps need from a probe config: per-layer sigma_w^2, sigma_b^2,
    and the second moments of the actual inputs (x0 for the network view, the S samples
    for the sample view), drawn from the same generators as the engine."""
    spec = pc.spec
    sw2 = spec.sigma_w2()
    notes: list[str] = []
    if spec.scheme.distribution == "constant":
        notes.append("constant weights are not random: mean-field theory does not apply")
    elif not spec.scheme.rotation_invariant_gaussian:
        notes.append(f"{spec.init} weights are not Gaussian: the theory uses their variance (exact as width -> infinity)")
    widths = spec.layer_widths
    sigma_b2 = {
        "zero": 0.0,
        "normal": spec.sigma_b**2,
        "constant": spec.bias_value**2,
        "linspace": float(np.mean(np.linspace(-1, 1, widths[0]) ** 2)),
        "torch-default": 1.0 / (3.0 * widths[0]),
    }[spec.bias]
    if spec.bias in ("constant", "linspace"):
        notes.append(
            f"'{spec.bias}' biases are the same in every network: the mean-field network variance tracks each unit's mean; "
            f"its sample-view lines treat them as random with their mean square {sigma_b2:.3g}; the finite-width lines draw them as the network does"
        )
    if spec.bias == "torch-default":
        notes.append(
            f"'torch-default' biases are uniform, of variance 1/(3 fan_in): the mean-field lines use the hidden layers' {sigma_b2:.3g} "
            f"throughout{' (layer 1 has fan-in ' + str(spec.input_dim) + ')' if spec.input_dim != widths[0] else ''}; "
            "the finite-width lines draw each layer's own"
        )
    x0, x = inputs if inputs is not None else drawn_inputs(pc)
    n0, s = spec.input_dim, pc.samples
    sq = float((x * x).sum()) / (s * n0)
    total = x.sum(dim=0)
    cross = (float(total @ total) - float((x * x).sum())) / (s * (s - 1) * n0) if s > 1 else 0.0
    return dict(
        sigma_w2=sw2, sigma_b2=sigma_b2, x0_sq=float(x0 @ x0) / n0, x_sq=sq, x_ab=cross, notes=notes,
        residual=spec.residual, layernorm=spec.norm in ("layernorm", "rmsnorm"),
    )


def fixed_bias_network_variance(spec: MLPSpec, sigma_w2: list[float], x0_sq: float) -> np.ndarray:
    """Mean-field variance over networks when every network has the same biases b.

    Over networks, y_{l,i} = w_i . h_{l-1} + b_i has mean b_i and variance
    v_l = sigma_w^2 E|h_{l-1}|^2 / N, where E|h|^2 / N = mean_i E[phi(b_i + sqrt(v) z)^2]:
    v_1 = sigma_w^2 |x0|^2 / N_0 (Gauss-Hermite, 160 nodes)."""
    import torch

    from initscope.nets import draw_bias

    z, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / w.sum()
    v = [sigma_w2[0] * x0_sq]
    for layer in range(2, spec.n_layers + 1):
        # constant and linspace biases draw nothing: the generator is never used
        b = draw_bias(spec, layer - 1, (), generator=torch.Generator(), dtype=torch.float64, device="cpu").numpy()
        u = b[:, None] + math.sqrt(max(v[-1], 0.0)) * z[None, :]
        phi = spec.act.fn(torch.from_numpy(u)).numpy()
        v.append(sigma_w2[layer - 1] * float(((phi * phi) @ w).mean()))
    return np.array(v)


INPUT_SUBSET = 128  # inputs whose 8128 pairs the mean-field sample-view line averages over (0.12 s for relu)


def theory_table(pc: ProbeConfig, replicates: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Mean-field predictions of every statistic the run measures (tidy: layer, stat, value),
    and with ``replicates`` the finite-width ones of the sampled Gram chain on the run's own
    inputs (``*_finite_width`` and their ``*_stderr``)."""
    from initscope.theory import (
        pairs_in_closed_form, predict, predict_batchnorm, propagate_inputs, ratio_or_nan, relu_norm_fluctuation, relu_sample_fraction_asymptote,
    )
    from initscope.theory.finite_width import pairs_from, predict_finite_width

    spec = pc.spec
    x0, x = drawn_inputs(pc)  # once, for every theory line below
    mf = mean_field_inputs(pc, (x0, x))
    common = dict(residual=mf["residual"], layernorm=mf["layernorm"])
    at_x0 = predict(spec.act, mf["sigma_w2"], mf["sigma_b2"], spec.n_layers, x_sq=mf["x0_sq"], **common)
    over_x = predict(spec.act, mf["sigma_w2"], mf["sigma_b2"], spec.n_layers, x_sq=mf["x_sq"], x_ab=mf["x_ab"], samples=pc.samples, **common)
    layers = np.arange(1, spec.n_layers + 1)
    sample_var, spread, frac = np.array(over_x.sample_variance), np.array(over_x.mean_spread), np.array(over_x.sample_fraction)
    if not (mf["residual"] or mf["layernorm"]) and pairs_in_closed_form(spec.act):
        # the inputs' norms differ: run the covariance map on every pair of a subset of the
        # actual inputs instead of the equal-norm map (whose q_ab misses (E|x|)^2 / E|x|^2).
        # In closed form only: by quadrature 8128 pairs would take minutes.
        sub = x[: INPUT_SUBSET]
        pairs = propagate_inputs(spec.act, mf["sigma_w2"], mf["sigma_b2"], spec.n_layers, (sub @ sub.T).numpy(), spec.input_dim)
        sample_var, spread = pairs.sample_variance.copy(), pairs.mean_spread.copy()
        # layer 1 is exact from all the inputs (the subset's mean inner product is noisy
        # next to a mean spread that is ~0 there)
        sample_var[0], spread[0] = over_x.sample_variance[0], over_x.mean_spread[0] - over_x.sample_variance[0] / pc.samples
        spread += sample_var / pc.samples
        frac = ratio_or_nan(sample_var, sample_var + spread)
    net_var = np.array(at_x0.q)
    norm_notes: list[str] = []
    if spec.norm == "rmsnorm":
        norm_notes.append("rmsnorm: mean field as layernorm (the mean over units it keeps is O(1/sqrt(width)) for zero-mean "
                          "pre-activations; a bias or a ReLU's mean adds to it at finite width)")
    if spec.norm == "batchnorm":
        bn = predict_batchnorm(spec.act, mf["sigma_w2"], mf["sigma_b2"], (at_x0.q[0], sample_var[0], spread[0] - sample_var[0] / pc.samples),
                               residual=mf["residual"])
        net_var[1:], sample_var[1:] = bn.q, bn.sample_variance
        spread[1:] = bn.mean_spread + bn.sample_variance / pc.samples
        frac = ratio_or_nan(sample_var, sample_var + spread)
        over_q = np.array(over_x.q)
        over_q[1:] = bn.q
        norm_notes.append(f"batchnorm: mean field over an infinite batch (the batch here is {spec.batch_size}): every unit is "
                          "reset to mean 0 and variance 1 over samples, so from layer 2 on the lines are the same at every layer")
    if spec.bias in ("constant", "linspace") and not (mf["residual"] or mf["layernorm"]) and spec.norm != "batchnorm":
        # a bias shared by every network adds nothing to a variance over networks: track
        # each unit's mean (its bias) through the layers instead of adding mean(b^2)
        net_var = fixed_bias_network_variance(spec, mf["sigma_w2"], mf["x0_sq"])
    cols = {
        "network_variance": net_var,
        "sample_variance": sample_var,
        "mean_spread": spread,
        "sample_fraction": frac,
        # over the units of one layer, ddof 1 as measured: units i.i.d. with mean 0 and
        # variance q given the previous layer, so its expectation is q itself
        "layer_variance": over_q if spec.norm == "batchnorm" else np.array(over_x.q),
    }
    fw_notes: list[str] = list(norm_notes)
    if replicates and spec.norm == "batchnorm":
        fw_notes.append("no finite-width line for batch norm: the Gram chain follows input pairs, and a batch couples all its samples")
    elif replicates:
        fw = predict_finite_width(spec, pairs=pairs_from(x, replicates, pc.seed), x0=x0, samples=pc.samples, seed=pc.seed)
        cols["sample_fraction_finite_width"] = np.array(fw.sample_fraction)
        cols["sample_fraction_finite_width_stderr"] = np.array(fw.sample_fraction_stderr)
        cols["network_variance_finite_width"] = np.array(fw.network_variance)
        cols["network_variance_finite_width_stderr"] = np.array(fw.network_variance_stderr)
        for stat in ("sample_variance", "mean_spread"):
            cols[f"{stat}_finite_width"] = np.array(getattr(fw, stat))
            cols[f"{stat}_finite_width_stderr"] = np.array(getattr(fw, f"{stat}_stderr"))
        fw_notes += [f"finite-width theory at width {spec.width}: {fw.route}, {fw.replicates} replicates"] + fw.notes
    relu_kaiming = spec.activation == "relu" and mf["sigma_b2"] == 0 and not (mf["residual"] or mf["layernorm"]) and spec.norm == "none"
    if relu_kaiming and all(abs(v - 2.0) < 1e-12 for v in mf["sigma_w2"][1:]):
        cols["sample_fraction_asymptote"] = np.where(layers >= 10, relu_sample_fraction_asymptote(layers), np.nan)
    if spec.activation == "relu" and mf["sigma_b2"] == 0 and not (mf["residual"] or mf["layernorm"]) and spec.norm == "none":
        spread = np.sqrt(relu_norm_fluctuation(spec.n_layers, spec.layer_widths))
        cols["layer_variance_lo"] = cols["layer_variance"] * (1 - spread)
        cols["layer_variance_hi"] = cols["layer_variance"] * (1 + spread)
    rows = [
        dict(layer=int(l), stat=stat, value=float(v))
        for stat, values in cols.items()
        for l, v in zip(layers, values)
        if math.isfinite(v)  # no row where a line is not defined (the asymptote before layer 10)
    ]
    notes = list(mf["notes"]) + [n for n in over_x.notes if not n.startswith(("q_star", "xi", "chi1"))] + fw_notes
    return pd.DataFrame(rows, columns=["layer", "stat", "value"]), notes


# --- verdicts and figures ------------------------------------------------------


def theory_verdict(stats: pd.DataFrame, theory: pd.DataFrame | None) -> str:
    """Where the simulation leaves its theory lines, and by how much (plain words)."""
    from initscope.agreement import gap

    if theory is None:
        return ""
    parts = []
    for stat in ("network_variance", "sample_fraction"):
        for line, label in ((stat, "mean-field line"), (f"{stat}_finite_width", "finite-width line")):
            g = gap(stats, theory, stat, line)
            if g is not None:
                parts.append(g.sentence(label))
    return "; ".join(parts) + "." if parts else ""


WHY_FINITE_WIDTH = (
    "Why mean field drifts: it replaces each layer's Gram matrix by its average, which is exact only as the width "
    "goes to infinity. At width N the Gram matrix fluctuates by about 1/sqrt(N) per layer and the fluctuations add "
    "up along the depth, so what matters is depth/width. Here they keep the network further from a constant function "
    "than mean field says. The finite-width line samples that Gram-matrix chain exactly (Gaussian weights, no weight "
    "matrix); read it, not the mean-field line, for depth/width beyond about 0.01."
)


def verdict(stats: pd.DataFrame) -> str:
    """A plain-words reading of the depth profile."""
    net = stats[(stats.stat == "network_variance") & (stats.site == "pre")].sort_values("layer")
    frac = stats[(stats.stat == "sample_fraction") & (stats.site == "pre")].sort_values("layer")
    parts = []
    if len(net):
        v = net.value.to_numpy()
        finite = v[np.isfinite(v)]
        if len(finite) < len(v):
            parts.append(f"activations overflow at layer {int(net.layer.to_numpy()[len(finite)])}")
        if len(finite) > 1 and finite[0] > 0:
            drift = finite[-1] / finite[0]
            last = int(net.layer.to_numpy()[len(finite) - 1])
            if 0.8 < drift < 1.25:
                parts.append(f"network variance preserved within {abs(drift - 1):.1%} from layer 1 to {last}")
            else:
                parts.append(f"network variance changes {drift:.3g}x from layer 1 to {last}")
    if len(frac):
        f = frac.value.to_numpy()
        finite = f[np.isfinite(f)]
        if len(finite):
            last = int(frac.layer.to_numpy()[len(finite) - 1])
            tail = (
                ": the network is close to a constant function of its input"
                if finite[-1] < 0.1
                else ""
            )
            parts.append(f"the share of variance that is over samples goes from {finite[0]:.0%} at layer 1 to {finite[-1]:.1%} at layer {last}{tail}")
    return "; ".join(parts) + "." if parts else "no finite statistics."


NORM_COLORS = {"none": PALETTE[0], "layernorm": PALETTE[1], "batchnorm": PALETTE[4], "rmsnorm": PALETTE[2]}
NORM_WHY = (
    "Text 000: Kaiming init takes its statistics over weights, batch norm over the samples of a minibatch, layer norm over "
    "the units of a layer. Only batch norm sees (and removes) what the samples share, each unit's mean over samples, the "
    "mean spread whose growth with depth is the decay; layer norm rescales every sample alike and leaves the decay as it is. "
    "The fraction is measured at the pre-activation, before the next layer's norm (after it, batch norm would make the "
    "mean spread 0 by construction). Mean field: layer norm resets the length map every layer; batch norm resets every unit "
    "to mean 0, variance 1 over samples, so from layer 2 on the fraction is Var phi(z) / E phi(z)^2 (1 - 1/pi for ReLU, "
    "1 for an odd phi without bias), up to finite-batch terms."
)


def norm_verdict(norms: pd.DataFrame) -> str:
    """Per norm: the sample fraction at layer 1 and at the last layer, simulated and mean field."""
    parts = []
    for norm, d in norms.groupby("norm", sort=False):
        d = d.sort_values("layer")
        if d.empty:
            continue
        last = d.iloc[-1]
        th = f" (mean field {last.theory:.3g})" if math.isfinite(last.theory) else ""
        parts.append(f"{norm}: {d.iloc[0].value:.3g} at layer 1, {last.value:.3g} ± {last.stderr:.2g} at layer {int(last.layer)}{th}")
    return "Sample fraction by norm — " + "; ".join(parts) + "." if parts else ""


def report(tables: dict[str, pd.DataFrame], cfg: KaimingVarianceConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.builders import depth_profile, simulated_beside_theory, view_histograms

    stats, traces, theory = tables["stats"], tables["traces"], tables.get("theory")
    title = f"{cfg.activation}, {cfg.init}, width {cfg.width}"
    sections = [
        Section(
            "Variance by depth, per source of randomness",
            " ".join(p for p in (verdict(stats), theory_verdict(stats, theory)) if p),
            (depth_profile("variance_by_depth", stats, ["network_variance", "sample_variance", "mean_spread", "layer_variance"],
                           title=f"Variance of a pre-activation, by source of randomness ({title})", log=True, theory=theory),),
            note="network: one input, many networks. sample: one network, many inputs (mean over R networks, error bars over networks). "
            "mean spread: variance over neurons of each neuron's mean over samples, mu(w). layer: one network and input, over the units of a layer.",
        ),
        Section(
            "How much of the variance is over samples",
            "sample_fraction = sample_variance / (sample_variance + mean_spread); near 0 the network ignores its input. "
            + theory_verdict(stats, theory),
            (depth_profile("sample_fraction", stats, ["sample_fraction"], title=f"Fraction of variance that is over samples ({title})",
                           log=True, theory=theory),),
            note=WHY_FINITE_WIDTH,
        ),
    ]
    if "norms" in tables:
        norms = tables["norms"]
        order = list(dict.fromkeys(norms.norm))
        chart = simulated_beside_theory("normalization", norms, "norm", [NORM_COLORS.get(n, "black") for n in order],
                                        y_title="sample fraction (pre-activation)", height=420,
                                        title=f"Batch norm vs layer norm: share of variance over samples ({title})")
        sections.append(Section("Batch normalization and layer normalization", norm_verdict(norms), (chart,),
                                note=NORM_WHY + f" The compared norms run the sample view alone, {COMPANION_NETWORKS} networks x "
                                f"{COMPANION_SAMPLES} samples at most."))
    sections.append(Section(
        "Neuron distributions per view",
        "Network and layer views stay wide; in the sample view each neuron collapses to small fluctuations around its own mean.",
        (view_histograms("histograms", traces, site="pre", title=f"Pre-activation distributions by view ({title})"),),
    ))
    return sections


EXPERIMENT = Experiment(
    name="kaiming-variance",
    description="Kaiming preserves a neuron's variance over weights, but its variance over samples collapses with depth",
    config=KaimingVarianceConfig,
    run=run,
    report=report,
    source="000_ca7ae6ba9298fa59.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
