"""Input distributions against their laws: moments by Monte Carlo with error bars, the ball's radius by KS."""

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from initscope.data import get_input, list_inputs
from initscope.errors import InitscopeError
from initscope.repro import generator


@pytest.mark.parametrize("name", ["gaussian", "sphere", "ball"])
def test_mean_square_is_the_stated_one(name):
    d = get_input(name)
    dim, n = 16, 40_000
    x = d.sample(n, dim, generator=generator(0, name), dtype=torch.float64)
    per_row = (x**2).mean(dim=1).numpy()  # rows are independent
    se = per_row.std(ddof=1) / math.sqrt(n)
    assert abs(per_row.mean() - d.mean_square(dim)) < 5 * se + 1e-12


def test_sphere_rows_are_unit_and_isotropic():
    x = get_input("sphere").sample(20_000, 8, generator=generator(1, "s"), dtype=torch.float64)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(20_000, dtype=torch.float64))
    assert x.mean(0).abs().max() < 5 / math.sqrt(20_000 * 8)  # E x = 0, each coordinate of variance 1/8


def test_ball_radius_has_law_t_to_the_d():
    dim = 5
    r = get_input("ball").sample(20_000, dim, generator=generator(2, "b"), dtype=torch.float64).norm(dim=1).numpy()
    assert r.max() <= 1.0
    assert sps.kstest(r, lambda t: np.clip(t, 0, 1) ** dim).pvalue > 1e-3


def test_unknown_input_names_the_choices():
    assert list_inputs() == ["ball", "gaussian", "sphere"]
    with pytest.raises(InitscopeError, match="unknown input distribution 'cube'; choose from: ball, gaussian, sphere"):
        get_input("cube")
