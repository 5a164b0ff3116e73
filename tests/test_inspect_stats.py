"""inspect's bounded statistics against brute-force answers."""

import math

import pytest
import torch
from torch import nn

from initscope.geometry import effective_rank
from initscope.inspect.stats import (
    as_samples_by_units,
    attention_stats,
    column_var_mean,
    distinct_rows,
    effective_rank_sampled,
    entry_std,
    looks_like_attention,
    output_stats,
    position_lookup,
    adjacent_similarity,
    token_similarity,
    weight_stats,
)


def test_conv_outputs_are_measured_per_channel_and_sequences_per_feature():
    t = torch.randn(4, 5, 6, 7)
    h = as_samples_by_units(t, nn.Conv2d(5, 5, 1))
    assert h.shape == (4 * 6 * 7, 5)
    torch.testing.assert_close(h[:, 2].sort().values, t[:, 2].reshape(-1).sort().values)
    assert as_samples_by_units(torch.randn(4, 9, 11), nn.Linear(11, 11)).shape == (36, 11)


def test_token_similarity_matches_the_pairwise_cosine_matrix():
    g = torch.Generator().manual_seed(0)
    h = (torch.randn(3, 7, 16, generator=g) + 0.8 * torch.randn(3, 1, 16, generator=g)).double()  # a shared component
    u = h / h.norm(dim=-1, keepdim=True)
    cos = u @ u.transpose(1, 2)
    off = ~torch.eye(7, dtype=torch.bool)
    brute = float(cos[:, off].mean())
    assert token_similarity(h, seq_dim=1) == pytest.approx(brute, rel=1e-9)
    assert token_similarity(h.transpose(0, 1), seq_dim=0) == pytest.approx(brute, rel=1e-9)
    assert token_similarity(torch.ones(2, 5, 4), 1) == pytest.approx(1.0)


def test_a_position_lookup_is_one_run_of_consecutive_ids_shared_by_every_sequence():
    g = torch.Generator().manual_seed(0)
    pos = torch.arange(9).expand(4, 9)
    assert position_lookup(pos) and position_lookup(torch.arange(9)) and position_lookup(pos[:1])
    assert position_lookup(pos + 2)  # RoBERTa's positions start after its padding index
    assert not position_lookup(torch.randint(0, 100, (4, 9), generator=g))  # tokens differ between sequences
    assert not position_lookup(torch.zeros(4, 9, dtype=torch.long))  # a token type repeats one id
    assert not position_lookup(torch.arange(9).flip(0).expand(4, 9))  # not counting up
    assert not position_lookup(torch.stack([torch.arange(9), torch.arange(1, 10)]))  # sequences disagree
    assert not position_lookup(torch.arange(9.0)) and not position_lookup(torch.tensor([3]))


def test_adjacent_similarity_matches_the_cosine_of_each_pair_of_neighbours():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 12, 16, generator=g, dtype=torch.float64)
    brute = sum(float(torch.nn.functional.cosine_similarity(x[0, i], x[0, i + 1], dim=0)) for i in range(11)) / 11
    assert adjacent_similarity(x) == pytest.approx(brute, rel=1e-9)  # the first sequence read
    assert adjacent_similarity(x[0]) == pytest.approx(brute, rel=1e-9)
    # a sinusoid table (RoFormer's layout: sines, then cosines) makes neighbours alike; a random one
    # does not (its mean cosine ~ N(0, 1 / (width x positions)))
    t, d = 64, 64
    angle = torch.arange(t, dtype=torch.float64)[:, None] / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    assert adjacent_similarity(torch.cat([angle.sin(), angle.cos()], dim=-1)) > 0.9
    assert abs(adjacent_similarity(torch.randn(t, d, generator=g))) < 0.05
    assert math.isnan(adjacent_similarity(torch.randn(1, 16)))


def test_attention_entropy_and_logit_scale_under_a_causal_mask():
    g = torch.Generator().manual_seed(1)
    b, heads, t = 2, 3, 9
    scale = torch.tensor([0.5, 2.0, 8.0]).view(1, heads, 1, 1)
    logits = torch.randn(b, heads, t, t, generator=g, dtype=torch.float64) * scale
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    p = logits.masked_fill(~mask, float("-inf")).softmax(-1)
    assert looks_like_attention(p) and not looks_like_attention(logits)
    rows = attention_stats(p)
    assert [r["head"] for r in rows] == [0, 1, 2]
    for h, r in enumerate(rows):
        ent, mx, std = [], [], []
        for q in range(1, t):  # row 0 sees one key: no entropy to judge
            pr = p[:, h, q, : q + 1]
            ent.append(-(pr * pr.log()).sum(-1))
            mx.append(torch.full((b,), math.log(q + 1), dtype=torch.float64))
            std.append(logits[:, h, q, : q + 1].std(dim=-1))
        assert r["entropy"] == pytest.approx(float(torch.cat(ent).mean()), rel=1e-9)
        assert r["max_entropy"] == pytest.approx(float(torch.cat(mx).mean()), rel=1e-9)
        assert r["logit_std"] == pytest.approx(float(torch.cat(std).mean()), rel=1e-6)
    assert rows[0]["entropy_ratio"] > 0.9 > rows[2]["entropy_ratio"]


def test_attention_is_causal_exactly_where_no_query_sees_a_later_key():
    """``causal`` reads the mask: a causal one and a sliding window are causal, full attention
    and a window that looks ahead are not."""
    g = torch.Generator().manual_seed(2)
    t = 8
    logits = torch.randn(2, 2, t, t, generator=g, dtype=torch.float64)
    i, j = torch.arange(t).view(-1, 1), torch.arange(t).view(1, -1)
    masks = {"causal": j <= i, "window": (j <= i) & (j > i - 3), "full": torch.ones(t, t, dtype=torch.bool),
             "ahead": (j - i).abs() <= 1}
    got = {k: {r["causal"] for r in attention_stats(logits.masked_fill(~m, float("-inf")).softmax(-1))} for k, m in masks.items()}
    assert got == {"causal": {True}, "window": {True}, "full": {False}, "ahead": {False}}


def test_distinct_rows_counts_exact_duplicates_without_a_pairwise_matrix():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(5, 33, generator=g)
    rows = base[torch.tensor([0, 1, 1, 2, 3, 3, 3, 4, 0])]
    assert distinct_rows(rows) == 5 == torch.unique(rows, dim=0).shape[0]
    assert distinct_rows(torch.randn(20000, 64, generator=g) * 0.02) == 20000  # random rows never collide
    assert distinct_rows(torch.full((50, 8), 0.3)) == 1
    assert distinct_rows(torch.tensor([[0.0, 1.0], [-0.0, 1.0], [1e-12, 1.0]])) == 2  # bit for bit, -0.0 == 0.0
    # a block of the same rows continued counts as the concatenation does
    more = torch.tensor([[1.0], [2.0], [2.0], [3.0], [3.0], [4.0], [4.0], [5.0], [1.0]])
    assert distinct_rows(rows, (more, 1.0)) == torch.unique(torch.cat([rows, more], dim=1), dim=0).shape[0] == 6


def test_units_alike_in_weights_and_bias_are_alike_and_a_bias_alone_tells_them_apart():
    lin = nn.Linear(6, 5)
    with torch.no_grad():
        lin.weight.fill_(0.1)
        lin.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0]))
    assert weight_stats(lin)["distinct_units"] == 3
    with torch.no_grad():
        lin.bias.zero_()
    assert weight_stats(lin)["distinct_units"] == 1


def test_effective_rank_matches_geometry_below_the_subset_size_and_is_bounded_above_it():
    g = torch.Generator().manual_seed(3)
    h = torch.randn(100, 30, generator=g) @ torch.diag(torch.linspace(0.1, 3, 30))
    r, dims = effective_rank_sampled(h, torch.Generator().manual_seed(0))
    assert dims == 30 and r == pytest.approx(effective_rank(h), rel=1e-9)
    big = torch.randn(3000, 2000, generator=g)
    r, dims = effective_rank_sampled(big, torch.Generator().manual_seed(0))
    assert dims == 256 and 0.7 * dims < r <= dims


def test_output_stats_decompose_text_000_style():
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(1, 64, generator=g) * 3.0  # per-unit means spread with variance 9
    h = mu + torch.randn(4000, 64, generator=g) * 0.5  # variance over samples 0.25
    s = output_stats(h, torch.Generator().manual_seed(0))
    assert s["sample_variance"] == pytest.approx(float(h.double().var(dim=0).mean()), rel=1e-9)
    assert s["mean_spread"] == pytest.approx(float(h.double().mean(dim=0).var()), rel=1e-9)
    assert s["sample_fraction"] == pytest.approx(0.25 / (0.25 + float(mu.var())), rel=0.05)
    assert s["dead_fraction"] == 0.0


@pytest.mark.parametrize("shape,dtype", [((4000, 64), torch.float64), ((1024, 2048), torch.float32), ((2, 7), torch.float64)])
def test_column_moments_by_two_passes_match_torch_s_var_mean(shape, dtype):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(*shape, generator=g, dtype=torch.float64) * 3 + 100).to(dtype)  # a large mean: no cancellation
    var, mu = column_var_mean(x)
    ref_var, ref_mu = torch.var_mean(x.double(), dim=0)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(var.double(), ref_var, rtol=tol, atol=0) and torch.allclose(mu.double(), ref_mu, rtol=tol, atol=0)


def test_column_moments_of_an_exploded_float32_output_are_taken_again_in_float64():
    """Squares of 1e20 overflow float32: an exploding net's outputs are read in float64 instead."""
    x = torch.randn(600, 2000, generator=torch.Generator().manual_seed(8)) * 1e25
    var, mu = column_var_mean(x)
    ref_var, ref_mu = torch.var_mean(x.double(), dim=0)
    assert var.dtype == torch.float64 and torch.allclose(var, ref_var, rtol=1e-9) and torch.allclose(mu, ref_mu, rtol=1e-9)


@pytest.mark.parametrize("shape", [(300, 17), (1, 9), (9, 1), (1200, 1000)])
def test_pooled_variance_and_second_moment_from_the_unit_moments_match_a_pass_over_every_entry(shape):
    """The pooled columns are computed from each unit's variance and mean (no extra pass): the
    same numbers as the direct formulas, in float64 and (over 2^20 entries) in float32."""
    g = torch.Generator().manual_seed(6)
    h = torch.randn(*shape, generator=g) * torch.rand(shape[1], generator=g) * 2 + torch.randn(shape[1], generator=g)
    s = output_stats(h, torch.Generator().manual_seed(0))
    direct_var = float(h.double().var()) if h.numel() > 1 else 0.0
    assert s["variance"] == pytest.approx(direct_var, rel=1e-6)
    assert s["second_moment"] == pytest.approx(float(h.double().pow(2).mean()), rel=1e-6)


def test_the_std_of_a_large_tensor_falls_back_to_float64_where_float32_overflows():
    g = torch.Generator().manual_seed(7)
    big = torch.randn(1 << 21, generator=g)  # float32 beyond FLOAT64_MAX_ELEMENTS
    assert entry_std(big) == pytest.approx(float(big.double().std()), rel=1e-6)
    huge = big * 1e36  # torch's float32 std of it is NaN; no NaN reaches a verdict
    assert math.isnan(float(huge.std()))
    assert entry_std(huge) == pytest.approx(float(huge.double().std()), rel=1e-9)
    assert math.isnan(entry_std(torch.ones(1)))


def test_weight_stats_fans_and_guesses_follow_torch_init():
    lin = nn.Linear(300, 200)
    nn.init.kaiming_normal_(lin.weight)
    w = weight_stats(lin)
    assert (w["fan_in"], w["fan_out"], w["init_guess"], w["distinct_units"]) == (300, 200, "kaiming", 200)
    conv = nn.Conv2d(16, 32, 3)
    nn.init.xavier_normal_(conv.weight)
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(conv.weight)
    w = weight_stats(conv)
    assert (w["fan_in"], w["fan_out"], w["init_guess"]) == (fan_in, fan_out, "xavier")
    const = nn.Linear(10, 6)
    nn.init.constant_(const.weight, 0.1)
    nn.init.zeros_(const.bias)
    assert weight_stats(const)["distinct_units"] == 1
    assert math.isnan(weight_stats(nn.ReLU())["weight_std"])


def test_gate_saturation_reads_the_pre_activations_torch_s_lstm_uses():
    from initscope.inspect.stats import gate_saturation

    torch.manual_seed(0)
    lstm = nn.LSTM(8, 6, batch_first=True)
    x = 3 * torch.randn(5, 7, 8)
    with torch.no_grad():
        h, _ = lstm(x)
        # rebuild the first step from the pre-activations the statistic counts: h0 = c0 = 0, so
        # z = W_ih x_0 + b_ih + b_hh and h_1 = o * tanh(i * g); torch's kernel is the independent answer
        z = x[:, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
        i, _, g, o = z.chunk(4, dim=-1)
        h1 = torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))
    torch.testing.assert_close(h1, h[:, 0])
    share, gate = gate_saturation(lstm, x)
    # what harms, counted by hand: the cell candidate beyond |z| > 4, the sigmoid gates below -4
    harm = {"input": i < -4, "forget": z.chunk(4, dim=-1)[1] < -4, "cell": g.abs() > 4, "output": o < -4}
    worst = max(harm, key=lambda k: float(harm[k].double().mean()))
    assert (share, gate) == (pytest.approx(float(harm[worst].double().mean()), abs=1e-12), worst) and 0 < share < 1
    with torch.no_grad():
        lstm.weight_ih_l0.mul_(100)
    assert gate_saturation(lstm, x)[0] > 0.5
    assert math.isnan(gate_saturation(nn.RNN(8, 6, nonlinearity="relu"), x)[0])


@pytest.mark.parametrize("kind, gate, bias, closed", [("LSTM", 1, -6.0, "forget"), ("LSTM", 1, 6.0, ""), ("LSTM", 0, -6.0, "input"),
                                                      ("GRU", 1, -6.0, "update"), ("GRU", 1, 6.0, "")])
def test_one_gate_held_shut_is_read_and_one_held_open_is_not(kind, gate, bias, closed):
    """A bias of -6 on one gate shuts it for every unit: the share is that gate's (1.0 here),
    named; +6 holds it open (an LSTM's forget gate keeps, a GRU's update gate keeps the state)
    and counts nothing. torch's kernel checks the reading: the first step's h is rebuilt."""
    from initscope.inspect.stats import gate_saturation

    torch.manual_seed(0)
    m = getattr(nn, kind)(8, 6, batch_first=True)
    with torch.no_grad():
        m.bias_ih_l0[gate * 6:(gate + 1) * 6] = bias
        m.bias_hh_l0[gate * 6:(gate + 1) * 6] = 0
    x = 0.3 * torch.randn(5, 7, 8)
    with torch.no_grad():
        h, _ = m(x)
        z = x[:, 0] @ m.weight_ih_l0.T + m.bias_ih_l0 + m.bias_hh_l0
        if kind == "LSTM":
            i, f, g, o = z.chunk(4, dim=-1)
            h1 = torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))
        else:  # h0 = 0: h1 = (1 - z) * n, n = tanh(W_in x + b_in + r * b_hn)
            zi, zh = x[:, 0] @ m.weight_ih_l0.T + m.bias_ih_l0, m.bias_hh_l0.expand(5, -1)
            r, u = torch.sigmoid(zi[:, :6] + zh[:, :6]), torch.sigmoid(zi[:, 6:12] + zh[:, 6:12])
            h1 = (1 - u) * torch.tanh(zi[:, 12:] + r * zh[:, 12:])
    torch.testing.assert_close(h1, h[:, 0])
    share, name = gate_saturation(m, x)
    assert share == (1.0 if closed else 0.0)
    assert name == closed  # no gate named where none harms


def test_recurrent_hidden_units_are_compared_across_every_gate():
    from initscope.inspect.stats import weight_stats

    torch.manual_seed(0)
    lstm = nn.LSTM(5, 6)
    assert weight_stats(lstm)["distinct_units"] == 6 and weight_stats(lstm)["weight_units"] == 6
    with torch.no_grad():
        for p in lstm.parameters():
            p.fill_(0.3)  # every hidden unit the same in every gate
    assert weight_stats(lstm)["distinct_units"] == 1
    with torch.no_grad():
        lstm.weight_hh_l0[3 * 6 + 2, 0] = 0.5  # unit 2 differs in its output gate only (rows 18..23)
    assert weight_stats(lstm)["distinct_units"] == 2
    gru = nn.GRU(5, 4)
    with torch.no_grad():
        for p in gru.parameters():
            p.fill_(-0.1)
    assert weight_stats(gru)["distinct_units"] == 1 and weight_stats(gru)["weight_units"] == 4


def test_a_registered_statistic_becomes_a_column_of_every_module():
    from initscope.inspect import inspect
    from initscope.inspect.stats import STATISTICS, Statistic

    def kurtosis(m):  # of the pooled values, by the registry's shared moments
        z = (m.x - m.x.mean()) / m.x.std()
        return float((z**4).mean())

    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 4))
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(2))
    seen = {}
    def keep(mod, inp, out):  # returns None: the output is left as it is
        seen.setdefault("tanh", out.detach().double())

    model[1].register_forward_hook(keep)
    STATISTICS.register("kurtosis", Statistic("kurtosis", kurtosis, "pooled kurtosis"))
    try:
        res = inspect(model, x)
    finally:
        del STATISTICS["kurtosis"]
    assert "kurtosis" not in STATISTICS
    row = res.layers[res.layers.type == "Tanh"].iloc[0]
    z = (seen["tanh"] - seen["tanh"].mean()) / seen["tanh"].std()
    assert row["kurtosis"] == pytest.approx(float((z**4).mean()), rel=1e-9)
    assert row["kurtosis"] < 3.0  # tanh squashes the tails: platykurtic, not the Gaussian's 3
    with pytest.raises(Exception, match="unknown statistic 'nope'; choose from: .*effective_rank"):
        STATISTICS["nope"]


def test_sample_fraction_alone_matches_the_column():
    from initscope.inspect.stats import output_stats, sample_fraction
    from initscope.repro import generator

    h = torch.randn(40, 7, generator=torch.Generator().manual_seed(0)) + torch.arange(7.0)
    assert sample_fraction(h) == pytest.approx(output_stats(h, generator(0, "t"))["sample_fraction"], rel=1e-12)
    x = h.double()
    assert sample_fraction(h) == pytest.approx(float(x.var(0).mean() / (x.var(0).mean() + x.mean(0).var())), rel=1e-12)
    assert math.isnan(sample_fraction(h[:1]))


def test_sequence_sample_fraction_is_the_share_that_changes_with_the_sequence_at_each_position():
    """Against the decomposition written out by hand: logits = position term + sequence term;
    the share is the batch variance at each (position, unit) over that plus the spread of the
    per-(position, unit) means. Subsampled units give the same share within sampling error."""
    from initscope.inspect.stats import SEQUENCE_UNITS_MAX, sequence_sample_fraction

    g = torch.Generator().manual_seed(0)
    pos = 3.0 * torch.randn(1, 12, 40, generator=g)
    seq = 0.5 * torch.randn(64, 12, 40, generator=g)
    z = (pos + seq).double()
    within = z.var(dim=0).mean()  # over the batch, at each position and unit
    spread = z.mean(dim=0).reshape(-1).var()
    expected = float(within / (within + spread))
    assert sequence_sample_fraction(z, 0, torch.Generator().manual_seed(1)) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.25 / (0.25 + 9.0), rel=0.15)
    # sequence-first layout: the batch on dim 1
    assert sequence_sample_fraction(z.transpose(0, 1), 1, torch.Generator()) == pytest.approx(expected, rel=1e-9)
    wide = (3.0 * torch.randn(1, 4, 4 * SEQUENCE_UNITS_MAX, generator=g) + torch.randn(32, 4, 4 * SEQUENCE_UNITS_MAX, generator=g))
    full = float(wide.double().var(dim=0).mean() / (wide.double().var(dim=0).mean() + wide.double().mean(dim=0).reshape(-1).var()))
    assert sequence_sample_fraction(wide, 0, torch.Generator().manual_seed(2)) == pytest.approx(full, rel=0.1)
    assert math.isnan(sequence_sample_fraction(z[:1], 0, g))


def test_recurrent_radius_is_the_largest_eigenvalue_of_a_tanh_rnns_recurrent_matrices():
    import numpy as np

    from initscope.inspect.stats import recurrent_radius

    torch.manual_seed(0)
    rnn = nn.RNN(8, 12, num_layers=2)
    with torch.no_grad():
        nn.init.orthogonal_(rnn.weight_hh_l1, gain=2.5)
    by_numpy = max(float(np.abs(np.linalg.eigvals(w.detach().double().numpy())).max()) for w in (rnn.weight_hh_l0, rnn.weight_hh_l1))
    assert recurrent_radius(rnn) == pytest.approx(by_numpy, rel=1e-9) and recurrent_radius(rnn) == pytest.approx(2.5, rel=1e-6)
    assert math.isnan(recurrent_radius(nn.RNN(8, 12, nonlinearity="relu")))
    assert math.isnan(recurrent_radius(nn.LSTM(8, 12)))
    cell = nn.RNNCell(8, 12)
    assert recurrent_radius(cell) == pytest.approx(float(np.abs(np.linalg.eigvals(cell.weight_hh.detach().double().numpy())).max()))
