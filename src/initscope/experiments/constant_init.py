"""``constant-init``: text 003's constant initialization, which SGD can never break.

The same MLP trained with minibatch SGD on scikit-learn's digits (bundled with the
package, no download) from (a) a constant init, (b) a constant init with dropout,
(c) a random init. Claim: (a) keeps one distinct unit per hidden layer forever,
(b) breaks the symmetry (each unit gets its own dropout mask), (c) starts at full width.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from initscope.errors import InitscopeError
from initscope.experiments.base import Experiment, Outcome, RunContext, Section
from initscope.nets import MLPSpec, build_mlp
from initscope.repro import generator, seed_all
from initscope.symmetry import distinct_units_per_layer

VARIANTS = ("constant", "constant-dropout", "random")


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8x8 digits of scikit-learn (read from the installed package), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target, dtype=torch.long)


@dataclass(frozen=True)
class ConstantInitConfig:
    widths: tuple[int, ...] = (32, 32)  # two hidden layers: symmetry must hold in each
    activation: str = "relu"
    random_init: str = "kaiming-normal"  # variant (c)
    dropout: float = 0.2  # variant (b): each unit gets its own mask, which breaks the tie
    steps: int = 300  # "a few hundred steps"
    batch: int = 128
    lr: float = 0.05  # 0.1 overshoots from the constant init (loss spikes to ~90 before recovering)
    rtol: float = 1e-6  # units closer than rtol * (1 + max |w|) count as one

    def __post_init__(self) -> None:
        for name in ("steps", "batch"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.dropout < 1:
            raise InitscopeError(f"dropout must be in (0, 1) for the dropout variant, got {self.dropout}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InitscopeError(f"lr must be a positive number, got {self.lr}")
        self.spec("random")

    def spec(self, variant: str) -> MLPSpec:
        init = "constant" if variant.startswith("constant") else self.random_init
        return MLPSpec(input_dim=64, widths=self.widths, activation=self.activation, init=init, bias="zero",
                       output_dim=10, dropout=self.dropout if variant == "constant-dropout" else 0.0)


def train(cfg: ConstantInitConfig, variant: str, x: torch.Tensor, y: torch.Tensor, seed: int, steps: int | None = None) -> pd.DataFrame:
    """SGD on cross-entropy; per step (before it) the full-data loss and distinct units per hidden layer."""
    steps = cfg.steps if steps is None else steps
    model = build_mlp(cfg.spec(variant), seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    g = generator(seed, "batches")
    torch.manual_seed(seed)  # dropout masks come from the global generator
    rows = []
    for step in range(steps + 1):
        model.eval()
        with torch.no_grad():
            loss = float(torch.nn.functional.cross_entropy(model(x), y))
        rows.append(dict(variant=variant, step=step, loss=loss, distinct_units=distinct_units_per_layer(model, rtol=cfg.rtol)))
        if step == steps:
            break
        model.train()
        idx = torch.randint(0, x.shape[0], (cfg.batch,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return pd.DataFrame(rows)


def run(cfg: ConstantInitConfig, ctx: RunContext) -> Outcome:
    t0 = time.perf_counter()
    x, y = load_digits()
    frames = []
    for k, variant in enumerate(VARIANTS):
        frames.append(train(cfg, variant, x, y, ctx.seed))
        ctx.progress("variants", k + 1, len(VARIANTS))
    hist = pd.concat(frames, ignore_index=True)
    # tidy: one row per variant, step, hidden layer
    long = hist.explode("distinct_units").reset_index(drop=True)
    long["layer"] = long.groupby(["variant", "step"]).cumcount() + 1
    stats = long.rename(columns={"distinct_units": "value"}).assign(stat="distinct_units")[["variant", "step", "layer", "stat", "value"]]
    losses = hist[["variant", "step", "loss"]].rename(columns={"loss": "value"}).assign(stat="loss", layer=0)
    stats = pd.concat([stats, losses[["variant", "step", "layer", "stat", "value"]]], ignore_index=True)
    stats["value"] = stats["value"].astype(float)
    # seed_all as text 003 describes it: same seed, bit-identical; another seed, not
    checks = []
    for s in (ctx.seed, ctx.seed, ctx.seed + 1):
        seed_all(s)
        checks.append(train(cfg, "random", x, y, s, steps=20).loss.to_numpy())
    summary = {
        "variants": {
            v: {"distinct_units": [list(map(int, d)) for d in hist[hist.variant == v].distinct_units], "loss": hist[hist.variant == v].loss.tolist()}
            for v in VARIANTS
        },
        "widths": list(cfg.widths),
        "seed_check": {"same_seed_bit_identical": bool(np.array_equal(checks[0], checks[1])), "other_seed_differs": bool(not np.array_equal(checks[0], checks[2]))},
    }
    return Outcome(tables={"stats": stats}, summary=summary, timings={"training_s": time.perf_counter() - t0})


def verdict(summary: dict[str, Any]) -> str:
    v = summary["variants"]
    parts = []
    for name in VARIANTS:
        d = v[name]["distinct_units"]
        parts.append(f"{name}: {d[0]} distinct units at step 0, {d[-1]} after {len(d) - 1} steps, loss {v[name]['loss'][0]:.3f} -> {v[name]['loss'][-1]:.3f}")
    sc = summary["seed_check"]
    parts.append(f"same seed bit-identical: {sc['same_seed_bit_identical']}, another seed differs: {sc['other_seed_differs']}")
    return "; ".join(parts) + "."


def figures(tables: dict[str, pd.DataFrame], cfg: ConstantInitConfig, meta: dict[str, Any]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    stats = tables["stats"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.87, bottom=0.13, wspace=0.22)
    styles = {"constant": "C3", "constant-dropout": "C1", "random": "C0"}
    for variant, color in styles.items():
        s = stats[(stats.variant == variant) & (stats.stat == "distinct_units")]
        for layer, ls in zip(sorted(s.layer.unique()), ("-", "--", ":", "-.")):
            t = s[s.layer == layer].sort_values("step")
            axes[0].plot(t.step, t.value, ls=ls, color=color, label=f"{variant}, hidden layer {layer}")
        l = stats[(stats.variant == variant) & (stats.stat == "loss")].sort_values("step")
        axes[1].plot(l.step, l.value, color=color, label=variant)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("distinct hidden units")
    axes[1].set_ylabel("training loss (cross-entropy, full data)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("SGD step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Constant init is never broken by SGD; dropout breaks it (digits)", fontsize=10)
    return {"constant_init": fig}


def sections(tables: dict[str, pd.DataFrame], cfg: ConstantInitConfig, meta: dict[str, Any]) -> list[Section]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    stats = tables["stats"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["distinct hidden units", "training loss"])
    for variant in VARIANTS:
        s = stats[(stats.variant == variant) & (stats.stat == "distinct_units")]
        for layer in sorted(s.layer.unique()):
            t = s[s.layer == layer].sort_values("step")
            fig.add_trace(go.Scatter(x=t.step, y=t.value, name=f"{variant}, layer {layer}", mode="lines"), row=1, col=1)
        l = stats[(stats.variant == variant) & (stats.stat == "loss")].sort_values("step")
        fig.add_trace(go.Scatter(x=l.step, y=l.value, name=f"{variant} loss", mode="lines"), row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=420, template="plotly_white")
    summary = meta.get("summary")
    return [Section("Symmetry under training", verdict(summary) if summary else "", (fig,))]


EXPERIMENT = Experiment(
    name="constant-init",
    description="Constant init keeps one distinct unit per layer under SGD; dropout breaks the symmetry",
    config=ConstantInitConfig,
    run=run,
    figures=figures,
    sections=sections,
    source="003_5c5d71341f241ce8.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
