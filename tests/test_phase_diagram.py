import numpy as np
import pytest

from initscope.errors import InitscopeError
from initscope.runner import run


def test_phase_diagram_small_grid_agrees_with_simulation():
    rec = run("phase-diagram", {"grid_w": 4, "grid_b": 3, "depth": 12, "width": 256, "samples": 48, "case_depth": 0}, write=False, seed=1)
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


def test_nearly_linear_and_edge_of_chaos_cases_follow_mean_field():
    """Text 000's "Nearly linear networks and edge of chaos": five depth profiles, simulation beside
    mean field. Odd tanh without bias keeps the fraction at S/(S+1) by symmetry; the nearly linear
    net falls geometrically (checked in log10 against theory); ordered and chaotic within 5 se."""
    rec = run("phase-diagram", {"grid_w": 2, "grid_b": 2, "sim_sigma_w2": (1.5,), "sim_sigma_b2": (0.1,), "depth": 4, "width": 32,
                                "samples": 64, "sample_networks": 4, "theory_replicates": 0, "case_depth": 10, "case_width": 256},
              write=False, seed=3)
    cases = rec.outcome.tables["cases"]
    assert list(dict.fromkeys(cases.case)) == ["odd, no bias", "nearly linear", "ordered", "edge of chaos", "chaotic"]
    odd = cases[cases.case == "odd, no bias"]
    assert (odd.theory - 128 / 129).abs().max() < 1e-5 and (odd.value - odd.theory).abs().max() < 0.003
    lin = cases[cases.case == "nearly linear"].sort_values("layer")
    assert lin.value.iloc[-1] < 1e-3 and (np.log10(lin.value) - np.log10(lin.theory)).abs().max() < 0.3
    for name in ("ordered", "chaotic"):
        d = cases[cases.case == name]
        assert ((d.value - d.theory).abs() < 5 * d.stderr + 0.01).all(), d
    edge = cases[cases.case == "edge of chaos"]
    assert 1.5 < edge.sigma_w2.iloc[0] < 2.5  # on the chi_1 = 1 line at sigma_b^2 = 0.1
    assert set(rec.summary["cases"]) == set(cases.case)
