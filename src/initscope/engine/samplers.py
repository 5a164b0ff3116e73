"""Exact laws of ``W h`` for one network's layer input ``h``, without drawing ``W``.

In the network view every network draws a fresh ``W`` for a given ``h``, so all the
view needs is the law of ``W h`` given ``h``. For the schemes below it depends on ``h``
only through |h| (or sum(h)) and costs O(width) per network and layer instead of the
O(width^2) of a whole matrix:

* ``normal``: rows i.i.d. N(0, v I), so W h = sqrt(v) |h| z, z ~ N(0, I_out).
* ``orthogonal`` (Haar, scaled by c = sqrt(v max(out, in))): with n = max(out, in) and
  g ~ N(0, I_n), W h has the law of c |h| g[:out] / |g|. Square and tall W (out >= in)
  map h to a uniformly random direction of R^out with its norm kept; a wide W
  (out < in) keeps the coordinates of h on a uniformly random out-dimensional subspace,
  whose squared norm is |h|^2 Beta(out/2, (in - out)/2) — which is what the first out
  coordinates of a uniform unit vector of R^in have.
* ``sphere`` (rows i.i.d. uniform on the sphere of radius R = sqrt(v in)): unit i is
  R |h| t_i with t_i the first coordinate of a uniform unit vector of R^in, independent
  across units: t = z / sqrt(z^2 + 2 G), z ~ N(0, 1), G ~ Gamma((in - 1) / 2), so that
  t^2 ~ Beta(1/2, (in - 1)/2).
* ``constant``: every unit is sqrt(v) sum(h); nothing is random.

The full-matrix path (:func:`initscope.engine.probe`) draws every ``W`` and is what these
laws are tested against (KS tests per layer, variances within a few standard errors).
"""

from __future__ import annotations

import math

import torch

from initscope.schemes import Scheme

EXACT_DISTRIBUTIONS: tuple[str, ...] = ("normal", "orthogonal", "sphere", "constant")


def has_exact_law(scheme: Scheme) -> bool:
    """Whether ``W h`` of ``scheme`` has an O(width) sampler here."""
    return scheme.distribution in EXACT_DISTRIBUTIONS


Blocks = list[tuple[slice, torch.Generator]]  # rows of a batch, and the stream each block draws from


def _draw(fill: str, blocks: Blocks, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """``torch.randn``/``rand`` of ``shape`` whose rows ``rows`` come from each block's stream."""
    out = torch.empty(shape, dtype=dtype, device=device)
    for rows, g in blocks:
        getattr(torch, fill)(out[rows].shape, generator=g, dtype=dtype, device=device, out=out[rows])
    return out


def gamma_blocks(alpha: float, blocks: Blocks, shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """Gamma(alpha, 1) draws of ``shape`` (rows by block), by Marsaglia & Tsang (2000), vectorized.

    With d = alpha - 1/3, c = 1 / sqrt(9 d), x ~ N(0, 1), u ~ U(0, 1) and v = (1 + c x)^3,
    d v is accepted when log u < x^2 / 2 + d (1 - v + log v): more than 98% of draws for
    alpha >= 1, more as alpha grows. Each block redraws its rejected values from its own
    stream, after its first draws, so a block's values depend on its stream only, not
    on which blocks are drawn together. The test is written through log1p and
    (1 + y)^3 - 1 = y (3 + 3 y + y^2), which keeps it accurate in float32 when v is close
    to 1 (large alpha). For alpha < 1, Gamma(alpha) = Gamma(alpha + 1) U^(1/alpha).
    (torch's ``_standard_gamma`` draws one value at a time and is several times slower.)
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    boost = alpha < 1.0
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    x = _draw("randn", blocks, shape, dtype, device)
    u = _draw("rand", blocks, shape, dtype, device)
    y = x.mul(c)
    out = y.add(3.0).mul_(y).add_(3.0).mul_(y)  # v - 1 = y (3 + 3 y + y^2)
    x2 = x.mul_(x)
    # Marsaglia & Tsang's squeeze u < 1 - 0.0331 x^4 accepts about 90% without a log (and
    # never a y <= -1: for alpha >= 1, c <= 0.41, so x^4 >= 36 there); the full test runs
    # on the rest only.
    ok = u < x2.square().mul_(-0.0331).add_(1.0)
    idx = (~ok).view(-1).nonzero().squeeze(1)
    yi = y.view(-1)[idx]
    full = (yi > -1.0) & (
        u.view(-1)[idx].log_() < torch.log1p(yi.clamp_(min=-0.999999)).mul_(3.0).sub_(out.view(-1)[idx]).mul_(d).add_(x2.view(-1)[idx], alpha=0.5)
    )
    ok.view(-1)[idx] = full
    out.add_(1.0).mul_(d)
    bad = ~ok
    # one device-to-host copy for every block's count (a sync per block costs more than the work on a GPU)
    redos = torch.stack([bad[rows].sum() for rows, _ in blocks]).tolist()
    for (rows, g), redo in zip(blocks, redos):
        if redo:
            out[rows][bad[rows]] = gamma_blocks(a, [(slice(None), g)], (redo,), dtype=dtype, device=device)
    if boost:
        out *= _draw("rand", blocks, shape, dtype, device).pow_(1.0 / alpha)
    return out


def standard_gamma(
    alpha: float, n: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``n`` draws of Gamma(alpha, 1) from one stream; see :func:`gamma_blocks`."""
    return gamma_blocks(alpha, [(slice(None), generator)], (n,), dtype=dtype, device=device)


def sphere_coordinate(blocks: Blocks, m: int, units: int, dim: int, *, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """``[m, units]`` i.i.d. first coordinates of uniform unit vectors of R^dim:
    t = z / sqrt(z^2 + 2 G), z ~ N(0, 1), G ~ Gamma((dim - 1) / 2)."""
    z = _draw("randn", blocks, (m, units), dtype, device)
    if dim == 1:
        return torch.sign(z)
    g = gamma_blocks((dim - 1) / 2.0, blocks, (m, units), dtype=dtype, device=device)
    return z.div_(g.mul_(2.0).addcmul_(z, z).sqrt_())


def exact_linear(
    scheme: Scheme,
    shape: tuple[int, int],
    h: torch.Tensor,
    h_norm: torch.Tensor,
    *,
    blocks: Blocks,
    out: torch.Tensor,
) -> torch.Tensor:
    """Fill ``out`` (``[m, fan_out]``) with one draw of ``W h`` per row of ``h`` (``[m, fan_in]``;
    ``h_norm``: its row norms ``[m, 1]``), W of ``shape`` drawn from ``scheme``. ``blocks``:
    the rows each stream draws; a block's values depend on its own stream only."""
    fan_out, fan_in = shape
    m, dtype, device = out.shape[0], out.dtype, out.device
    v = scheme.second_moment(shape)
    dist = scheme.distribution
    if dist == "normal":
        for rows, g in blocks:
            torch.randn(out[rows].shape, generator=g, dtype=dtype, device=device, out=out[rows])
        out *= math.sqrt(v) * h_norm
    elif dist == "orthogonal":
        n = max(fan_out, fan_in)
        g = _draw("randn", blocks, (m, n), dtype, device)
        out.copy_(g[:, :fan_out])
        out *= math.sqrt(v * n) * h_norm / g.norm(dim=1, keepdim=True)
    elif dist == "sphere":
        out.copy_(sphere_coordinate(blocks, m, fan_out, fan_in, dtype=dtype, device=device))
        out *= math.sqrt(v * fan_in) * h_norm
    elif dist == "constant":
        out.copy_((math.sqrt(v) * h.sum(dim=1, keepdim=True, dtype=torch.float64)).to(dtype).expand(m, fan_out))
    else:
        raise ValueError(f"no exact law of W h for {dist!r} weights; exact ones: {', '.join(EXACT_DISTRIBUTIONS)}")
    return out
