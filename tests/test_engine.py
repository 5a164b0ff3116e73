import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from initscope.data import get_input
from initscope.engine import ProbeConfig, RunningMoments, probe
from initscope.errors import InitscopeError
from initscope.nets import MLPSpec, build_mlp
from initscope.repro import generator


def _value(res, stat, layer, site="pre"):
    s = res.stats
    row = s[(s.stat == stat) & (s.site == site) & (s.layer == layer)]
    return float(row.value.iloc[0]), float(row.stderr.iloc[0])


# --- streaming moments ----------------------------------------------------


def test_running_moments_merge_equals_one_pass():
    x = torch.randn(1000, 7, dtype=torch.float64) * 3 + 5
    rm = RunningMoments()
    for chunk in torch.split(x, [1, 99, 400, 500]):
        rm.update(chunk)
    torch.testing.assert_close(rm.mean, x.mean(0))
    torch.testing.assert_close(rm.variance(), x.var(0))
    assert rm.count == 1000


# --- network view: the exact shortcut against full matrices ----------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(activation="relu", init="kaiming-normal"),
        dict(activation="tanh", init="xavier-normal", bias="normal", sigma_b=0.3),
        dict(activation="gelu", init="lecun-normal", residual=True, norm="layernorm"),
        dict(activation="relu", init="orthogonal", weight_scale=2.0),
        dict(activation="tanh", init="orthogonal", widths=(64, 32, 80, 48, 20, 48)),  # tall, wide, square
        dict(activation="relu", init="sphere", bias="normal", sigma_b=0.2),
        dict(activation="tanh", init="sphere", widths=(30, 60, 5, 48, 2, 48)),
    ],
)
def test_exact_sampler_agrees_with_full_matrices(kw):
    spec = MLPSpec(input_dim=48, **({"width": 48, "depth": 6} | kw))
    common = dict(spec=spec, networks=3000, views=("network",), trace_layers=(6,), seed=11)
    exact = probe(ProbeConfig(sampler="exact", **common))
    full = probe(ProbeConfig(sampler="full", **common))
    assert exact.sampler == "exact" and full.sampler == "full"
    for layer in (1, 3, 6):
        for site in ("pre", "post"):
            a, sa = _value(exact, "network_variance", layer, site)
            b, sb = _value(full, "network_variance", layer, site)
            assert abs(a - b) < 5 * math.hypot(sa, sb), (layer, site, a, b)
    # the whole distribution of one neuron over networks, not just its variance
    ta = exact.traces[(exact.traces.site == "pre") & (exact.traces.layer == 6)].value
    tb = full.traces[(full.traces.site == "pre") & (full.traces.layer == 6)].value
    assert sps.ks_2samp(ta, tb).pvalue > 1e-3


def test_kaiming_relu_network_variance_is_preserved_exactly():
    # Over weights, E[y_l^2] = 2 E[relu(y_{l-1})^2] = E[y_{l-1}^2] for any width:
    # every layer's network variance equals layer 1's, 2 |x0|^2 / N0 (text 000).
    spec = MLPSpec(input_dim=64, width=64, depth=20)
    cfg = ProbeConfig(spec=spec, networks=4000, views=("network",), seed=5)
    res = probe(cfg)
    x0 = get_input("gaussian").sample(1, 64, generator=generator(5, "x0"))[0]
    q = 2 * float(x0.double().pow(2).sum()) / 64
    for layer in (1, 5, 10, 20):
        v, se = _value(res, "network_variance", layer)
        assert abs(v - q) < 5 * se, (layer, v, q, se)


def test_full_sampler_for_schemes_without_an_exact_law_and_exact_refused():
    for init in ("kaiming-uniform", "truncated-normal", "torch-default"):
        spec = MLPSpec(input_dim=16, width=16, depth=3, init=init)
        assert probe(ProbeConfig(spec=spec, networks=64, views=("network",))).sampler == "full"
        with pytest.raises(InitscopeError, match="exact"):
            ProbeConfig(spec=spec, sampler="exact").resolved_sampler()
    for init in ("kaiming-normal", "orthogonal", "sphere", "constant"):
        assert ProbeConfig(spec=MLPSpec(init=init)).resolved_sampler() == "exact"


@pytest.mark.parametrize("shape", [(24, 24), (40, 24), (8, 24)])
def test_exact_orthogonal_law_against_drawn_matrices(shape):
    # Square and tall orthogonal W keep the norm, |W h|^2 = c^2 |h|^2 with c^2 = max(out, in) / fan_in;
    # a wide one keeps the part of h on a random subspace: |W h|^2 / (c^2 |h|^2) ~ Beta(out/2, (in-out)/2).
    from initscope.engine.samplers import exact_linear
    from initscope.schemes import get_scheme

    scheme, (out, fan_in), m = get_scheme("orthogonal"), shape, 3000
    g = torch.Generator().manual_seed(0)
    h = torch.randn(1, fan_in, dtype=torch.float64, generator=g)
    y = exact_linear(scheme, shape, h.expand(m, fan_in), h.norm(dim=1, keepdim=True).expand(m, 1), blocks=[(slice(None), g)],
                     out=torch.empty(m, out, dtype=torch.float64))
    drawn = torch.stack([scheme.sample(shape, generator=g, dtype=torch.float64) @ h[0] for _ in range(m)])
    c2 = max(out, fan_in) / fan_in
    for v in (y, drawn):
        ratio = (v.pow(2).sum(1) / (c2 * h.pow(2).sum())).numpy()
        if out >= fan_in:
            np.testing.assert_allclose(ratio, 1.0, rtol=1e-9)
        else:
            assert sps.kstest(ratio, "beta", args=(out / 2, (fan_in - out) / 2)).pvalue > 1e-3
    # one coordinate's law, exact against drawn
    assert sps.ks_2samp(y[:, 0].numpy(), drawn[:, 0].numpy()).pvalue > 1e-3


def test_exact_sphere_coordinate_and_gamma_laws():
    from initscope.engine.samplers import sphere_coordinate, standard_gamma

    g = torch.Generator().manual_seed(1)
    for alpha in (0.5, 1.0, 7.5, 2000.0):
        for dtype in (torch.float32, torch.float64):
            x = standard_gamma(alpha, 20000, generator=g, dtype=dtype).double().numpy()
            assert sps.kstest(x, "gamma", args=(alpha,)).pvalue > 1e-3, (alpha, dtype)
    for dim in (1, 2, 3, 50):
        t = sphere_coordinate([(slice(None), g)], 100, 200, dim, dtype=torch.float64, device="cpu").flatten().numpy()
        if dim == 1:
            assert set(np.unique(t)) <= {-1.0, 1.0}
        else:  # the first coordinate of a uniform unit vector of R^dim: t^2 ~ Beta(1/2, (dim-1)/2)
            assert sps.kstest(t**2, "beta", args=(0.5, (dim - 1) / 2)).pvalue > 1e-3, dim
            assert abs(t.mean()) < 5 * t.std() / math.sqrt(t.size)


def test_exact_constant_law_is_the_constant_network():
    spec = MLPSpec(input_dim=16, width=16, depth=3, init="constant", activation="tanh")
    exact = probe(ProbeConfig(spec=spec, networks=64, views=("network",), seed=4, dtype="float64"))
    full = probe(ProbeConfig(spec=spec, networks=64, views=("network",), seed=4, dtype="float64", sampler="full"))
    np.testing.assert_allclose(exact.stats.value.to_numpy(), full.stats.value.to_numpy(), rtol=1e-9, atol=1e-12)


# --- sample and layer views against a brute-force computation ---------------


def test_sample_view_matches_brute_force():
    spec = MLPSpec(input_dim=10, width=12, depth=4, activation="tanh", bias="normal", sigma_b=0.5)
    cfg = ProbeConfig(spec=spec, samples=50, sample_networks=3, views=("sample", "layer"), dtype="float64", seed=2)
    res = probe(cfg)
    x = get_input("gaussian").sample(50, 10, generator=generator(2, "inputs"), dtype=torch.float64)
    per = {k: [] for k in ("sv", "ms", "lv")}
    for r in range(3):
        ys = build_mlp(spec, seed=2, network=r, dtype=torch.float64).preactivations(x)
        y = ys[3].detach().numpy()  # layer 4, [samples, units]
        per["sv"].append(y.var(axis=0, ddof=1).mean())
        per["ms"].append(y.mean(axis=0).var(ddof=1))
        per["lv"].append(y.var(axis=1, ddof=1).mean())
    sv, ms, lv = (np.mean(per[k]) for k in ("sv", "ms", "lv"))
    assert _value(res, "sample_variance", 4)[0] == pytest.approx(sv, rel=1e-10)
    assert _value(res, "mean_spread", 4)[0] == pytest.approx(ms, rel=1e-10)
    assert _value(res, "sample_fraction", 4)[0] == pytest.approx(sv / (sv + ms), rel=1e-10)
    assert _value(res, "layer_variance", 4)[0] == pytest.approx(lv, rel=1e-10)
    assert _value(res, "sample_variance", 4)[1] == pytest.approx(np.std(per["sv"], ddof=1) / math.sqrt(3), rel=1e-8)


def test_results_do_not_depend_on_chunking():
    spec = MLPSpec(input_dim=32, width=32, depth=5)
    common = dict(spec=spec, networks=200, samples=300, sample_networks=2, dtype="float64", seed=9)
    big = probe(ProbeConfig(memory_mb=512, **common))
    small = probe(ProbeConfig(memory_mb=0.05, **common))  # forces many chunks in every view
    np.testing.assert_allclose(big.stats.value.to_numpy(), small.stats.value.to_numpy(), rtol=1e-9)


def test_same_seed_same_numbers_other_seed_other_numbers():
    spec = MLPSpec(input_dim=16, width=16, depth=4)
    a = probe(ProbeConfig(spec=spec, networks=100, samples=100, sample_networks=2, seed=1))
    b = probe(ProbeConfig(spec=spec, networks=100, samples=100, sample_networks=2, seed=1))
    c = probe(ProbeConfig(spec=spec, networks=100, samples=100, sample_networks=2, seed=2))
    assert a.stats.equals(b.stats) and a.traces.equals(b.traces)
    assert not np.allclose(a.stats.value.to_numpy(), c.stats.value.to_numpy())


# --- what text 000 shows --------------------------------------------------


def test_sample_fraction_collapses_with_depth_for_kaiming_relu():
    spec = MLPSpec(input_dim=256, width=256, depth=30)
    res = probe(ProbeConfig(spec=spec, networks=500, samples=400, sample_networks=3, seed=0))
    f = res.stat("sample_fraction")
    assert f[1] > 0.9 > f[5] > f[10] > f[30] and f[30] < 0.1
    nv = res.stat("network_variance")
    assert 0.8 < nv[30] / nv[1] < 1.25


def test_overflow_is_reported_not_averaged():
    # N(0, 1) weights, no activation: the variance multiplies by the fan-in (64) per
    # layer, so |y| ~ 8^l leaves float32 (3.4e38) near layer 88.7 / ln 8 = 42.7.
    spec = MLPSpec(input_dim=64, width=64, depth=60, init="normal", activation="linear")
    res = probe(ProbeConfig(spec=spec, networks=128, samples=64, sample_networks=2, seed=0))
    for view in ("network", "sample", "layer"):
        first = res.first_nonfinite[view]
        assert first is not None and 39 <= first <= 44, (view, first)
    nv = res.stat("network_variance")
    first = res.first_nonfinite["network"]
    assert np.isfinite(nv[nv.index < first]).all() and np.isnan(nv[nv.index >= first]).all()
    assert nv[10] == pytest.approx(64.0**10, rel=0.5)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(networks=1), "networks must be >= 2"),
        (dict(samples=0), "samples must be >= 1"),
        (dict(views=("weights",)), "unknown view"),
        (dict(sampler="fast"), "unknown sampler"),
        (dict(dtype="float16"), "unknown dtype"),
        (dict(input="uniform-cube"), "unknown input distribution"),
    ],
)
def test_bad_probe_configs(kw, match):
    with pytest.raises(InitscopeError, match=match):
        ProbeConfig(spec=MLPSpec(input_dim=4, width=4, depth=2), **kw)


# --- row tiles: any width within the memory budget, same numbers at any budget ----


def test_forward_is_the_built_network_with_and_without_row_tiles(monkeypatch):
    from initscope import nets
    from initscope.engine.forward import forward

    spec = MLPSpec(input_dim=20, widths=(30, 30, 10), activation="tanh", init="kaiming-uniform", bias="normal", sigma_b=0.1,
                   residual=False)
    x = torch.randn(7, 20, dtype=torch.float64)
    want = build_mlp(spec, seed=3, network=2, dtype=torch.float64).preactivations(x)
    got = [y for _, y, _ in forward(spec, x, 3, "net", 2)]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-12)
    # with tiles of 4 rows (8 streams per 30-row layer) the network is another draw of the same law
    monkeypatch.setattr(nets, "TILE_ENTRIES", 4 * 30)
    assert len(nets.row_tiles(30, 30)) == 8 and len(nets.row_tiles(30, 30, separable=False)) == 1
    w, b = nets.draw_layer(spec, 3, 2, 2, dtype=torch.float64)
    tiled = [y for _, y, _ in forward(spec, x, 3, "net", 2)]
    h = torch.tanh(tiled[0])
    torch.testing.assert_close(tiled[1], h @ w.T + b, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(tiled[1], want[1].detach())
    # each tile keeps the scheme's law: kaiming-uniform bounds sqrt(6 / fan_in)
    big = torch.cat([nets.draw_layer(spec, s, 0, 2, dtype=torch.float64)[0] for s in range(40)])
    assert float(big.abs().max()) <= math.sqrt(6 / 30) and abs(float(big.var()) - 2 / 30) < 5 * (2 / 30) * math.sqrt(0.8 / big.numel())


@pytest.mark.parametrize("init", ["kaiming-uniform", "sphere", "orthogonal"])
def test_memory_budget_changes_no_number_with_row_tiles(monkeypatch, init):
    from initscope import nets

    monkeypatch.setattr(nets, "TILE_ENTRIES", 64 * 8 * 24)  # full-path blocks of 64 networks in 3 tiles
    spec = MLPSpec(input_dim=24, width=24, depth=3, init=init, activation="tanh")
    common = dict(spec=spec, networks=130, samples=90, sample_networks=2, dtype="float64", seed=9, sampler="full")
    big = probe(ProbeConfig(memory_mb=512, **common))
    small = probe(ProbeConfig(memory_mb=0.01 if init != "orthogonal" else 0.3, **common))  # orthogonal: 64 whole matrices
    np.testing.assert_allclose(big.stats.value.to_numpy(), small.stats.value.to_numpy(), rtol=1e-9)
    # the same draws in the same order; values equal up to the rounding of differently sized matmuls
    assert big.traces.drop(columns="value").equals(small.traces.drop(columns="value"))
    np.testing.assert_allclose(big.traces.value.to_numpy(), small.traces.value.to_numpy(), rtol=1e-12, atol=1e-14)


def test_orthogonal_weights_past_the_budget_are_refused_up_front():
    spec = MLPSpec(input_dim=2000, width=2000, depth=2, init="orthogonal")
    with pytest.raises(InitscopeError, match=r"2000x2000 float32 matrix needs 15.26 MB, above memory_mb=10; raise memory_mb \(to 30.52 or more\)"):
        ProbeConfig(spec=spec, memory_mb=10)
    ProbeConfig(spec=spec, memory_mb=10, views=("network",))  # the exact law needs no matrix
    with pytest.raises(InitscopeError, match="64 networks at once"):
        ProbeConfig(spec=spec, memory_mb=100, views=("network",), sampler="full")


@pytest.mark.parametrize("widths", [(20, 20), (20, 33), (20, 9)])
def test_orthogonal_forward_by_reflectors_is_the_built_network(widths):
    # the sample view applies orthogonal weights by Householder reflectors (geqrf + ormqr);
    # the network must be build_mlp's, which forms Q by torch.linalg.qr from the same draw
    from initscope.engine.forward import forward

    spec = MLPSpec(input_dim=20, widths=widths, activation="tanh", init="orthogonal", bias="normal", sigma_b=0.2)
    x = torch.randn(11, 20, dtype=torch.float64)
    want = build_mlp(spec, seed=5, network=1, dtype=torch.float64).preactivations(x)
    got = [y for _, y, _ in forward(spec, x, 5, "net", 1)]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b.detach(), rtol=1e-10, atol=1e-12)


# --- batch norm: the network view's batch, the sample view's groups -----------------------


def test_batch_norm_network_view_exact_law_agrees_with_full_matrices():
    """sqrt(v) Z R (QR of the batch) against drawn Gaussian matrices, batch of 8 through 5 layers."""
    spec = MLPSpec(input_dim=24, width=24, depth=5, norm="batchnorm", batch_size=8, activation="relu", bias="normal", sigma_b=0.1)
    common = dict(spec=spec, networks=3000, views=("network",), trace_layers=(5,), seed=4)
    exact, full = probe(ProbeConfig(sampler="exact", **common)), probe(ProbeConfig(sampler="full", **common))
    assert exact.sampler == "exact" and full.sampler == "full"
    for layer in (1, 3, 5):
        a, sa = _value(exact, "network_variance", layer)
        b, sb = _value(full, "network_variance", layer)
        assert abs(a - b) < 5 * math.hypot(sa, sb), (layer, a, b)
    ta, tb = (r.traces[(r.traces.site == "pre") & (r.traces.layer == 5)].value for r in (exact, full))
    assert sps.ks_2samp(ta, tb).pvalue > 1e-3


def test_batch_norm_network_view_is_x0_inside_its_batch():
    """Brute force: each network built as a module, the batch (x0 first) through it in training mode."""
    spec = MLPSpec(input_dim=6, width=10, depth=3, norm="batchnorm", batch_size=5, activation="tanh")
    res = probe(ProbeConfig(spec=spec, networks=4, views=("network",), sampler="full", trace_layers=(3,), dtype="float64", seed=7))
    dist = get_input("gaussian")
    x0 = dist.sample(1, 6, generator=generator(7, "x0"), dtype=torch.float64)[0]
    others = dist.sample(4, 6, generator=generator(7, "x0-batch"), dtype=torch.float64)
    batch = torch.cat([x0.unsqueeze(0), others])
    from initscope.nets import draw_tiles  # the full path's weights: streams ("network-full", block 0, layer)

    h = batch.expand(4, -1, -1)
    for layer in range(1, 4):
        (_, w), (_, b) = list(draw_tiles(spec, layer, 7, "network-full", 0, batch=4, dtype=torch.float64))
        y = torch.bmm(h, w.transpose(1, 2)) + b.unsqueeze(1)  # [network, batch, unit]
        h = torch.tanh(torch.stack([torch.nn.functional.batch_norm(y[k], None, None, training=True) for k in range(4)]))
    got = res.traces[(res.traces.view == "network") & (res.traces.site == "pre") & (res.traces.layer == 3)].value.to_numpy()
    np.testing.assert_allclose(got, y[:, 0, 0].numpy(), rtol=1e-10)  # unit 0 of x0's row, network by network


def test_batch_norm_sample_view_matches_modules_batch_by_batch():
    spec = MLPSpec(input_dim=10, width=12, depth=4, norm="batchnorm", batch_size=25, activation="relu", bias="normal", sigma_b=0.3)
    cfg = ProbeConfig(spec=spec, samples=75, sample_networks=2, views=("sample",), dtype="float64", seed=5)
    res = probe(cfg)
    x = get_input("gaussian").sample(75, 10, generator=generator(5, "inputs"), dtype=torch.float64)
    sv, ms = [], []
    for r in range(2):
        model = build_mlp(spec, seed=5, network=r, dtype=torch.float64).train()
        y = torch.cat([model.preactivations(x[s : s + 25])[3] for s in (0, 25, 50)]).detach().numpy()
        sv.append(y.var(axis=0, ddof=1).mean())
        ms.append(y.mean(axis=0).var(ddof=1))
    assert _value(res, "sample_variance", 4)[0] == pytest.approx(np.mean(sv), rel=1e-10)
    assert _value(res, "mean_spread", 4)[0] == pytest.approx(np.mean(ms), rel=1e-10)
    small = probe(ProbeConfig(spec=spec, samples=75, sample_networks=2, views=("sample",), dtype="float64", seed=5, memory_mb=0.01))
    np.testing.assert_allclose(small.stats.value.to_numpy(), res.stats.value.to_numpy(), rtol=1e-12)  # chunks hold whole batches


def test_batch_norm_keeps_the_sample_fraction_where_layer_norm_lets_it_decay():
    """Text 000's closing claim: batch statistics stop the decay, layer statistics do not. ReLU
    after batch norm resets the fraction to 1 - 1/pi every layer (mean field); the plain and
    layer-normalized nets fall below 0.2 by layer 16."""
    out = {}
    for norm in ("batchnorm", "layernorm", "none"):
        spec = MLPSpec(input_dim=128, width=128, depth=16, norm=norm)
        out[norm] = probe(ProbeConfig(spec=spec, samples=256, sample_networks=3, views=("sample",), seed=1)).stat("sample_fraction")
    assert all(abs(out["batchnorm"][l] - (1 - 1 / math.pi)) < 0.05 for l in (2, 8, 16))
    assert out["layernorm"][16] < 0.2 and out["none"][16] < 0.2
