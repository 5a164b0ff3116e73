"""Mean-field theory of a wide random MLP at initialization, for any activation.

For weights W_ij ~ (0, sigma_w^2 / N) i.i.d. and biases of variance sigma_b^2, the
pre-activations of one layer are, over the weights and as N -> infinity, Gaussian
with a covariance that follows a deterministic map (Poole et al. 2016,
"Exponential expressivity in deep neural networks through transient chaos";
Schoenholz et al. 2017, "Deep Information Propagation"):

    q_{l+1}    = sigma_w^2 E[phi(u)^2] + sigma_b^2                  (length map)
    q^{ab}_{l+1} = sigma_w^2 E[phi(u) phi(v)] + sigma_b^2            (covariance map)
    (u, v) ~ N(0, [[q^{aa}, q^{ab}], [q^{ab}, q^{bb}]]),  c = q^{ab} / sqrt(q^{aa} q^{bb})

Layer 1 acts on the raw input: q_1 = sigma_w^2 |x|^2 / N_0 + sigma_b^2.

This finishes text 000's "Step 4": the variance of a neuron *over samples*,
averaged over networks, is E_x q(x) - E_{a != b} q^{ab}; the spread of the
per-neuron means mu_i(w) is E_{a != b} q^{ab}. For inputs of equal norm the
fraction of variance that is over samples is exactly 1 - c_l, and for ReLU with
Kaiming weights c_l -> 1 like 1 - c_l ~ (9 pi^2 / 2) / l^2 (derived in
:func:`relu_sample_fraction_asymptote`): the network becomes a constant function
of its input, polynomially in depth.

Pure functions on floats and numpy arrays; the activation is evaluated through
its torch function on float64 nodes, so any registered activation or user
callable works. Closed forms (ReLU and leaky ReLU by the arc-cosine kernel of
Cho & Saul 2009, abs, erf, linear) are used where they exist; Gauss-Hermite
quadrature otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from initscope.activations import ACTIVATIONS, Activation, get_activation, moments
from initscope.errors import InitscopeError

ActivationLike = str | Activation | Callable[[torch.Tensor], torch.Tensor]

_N2D = 32  # Gauss-Hermite nodes per axis of the 2-D maps (1024 evaluations per layer; exact to degree 63)
_LEAKY = 0.01


def _phi(act: Activation, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = act.fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()
    if not np.all(np.isfinite(y)):
        raise InitscopeError(f"activation {act.name!r} returned NaN or inf inside the theory's quadrature")
    return y


def _slope(act: Activation, x: np.ndarray) -> np.ndarray:
    z = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(act.fn(z).sum(), z, allow_unused=True)
    return np.zeros_like(x) if g is None else g.numpy()


@lru_cache(maxsize=4)
def _grid(n: int = _N2D) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tensor-product probabilists' Gauss-Hermite nodes (z1, z2) and weights summing to 1."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    z1, z2 = (a.ravel() for a in np.meshgrid(x, x, indexing="ij"))
    ww = np.outer(w, w).ravel()
    return z1, z2, ww


def _closed(act: Activation) -> str | None:
    """The name of the closed form that applies to ``act``, if any."""
    if ACTIVATIONS.get(act.name) is act and act.name in ("relu", "leaky_relu", "abs", "linear", "erf"):
        return act.name
    return None


# --- the arc-cosine kernel ------------------------------------------------------------


def _g(theta: np.ndarray | float) -> np.ndarray:
    """sin(theta) - theta cos(theta), stable for small theta (~ theta^3 / 3)."""
    t = np.asarray(theta, dtype=np.float64)
    small = t < 1e-3
    ts = np.where(small, t, 0.0)
    series = ts**3 / 3 - ts**5 / 30 + ts**7 / 840
    return np.where(small, series, np.sin(t) - t * np.cos(t))


def _relu_kernel(qa: np.ndarray, qb: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """E[relu(u) relu(v)] = sqrt(qa qb) / (2 pi) (sin theta + (pi - theta) cos theta)."""
    return np.sqrt(qa * qb) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))


def _theta(qa: np.ndarray, qb: np.ndarray, qab: np.ndarray) -> np.ndarray:
    c = np.clip(qab / np.sqrt(qa * qb), -1.0, 1.0)
    return np.arccos(c)


# --- the maps -------------------------------------------------------------------------


def mean_phi_squared(act: ActivationLike, q: float) -> float:
    """E[phi(u)^2], u ~ N(0, q): closed form, else split Gauss-Legendre quadrature (no autograd,
    so the per-layer cost is one evaluation of phi on 400 nodes)."""
    from initscope.activations import closed_form_moments, split_nodes

    a = get_activation(act)
    if q <= 0:
        return float(_phi(a, np.zeros(1))[0] ** 2)
    closed = closed_form_moments(a, float(q))
    if closed is not None:
        return closed.second
    x, w = split_nodes()
    y = _phi(a, x * math.sqrt(q))
    return float(np.dot(w, y * y))


def length_map(act: ActivationLike, q: float, sigma_w2: float, sigma_b2: float = 0.0) -> float:
    """q_{l+1} = sigma_w^2 E[phi(u)^2] + sigma_b^2 with u ~ N(0, q_l)."""
    return sigma_w2 * mean_phi_squared(act, q) + sigma_b2


def expected_product(act: ActivationLike, qa: np.ndarray | float, qb: np.ndarray | float, qab: np.ndarray | float) -> np.ndarray:
    """E[phi(u) phi(v)] for (u, v) ~ N(0, [[qa, qab], [qab, qb]]); vectorized over pairs."""
    a = get_activation(act)
    qa, qb, qab = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (qa, qb, qab))
    qa, qb, qab = np.broadcast_arrays(qa, qb, qab)
    kind = _closed(a)
    if kind in ("relu", "leaky_relu", "abs"):
        th = _theta(qa, qb, qab)
        k_pos, k_neg = _relu_kernel(qa, qb, th), _relu_kernel(qa, qb, np.pi - th)
        if kind == "relu":
            return k_pos
        if kind == "abs":
            return 2 * k_pos + 2 * k_neg
        return (1 + _LEAKY**2) * k_pos - 2 * _LEAKY * k_neg
    if kind == "linear":
        return qab.copy()
    if kind == "erf":
        return (2 / np.pi) * np.arcsin(np.clip(2 * qab / np.sqrt((1 + 2 * qa) * (1 + 2 * qb)), -1, 1))
    z1, z2, w = _grid()
    c = np.clip(qab / np.sqrt(qa * qb), -1.0, 1.0)[:, None]
    u = np.sqrt(qa)[:, None] * z1[None, :]
    v = np.sqrt(qb)[:, None] * (c * z1[None, :] + np.sqrt(1 - c * c) * z2[None, :])
    return (_phi(a, u) * _phi(a, v)) @ w


def covariance_map(
    act: ActivationLike, q_aa: float, q_bb: float, q_ab: float, sigma_w2: float, sigma_b2: float = 0.0
) -> tuple[float, float, float]:
    """One layer of the two-input map: (q_aa, q_bb, q_ab) -> next layer's."""
    na = length_map(act, q_aa, sigma_w2, sigma_b2)
    nb = length_map(act, q_bb, sigma_w2, sigma_b2)
    nab = float(sigma_w2 * expected_product(act, q_aa, q_bb, q_ab)[0] + sigma_b2)
    return na, nb, nab


def correlation(q_aa: float, q_bb: float, q_ab: float) -> float:
    return q_ab / math.sqrt(q_aa * q_bb)


def half_squared_difference(act: ActivationLike, q: float, d: float) -> float:
    """(1/2) E[(phi(u) - phi(v))^2] for u, v of variance q and covariance q - d.

    This is E[phi^2] - E[phi(u) phi(v)] computed without cancellation, so 1 - c stays
    accurate when it is tiny (deep ReLU nets): in coordinates s = (u + v) / 2 ~ N(0, q - d/2)
    and t = u - v ~ N(0, 2 d), independent, the integrand is smooth in t.
    """
    a = get_activation(act)
    if d <= 0:
        return 0.0
    kind = _closed(a)
    if kind in ("relu", "leaky_relu", "abs"):
        th = 2 * math.asin(min(1.0, math.sqrt(d / (2 * q))))  # cos th = 1 - d/q, without cancellation
        d_relu = q / (2 * math.pi) * (2 * math.pi * math.sin(th / 2) ** 2 - float(_g(th)))
        k_neg = q / (2 * math.pi) * float(_g(th))
        if kind == "relu":
            return d_relu
        if kind == "abs":
            return 2 * d_relu - 2 * k_neg
        return (1 + _LEAKY**2) * d_relu + 2 * _LEAKY * k_neg
    if kind == "linear":
        return d
    z1, z2, w = _grid()
    s = math.sqrt(max(q - d / 2, 0.0)) * z1
    t = math.sqrt(2 * d) * z2
    diff = _phi(a, s + t / 2) - _phi(a, s - t / 2)
    return 0.5 * float((diff * diff) @ w)


# --- fixed points and depth scales ---------------------------------------------------


def _chi_q(act: Activation, q: float, sigma_w2: float) -> float:
    """d q_{l+1} / d q_l = sigma_w^2 E[phi'^2 + phi phi''] = sigma_w^2 E[u phi(u) phi'(u)] / q (Stein)."""
    from initscope.activations import split_nodes

    x, w = split_nodes()
    u = x * math.sqrt(q)
    return sigma_w2 * float(np.sum(w * u * _phi(act, u) * _slope(act, u))) / q


def chi1(act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, q: float | None = None) -> float | None:
    """chi_1 = sigma_w^2 E[phi'(u)^2], u ~ N(0, q) at q = q* (or the given q); None if q* is undefined."""
    a = get_activation(act)
    if q is None:
        q, _ = q_star(a, sigma_w2, sigma_b2)
        if q is None:
            return None
    return sigma_w2 * moments(a, q).deriv_second


def q_star(act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0) -> tuple[float | None, str]:
    """The fixed point of the length map reached from ``q0``, and a note when there is none.

    Returns ``(None, reason)`` when q diverges, or when every q is a fixed point
    (e.g. ReLU with sigma_w^2 = 2 and no bias: q* is whatever the input gives).
    """
    a = get_activation(act)
    q = q0
    for _ in range(5000):
        nq = length_map(a, q, sigma_w2, sigma_b2)
        if not math.isfinite(nq) or nq > 1e100:
            return None, "q diverges: the length map has no finite fixed point (exploding)"
        if abs(nq - q) <= 1e-13 * (1 + q):
            q = nq
            break
        q = nq
    else:
        if q < 1e-2 * q0:
            return 0.0, ""  # q decays to the fixed point 0, slowly (near or at criticality)
        return None, "q did not converge in 5000 layers"
    if q > 0 and sigma_b2 == 0 and abs(_chi_q(a, q, sigma_w2) - 1) < 1e-9:
        return None, "every q is a fixed point (the length map is the identity): q* is set by the input"
    return q, ""


def c_star(act: ActivationLike, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """The stable fixed point of the correlation map at q*: the first zero of F(c) - c on
    [0, 1) where F crosses from above (brentq); 1 if F(c) > c all the way (the ordered phase)."""
    from scipy.optimize import brentq

    a = get_activation(act)

    def g(c: float) -> float:
        return float(sigma_w2 * expected_product(a, q, q, c * q)[0] + sigma_b2) / q - c

    grid = [0.0, 0.25, 0.5, 0.75, 0.9, 0.97, 0.99, 0.997, 0.999, 1 - 1e-4, 1 - 1e-5]
    vals = [g(c) for c in grid]
    if abs(vals[0]) < 1e-14 and vals[1] < 0:
        return 0.0
    for c0, c1, v0, v1 in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
        if v0 >= 0 > v1:
            return float(brentq(g, c0, c1, xtol=1e-13))
    return 1.0


def chi_c(act: ActivationLike, sigma_w2: float, q: float, c: float) -> float:
    """sigma_w^2 E[phi'(u) phi'(v)] at (q, c): the slope of the correlation map."""
    a = get_activation(act)
    if c >= 1 - 1e-12:
        return sigma_w2 * moments(a, q).deriv_second
    z1, z2, w = _grid()
    u = math.sqrt(q) * z1
    v = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    return sigma_w2 * float((_slope(a, u) * _slope(a, v)) @ w)


def depth_scale(chi: float | None) -> float | None:
    """xi = -1 / ln(chi); None (infinite) at chi = 1 or when chi is undefined."""
    if chi is None or chi <= 0 or abs(chi - 1) < 1e-9:
        return None
    return -1.0 / math.log(chi) if chi < 1 else None


def order_chaos_boundary(act: ActivationLike, sigma_b2_values: Sequence[float], lo: float = 0.05, hi: float = 20.0) -> list[float | None]:
    """For each sigma_b^2, the sigma_w^2 where chi_1 = 1 (the edge of chaos); None if not bracketed."""
    from scipy.optimize import brentq

    a = get_activation(act)
    out: list[float | None] = []
    for sb2 in sigma_b2_values:

        def f(sw2: float) -> float:
            q, _ = q_star(a, sw2, sb2)
            c1 = chi1(a, sw2, sb2, q=q) if q is not None else None
            return (c1 if c1 is not None else 2.0) - 1.0

        grid = np.geomspace(lo, hi, 40)
        vals = [f(x) for x in grid]
        root = None
        for x0, x1, f0, f1 in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
            if f0 < 0 <= f1:
                root = brentq(f, x0, x1, xtol=1e-8) if f1 != 0 else x1
                break
        out.append(root)
    return out


# --- predictions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """Per-layer predictions (index i is layer i + 1) and scalars of the map's fixed point."""

    layers: tuple[int, ...]
    q: tuple[float, ...]  # network variance of a pre-activation for one input: E_w[y_l^2]
    c: tuple[float, ...]  # correlation of two independent inputs' pre-activations
    sample_fraction: tuple[float, ...]  # share of the variance that is over samples
    sample_variance: tuple[float, ...]
    mean_spread: tuple[float, ...]
    chi1: float | None
    q_star: float | None
    c_star: float | None
    xi_q: float | None
    xi_c: float | None
    first_nonfinite_layer: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "layers": list(self.layers), "q": list(self.q), "c": list(self.c),
            "sample_fraction": list(self.sample_fraction), "sample_variance": list(self.sample_variance),
            "mean_spread": list(self.mean_spread), "chi1": self.chi1, "q_star": self.q_star,
            "c_star": self.c_star, "xi_q": self.xi_q, "xi_c": self.xi_c,
            "first_nonfinite_layer": self.first_nonfinite_layer, "notes": list(self.notes),
        }


def predict(
    act: ActivationLike,
    sigma_w2: float | Sequence[float],
    sigma_b2: float,
    depth: int,
    *,
    x_sq: float = 1.0,
    x_ab: float = 0.0,
    samples: int | None = None,
    residual: bool = False,
    layernorm: bool = False,
) -> Prediction:
    """Layer-by-layer predictions for inputs with mean square ``x_sq = |x|^2 / N_0`` and
    mean pairwise inner product ``x_ab = <x_a, x_b> / N_0`` (0 for independent zero-mean inputs).

    ``sigma_w2`` may be one value or one per layer (sigma_w^2 = fan_in x weight variance).
    ``samples``: with S inputs the measured spread of the per-neuron means carries the sampling
    noise of those means, (q - q^{ab}) / S; give S to predict what the engine measures.
    ``residual``: y_l = y_{l-1} + W phi(y_{l-1}) + b adds the previous layer's (co)variance.
    ``layernorm``: phi acts on y / sqrt(q) (mean subtraction is negligible for zero-mean units).
    """
    a = get_activation(act)
    if depth < 1:
        raise InitscopeError(f"depth must be >= 1, got {depth}")
    sw = [float(sigma_w2)] * depth if np.isscalar(sigma_w2) else [float(s) for s in sigma_w2]  # type: ignore[arg-type]
    if len(sw) != depth:
        raise InitscopeError(f"sigma_w2 needs one value per layer ({depth}), got {len(sw)}")
    notes: list[str] = []
    q = sw[0] * x_sq + sigma_b2
    qab = sw[0] * x_ab + sigma_b2
    d = q - qab  # q - q^{ab}, tracked directly so that 1 - c stays accurate when tiny
    qs, ds = [q], [d]
    first_bad = None
    for layer in range(2, depth + 1):
        if layernorm:
            m_q = mean_phi_squared(a, 1.0)
            m_d = half_squared_difference(a, 1.0, d / q)
        else:
            m_q = mean_phi_squared(a, q)
            m_d = half_squared_difference(a, q, d)
        nq = sw[layer - 1] * m_q + sigma_b2
        nd = sw[layer - 1] * m_d
        if residual:
            nq, nd = nq + q, nd + d
        if not (math.isfinite(nq) and nq < 1e300):
            first_bad = layer
            notes.append(f"the predicted variance leaves the float64 range at layer {layer}")
            break
        q, d = nq, min(nd, nq)
        qs.append(q)
        ds.append(d)
    n = len(qs)
    pad = [math.nan] * (depth - n)
    qa, da = np.array(qs), np.array(ds)
    c = 1 - da / qa
    if samples:
        sample_var = da
        spread = (qa - da) + da / samples
    else:
        sample_var, spread = da, qa - da
    frac = sample_var / (sample_var + spread)
    # fixed-point scalars at the last layer's sigma_w^2
    s_last = sw[-1]
    qstar, why = q_star(a, s_last, sigma_b2) if not (residual or layernorm) else (None, "no fixed-point analysis for residual or LayerNorm nets")
    if why:
        notes.append(f"q_star: {why}")
    c1 = chi1(a, s_last, sigma_b2, q=qstar) if qstar is not None else None
    if c1 is None and not (residual or layernorm):
        # for a marginal length map, chi_1 is still defined at the input's own q
        c1 = chi1(a, s_last, sigma_b2, q=qs[0]) if qs[0] > 0 else None
        if c1 is not None:
            notes.append("chi1: evaluated at q_1 (no unique q*)")
    marginal = qstar is None and "every q is a fixed point" in why
    q_ref = qstar if qstar is not None else (qs[0] if marginal else None)
    cstar = c_star(a, s_last, sigma_b2, q_ref) if q_ref is not None and q_ref > 0 else None
    if marginal and cstar is not None:
        notes.append("c_star: evaluated at q_1 (no unique q*)")
    xi_q = depth_scale(_chi_q(a, qstar, s_last)) if qstar is not None and qstar > 0 else None
    if xi_q is None:
        notes.append("xi_q: undefined (no attracting q*, or chi_q = 1)")
    xi_c = depth_scale(chi_c(a, s_last, q_ref, cstar)) if cstar is not None else None
    if xi_c is None:
        notes.append("xi_c: infinite or undefined (criticality chi_c = 1, or no q*)")
    return Prediction(
        layers=tuple(range(1, depth + 1)),
        q=tuple(list(qa) + pad), c=tuple(list(c) + pad),
        sample_fraction=tuple(list(frac) + pad), sample_variance=tuple(list(sample_var) + pad),
        mean_spread=tuple(list(spread) + pad),
        chi1=c1, q_star=qstar, c_star=cstar, xi_q=xi_q, xi_c=xi_c,
        first_nonfinite_layer=first_bad, notes=tuple(notes),
    )


# --- ReLU: large depth and finite width ---------------------------------------------


RELU_ASYMPTOTE_K = 9 * math.pi**2 / 2
"""1 - c_l ~ K / l^2 for ReLU, sigma_w^2 = 2, no bias.

Near c = 1 the ReLU correlation map f(c) = (sqrt(1 - c^2) + (pi - arccos c) c) / pi expands,
with eps = 1 - c and arccos(1 - eps) = sqrt(2 eps)(1 + eps/12 + ...), to
eps' = eps - a eps^{3/2} + O(eps^2) with a = 2 sqrt(2) / (3 pi). The continuum limit
d eps / dl = -a eps^{3/2} integrates to eps^{-1/2} = a l / 2 + const, so
eps_l ~ 4 / (a^2 l^2) = 9 pi^2 / (2 l^2) ~ 44.4 / l^2, whatever the input correlation."""


def relu_sample_fraction_asymptote(layers: Sequence[int] | np.ndarray) -> np.ndarray:
    """K / l^2: the large-depth share of variance over samples for Kaiming ReLU nets."""
    layer_arr = np.asarray(layers, dtype=np.float64)
    return RELU_ASYMPTOTE_K / layer_arr**2


def relu_norm_fluctuation(depth: int, width: int | Sequence[int]) -> np.ndarray:
    """Relative variance over networks of a layer's mean square |y_l|^2 / N, for one input,
    in a ReLU net with Gaussian weights and no bias (Hanin & Rolnick 2018, exact here):

        Var / E^2 = (1 + 2/N_l) prod_{j < l} (1 + 5/N_j) - 1.

    Given h_{l-1}, |y_l|^2 = sigma_w^2 |h_{l-1}|^2 / N chi^2_N (ratio 1 + 2/N) and
    |h_l|^2 = sigma_w^2 |h_{l-1}|^2 / N * sum_i relu(z_i)^2, whose second moment over
    the squared first is 1 + 5/N (E relu(z)^2 = 1/2, E relu(z)^4 = 3/2). This is the
    spread of the *layer* view between networks: the band around the theory line.
    """
    widths = [int(width)] * depth if np.isscalar(width) else [int(w) for w in width]  # type: ignore[arg-type]
    out, prod = [], 1.0
    for layer in range(1, depth + 1):
        n = widths[layer - 1]
        out.append((1 + 2 / n) * prod - 1)
        prod *= 1 + 5 / n
    return np.array(out)


def predict_setup(
    activation: ActivationLike = "relu",
    init: str = "kaiming-normal",
    depth: int = 50,
    *,
    width: int = 1024,
    input_dim: int | None = None,
    sigma_b: float = 0.0,
    sigma_w2: float | None = None,
    input: str = "gaussian",
) -> Prediction:
    """:func:`predict` for a named setup: sigma_w^2 = fan_in x the scheme's per-weight second
    moment (or ``sigma_w2`` directly), inputs of the named distribution (E|x|^2 / N_0 from it)."""
    from initscope.data import get_input
    from initscope.schemes import get_scheme

    if width < 1:
        raise InitscopeError(f"width must be >= 1, got {width}")
    if sigma_b < 0:
        raise InitscopeError(f"sigma_b must be >= 0, got {sigma_b}")
    n0 = input_dim if input_dim is not None else width
    if n0 < 1:
        raise InitscopeError(f"input_dim must be >= 1, got {n0}")
    if sigma_w2 is not None:
        if not (sigma_w2 >= 0 and math.isfinite(sigma_w2)):
            raise InitscopeError(f"sigma_w2 must be a finite number >= 0, got {sigma_w2}")
        sw: float | list[float] = float(sigma_w2)
    else:
        scheme = get_scheme(init)
        sw = [scheme.second_moment((width, n0)) * n0] + [scheme.second_moment((width, width)) * width] * (depth - 1)
    x_sq = get_input(input).mean_square(n0)
    return predict(get_activation(activation), sw, sigma_b**2, depth, x_sq=x_sq)
