"""The one forward pass of one network over a batch of inputs, layer by layer.

Every experiment that pushes data through a network of an :class:`~initscope.nets.MLPSpec`
goes through :func:`forward`: the sample and layer views, ``variance-explosion``,
``data-distributions``. Weights are drawn where they are used, in the row tiles of
:func:`initscope.nets.draw_tiles`, so a layer never needs its whole matrix in memory at
once, and network ``r`` of stream ``s`` is ``build_mlp(spec, seed, r, stream=s)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import math

import torch

from initscope.nets import MLPSpec, combine, draw_bias, draw_tiles, post_activation
from initscope.repro import generator as make_generator


def linear(
    spec: MLPSpec,
    layer: int,
    h: torch.Tensor,
    seed: int,
    stream: str,
    network: int,
    *,
    bias: bool = True,
) -> torch.Tensor:
    """``h @ W.T + b`` for ``layer`` of network ``network``; ``h``: ``[n, fan_in]``.

    ``bias=False`` leaves the bias out (text 002's layers are ``x @ w``)."""
    out = spec.layer_widths[layer - 1]
    if spec.scheme.distribution == "orthogonal":
        return _orthogonal_linear(spec, layer, h, seed, stream, network, bias=bias)
    parts = draw_tiles(spec, layer, seed, stream, network, dtype=h.dtype, device=h.device)
    rows, w = next(parts)
    if rows is not None and len(rows) == out:  # one tile: one fused multiply-add
        _, b = next(parts)
        return torch.addmm(b, h, w.T) if bias else h @ w.T
    y = torch.empty(h.shape[0], out, dtype=h.dtype, device=h.device)
    while rows is not None:
        y[:, rows.start : rows.stop] = h @ w.T
        rows, w = next(parts)
    if bias:
        y += w
    return y


def forward(
    spec: MLPSpec,
    x: torch.Tensor,
    seed: int,
    stream: str = "net",
    network: int = 0,
    *,
    bias: bool = True,
    last: int | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(layer, y, post)`` for layers 1..``last`` (default: all): the pre-activation
    ``y_l`` (with the skip connection, if any) and ``phi(norm(y_l))``, on inputs ``x``
    ``[n, input_dim]``. Stop iterating to stop computing (at an overflow, say)."""
    act = spec.act
    y_prev: torch.Tensor | None = None
    h = x
    for layer in range(1, (last or spec.n_layers) + 1):
        y = combine(linear(spec, layer, h, seed, stream, network, bias=bias), y_prev, spec, layer)
        post = post_activation(y, spec, act)
        yield layer, y, post
        y_prev, h = y, post


def _orthogonal_linear(spec: MLPSpec, layer: int, h: torch.Tensor, seed: int, stream: str, network: int, *, bias: bool) -> torch.Tensor:
    """``h @ W.T + b`` for a Haar-orthogonal ``W``, without forming ``W``.

    ``W`` is the one :func:`~initscope.nets.draw_layer` draws (the same Gaussian ``a`` from
    the same stream): ``W = c Q D`` (or its transpose when wide), with ``Q`` from the QR of
    ``a`` and ``D = sign(diag R)``. Householder QR (``geqrf``) and applying its reflectors
    (``ormqr``) cost about a third of forming ``Q`` and multiplying by it.
    """
    rows, cols = spec.weight_shape(layer)
    n, k = max(rows, cols), min(rows, cols)
    scheme = spec.scheme
    c = math.sqrt(scheme.second_moment((rows, cols)) * n)
    g = make_generator(seed, stream, network, layer, device=h.device)
    a = torch.randn(n, k, generator=g, dtype=h.dtype, device=h.device)
    qr, tau = torch.geqrf(a)
    d = torch.sign(torch.diagonal(qr))  # [k]
    if rows >= cols:  # W = c Q_thin D: y^T = c Q_full [D h^T; 0]
        other = torch.zeros(n, h.shape[0], dtype=h.dtype, device=h.device)
        other[:k] = d.unsqueeze(1) * h.T
        y = torch.ormqr(qr, tau, other, left=True, transpose=False).T
    else:  # W = c D Q_thin^T: y^T = c D (Q_full^T h^T)[:k]
        y = (d.unsqueeze(1) * torch.ormqr(qr, tau, h.T.contiguous(), left=True, transpose=True)[:k]).T
    y = y * c
    b = draw_bias(spec, layer, (), generator=g, dtype=h.dtype, device=h.device)
    return y + b if bias else y
