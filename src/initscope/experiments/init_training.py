"""``init-training``: text 000's "Implications for Training", as an experiment.

Text 000 argues that the three ways of taking statistics (over weights: Kaiming; over a
minibatch of samples: batch norm; over a layer: layer norm) are not the same thing, and the
paper behind it (Luther & Seung, arXiv:1902.04942) proposes initializing a deep network with
*sample* statistics instead of weight statistics. This experiment trains one deep fully
connected ReLU network on scikit-learn's digits (bundled with the package, no download) from
five starts, several seeds each, and sets "how much of the variance depended on the input at
init" (the sample fraction) beside "how fast it trained":

* ``kaiming``: weights N(0, 2 / fan_in), zero biases;
* ``sample-statistics``: Kaiming, then layer by layer each unit's pre-activation shifted and
  scaled to mean 0 and variance 1 over a batch of training inputs (its row of [W | b] is
  divided by the unit's standard deviation and its mean subtracted from the bias);
* ``lsuv``: orthogonal weights, then layer by layer one scale per layer that brings the
  layer's pre-activation variance (over units and the batch) to 1 (Mishkin & Matas 2016:
  scale only, no shift);
* ``batchnorm``, ``layernorm``: Kaiming with the norm before every activation (no affine
  parameters: the next layer's weights and biases are there to learn any scale and shift).

All train with plain minibatch SGD on the cross-entropy, on the same split and minibatches
per seed. Digits are standardized per feature on the training split.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from initscope import training
from initscope.data import digits_split
from initscope.engine.moments import mean_stderr
from initscope.errors import InitscopeError, unknown
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section
from initscope.nets import MLP, MLPSpec, build_mlp
from initscope.palette import PALETTE
from initscope.repro import derive_seed, generator
from initscope.results import conform_stats
from initscope.training import accuracy, gradient_norms, lsuv_init_, sample_fractions, sample_statistics_init_

VARIANTS = ("kaiming", "sample-statistics", "lsuv", "batchnorm", "layernorm")
NORM_OF = {"batchnorm": "batchnorm", "layernorm": "layernorm"}
INIT_OF = {"lsuv": "orthogonal"}
COLORS = {"kaiming": PALETTE[0], "sample-statistics": PALETTE[3], "lsuv": PALETTE[2], "batchnorm": PALETTE[4], "layernorm": PALETTE[1]}


@dataclass(frozen=True)
class InitTrainingConfig:
    depth: int = 20  # deep enough that the Kaiming net's sample fraction has decayed (to ~0.1 at the last layer)
    width: int = 128  # twice the digits' 64 pixels
    variants: tuple[str, ...] = VARIANTS
    seeds: int = 5  # per variant: the spread the verdict reports (about 15 s per seed for the five starts)
    epochs: int = 12  # passes over the training split (22 minibatches each)
    batch: int = 64  # SGD minibatch, and batch norm's batch
    lr: float = 0.02  # plain SGD, one rate for every start; at 0.05 sample-statistics diverged within 5 steps (3 of 3 seeds)
    init_batch: int = 256  # training inputs the sample-statistics and LSUV inits, and the sample fraction at init, use
    test_fraction: float = 0.2  # held out for accuracy (360 of the 1797 digits)
    target_loss: float = 0.3  # "trained": the training loss (mean over an epoch's steps) first below this

    def __post_init__(self) -> None:
        for name in ("depth", "width", "seeds", "epochs"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("batch", "init_batch"):
            if getattr(self, name) < 2:
                raise InitscopeError(f"{name} must be >= 2 (a variance over the batch), got {getattr(self, name)}")
        if not self.variants:
            raise InitscopeError(f"variants must name at least one of: {', '.join(VARIANTS)}")
        for v in self.variants:
            if v not in VARIANTS:
                raise unknown("variant", v, VARIANTS)
        if len(set(self.variants)) != len(self.variants):
            raise InitscopeError(f"variants are listed twice: {', '.join(self.variants)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InitscopeError(f"lr must be a positive finite number, got {self.lr}")
        if not 0.05 <= self.test_fraction <= 0.5:
            raise InitscopeError(f"test_fraction must be in [0.05, 0.5], got {self.test_fraction}")
        if not (self.target_loss > 0 and math.isfinite(self.target_loss)):
            raise InitscopeError(f"target_loss must be a positive finite number, got {self.target_loss}")
        n_train = 1797 - round(1797 * self.test_fraction)
        if self.batch > n_train or self.init_batch > n_train:
            raise InitscopeError(f"batch and init_batch must be <= the {n_train} training digits")
        from initscope.resources import check_model, check_operations

        check_model(self.spec("kaiming"), max(self.batch, self.init_batch, 1797), what="the digits MLP")
        steps = self.epochs * self.steps_per_epoch
        macs = 64 * self.width + (self.depth - 1) * self.width**2 + 10 * self.width
        check_operations(3.0 * macs * self.batch * steps * self.seeds * len(self.variants), "use fewer epochs, seeds or variants")

    @property
    def steps_per_epoch(self) -> int:
        return max(1, (1797 - round(1797 * self.test_fraction)) // self.batch)

    def spec(self, variant: str) -> MLPSpec:
        return MLPSpec(input_dim=64, width=self.width, depth=self.depth, activation="relu", init=INIT_OF.get(variant, "kaiming-normal"),
                       bias="zero", norm=NORM_OF.get(variant, "none"), batch_size=self.batch, output_dim=10)


# --- data -------------------------------------------------------------------------------


def build(cfg: InitTrainingConfig, variant: str, k: int, seed: int, x_init: torch.Tensor) -> MLP:
    """Seed ``k``'s network for ``variant``; the data-dependent inits use ``x_init``."""
    model = build_mlp(cfg.spec(variant), seed=seed, network=k, stream=f"init-training-{INIT_OF.get(variant, 'kaiming')}")
    model.train()  # batch norm: batch statistics, as at the first step
    if variant == "sample-statistics":
        sample_statistics_init_(model, x_init)
    elif variant == "lsuv":
        lsuv_init_(model, x_init)
    return model


# --- the run ------------------------------------------------------------------------------


def train_one(cfg: InitTrainingConfig, variant: str, k: int, seed: int, data: tuple[torch.Tensor, ...]) -> tuple[list[dict], int | None]:
    """Seed ``k`` of ``variant``: tidy rows (sample fraction at init, per-step training loss,
    per-epoch held-out accuracy) and the step where training diverged (None: never)."""
    xtr, ytr, xte, yte = data
    pick = torch.randperm(len(xtr), generator=generator(seed, "init-training", "init-batch", k))[: cfg.init_batch]
    x_init, y_init = xtr[pick], ytr[pick]
    torch.manual_seed(derive_seed(seed, "init-training", "torch", k))
    model = build(cfg, variant, k, seed, x_init)
    rows: list[dict] = [dict(variant=variant, seed=k, step=0, epoch=0, layer=l, stat="sample_fraction_at_init", value=f)
                        for l, f in enumerate(sample_fractions(model, x_init), start=1)]
    rows += [dict(variant=variant, seed=k, step=0, epoch=0, layer=l, stat="grad_norm_at_init", value=g)
             for l, g in enumerate(gradient_norms(model, x_init, y_init), start=1)]
    rows.append(dict(variant=variant, seed=k, step=0, epoch=0, layer=0, stat="test_accuracy", value=accuracy(model, xte, yte)))
    logged, diverged = training.train_epochs(model, (xtr, ytr), (xte, yte), epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                                             batch=cfg.batch, lr=cfg.lr,
                                             generator=generator(seed, "init-training", "batches", k))  # the same minibatches for every variant of seed k
    return rows + [dict(variant=variant, seed=k, layer=0, **r) for r in logged], diverged


def run(cfg: InitTrainingConfig, ctx: RunContext) -> Outcome:
    t0 = time.perf_counter()
    data = digits_split(cfg.test_fraction, ctx.seed)
    rows: list[dict] = []
    diverged: dict[str, dict[int, int]] = {v: {} for v in cfg.variants}
    total, done = len(cfg.variants) * cfg.seeds, 0
    for variant in cfg.variants:
        for k in range(cfg.seeds):
            r, step = train_one(cfg, variant, k, ctx.seed, data)
            if step is not None:
                diverged[variant][k] = step
                epoch = max((int(row["epoch"]) for row in r), default=0)  # the epoch it diverged in (an int column stays int)
                rows.append(dict(variant=variant, seed=k, step=step, epoch=epoch, layer=0, stat="diverged_at_step", value=float(step)))
            rows += r
            done += 1
            ctx.progress("trainings", done, total)
    stats = conform_stats(pd.DataFrame(rows, columns=["variant", "seed", "step", "epoch", "layer", "stat", "value"]))  # per seed
    summary = summarize(stats, diverged, cfg)
    return Outcome(tables={"stats": stats}, summary=summary, timings={"training_s": time.perf_counter() - t0})


# --- summary and verdict (from the table) ---------------------------------------------------


def diverged_from(stats: pd.DataFrame) -> dict[str, dict[int, int]]:
    """variant -> {seed: step} of the trainings whose loss or weights stopped being finite
    (the table's ``diverged_at_step`` rows)."""
    d = stats[stats.stat == "diverged_at_step"]
    return {v: {int(k): int(s) for k, s in zip(g.seed, g.value)} for v, g in d.groupby("variant", sort=False)}


def _epoch_losses(stats: pd.DataFrame, variant: str, seeds: list[int]) -> pd.DataFrame:
    """Mean training loss per epoch, one column per seed."""
    t = stats[(stats.variant == variant) & (stats.stat == "train_loss") & stats.seed.isin(seeds)]
    return t.groupby(["epoch", "seed"]).value.mean().unstack("seed")


def _nan_to_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def summarize(stats: pd.DataFrame, diverged: dict[str, dict[int, int]], cfg: InitTrainingConfig) -> dict[str, Any]:
    """``variants``: per variant ``loss`` (mean over the seeds that did not diverge, per step),
    ``loss_stderr``, ``accuracy`` (per epoch, epoch 0 at init), ``accuracy_stderr``, ``seeds``
    (those averaged), ``diverged`` (seed -> step), ``sample_fraction_at_init`` (per layer),
    ``grad_norm_at_init`` (per layer, |dL/dW_l| of the first step, mean over seeds),
    ``epochs_to_target`` (per seed: the first epoch whose mean training loss is below
    ``target_loss``; None if never), ``final_accuracy`` and its stderr."""
    out: dict[str, Any] = {}
    for v in sorted(set(stats.variant), key=list(VARIANTS).index):
        seeds = sorted(set(stats[stats.variant == v].seed) - set(diverged.get(v, {})))
        d = stats[(stats.variant == v) & stats.seed.isin(seeds)]
        loss = d[d.stat == "train_loss"].pivot_table(index="step", columns="seed", values="value")
        acc = d[d.stat == "test_accuracy"].pivot_table(index="epoch", columns="seed", values="value")
        sf = stats[(stats.variant == v) & (stats.stat == "sample_fraction_at_init")].groupby("layer").value.mean()
        gn = stats[(stats.variant == v) & (stats.stat == "grad_norm_at_init")].groupby("layer").value.mean()
        per_epoch = _epoch_losses(stats, v, seeds)
        to_target = [next((int(e) for e, val in per_epoch[s].items() if val < cfg.target_loss), None) for s in per_epoch.columns]
        final = acc.iloc[-1].to_numpy() if len(acc) else np.array([])
        out[v] = {
            "loss": [_nan_to_none(x) for x in loss.mean(axis=1)],
            "loss_stderr": [_nan_to_none(x) for x in (loss.std(axis=1, ddof=1) / math.sqrt(max(len(seeds), 1)))],
            "accuracy": [_nan_to_none(x) for x in acc.mean(axis=1)],
            "accuracy_stderr": [_nan_to_none(x) for x in (acc.std(axis=1, ddof=1) / math.sqrt(max(len(seeds), 1)))],
            "seeds": seeds,
            "diverged": {str(k): s for k, s in diverged.get(v, {}).items()},
            "sample_fraction_at_init": [_nan_to_none(x) for x in sf],
            "grad_norm_at_init": [_nan_to_none(x) for x in gn],
            "epochs_to_target": to_target,
            "final_accuracy": _nan_to_none(mean_stderr(final)[0]) if len(final) else None,
            "final_accuracy_stderr": _nan_to_none(mean_stderr(final)[1]) if len(final) > 1 else None,
            "mean_train_loss": _nan_to_none(float(per_epoch.to_numpy().mean())) if per_epoch.size else None,
        }
    summary = {"variants": out, "target_loss": cfg.target_loss, "steps_per_epoch": cfg.steps_per_epoch, "epochs": cfg.epochs}
    summary["verdict"] = verdict(summary)
    return summary


def _speed(v: dict[str, Any], epochs: int) -> tuple[float, float, int]:
    """Epochs to the target (never: epochs + 1), mean and stderr over seeds, and how many reached it."""
    e = [x if x is not None else epochs + 1 for x in v["epochs_to_target"]]
    if not e:
        return math.inf, math.nan, 0
    m, se = mean_stderr(np.array(e))
    return m, se, sum(x is not None for x in v["epochs_to_target"])


def verdict(summary: dict[str, Any]) -> str:
    """Which start trained fastest, by how much, with what spread; sample statistics against Kaiming, honestly."""
    vs, epochs, target = summary["variants"], summary["epochs"], summary["target_loss"]
    if not vs:
        return "nothing trained."
    ranked = sorted(vs, key=lambda v: (_speed(vs[v], epochs)[0], vs[v]["mean_train_loss"] or math.inf))
    parts = []
    for name in ranked:
        m, se, reached = _speed(vs[name], epochs)
        n = len(vs[name]["epochs_to_target"])
        acc, acc_se = vs[name]["final_accuracy"], vs[name]["final_accuracy_stderr"]
        speed = (f"training loss below {target:g} after {m:.3g} ± {se:.2g} epochs ({reached}/{n} seeds)" if reached == n else
                 f"{reached}/{n} seeds reached training loss {target:g} within {epochs} epochs")
        accs = f"held-out accuracy {acc:.3f}" + (f" ± {acc_se:.3f}" if acc_se is not None else "") if acc is not None else "no accuracy"
        div = ("; " + ", ".join(f"seed {k} diverged at step {s}" for k, s in vs[name]["diverged"].items()) + " (left out of the means)"
               if vs[name]["diverged"] else "")
        parts.append(f"{name}: {speed}, {accs}{div}")
    text = f"Fastest to a training loss of {target:g}: {ranked[0]}. " + "; ".join(parts) + "."
    if "kaiming" in vs and "sample-statistics" in vs:
        (mk, sk, _), (ms, ss, _) = _speed(vs["kaiming"], epochs), _speed(vs["sample-statistics"], epochs)
        gap, noise = mk - ms, math.hypot(sk if math.isfinite(sk) else 0.0, ss if math.isfinite(ss) else 0.0)
        if not (math.isfinite(gap) and gap > 2 * noise and gap > 0):
            text += (" Sample-statistics init does not train measurably faster than Kaiming at these settings"
                     f" ({ms:.3g} vs {mk:.3g} epochs to the target, seed spread ± {noise:.2g}).")
        else:
            text += f" Sample-statistics init reaches the target {gap:.3g} epochs sooner than Kaiming (± {noise:.2g} over seeds)."
    return text


def report(tables: dict[str, pd.DataFrame], cfg: InitTrainingConfig, meta: dict[str, Any]) -> list[Section]:
    from initscope.report.figures import init_training as fig

    stats = tables["stats"]
    summary = summarize(stats, diverged_from(stats), cfg)  # from the table, not read back from run.json
    chart = fig.training(stats, summary, COLORS, depth=cfg.depth, epochs=cfg.epochs,
                         title=f"Init and training: {cfg.depth}-layer ReLU MLP, width {cfg.width}, SGD lr {cfg.lr:g}, digits, {cfg.seeds} seeds")
    sf = "; ".join(f"{v} {d['sample_fraction_at_init'][-1]:.2f}" for v, d in summary["variants"].items()
                   if d["sample_fraction_at_init"] and d["sample_fraction_at_init"][-1] is not None)
    grads = "; ".join(f"{v} {d['grad_norm_at_init'][0]:.3g}" for v, d in summary["variants"].items()
                      if d.get("grad_norm_at_init") and d["grad_norm_at_init"][0] is not None)
    return [Section(
        "Implications for training",
        summary["verdict"],
        (chart,),
        note=("Text 000 asks whether the decay of the sample fraction matters for training. Each start trains the same "
              f"{cfg.depth}-layer ReLU network on the same minibatches per seed. Sample fraction at init at the last layer "
              f"(over {cfg.init_batch} training digits): {sf}. Sample statistics reset every unit to mean 0 over the batch, so "
              "its sample fraction is 1 by construction; batch norm keeps it at a constant (measured at the pre-activation, "
              "before the next norm); Kaiming, LSUV and layer norm let it decay. Whether that buys speed is what the curves show; "
              "the verdict says so with the spread over seeds. Seeds whose loss stopped being finite are named and left out. "
              f"The first step's gradient on the first layer's weights, |dL/dW_1| at init: {grads}. A start that makes the "
              "forward pass look tidy can still hand the first layers a much larger gradient (the backward pass multiplies "
              "every layer's gain), which is what a learning rate has to survive. One learning rate serves every start; the "
              "ranking can change with it (`--set lr=...`)."),
    )]


EXPERIMENT = Experiment(
    name="init-training",
    description="Deep ReLU MLP trained on digits from Kaiming, sample-statistics, LSUV, batch-norm and layer-norm starts",
    config=InitTrainingConfig,
    run=run,
    report=report,
    source="000_ca7ae6ba9298fa59.txt",
)

from initscope.experiments import register  # noqa: E402

register(EXPERIMENT)
