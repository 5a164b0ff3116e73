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
from torch import nn

from initscope.activations import get_activation
from initscope.data import load_digits
from initscope.palette import PALETTE
from initscope import training
from initscope.errors import InitscopeError
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLPSpec, build_mlp
from initscope.repro import generator, seed_all
from initscope.results import conform_stats
from initscope.symmetry import distinct_units_per_layer, unit_spread_per_layer, weight_ranks

VARIANTS = ("constant", "constant-dropout", "random")


@dataclass(frozen=True)
class ConstantInitConfig:
    widths: tuple[int, ...] = (32, 32)  # two hidden layers (64 -> 32 -> 32 -> 10): the symmetry must survive in each
    activation: str = "relu"  # any elementwise activation keeps the symmetry; relu is the usual choice
    random_init: str = "kaiming-normal"  # variant (c): the standard init for relu
    dropout: float = 0.2  # variant (b): each unit gets its own mask, which breaks the tie
    steps: int = 300  # "a few hundred steps": ~1 s for the three variants on a CPU
    batch: int = 128  # minibatch SGD, as in the text; ~14 batches per pass over the 1797 digits
    lr: float = 0.05  # 0.1 overshoots from the constant init (loss spikes to ~90 before recovering)
    rtol: float = 1e-6  # units closer than rtol * (1 + max |w|) count as one; float32 rounding is ~1e-7
    seed_check_steps: int = 20  # length of each of the four seed_all demonstration runs

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "seed_check_steps"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.dropout < 1:
            raise InitscopeError(f"dropout must be in (0, 1) for the dropout variant, got {self.dropout}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InitscopeError(f"lr must be a positive number, got {self.lr}")
        if not (self.rtol >= 0 and math.isfinite(self.rtol)):
            raise InitscopeError(f"rtol must be a finite number >= 0, got {self.rtol}")
        from initscope.resources import check_model

        check_model(self.spec("random"), 1797, what="the digits MLP")  # every step evaluates all 1797 digits

    def spec(self, variant: str) -> MLPSpec:
        init = "constant" if variant.startswith("constant") else self.random_init
        return MLPSpec(input_dim=64, widths=self.widths, activation=self.activation, init=init, bias="zero",
                       output_dim=10, dropout=self.dropout if variant == "constant-dropout" else 0.0)


def train(cfg: ConstantInitConfig, variant: str, x: torch.Tensor, y: torch.Tensor, seed: int, steps: int | None = None) -> pd.DataFrame:
    """SGD on cross-entropy. One row per step (measured before the step; the last row after
    the last step): full-data loss and, per hidden layer, distinct units, unit spread and
    numerical rank of the incoming weights."""
    steps = cfg.steps if steps is None else steps
    model = build_mlp(cfg.spec(variant), seed=seed)
    torch.manual_seed(seed)  # dropout masks come from the global generator

    def measure(m: nn.Module) -> dict[str, Any]:
        return dict(
            distinct_units=distinct_units_per_layer(m, rtol=cfg.rtol),
            unit_spread=unit_spread_per_layer(m),
            rank=weight_ranks(m)[:-1],  # hidden layers only, like the other two
        )

    hist = training.train(model, x, y, steps=steps, lr=cfg.lr, batches=training.minibatches(x.shape[0], cfg.batch, generator(seed, "batches")),
                          measure=measure)
    # a step whose loss or weights are no longer finite ends training and is not measured
    return hist.assign(variant=variant).reindex(columns=["variant", "step", "loss", "distinct_units", "unit_spread", "rank", "batch_loss", "diverged"])


class _Elementwise(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def global_rng_training(cfg: ConstantInitConfig, x: torch.Tensor, y: torch.Tensor, steps: int) -> np.ndarray:
    """Minibatch losses of a run whose every random draw comes from the global generators
    that :func:`initscope.repro.seed_all` seeds: torch's default ``nn.Linear`` init, numpy
    minibatch indices, dropout masks. Reproducible only if ``seed_all`` was called first."""
    dims = (x.shape[1], *cfg.widths)
    fn = get_activation(cfg.activation).fn
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(fan_in, fan_out), _Elementwise(fn), nn.Dropout(cfg.dropout)]
    model = nn.Sequential(*layers, nn.Linear(dims[-1], 10))

    def numpy_batches(step: int) -> torch.Tensor:
        return torch.from_numpy(np.random.randint(0, x.shape[0], cfg.batch))

    hist = training.train(model, x, y, steps=steps, lr=cfg.lr, batches=numpy_batches, evaluate=False)
    return hist.batch_loss.to_numpy()[:-1]


def seed_all_check(cfg: ConstantInitConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, bool]:
    """Text 003's ``seed_all``, demonstrated: the same seed gives bit-identical runs, another
    seed does not, and a rerun without reseeding does not either (so the check is not vacuous)."""
    runs = {}
    seed_all(seed)
    runs["first"] = global_rng_training(cfg, x, y, cfg.seed_check_steps)
    runs["unseeded_rerun"] = global_rng_training(cfg, x, y, cfg.seed_check_steps)
    seed_all(seed)
    runs["same_seed"] = global_rng_training(cfg, x, y, cfg.seed_check_steps)
    seed_all(seed + 1)
    runs["other_seed"] = global_rng_training(cfg, x, y, cfg.seed_check_steps)
    return {
        "same_seed_bit_identical": bool(np.array_equal(runs["first"], runs["same_seed"])),
        "other_seed_differs": bool(not np.array_equal(runs["first"], runs["other_seed"])),
        "unseeded_rerun_differs": bool(not np.array_equal(runs["first"], runs["unseeded_rerun"])),
    }


PER_LAYER = ("distinct_units", "unit_spread", "rank")


def run(cfg: ConstantInitConfig, ctx: RunContext) -> Outcome:
    t0 = time.perf_counter()
    x, y = load_digits()
    frames = []
    for k, variant in enumerate(VARIANTS):
        frames.append(train(cfg, variant, x, y, ctx.seed))
        ctx.progress("variants", k + 1, len(VARIANTS))
    hist = pd.concat(frames, ignore_index=True)
    diverged = {v: (int(hist[(hist.variant == v) & hist.diverged].step.min()) if ((hist.variant == v) & hist.diverged).any() else None)
                for v in VARIANTS}
    hist = hist[~hist.diverged.astype(bool)].reset_index(drop=True)
    # tidy: one row per variant, step, hidden layer (layer 0: the network's loss)
    n_layers = len(cfg.widths)
    per_layer = [
        dict(variant=r.variant, step=r.step, layer=l + 1, stat=stat, value=float(getattr(r, stat)[l]))
        for r in hist.itertuples() for stat in PER_LAYER for l in range(n_layers)
    ]
    losses = [dict(variant=r.variant, step=r.step, layer=0, stat="loss", value=r.loss) for r in hist.itertuples()]
    stats = conform_stats(pd.DataFrame(per_layer + losses, columns=["variant", "step", "layer", "stat", "value"]))  # one network
    t1 = time.perf_counter()
    seed_check = seed_all_check(cfg, x, y, ctx.seed)
    seed_s = time.perf_counter() - t1
    checks = pd.DataFrame([dict(variant="all", check=k, value=float(v)) for k, v in seed_check.items()]
                          + [dict(variant=v, check="diverged_at_step", value=math.nan if s is None else float(s)) for v, s in diverged.items()],
                          columns=["variant", "check", "value"])
    tables = {"stats": stats, "checks": checks}
    summary = {**summary_from_tables(tables), "widths": list(cfg.widths)}  # the --json keys, from the tables
    return Outcome(tables=tables, summary=summary, timings={"training_s": t1 - t0, "seed_check_s": seed_s})


def summary_from_tables(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The summary (``--json``, what :func:`verdict` reads) from the run's tables alone (``stats`` and ``checks``)."""
    stats, checks = tables["stats"], tables.get("checks")
    out: dict[str, Any] = {"variants": {}, "final": {}, "seed_check": {}, "diverged_at_step": {}}
    for v in dict.fromkeys(stats.variant):
        s = stats[stats.variant == v]
        per = {stat: s[s.stat == stat].pivot_table(index="step", columns="layer", values="value").sort_index() for stat in PER_LAYER}
        out["variants"][v] = {"distinct_units": [list(map(int, r)) for r in per["distinct_units"].to_numpy()],
                              "loss": s[s.stat == "loss"].sort_values("step").value.tolist()}
        out["final"][v] = {"unit_spread": list(map(float, per["unit_spread"].to_numpy()[-1])), "rank": list(map(int, per["rank"].to_numpy()[-1]))}
    if checks is not None:
        for r in checks.itertuples():
            if r.check == "diverged_at_step":
                out["diverged_at_step"][r.variant] = None if not math.isfinite(r.value) else int(r.value)
            else:
                out["seed_check"][r.check] = bool(r.value)
    return out


def verdict(summary: dict[str, Any]) -> str:
    v, final = summary["variants"], summary.get("final", {})
    parts = []
    for name in VARIANTS:
        d = v[name]["distinct_units"]
        part = f"{name}: {d[0]} distinct units at step 0, {d[-1]} after {len(d) - 1} steps"
        if name in final:
            spread = ", ".join(f"{s:.2g}" for s in final[name]["unit_spread"])
            part += f" (unit spread {spread}; rank {final[name]['rank']})"
        parts.append(part + f", loss {v[name]['loss'][0]:.3f} -> {v[name]['loss'][-1]:.3f}")
    for name, step in (summary.get("diverged_at_step") or {}).items():
        if step is not None:
            parts.append(f"{name}: training diverged at step {step} (loss or weights no longer finite); lower lr")
    sc = summary["seed_check"]
    if not sc:  # a run directory from before the checks table
        return "; ".join(parts) + "."
    parts.append(
        f"seed_all: same seed bit-identical {sc['same_seed_bit_identical']}, another seed differs {sc['other_seed_differs']}"
        + (f", a rerun without reseeding differs {sc['unseeded_rerun_differs']}" if "unseeded_rerun_differs" in sc else "")
    )
    return "; ".join(parts) + "."


COLORS = {"constant": PALETTE[3], "constant-dropout": PALETTE[1], "random": PALETTE[0]}


def report(tables: dict[str, pd.DataFrame], cfg: ConstantInitConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.figures import constant_init as fig

    chart = fig.symmetry_under_training(tables["stats"], COLORS)
    summary = summary_from_tables(tables)  # from the tables, not read back from run.json
    return [
        Section(
            "Symmetry under training",
            verdict(summary) if summary else "",
            (chart,),
            note="distinct units: rows of [W | b] equal within rtol count as one. unit spread: how far the units are from "
            "identical (0: all the same). rank: numerical rank of the incoming weight matrix.",
        )
    ]


EXPERIMENT = Experiment(
    name="constant-init",
    description="Constant init keeps one distinct unit per layer under SGD; dropout breaks the symmetry",
    config=ConstantInitConfig,
    run=run,
    report=report,
    source="003_5c5d71341f241ce8.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
