"""Every preset against torch.nn.init (KS test) and its declared variance against draws."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from initscope.errors import InitscopeError
from initscope.schemes import (
    BIAS_KINDS,
    SCHEMES,
    bias_init_,
    compute_fans,
    get_scheme,
    torch_equivalent,
    variance_scaling_,
)

SHAPES = [(512, 256), (64, 32, 3, 3)]
RANDOM = [n for n, s in SCHEMES.items() if s.distribution != "constant"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", RANDOM)
def test_declared_variance_matches_draws(name, shape):
    scheme = get_scheme(name)
    w = scheme.sample(shape, generator=_gen(1), dtype=torch.float64).flatten().numpy()
    v = scheme.variance(shape)
    n = w.size
    # standard errors from the draws' own 4th moment, as for any i.i.d. mean
    se_var = math.sqrt(max(np.mean(w**4) - np.mean(w**2) ** 2, 0) / n)
    assert abs(np.mean(w**2) - v) < 6 * se_var, (np.mean(w**2), v)
    assert abs(np.mean(w)) < 6 * math.sqrt(v / n) + 1e-12


@pytest.mark.parametrize("name", ["constant", "zeros"])
def test_constant_schemes_are_exact(name):
    s = get_scheme(name)
    w = s.sample((8, 50))
    assert torch.all(w == w[0, 0]) and s.variance((8, 50)) == 0
    assert float(w[0, 0]) == pytest.approx(math.sqrt(s.second_moment((8, 50))))


@pytest.mark.parametrize("name", [n for n in SCHEMES if torch_equivalent(n) is not None and n not in ("constant", "zeros")])
def test_same_distribution_as_torch_nn_init(name):
    shape = (256, 256)  # square: torch's orthogonal_ and ours coincide there
    ours = get_scheme(name).sample(shape, generator=_gen(2), dtype=torch.float64).flatten().numpy()
    torch.manual_seed(3)
    theirs = torch_equivalent(name)(torch.empty(shape, dtype=torch.float64)).flatten().numpy()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-3


@pytest.mark.parametrize("name", ["constant", "zeros"])
def test_constant_schemes_equal_torch(name):
    torch.testing.assert_close(get_scheme(name).sample((7, 9)), torch_equivalent(name)(torch.empty(7, 9)))


def test_sphere_rows_have_unit_norm_and_uniform_direction():
    w = get_scheme("sphere").sample((4000, 40), generator=_gen(4), dtype=torch.float64)
    torch.testing.assert_close(w.norm(dim=1), torch.ones(4000, dtype=torch.float64))
    # a uniform point on S^{n-1} has x_1^2 ~ Beta(1/2, (n-1)/2)
    assert stats.kstest(w[:, 0].numpy() ** 2, stats.beta(0.5, 39 / 2).cdf).pvalue > 1e-3


@pytest.mark.parametrize("shape", [(30, 30), (20, 50), (50, 20)])
def test_orthogonal_rows_or_columns_orthonormal_up_to_scale(shape):
    s = get_scheme("orthogonal")
    w = s.sample(shape, generator=_gen(5), dtype=torch.float64)
    rows, cols = shape
    scale2 = s.variance(shape) * max(rows, cols)
    gram = w @ w.T if rows <= cols else w.T @ w
    torch.testing.assert_close(gram, scale2 * torch.eye(min(rows, cols), dtype=torch.float64))


def test_truncated_normal_is_bounded_and_variance_corrected():
    s = get_scheme("truncated-normal")
    w = s.sample((400, 500), generator=_gen(6), dtype=torch.float64)
    underlying = math.sqrt(s.variance((400, 500))) / 0.87962566103423978
    assert float(w.abs().max()) <= 2 * underlying + 1e-12
    assert float(w.var()) == pytest.approx(s.variance((400, 500)), rel=0.02)


def test_generator_reproducibility():
    for name in RANDOM:
        s = get_scheme(name)
        a, b, c = (s.sample((16, 16), generator=_gen(k)) for k in (7, 7, 8))
        assert torch.equal(a, b) and not torch.equal(a, c), name


@pytest.mark.parametrize("shape", [(3, 4), (10, 5, 3), (8, 4, 3, 3), (2, 6, 2, 2, 2)])
def test_fans_match_torch(shape):
    assert compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_errors_name_the_choices():
    with pytest.raises(InitscopeError, match="unknown init scheme 'kaiming'; choose from: .*kaiming-normal"):
        get_scheme("kaiming")
    with pytest.raises(InitscopeError, match="unknown mode 'fan_max'; choose from: fan_avg, fan_in"):
        variance_scaling_(torch.empty(3, 3), 1.0, "fan_max")
    with pytest.raises(InitscopeError, match="unknown distribution 'cauchy'; choose from: .*normal"):
        variance_scaling_(torch.empty(3, 3), 1.0, "fan_in", "cauchy")
    with pytest.raises(InitscopeError, match="scale must be"):
        variance_scaling_(torch.empty(3, 3), -1.0)
    with pytest.raises(InitscopeError, match="at least 2 dimensions"):
        compute_fans((5,))


def test_bias_kinds():
    b = torch.empty(5)
    assert torch.equal(bias_init_(b, "zero"), torch.zeros(5))
    assert torch.equal(bias_init_(b, "constant", value=0.5), torch.full((5,), 0.5))
    torch.testing.assert_close(bias_init_(b, "linspace"), torch.linspace(-1, 1, 5))
    big = bias_init_(torch.empty(200_000, dtype=torch.float64), "normal", sigma_b=0.3, generator=_gen(1))
    assert float(big.std()) == pytest.approx(0.3, rel=0.01)
    td = bias_init_(torch.empty(10_000), "torch-default", fan_in=25, generator=_gen(2))
    assert float(td.abs().max()) <= 0.2 and float(td.abs().max()) > 0.19
    with pytest.raises(InitscopeError, match="unknown bias 'random'; choose from"):
        bias_init_(b, "random")
    assert set(BIAS_KINDS) == {"zero", "constant", "normal", "linspace", "torch-default"}


def test_torch_default_matches_nn_linear():
    torch.manual_seed(0)
    lin = torch.nn.Linear(300, 200)
    ours = get_scheme("torch-default").sample((200, 300), generator=_gen(9)).flatten().numpy()
    assert stats.ks_2samp(ours, lin.weight.detach().flatten().numpy()).pvalue > 1e-3
