"""MLP specs, the functional layer step, torch modules and batched ensembles.

One forward rule serves every path, so that what the engine measures is what a
user's ``nn.Module`` computes:

    y_1 = W_1 x + b_1
    y_l = W_l phi(norm(y_{l-1})) + b_l  [+ y_{l-1} if residual]       (l >= 2)

``y_l`` are the *pre-activations* the texts study; ``phi(norm(y_l))`` the
post-activations. Weights of network ``r`` in layer ``l`` are a pure function of
``(seed, stream, r, l)`` (see :func:`initscope.repro.derive_seed`), so a network
drawn by the engine, by :func:`build_mlp` or by :func:`build_ensemble` is the same
network.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from initscope.activations import Activation, get_activation
from initscope.errors import InitscopeError, unknown
from initscope.repro import generator as make_generator
from initscope.schemes import BIAS_KINDS, Scheme, bias_init_, get_scheme

Norm = Literal["none", "layernorm", "batchnorm", "rmsnorm"]
NORMS: tuple[str, ...] = ("none", "layernorm", "batchnorm", "rmsnorm")
NORM_EPS = 1e-5  # torch's LayerNorm and BatchNorm default


MAX_DEPTH = 100_000  # as initscope.theory.MAX_DEPTH: a spec lists its widths, so refuse before building it


@dataclass(frozen=True)
class MLPSpec:
    """A fully connected network at initialization. Defaults are text 000's setup."""

    input_dim: int = 1024  # text 000: Gaussian white noise of the layer width
    width: int = 1024  # text 000: "uniform width N=1024"
    depth: int = 50  # text 000: "50 layer fully connected ReLU networks"
    activation: str = "relu"
    init: str = "kaiming-normal"  # text 000: "Kaiming initialization"
    weight_scale: float | None = None  # overrides the scheme's scale: sigma_w^2 = weight_scale (variance weight_scale / fan)
    bias: str = "zero"  # zero | constant | normal | linspace | torch-default
    sigma_b: float = 0.0  # std of "normal" biases
    bias_value: float = 0.0  # value of "constant" biases
    residual: bool = False  # y_l += y_{l-1} for l >= 2 (equal widths)
    norm: str = "none"  # phi is applied to norm(y): layernorm, rmsnorm (over units), batchnorm (over samples); no affine at init
    batch_size: int = 32  # batchnorm: samples normalized together, in consecutive groups of this size
    dropout: float = 0.0  # only in built modules (training); the engine measures at eval
    output_dim: int | None = None  # a readout layer after the last hidden layer (not probed)
    output_init: str | None = None  # scheme of the readout; None: same as init ("zeros" in text 001)
    widths: tuple[int, ...] | None = None  # per-layer widths; overrides width and depth

    def __post_init__(self) -> None:
        if self.widths is None and self.depth < 1:
            raise InitscopeError(f"depth must be >= 1, got {self.depth}")
        if self.widths is None and self.depth > MAX_DEPTH:
            raise InitscopeError(f"depth must be <= {MAX_DEPTH:,} (the deepest network theory and engine take), got {self.depth:,}")
        if self.widths is None and self.width < 1:
            raise InitscopeError(f"width must be >= 1, got {self.width}")
        if self.input_dim < 1:
            raise InitscopeError(f"input_dim must be >= 1, got {self.input_dim}")
        if self.widths is not None and (len(self.widths) == 0 or min(self.widths) < 1):
            raise InitscopeError(f"widths must be a non-empty list of integers >= 1, got {self.widths}")
        if self.norm not in NORMS:
            raise unknown("norm", self.norm, NORMS)
        if self.batch_size < 2:
            raise InitscopeError(f"batch_size must be >= 2 (batch norm takes a variance over the batch), got {self.batch_size}")
        if self.bias not in BIAS_KINDS:
            raise unknown("bias", self.bias, BIAS_KINDS)
        if not 0.0 <= self.dropout < 1.0:
            raise InitscopeError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.sigma_b < 0:
            raise InitscopeError(f"sigma_b must be >= 0, got {self.sigma_b}")
        if self.weight_scale is not None and not (self.weight_scale >= 0 and self.weight_scale < float("inf")):
            raise InitscopeError(f"weight_scale must be a finite number >= 0, got {self.weight_scale}")
        get_scheme(self.init)
        if self.output_init is not None:
            get_scheme(self.output_init)
        get_activation(self.activation)
        if self.residual and len(set(self.layer_widths)) > 1:
            raise InitscopeError("residual connections need equal widths in every layer")

    @property
    def layer_widths(self) -> tuple[int, ...]:
        return tuple(self.widths) if self.widths is not None else (self.width,) * self.depth

    @property
    def n_layers(self) -> int:
        return len(self.layer_widths)

    def fan_in(self, layer: int) -> int:
        """Fan-in of hidden layer ``layer`` (1-based)."""
        return self.input_dim if layer == 1 else self.layer_widths[layer - 2]

    def weight_shape(self, layer: int) -> tuple[int, int]:
        return (self.layer_widths[layer - 1], self.fan_in(layer))

    def sigma_w2(self) -> list[float]:
        """sigma_w^2 per hidden layer, the quantity mean-field theory reads: fan-in times the
        weights' second moment under the init scheme (2 for Kaiming, 784 for N(0, 1) weights of
        fan-in 784). The one place it is computed."""
        scheme = self.scheme
        return [scheme.second_moment(self.weight_shape(l)) * self.fan_in(l) for l in range(1, self.n_layers + 1)]

    @property
    def scheme(self) -> Scheme:
        scheme = get_scheme(self.init)
        if self.weight_scale is not None:
            scheme = dataclasses.replace(scheme, scale=float(self.weight_scale), name=f"{scheme.name}*")
        return scheme

    @property
    def act(self) -> Activation:
        return get_activation(self.activation)


# --- the one forward rule -------------------------------------------------


def normalize(y: torch.Tensor, norm: str, batch_size: int | None = None) -> torch.Tensor:
    """``y`` ``[..., samples, units]`` normalized without affine parameters (as at init):

    * ``layernorm``: each sample over its units, (y - mean) / sqrt(var + eps);
    * ``rmsnorm``: each sample over its units, y / sqrt(mean(y^2) + eps), torch's eps;
    * ``batchnorm``: each unit over the samples of its batch, (y - mean) / sqrt(var + eps)
      with the batch statistics of training mode; the samples pass in consecutive groups of
      ``batch_size`` (default: all together); a last, smaller group is its own batch.
    """
    if norm == "layernorm":
        return torch.nn.functional.layer_norm(y, y.shape[-1:], eps=NORM_EPS)
    if norm == "rmsnorm":
        eps = torch.finfo(y.dtype).eps  # torch.nn.functional.rms_norm's default
        return y * torch.rsqrt(y.pow(2).mean(dim=-1, keepdim=True) + eps)
    if norm == "batchnorm":
        n = y.shape[-2]
        size = min(batch_size or n, n)
        if n % size == 1:
            raise InitscopeError(f"batch norm: {n} samples leave a batch of 1 after groups of {size}; change samples or batch_size")
        full = n - n % size
        parts = [_batch_norm(y[..., :full, :].unflatten(-2, (full // size, size))).flatten(-3, -2)]
        if full < n:
            parts.append(_batch_norm(y[..., full:, :]))
        return torch.cat(parts, dim=-2) if len(parts) > 1 else parts[0]
    return y


def _batch_norm(y: torch.Tensor) -> torch.Tensor:
    """Each unit (last axis) over the batch (second last), biased variance, as torch's training mode."""
    mean = y.mean(dim=-2, keepdim=True)
    var = (y - mean).pow(2).mean(dim=-2, keepdim=True)
    return (y - mean) * torch.rsqrt(var + NORM_EPS)


def post_activation(y: torch.Tensor, spec: MLPSpec, act: Activation) -> torch.Tensor:
    """phi(norm(y)): what layer l passes on to layer l + 1."""
    return act.fn(normalize(y, spec.norm, spec.batch_size))


def combine(linear: torch.Tensor, y_prev: torch.Tensor | None, spec: MLPSpec, layer: int) -> torch.Tensor:
    """Add the skip connection, if any, to a layer's linear output ``W h + b``."""
    if spec.residual and layer >= 2 and y_prev is not None:
        return linear + y_prev
    return linear


def layer_input(x_or_y: torch.Tensor, spec: MLPSpec, act: Activation, layer: int) -> torch.Tensor:
    """The vector ``h`` that layer ``layer`` multiplies: the raw input for layer 1."""
    return x_or_y if layer == 1 else post_activation(x_or_y, spec, act)


# --- drawing parameters ---------------------------------------------------


def draw_bias(
    spec: MLPSpec,
    layer: int,
    batch: tuple[int, ...],
    *,
    generator: torch.Generator,
    dtype: torch.dtype,
    device: torch.device | str,
) -> torch.Tensor:
    """Biases of ``layer`` for a batch of networks: shape ``batch + (width,)``."""
    width = spec.layer_widths[layer - 1]
    b = torch.empty(*batch, width, dtype=dtype, device=device)
    if spec.bias == "linspace":
        return b.copy_(torch.linspace(-1.0, 1.0, width, dtype=dtype, device=device).expand_as(b))
    flat = b.view(-1)
    bias_init_(flat, spec.bias, sigma_b=spec.sigma_b, value=spec.bias_value, fan_in=spec.fan_in(layer), generator=generator)
    return b


# A weight (or a block of networks' weights drawn together) with more entries than this
# is drawn in row tiles, tile k from its own stream: no memory budget ever needs a whole
# matrix at once, and which random numbers land where depends on the spec only, never on
# the budget. 2^24 entries are 64 MiB in float32; every matrix of the texts is one tile.
TILE_ENTRIES = 1 << 24


def row_tiles(rows: int, cols: int, batch: int = 1, *, separable: bool = True) -> list[range]:
    """The row tiles a ``[batch, rows, cols]`` weight block is drawn in (one if it is small
    or its rows are not independent, as an orthogonal matrix's)."""
    if not separable or batch * rows * cols <= TILE_ENTRIES:
        return [range(rows)]
    per = max(1, TILE_ENTRIES // (batch * cols))
    return [range(s, min(s + per, rows)) for s in range(0, rows, per)]


def draw_tiles(
    spec: MLPSpec,
    layer: int,
    seed: int,
    *path: int | str,
    batch: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    workspace: torch.Tensor | None = None,
) -> Iterator[tuple[range | None, torch.Tensor]]:
    """One layer's parameters, drawn from the streams under ``(seed, *path, layer)``.

    Yields ``(rows, W[..., rows, :])`` tile by tile, then ``(None, b)``. ``batch``: a block
    of networks drawn in one call (shapes ``[batch, rows, fan_in]`` and ``[batch, out]``);
    None for one network (``[rows, fan_in]``, ``[out]``). A weight of one tile and its
    bias come from the stream ``(seed, *path, layer)`` in that order; tile k of a bigger
    weight from ``(..., layer, "rows", k)`` and its bias from ``(..., layer, "bias")``.
    ``workspace``: a flat tensor big enough for one tile, reused for every tile (a fresh
    64 MiB allocation costs about as much as filling half of it); each tile is then
    overwritten by the next, so use it before asking for the next.
    """
    scheme = spec.scheme
    shape = spec.weight_shape(layer)
    lead = () if batch is None else (batch,)
    tiles = row_tiles(*shape, batch or 1, separable=scheme.row_separable)
    g = make_generator(seed, *path, layer, device=device)
    for k, rows in enumerate(tiles):
        if len(tiles) > 1:
            g = make_generator(seed, *path, layer, "rows", k, device=device)
        size = (*lead, len(rows), shape[1])
        if workspace is not None and workspace.numel() >= math.prod(size):
            w = workspace[: math.prod(size)].view(size)
        else:
            w = torch.empty(size, dtype=dtype, device=device)
        scheme.init_(w, generator=g, batch_dims=len(lead), fan_shape=shape)
        yield rows, w
    if len(tiles) > 1:
        g = make_generator(seed, *path, layer, "bias", device=device)
    yield None, draw_bias(spec, layer, lead, generator=g, dtype=dtype, device=device)


def draw_layer(
    spec: MLPSpec,
    seed: int,
    network: int,
    layer: int,
    *,
    stream: str = "net",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight ``[out, in]`` and bias ``[out]`` of one layer of network ``network``
    (assembled from its row tiles, see :func:`draw_tiles`)."""
    *tiles, (_, b) = draw_tiles(spec, layer, seed, stream, network, dtype=dtype, device=device)
    w = tiles[0][1] if len(tiles) == 1 else torch.cat([t for _, t in tiles])
    return w, b


# --- torch modules --------------------------------------------------------


class MLP(nn.Module):
    """A plain ``nn.Module`` for an :class:`MLPSpec`; ``forward`` returns the readout
    (or the last hidden pre-activation when there is no readout)."""

    def __init__(self, spec: MLPSpec) -> None:
        super().__init__()
        self.spec = spec
        self._act = spec.act
        dims = (spec.input_dim, *spec.layer_widths)
        self.hidden = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(spec.n_layers))
        self.dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.readout = nn.Linear(dims[-1], spec.output_dim) if spec.output_dim else None
        # batch norm as a module: batch statistics in training mode (what normalize computes for
        # the whole batch), running statistics at eval; no affine parameters, as at init
        self.norms = (nn.ModuleList(nn.BatchNorm1d(w, affine=False) for w in spec.layer_widths)
                      if spec.norm == "batchnorm" else None)

    def post(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        """phi(norm(y_layer)) as the module computes it (batch norm: its BatchNorm1d)."""
        if self.norms is not None:
            return self._act.fn(self.norms[layer - 1](y))
        return post_activation(y, self.spec, self._act)

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden layer's pre-activation y_l, l = 1..depth."""
        ys: list[torch.Tensor] = []
        y: torch.Tensor | None = None
        for i, linear in enumerate(self.hidden, start=1):
            h = x if i == 1 else self.dropout(self.post(y, i - 1))
            y = combine(linear(h), y, self.spec, i)
            ys.append(y)
        return ys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.preactivations(x)[-1]
        if self.readout is None:
            return y
        return self.readout(self.dropout(self.post(y, self.spec.n_layers)))

    def extra_repr(self) -> str:
        s = self.spec
        return f"depth={s.n_layers}, activation={s.activation}, init={s.init}, bias={s.bias}, residual={s.residual}, norm={s.norm}"


def build_mlp(
    spec: MLPSpec,
    seed: int = 0,
    network: int = 0,
    *,
    stream: str = "net",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> MLP:
    """Network ``network`` of the ensemble drawn from ``seed``, as an ``nn.Module``."""
    model = MLP(spec).to(dtype=dtype, device=device)
    with torch.no_grad():
        for layer, linear in enumerate(model.hidden, start=1):
            w, b = draw_layer(spec, seed, network, layer, stream=stream, dtype=dtype, device=device)
            linear.weight.copy_(w)
            linear.bias.copy_(b)
        if model.readout is not None:
            g = make_generator(seed, stream, network, "readout", device=device)
            get_scheme(spec.output_init or spec.init).init_(model.readout.weight, generator=g)
            model.readout.bias.zero_()
    return model


@dataclass
class Ensemble:
    """M networks as batched tensors: ``weights[l]`` is ``[M, out, in]``."""

    spec: MLPSpec
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]

    @property
    def size(self) -> int:
        return self.weights[0].shape[0]

    def preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x``: ``[M, S, in]`` or ``[S, in]`` (shared inputs). Returns ``[M, S, width]`` per layer."""
        act = self.spec.act
        if x.dim() == 2:
            x = x.expand(self.size, *x.shape)
        ys: list[torch.Tensor] = []
        y: torch.Tensor | None = None
        for layer, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            h = x if layer == 1 else post_activation(y, self.spec, act)
            y = combine(torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)), y, self.spec, layer)
            ys.append(y)
        return ys

    def __repr__(self) -> str:
        return f"Ensemble(M={self.size}, depth={self.spec.n_layers}, init={self.spec.init})"


def build_ensemble(
    spec: MLPSpec,
    networks: range | int,
    seed: int = 0,
    *,
    stream: str = "net",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Ensemble:
    """Networks ``networks`` (an int M means ``range(M)``) stacked into batched tensors.

    Network ``r`` of the ensemble is exactly ``build_mlp(spec, seed, r)``.
    """
    idx = range(networks) if isinstance(networks, int) else networks
    weights, biases = [], []
    for layer in range(1, spec.n_layers + 1):
        pairs = [draw_layer(spec, seed, r, layer, stream=stream, dtype=dtype, device=device) for r in idx]
        weights.append(torch.stack([w for w, _ in pairs]))
        biases.append(torch.stack([b for _, b in pairs]))
    return Ensemble(spec, weights, biases)
