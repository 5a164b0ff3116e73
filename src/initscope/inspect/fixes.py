"""Fixes that apply a data-driven init in place: LSUV (Mishkin & Matas 2016) and its
sample-variance twin, over every weighted layer (Linear, ConvNd, ``transformers``' Conv1D,
custom layers with a 2-D+ weight; embeddings are lookups and keep their rows)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.inspect.core import at_init_mode
from initscope.inspect.load import Batch, as_batch, call_model, first_tensor
from initscope.inspect.stats import as_samples_by_units
from initscope.inspect.structure import is_embedding, weight_of

FIXES = ("lsuv", "sample-variance")


def fix_model(model: nn.Module, batch: Any, method: str, *, tol: float = 0.05, max_iter: int = 10) -> tuple[nn.Module, int]:
    """Data-driven init in place. ``lsuv``: orthogonal weights, then rescale each weighted
    layer (in forward order) until its output variance over the batch is 1.
    ``sample-variance``: the same loop targeting the variance over samples (mean over units of
    each unit's variance over the batch), the quantity text 000 says Kaiming lets collapse.
    Returns the model and the number of forward passes used."""
    if method not in FIXES:
        raise InitscopeError(f"unknown fix {method!r}; choose from: {', '.join(FIXES)}")
    b: Batch = as_batch(batch)
    weighted = [(n, m) for n, m in model.named_modules() if weight_of(m) is not None and not is_embedding(m)]
    passes = 0
    with torch.no_grad():
        for _, m in weighted:
            if method == "lsuv":
                w = weight_of(m)
                nn.init.orthogonal_(w.view(w.shape[0], -1))
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
        for _, m in weighted:
            for _ in range(max_iter):
                captured: list[torch.Tensor] = []
                h = m.register_forward_hook(lambda mod, i, o: captured.append(as_samples_by_units(first_tensor(o, floating=True), mod)))
                try:
                    with at_init_mode(model):
                        call_model(model, b)
                finally:
                    h.remove()
                passes += 1
                if not captured:
                    break
                out = captured[0].double()
                v = float(out.var()) if method == "lsuv" else float(out.var(dim=0).mean())
                if not math.isfinite(v) or v <= 0 or abs(v - 1) < tol:
                    break
                weight_of(m).mul_(1 / math.sqrt(v))
    return model, passes
