import pytest
import torch

from initscope.errors import InitscopeError
from initscope.nets import MLPSpec, build_ensemble, build_mlp, draw_layer, normalize, post_activation


def _manual_forward(spec, seed, r, x):
    """The forward rule written out by hand, independently of MLP.preactivations."""
    act = spec.act
    ys, y = [], None
    for layer in range(1, spec.n_layers + 1):
        w, b = draw_layer(spec, seed, r, layer, dtype=x.dtype)
        if layer == 1:
            h = x
        else:
            z = torch.nn.functional.layer_norm(y, y.shape[-1:]) if spec.norm == "layernorm" else y
            h = act.fn(z)
        new = h @ w.T + b
        if spec.residual and layer > 1:
            new = new + y
        y = new
        ys.append(y)
    return ys


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(activation="tanh", init="xavier-normal", bias="normal", sigma_b=0.3),
        dict(residual=True, norm="layernorm", bias="linspace"),
        dict(widths=(7, 5, 9), init="orthogonal"),
    ],
)
def test_module_matches_hand_written_forward(kw):
    spec = MLPSpec(input_dim=6, width=8, depth=4, **kw)
    x = torch.randn(11, 6, dtype=torch.float64)
    model = build_mlp(spec, seed=3, network=2, dtype=torch.float64)
    for got, want in zip(model.preactivations(x), _manual_forward(spec, 3, 2, x)):
        torch.testing.assert_close(got, want)


def test_ensemble_member_is_build_mlp():
    spec = MLPSpec(input_dim=5, width=6, depth=3, activation="gelu", bias="normal", sigma_b=0.1)
    ens = build_ensemble(spec, 4, seed=1, dtype=torch.float64)
    x = torch.randn(9, 5, dtype=torch.float64)
    ys = ens.preactivations(x)
    for r in range(4):
        ref = build_mlp(spec, seed=1, network=r, dtype=torch.float64).preactivations(x)
        for layer in range(3):
            torch.testing.assert_close(ys[layer][r], ref[layer])


def test_readout_and_dropout_module():
    spec = MLPSpec(input_dim=3, width=40, depth=10, bias="linspace", output_dim=1, output_init="zeros", dropout=0.1)
    model = build_mlp(spec, seed=0).eval()
    out = model(torch.randn(100, 3))
    assert out.shape == (100, 1) and torch.all(out == 0)  # text 001: zero-initialized output layer
    torch.testing.assert_close(model.hidden[0].bias, torch.linspace(-1, 1, 40))


def test_post_activation_applies_norm_then_phi():
    spec = MLPSpec(input_dim=2, width=4, depth=1, norm="layernorm", activation="relu")
    y = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    z = (y - 2.5) / torch.sqrt(torch.tensor(1.25) + 1e-5)
    torch.testing.assert_close(post_activation(y, spec, spec.act), torch.relu(z))


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(depth=0), "depth must be >= 1"),
        (dict(width=0), "width must be >= 1"),
        (dict(init="kaiming"), "unknown init scheme 'kaiming'"),
        (dict(activation="rleu"), "unknown activation 'rleu'.*relu"),
        (dict(bias="random"), "unknown bias"),
        (dict(norm="groupnorm"), "unknown norm 'groupnorm'.*batchnorm"),
        (dict(norm="batchnorm", batch_size=1), "batch_size must be >= 2"),
        (dict(residual=True, widths=(4, 5)), "equal widths"),
        (dict(dropout=1.5), "dropout"),
    ],
)
def test_bad_specs(kw, match):
    with pytest.raises(InitscopeError, match=match):
        MLPSpec(**kw)


def test_weight_scale_overrides_scheme():
    spec = MLPSpec(input_dim=100, width=100, depth=1, init="kaiming-normal", weight_scale=3.0)
    assert spec.scheme.variance((100, 100)) == pytest.approx(3.0 / 100)


# --- normalization against torch's own functions on the same tensors ---------------------


def test_layer_and_rms_norm_are_torchs():
    y = torch.randn(3, 50, 16, dtype=torch.float64) * 3 + 1
    torch.testing.assert_close(normalize(y, "layernorm"), torch.nn.functional.layer_norm(y, (16,)))
    if hasattr(torch.nn.functional, "rms_norm"):  # torch >= 2.4
        torch.testing.assert_close(normalize(y, "rmsnorm"), torch.nn.functional.rms_norm(y, (16,)))
    torch.testing.assert_close(normalize(y, "rmsnorm"), y / y.pow(2).mean(-1, keepdim=True).add(torch.finfo(y.dtype).eps).sqrt())


@pytest.mark.parametrize("n,size", [(96, 32), (70, 32), (10, 32), (64, None)])
def test_batch_norm_is_torchs_in_groups_of_the_batch(n, size):
    """Consecutive groups of ``batch_size`` samples, each through torch's batch_norm in training mode;
    a last, smaller group is its own batch."""
    y = torch.randn(2, n, 16, dtype=torch.float64) * 2 - 1
    out = normalize(y, "batchnorm", size)
    step = min(size or n, n)
    for k in range(2):
        for s in range(0, n, step):
            part = y[k, s : s + step]
            ref = torch.nn.functional.batch_norm(part, None, None, training=True, eps=1e-5)
            torch.testing.assert_close(out[k, s : s + step], ref)


def test_batch_norm_refuses_a_batch_of_one():
    with pytest.raises(InitscopeError, match="leave a batch of 1"):
        normalize(torch.randn(33, 4), "batchnorm", 32)


def test_batch_norm_module_in_training_mode_is_the_engines_forward():
    from initscope.engine.forward import forward

    spec = MLPSpec(input_dim=8, width=16, depth=4, norm="batchnorm", batch_size=40, activation="tanh", bias="normal", sigma_b=0.2)
    x = torch.randn(40, 8, dtype=torch.float64)
    model = build_mlp(spec, seed=3, dtype=torch.float64).train()
    engine = [y for _, y, _ in forward(spec, x, 3)]
    for a, b in zip(model.preactivations(x), engine):
        torch.testing.assert_close(a, b)
    assert all(isinstance(m, torch.nn.BatchNorm1d) and m.affine is False for m in model.norms)


def test_spec_sigma_w2_is_fan_in_times_the_weights_second_moment():
    spec = MLPSpec(input_dim=784, widths=(300, 100), init="kaiming-normal", activation="relu")
    assert spec.sigma_w2() == pytest.approx([2.0, 2.0])
    assert MLPSpec(input_dim=784, widths=(50,), init="normal", activation="tanh").sigma_w2() == pytest.approx([784.0])
    # against torch.nn.init on drawn matrices: fan_in x mean(W^2), within the sampling error
    w = torch.empty(300, 784)
    torch.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    assert float(784 * w.pow(2).mean()) == pytest.approx(spec.sigma_w2()[0], rel=0.01)  # 235,200 draws: sd ~0.3%
