"""The one training loop: minibatch steps, the loss, a divergence check, measurements.

The engine owns the forward passes that *measure* a network at initialization; what
happens to it under training happens here, for every experiment that trains
(``constant-init`` and text 003's ``seed_all`` demonstration today).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch import nn

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
