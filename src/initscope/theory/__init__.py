"""Mean-field theory of a wide random MLP at initialization, for any activation.

For weights W_ij ~ N(0, sigma_w^2 / N) i.i.d. and biases b_i ~ N(0, sigma_b^2), the
pre-activations y_l = W_l phi(y_{l-1}) + b_l of one layer are, over the weights and as
N -> infinity, Gaussian with a covariance that follows a deterministic map (Poole et al.
2016, "Exponential expressivity in deep neural networks through transient chaos";
Schoenholz et al. 2017, "Deep Information Propagation"):

    q_{l+1}      = sigma_w^2 E[phi(u)^2] + sigma_b^2             (length map)
    q^{ab}_{l+1} = sigma_w^2 E[phi(u) phi(v)] + sigma_b^2         (covariance map)
    (u, v) ~ N(0, [[q^{aa}, q^{ab}], [q^{ab}, q^{bb}]]),  c = q^{ab} / sqrt(q^{aa} q^{bb})

Layer 1 acts on the raw input x in R^{N_0}: q_1 = sigma_w^2 |x|^2 / N_0 + sigma_b^2 and
q^{ab}_1 = sigma_w^2 <x_a, x_b> / N_0 + sigma_b^2 (:func:`first_layer`).

This finishes text 000's "Step 4". For a distribution of inputs, the variance of a neuron
*over samples*, averaged over networks, is E_x q(x) - E_{a != b} q^{ab}; the spread of the
per-neuron means mu_i(w) over networks is E_{a != b} q^{ab}; the fraction of the variance
that is over samples is their ratio to E_x q(x) (:func:`propagate_inputs` for a given set of
inputs). For inputs of equal norm it is exactly 1 - c_l (:func:`predict`), and for ReLU with
Kaiming weights c_l -> 1 like 1 - c_l ~ (9 pi^2 / 2) / l^2 (:data:`RELU_ASYMPTOTE_K`): the
network becomes a constant function of its input, polynomially in depth.

Numerics.

* The state of a pair of inputs is tracked as (q, gap) with gap = q - q^{ab} (equal norms) or
  gap = (q^{aa} + q^{bb}) / 2 - q^{ab} (in general), and the gap has its own map,
  gap' = sigma_w^2 (1/2) E[(phi(u) - phi(v))^2], evaluated without cancellation. So 1 - c stays
  accurate at 1e-12 and below (deep ReLU nets, the ordered phase), where 1 - q^{ab}/q would be
  rounding noise.
* 1-D expectations use split Gauss-Legendre nodes (exponentially accurate for a kink at 0, see
  :mod:`initscope.activations`). The gap of a pair of equal norms uses a polar rule
  (:func:`_polar_pair_nodes`): angular sectors split at the rays where u = 0 and v = 0, Gauss-
  Legendre in angle and a Gauss rule for the radius, so a kink at 0 (elu, selu, user functions)
  converges exponentially like a smooth phi: 3 x 12 x 12 nodes per layer in :func:`predict`'s
  loop, 3 x 32 x 24 in one-off calls. Measured against an independent split quadrature
  (``benchmarks/bench_theory.py``, 200 layers): q to ~1e-14, 1 - c to <= 1.2e-7 for tanh, gelu,
  silu, elu and selu, down to gaps of 1e-290 (below gap/q = 1e-12 the loop uses the map's
  linearity, see _LINEAR_GAP). The 30 x 30 Gauss-Hermite rule it replaced was off by up to 6%
  (tanh at q = 4) and 68% (elu's 1 - c after 200 layers). Both rules split only at 0: a phi
  with a kink elsewhere (a user's hardtanh or relu6) converges algebraically, measured ~2e-4 in
  q and up to 3% in 1 - c after 100 layers (hardtanh, sigma_w^2 = 1.5). Pairs of unequal norms and products
  E[phi(u) phi(v)] still use a 61 x 61 Gauss-Hermite rule after a Cholesky factorisation.
* Closed forms where they exist: ReLU, leaky ReLU and abs by the arc-cosine kernel (Cho & Saul
  2009), erf (Williams 1997; its gap without cancellation, :func:`_erf_gap`), linear. Any
  other registered activation or user callable goes through quadrature with one call of
  ``act.fn`` on a float64 tensor per layer; NaN or inf from it raises :class:`InitscopeError`.
* phi' comes from autograd (chi_1, chi_c); the phi'' of Schoenholz et al.'s chi_q is avoided
  by Stein's lemma, sigma_w^2 E[phi'^2 + phi phi''] = sigma_w^2 E[u phi(u) phi'(u)] / q, which
  is exactly d q_{l+1} / d q_l and needs one derivative only (so it is right for ReLU, whose
  phi'' is a delta function that autograd would miss).

Pure functions on floats, numpy arrays and frozen dataclasses; nothing is printed and no
warning is raised, a diverging variance included (reported as the first non-finite layer).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from functools import lru_cache

import numpy as np
import torch

from initscope.activations import ACTIVATIONS, Activation, get_activation, moments, radial_nodes, split_nodes
from initscope.errors import InitscopeError

ActivationLike = str | Activation | Callable[[torch.Tensor], torch.Tensor]

_N2D_FINE = 61  # Gauss-Hermite nodes per axis for pairs of unequal norms and products E[phi(u) phi(v)] (3721 nodes)
_N1D = 100  # split Gauss-Legendre nodes per half-line in the per-layer loop (rel. error ~1e-14 for q <= 100)
_CHUNK = 2048  # at most this many values per call of phi: above it torch may go multi-threaded,
# and waking its thread pool costs milliseconds on a loaded machine (measured: tanh, sigmoid)
_LEAKY = 0.01  # the registered leaky_relu's slope (torch's default)
_BIG = 1e300  # a variance beyond this counts as diverged (the next layer would overflow)


# --- evaluation of phi ----------------------------------------------------------------


def ratio_or_nan(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else NaN: a sample fraction of layers where every value is the
    same number is 0/0, undefined (the tables leave those rows out)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    pos = den > 0
    return np.where(pos, num / np.where(pos, den, 1.0), math.nan)


def _phi(act: Activation, x: np.ndarray) -> np.ndarray:
    """phi on float64 numpy values, through the activation's torch function; NaN/inf raise."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    if flat.size > _CHUNK:
        return np.concatenate([_phi(act, flat[i : i + _CHUNK]) for i in range(0, flat.size, _CHUNK)]).reshape(x.shape)
    with torch.no_grad():
        y = act.fn(torch.from_numpy(x))
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise InitscopeError(f"activation {act.name!r} must map a tensor to a tensor of the same shape")
    y = y.detach().to(torch.float64).numpy()
    if not math.isfinite(float(y.sum())):  # a NaN or inf anywhere makes the sum non-finite
        raise InitscopeError(f"activation {act.name!r} returned NaN or inf inside the theory's quadrature")
    return y


def _slope(act: Activation, x: np.ndarray) -> np.ndarray:
    """phi' by autograd (0 where phi does not depend on its input)."""
    z = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(act.fn(z).sum(), z, allow_unused=True)
    if g is None:
        return np.zeros_like(np.asarray(x, dtype=np.float64))
    g = g.detach().numpy()
    if not math.isfinite(float(g.sum())):
        raise InitscopeError(f"the derivative of activation {act.name!r} is NaN or inf on the quadrature nodes")
    return g


@lru_cache(maxsize=4)
def _grid(n: int = _N2D_FINE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tensor-product probabilists' Gauss-Hermite nodes (z1, z2) and weights summing to 1."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    z1, z2 = (a.ravel() for a in np.meshgrid(x, x, indexing="ij"))
    ww = np.outer(w, w).ravel()
    for a in (z1, z2, ww):
        a.setflags(write=False)
    return z1, z2, ww


def _g_scalar(t: float) -> float:
    """sin(t) - t cos(t) for one float, with the series below 1e-2."""
    if t < 1e-2:
        t2 = t * t
        return t * t2 * (1 / 3 - t2 * (1 / 30 - t2 * (1 / 840 - t2 / 45360)))
    return math.sin(t) - t * math.cos(t)


def _closed(act: Activation) -> str | None:
    """The name of the closed form that applies to ``act`` (registered activations only)."""
    if act.name in ("relu", "leaky_relu", "abs", "linear", "erf") and ACTIVATIONS.get(act.name) is act:
        return act.name
    return None


def pairs_in_closed_form(act: ActivationLike) -> bool:
    """Whether :func:`propagate_inputs` advances pairs in closed form for ``act`` (the relu
    family and linear): then thousands of pairs cost milliseconds per layer, where
    quadrature costs about a millisecond per pair and layer."""
    kind = _closed(get_activation(act))
    return kind is not None and kind != "erf"


def _relu_family_slope(kind: str) -> float:
    """phi(u) = relu(u) - a relu(-u): relu a = 0, leaky a = slope, abs a = -1."""
    return {"relu": 0.0, "leaky_relu": _LEAKY, "abs": -1.0}[kind]


# --- the arc-cosine kernel ------------------------------------------------------------


def _g(theta: np.ndarray) -> np.ndarray:
    """sin(theta) - theta cos(theta), without cancellation for small theta (~ theta^3 / 3)."""
    t = np.asarray(theta, dtype=np.float64)
    small = t < 1e-2
    ts = np.where(small, t, 0.0)
    t2 = ts * ts
    series = ts * t2 * (1 / 3 - t2 * (1 / 30 - t2 * (1 / 840 - t2 / 45360)))
    return np.where(small, series, np.sin(t) - t * np.cos(t))


def relu_kernel(qa, qb, qab):
    """E[relu(u) relu(v)] = sqrt(qa qb) / (2 pi) (sin theta + (pi - theta) cos theta), theta = arccos c
    (the first-order arc-cosine kernel, Cho & Saul 2009). Vectorized."""
    qa, qb, qab = (np.asarray(v, dtype=np.float64) for v in (qa, qb, qab))
    r = np.sqrt(qa * qb)
    th = np.arccos(np.clip(qab / np.where(r > 0, r, 1.0), -1.0, 1.0))
    return r / (2 * np.pi) * (np.sin(th) + (np.pi - th) * np.cos(th))


def leaky_relu_kernel(qa, qb, qab, slope: float):
    """E[f(u) f(v)] for f(u) = relu(u) - slope relu(-u) (slope 0: relu, -1: abs).

    f(u) f(v) = r(u) r(v) - a r(u) r(-v) - a r(-u) r(v) + a^2 r(-u) r(-v) with r = relu, and
    (-u, -v) has the covariance of (u, v) while (u, -v) has correlation -c, so

        E[f(u) f(v)] = (1 + a^2) K(c) - 2 a K(-c),   K = :func:`relu_kernel`,

    and K(-c) = sqrt(qa qb) / (2 pi) (sin theta - theta cos theta) since arccos(-c) = pi - theta.
    """
    qa, qb, qab = (np.asarray(v, dtype=np.float64) for v in (qa, qb, qab))
    return (1 + slope**2) * relu_kernel(qa, qb, qab) - 2 * slope * relu_kernel(qa, qb, -qab)


def _theta_from_gap(qa: np.ndarray, qb: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """theta = arccos c from the gap, without cancellation:
    sqrt(qa qb)(1 - c) = gap - (sqrt qa - sqrt qb)^2 / 2 and theta = 2 asin(sqrt((1 - c) / 2))."""
    r = np.sqrt(qa * qb)
    one_minus_c = (gap - 0.5 * (np.sqrt(qa) - np.sqrt(qb)) ** 2) / np.where(r > 0, r, 1.0)
    return 2 * np.arcsin(np.sqrt(np.clip(one_minus_c / 2, 0.0, 1.0)))


# --- the maps -------------------------------------------------------------------------


def mean_phi_squared(act: ActivationLike, q: float) -> float:
    """E[phi(u)^2], u ~ N(0, q): closed form, else split Gauss-Legendre quadrature."""
    from initscope.activations import closed_form_moments

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


def expected_product(act: ActivationLike, qa, qb, qab) -> np.ndarray:
    """E[phi(u) phi(v)] for (u, v) ~ N(0, [[qa, qab], [qab, qb]]); vectorized over pairs (1-D out)."""
    a = get_activation(act)
    qa, qb, qab = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (qa, qb, qab)))
    kind = _closed(a)
    if kind in ("relu", "leaky_relu", "abs"):
        return leaky_relu_kernel(qa, qb, qab, _relu_family_slope(kind))
    if kind == "linear":
        return qab.copy()
    if kind == "erf":
        return (2 / np.pi) * np.arcsin(np.clip(2 * qab / np.sqrt((1 + 2 * qa) * (1 + 2 * qb)), -1, 1))
    z1, z2, w = _grid()
    r = np.sqrt(qa * qb)
    c = np.clip(qab / np.where(r > 0, r, 1.0), -1.0, 1.0)[:, None]
    u = np.sqrt(qa)[:, None] * z1[None, :]
    v = np.sqrt(qb)[:, None] * (c * z1[None, :] + np.sqrt(1 - c * c) * z2[None, :])
    y = _phi(a, np.concatenate([u, v], axis=1))
    n = u.shape[1]
    return (y[:, :n] * y[:, n:]) @ w


def covariance_map(
    act: ActivationLike, q_aa: float, q_bb: float, q_ab: float, sigma_w2: float, sigma_b2: float = 0.0
) -> tuple[float, float, float]:
    """One layer of the two-input map: (q_aa, q_bb, q_ab) -> the next layer's."""
    na = length_map(act, q_aa, sigma_w2, sigma_b2)
    nb = length_map(act, q_bb, sigma_w2, sigma_b2)
    nab = float(sigma_w2 * expected_product(act, q_aa, q_bb, q_ab)[0] + sigma_b2)
    return na, nb, nab


def correlation(q_aa: float, q_bb: float, q_ab: float) -> float:
    """c = q_ab / sqrt(q_aa q_bb)."""
    return q_ab / math.sqrt(q_aa * q_bb)


def _gap_nodes(qa: np.ndarray, qb: np.ndarray, gap: np.ndarray, grid: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (u, v) for (1/2) E[(phi(u) - phi(v))^2] in coordinates t = u - v ~ N(0, 2 gap) and
    s = (u + v) / 2 = beta t + sqrt(var_s - beta^2 2 gap) z2, so the difference is resolved on the
    scale of t however small it is. Shapes (P, n^2) on ``grid`` (default :func:`_grid`)."""
    z1, z2, _ = _grid() if grid is None else grid
    vt = 2 * gap
    cov = 0.5 * (qa - qb)  # Cov(s, t)
    var_s = 0.5 * (qa + qb) - 0.5 * gap
    beta = np.where(vt > 0, cov / np.where(vt > 0, vt, 1.0), 0.0)
    rest = np.sqrt(np.clip(var_s - beta * cov, 0.0, None))
    t = np.sqrt(vt)[:, None] * z1[None, :]
    s = beta[:, None] * t + rest[:, None] * z2[None, :]
    return s + t / 2, s - t / 2


def _closed_gap(kind: str, qa: np.ndarray, qb: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """(1/2) E[(phi(u) - phi(v))^2] in closed form (relu family, linear), without cancellation.

    relu: (qa + qb)/4 - K = gap/2 - sqrt(qa qb) g(theta) / (2 pi), g = sin - theta cos;
    f = relu(u) - a relu(-u): (1 + a^2) * that + 2 a sqrt(qa qb) g(theta) / (2 pi).
    """
    if kind == "linear":
        return gap.copy()
    k_neg = np.sqrt(qa * qb) * _g(_theta_from_gap(qa, qb, gap)) / (2 * np.pi)
    a = _relu_family_slope(kind)
    return (1 + a * a) * (0.5 * gap - k_neg) + 2 * a * k_neg


def half_squared_difference(act: ActivationLike, q: float, d: float, q_b: float | None = None) -> float:
    """(1/2) E[(phi(u) - phi(v))^2] for Var u = q, Var v = q_b (default q) and gap
    d = (q + q_b)/2 - Cov(u, v); for equal variances d = q - q_ab and this is E[phi^2] - E[phi(u)phi(v)]
    computed without cancellation (so 1 - c stays accurate when tiny)."""
    a = get_activation(act)
    if d <= 0:
        return 0.0
    qb = q if q_b is None else q_b
    return float(_gap_values(a, np.array([q], float), np.array([qb], float), np.array([d], float))[0])


_POLAR_LOOP = (12, 12)  # angular Gauss-Legendre nodes per sector x radial nodes, per-layer loop (432 pairs)
_POLAR_FINE = (32, 24)  # and in one-off expectations (c*, the pair maps of several inputs of equal norms)
_LINEAR_GAP = 1e-12  # below gap / q = this the gap map is linear, gap' = gap E[phi'(s)^2] (1 + O(gap / q)),
# and phi(u) - phi(v) cancels (outer sectors: relative error ~1e-16 / sqrt(gap / q)): the loop evaluates the
# map at this gap and scales it down (measured against an independent reference: benchmarks/bench_theory.py)


@lru_cache(maxsize=4)
def _polar_rule(n_psi: int, n_r: int) -> tuple[np.ndarray, ...]:
    """The pair rule for equal norms (:func:`_polar_pair_nodes`) as affine functions of the
    angle alpha = atan2(B, A): each node's u / (sqrt(q) r) and v / (sqrt(q) r) is
    sin(b0 + alpha b1) (u's then v's: b0, b1 of length 2K, K = 3 n_psi), the angular weights are
    w0 + alpha w1 (length K), and r, wr the radial rule of :func:`radial_nodes`.

    The angle psi of (z2, z1) runs over the sectors [0, pi/2 - alpha], [pi/2 - alpha,
    pi/2 + alpha] and [pi/2 + alpha, pi], n_psi Gauss-Legendre nodes each (fractions T in
    (0, 1)); u = sqrt(q) r cos(psi - alpha) and v = sqrt(q) r cos(psi + alpha). Written as
    sines of pi/2 - (psi -+ alpha), the middle sector's arguments are exact multiples of alpha
    (cos(pi/2 + x) in floating point would bottom out at 6e-17), so a gap of 1e-300 q keeps
    its digits.
    """
    t, v = np.polynomial.legendre.leggauss(n_psi)
    tt, vv = (t + 1) / 2, v / 2
    half = math.pi / 2
    b0 = np.concatenate([half * (1 - tt), 0 * tt, -half * tt])
    b1_u = np.concatenate([tt + 1, 2 - 2 * tt, tt])
    b1_v = np.concatenate([tt - 1, -2 * tt, tt - 2])
    w0 = np.concatenate([half * vv, 0 * vv, half * vv]) / (2 * math.pi)
    w1 = np.concatenate([-vv, 2 * vv, -vv]) / (2 * math.pi)
    r, wr = radial_nodes(n_r)
    out = (np.concatenate([b0, b0]), np.concatenate([b1_u, b1_v]), w0, w1, r, wr)
    for a in out:
        a.setflags(write=False)
    return out


def _polar_pair_nodes(q: np.ndarray, d: np.ndarray, rule: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (u, v) and weights w, shapes (P, 3 n_psi n_r), with sum(w (phi(u) - phi(v))^2) =
    (1/2) E[(phi(u) - phi(v))^2] for pairs of equal norms q and gaps d (0 <= d <= 2q).

    u = A z2 + B z1, v = A z2 - B z1 (A = sqrt(q - d/2), B = sqrt(d/2)); in polar coordinates
    z2 = r cos psi, z1 = r sin psi, psi -> -psi swaps u and v, so psi runs over [0, pi] only.
    The sectors' edges are the rays where u = 0 and v = 0, psi = pi/2 -+ alpha with
    alpha = atan2(B, A): inside a sector neither changes sign, so phi with a kink at 0 (ReLU-like,
    elu, selu, most user functions) is smooth there and the rule converges exponentially, where
    the tensor-product Gauss-Hermite rule it replaces converged algebraically (and slowly for
    steep smooth phi: 30 x 30 nodes had tanh's gap 6% off at q = 4). The thin middle sector
    keeps a small gap resolved. Rules in :func:`_polar_rule`.
    """
    b0, b1, w0, w1, r, wr = _polar_rule(*rule)
    alpha = np.arctan2(np.sqrt(0.5 * d), np.sqrt(np.maximum(q - 0.5 * d, 0.0)))[:, None]
    k = np.sqrt(q)[:, None] * np.sin(b0 + alpha * b1)
    w = ((w0 + alpha * w1)[:, :, None] * wr).reshape(q.shape[0], -1)
    nodes = (k[:, :, None] * r).reshape(q.shape[0], 2, -1)
    return nodes[:, 0], nodes[:, 1], w


def _erf_gap(q: Any, d: Any) -> Any:
    """erf's pair map in closed form (Williams 1997) for equal norms q and gap d (floats or
    arrays): with k = 1 + 2q, a = 2q/k and b = 2(q - d)/k, E[erf(u)^2] = (2/pi) asin(a) and
    (1/2) E[(erf(u) - erf(v))^2] = (2/pi) (asin(a) - asin(b)). The difference is atan2(sin, cos)
    of asin(a) - asin(b), with sin = (a - b)(a + b) / (a sqrt(1 - b^2) + b sqrt(1 - a^2)) for
    b > 0: a - b = 2d/k exactly, 1 - a^2 = (1 + 4q)/k^2 and 1 - b^2 = (1 + 2d)(1 + 4q - 2d)/k^2
    in factored form, so a gap of 1e-12 q keeps its digits (the direct difference would not)."""
    k = 1.0 + 2.0 * q
    a, b = 2.0 * q / k, 2.0 * (q - d) / k
    ca = np.sqrt(1.0 + 4.0 * q) / k
    cb = np.sqrt(np.maximum((1.0 + 2.0 * d) * (1.0 + 4.0 * q - 2.0 * d), 0.0)) / k
    den = a * cb + b * ca
    sin = np.where(b > 0, (2.0 * d / k) * (a + b) / np.where(b > 0, den, 1.0), a * cb - b * ca)
    return (2 / np.pi) * np.arcsin(a), (2 / np.pi) * np.arctan2(sin, ca * cb + a * b)


def _gap_values(a: Activation, qa: np.ndarray, qb: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """(1/2) E[(phi(u) - phi(v))^2] per pair: closed forms, else quadrature on the 61 x 61 grid
    (its half where the norms are equal)."""
    kind = _closed(a)
    if kind in ("relu", "leaky_relu", "abs", "linear"):
        return _closed_gap(kind, qa, qb, gap)
    equal = np.array_equal(qa, qb)
    if kind == "erf" and equal:
        return np.asarray(_erf_gap(qa, np.maximum(gap, 0.0))[1], dtype=np.float64)
    if equal:
        u, v, w = _polar_pair_nodes(qa, np.clip(gap, 0.0, 2 * qa), _POLAR_FINE)
        half = 1.0
    else:
        u, v = _gap_nodes(qa, qb, gap)
        w, half = _grid()[2], 0.5
    n = u.shape[1]
    y = _phi(a, np.concatenate([u, v], axis=1))
    diff = y[:, :n] - y[:, n:]
    return half * ((diff * diff) * w).sum(axis=1) if w.ndim == 2 else half * (diff * diff) @ w


# --- the state of a pair of inputs and its fold --------------------------------------


@dataclass(frozen=True)
class MeanFieldState:
    """Two inputs of equal norm at one layer: q = E_w[y^2] and gap = q - q^{ab} (>= 0).

    Advanced by :func:`step` (``dataclasses.replace``); a network is the fold of :func:`step`
    over its layers (:func:`propagate`).
    """

    layer: int
    q: float
    gap: float

    @property
    def q_ab(self) -> float:
        return self.q - self.gap

    @property
    def c(self) -> float:
        """The correlation of the two inputs' pre-activations (nan where q = 0)."""
        return 1.0 - self.gap / self.q if self.q > 0 else math.nan

    @property
    def sample_fraction(self) -> float:
        """Share of a neuron's variance that is over samples: 1 - c."""
        return self.gap / self.q if self.q > 0 else math.nan


def first_layer(
    sigma_w2: float, sigma_b2: float, x_sq_norm_mean: float, input_dim: int, x_inner_mean: float = 0.0
) -> MeanFieldState:
    """Layer 1 from the raw input: q_1 = sigma_w^2 E|x|^2 / N_0 + sigma_b^2 and
    q^{ab}_1 = sigma_w^2 <x_a, x_b> / N_0 + sigma_b^2 (0 inner product: independent zero-mean
    high-dimensional inputs, for which c_1 = sigma_b^2 / q_1)."""
    if input_dim < 1:
        raise InitscopeError(f"input_dim must be >= 1, got {input_dim}")
    q = sigma_w2 * x_sq_norm_mean / input_dim + sigma_b2
    gap = sigma_w2 * (x_sq_norm_mean - x_inner_mean) / input_dim
    return MeanFieldState(layer=1, q=q, gap=max(gap, 0.0))


# --- the fold: a network is a sequence of maps on the state of a pair of inputs ----------
#
# A pair of equal-norm inputs at one site is (q, gap). Each map takes it to the next site:
# ``layernorm`` (phi then acts on y / sqrt(q)), ``activation`` (the post-activation second
# moments E[phi(u)^2] and (1/2) E[(phi(u) - phi(v))^2]), ``dense`` (sigma_w^2 x + sigma_b^2 on
# the second moment, sigma_w^2 x on the gap), ``residual`` (a branch of maps added to what
# entered it) and ``clip`` (0 <= gap <= 2 q: c stays in [-1, 1]). One layer of a network is
# :func:`layer_maps`; :func:`predict`, :func:`step` and :func:`propagate` all fold them.
# (Several inputs of any norms, :func:`propagate_inputs`, use the same maps on a Gram state.)

State = tuple[Any, Any]  # (q, gap): floats for a pair of inputs; per input and per pair arrays for several
Map = Callable[[State], State]


def layernorm_map(s: State) -> State:
    q, d = s
    return 1.0, d / q


def activation_map(a: Activation, kind: str | None) -> Map:
    """(q, gap) of a pre-activation -> (E[phi(u)^2], (1/2) E[(phi(u) - phi(v))^2]): closed forms
    for the ReLU family, linear and erf; otherwise one evaluation of phi per call
    (:class:`_LoopQuadrature`). Built once per network."""

    def closed(s: State) -> State:
        qe, de = s
        if kind == "linear":
            return qe, max(de, 0.0)
        # scalar form of _closed_gap for equal norms: cos theta = 1 - d/q
        sl = _relu_family_slope(kind)  # type: ignore[arg-type]
        m_q = (1 + sl * sl) * qe / 2
        if de > 0:
            th = 2 * math.asin(min(1.0, math.sqrt(de / (2 * qe))))
            k_neg = qe * _g_scalar(th) / (2 * math.pi)
            m_d = (1 + sl * sl) * (0.5 * de - k_neg) + 2 * sl * k_neg
        else:
            m_d = 0.0
        return m_q, m_d

    if kind in ("relu", "leaky_relu", "abs", "linear"):
        return closed
    if kind == "erf":
        return _erf_pair
    return _LoopQuadrature(a)


def _erf_pair(s: State) -> State:
    q, d = s
    m_q, m_d = _erf_gap(q, d) if d > 0 else (_erf_gap(q, 0.0)[0], 0.0)
    return float(m_q), float(m_d)


class _LoopQuadrature:
    """The activation map by quadrature, as fast as one call of phi allows (the per-layer loop
    of :func:`predict`, :func:`step` and :func:`propagate`): E[phi(u)^2] on 2 x _N1D split
    Gauss-Legendre nodes, the gap on the polar pair rule (:func:`_polar_pair_nodes`,
    _POLAR_LOOP). All nodes are one buffer that phi reads through a torch view of the same
    memory: one call of phi and a few numpy calls per layer.
    """

    def __init__(self, a: Activation) -> None:
        x1, w1 = split_nodes(_N1D)
        self.a0, self.a1, w0, w1_, r, wr = _polar_rule(*_POLAR_LOOP)
        k, n1 = w0.size, x1.size
        self.w01, self.r, self.wr = np.stack([w0, w1_]), r, wr
        self.act, self.n1, self.k, self.x1, self.wq = a, n1, k, x1, w1
        self.buf = np.empty(n1 + 2 * k * r.size)
        self.nodes = self.buf[n1:].reshape(2 * k, r.size)  # rows: u's then v's, one per angle
        self.angle = np.empty(2 * k)
        self.t_all = torch.from_numpy(self.buf)  # phi reads the buffer through these views
        self.t_1d, self.t_pair = self.t_all[:n1], self.t_all[n1:]
        self.last_in: tuple[float, float] | None = None
        self.last_out = (math.nan, math.nan)
        self.last_q: tuple[float, float] = (math.nan, math.nan)  # (q, E[phi(u)^2]) of the last evaluation

    def _phi(self, x: torch.Tensor) -> np.ndarray:
        y = self.act.fn(x)
        if type(y) is not torch.Tensor or y.dtype != torch.float64 or y.requires_grad:
            if not isinstance(y, torch.Tensor):
                raise InitscopeError(f"activation {self.act.name!r} must map a tensor to a tensor of the same shape")
            y = y.detach().to(torch.float64)  # a callable with learnable parameters (a PReLU module)
        if y.shape != x.shape:
            raise InitscopeError(f"activation {self.act.name!r} must map a tensor to a tensor of the same shape")
        return y.numpy()

    def __call__(self, s: State) -> State:
        """The scalar case of :func:`_polar_pair_nodes`, written into the buffer in place.

        The map is a pure function of (q, gap): the last evaluation is kept, and a layer whose
        state repeats it bit for bit (a fixed point reached exactly; in the linear regime
        below, any gap once q has converged) reuses it instead of calling phi again.
        """
        qe, de = s
        de, scale = (min(de, 2 * qe), 1.0) if de > 0 else (0.0, 1.0)
        if 0 < de < _LINEAR_GAP * qe:  # the map is linear in the gap here: evaluate where it does not cancel
            de, scale = _LINEAR_GAP * qe, de / (_LINEAR_GAP * qe)
        if (qe, de) != self.last_in:
            self.last_in, self.last_out = (qe, de), self._evaluate(qe, de)
        m_q, m_d = self.last_out
        return m_q, scale * m_d

    def _evaluate(self, qe: float, de: float) -> tuple[float, float]:
        """E[phi(u)^2] on the 1-D nodes and the gap on the pair rule, phi called once on the
        nodes needed: when q repeats the last one bit for bit (q has converged while the gap
        still moves, as at the edge of chaos), E[phi(u)^2] is reused and phi runs on the pair
        nodes alone (a pure function of q: numbers unchanged)."""
        n1, k = self.n1, self.k
        sq = math.sqrt(qe)
        same_q = qe == self.last_q[0]
        if not same_q:
            np.multiply(self.x1, sq, out=self.buf[:n1])
        if de > 0:
            alpha = math.atan2(math.sqrt(0.5 * de), math.sqrt(max(qe - 0.5 * de, 0.0)))
            ang = self.angle
            np.multiply(self.a1, alpha, out=ang)
            ang += self.a0
            np.sin(ang, out=ang)
            ang *= sq
            np.multiply(ang[:, None], self.r, out=self.nodes)
            y = self._phi(self.t_pair if same_q else self.t_all)
            yy = y[y.size - 2 * k * self.r.size:].reshape(2 * k, -1)
            diff = yy[:k] - yy[k:]
            diff *= diff
            g0, g1 = self.w01 @ (diff @ self.wr)
            m_d = float(g0) + alpha * float(g1)
        elif same_q:
            return self.last_q[1], 0.0
        else:
            y = self._phi(self.t_1d)
            m_d = 0.0
        if same_q:
            m_q = self.last_q[1]
        else:
            y1 = y[:n1]
            m_q = float(np.dot(y1 * y1, self.wq))
            self.last_q = (qe, m_q)
        if not (math.isfinite(m_q) and math.isfinite(m_d)) and not np.isfinite(y).all():
            raise InitscopeError(f"activation {self.act.name!r} returned NaN or inf inside the theory's quadrature")
        return m_q, m_d


def dense_map(sw: float, sb: float) -> Map:
    return lambda s: (sw * s[0] + sb, sw * s[1])


def residual_map(branch: Sequence[Map]) -> Map:
    def add(s: State) -> State:
        b = fold(branch, s)
        return b[0] + s[0], b[1] + s[1]

    return add


def clip_map(s: State) -> State:
    q, d = s
    return q, min(max(d, 0.0), 2 * q)


def fold(maps: Sequence[Map], s: State) -> State:
    for m in maps:
        s = m(s)
    return s


def layer_maps(phi: Map, sw: float, sb: float, residual: bool = False, layernorm: bool = False) -> list[Map]:
    """One layer of an MLP, y' = [y +] W phi([LN] y) + b, as maps on (q, gap); ``phi`` is the
    :func:`activation_map`, built once per network."""
    branch = [layernorm_map] if layernorm else []
    branch += [phi, dense_map(sw, sb)]
    return [residual_map(branch) if residual else fold_map(branch), clip_map]


def fold_map(maps: Sequence[Map]) -> Map:
    return lambda s: fold(maps, s)


def gram_activation_map(a: Activation, kind: str | None, ia: np.ndarray, ib: np.ndarray) -> Map:
    """The activation map on the state of several inputs of any norms: (q per input, gap per
    pair a < b, gap_ab = (q_a + q_b)/2 - q_ab) -> the same second moments after phi, vectorized
    over pairs with one evaluation of phi (closed forms for the ReLU family and linear)."""
    x1, w1 = split_nodes()

    def apply(st: Any) -> Any:
        qd, gap = st
        qa_, qb_ = qd[ia], qd[ib]
        if kind is not None and kind != "erf":
            from initscope.activations import closed_form_moments

            m_q = np.array([closed_form_moments(a, float(v)).second for v in qd])
            m_d = np.where(gap > 0, _closed_gap(kind, qa_, qb_, gap), 0.0)
        else:
            u1 = np.sqrt(qd)[:, None] * x1[None, :]
            u, v = _gap_nodes(qa_, qb_, gap)
            y = _phi(a, np.concatenate([u1.ravel(), u.ravel(), v.ravel()]))
            y1 = y[: u1.size].reshape(u1.shape)
            yu = y[u1.size : u1.size + u.size].reshape(u.shape)
            yv = y[u1.size + u.size :].reshape(v.shape)
            m_q = (y1 * y1) @ w1
            m_d = np.where(gap > 0, 0.5 * ((yu - yv) ** 2) @ _grid()[2], 0.0)
        return m_q, m_d

    return apply


def gram_clip_map(ia: np.ndarray, ib: np.ndarray) -> Map:
    """c in [-1, 1] for every pair: 0 <= gap <= (q_a + q_b)/2 + sqrt(q_a q_b)."""
    return lambda st: (st[0], np.clip(st[1], 0.0, 0.5 * (st[0][ia] + st[0][ib]) + np.sqrt(st[0][ia] * st[0][ib])))


def gram_layer_maps(phi: Map, clip: Map, sw: float, sb: float) -> list[Map]:
    """One plain layer on the state of several inputs: :func:`gram_activation_map`, the same
    :func:`dense_map` (elementwise), :func:`gram_clip_map`."""
    return [phi, dense_map(sw, sb), clip]


def step(act: ActivationLike, state: MeanFieldState, sigma_w2: float, sigma_b2: float = 0.0) -> MeanFieldState:
    """The next layer's state: q' = length map, gap' = sigma_w^2 (1/2) E[(phi(u) - phi(v))^2]."""
    a = get_activation(act)
    nq, nd = fold(layer_maps(activation_map(a, _closed(a)), sigma_w2, sigma_b2), (state.q, state.gap))
    return dataclasses.replace(state, layer=state.layer + 1, q=nq, gap=nd)


def propagate(act: ActivationLike, state: MeanFieldState, sigma_w2: float | Sequence[float], sigma_b2: float, depth: int) -> list[MeanFieldState]:
    """States for layers state.layer .. depth: a plain fold of :func:`step` (stops after the
    first state whose variance is not finite)."""
    a = get_activation(act)
    n = depth - state.layer
    if np.isscalar(sigma_w2):
        sw = [float(sigma_w2)] * max(n, 0)  # type: ignore[arg-type]
    else:  # one value per layer 1..depth; the fold uses those of layers state.layer + 1 .. depth
        sw = [float(s) for s in sigma_w2][state.layer : depth]  # type: ignore[union-attr]
    out = [state]
    for s in sw:
        if not (math.isfinite(out[-1].q) and out[-1].q < _BIG):
            break
        out.append(step(a, out[-1], s, sigma_b2))
    return out


# --- fixed points and depth scales ---------------------------------------------------


def _chi_q(act: Activation, q: float, sigma_w2: float) -> float:
    """d q_{l+1} / d q_l = sigma_w^2 E[phi'^2 + phi phi''] = sigma_w^2 E[u phi(u) phi'(u)] / q (Stein)."""
    x, w = split_nodes()
    u = x * math.sqrt(q)
    return sigma_w2 * float(np.sum(w * u * _phi(act, u) * _slope(act, u))) / q


def chi1(act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, q: float | None = None) -> float | None:
    """chi_1 = sigma_w^2 E[phi'(u)^2], u ~ N(0, q), at q = q* (or the given q); None if q* is undefined."""
    a = get_activation(act)
    if q is None:
        q, _ = q_star(a, sigma_w2, sigma_b2)
        if q is None:
            return None
    return sigma_w2 * moments(a, q).deriv_second


def q_star(act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0) -> tuple[float | None, str]:
    """The fixed point of the length map reached from ``q0``, and a reason when there is none.

    Iterates the map (it is monotone for the usual activations, so the iterates approach the
    attracting fixed point from one side), and once the iterates slow down brackets the root
    of L(q) - q in the direction they move and solves it with brentq. Returns
    ``(None, reason)`` when q diverges, and when every q is a fixed point (e.g. ReLU with
    sigma_w^2 = 2 and no bias: then q* is whatever the input gives, not a property of the net).
    ``(0.0, "")`` when q decays to 0 (e.g. tanh with sigma_w^2 <= 1 and no bias). Where the map
    has several attracting fixed points, the one reached from ``q0`` is returned.
    """
    from scipy.optimize import brentq

    a = get_activation(act)
    if not (sigma_w2 >= 0 and sigma_b2 >= 0 and math.isfinite(sigma_w2) and math.isfinite(sigma_b2)):
        raise InitscopeError(f"sigma_w2 and sigma_b2 must be finite and >= 0, got {sigma_w2}, {sigma_b2}")

    def F(q: float) -> float:
        return length_map(a, q, sigma_w2, sigma_b2) - q

    # every q a fixed point? (a positively homogeneous phi at its critical sigma_w^2, no bias)
    if sigma_b2 == 0 and all(abs(F(s)) <= 1e-12 * s for s in (1e-3 * q0, q0, 1e3 * q0)):
        return None, "every q is a fixed point (the length map is the identity): q* is set by the input"
    # near 0, L(q) - q = q (sigma_w^2 phi'(0)^2 - 1) + O(q^2) when phi(0) = 0 and there is no
    # bias: a fixed point found below 1e-8 q0 is the rounding of a map decaying to 0
    zero_fixed = length_map(a, 0.0, sigma_w2, sigma_b2) == 0.0
    q = q0
    for _ in range(60):
        nq = length_map(a, q, sigma_w2, sigma_b2)
        if not math.isfinite(nq) or nq > _BIG:
            return None, "q diverges: the length map has no finite fixed point (exploding)"
        if abs(nq - q) <= 1e-14 * (1 + q):
            return (0.0 if zero_fixed and nq < 1e-8 * q0 else nq), ""
        q = nq
    # bracket the root in the direction of motion
    if F(q) > 0:
        lo = q
        hi = 2 * q
        while F(hi) > 0:
            lo, hi = hi, hi * 2
            if hi > _BIG:
                return None, "q diverges: the length map has no finite fixed point (exploding)"
        return float(brentq(F, lo, hi, xtol=1e-15, rtol=1e-14, maxiter=200)), ""
    hi, lo = q, q / 2
    while F(lo) < 0:
        hi, lo = lo, lo / 2
        if lo < 1e-30 * q0:
            return 0.0, ""  # q decays to the fixed point 0 (slowly: near or at criticality)
    root = float(brentq(F, lo, hi, xtol=1e-300, rtol=1e-14, maxiter=200))
    if zero_fixed and root < 1e-8 * q0:  # e.g. tanh at sigma_w^2 <= 1
        return 0.0, ""
    return root, ""


def c_star(act: ActivationLike, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """The stable fixed point of the correlation map at q = q* (c* in [0, 1]).

    With eps = 1 - c the map is eps' = sigma_w^2 gap(q, eps q) / q (q is fixed); eps = 0
    is always a fixed point. Where eps' > eps for small eps (chi_c > 1 at c = 1: the chaotic
    phase) the stable point is the first crossing eps* in (0, 1] (brentq); where eps' < eps
    everywhere (the ordered phase, and criticality) c* = 1. c* >= 0 always, since the map at
    c = 0 is (sigma_w^2 E[phi]^2 + sigma_b^2) / q >= 0.
    """
    from scipy.optimize import brentq

    a = get_activation(act)
    if not q > 0:
        return 1.0
    eps = np.concatenate([np.geomspace(1e-9, 0.9, 40), [0.95, 0.99, 1.0]])
    qq = np.full_like(eps, q)
    h = sigma_w2 * _gap_values(a, qq, qq, eps * q) / q - eps

    def hf(e: float) -> float:
        return sigma_w2 * float(_gap_values(a, np.array([q]), np.array([q]), np.array([e * q]))[0]) / q - e

    tol = 1e-12
    for e0, e1, h0, h1 in zip(eps[:-1], eps[1:], h[:-1], h[1:]):
        at_zero = e1 == 1.0 and abs(h1) <= 1e-7  # c = 0 is a root up to the quadratures' agreement
        if h0 > tol * e0 and (h1 <= tol * e1 or at_zero):
            if abs(h1) <= (1e-7 if e1 == 1.0 else tol * e1):
                # c* = 0 (odd phi, no bias): at eps = 1 the 2-D quadrature of the gap and the
                # 1-D one of q* agree to ~1e-8 only, so accept that as the root
                return float(1 - e1)
            return float(1 - brentq(hf, e0, e1, xtol=1e-15, rtol=1e-13))
    return 1.0


def chi_c(act: ActivationLike, sigma_w2: float, q: float, c: float) -> float:
    """chi_c = sigma_w^2 E[phi'(u) phi'(v)] at (q, c): the slope of the correlation map at c.

    ReLU family in closed form: with P(u > 0, v > 0) = (pi - theta) / (2 pi) and
    P(u > 0, v < 0) = theta / (2 pi), E[phi' phi'] = ((1 + a^2)(pi - theta) + 2 a theta) / (2 pi).
    """
    a = get_activation(act)
    kind = _closed(a)
    if kind in ("relu", "leaky_relu", "abs"):
        s = _relu_family_slope(kind)
        th = math.acos(min(1.0, max(-1.0, c)))
        return sigma_w2 * ((1 + s * s) * (math.pi - th) + 2 * s * th) / (2 * math.pi)
    if kind == "linear":
        return sigma_w2 * 1.0
    if c >= 1 - 1e-12:
        return sigma_w2 * moments(a, q).deriv_second
    z1, z2, w = _grid()
    u = math.sqrt(q) * z1
    v = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    g = _slope(a, np.concatenate([u, v]))
    return sigma_w2 * float((g[: u.shape[0]] * g[u.shape[0] :]) @ w)


def depth_scale(chi: float | None) -> float | None:
    """xi = -1 / ln(chi) for an attracting fixed point (0 < chi < 1); None (infinite or
    undefined) at chi = 1, for chi > 1 (not attracting) and when chi is undefined."""
    if chi is None or not (0 < chi < 1) or abs(chi - 1) < 1e-9:
        return None
    return -1.0 / math.log(chi)


def order_chaos_boundary(act: ActivationLike, sigma_b2_values: Sequence[float], lo: float = 0.05, hi: float = 20.0) -> list[float | None]:
    """For each sigma_b^2, the sigma_w^2 in [lo, hi] where chi_1 = 1 at q* (the edge of chaos,
    brentq); None if chi_1 - 1 does not change sign there. Where q* is undefined because every q
    is a fixed point, chi_1 is taken at q = 1; where q diverges the point counts as chaotic."""
    from scipy.optimize import brentq

    a = get_activation(act)
    out: list[float | None] = []
    for sb2 in sigma_b2_values:

        def f(sw2: float) -> float:
            q, why = q_star(a, sw2, sb2)
            if q is None:
                return sw2 * moments(a, 1.0).deriv_second - 1.0 if "every q" in why else 1.0
            return sw2 * moments(a, q).deriv_second - 1.0

        grid = np.geomspace(lo, hi, 40)
        vals = [f(x) for x in grid]
        root = None
        for x0, x1, f0, f1 in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
            if f0 < 0 <= f1:
                root = float(brentq(f, x0, x1, xtol=1e-10)) if f1 != 0 else float(x1)
                break
        out.append(root)
    return out


# --- predictions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """Per-layer predictions (index i is layer i + 1) and scalars of the map's fixed point.

    Layers after the first non-finite one are nan. ``notes`` explains every None.
    """

    layers: tuple[int, ...]
    q: tuple[float, ...]  # network variance of a pre-activation for one input: E_w[y_l^2]
    c: tuple[float, ...]  # correlation of two (independent) inputs' pre-activations
    sample_fraction: tuple[float, ...]  # share of the variance that is over samples
    sample_variance: tuple[float, ...]  # E_x q(x) - E_{a != b} q^{ab}
    mean_spread: tuple[float, ...]  # E_{a != b} q^{ab} (+ the sampling noise of the means with ``samples``)
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


# The deepest network the theory folds through: 100,000 layers take about 15 s for tanh,
# the slowest built-in, and under a minute for a user's callable on a 2-core machine
# (benchmarks/bench_theory.py measures 1000 layers).
MAX_DEPTH = 100_000


def check_depth(depth: int) -> int:
    """``depth`` if the theory can fold through it, else a clear error naming the limit."""
    if depth < 1:
        raise InitscopeError(f"depth must be >= 1, got {depth}")
    if depth > MAX_DEPTH:
        raise InitscopeError(f"depth must be <= {MAX_DEPTH:,} (what the theory computes in about a minute), got {depth:,}")
    return depth


def _per_layer(sigma_w2: float | Sequence[float], depth: int) -> list[float]:
    check_depth(depth)
    sw = [float(sigma_w2)] * depth if np.isscalar(sigma_w2) else [float(s) for s in sigma_w2]  # type: ignore[arg-type]
    if len(sw) != depth:
        raise InitscopeError(f"sigma_w2 needs one value per layer ({depth}), got {len(sw)}")
    if any(not (s >= 0 and math.isfinite(s)) for s in sw):
        raise InitscopeError("sigma_w2 must be finite and >= 0")
    return sw


def predict(
    act: ActivationLike,
    sigma_w2: float | Sequence[float],
    sigma_b2: float,
    depth: int,
    input_dim: int | None = None,
    *,
    x_sq_norm: float | None = None,
    x_inner: float = 0.0,
    x_sq: float | None = None,
    x_ab: float | None = None,
    samples: int | None = None,
    residual: bool = False,
    layernorm: bool = False,
) -> Prediction:
    """Layer-by-layer predictions for two inputs of equal norm.

    The input enters through its mean square: either ``input_dim`` N_0 with ``x_sq_norm`` =
    |x|^2 (default N_0, i.e. unit mean square) and ``x_inner`` = <x_a, x_b> (default 0:
    independent zero-mean high-dimensional inputs), or directly ``x_sq`` = |x|^2 / N_0
    (default 1) and ``x_ab`` = <x_a, x_b> / N_0.

    ``sigma_w2`` may be one value or one per layer (sigma_w^2 = fan_in x weight variance).
    ``samples``: with S inputs the measured spread of the per-neuron means carries the sampling
    noise of those means, (q - q^{ab}) / S; give S to predict what a finite-sample estimate
    measures (the S/(S-1) correction of the variance itself is the caller's).
    ``residual``: y_l = y_{l-1} + W phi(y_{l-1}) + b adds the previous layer's (co)variance.
    ``layernorm``: phi acts on y / sqrt(q) (mean subtraction is negligible for zero-mean units).

    For inputs of different norms use :func:`propagate_inputs`.
    """
    a = get_activation(act)
    sw = _per_layer(sigma_w2, depth)
    if not (sigma_b2 >= 0 and math.isfinite(sigma_b2)):
        raise InitscopeError(f"sigma_b2 must be finite and >= 0, got {sigma_b2}")
    if input_dim is not None:
        if x_sq is not None or x_ab is not None:
            raise InitscopeError("give either input_dim (with x_sq_norm, x_inner) or x_sq / x_ab, not both")
        n0 = int(input_dim)
        state = first_layer(sw[0], sigma_b2, float(n0 if x_sq_norm is None else x_sq_norm), n0, float(x_inner))
    else:
        if x_sq_norm is not None:
            raise InitscopeError("x_sq_norm needs input_dim")
        state = first_layer(sw[0], sigma_b2, 1.0 if x_sq is None else float(x_sq), 1, 0.0 if x_ab is None else float(x_ab))
    notes: list[str] = []
    kind = _closed(a)
    phi = activation_map(a, kind)
    maps: dict[float, Map] = {}
    q, d = state.q, state.gap
    qs, ds = [q], [d]
    first_bad = None
    with np.errstate(all="ignore"):
        for layer in range(2, depth + 1):
            if layernorm and q <= 0:
                first_bad = layer
                notes.append(f"LayerNorm of a zero variance is undefined at layer {layer}")
                break
            one = maps.get(sw[layer - 1])
            if one is None:  # one composed map per distinct sigma_w^2 (usually one per network)
                one = maps[sw[layer - 1]] = fold_map(layer_maps(phi, sw[layer - 1], sigma_b2, residual, layernorm))
            nq, nd = one((q, d))
            if not (math.isfinite(nq) and nq < _BIG):
                first_bad = layer
                notes.append(f"the predicted variance leaves the float64 range at layer {layer} (diverges)")
                break
            q, d = nq, nd
            qs.append(q)
            ds.append(d)
        n = len(qs)
        pad = [math.nan] * (depth - n)
        qa, da = np.array(qs), np.array(ds)
        pos = qa > 0
        if not pos.all():
            notes.append(f"q underflows to 0 at layer {int(np.argmin(pos)) + 1}: c and sample_fraction are undefined (nan) from there")
        c = np.where(pos, 1 - da / np.where(pos, qa, 1.0), math.nan)
        sample_var = da
        spread = (qa - da) + (da / samples if samples else 0.0)
        total = sample_var + spread
        frac = ratio_or_nan(sample_var, total)
    scalars, more = _fixed_point_scalars(a, sw[-1], sigma_b2, qs[0], residual, layernorm)
    notes.extend(more)
    return Prediction(
        layers=tuple(range(1, depth + 1)),
        q=tuple(qa.tolist() + pad), c=tuple(c.tolist() + pad),
        sample_fraction=tuple(frac.tolist() + pad), sample_variance=tuple(sample_var.tolist() + pad),
        mean_spread=tuple(spread.tolist() + pad),
        first_nonfinite_layer=first_bad, notes=tuple(notes), **scalars,
    )


def _fixed_point_scalars(a: Activation, sw: float, sb: float, q1: float, residual: bool, layernorm: bool) -> tuple[dict, list[str]]:
    """chi1, q*, c*, xi_q, xi_c at the last layer's sigma_w^2, with a note for each None."""
    notes: list[str] = []
    none = dict(chi1=None, q_star=None, c_star=None, xi_q=None, xi_c=None)
    if residual or layernorm:
        return none, ["q_star, c_star, chi1, xi_q, xi_c: no fixed-point analysis for residual or LayerNorm nets"]
    qstar, why = q_star(a, sw, sb)
    marginal = qstar is None and "every q" in why
    if why:
        notes.append(f"q_star: {why}")
    if qstar is not None:
        c1 = chi1(a, sw, sb, q=qstar)
    elif marginal and q1 > 0:
        c1 = chi1(a, sw, sb, q=q1)
        notes.append("chi1: evaluated at q_1 (no unique q*)")
    else:
        c1 = None
        notes.append("chi1: undefined (no finite q*)")
    q_ref = qstar if qstar is not None else (q1 if marginal else None)
    cstar = None
    if q_ref is not None and q_ref > 0:
        cstar = c_star(a, sw, sb, q_ref)
        if marginal:
            notes.append("c_star: evaluated at q_1 (no unique q*)")
    elif qstar == 0.0:
        cstar = None
        notes.append("c_star: undefined at q* = 0 (the correlation of vanishing signals)")
    else:
        notes.append("c_star: undefined (no finite q*)")
    xi_q = None
    if qstar is not None and qstar > 0:
        xi_q = depth_scale(_chi_q(a, qstar, sw))
        if xi_q is None:
            notes.append("xi_q: infinite (chi_q = sigma_w^2 E[phi'^2 + phi phi''] = 1 at q*)")
    else:
        notes.append("xi_q: undefined (no attracting q* > 0)")
    xi_c = None
    if cstar is not None and q_ref is not None:
        xi_c = depth_scale(chi_c(a, sw, q_ref, cstar))
        if xi_c is None:
            notes.append("xi_c: infinite (criticality: chi_c = 1 at c*; correlations approach c* polynomially, not exponentially)")
    else:
        notes.append("xi_c: undefined (no c*)")
    return dict(chi1=c1, q_star=qstar, c_star=cstar, xi_q=xi_q, xi_c=xi_c), notes


@dataclass(frozen=True)
class InputsPrediction:
    """Mean-field covariances of a small set of inputs, per layer (index i is layer i + 1).

    ``q``: (layers, S) diagonal E_w[y(x_a)^2]; ``q_ab``: (layers, S, S) covariances (the
    diagonal is q); ``sample_fraction`` = (E_a q - E_{a != b} q^{ab}) / E_a q, with
    ``sample_variance`` = E_a q - E_{a != b} q^{ab} = E_{a != b} gap_ab and ``mean_spread`` =
    E_{a != b} q^{ab} (population formulas; an estimate from S samples needs S/(S-1) care).
    """

    q: np.ndarray
    q_ab: np.ndarray
    sample_variance: np.ndarray
    mean_spread: np.ndarray
    sample_fraction: np.ndarray
    first_nonfinite_layer: int | None = None


def propagate_inputs(
    act: ActivationLike, sigma_w2: float | Sequence[float], sigma_b2: float, depth: int, gram: np.ndarray, input_dim: int
) -> InputsPrediction:
    """The covariance map run on every pair of a small set of inputs with Gram matrix
    ``gram`` (S x S, gram[a, b] = <x_a, x_b>), so that inputs of different norms are handled:
    layer 1 is sigma_w^2 gram / N_0 + sigma_b^2, each pair is then advanced by the length map
    (diagonal) and the gap map gap_ab = (q_a + q_b)/2 - q_ab (off-diagonal, no cancellation).
    Vectorized over pairs: one evaluation of phi per layer. Cost ~ S^2 x 2048 per layer."""
    a = get_activation(act)
    sw = _per_layer(sigma_w2, depth)
    g = np.asarray(gram, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] < 2:
        raise InitscopeError(f"gram must be a square matrix of at least 2 inputs, got shape {g.shape}")
    s = g.shape[0]
    ia, ib = np.triu_indices(s, k=1)
    qd = sw[0] * np.diag(g) / input_dim + sigma_b2
    gap = np.maximum(sw[0] * (0.5 * (g[ia, ia] + g[ib, ib]) - g[ia, ib]) / input_dim, 0.0)
    phi, clip = gram_activation_map(a, _closed(a), ia, ib), gram_clip_map(ia, ib)
    qs, gaps, first_bad = [qd], [gap], None
    with np.errstate(all="ignore"):
        for layer in range(2, depth + 1):
            nq, ngap = fold(gram_layer_maps(phi, clip, sw[layer - 1], sigma_b2), (qd, gap))
            if not (np.all(np.isfinite(nq)) and nq.max() < _BIG):
                first_bad = layer
                break
            qd, gap = nq, ngap
            qs.append(qd)
            gaps.append(gap)
    qarr = np.full((depth, s), math.nan)
    qarr[: len(qs)] = np.array(qs)
    garr = np.full((depth, len(ia)), math.nan)
    garr[: len(gaps)] = np.array(gaps)
    qab = np.repeat(qarr[:, :, None], s, axis=2) * 0.0
    qab[:, ia, ib] = 0.5 * (qarr[:, ia] + qarr[:, ib]) - garr
    qab[:, ib, ia] = qab[:, ia, ib]
    qab[:, np.arange(s), np.arange(s)] = qarr
    sample_var = garr.mean(axis=1)
    mean_q = qarr.mean(axis=1)
    return InputsPrediction(
        q=qarr, q_ab=qab, sample_variance=sample_var, mean_spread=mean_q - sample_var,
        sample_fraction=ratio_or_nan(sample_var, mean_q), first_nonfinite_layer=first_bad,
    )


# --- ReLU: large depth and finite width ---------------------------------------------


RELU_ASYMPTOTE_K = 9 * math.pi**2 / 2
"""1 - c_l ~ K / l^2 for ReLU, sigma_w^2 = 2, no bias, K = 9 pi^2 / 2 ~ 44.41.

The ReLU correlation map is f(c) = c + (sin theta - theta cos theta) / pi with c = cos theta.
With eps = 1 - c, theta = arccos(1 - eps) = sqrt(2 eps)(1 + eps/12 + O(eps^2)) and
sin theta - theta cos theta = theta^3/3 - theta^5/30 + ..., so

    eps' = eps - a eps^{3/2} + O(eps^{5/2}),   a = 2 sqrt(2) / (3 pi)

(no eps^2 term). For s = eps^{-1/2}: s' = s (1 - a eps^{1/2} + O(eps^{3/2}))^{-1/2}
= s + a/2 + (3 a^2 / 8) / s + O(s^-2), whose solution is

    s_l = (a/2) l + (3a/4) ln l + C + o(1),

so eps_l = 4 / (a^2 l^2) (1 - 3 ln(l) / l - 4 C / (a l) + ...), K = 4 / a^2 = 9 pi^2 / 2, and
the ratio eps_l l^2 / K approaches 1 from below like 1 - 3 ln(l) / l (0.98 at l = 1000), C
depending on the input correlation. :data:`RELU_ASYMPTOTE_LOG` is 3a/4."""

RELU_ASYMPTOTE_A = 2 * math.sqrt(2) / (3 * math.pi)
RELU_ASYMPTOTE_LOG = 3 * RELU_ASYMPTOTE_A / 4


@dataclass(frozen=True)
class BatchNormLines:
    """Mean-field lines of a batch-normalized MLP for layers 2..depth (index i is layer i + 2)."""

    q: np.ndarray  # E[y_l^2] at one input: the network variance
    sample_variance: np.ndarray
    mean_spread: np.ndarray  # without the finite-sample noise of the means (add sample_variance / S)

    @property
    def sample_fraction(self) -> np.ndarray:
        return ratio_or_nan(self.sample_variance, self.sample_variance + self.mean_spread)


def predict_batchnorm(act: ActivationLike, sigma_w2: Sequence[float], sigma_b2: float, first: tuple[float, float, float],
                      residual: bool = False) -> BatchNormLines:
    """Mean field of y_l = W_l phi(BN(y_{l-1})) + b_l (+ y_{l-1}), l >= 2, BN over an infinite batch.

    Batch norm makes every unit of the previous layer exactly zero-mean and unit-variance over
    the samples, so phi(BN(y)) has, unit by unit, mean m1 = E phi(z) and second moment
    m2 = E phi(z)^2 for z ~ N(0, 1) (the unit's law over samples taken Gaussian, the wide-layer
    limit). A fresh W and b then give each unit of y_l a variance over samples of
    sigma_w^2 (m2 - m1^2), and a mean over samples sum_j W_ij m1 + b_i, whose spread over
    units is sigma_w^2 m1^2 + sigma_b^2. Nothing depends on the layer before: the sample
    fraction is reset to sigma_w^2 Var phi / (sigma_w^2 m2 + sigma_b^2) at every layer
    (1 - 1/pi for ReLU without bias; 1 for an odd phi) instead of decaying. With a residual
    stream the new parts add to the old (independent W). ``first``: layer 1's
    (q, sample_variance, mean_spread), which no norm precedes.
    """
    m = moments(get_activation(act), 1.0)
    m1, m2 = m.mean, m.second
    q, sv, ms = [first[0]], [first[1]], [first[2]]
    for sw in sigma_w2[1:]:
        dq, dsv, dms = sw * m2 + sigma_b2, sw * (m2 - m1 * m1), sw * m1 * m1 + sigma_b2
        base = (q[-1], sv[-1], ms[-1]) if residual else (0.0, 0.0, 0.0)
        q.append(base[0] + dq)
        sv.append(base[1] + dsv)
        ms.append(base[2] + dms)
    return BatchNormLines(np.array(q[1:]), np.array(sv[1:]), np.array(ms[1:]))


@dataclass(frozen=True)
class BackwardPrediction:
    """Mean-field second moments per hidden layer (index i is layer i + 1): forward q_l = E y_l^2
    and backward g_l = E delta_l^2 for an output cotangent of unit variance."""

    q: np.ndarray
    g: np.ndarray


def predict_backward(spec: Any, x_sq: float = 1.0, sigma_b2: float = 0.0, cotangent: float = 1.0) -> BackwardPrediction:
    """Forward and backward mean field for ``spec`` (an MLPSpec with a readout), any activation,
    any per-layer widths, any fan mode of its scheme (Schoenholz et al. 2017's chi_1 products).

    With v_l the per-weight second moment of W_l (out N_l, in N_{l-1}):
    forward q_1 = v_1 N_0 x_sq + sigma_b^2, q_{l+1} = v_{l+1} N_l E phi(y_l)^2 + sigma_b^2; backward,
    assuming each W independent of the signal coming back through it (gradient independence,
    exact as widths grow at fixed depth), g_L = E phi'(y_L)^2 K v_out E c^2 for a readout of K
    outputs and g_l = E phi'(y_l)^2 N_{l+1} v_{l+1} g_{l+1}. So fan_in (v = s / N_in) keeps q and
    multiplies g by N_{l+1} / N_l at each width change; fan_out (v = s / N_out) the reverse.
    """
    from initscope.schemes import get_scheme

    act = spec.act
    widths, L = spec.layer_widths, spec.n_layers
    scheme = spec.scheme
    v = [scheme.second_moment(spec.weight_shape(l)) for l in range(1, L + 1)]
    out_scheme = get_scheme(spec.output_init) if spec.output_init else scheme
    v_out = out_scheme.second_moment((spec.output_dim, widths[-1]))
    q = [v[0] * spec.input_dim * x_sq + sigma_b2]
    for l in range(1, L):
        q.append(v[l] * widths[l - 1] * moments(act, q[-1]).second + sigma_b2)
    d2 = [moments(act, qq).deriv_second for qq in q]
    g = [0.0] * L
    g[L - 1] = d2[L - 1] * spec.output_dim * v_out * cotangent
    for l in range(L - 2, -1, -1):
        g[l] = d2[l] * widths[l + 1] * v[l + 1] * g[l + 1]
    return BackwardPrediction(np.array(q), np.array(g))


def relu_sample_fraction_asymptote(layers: Sequence[int] | np.ndarray) -> np.ndarray:
    """K / l^2: the large-depth share of variance over samples (1 - c_l) for Kaiming ReLU nets."""
    layer_arr = np.asarray(layers, dtype=np.float64)
    return RELU_ASYMPTOTE_K / layer_arr**2


def relu_norm_fluctuation(depth: int, width: int | Sequence[int], site: str = "pre") -> np.ndarray:
    """Relative variance over networks, Var / E^2, of a layer's squared norm for one fixed input
    in a ReLU net with Gaussian weights and no bias: exact at any width.

    Given h_{l-1}, the y_{l,i} are i.i.d. N(0, sigma_w^2 |h_{l-1}|^2 / N_{l-1}), so
    |y_l|^2 = (sigma_w^2 |h_{l-1}|^2 / N_{l-1}) chi^2_{N_l} (second moment over squared first:
    1 + 2/N_l) and |h_l|^2 = (sigma_w^2 |h_{l-1}|^2 / N_{l-1}) sum_i relu(z_i)^2, z_i ~ N(0, 1)
    i.i.d., with E relu(z)^2 = 1/2 and E relu(z)^4 = 3/2 (ratio 6, so 1 + 5/N_l). The
    conditional scale and the new factor are independent, so the ratios multiply:

        site="post":  Var |h_l|^2 / E^2 = prod_{j <= l} (1 + 5/N_j) - 1
        site="pre":   Var |y_l|^2 / E^2 = (1 + 2/N_l) prod_{j < l} (1 + 5/N_j) - 1

    (N_j the width of layer j; x itself is fixed). prod (1 + 5/N_j) ~ exp(5 sum_j 1/N_j): the
    exponential of Hanin & Rolnick 2018 (Theorem 5: E[M_d^2] is bounded above and below by
    constants times exp(5 sum 1/n_j) for the normalised squared output length), here exact for
    Gaussian weights; ~ 5 L / N for L << N. It is the spread between networks of the layer view
    (and of a network-variance estimate averaged over the units of a layer): the band around the
    theory line.
    """
    if site not in ("pre", "post"):
        raise InitscopeError(f"site must be 'pre' or 'post', got {site!r}")
    widths = [int(width)] * depth if np.isscalar(width) else [int(w) for w in width]  # type: ignore[arg-type]
    if len(widths) < depth or any(w < 1 for w in widths):
        raise InitscopeError(f"need {depth} widths >= 1, got {widths}")
    out, prod = [], 1.0
    for layer in range(1, depth + 1):
        n = widths[layer - 1]
        out.append((1 + 2 / n) * prod - 1 if site == "pre" else prod * (1 + 5 / n) - 1)
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

    check_depth(depth)
    if width < 1:
        raise InitscopeError(f"width must be >= 1, got {width}")
    if not (0 <= sigma_b and math.isfinite(sigma_b * sigma_b)):
        raise InitscopeError(f"sigma_b must be >= 0 with a finite square, got {sigma_b}")
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
