"""The backward view: delta_l against a hand-written back-propagation, the chi_1-product theory
against Monte Carlo for ReLU, tanh and GELU with changing widths, and what fan_in / fan_out keep."""

import math

import pytest
import torch

from initscope.engine.backward import backward_probe, signals
from initscope.errors import InitscopeError
from initscope.nets import MLPSpec, build_mlp
from initscope.repro import generator
from initscope.schemes import Scheme
from initscope.theory import predict_backward


def _spec(act="tanh", mode="fan_in", widths=(24, 8, 24), scale=1.0, **kw):
    return MLPSpec(input_dim=12, widths=widths, activation=act, init=Scheme(f"s-{mode}", scale, mode, "normal"), output_dim=5, **kw)


@pytest.mark.parametrize("cotangent", ["shared", "sample"])
def test_deltas_are_back_propagation_by_hand(cotangent):
    spec = _spec(bias="normal", sigma_b=0.3)
    x = torch.randn(7, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ys, ds = signals(spec, x, seed=4, network=2, dtype=torch.float64, cotangent=cotangent)
    m = build_mlp(spec, seed=4, network=2, dtype=torch.float64)
    shape = (7, 5) if cotangent == "sample" else (1, 5)
    c = torch.randn(shape, generator=generator(4, "cotangent", 2), dtype=torch.float64).expand(7, 5)
    dphi = lambda y: 1 - torch.tanh(y) ** 2  # noqa: E731
    with torch.no_grad():
        h, mine = x, []
        for lin in m.hidden:  # forward by hand
            mine.append(h @ lin.weight.T + lin.bias)
            h = torch.tanh(mine[-1])
        delta = dphi(mine[-1]) * (c @ m.readout.weight)
        back = [delta]
        for l in range(len(m.hidden) - 1, 0, -1):
            delta = dphi(mine[l - 1]) * (delta @ m.hidden[l].weight)
            back.insert(0, delta)
    for a, b in zip(ys, mine):
        torch.testing.assert_close(a, b)
    for a, b in zip(ds, back):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("act,scale", [("relu", 2.0), ("tanh", 1.0), ("gelu", 2.0)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_chi1_products_against_monte_carlo(act, scale, mode):
    spec = _spec(act, mode, widths=(96, 32, 96, 32), scale=scale)
    df = backward_probe(spec, networks=300, samples=4, seed=1, dtype=torch.float64)
    x0 = torch.randn(4, 12, generator=generator(1, "inputs"), dtype=torch.float64)[0]
    p = predict_backward(spec, x_sq=float((x0**2).mean()))
    for direction, theory in (("forward", p.q), ("backward", p.g)):
        d = df[(df.direction == direction) & (df.stat == "network_variance")].sort_values("layer")
        for v, se, t in zip(d.value, d.stderr, theory):
            assert abs(v - t) < 5 * se + 0.03 * t, (direction, v, t, se)


def test_fan_in_keeps_the_forward_and_fan_out_the_backward_variance():
    from initscope.experiments.backward_variance import swing
    from initscope.runner import run

    s = run("backward-variance", {"input_dim": 32, "widths": (128, 32, 128, 32), "output_dim": 32, "activations": ("relu",),
                                  "networks": 150, "samples": 8, "gi_widths": ()}, write=False).summary
    assert swing(s["forward_variance"]["relu/fan_in"]) < 1.25 and swing(s["backward_variance"]["relu/fan_in"]) > 3
    assert swing(s["backward_variance"]["relu/fan_out"]) < 1.25 and swing(s["forward_variance"]["relu/fan_out"]) > 3
    assert swing(s["theory_backward_variance"]["relu/fan_in"]) == pytest.approx(4.0) and s["layers"] == [1, 2, 3, 4]
    assert set(s["theory_backward_variance"]) == {"relu/fan_in", "relu/fan_out", "relu/fan_avg"}
    assert all(a["max_relative_gap"] < 0.3 for a in s["agreement"].values())
    frac = s["backward_sample_fraction"]["relu/fan_in"]
    assert all(0 < f <= 1 for f in frac)


@pytest.mark.parametrize("kw,match", [
    ({"modes": ("fan_sideways",)}, "unknown mode 'fan_sideways'"),
    ({"activations": ("rleu",)}, "unknown activation"),
    ({"networks": 1}, "networks and samples must be >= 2"),
    ({"widths": ()}, "widths, input_dim and output_dim must be positive"),
])
def test_bad_configs(kw, match):
    from initscope.runner import run

    with pytest.raises(InitscopeError, match=match):
        run("backward-variance", kw, write=False)


def test_backward_view_needs_a_readout():
    with pytest.raises(InitscopeError, match="needs a readout"):
        signals(MLPSpec(input_dim=4, width=4, depth=2), torch.randn(3, 4), 0, 0)
    assert math.isfinite(predict_backward(_spec()).g[0])


def test_gradient_independence_fails_as_depth_over_width_grows():
    """Deep narrow nets: the gradient's spread over networks grows and the typical network falls
    below the mean-field line as the width shrinks at fixed depth (Hanin 2018's depth/width)."""
    from initscope.experiments.backward_variance import BackwardVarianceConfig, independence_check, independence_summary
    from initscope.experiments.base import RunContext

    cfg = BackwardVarianceConfig(activations=("relu",), gi_widths=(8, 64), gi_depth=16, gi_networks=150)
    s = independence_summary(independence_check(cfg, RunContext(seed=0)))
    narrow, wide = s["relu/8"], s["relu/64"]
    assert narrow["norm_spread_layer_1"] > 2 * wide["norm_spread_layer_1"]
    assert narrow["typical_ratio_layer_1"] < wide["typical_ratio_layer_1"] < 1.2
    assert 0.7 < wide["mean_ratio_layer_1"] < 1.3  # at depth/width 0.25 the mean still follows mean field


def test_the_independence_section_reports_every_net_from_the_tables(small_run):
    """The report is drawn from the tables alone (old run directories too): the independence
    section names each deep narrow net with its layer-1 numbers, the same as --json's summary."""
    from initscope.experiments.backward_variance import BackwardVarianceConfig, report

    rec = small_run("backward-variance")
    from conftest import SMALL_RUNS

    cfg = BackwardVarianceConfig(**SMALL_RUNS["backward-variance"])
    section = next(s for s in report(rec.outcome.tables, cfg, rec.meta) if s.title.startswith("Where gradient independence fails"))
    for key, v in rec.summary["independence"].items():
        act, width = key.split("/")
        assert f"{act} width {width}: mean {v['mean_ratio_layer_1']:.2f}x mean field" in section.verdict
