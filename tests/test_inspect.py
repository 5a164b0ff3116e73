"""initscope inspect on models built here from torch.nn parts, healthy and deliberately broken."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.inspect import as_samples_by_units, fix_model, inspect_model, record


def mlp(depth=8, width=128, init=None, bias=0.0):
    layers = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        if init == "kaiming":
            nn.init.kaiming_normal_(lin.weight)
        elif init == "normal":
            nn.init.normal_(lin.weight, 0, 1)
        elif init == "tiny":
            nn.init.normal_(lin.weight, 0, 1e-3)
        elif init == "constant":
            nn.init.constant_(lin.weight, 0.05)
        nn.init.constant_(lin.bias, bias)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def small_cnn():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                         nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def resnet():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), Block(16), Block(16),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def transformer():
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True, dropout=0.0)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def _issues(res):
    return " | ".join(res.issues)


def test_healthy_models_get_no_verdict():
    for factory, shape in ((lambda: mlp(8, 128, "kaiming"), (128,)), (small_cnn, (3, 16, 16)), (resnet, (3, 16, 16))):
        torch.manual_seed(0)
        res = inspect_model(factory, input_shape=shape, batch=64)
        assert res.issues == [], (factory, _issues(res))
        assert res.verdict.startswith("healthy")


def test_conv_layers_are_measured_per_channel():
    t = torch.randn(4, 5, 6, 7)
    h = as_samples_by_units(t, nn.Conv2d(5, 5, 1))
    assert h.shape == (4 * 6 * 7, 5)
    torch.testing.assert_close(h[:, 2].sort().values, t[:, 2].reshape(-1).sort().values)
    assert as_samples_by_units(torch.randn(4, 9, 11), nn.Linear(11, 11)).shape == (36, 11)  # sequence: per feature


def test_transformer_hooks_are_not_skipped():
    res = inspect_model(transformer, input_shape=(10, 32), batch=16)
    names = set(res.layers.name)
    assert {"layers.0.self_attn", "layers.0.linear1", "layers.1.linear2"} <= names
    assert not any("not recorded" in i for i in res.issues)


def test_module_used_twice_is_recorded_per_call():
    shared = nn.Linear(8, 8)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = shared

        def forward(self, x):
            return self.f(torch.relu(self.f(x)))

    df = record(Twice(), torch.randn(32, 8))
    assert list(df.name) == ["f", "f#2"]


@pytest.mark.parametrize(
    "factory,shape,expected",
    [
        (lambda: mlp(6, 64, "normal"), (64,), "exploding"),
        (lambda: mlp(6, 64, "tiny"), (64,), "vanishing"),
        (lambda: mlp(4, 64, "constant"), (64,), "duplicate units"),
        (lambda: mlp(100, 256, "kaiming"), (256,), "collapsing over samples"),
    ],
)
def test_broken_models_get_the_right_verdict(factory, shape, expected):
    torch.manual_seed(0)
    res = inspect_model(factory, input_shape=shape, batch=128)
    assert any(i.startswith(expected) for i in res.issues), _issues(res)


def test_draws_separate_weight_and_sample_variance():
    res = inspect_model(lambda: mlp(10, 128, "kaiming"), input_shape=(128,), batch=64, draws=6)
    last = res.layers[res.layers.type == "Linear"].iloc[-1]
    # over weight draws the variance stays ~2 |x|^2/N; over samples it has shrunk (text 000)
    assert last.network_variance > 3 * last.sample_variance
    assert last.network_variance_stderr > 0


def test_lsuv_gives_unit_variance_on_a_held_out_batch():
    torch.manual_seed(0)
    model = mlp(10, 64)  # torch default init: the variance shrinks layer by layer
    x, held = torch.randn(256, 64), torch.randn(256, 64)
    fix_model(model, x, "lsuv")
    df = record(model, held)
    lin = df[df.type == "Linear"]
    assert ((lin.variance - 1).abs() < 0.25).all(), lin.variance.tolist()


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InitscopeError, match="factory raised"):
        inspect_model(lambda: 1 / 0, input_shape=(3,))
    with pytest.raises(InitscopeError, match="must return a torch.nn.Module"):
        inspect_model(lambda: 5, input_shape=(3,))
    with pytest.raises(InitscopeError, match="rejected an input of shape"):
        inspect_model(lambda: nn.Linear(4, 2), input_shape=(5,))
    mod = tmp_path / "user_models.py"
    mod.write_text(textwrap.dedent("""
        import torch.nn as nn
        def good(): return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
        def boom(): raise RuntimeError('boom')
    """))
    run = lambda *a: subprocess.run([sys.executable, "-m", "initscope", "inspect", *a], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    p = run("user_models:good", "--input-shape", "8", "--json", "--out", str(tmp_path / "o"), "--fix", "lsuv")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    for row in d["layers"]:
        assert {"name", "type", "sample_variance", "mean_spread", "sample_fraction", "dead_fraction", "effective_rank", "grad_norm", "weight_std", "verdict"} <= set(row)
    assert "verdict" in d and (tmp_path / "o" / "fixed_state_dict.pt").exists()
    for args, msg in ((("user_models:boom", "--input-shape", "8"), "factory raised RuntimeError: boom"),
                      (("user_models:good", "--input-shape", "3,4"), "rejected an input"),
                      (("nowhere:good", "--input-shape", "8"), "could not import 'nowhere'"),
                      (("user_models:good", "--input-shape", "a,b"), "comma-separated integers")):
        p = run(*args)
        assert p.returncode == 2 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)


def test_batchnorm_uses_batch_statistics_without_touching_running_ones():
    torch.manual_seed(0)
    model = small_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    df = record(model, torch.randn(32, 3, 8, 8) * 5 + 3)
    bn = df[df.type == "BatchNorm2d"]
    assert ((bn.variance - 1).abs() < 0.1).all()  # normalized by the batch, as in training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.training  # the mode the user's model came in


def test_residual_branch_swamping_the_skip_is_caught():
    torch.manual_seed(0)
    healthy = inspect_model(resnet, input_shape=(3, 16, 16), batch=32)
    blocks = healthy.layers[healthy.layers.type == "Block"]
    assert len(blocks) == 2 and (blocks.branch_ratio < 10).all()

    def swamped():
        torch.manual_seed(0)
        m = resnet()
        with torch.no_grad():
            for blk in (m[3], m[4]):
                blk.bn2.weight.fill_(100.0)  # the branch's last BatchNorm scales it x100
        return m

    res = inspect_model(swamped, input_shape=(3, 16, 16), batch=32)
    assert any(i.startswith("residual branch swamps") for i in res.issues), res.issues
