"""``permutation-symmetry``: text 003's three claims, checked numerically.

Random MLPs, random permutations of every hidden layer's units, a few SGD steps on a
small regression task: the outputs agree, the gradients are the permuted gradients,
and the updated permuted network is the permutation of the updated original — to
rounding, in float32 and in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from initscope.errors import InitscopeError, unknown
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLPSpec, build_mlp
from initscope.repro import generator
from initscope.results import conform_stats
from initscope.symmetry import check_permutation_symmetry, random_permutations

from initscope.engine.probe import DTYPES  # one table of the dtypes runs take
CLAIMS = ("forward", "grad", "update")


@dataclass(frozen=True)
class PermutationSymmetryConfig:
    input_dim: int = 2  # text 003's running example: 2 features
    widths: tuple[int, ...] = (16, 16)  # two hidden layers, so that consistency across layers is tested
    output_dim: int = 1  # one regression output
    activation: str = "tanh"  # any elementwise activation commutes with a permutation; tanh has no exact zeros to hide behind
    init: str = "kaiming-normal"  # random weights: every unit different, so a wrong permutation shows
    bias: str = "normal"  # non-zero biases, so that their permutation is checked too
    sigma_b: float = 0.5  # biases of the same order as W x, not negligible
    networks: int = 5  # random networks, each with its own random permutations
    steps: int = 5  # "a few SGD steps"
    lr: float = 0.05  # large enough to move the weights, small enough not to diverge on sin regression
    samples: int = 64  # regression data y = sin(x_1 + x_2 + ...)
    dtype: str = "float64"  # the dtype whose differences --json reports (both are measured): at ~1e-16 they are unmistakably rounding

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise unknown("dtype", self.dtype, DTYPES)
        for name in ("networks", "steps", "samples", "output_dim"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InitscopeError(f"lr must be a positive number, got {self.lr}")
        self.spec()
        from initscope.resources import check_model

        check_model(self.spec(), self.samples, item=8, what="the permuted MLP")

    def spec(self) -> MLPSpec:
        return MLPSpec(input_dim=self.input_dim, widths=self.widths, activation=self.activation, init=self.init,
                       bias=self.bias, sigma_b=self.sigma_b, output_dim=self.output_dim)


def run(cfg: PermutationSymmetryConfig, ctx: RunContext) -> Outcome:
    spec = cfg.spec()
    g = generator(ctx.seed, "data")
    x64 = torch.randn(cfg.samples, cfg.input_dim, generator=g, dtype=torch.float64)
    y64 = torch.sin(x64.sum(dim=1, keepdim=True)).expand(-1, cfg.output_dim).contiguous()
    tables = []
    total = cfg.networks * len(DTYPES)
    for r in range(cfg.networks):
        model = build_mlp(spec, seed=ctx.seed, network=r, dtype=torch.float64)
        perms = random_permutations(model, generator=generator(ctx.seed, "perm", r))
        for i, (name, dt) in enumerate(DTYPES.items()):
            df = check_permutation_symmetry(model, x64.to(dt), y64.to(dt), perms, steps=cfg.steps, lr=cfg.lr)
            df["network"], df["dtype"] = r, name
            tables.append(df)
            ctx.progress("networks", r * len(DTYPES) + i + 1, total)
    # the control: network 0 with the next layer's columns left alone, which the check must catch
    model = build_mlp(spec, seed=ctx.seed, network=0, dtype=torch.float64)
    perms = random_permutations(model, generator=generator(ctx.seed, "perm", 0))
    df = check_permutation_symmetry(model, x64, y64, perms, steps=cfg.steps, lr=cfg.lr, consistent=False)
    df["network"], df["dtype"] = 0, "float64"
    stats = pd.concat(tables, ignore_index=True).assign(permutation="consistent")
    stats = pd.concat([stats, df.assign(permutation="inconsistent")], ignore_index=True)
    stats["stat"] = stats.pop("claim") + "_max_abs_diff"  # one exact check per row: stderr NaN, n 1
    stats = conform_stats(stats.rename(columns={"max_abs_diff": "value"}))
    summary: dict[str, Any] = {"dtype": cfg.dtype}
    by_dtype = {}
    consistent = stats[stats.permutation == "consistent"]
    for name in DTYPES:
        sub = consistent[consistent.dtype == name]
        by_dtype[name] = {f"{c}_max_abs_diff": float(sub[sub.stat == f"{c}_max_abs_diff"].value.max()) for c in CLAIMS}
    summary.update(by_dtype[cfg.dtype])
    summary["by_dtype"] = by_dtype
    summary["eps"] = {name: float(torch.finfo(dt).eps) for name, dt in DTYPES.items()}
    control = stats[stats.permutation == "inconsistent"]
    summary["inconsistent_float64"] = {f"{c}_min_abs_diff": float(control[control.stat == f"{c}_max_abs_diff"].groupby("step").value.max().min()) for c in CLAIMS}
    return Outcome(tables={"stats": stats}, summary=summary)


def upgraded(stats: pd.DataFrame) -> pd.DataFrame:
    """A run directory written before the stats schema (``claim``, ``max_abs_diff``) read as one
    written after it, so ``initscope report`` redraws it."""
    if "claim" not in stats:
        return stats
    return conform_stats(stats.assign(stat=stats.claim + "_max_abs_diff").drop(columns="claim").rename(columns={"max_abs_diff": "value"}))


def verdict(stats: pd.DataFrame) -> str:
    """From the table: the largest difference per claim and dtype, and the control's smallest."""
    control, stats = _control(stats), _consistent(stats)
    parts = []
    for name in DTYPES:
        sub = stats[stats.dtype == name]
        if len(sub):
            v = {c: float(sub[sub.stat == f"{c}_max_abs_diff"].value.max()) for c in CLAIMS}
            parts.append(f"{name}: outputs {v['forward']:.1e}, gradients {v['grad']:.1e}, updates {v['update']:.1e}")
    out = "; ".join(parts)
    if out:
        out += " — all at rounding level: the permuted network is the same function and trains identically."
    if out and len(control):
        smallest = float(control[control.stat == "forward_max_abs_diff"].groupby("step").value.max().min())
        out += f" Control: permuting a layer's units without the next layer's columns changes the outputs by at least {smallest:.2g} at every step."
    return out


def report(tables: dict[str, pd.DataFrame], cfg: PermutationSymmetryConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.figures.permutation_symmetry import checks

    stats = upgraded(tables["stats"])
    chart = checks(_consistent(stats), _control(stats), {name: float(torch.finfo(dt).eps) for name, dt in DTYPES.items()})
    return [Section("Three claims, checked", verdict(stats), (chart,), note="Largest |difference| over networks and layers, per SGD step.")]


def _consistent(stats: pd.DataFrame) -> pd.DataFrame:
    return stats[stats.permutation == "consistent"] if "permutation" in stats else stats


def _control(stats: pd.DataFrame) -> pd.DataFrame:
    return stats[stats.permutation == "inconsistent"] if "permutation" in stats else stats.iloc[:0]


EXPERIMENT = Experiment(
    name="permutation-symmetry",
    description="Permuting hidden units leaves outputs unchanged, permutes gradients, and commutes with SGD",
    config=PermutationSymmetryConfig,
    run=run,
    report=report,
    source="003_5c5d71341f241ce8.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
