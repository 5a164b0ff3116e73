import math

import pytest

from initscope.errors import InitscopeError
from initscope.runner import run


def test_phase_diagram_small_grid_agrees_with_simulation():
    rec = run("phase-diagram", {"grid_w": 4, "grid_b": 3, "depth": 12, "width": 256, "samples": 48}, write=False, seed=1)
    s = rec.summary
    assert s["boundary_sigma_b2"][0] == 0.0 and s["boundary_sigma_w2"][0] == pytest.approx(1.0, abs=1e-3)  # tanh, no bias
    # the edge of chaos moves right as the bias grows
    ws = [w for w in s["boundary_sigma_w2"] if w is not None]
    assert ws == sorted(ws)
    assert len(s["simulated"]) == 9
    for p in s["simulated"]:
        assert abs(p["value"] - p["theory"]) < 5 * p["stderr"] + 0.01, p
    grid = rec.outcome.tables["grid"]
    assert len(grid) == 12 and {"chi1", "xi_c", "q_star", "c_star"} <= set(grid.columns)
    # ordered (chi_1 < 1) on the left, chaotic on the right, for sigma_b^2 = 0.15
    row = grid[grid.sigma_b2 == 0.15].sort_values("sigma_w2")
    assert row.chi1.iloc[0] < 1 < row.chi1.iloc[-1]


def test_phase_diagram_bad_config():
    with pytest.raises(InitscopeError):
        run("phase-diagram", {"sigma_w2_min": 3.0, "sigma_w2_max": 1.0}, write=False)
