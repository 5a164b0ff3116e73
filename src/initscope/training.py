"""The one training loop: minibatch steps, the loss, a divergence check, measurements.

The engine owns the forward passes that *measure* a network at initialization; what
happens to it under training happens here, for every experiment that trains
(``constant-init``, ``init-training`` and text 003's ``seed_all`` demonstration today), with
the data-dependent inits (sample statistics, LSUV's rescaling) and the measurements taken at
the start of training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn

if TYPE_CHECKING:
    from initscope.nets import MLP

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batches = Callable[[int], torch.Tensor]  # step -> indices of that step's minibatch


def minibatches(n: int, batch: int, generator: torch.Generator | None = None) -> Batches:
    """Minibatches of ``batch`` indices drawn with replacement from ``range(n)`` by ``generator``."""

    def draw(step: int) -> torch.Tensor:
        return torch.randint(0, n, (batch,), generator=generator)

    return draw


def _finite_parameters(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    batches: Batches,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 0.1,
    loss_fn: Loss = nn.functional.cross_entropy,
    measure: Callable[[nn.Module], dict[str, Any]] | None = None,
    evaluate: bool = True,
) -> pd.DataFrame:
    """Train ``model`` for ``steps`` minibatch steps (SGD at ``lr`` unless ``optimizer``).

    One row per step k = 0..steps: ``batch_loss`` is the loss of step k's minibatch (NaN
    on the last row, which follows the last step); with ``evaluate``, ``loss`` is the
    full-data loss in eval mode *before* step k, and ``measure(model)`` adds columns at
    the same moment. Training stops at the first non-finite loss; that row has
    ``diverged`` True. Dropout masks come from torch's global generator.
    """
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    rows: list[dict[str, Any]] = []
    for step in range(steps + 1):
        row: dict[str, Any] = {"step": step}
        if evaluate:
            model.eval()
            with torch.no_grad():
                row["loss"] = float(loss_fn(model(x), y))
        row["diverged"] = evaluate and not (math.isfinite(row["loss"]) and _finite_parameters(model))
        if evaluate and measure is not None and not row["diverged"]:  # nothing to measure in non-finite weights
            row.update(measure(model))
        row["batch_loss"] = math.nan
        rows.append(row)
        if step == steps or row["diverged"]:
            break
        model.train()
        idx = batches(step)
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        row["batch_loss"] = float(loss.detach())
        if not math.isfinite(row["batch_loss"]):
            row["diverged"] = True
            break
    return pd.DataFrame(rows)


# --- data-dependent inits and measurements of a network about to train (init-training) ---------


@torch.no_grad()
def sample_statistics_init_(model: MLP, x: torch.Tensor) -> MLP:
    """Layer by layer: each unit's pre-activation to mean 0, variance 1 over the inputs ``x``
    (W_i <- W_i / s_i, b_i <- (b_i - m_i) / s_i; a unit with no variance is only shifted)."""
    for layer, linear in enumerate(model.hidden, start=1):
        y = model.preactivations(x)[layer - 1]
        m, s = y.mean(0), y.std(0, unbiased=False)
        s = torch.where(s > 0, s, torch.ones_like(s))
        linear.weight.div_(s.unsqueeze(1))
        linear.bias.sub_(m).div_(s)
    return model


def lsuv_rescale_(weights: list[torch.Tensor], measure: Callable[[int], float], *, tol: float, max_passes: int,
                  target: Callable[[int], float] = lambda k: 1.0) -> int:
    """LSUV's second step (Mishkin & Matas 2016), the one loop initscope has: in order, rescale
    weight k until ``measure(k)`` (a variance of its layer's output, after a forward pass) is
    ``target(k)`` within ``tol`` (relative), at most ``max_passes`` measurements per weight;
    a variance that is 0 or not finite is left alone. Returns the forward passes used.
    Used by init-training's ``lsuv`` start and by ``inspect --fix lsuv``."""
    passes = 0
    with torch.no_grad():
        for k, w in enumerate(weights):
            for _ in range(max_passes):
                v = measure(k)
                passes += 1
                if not math.isfinite(v) or v <= 0 or abs(v / target(k) - 1) < tol:
                    break
                w.div_(math.sqrt(v / target(k)))
    return passes


def lsuv_init_(model: MLP, x: torch.Tensor, tol: float = 0.01, max_passes: int = 5) -> MLP:
    """LSUV on an MLP (the first step, orthogonal weights, is the spec's init): each hidden
    layer's weight scaled until its pre-activation's variance over units and inputs is 1."""
    lsuv_rescale_([lin.weight for lin in model.hidden], lambda k: float(model.preactivations(x)[k].var()),
                  tol=tol, max_passes=max_passes)
    return model


@torch.no_grad()
def sample_fractions(model: MLP, x: torch.Tensor) -> list[float]:
    """Per hidden layer, at the pre-activation (before the next layer's norm): the share of
    the variance that is over the inputs ``x``, sample variance / (sample variance + mean spread)."""
    out = []
    for y in model.preactivations(x):
        sv = float(y.var(0).mean())
        ms = float(y.mean(0).var())
        out.append(sv / (sv + ms) if sv + ms > 0 else math.nan)
    return out


def gradient_norms(model: MLP, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per hidden layer, |dL/dW_l| of the cross-entropy on (x, y) at init (the step-0 gradient
    SGD would take); the gradients are cleared afterwards."""
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    out = [float(lin.weight.grad.norm()) for lin in model.hidden]
    model.zero_grad()
    return out


@torch.no_grad()
def accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()  # batch norm: its running statistics
    acc = float((model(x).argmax(1) == y).float().mean())
    model.train()
    return acc


def train_epochs(model: nn.Module, train_data: tuple[torch.Tensor, torch.Tensor], test_data: tuple[torch.Tensor, torch.Tensor], *,
                 epochs: int, steps_per_epoch: int, batch: int, lr: float,
                 generator: torch.Generator) -> tuple[list[dict[str, Any]], int | None]:
    """SGD at ``lr`` for ``epochs`` epochs of ``steps_per_epoch`` minibatches of ``batch``
    samples drawn with ``generator``. Rows (``step, epoch, stat, value``): every finite
    minibatch loss (``train_loss``, step 1 on) and the held-out accuracy after each epoch
    (``test_accuracy``); and the step at which the loss or the weights stopped being finite
    (None: never). One optimizer serves every epoch."""
    (xtr, ytr), (xte, yte) = train_data, test_data
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rows: list[dict[str, Any]] = []

    def batches(step: int) -> torch.Tensor:
        return torch.randint(0, len(xtr), (batch,), generator=generator)

    for epoch in range(1, epochs + 1):
        hist = train(model, xtr, ytr, steps=steps_per_epoch, batches=batches, optimizer=opt, evaluate=False)
        base = (epoch - 1) * steps_per_epoch
        rows += [dict(step=base + i + 1, epoch=epoch, stat="train_loss", value=float(loss))
                 for i, loss in enumerate(hist.batch_loss.to_numpy()) if math.isfinite(loss)]
        if hist.diverged.any():
            return rows, base + int(hist[hist.diverged].step.min()) + 1
        rows.append(dict(step=base + steps_per_epoch, epoch=epoch, stat="test_accuracy", value=accuracy(model, xte, yte)))
    return rows, None
