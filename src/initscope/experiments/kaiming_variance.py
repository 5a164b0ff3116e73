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
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLPSpec
from initscope.theory.probe import theory_table
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


# --- verdicts and figures ------------------------------------------------------


def theory_verdict(stats: pd.DataFrame, theory: pd.DataFrame | None,
                   stat_names: tuple[str, ...] = ("network_variance", "sample_fraction")) -> str:
    """Where the simulation leaves its theory lines, and by how much (plain words)."""
    from initscope.agreement import gap

    if theory is None:
        return ""
    parts = []
    for stat in stat_names:
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
            " ".join(p for p in (verdict(stats), theory_verdict(stats, theory, ("network_variance",))) if p),
            (depth_profile("variance_by_depth", stats, ["network_variance", "sample_variance", "mean_spread", "layer_variance"],
                           title=f"Variance of a pre-activation, by source of randomness ({title})", log=True, theory=theory),),
            note="network: one input, many networks. sample: one network, many inputs (mean over R networks, error bars over networks). "
            "mean spread: variance over neurons of each neuron's mean over samples, mu(w). layer: one network and input, over the units of a layer.",
        ),
        Section(
            "How much of the variance is over samples",
            "sample_fraction = sample_variance / (sample_variance + mean_spread); near 0 the network ignores its input. "
            + theory_verdict(stats, theory, ("sample_fraction",)),
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
