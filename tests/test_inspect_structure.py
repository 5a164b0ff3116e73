"""What inspect reads from the module types: fans, roles, blocks."""

import pytest
from torch import nn

from initscope.inspect.structure import fans, find_blocks, is_attention, is_norm, weight_of
from initscope.inspect.zoo import BasicBlock, TokenEncoder, mlp_model, resnet_model


def test_fans_match_torch_for_linear_and_conv_and_transpose_conv1d():
    for m in (nn.Linear(7, 5), nn.Conv2d(3, 8, (3, 5)), nn.Conv1d(4, 6, 3, groups=2), nn.ConvTranspose2d(4, 6, 3)):
        f = fans(m, m.weight)
        expect = nn.init._calculate_fan_in_and_fan_out(m.weight)
        if isinstance(m, nn.ConvTranspose2d):  # stored [in, out, k, k]: torch's helper reads it as [out, in]
            expect = expect[::-1]
        assert (f.fan_in, f.fan_out) == expect, m
    pytest.importorskip("transformers")
    from transformers.pytorch_utils import Conv1D

    c = Conv1D(nf=12, nx=5)  # GPT-2's layer: weight [in=5, out=12]
    f = fans(c, c.weight)
    assert (f.fan_in, f.fan_out) == (5, 12) and "Conv1D" in f.source
    e = nn.Embedding(100, 16)
    assert (fans(e, e.weight).fan_in, fans(e, e.weight).fan_out) == (1, 16)


def test_weighted_layers_norms_and_attention_are_recognized():
    assert weight_of(nn.Linear(3, 2)) is not None and weight_of(nn.LayerNorm(3)) is None
    assert is_norm(nn.LayerNorm(4)) and is_norm(nn.BatchNorm2d(4)) and not is_norm(nn.Linear(2, 2))
    assert is_attention(nn.MultiheadAttention(8, 2))

    class MyRMSNorm(nn.Module):
        pass

    assert is_norm(MyRMSNorm())


def test_blocks_are_runs_of_same_class_containers():
    names = [n for n, _ in find_blocks(resnet_model(blocks=3))]
    assert names == ["3", "4", "5"]
    assert find_blocks(mlp_model(depth=4)) == []  # Linear, ReLU, Linear, ...: a plain stack
    enc = find_blocks(TokenEncoder())
    assert [n for n, _ in enc] == [f"encoder.layers.{i}" for i in range(4)]
    assert {g for _, g in enc} == {"encoder.layers"}
    nested = nn.Sequential(nn.Sequential(BasicBlock(4), BasicBlock(4)), nn.Sequential(BasicBlock(4), BasicBlock(4)))
    assert [n for n, _ in find_blocks(nested)] == ["0.0", "0.1", "1.0", "1.1"]  # stages hold blocks
