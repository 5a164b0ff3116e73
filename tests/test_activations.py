"""Gaussian moments: closed forms vs quadrature vs Monte Carlo; gains vs torch."""

import math

import numpy as np
import pytest
import torch

from initscope.activations import (
    ACTIVATIONS,
    closed_form_moments,
    gain,
    gain_table,
    gaussian_moments,
    get_activation,
    hermite_nodes,
    moments,
    torch_gain,
)
from initscope.errors import InitscopeError

CLOSED = ["relu", "leaky_relu", "linear", "abs", "erf", "sin"]


@pytest.mark.parametrize("q", [0.1, 1.0, 3.7, 30.0])
@pytest.mark.parametrize("name", CLOSED)
def test_closed_forms_match_quadrature(name, q):
    a, b = closed_form_moments(name, q), gaussian_moments(name, q)
    assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=1e-12)
    assert a.second == pytest.approx(b.second, rel=1e-9)
    assert a.deriv_second == pytest.approx(b.deriv_second, rel=1e-9)


def _monte_carlo(name, q, n=2_000_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, generator=g, dtype=torch.float64) * math.sqrt(q)).requires_grad_(True)
    y = get_activation(name).fn(z)
    (d,) = torch.autograd.grad(y.sum(), z)
    y, d = y.detach().numpy(), d.numpy()
    out = {}
    for key, vals in (("mean", y), ("second", y * y), ("deriv_second", d * d)):
        out[key] = (vals.mean(), vals.std() / math.sqrt(n))
    return out


@pytest.mark.parametrize("q", [1.0, 2.5])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_quadrature_matches_monte_carlo(name, q):
    m = gaussian_moments(name, q)
    mc = _monte_carlo(name, q, seed=int(q * 10))
    for key in ("mean", "second", "deriv_second"):
        est, se = mc[key]
        assert abs(getattr(m, key) - est) <= 5 * se + 1e-12, (key, getattr(m, key), est, se)


def test_gains():
    assert gain("relu") == pytest.approx(math.sqrt(2))
    assert gain("linear") == pytest.approx(1.0)
    assert gain("selu") == pytest.approx(1.0, abs=1e-6)  # self-normalizing by design
    assert 1.55 < gain("tanh") < 1.62 and torch_gain("tanh") == pytest.approx(5 / 3)
    for name in ("gelu", "silu", "erf", "sin"):
        assert torch_gain(name) is None
        with pytest.raises(ValueError):  # why initscope computes its own
            torch.nn.init.calculate_gain(name)
    assert torch_gain("leaky_relu") == pytest.approx(gain("leaky_relu"))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gain_preserves_second_moment_by_monte_carlo(name):
    n = 2_000_000
    g = torch.Generator().manual_seed(1)
    z = torch.randn(n, generator=g, dtype=torch.float64)
    y2 = (gain(name) * get_activation(name).fn(z)) ** 2
    assert abs(float(y2.mean()) - 1.0) < 5 * float(y2.std()) / math.sqrt(n)


def test_gain_table_shows_both_where_they_differ():
    rows = {r["name"]: r for r in gain_table()}
    assert set(rows) == set(ACTIVATIONS)
    assert rows["gelu"]["torch_gain"] is None and rows["gelu"]["gain"] > 1
    assert rows["sigmoid"]["relative_difference"] < -0.4  # torch's 1 is far from preserving


def test_user_callables():
    cube = get_activation(lambda x: x**3)
    assert gaussian_moments(cube, 1.3).second == pytest.approx(15 * 1.3**3, rel=1e-10)
    assert gaussian_moments(cube, 1.3).deriv_second == pytest.approx(9 * 3 * 1.3**2, rel=1e-10)
    with pytest.raises(InitscopeError, match="NaN or inf"):
        get_activation(lambda x: torch.log(x))
    with pytest.raises(InitscopeError, match="same shape"):
        get_activation(lambda x: x.sum())
    with pytest.raises(InitscopeError, match="failed"):
        get_activation(lambda x, y: x + y)
    with pytest.raises(InitscopeError, match="unknown activation 'rleu'; choose from: .*relu"):
        get_activation("rleu")


def test_hermite_nodes_integrate_gaussian_moments():
    x, w = hermite_nodes(41)
    assert w.sum() == pytest.approx(1.0, rel=1e-13)
    assert (w * x**2).sum() == pytest.approx(1.0, rel=1e-13)
    assert (w * x**4).sum() == pytest.approx(3.0, rel=1e-13)
    assert (w * np.cos(x)).sum() == pytest.approx(math.exp(-0.5), rel=1e-13)  # E[cos z] = e^{-1/2}
    x101, _ = hermite_nodes()
    assert len(x101) == 101 and hermite_nodes() is hermite_nodes()  # cached
    with pytest.raises(ValueError):  # shared by the cache, so read-only
        x101[0] = 0.0


def test_moments_picks_closed_form_else_quadrature():
    assert moments("relu", 2.0).second == 1.0  # exactly q/2: the closed form, not quadrature
    assert moments("tanh", 2.0) == gaussian_moments("tanh", 2.0)
    m = moments("sigmoid", 1.0)
    assert m.variance == pytest.approx(m.second - m.mean**2) and 0 < m.variance < 0.25


def test_user_function_named_like_a_registered_one_is_integrated():
    def relu(x):
        return torch.tanh(x)

    assert closed_form_moments(relu, 1.0) is None
    assert moments(relu, 1.0).second == pytest.approx(gaussian_moments("tanh", 1.0).second, rel=1e-14)


def test_zero_variance_is_the_value_at_zero():
    m = gaussian_moments("sigmoid", 0.0)
    assert m.mean == 0.5 and m.second == 0.25 and m.deriv_second == pytest.approx(1 / 16)
    for bad in (-1.0, float("nan"), float("inf")):
        for f in (gaussian_moments, closed_form_moments, moments):
            with pytest.raises(InitscopeError, match="q must be"):
                f("relu", bad)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "abs"])
def test_zero_variance_at_a_kink_is_the_small_q_limit(name):
    """At q = 0 quadrature and closed form agree, and both equal the q -> 0+ limit
    (relu 1/2, abs 1), not torch's subgradient at 0 (relu'(0) = abs'(0) = 0)."""
    at_zero, closed = gaussian_moments(name, 0.0), closed_form_moments(name, 0.0)
    tiny = gaussian_moments(name, 1e-12)
    assert at_zero.mean == closed.mean == 0.0 and at_zero.second == closed.second == 0.0
    assert at_zero.deriv_second == pytest.approx(closed.deriv_second, rel=1e-14)
    assert at_zero.deriv_second == pytest.approx(tiny.deriv_second, rel=1e-12)


def test_callables_autograd_cannot_differentiate_fail_clearly():
    through_numpy = get_activation(lambda x: torch.from_numpy(np.tanh(x.detach().numpy())))
    with pytest.raises(InitscopeError, match="not differentiable by torch.autograd"):
        gain(through_numpy)
    with pytest.raises(InitscopeError, match="floating-point"):
        get_activation(lambda x: x > 0)
    with pytest.raises(InitscopeError, match="must map a tensor to a tensor"):
        get_activation(lambda x: x.numpy())


def test_registry_is_the_functions_it_names():
    """Each registered fn against an independent numpy/scipy formula (gelu exact, not tanh-approx)."""
    from scipy import special

    from initscope.activations import list_activations

    x = np.linspace(-6, 6, 1201)
    lam, alpha = 1.0507009873554805, 1.6732632423543772  # SELU constants, Klambauer et al. 2017
    ref = {
        "relu": np.maximum(x, 0),
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "tanh": np.tanh(x),
        "sigmoid": special.expit(x),
        "gelu": x * special.ndtr(x),
        "silu": x * special.expit(x),
        "elu": np.where(x > 0, x, np.expm1(x)),
        "selu": lam * np.where(x > 0, x, alpha * np.expm1(x)),
        "softplus": np.logaddexp(0, x),
        "erf": special.erf(x),
        "sin": np.sin(x),
        "abs": np.abs(x),
        "linear": x,
    }
    assert list_activations() == sorted(ref)
    for name, expected in ref.items():
        got = get_activation(name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=name)
    assert repr(get_activation("relu")) == "Activation('relu')"
