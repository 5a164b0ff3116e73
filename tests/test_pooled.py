"""engine.pooled and engine.moments.pooled_moments against numpy and by-hand forward passes."""

import math

import numpy as np
import torch

from initscope.engine.moments import pooled_moments
from initscope.engine.pooled import over_networks, pooled_run, text_reductions
from initscope.nets import MLPSpec


def test_pooled_moments_against_numpy_and_past_float64_squares():
    v = torch.randn(300, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3 + 1
    got = pooled_moments(v)
    a = v.numpy().ravel()
    assert math.isclose(got["variance"], a.var(ddof=1), rel_tol=1e-12)
    assert math.isclose(got["mean"], a.mean(), rel_tol=1e-12)
    assert math.isclose(got["second_moment"], (a**2).mean(), rel_tol=1e-12)
    big = v * 1e200  # finite values whose squares overflow float64: rescaled, variance exact in log
    got = pooled_moments(big)
    assert math.isclose(got["mean"], a.mean() * 1e200, rel_tol=1e-10)
    assert got["variance"] == math.inf or math.isclose(got["variance"], a.var(ddof=1) * 1e400, rel_tol=1e-8)
    assert pooled_moments(torch.tensor([1.0, float("inf")])) is None
    assert pooled_moments(torch.tensor([1.0, float("nan")])) is None


def test_pooled_run_is_forward_by_hand_and_stops_where_the_float_range_ends():
    spec = MLPSpec(input_dim=16, width=16, depth=4, activation="relu", init="normal")  # N(0, 1) weights: x16 per layer
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    run = pooled_run(spec, x, seed=5, stream="t", networks=3)
    # network 1, layer 2 by hand from the same weights
    from initscope.engine.forward import forward

    layers = list(forward(spec, x, 5, "t", 1, bias=False))
    _, y2, post2 = layers[1]
    row = next(r for r in run.rows if r["network"] == 1 and r["layer"] == 2 and r["site"] == "post")
    assert math.isclose(row["variance"], float(post2.double().var()), rel_tol=1e-6)
    stats = over_networks(run, spec.n_layers, 3)
    pre_var = stats[(stats.site == "pre") & (stats.stat == "variance")].sort_values("layer")
    per_net = [next(r["variance"] for r in run.rows if r["network"] == k and r["layer"] == 1 and r["site"] == "pre") for k in range(3)]
    assert math.isclose(pre_var.value.iloc[0], np.mean(per_net), rel_tol=1e-12)
    assert math.isclose(pre_var.stderr.iloc[0], np.std(per_net, ddof=1) / math.sqrt(3), rel_tol=1e-9)
    # inputs near float64's limit, x4 per layer: activations leave the range after about 13 layers;
    # NaN from there on, never an average of the surviving networks
    big = pooled_run(MLPSpec(input_dim=16, width=16, depth=20, activation="linear", init="normal"), x.double() * 1e300,
                     seed=0, stream="t", networks=2)
    first = big.first_nonfinite_layer
    assert first is not None and 5 < first < 20
    st = over_networks(big, 20, 2)
    assert st[st.layer >= first].value.isna().all() and st[st.layer < first].value.notna().all()
    text, firsts = text_reductions(big, 20)
    assert set(text.stat) == {"text_variance", "text_sum"} and len(text) == 40
    assert firsts["text_variance_first_nonfinite_layer"] is not None  # x.var() overflows before the activations do
    assert firsts["text_variance_first_nonfinite_layer"] < first
