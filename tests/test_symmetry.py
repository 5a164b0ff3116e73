import pytest
import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.nets import MLPSpec, build_mlp
from initscope.symmetry import (
    check_permutation_symmetry,
    distinct_units,
    distinct_units_per_layer,
    linear_layers,
    permute_hidden,
    random_permutations,
    unit_spread,
    unit_spread_per_layer,
    weight_ranks,
)


def _data(dtype=torch.float64, d=6, out=2):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, d, generator=g, dtype=dtype)
    return x, torch.randn(40, out, generator=g, dtype=dtype)


def _mlp():
    return build_mlp(MLPSpec(input_dim=6, widths=(10, 7), activation="gelu", bias="normal", sigma_b=0.3, output_dim=2), seed=1)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-13), (torch.float32, 1e-5)])
def test_three_claims_hold_for_a_consistent_permutation(dtype, tol):
    model = _mlp()
    x, y = _data(dtype)
    perms = random_permutations(model, generator=torch.Generator().manual_seed(3))
    df = check_permutation_symmetry(model, x, y, perms, steps=4)
    assert set(df.claim) == {"forward", "grad", "update"} and df.step.nunique() == 4
    assert df.max_abs_diff.max() < tol


def test_inconsistent_permutation_is_caught():
    model = _mlp()
    x, y = _data()
    perms = random_permutations(model, layers=[0], generator=torch.Generator().manual_seed(4))
    df = check_permutation_symmetry(model, x, y, perms, steps=2, consistent=False)
    assert df[df.claim == "forward"].max_abs_diff.min() > 1e-3  # columns of W2 not permuted: a different function
    assert df[df.claim == "grad"].max_abs_diff.max() > 1e-3


def test_permute_hidden_layout_matches_the_text():
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    p = torch.tensor([2, 0, 3, 1])
    new = permute_hidden(seq, {0: p})
    l1, l2 = linear_layers(seq)
    n1, n2 = linear_layers(new)
    torch.testing.assert_close(n1.weight, l1.weight[p])  # rows: units of layer 1 ([out, in] layout)
    torch.testing.assert_close(n1.bias, l1.bias[p])
    torch.testing.assert_close(n2.weight, l2.weight[:, p])  # columns of the next layer
    torch.testing.assert_close(n2.bias, l2.bias)  # the output bias is not permuted (text 003)
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(new(x), seq(x))


def test_sequential_with_non_elementwise_module_is_refused():
    with pytest.raises(InitscopeError, match="BatchNorm1d"):
        linear_layers(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)))
    with pytest.raises(InitscopeError, match="hidden layer 5"):
        random_permutations(_mlp(), layers=[5])


def test_distinct_units_on_known_duplicates():
    w = torch.randn(6, 4, dtype=torch.float64)
    w[3] = w[0]
    w[5] = w[0]
    w[4] = w[1] + 1e-12
    assert distinct_units(w) == 3  # rows {0, 3, 5}, {1, 4}, {2}
    b = torch.zeros(6, dtype=torch.float64)
    b[3] = 1.0  # a different bias makes unit 3 distinct
    assert distinct_units(w, b) == 4
    assert distinct_units(torch.ones(8, 5)) == 1
    assert distinct_units(torch.eye(5)) == 5


def test_constant_init_has_one_unit_per_layer_and_ranks():
    model = build_mlp(MLPSpec(input_dim=6, widths=(10, 7), init="constant", output_dim=2))
    assert distinct_units_per_layer(model) == [1, 1]
    assert weight_ranks(model) == [1, 1, 1]
    assert weight_ranks(_mlp()) == [6, 7, 2]


@pytest.mark.parametrize("layers", [[1], None])  # one layer, or every layer at once
def test_three_claims_on_a_sequential_with_dropout(layers):
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Dropout(0.3), nn.Linear(9, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    x, y = _data()
    perms = random_permutations(seq, layers=layers, generator=torch.Generator().manual_seed(5))
    assert sorted(perms) == ([1] if layers else [0, 1])
    df = check_permutation_symmetry(seq, x, y, perms, steps=3)
    assert df.max_abs_diff.max() < 1e-13
    assert seq.training  # the caller's model is not touched (the check runs on copies, in eval mode)


def test_unpermuted_bias_is_caught():
    # rows of W1 and columns of W2 permuted, b1 forgotten: a different function
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    with torch.no_grad():
        seq[0].bias.copy_(torch.tensor([-1.0, 0.0, 0.5, 2.0]))
    p = torch.tensor([3, 2, 1, 0])
    bad = permute_hidden(seq, {0: p})
    with torch.no_grad():
        bad[0].bias.copy_(seq[0].bias)
    x = torch.randn(8, 3, dtype=torch.float64)
    assert (bad(x) - seq(x)).abs().max() > 1e-2
    assert (permute_hidden(seq, {0: p})(x) - seq(x)).abs().max() < 1e-14


def test_permute_hidden_refuses_bad_permutations():
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(InitscopeError, match="permutation of 0..3"):
        permute_hidden(seq, {0: torch.tensor([0, 0, 1, 2])})
    with pytest.raises(InitscopeError, match="permutation of 0..3"):
        permute_hidden(seq, {0: torch.tensor([0, 1, 2])})
    with pytest.raises(InitscopeError, match="hidden layer 1 does not exist"):
        permute_hidden(seq, {1: torch.tensor([1, 0])})  # the output layer has no next layer to compensate


def test_unit_spread_is_zero_exactly_for_identical_units():
    w = torch.full((5, 3), 0.3, dtype=torch.float32)
    assert unit_spread(w, torch.zeros(5)) == 0.0
    w[2, 1] += 0.03
    assert unit_spread(w) == pytest.approx(0.03 / 0.33, rel=1e-5)
    b = torch.zeros(5)
    b[4] = 1.0
    assert unit_spread(torch.full((5, 3), 0.3), b) == pytest.approx(1.0)
    model = build_mlp(MLPSpec(input_dim=6, widths=(10, 7), init="constant", output_dim=2))
    assert unit_spread_per_layer(model) == [0.0, 0.0]
    assert min(unit_spread_per_layer(_mlp())) > 0.1
