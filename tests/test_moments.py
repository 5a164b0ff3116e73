"""engine.moments: the one place draws become a value and its error bar."""

import math

import numpy as np
import pytest

from initscope.engine.moments import mean_stderr, mean_stderr_rows, ratio_stderr


def test_mean_stderr_covers_the_true_mean_at_the_nominal_rate():
    # Monte Carlo: 2000 experiments of 30 N(3, 2^2) draws; mean +- 1.96 se covers 3 about 95% of the time
    rng = np.random.default_rng(20261130)
    draws = rng.normal(3.0, 2.0, size=(2000, 30))
    hits = 0
    for row in draws:
        m, se = mean_stderr(row)
        hits += abs(m - 3.0) <= 1.96 * se
    # binomial(2000, ~0.94 for t with 29 dof at 1.96) has sd ~0.005: a band of 4 sd
    assert 0.92 <= hits / 2000 <= 0.965
    m, se = mean_stderr(draws[0])
    assert se == pytest.approx(2.0 / math.sqrt(30), rel=0.35)  # sigma / sqrt(n), within the sample sd's spread


def test_overflow_safe_error_near_float64s_limit_and_edge_cases():
    big = np.array([1e307, 3e307, 5e307])
    with np.errstate(over="ignore"):
        plain = mean_stderr(big)[1]
    assert math.isinf(plain)  # squaring deviations of ~1e307 overflows
    safe = mean_stderr(big, overflow_safe=True)[1]
    assert safe == pytest.approx(float(np.std(big / 1e307, ddof=1)) / math.sqrt(3) * 1e307, rel=1e-12)
    assert mean_stderr(np.zeros(4), overflow_safe=True) == (0.0, 0.0)
    m, se = mean_stderr([2.5])
    assert m == 2.5 and math.isnan(se)
    assert all(math.isnan(v) for v in mean_stderr([]))


def test_rows_are_the_scalar_form_row_by_row():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(5, 7))
    mean, se = mean_stderr_rows(t)
    for i in range(5):
        assert (mean[i], se[i]) == pytest.approx(mean_stderr(t[i]), rel=1e-12)
    assert list(mean_stderr_rows(t[:, :1])[1]) == [0.0] * 5


def test_jackknife_ratio_stderr_against_the_spread_of_ratios_over_experiments():
    # sum(a) / (sum(a) + sum(b)) over 40 networks: the jackknife error against the sd of the
    # ratio over 3000 independent experiments
    rng = np.random.default_rng(7)
    a = rng.gamma(2.0, 1.0, size=(3000, 40))
    b = rng.gamma(5.0, 1.0, size=(3000, 40))
    ratios = a.sum(1) / (a.sum(1) + b.sum(1))
    jk = np.array([ratio_stderr(a[i], b[i]) for i in range(200)])
    assert float(np.median(jk)) == pytest.approx(float(ratios.std()), rel=0.15)
