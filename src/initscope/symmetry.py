"""Symmetries that training cannot break (text 003).

Permuting the hidden units of a layer — the rows of its weight (torch layout
``[out, in]``), the matching bias entries, and the columns of the next weight —
leaves the function unchanged, permutes the gradients alike, and so commutes with
an SGD step. Consequently a constant init, whose units are all identical, stays
at one distinct unit per layer forever under SGD; dropout's per-unit masks break
the tie. Every claim here is *checked* numerically, with the largest absolute
difference reported.

Works on :class:`initscope.nets.MLP` and on any ``nn.Sequential`` of ``nn.Linear``
layers and elementwise modules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import pandas as pd
import torch
from torch import nn

from initscope.errors import InitscopeError

_ELEMENTWISE = (
    nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.SELU, nn.Softplus,
    nn.Identity, nn.Dropout, nn.Hardtanh, nn.Mish,
)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of ``model`` in forward order (hidden layers, then the readout)."""
    from initscope.nets import MLP

    if isinstance(model, MLP):
        if model.spec.residual:
            raise InitscopeError("permutation checks support plain MLPs, not residual ones")
        return [*model.hidden, *([model.readout] if model.readout is not None else [])]
    if isinstance(model, nn.Sequential):
        out = []
        for m in model:
            if isinstance(m, nn.Linear):
                out.append(m)
            elif not isinstance(m, _ELEMENTWISE):
                raise InitscopeError(
                    f"nn.Sequential may hold only nn.Linear and elementwise modules for permutation checks, found {type(m).__name__}"
                )
        return out
    raise InitscopeError(f"expected an initscope MLP or an nn.Sequential of Linear layers, got {type(model).__name__}")


def hidden_sizes(model: nn.Module) -> list[int]:
    """Widths of the permutable hidden layers (every Linear but the last)."""
    return [lin.out_features for lin in linear_layers(model)[:-1]]


def random_permutations(model: nn.Module, layers: Sequence[int] | None = None, *, generator: torch.Generator | None = None) -> dict[int, torch.Tensor]:
    """A random permutation for each hidden layer in ``layers`` (0-based; default all)."""
    sizes = hidden_sizes(model)
    idx = range(len(sizes)) if layers is None else layers
    for k in idx:
        if not 0 <= k < len(sizes):
            raise InitscopeError(f"hidden layer {k} does not exist; the model has {len(sizes)} hidden layers (0-based)")
    return {k: torch.randperm(sizes[k], generator=generator) for k in idx}


def _check_perms(perms: dict[int, torch.Tensor], sizes: Sequence[int]) -> None:
    """Each key a hidden layer (not the output: it has no next layer to compensate), each
    value a permutation of that layer's units."""
    for k, p in perms.items():
        if not 0 <= k < len(sizes):
            raise InitscopeError(f"hidden layer {k} does not exist; the model has {len(sizes)} hidden layers (0-based)")
        if p.dim() != 1 or p.numel() != sizes[k] or not torch.equal(torch.sort(p.cpu()).values, torch.arange(sizes[k])):
            raise InitscopeError(f"perms[{k}] must be a permutation of 0..{sizes[k] - 1}, got {p.tolist()}")


def permute_hidden(model: nn.Module, perms: dict[int, torch.Tensor], *, consistent: bool = True) -> nn.Module:
    """A copy of ``model`` with hidden layer k's units reordered by ``perms[k]``.

    Rows of W_k and entries of b_k are permuted, and the columns of W_{k+1} — the text's
    P^T W^{(2)}. ``consistent=False`` skips the columns of the next layer: the inconsistent
    permutation the checks must catch.
    """
    new = copy.deepcopy(model)
    lins = linear_layers(new)
    _check_perms(perms, [lin.out_features for lin in lins[:-1]])
    with torch.no_grad():
        for k, p in perms.items():
            p = p.to(lins[k].weight.device)
            lins[k].weight.copy_(lins[k].weight[p])
            if lins[k].bias is not None:
                lins[k].bias.copy_(lins[k].bias[p])
            if consistent:
                lins[k + 1].weight.copy_(lins[k + 1].weight[:, p])
    return new


def _permuted_tensors(model: nn.Module, perms: dict[int, torch.Tensor], tensors: list[tuple[torch.Tensor, torch.Tensor | None]]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Apply the permutation to per-layer (weight-like, bias-like) tensors, as to parameters."""
    out = [(w.clone(), None if b is None else b.clone()) for w, b in tensors]
    for k, p in perms.items():
        w, b = out[k]
        out[k] = (w[p], None if b is None else b[p])
        w2, b2 = out[k + 1]
        out[k + 1] = (w2[:, p], b2)
    return out


def _params(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    return [(l.weight.detach().clone(), None if l.bias is None else l.bias.detach().clone()) for l in linear_layers(model)]


def _grads(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    return [(l.weight.grad.detach().clone(), None if l.bias is None else l.bias.grad.detach().clone()) for l in linear_layers(model)]


def _max_diff(a: list[tuple[torch.Tensor, torch.Tensor | None]], b: list[tuple[torch.Tensor, torch.Tensor | None]]) -> list[float]:
    out = []
    for (wa, ba), (wb, bb) in zip(a, b):
        d = float((wa - wb).abs().max())
        if ba is not None and bb is not None:
            d = max(d, float((ba - bb).abs().max()))
        out.append(d)
    return out


def check_permutation_symmetry(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    perms: dict[int, torch.Tensor],
    *,
    steps: int = 3,
    lr: float = 0.05,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.mse_loss,
    consistent: bool = True,
) -> pd.DataFrame:
    """Train the original and the permuted model side by side with plain SGD and check, at
    every step, text 003's three claims. Returns a tidy table: ``step, claim, layer,
    max_abs_diff`` with claim in {forward, grad, update} (forward: layer = -1, the output).

    The models run in eval mode (no dropout), in the dtype of ``x``.
    """
    a = copy.deepcopy(model).to(x.dtype).eval()
    b = permute_hidden(a, perms, consistent=consistent)  # validates perms
    perms = {k: p.to(x.device) for k, p in perms.items()}
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=lr), torch.optim.SGD(b.parameters(), lr=lr)
    rows = []
    for step in range(steps):
        out_a, out_b = a(x), b(x)
        rows.append(dict(step=step, claim="forward", layer=-1, max_abs_diff=float((out_a - out_b).detach().abs().max())))
        opt_a.zero_grad()
        opt_b.zero_grad()
        loss_fn(out_a, y).backward()
        loss_fn(out_b, y).backward()
        for layer, d in enumerate(_max_diff(_permuted_tensors(a, perms, _grads(a)), _grads(b))):
            rows.append(dict(step=step, claim="grad", layer=layer, max_abs_diff=d))
        opt_a.step()
        opt_b.step()
        for layer, d in enumerate(_max_diff(_permuted_tensors(a, perms, _params(a)), _params(b))):
            rows.append(dict(step=step, claim="update", layer=layer, max_abs_diff=d))
    return pd.DataFrame(rows, columns=["step", "claim", "layer", "max_abs_diff"])


def _unit_rows(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """One row per unit: its incoming weights and bias, in float64."""
    rows = weight.detach().reshape(weight.shape[0], -1).to(torch.float64)
    if bias is not None:
        rows = torch.cat([rows, bias.detach().to(torch.float64).reshape(-1, 1)], dim=1)
    return rows


def distinct_units(weight: torch.Tensor, bias: torch.Tensor | None = None, *, rtol: float = 1e-6) -> int:
    """Number of distinct hidden units: rows of ``[W | b]`` equal within
    ``rtol * (1 + max |entry|)`` in every coordinate count as one unit (greedy clustering)."""
    rows = _unit_rows(weight, bias)
    tol = rtol * (1.0 + float(rows.abs().max())) if rows.numel() else 0.0
    dist = torch.cdist(rows, rows, p=float("inf"))
    unassigned = torch.ones(rows.shape[0], dtype=torch.bool)
    count = 0
    for i in range(rows.shape[0]):
        if not unassigned[i]:
            continue
        count += 1
        unassigned &= dist[i] > tol
    return count


def distinct_units_per_layer(model: nn.Module, *, rtol: float = 1e-6) -> list[int]:
    """Distinct units of every hidden layer (incoming weights and bias)."""
    return [distinct_units(l.weight, l.bias, rtol=rtol) for l in linear_layers(model)[:-1]]


def weight_ranks(model: nn.Module) -> list[int]:
    """Numerical rank of every Linear weight (torch.linalg.matrix_rank's default tolerance)."""
    return [int(torch.linalg.matrix_rank(l.weight.detach().to(torch.float64))) for l in linear_layers(model)]


def unit_spread(weight: torch.Tensor, bias: torch.Tensor | None = None) -> float:
    """How far a layer is from having identical units: the largest ``|entry|`` of
    ``[W | b]`` minus its first unit, relative to the largest ``|entry|`` of ``[W | b]``
    (the first unit rather than the mean, so that identical units give exactly 0).

    Exactly 0 when every unit is the same (a constant init under SGD stays there bit for
    bit); O(1) for random weights. Unlike :func:`distinct_units`, which jumps to full width
    as soon as units differ at all, it shows *how much* the symmetry is broken.
    """
    rows = _unit_rows(weight, bias)
    scale = float(rows.abs().max()) if rows.numel() else 0.0
    return float((rows - rows[:1]).abs().max()) / scale if scale > 0 else 0.0


def unit_spread_per_layer(model: nn.Module) -> list[float]:
    """:func:`unit_spread` of every hidden layer (incoming weights and bias)."""
    return [unit_spread(l.weight, l.bias) for l in linear_layers(model)[:-1]]
