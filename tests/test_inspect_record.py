"""The recording: residual branches at the addition, attention weights, feeds-a-norm, per call."""

import math

import pytest
import torch
from torch import nn

from initscope.inspect import at_init_mode, inspect
from initscope.inspect.zoo import TokenEncoder, resnet_model


class PreNormBlock(nn.Module):
    def __init__(self, d, attn_scale, mlp_scale):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.attn_scale, self.mlp_scale = attn_scale, mlp_scale

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn_scale * self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp_scale * self.mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self, d=16, scales=((0.5, 2.0), (0.1, 0.3))):
        super().__init__()
        self.blocks = nn.ModuleList(PreNormBlock(d, a, m) for a, m in scales)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def _branch_ratios_by_hand(net, x):
    """The same ratios, recomputed with a plain forward pass."""
    out = []
    with torch.no_grad():
        for b in net.blocks:
            h = b.norm1(x)
            a = b.attn_scale * b.attn(h, h, h, need_weights=False)[0]
            r1 = float(a.pow(2).mean().sqrt() / x.pow(2).mean().sqrt())
            x = x + a
            m = b.mlp_scale * b.mlp(b.norm2(x))
            r2 = float(m.pow(2).mean().sqrt() / x.pow(2).mean().sqrt())
            x = x + m
            out.append((r1, r2))
    return out


def test_branch_ratios_are_measured_at_the_addition():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(8, 10, 16)
    res = inspect(net, x)
    expect = _branch_ratios_by_hand(net.eval(), x)
    assert len(res.blocks) == 2
    for (_, row), (ra, rm) in zip(res.blocks.iterrows(), expect):
        assert row.attention_branch_ratio == pytest.approx(ra, rel=1e-5)
        assert row.mlp_branch_ratio == pytest.approx(rm, rel=1e-5)
    assert set(res.branches.role) == {"attention", "mlp"}
    # torch's MHA was asked for per-head weights: 2 blocks x 2 heads
    assert len(res.attention) == 4 and (res.attention.entropy_ratio > 0.5).all()


def test_post_norm_stream_follows_the_norm():
    torch.manual_seed(0)
    model = TokenEncoder(norm_first=False)
    res = inspect(model, torch.randint(0, 1000, (4, 32)))
    assert res.blocks.post_norm.all() and (res.blocks.branches == 2).all()
    assert (res.blocks.stream_rms - 1).abs().max() < 0.01  # LayerNorm output with unit weight
    assert res.blocks.grad_rms.notna().all() and (res.blocks.grad_rms > 0).all()


def test_a_layer_feeding_a_norm_is_marked_and_batchnorm_keeps_its_running_stats():
    torch.manual_seed(0)
    model = resnet_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = inspect(model, torch.randn(16, 3, 8, 8) * 5 + 3)
    convs = res.layers[res.layers.type == "Conv2d"]
    assert convs.feeds_norm.all()
    bn = res.layers[res.layers.type == "BatchNorm2d"]
    assert ((bn.variance - 1).abs() < 0.1).all()  # normalized with the batch's statistics
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.training
    assert all(p.grad is None for p in model.parameters())  # gradients of the inspection cleared


def test_module_used_twice_is_recorded_per_call_and_dropout_not_at_all():
    shared = nn.Linear(8, 8)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.drop = shared, nn.Dropout(0.5)

        def forward(self, x):
            return self.f(self.drop(torch.relu(self.f(x))))

    res = inspect(Twice(), torch.randn(32, 8))
    assert list(res.layers.name) == ["f", "f#2"]


def test_transformer_encoder_hooks_are_not_skipped():
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0)  # batch_first=False
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    res = inspect(model, torch.randn(10, 6, 32))  # [tokens, batch, features]
    assert {"layers.0.self_attn", "layers.0.linear1", "layers.1.linear2"} <= set(res.layers.name)
    assert not any("not recorded" in i for i in res.issues + res.warnings)
    assert len(res.attention) == 8 and math.isfinite(res.blocks.token_similarity.iloc[0])
    with torch.no_grad(), at_init_mode(model):
        y = model(torch.randn(10, 6, 32))
    assert y.shape == (10, 6, 32)


class LoopResidual(nn.Module):
    """Blocks that return only their branch; the caller's loop adds it: x = x + block(x)."""

    def __init__(self, d=32, depth=4, last_scale=1.0):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d)) for _ in range(depth))
        with torch.no_grad():
            for b in self.blocks:
                b[3].weight.mul_(last_scale)

    def forward(self, x):
        for b in self.blocks:
            x = x + b(x)
        return x


@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_a_residual_added_by_the_callers_loop_is_measured(scale):
    torch.manual_seed(0)
    net = LoopResidual(last_scale=scale)
    x = torch.randn(64, 32)
    res = inspect(net, x)
    assert len(res.blocks) == 4 and (res.blocks.branches == 1).all()
    with torch.no_grad():
        h, expect = x, []
        for b in net.blocks:
            y = b(h)
            expect.append(float(y.pow(2).mean().sqrt() / h.pow(2).mean().sqrt()))
            h = h + y
    assert res.blocks.branch_ratio.tolist() == pytest.approx(expect, rel=1e-5)
    assert res.blocks.stream_rms.iloc[-1] == pytest.approx(float(h.pow(2).mean().sqrt()), rel=1e-5)
    from initscope.inspect.verdicts import BRANCH_RATIO_MAX

    assert (max(expect) > BRANCH_RATIO_MAX) == (scale > 100)
    assert ("residual branch swamps the stream" in [f.kind for f in res.findings]) == (scale > 100)


def test_recurrent_layers_are_measured_in_training_mode_without_dropout():
    """cuDNN back-propagates through an LSTM only in training mode: at_init_mode keeps recurrent
    layers training with dropout 0, which gives eval mode's outputs (the CPU twin of the CUDA
    path, checked by benchmarks/check_inspect_cuda.py), and restores mode and dropout after."""
    torch.manual_seed(0)
    lstm = nn.LSTM(8, 16, num_layers=2, dropout=0.5, batch_first=True)
    model = nn.Sequential(lstm)
    x = torch.randn(4, 5, 8)
    with torch.no_grad():
        expected = lstm.eval()(x)[0]
    model.train()
    with torch.no_grad(), at_init_mode(model):
        assert lstm.training and lstm.dropout == 0.0
        got = lstm(x)[0]
    assert torch.equal(got, expected)
    assert lstm.training and lstm.dropout == 0.5


@pytest.mark.parametrize("kw", [dict(is_causal=True), dict(mask="bool"), dict(mask="float"), dict(scale=0.3)])
def test_sdpa_probabilities_reproduce_the_kernels_output(kw):
    """The probabilities recomputed for F.scaled_dot_product_attention, times the values, give the
    kernel's own output (grouped-query keys, causal, boolean and additive masks, a given scale)."""
    from initscope.inspect.record import sdpa_probabilities

    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(2, 4, 6, 8, generator=g), torch.randn(2, 2, 9, 8, generator=g), torch.randn(2, 2, 9, 8, generator=g)
    if "mask" in kw:
        m = torch.rand(2, 1, 6, 9, generator=g) > 0.3 if kw.pop("mask") == "bool" else torch.randn(6, 9, generator=g)
        if m.dtype == torch.bool:
            m[..., 0] = True
        kw["attn_mask"] = m
    p = sdpa_probabilities(q, k, v, enable_gqa=True, **kw)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True, **kw)
    assert p.shape == (2, 4, 6, 9)
    assert torch.allclose(p @ v.repeat_interleave(2, dim=1), expected, atol=1e-5)


def test_large_sdpa_calls_are_subsampled_and_keep_their_statistics(monkeypatch):
    import importlib

    from initscope.inspect.stats import attention_stats

    record = importlib.import_module("initscope.inspect.record")  # the package's `record` is a function

    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(8, 2, 64, 16, generator=g) * 2, torch.randn(8, 2, 64, 16, generator=g) * 2
    full = attention_stats(record.sdpa_probabilities(q, k, is_causal=True))
    monkeypatch.setattr(record, "SDPA_STATS_MAX", 2 * 64 * 64)  # one sample, every query row
    one = record.sdpa_probabilities(q, k, is_causal=True)
    monkeypatch.setattr(record, "SDPA_STATS_MAX", 2 * 64 * 16)  # one sample, every 4th row
    strided = record.sdpa_probabilities(q, k, is_causal=True)
    assert one.shape == (1, 2, 64, 64) and strided.shape == (1, 2, 16, 64)
    for sub in (one, strided):
        for a, b in zip(full, attention_stats(sub)):
            assert b["entropy_ratio"] == pytest.approx(a["entropy_ratio"], abs=0.05)


class _SdpaDecoder(nn.Module):
    """A hand-written pre-norm decoder whose attention calls F.scaled_dot_product_attention (as
    nanoGPT and timm do): no module returns attention probabilities."""

    class CausalSelfAttention(nn.Module):
        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.qkv, self.proj, self.heads = nn.Linear(d, 3 * d), nn.Linear(d, d), heads

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = (u.view(b, t, self.heads, c // self.heads).transpose(1, 2) for u in self.qkv(x).split(c, dim=2))
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(b, t, c))

    class Block(nn.Module):
        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = _SdpaDecoder.CausalSelfAttention(d, heads)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    def __init__(self, scale: float = 1.0, v: int = 500, d: int = 64, heads: int = 4, n: int = 3) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(v, d), nn.Embedding(64, d)
        self.blocks = nn.ModuleList(_SdpaDecoder.Block(d, heads) for _ in range(n))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, v, bias=False)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02 * scale)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def test_attention_through_sdpa_is_measured_under_its_module():
    """Entropies of a hand-written SDPA decoder's heads, per attention module call, equal those of
    the probabilities computed by hand from the module's q and k; at x10 (N(0, 0.2) weights at
    width 64) its first attention branch swamps the token embeddings and is warned about."""
    from initscope.inspect.stats import attention_stats

    ids = torch.randint(0, 500, (8, 32), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = _SdpaDecoder()
    res = inspect(model, ids)
    assert sorted(res.attention.layer.unique()) == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"]
    seen = {}
    attn = model.blocks[1].attn
    h = attn.qkv.register_forward_hook(lambda m, i, o: seen.__setitem__("qkv", o.detach()))
    with torch.no_grad():
        model.eval()(ids)
    h.remove()
    q, k, _ = (u.view(8, 32, 4, 16).transpose(1, 2) for u in seen["qkv"].split(64, dim=2))
    logits = (q @ k.transpose(-2, -1) / 4.0).masked_fill(~torch.ones(32, 32, dtype=torch.bool).tril(), float("-inf"))
    by_hand = [r["entropy_ratio"] for r in attention_stats(torch.softmax(logits, dim=-1))]
    got = res.attention[res.attention.layer == "blocks.1.attn"].sort_values("head").entropy_ratio
    assert got.to_numpy() == pytest.approx(by_hand, abs=1e-6)
    torch.manual_seed(0)
    big = inspect(_SdpaDecoder(scale=10.0), ids)
    assert any(f.kind == "attention swamps the token embeddings" for f in big.findings)


class _FlatSdpaClassifier(nn.Module):
    """One attention layer and no repeated blocks (nothing for the residual watcher to follow):
    token embeddings, one SDPA self-attention, mean pooling, a linear head."""

    def __init__(self, v: int = 200, d: int = 32, heads: int = 2, classes: int = 5) -> None:
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.attn = _SdpaDecoder.CausalSelfAttention(d, heads)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        return self.head(self.attn(self.emb(ids)).mean(dim=1))


def test_attention_through_sdpa_is_measured_in_a_model_without_blocks():
    """A flat model's only attention call is recorded under its module, with the entropies of
    the probabilities by hand (causal mask, scale 1/sqrt(16))."""
    from initscope.inspect.stats import attention_stats

    ids = torch.randint(0, 200, (4, 12), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = _FlatSdpaClassifier()
    res = inspect(model, ids)
    assert list(res.attention.layer.unique()) == ["attn"]
    with torch.no_grad():
        qkv = model.attn.qkv(model.emb(ids))
    q, k, _ = (u.view(4, 12, 2, 16).transpose(1, 2) for u in qkv.split(32, dim=2))
    logits = (q @ k.transpose(-2, -1) / 4.0).masked_fill(~torch.ones(12, 12, dtype=torch.bool).tril(), float("-inf"))
    by_hand = [r["entropy_ratio"] for r in attention_stats(torch.softmax(logits, dim=-1))]
    assert res.attention.sort_values("head").entropy_ratio.to_numpy() == pytest.approx(by_hand, abs=1e-6)


class GainBlock(nn.Module):
    """Doge's residual: ``gain * x + branch``, the gain a learnable per-channel vector (or a number);
    with ``gated`` the stream is multiplied by a gate computed from it (a highway layer) instead."""

    def __init__(self, d, gain, gated=False):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.gate = nn.Linear(d, d)
        self.gain = nn.Parameter(torch.full((d,), float(gain)))
        self.gated = gated

    def forward(self, x):
        h = self.norm1(x)
        a = self.attn(h, h, h, need_weights=False)[0]
        x = (x * torch.sigmoid(self.gate(x)) if self.gated else self.gain * x) + a
        return 0.5 * x + self.mlp(self.norm2(x))


class GainNet(nn.Module):
    def __init__(self, gain, gated=False):
        super().__init__()
        self.blocks = nn.ModuleList(GainBlock(16, gain, gated) for _ in range(2))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


@pytest.mark.parametrize("gain", [1.0, 3.0])
def test_the_stream_times_a_gain_is_still_the_stream(gain):
    torch.manual_seed(0)
    net = GainNet(gain)
    x = torch.randn(8, 10, 16)
    res = inspect(net, x)
    expect = []
    with torch.no_grad():
        h = x
        for b in net.eval().blocks:
            n = b.norm1(h)
            a = b.attn(n, n, n, need_weights=False)[0]
            s = b.gain * h
            expect.append(float(a.pow(2).mean().sqrt() / s.pow(2).mean().sqrt()))
            h = s + a
            m = b.mlp(b.norm2(h))
            expect.append(float(m.pow(2).mean().sqrt() / (0.5 * h).pow(2).mean().sqrt()))
            h = 0.5 * h + m
    assert res.branches.role.tolist() == ["attention", "mlp"] * 2
    assert res.branches.ratio.tolist() == pytest.approx(expect, rel=1e-5)


def test_the_stream_times_a_gate_computed_from_it_is_not_followed():
    torch.manual_seed(0)
    net = GainNet(1.0, gated=True)
    res = inspect(net, torch.randn(8, 10, 16))
    # the attention's addition reads neither operand as the stream; the MLP's (0.5 x + mlp) does not
    # either, since x is that unfollowed sum: no branch is measured at all
    assert res.branches.empty


class ScaledBranchBlock(nn.Module):
    """Granite's residual, ``x + branch * multiplier``, on the attention branch, and a layer scale
    (ConvNeXt's ``gamma``, one value per channel) on the MLP's; with ``routed`` the MLP's output is
    multiplied by weights computed from the input instead (a router's, as a mixture of experts)."""

    def __init__(self, d, routed=False):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.o = nn.Linear(d, d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.router = nn.Linear(d, 1)
        self.gamma = nn.Parameter(torch.full((d,), 0.3))
        self.routed = routed

    def forward(self, x):
        x = x + self.o(torch.tanh(self.q(self.norm1(x)))) * 0.25
        h = self.norm2(x)
        m = self.mlp(h)
        return x + (m * torch.sigmoid(self.router(h)) if self.routed else self.gamma * m)


class ScaledBranchNet(nn.Module):
    def __init__(self, routed=False):
        super().__init__()
        self.blocks = nn.ModuleList(ScaledBranchBlock(16, routed) for _ in range(2))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


@pytest.mark.parametrize("routed", [False, True])
def test_a_branch_times_a_gain_is_named_by_the_module_that_made_it(routed):
    torch.manual_seed(0)
    net = ScaledBranchNet(routed)
    x = torch.randn(8, 10, 16)
    res = inspect(net, x)
    mlp = "" if routed else "mlp.2"  # a router's weights are computed from the input: not a gain
    assert res.branches.module.tolist() == [f"blocks.{i}.{m}".rstrip(".") if m else "" for i in range(2) for m in ("o", mlp)]
    expect = []
    with torch.no_grad():
        h = x
        for b in net.eval().blocks:
            a = b.o(torch.tanh(b.q(b.norm1(h)))) * 0.25
            expect.append(float(a.pow(2).mean().sqrt() / h.pow(2).mean().sqrt()))
            h = h + a
            n = b.norm2(h)
            m = b.mlp(n) * (torch.sigmoid(b.router(n)) if b.routed else b.gamma)
            expect.append(float(m.pow(2).mean().sqrt() / h.pow(2).mean().sqrt()))
            h = h + m
    assert res.branches.ratio.tolist() == pytest.approx(expect, rel=1e-5)


def test_attention_weights_freed_by_one_layer_are_no_reason_to_skip_the_next_layer_s():
    """torch's encoder layer drops the weights its MultiheadAttention returns; the next layer's may
    take the freed tensor's id. Seen weights are known by the tensor, not the id alone (a replay of
    the calibration lost a layer's attention rows so)."""
    from initscope.inspect.record import Recorder

    rec = Recorder(nn.Linear(2, 2))
    out = torch.zeros(2, 4, 8)

    def probs() -> torch.Tensor:
        return torch.softmax(torch.randn(2, 2, 4, 4), dim=-1)

    for _ in range(200):
        p = probs()
        old = id(p)
        rec._find_attention("first", (out, p))
        del p
        q = probs()
        if id(q) == old:
            break
    else:
        pytest.skip("no id was reused in 200 tries")
    rec._find_attention("second", (out, q))
    assert {r["layer"] for r in rec.rec.attention} == {"first", "second"}
