"""Weight-init schemes: ONE variance-scaling mechanism and named presets.

Every scheme fills a weight of torch layout ``[fan_out, fan_in, *receptive_field]``
with zero-mean entries of per-weight variance

    v = scale / fan(mode),   fan_in = in * prod(receptive), fan_out = out * prod(receptive),
                             fan_avg = (fan_in + fan_out) / 2,  "none": fan = 1

drawn from one of six distributions (normal, variance-corrected truncated normal,
uniform, scaled orthogonal, sphere, constant). LeCun (1998), Glorot & Bengio (2010)
and He et al. (2015) are one-line presets on top of it, as in
``jax.nn.initializers.variance_scaling``; the recipe (fan, then std, then one fill
under ``no_grad``) is ``torch.nn.init``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from initscope.errors import InitscopeError, unknown
from initscope.registry import Registry

Mode = Literal["fan_in", "fan_out", "fan_avg", "none"]
Distribution = Literal["normal", "truncated_normal", "uniform", "orthogonal", "sphere", "constant"]
MODES: tuple[str, ...] = ("fan_in", "fan_out", "fan_avg", "none")
DISTRIBUTIONS: tuple[str, ...] = ("normal", "truncated_normal", "uniform", "orthogonal", "sphere", "constant")

# Std of a standard normal truncated to [-2, 2]: dividing by it makes the
# truncated draw's variance exactly the target (JAX's variance_scaling uses it too).
_TRUNC_STD = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of torch layout ``[out, in, *receptive]``."""
    if len(shape) < 2:
        raise InitscopeError(f"fans need a weight with at least 2 dimensions, got shape {tuple(shape)}")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def fan(shape: Sequence[int], mode: str) -> float:
    """The denominator of the variance for ``mode``."""
    if mode == "none":
        return 1.0
    fan_in, fan_out = compute_fans(shape)
    if mode == "fan_in":
        return float(fan_in)
    if mode == "fan_out":
        return float(fan_out)
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2.0
    raise unknown("mode", mode, MODES)


def _check(scale: float, mode: str, distribution: str) -> None:
    if mode not in MODES:
        raise unknown("mode", mode, MODES)
    if distribution not in DISTRIBUTIONS:
        raise unknown("distribution", distribution, DISTRIBUTIONS)
    if not (math.isfinite(scale) and scale >= 0):
        raise InitscopeError(f"scale must be a finite number >= 0, got {scale}")


def _orthogonal(w: torch.Tensor, rows: int, cols: int, generator: torch.Generator | None) -> torch.Tensor:
    """(Semi-)orthogonal ``[*batch, rows, cols]`` matrices, ``batch = w.shape[:-2]``: QR of a
    Gaussian, signs fixed by diag(R) so that Q is Haar-distributed (Mezzadri 2007), as
    torch.nn.init.orthogonal_ does. A batch is one batched QR."""
    batch = w.shape[:-2]
    a = torch.randn(*batch, max(rows, cols), min(rows, cols), generator=generator, dtype=w.dtype, device=w.device)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q if rows >= cols else q.transpose(-2, -1)


def variance_scaling_(
    w: torch.Tensor,
    scale: float,
    mode: Mode = "fan_in",
    distribution: Distribution = "normal",
    *,
    generator: torch.Generator | None = None,
    batch_dims: int = 0,
    fan_shape: Sequence[int] | None = None,
) -> torch.Tensor:
    """Fill ``w`` in place with zero-mean weights of per-weight variance ``v = scale / fan(mode)``.

    * ``normal``: N(0, v).
    * ``truncated_normal``: N(0, s^2) truncated to [-2s, 2s] with s = sqrt(v) / 0.8796..., so the
      variance is exactly v.
    * ``uniform``: U(-sqrt(3 v), sqrt(3 v)).
    * ``orthogonal``: a Haar (semi-)orthogonal Q of ``w.view(out, -1)`` times sqrt(v * max(rows, cols)),
      so every entry has mean square v. For square and wide matrices (out <= in) the ``orthogonal``
      preset is ``torch.nn.init.orthogonal_(gain=1)``; for tall ones it keeps fan-in semantics
      (each unit's second moment is preserved) where torch gives 1 / out.
    * ``sphere``: each row (output unit) uniform on the sphere of radius sqrt(v * fan_in), so the
      mean square per weight is v; with the ``sphere`` preset rows have unit 2-norm (text 001).
    * ``constant``: every entry sqrt(scale / fan(mode)); its variance over draws is 0.

    ``batch_dims`` leading axes index independent weights (a block of networks): fans come
    from the rest of the shape, and the whole block is drawn in one call (one batched QR for
    ``orthogonal``). ``fan_shape``: the whole weight's shape when ``w`` is a tile of its rows
    (not for ``orthogonal``, whose rows are not independent). Returns ``w``. Respects
    ``generator`` in every random path.
    """
    _check(scale, mode, distribution)
    shape = w.shape[batch_dims:]
    if fan_shape is not None and distribution == "orthogonal" and tuple(fan_shape) != tuple(shape):
        raise InitscopeError("orthogonal weights cannot be drawn in row tiles: their rows are not independent")
    v = scale / fan(fan_shape if fan_shape is not None else shape, mode)
    with torch.no_grad():
        if distribution == "normal":
            return w.normal_(0.0, math.sqrt(v), generator=generator)
        if distribution == "uniform":
            bound = math.sqrt(3.0 * v)
            return w.uniform_(-bound, bound, generator=generator)
        if distribution == "truncated_normal":
            s = math.sqrt(v) / _TRUNC_STD
            # Inverse-CDF sampling of the truncated standard normal, as torch's trunc_normal_.
            lo, hi = (1.0 + math.erf(-2.0 / math.sqrt(2.0))) / 2.0, (1.0 + math.erf(2.0 / math.sqrt(2.0))) / 2.0
            w.uniform_(2 * lo - 1, 2 * hi - 1, generator=generator)
            return w.erfinv_().mul_(math.sqrt(2.0)).clamp_(-2.0, 2.0).mul_(s)
        if distribution == "constant":
            return w.fill_(math.sqrt(v))
        rows = shape[0]
        flat = w.reshape(*w.shape[:batch_dims], rows, -1)
        cols = flat.shape[-1]
        if distribution == "orthogonal":
            q = _orthogonal(flat, rows, cols, generator)
            w.copy_((q * math.sqrt(v * max(rows, cols))).reshape(w.shape))
            return w
        # sphere
        z = torch.randn(flat.shape, generator=generator, dtype=w.dtype, device=w.device)
        z = z / z.norm(dim=-1, keepdim=True)
        w.copy_((z * math.sqrt(v * cols)).reshape(w.shape))
        return w


@dataclass(frozen=True)
class Scheme:
    """A named variance-scaling scheme: per-weight variance ``scale / fan(mode)``."""

    name: str
    scale: float
    mode: Mode = "fan_in"
    distribution: Distribution = "normal"
    description: str = ""

    def __post_init__(self) -> None:
        _check(self.scale, self.mode, self.distribution)

    def variance(self, shape: Sequence[int]) -> float:
        """Per-weight variance over draws (0 for ``constant``)."""
        return 0.0 if self.distribution == "constant" else self.scale / fan(shape, self.mode)

    def second_moment(self, shape: Sequence[int]) -> float:
        """E[w^2]: the variance, or the constant's square."""
        return self.scale / fan(shape, self.mode)

    def std(self, shape: Sequence[int]) -> float:
        return math.sqrt(self.variance(shape))

    @property
    def rotation_invariant_gaussian(self) -> bool:
        """Rows i.i.d. isotropic Gaussian: then W h ~ sigma |h| z exactly (the engine's fast path)."""
        return self.distribution == "normal"

    @property
    def row_separable(self) -> bool:
        """Rows (output units) are drawn independently, so a big weight can be drawn in row tiles."""
        return self.distribution != "orthogonal"

    def init_(
        self,
        w: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        batch_dims: int = 0,
        fan_shape: Sequence[int] | None = None,
    ) -> torch.Tensor:
        return variance_scaling_(
            w, self.scale, self.mode, self.distribution, generator=generator, batch_dims=batch_dims, fan_shape=fan_shape
        )

    def sample(
        self,
        shape: Sequence[int],
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        return self.init_(torch.empty(tuple(shape), dtype=dtype, device=device), generator=generator)

    def __repr__(self) -> str:
        f = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "fan_avg", "none": "1"}[self.mode]
        law = {
            "normal": "N(0, {v})", "truncated_normal": "TruncN(0, {v})", "uniform": "U(var {v})",
            "orthogonal": "orthogonal(ms {v})", "sphere": "sphere(ms {v})", "constant": "const(sqrt({v}))",
        }[self.distribution]
        s = f"{self.scale:g}" if f == "1" else f"{self.scale:g}/{f}"
        return f"Scheme({self.name!r}: {law.format(v=s)})"


SCHEMES: Registry[Scheme] = Registry("init scheme", (
    (s.name, s)
    for s in (
        Scheme("normal", 1.0, "none", "normal", "N(0, 1): the 'harmless' init of text 002, variance grows by fan-in per layer"),
        Scheme("uniform", 1.0, "none", "uniform", "unit-variance U(-sqrt 3, sqrt 3) (torch's uniform_ default U(0,1) is not zero-mean)"),
        Scheme("constant", 1.0, "fan_in", "constant", "every weight 1/sqrt(fan_in): permutation symmetry never breaks (text 003)"),
        Scheme("zeros", 0.0, "fan_in", "constant", "all zeros"),
        Scheme("lecun-normal", 1.0, "fan_in", "normal", "N(0, 1/fan_in) (LeCun et al. 1998)"),
        Scheme("lecun-uniform", 1.0, "fan_in", "uniform", "U with variance 1/fan_in (LeCun et al. 1998)"),
        Scheme("xavier-normal", 1.0, "fan_avg", "normal", "N(0, 2/(fan_in+fan_out)) (Glorot & Bengio 2010)"),
        Scheme("xavier-uniform", 1.0, "fan_avg", "uniform", "U with variance 2/(fan_in+fan_out) (Glorot & Bengio 2010)"),
        Scheme("kaiming-normal", 2.0, "fan_in", "normal", "N(0, 2/fan_in) (He et al. 2015), for ReLU"),
        Scheme("kaiming-uniform", 2.0, "fan_in", "uniform", "U with variance 2/fan_in (He et al. 2015)"),
        Scheme("orthogonal", 1.0, "fan_in", "orthogonal", "scaled Haar orthogonal (Saxe et al. 2014)"),
        Scheme("sphere", 1.0, "fan_in", "sphere", "each unit's weight vector uniform on the unit sphere (text 001)"),
        Scheme("truncated-normal", 1.0, "fan_in", "truncated_normal", "variance-corrected normal truncated at 2 sd, variance 1/fan_in"),
        Scheme("torch-default", 1.0 / 3.0, "fan_in", "uniform", "nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))"),
    )
))


def get_scheme(name_or_scheme: str | Scheme) -> Scheme:
    """A preset by name, or a :class:`Scheme` as is."""
    if isinstance(name_or_scheme, Scheme):
        return name_or_scheme
    return SCHEMES.lookup(name_or_scheme)


def list_schemes() -> list[str]:
    return SCHEMES.names()


def torch_equivalent(name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The ``torch.nn.init`` call that draws from the same distribution as preset ``name``
    (``orthogonal``: for square and wide weights), or None where torch has none."""
    init = torch.nn.init

    def constant(w: torch.Tensor) -> torch.Tensor:
        return init.constant_(w, 1.0 / math.sqrt(compute_fans(w.shape)[0]))

    def trunc(w: torch.Tensor) -> torch.Tensor:
        s = math.sqrt(1.0 / compute_fans(w.shape)[0]) / _TRUNC_STD
        return init.trunc_normal_(w, std=s, a=-2 * s, b=2 * s)

    table: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "normal": lambda w: init.normal_(w, 0.0, 1.0),
        "uniform": lambda w: init.uniform_(w, -math.sqrt(3.0), math.sqrt(3.0)),
        "constant": constant,
        "zeros": init.zeros_,
        "lecun-normal": lambda w: init.kaiming_normal_(w, nonlinearity="linear"),
        "lecun-uniform": lambda w: init.kaiming_uniform_(w, nonlinearity="linear"),
        "xavier-normal": init.xavier_normal_,
        "xavier-uniform": init.xavier_uniform_,
        "kaiming-normal": lambda w: init.kaiming_normal_(w, nonlinearity="relu"),
        "kaiming-uniform": lambda w: init.kaiming_uniform_(w, nonlinearity="relu"),
        "orthogonal": init.orthogonal_,
        "truncated-normal": trunc,
        "torch-default": lambda w: init.kaiming_uniform_(w, a=math.sqrt(5)),
    }
    get_scheme(name)
    return table.get(name)


BIAS_KINDS: tuple[str, ...] = ("zero", "constant", "normal", "linspace", "torch-default")


def bias_init_(
    b: torch.Tensor,
    kind: str,
    *,
    sigma_b: float = 0.0,
    value: float = 0.0,
    fan_in: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill a bias in place: ``zero``; ``constant`` (``value``); ``normal`` N(0, sigma_b^2);
    ``linspace`` = linspace(-1, 1) over the last axis (the shift vectors of text 001);
    ``torch-default`` = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as nn.Linear."""
    with torch.no_grad():
        if kind == "zero":
            return b.zero_()
        if kind == "constant":
            return b.fill_(value)
        if kind == "normal":
            return b.normal_(0.0, sigma_b, generator=generator) if sigma_b > 0 else b.zero_()
        if kind == "linspace":
            return b.copy_(torch.linspace(-1.0, 1.0, b.shape[-1], dtype=b.dtype, device=b.device).expand_as(b))
        if kind == "torch-default":
            if not fan_in:
                raise InitscopeError("bias 'torch-default' needs the layer's fan_in")
            bound = 1.0 / math.sqrt(fan_in)
            return b.uniform_(-bound, bound, generator=generator)
    raise unknown("bias", kind, BIAS_KINDS)
