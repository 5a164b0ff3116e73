"""``kaiming-variance``: text 000, variance over weights vs over samples vs over a layer.

Defaults are the text's: 50 layers of width 1024, Kaiming normal weights, zero
biases, Gaussian white-noise inputs of dimension 1024, 1000 networks for the
network view and 1000 samples for the sample view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from initscope.engine.probe import ProbeConfig, probe
from initscope.experiments.base import Experiment, Outcome, RunContext, Section
from initscope.nets import MLPSpec


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
    norm: str = "none"
    input: str = "gaussian"  # text 000: "inputs are Gaussian white noise"
    networks: int = 1000  # text 000: "randomly sample 1000 different networks"
    samples: int = 1000  # text 000: "generate 1000 different input samples"
    sample_networks: int = 4  # the text froze one network; 4 give error bars within the 10 s budget
    trace_layers: tuple[int, ...] = (1, 5, 10, 50)  # the text's histogram layers
    trace_neurons: int = 3  # text 000: "3 neurons in layers 1,5,10,50"
    sampler: str = "auto"  # network view: exact shortcut for Gaussian weights, else full matrices
    dtype: str = "float32"
    memory_mb: float = 1024.0

    def spec(self) -> MLPSpec:
        names = {f.name for f in fields(MLPSpec)}
        kw = {k: getattr(self, k) for k in names if hasattr(self, k)}
        kw["input_dim"] = self.input_dim if self.input_dim is not None else self.width
        return MLPSpec(**kw)

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


SUMMARY_STATS = ("network_variance", "sample_variance", "mean_spread", "sample_fraction", "layer_variance")


def _series(stats: pd.DataFrame, stat: str, site: str = "pre") -> list[float | None]:
    s = stats[(stats.stat == stat) & (stats.site == site)].sort_values("layer")["value"]
    return [float(v) if math.isfinite(v) else None for v in s]


def summarize(stats: pd.DataFrame, first_nonfinite: dict[str, int | None]) -> dict[str, Any]:
    """The ``--json`` summary: per-layer lists of pre-activation statistics."""
    layers = sorted(int(l) for l in stats.layer.unique())
    out: dict[str, Any] = {"layers": layers}
    for stat in SUMMARY_STATS:
        out[stat] = _series(stats, stat)
    out["first_nonfinite_layer"] = first_nonfinite
    return out


def run(cfg: KaimingVarianceConfig, ctx: RunContext) -> Outcome:
    pc = cfg.probe_config(ctx.seed, ctx.device)
    result = probe(pc, ctx.progress)
    return Outcome(
        tables={"stats": result.stats, "traces": result.traces},
        summary=summarize(result.stats, result.first_nonfinite),
        timings=result.timings,
        info={"sampler": result.sampler, "first_nonfinite_layer": result.first_nonfinite},
    )


# --- verdicts and figures ------------------------------------------------------


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


def figures(tables: dict[str, pd.DataFrame], cfg: KaimingVarianceConfig, meta: dict[str, Any]) -> dict[str, Any]:
    from initscope.report import figures as F

    stats, traces = tables["stats"], tables["traces"]
    title = f"{cfg.activation}, {cfg.init}, width {cfg.width}"
    return {
        "histograms": F.view_histograms(traces, site="pre", title=f"Pre-activation distributions by view ({title})"),
        "variance_by_depth": F.depth_profile(
            stats,
            ["network_variance", "sample_variance", "mean_spread", "layer_variance"],
            title=f"Variance of a pre-activation, by source of randomness ({title})",
            log=True,
        ),
        "sample_fraction": F.depth_profile(
            stats, ["sample_fraction"], title=f"Fraction of variance that is over samples ({title})", log=True
        ),
    }


def sections(tables: dict[str, pd.DataFrame], cfg: KaimingVarianceConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report import interactive as I

    stats, traces = tables["stats"], tables["traces"]
    return [
        Section(
            "Variance by depth, per source of randomness",
            verdict(stats),
            (I.depth_profile(stats, ["network_variance", "sample_variance", "mean_spread", "layer_variance"], log=True),),
            note="network: one input, many networks. sample: one network, many inputs (mean over R networks, error bars over networks). "
            "mean spread: variance over neurons of each neuron's mean over samples, mu(w). layer: one network and input, over the units of a layer.",
        ),
        Section(
            "How much of the variance is over samples",
            "sample_fraction = sample_variance / (sample_variance + mean_spread); near 0 the network ignores its input.",
            (I.depth_profile(stats, ["sample_fraction"], log=True),),
        ),
        Section(
            "Neuron distributions per view",
            "Network and layer views stay wide; in the sample view each neuron collapses to small fluctuations around its own mean.",
            (I.view_histograms(traces, site="pre"),),
        ),
    ]


EXPERIMENT = Experiment(
    name="kaiming-variance",
    description="Kaiming preserves a neuron's variance over weights, but its variance over samples collapses with depth",
    config=KaimingVarianceConfig,
    run=run,
    figures=figures,
    sections=sections,
    source="000_ca7ae6ba9298fa59.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
