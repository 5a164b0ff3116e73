"""A short training run from a model's init: the ground truth the verdicts are calibrated on
(``benchmarks/verdicts.py``) and the optional second signal of ``inspect --trial``.

The loss is the one inspect back-propagates at step 0: a ``transformers`` model's own loss
(given labels), else cross-entropy of ``[batch, classes]`` logits against the labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.inspect.load import as_batch, call_model, model_loss, output_tensor
from initscope.repro import derive_seed, generator


def task_loss(model: nn.Module, inputs: Any, labels: torch.Tensor) -> torch.Tensor:
    """The training loss of one batch: the model's own (``labels=`` keyword, ``transformers``)
    when the model takes labels, unless it does not shift an LM's labels (it would train the
    model to copy its input: :func:`core.own_loss_copies`) or fails on them; else, for ``[batch, tokens, V]`` logits whose labels are the
    input ids themselves (a hand-written LM), the next-token cross-entropy; else cross-entropy on
    the logits."""
    from initscope.inspect.core import own_loss_copies, standard_loss
    from initscope.inspect.record import sequence_first

    b = as_batch(inputs)
    out = None
    if hasattr(model, "config") and b.kwargs:
        try:
            out = call_model(model, b.with_kwargs(labels=labels))
        except InitscopeError:
            out = None  # an own loss that fails on labels its forward accepts (Marian's head wider than vocab_size): ours
        own = model_loss(out) if out is not None else None
        logits = output_tensor(out) if out is not None else None
        if own is not None and not (logits is not None and own_loss_copies(own, logits, labels, b.kwargs.get("input_ids"))):
            return own
    if out is None:
        out = call_model(model, b)
    logits = output_tensor(out)
    ids = b.kwargs.get("input_ids", b.main)
    own_ids = (isinstance(ids, torch.Tensor) and logits.dim() == 3 and labels.dim() == 2 and ids.shape == labels.shape
               and tuple(logits.shape[:2]) == tuple(labels.shape) and bool(torch.equal(ids, labels)))
    return standard_loss("lm" if own_ids else "classification", logits, labels, torch.Generator(),
                         seq_dim=0 if sequence_first(model) else 1)


@dataclass
class TrialResult:
    losses: list[float] = field(default_factory=list)  # training loss per step
    eval_loss: float = math.nan  # on held-out data after the last step
    diverged_at: int | None = None  # first step whose loss was not finite


def train(
    model: nn.Module,
    data: Callable[[int], tuple[Any, torch.Tensor]],
    *,
    steps: int = 300,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup: int = 0,
    eval_data: tuple[Any, torch.Tensor] | None = None,
) -> TrialResult:
    """AdamW for ``steps`` steps on ``data(step)`` batches (dropout on, as in training), then the
    loss on ``eval_data`` (eval mode). With ``warmup`` the learning rate rises linearly over the
    first ``warmup`` steps (step k uses ``lr * (k + 1) / warmup``), then stays at ``lr``. A
    non-finite loss stops the run and is recorded."""
    res = TrialResult()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for step in range(steps):
        x, y = data(step)
        loss = task_loss(model, x, y)
        v = float(loss.detach())
        res.losses.append(v)
        if not math.isfinite(v):
            res.diverged_at = step
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if warmup:
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / warmup)
        opt.step()
    if eval_data is not None and res.diverged_at is None:
        model.eval()
        with torch.no_grad():
            res.eval_loss = float(task_loss(model, *eval_data))
    elif res.diverged_at is not None:
        res.eval_loss = math.inf
    model.zero_grad(set_to_none=True)
    return res


def copy_module(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` of a model, also one built with the older
    ``torch.nn.utils.weight_norm``, which keeps its ``weight`` as a non-leaf tensor attribute
    (deepcopy refuses those): it is copied detached, and its hook recomputes it before every
    forward pass anyway."""
    import copy

    held = [(m, k, v) for m in model.modules() for k, v in vars(m).items() if isinstance(v, torch.Tensor) and not v.is_leaf]
    try:
        for m, k, v in held:
            m.__dict__[k] = v.detach()
        return copy.deepcopy(model)
    finally:
        for m, k, v in held:
            m.__dict__[k] = v


def library_reinit(model: nn.Module, seed: int = 0) -> nn.Module:
    """The same architecture re-initialized by its library's own scheme, the known-good
    reference of a trial: a ``transformers`` model rebuilt from its config, any other module a
    copy with ``reset_parameters()`` called on every submodule that has one (torch's defaults).
    The global generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "reinit"))
        if hasattr(model, "config") and hasattr(type(model), "config_class"):
            return type(model)(model.config)
        fresh = copy_module(model)
        for m in fresh.modules():
            if isinstance(m, nn.MultiheadAttention):
                m._reset_parameters()
            elif m is not fresh and callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()
        return fresh


def trial(model: nn.Module, batch: Any, task: str, *, steps: int, seed: int = 0, lr: float = 1e-3) -> TrialResult | None:
    """``inspect --trial STEPS``: AdamW for ``steps`` steps on the user's one batch (labels: the
    token ids for an LM, random classes for a classifier: can the model fit them at all?).
    None when the task has no labels to fit (a bare encoder, a regression output)."""
    b = as_batch(batch)
    g = generator(seed, "trial-labels")
    if task == "lm":
        ids = b.kwargs.get("input_ids", b.main)
        if ids is None or ids.is_floating_point():
            return None
        labels = ids  # task_loss shifts them for a plain torch LM's [batch, tokens, V] logits
    elif task == "classification":
        with torch.no_grad():
            model.eval()
            out = output_tensor(call_model(model, b))
        if out is None or out.dim() < 2:
            return None
        labels = torch.randint(0, out.shape[-1], tuple(out.shape[:-1]) if out.dim() > 2 else (out.shape[0],), generator=g).to(out.device)
    else:
        return None
    return train(model, lambda step: (b, labels), steps=steps, lr=lr)
