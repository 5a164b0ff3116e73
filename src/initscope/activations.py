"""Activations: a registry of elementwise functions and their Gaussian moments.

For z ~ N(0, q) initscope needs E[phi(z)], E[phi(z)^2] and E[phi'(z)^2] (the
length map and chi_1 of mean-field theory). They come from closed forms where
they exist and from quadrature otherwise, so that *any* activation, a user's
callable included, gets moments and a variance-preserving gain.

Quadrature: most activations have a kink or a change of formula at 0 (relu,
leaky_relu, abs, elu, selu), where Gauss-Hermite converges only algebraically.
We therefore integrate each half-line separately with Gauss-Legendre nodes on
[0, 12] (the Gaussian tail beyond 12 sd weighs e^-72) times the normal density:
exponential convergence for any function smooth on each side of 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from initscope.errors import InitscopeError, unknown

_LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default negative slope


@dataclass(frozen=True)
class Activation:
    """An elementwise function ``fn`` (any torch dtype and device) with a name."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    torch_gain_name: str | None = None  # the name torch.nn.init.calculate_gain knows, if any

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


def _leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _LEAKY_SLOPE)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", torch.relu, "relu"),
        Activation("leaky_relu", _leaky_relu, "leaky_relu"),
        Activation("tanh", torch.tanh, "tanh"),
        Activation("sigmoid", torch.sigmoid, "sigmoid"),
        Activation("gelu", F.gelu),
        Activation("silu", F.silu),
        Activation("elu", F.elu),
        Activation("selu", torch.selu, "selu"),
        Activation("softplus", F.softplus),
        Activation("erf", torch.erf),
        Activation("sin", torch.sin),
        Activation("abs", torch.abs),
        Activation("linear", _linear, "linear"),
    )
}


def list_activations() -> list[str]:
    return sorted(ACTIVATIONS)


# --- quadrature nodes -----------------------------------------------------------


@lru_cache(maxsize=8)
def hermite_nodes(n: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights with ``sum(w * f(x)) = E[f(z)]``, z ~ N(0, 1).

    Exact for polynomials of degree < 2n; use for smooth integrands.
    """
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


_HALF_LINE = 12.0  # sd; the normal tail beyond it weighs ~1e-33


@lru_cache(maxsize=8)
def split_nodes(n_per_side: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(z)], z ~ N(0, 1), that stay exponentially accurate for f with
    a kink at 0: Gauss-Legendre on [-12, 0] and [0, 12], weighted by the normal density."""
    t, v = np.polynomial.legendre.leggauss(n_per_side)
    x = (t + 1.0) * (_HALF_LINE / 2.0)  # [0, 12]
    w = v * (_HALF_LINE / 2.0) * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    nodes, weights = np.concatenate([-x[::-1], x]), np.concatenate([w[::-1], w])
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def _validated(act: Activation) -> Activation:
    x = torch.as_tensor(split_nodes()[0].copy(), dtype=torch.float64)
    try:
        y = act.fn(x)
    except Exception as e:  # a user's callable may fail in any way
        raise InitscopeError(f"activation {act.name!r} failed on a float64 tensor: {type(e).__name__}: {e}") from None
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        raise InitscopeError(f"activation {act.name!r} must map a tensor to a tensor of the same shape")
    if not bool(torch.isfinite(y).all()):
        raise InitscopeError(f"activation {act.name!r} returned NaN or inf on the quadrature nodes (|z| <= 12)")
    return act


def get_activation(name_or_callable: str | Callable[[torch.Tensor], torch.Tensor] | Activation) -> Activation:
    """A registered activation by name, an :class:`Activation` as is, or a user callable
    (validated on the quadrature nodes: same shape out, finite values)."""
    if isinstance(name_or_callable, Activation):
        return name_or_callable
    if isinstance(name_or_callable, str):
        try:
            return ACTIVATIONS[name_or_callable]
        except KeyError:
            raise unknown("activation", name_or_callable, ACTIVATIONS) from None
    if callable(name_or_callable):
        name = getattr(name_or_callable, "__name__", "custom")
        return _validated(Activation("custom" if name == "<lambda>" else name, name_or_callable))
    raise unknown("activation", name_or_callable, ACTIVATIONS)


# --- moments ----------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianMoments:
    """Moments of phi(z) for z ~ N(0, q)."""

    q: float
    mean: float  # E[phi(z)]
    second: float  # E[phi(z)^2]
    deriv_second: float  # E[phi'(z)^2]

    @property
    def variance(self) -> float:
        return self.second - self.mean**2


def _values_and_slopes(act: Activation, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = act.fn(z)
        (g,) = torch.autograd.grad(y.sum(), z, allow_unused=True)
    if g is None:  # a constant function
        g = torch.zeros_like(z)
    return y.detach(), g.detach()


def gaussian_moments(act: str | Activation | Callable, q: float = 1.0, *, n_nodes: int = 200) -> GaussianMoments:
    """E[phi], E[phi^2], E[phi'^2] for z ~ N(0, q) by split Gauss-Legendre quadrature
    (``n_nodes`` per half-line); phi' by autograd, so any callable works."""
    a = get_activation(act)
    if not (q >= 0 and math.isfinite(q)):
        raise InitscopeError(f"q must be a finite variance >= 0, got {q}")
    if q == 0:
        y, g = _values_and_slopes(a, torch.zeros(1, dtype=torch.float64))
        return GaussianMoments(0.0, float(y[0]), float(y[0]) ** 2, float(g[0]) ** 2)
    x, w = split_nodes(n_nodes)
    z = torch.as_tensor(x * math.sqrt(q), dtype=torch.float64)
    y, g = _values_and_slopes(a, z)
    wt = torch.tensor(w, dtype=torch.float64)
    return GaussianMoments(float(q), float((wt * y).sum()), float((wt * y * y).sum()), float((wt * g * g).sum()))


def closed_form_moments(act: str | Activation | Callable, q: float) -> GaussianMoments | None:
    """Closed forms where they exist (relu, leaky_relu, linear, abs, erf, sin); else None."""
    a = get_activation(act)
    s = math.sqrt(q / (2 * math.pi))
    k = _LEAKY_SLOPE
    forms = {
        "relu": (s, q / 2, 0.5),
        "leaky_relu": ((1 - k) * s, (1 + k * k) * q / 2, (1 + k * k) / 2),
        "linear": (0.0, q, 1.0),
        "abs": (2 * s, q, 1.0),
        "erf": (0.0, (2 / math.pi) * math.asin(2 * q / (1 + 2 * q)), (4 / math.pi) / math.sqrt(1 + 4 * q)),
        "sin": (0.0, (1 - math.exp(-2 * q)) / 2, (1 + math.exp(-2 * q)) / 2),
    }
    if a.name not in forms or ACTIVATIONS.get(a.name) is not a:
        return None
    mean, second, deriv = forms[a.name]
    return GaussianMoments(float(q), mean, second, deriv)


def moments(act: str | Activation | Callable, q: float = 1.0) -> GaussianMoments:
    """Closed form if there is one, else quadrature."""
    return closed_form_moments(act, q) or gaussian_moments(act, q)


def gain(act: str | Activation | Callable) -> float:
    """The weight scale that preserves the second moment: ``1 / sqrt(E[phi(z)^2])``, z ~ N(0, 1).

    With weights of variance gain^2 / fan_in, E[y_{l+1}^2] = fan_in * (gain^2 / fan_in) *
    E[phi(y_l)^2] = gain^2 E[phi(y_l)^2], which equals E[y_l^2] = 1 exactly when
    gain^2 = 1 / E[phi(z)^2]. relu: sqrt 2 (He et al. 2015); linear: 1; tanh: 1.593, where
    torch's calculate_gain gives the heuristic 5/3; gelu and silu, for which torch has none,
    get one too. Defined at unit pre-activation variance: for activations that are not
    positively homogeneous the preserving gain depends on the scale.
    """
    second = moments(act, 1.0).second
    if second <= 0:
        raise InitscopeError(f"activation {get_activation(act).name!r} has E[phi(z)^2] = 0; no gain preserves variance")
    return 1.0 / math.sqrt(second)


def torch_gain(act: str | Activation | Callable) -> float | None:
    """``torch.nn.init.calculate_gain`` for the activation, where torch knows it."""
    a = get_activation(act)
    if a.torch_gain_name is None:
        return None
    if a.torch_gain_name == "leaky_relu":
        return float(torch.nn.init.calculate_gain("leaky_relu", _LEAKY_SLOPE))
    return float(torch.nn.init.calculate_gain(a.torch_gain_name))


def gain_table() -> list[dict]:
    """Per registered activation: our gain, torch's (None where torch raises) and their relative difference."""
    rows = []
    for name in list_activations():
        g, tg = gain(name), torch_gain(name)
        rows.append(dict(name=name, gain=g, torch_gain=tg, relative_difference=None if tg is None else (tg - g) / g))
    return rows
