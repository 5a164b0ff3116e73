"""Statistics of what was recorded, each bounded in memory and time whatever the model's size.

Everything reduces a tensor in one or two passes (moments, cosine similarity through the sum
of unit vectors); the pairwise statistics (effective rank, distinct units) work on a fixed
random sample of rows or on random projections, never on an N x N matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from initscope.engine.moments import abs_max
from initscope.geometry import effective_rank_of
from initscope.inspect.structure import RECURRENT, fans, is_embedding, weight_of
from initscope.registry import Registry

# Effective rank is an SVD: it is taken on at most this many samples x units (a fixed random
# subset), which keeps one module's cost near 5 ms whatever its width (a 50257-logit head
# included; 512 x 512 cost 31 ms a module, 1.6 s of a 6-block GPT-2's inspection). The rank
# verdict compares it with min(samples, units) of the subset.
RANK_SUBSET = 256
# Reductions run in float64 up to this many elements and in float32 beyond (a 1024 x 50257
# logit matrix would need 400 MB as float64, and the casts alone cost more than the forward
# pass's matmuls); float32 moments of O(1) values lose ~1e-7 relative, far below any verdict.
FLOAT64_MAX_ELEMENTS = 1 << 20


def as_samples_by_units(t: torch.Tensor, module: nn.Module | None = None) -> torch.Tensor:
    """``[samples, units]``: channels (dim 1) for conv-like outputs, the last dim otherwise.

    Units are what one weight row produces: a Linear's features, a conv layer's channels;
    samples are the batch, times positions for sequence and conv models."""
    t = t.detach()
    if t.dim() <= 1:
        return t.reshape(-1, 1)
    if t.dim() == 2:
        return t
    channel_first = t.dim() >= 4 or isinstance(module, (_ConvNd, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.InstanceNorm1d))
    if channel_first:
        return t.movedim(1, -1).reshape(-1, t.shape[1])
    return t.reshape(-1, t.shape[-1])


def _reduce_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.numel() <= FLOAT64_MAX_ELEMENTS else torch.float32


def column_var_mean(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each column's unbiased variance and mean over the rows of ``[samples, units]`` (at least
    two rows), by two passes: the mean, then the squared deviations from it. The same numbers
    as ``torch.var_mean(x, dim=0)`` to ~1e-7 relative in float32, 3-5x faster on the CPU
    (0.08 s against 0.22 s for GPT-2's 1024 x 50257 logits; ``benchmarks/bench_inspect.py``).
    Where float32 overflows (squares past 3e38: an exploding net's 1e20 outputs) they are taken
    again in float64."""
    mu = x.mean(dim=0)
    var = (x - mu).pow_(2).sum(dim=0) / (x.shape[0] - 1)
    if x.dtype != torch.float64 and not bool(torch.isfinite(var).all()) and bool(torch.isfinite(x).all()):
        return column_var_mean(x.double())
    return var, mu


def entry_std(t: torch.Tensor) -> float:
    """The standard deviation over every entry, in float64 up to FLOAT64_MAX_ELEMENTS entries and
    float32 beyond (a copy of GPT-2's 51 M logits to float64 cost 0.3 s); again in float64 where
    float32 gives no finite answer (torch's float32 std is NaN for entries of 1e36)."""
    t = t.detach()
    if t.numel() < 2:
        return math.nan
    s = float(t.to(_reduce_dtype(t)).std())
    return s if math.isfinite(s) else float(t.double().std())


def effective_rank_sampled(h: torch.Tensor, generator: torch.Generator) -> tuple[float, int]:
    """exp(entropy of the normalized singular values) of the centered ``[samples, units]``
    matrix, on at most :data:`RANK_SUBSET` random samples and units; also the subset's
    ``min(samples, units)``, the rank it would have if isotropic."""
    n, u = h.shape
    if n > RANK_SUBSET:
        h = h[torch.randperm(n, generator=generator)[:RANK_SUBSET].to(h.device)]
    if u > RANK_SUBSET:
        h = h[:, torch.randperm(u, generator=generator)[:RANK_SUBSET].to(h.device)]
    # on the CPU: one small SVD costs a CUDA device ~10 ms of solver launch, 30x its CPU time
    # (benchmarks/check_inspect_cuda.py)
    h = h.to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(h).all():
        return math.nan, min(h.shape)
    # geometry's definition (centred), on the subset; its singular values from the eigenvalues of
    # the smaller Gram matrix (2.3 ms against svdvals' 3.3 ms at 256 x 256, 52 times in GPT-2)
    c = h - h.mean(dim=0, keepdim=True)
    gram = c.mT @ c if c.shape[1] <= c.shape[0] else c @ c.mT
    return effective_rank_of(torch.linalg.eigvalsh(gram).clamp_min(0).sqrt()), min(h.shape)


# |pre-activation| beyond which a gate passes almost no gradient: sigmoid' < 0.018, tanh' < 0.0014
GATE_SATURATION_Z = 4.0


# a recurrent layer's gates in torch's order, and what each does when its sigmoid is closed
# (pre-activation < -4): the LSTM's input, forget and output gates let nothing in, keep nothing,
# show nothing; the GRU's update gate z closed takes the candidate every step (h' = (1 - z) n +
# z h): nothing is kept. Saturated open they are a valid choice (a forget bias of +5, chrono
# init; a GRU's z at +5 keeps the state), and the GRU's reset gate only gates the candidate's
# recurrent term; neither is counted. The candidates (g, n) and a tanh RNN count either way.
GATES = {"LSTM": ("input", "forget", "cell", "output"), "GRU": ("reset", "update", "candidate")}
CLOSED_HARMS = {"input", "forget", "output", "update"}
CANDIDATES = {"cell", "candidate"}


def gate_names(m: nn.Module) -> tuple[str, ...]:
    """A recurrent layer's or cell's gates in torch's order (:data:`GATES`), read from its type
    (subclasses too: a user's ``class MyLSTM(nn.LSTM)``); a tanh RNN's one is its candidate."""
    for base, kind in ((nn.LSTM, "LSTM"), (nn.LSTMCell, "LSTM"), (nn.GRU, "GRU"), (nn.GRUCell, "GRU")):
        if isinstance(m, base):
            return GATES[kind]
    return ("candidate",)


def _recurrent_preacts(m: nn.Module, x: torch.Tensor, hidden: object) -> torch.Tensor | None:
    """The first step's gate pre-activations ``[samples, gates x hidden]`` of a recurrent layer
    (or a cell's, at the call, with its ``hidden`` state), None where they cannot be read."""
    cell = isinstance(m, nn.RNNCellBase)
    w = getattr(m, "weight_ih" if cell else "weight_ih_l0", None)
    if w is None or x.dim() < (1 if cell else 2) or x.shape[-1] != w.shape[1] or not x.is_floating_point():
        return None
    first = x if cell else x[:, 0] if (x.dim() == 3 and m.batch_first) else x[0] if x.dim() == 3 else x
    z = first.detach().reshape(-1, w.shape[1]).to(w.dtype) @ w.detach().T
    sfx = "" if cell else "_l0"
    h = hidden[0] if isinstance(hidden, (tuple, list)) and hidden else hidden
    if cell and isinstance(h, torch.Tensor) and h.is_floating_point():
        z = z + h.detach().reshape(-1, m.hidden_size).to(w.dtype) @ m.weight_hh.detach().T
    if m.bias:
        z = z + getattr(m, f"bias_ih{sfx}").detach() + getattr(m, f"bias_hh{sfx}").detach()
    return z


def gate_shares(m: nn.Module, x: torch.Tensor, hidden: object = None) -> dict[str, float]:
    """Per gate of a recurrent layer (:data:`GATES`), the share of its first-step
    pre-activations that harm: below -4 for a gate that closes (:data:`CLOSED_HARMS`), beyond
    |z| > 4 for a candidate; a tanh RNN's one gate as a candidate. Empty where they cannot be read."""
    if getattr(m, "mode", "") == "RNN_RELU" or getattr(m, "nonlinearity", "") == "relu":
        return {}
    z = _recurrent_preacts(m, x, hidden)
    if z is None:
        return {}
    names = gate_names(m)
    out = {}
    for name, c in zip(names, z.chunk(len(names), dim=-1)):
        if name in CANDIDATES:
            out[name] = float((c.abs() > GATE_SATURATION_Z).double().mean())
        elif name in CLOSED_HARMS:
            out[name] = float((c < -GATE_SATURATION_Z).double().mean())
    return out


def gate_saturation(m: nn.Module, x: torch.Tensor, hidden: object = None) -> tuple[float, str]:
    """Share of the pre-activations of a saturating nonlinearity beyond |z| > 4, where sigmoid
    and tanh pass under 2% of the gradient, and what it reads (``""``, or the one gate that
    sets it): a ``Tanh`` or ``Sigmoid`` module's input, or a recurrent layer's gates at the first
    time step. There the hidden state is zero, so the pre-activations are exactly the input
    projection of the first layer plus both biases (W_ih x + b_ih + b_hh): no recurrent term is
    left out. A cell (``LSTMCell``, ``GRUCell``, ``RNNCell``) is read at the step it is called
    for, with the ``hidden`` state it is given (W_ih x + b_ih + W_hh h + b_hh; a GRU's candidate
    gate has its reset gate on the W_hh h term, not counted). A recurrent layer counts only what
    harms, gate by gate (:func:`gate_shares`), and its share is its worst gate's, named: an
    LSTM whose forget gate alone is shut reads ~1, where a share pooled over its four gates
    would read ~0.25. NaN
    for a ReLU RNN and when the input is not a plain tensor of ``input_size`` features."""
    if isinstance(m, (nn.Tanh, nn.Sigmoid)):
        return (float((x.detach().abs() > GATE_SATURATION_Z).double().mean()) if x.numel() else math.nan), ""
    shares = gate_shares(m, x, hidden)
    if not shares:
        return math.nan, ""
    gate, worst = max(shares.items(), key=lambda kv: kv[1])
    return worst, gate if worst > 0 else ""


# wider recurrent matrices are not read (an eigendecomposition of 1024 units takes ~2 s on a CPU)
RADIUS_UNITS_MAX = 1024


def recurrent_radius(m: nn.Module) -> float:
    """The largest |eigenvalue| over a tanh RNN's recurrent matrices (``weight_hh*``; an
    ``RNNCell``'s ``weight_hh``): near h = 0 the state's map is W_hh h, and past a radius of 1 a
    tanh RNN is chaotic (its state and its gradients through time grow with the steps). NaN for
    LSTM/GRU, whose gates multiply the state, for a ReLU RNN, and for matrices over
    :data:`RADIUS_UNITS_MAX` units."""
    if not isinstance(m, (nn.RNN, nn.RNNCell)) or getattr(m, "nonlinearity", "tanh") != "tanh":
        return math.nan
    ws = [p for n, p in m.named_parameters(recurse=False) if n.startswith("weight_hh") and p.dim() == 2 and p.shape[0] == p.shape[1]]
    if not ws or max(w.shape[0] for w in ws) > RADIUS_UNITS_MAX:
        return math.nan
    return max(float(torch.linalg.eigvals(w.detach().to("cpu", torch.float64)).abs().max()) for w in ws)


@dataclass(frozen=True)
class Moments:
    """What every statistic of one output reads, computed once: the ``[samples, units]`` output
    ``h``, it in the reduction dtype (``x``), each unit's variance over samples (``var_s``) and
    mean (``mu``), and the generator the sampled statistics draw from."""

    h: torch.Tensor
    x: torch.Tensor
    var_s: torch.Tensor
    mu: torch.Tensor
    generator: torch.Generator

    @property
    def samples(self) -> int:
        return self.h.shape[0]

    @property
    def units(self) -> int:
        return self.h.shape[1]

    @property
    def sample_variance(self) -> float:
        return float(self.var_s.mean())

    @property
    def mean_spread(self) -> float:
        return float(self.mu.var()) if self.units > 1 else 0.0


@dataclass(frozen=True)
class Statistic:
    """A named statistic of one recorded output: ``fn`` maps its :class:`Moments` to a number
    (or to several named numbers, a dict); its name is the column in inspect's module table."""

    name: str
    fn: Callable[[Moments], float | dict[str, float]]
    description: str


def _share(sample_variance: float, mean_spread: float) -> float:
    """sample_variance / (sample_variance + mean_spread); NaN where the total is 0 or not finite."""
    total = sample_variance + mean_spread
    return sample_variance / total if total > 0 and math.isfinite(total) else math.nan


def _sample_fraction(m: Moments) -> float:
    return _share(m.sample_variance, m.mean_spread)


def _pooled_variance(m: Moments) -> float:
    """The variance of every entry, from each unit's variance and mean (no pass over the output):
    ((n - 1) sum var_s + n sum (mu - mean mu)^2) / (n u - 1)."""
    n, total = m.samples, m.samples * m.units
    if total < 2:
        return 0.0
    v, mu = m.var_s.double(), m.mu.double()
    return float(((n - 1) * v.sum() + n * (mu - mu.mean()).pow(2).sum()) / (total - 1))


def _second_moment(m: Moments) -> float:
    """The mean square of every entry, from each unit's variance and mean: mean((n - 1) / n var_s + mu^2)."""
    n = m.samples
    return float(((n - 1) / n * m.var_s.double() + m.mu.double().pow(2)).mean())


def _dead_fraction(m: Moments) -> float:
    scale = abs_max(m.x)
    return float((m.var_s <= 1e-12 * (1 + scale**2)).to(torch.float64).mean()) if math.isfinite(scale) else math.nan


def _effective_rank(m: Moments) -> dict[str, float]:
    rank, dims = effective_rank_sampled(m.h, m.generator) if m.units > 1 and m.samples > 1 else (math.nan, 0)
    return {"effective_rank": rank, "rank_dims": dims}


# The statistics inspect takes of every module's output, in table order; text 000's decomposition
# among them. ``STATISTICS.register(name, Statistic(...))`` adds a column (as mup's coordinate
# check keeps a dict of named statistics); the verdicts read the built-in ones.
STATISTICS: Registry[Statistic] = Registry("statistic", ((s.name, s) for s in (
    Statistic("mean", lambda m: float(m.mu.mean()), "mean over samples and units"),
    Statistic("variance", _pooled_variance, "variance over samples and units (pooled)"),
    Statistic("second_moment", _second_moment, "mean square over samples and units"),
    Statistic("sample_variance", lambda m: m.sample_variance, "variance over samples, mean over units (text 000's sample view)"),
    Statistic("mean_spread", lambda m: m.mean_spread, "variance over units of each unit's mean over samples"),
    Statistic("sample_fraction", _sample_fraction, "sample_variance / (sample_variance + mean_spread); near 0: the input is ignored"),
    Statistic("dead_fraction", _dead_fraction, "share of units with no variance over samples"),
    Statistic("effective_rank", _effective_rank, f"exp(entropy of singular values), on at most {RANK_SUBSET} samples x units"),
)))


def sample_fraction(h: torch.Tensor) -> float:
    """The ``sample_fraction`` column of one ``[samples, units]`` tensor alone (no sampled
    statistic, so no generator draw): what share of its variance depends on the sample."""
    if h.shape[0] < 2:
        return math.nan
    var_s, mu = column_var_mean(h.detach().to(_reduce_dtype(h)))
    return _share(float(var_s.mean()), float(mu.var()) if h.shape[1] > 1 else 0.0)


# at most this many of an LM's logits (vocabulary entries) enter the per-sequence share: a
# random subset, so a 50,257-entry head costs what a 512-entry one does
SEQUENCE_UNITS_MAX = 512


def sequence_sample_fraction(z: torch.Tensor, batch_dim: int, generator: torch.Generator) -> float:
    """:func:`sample_fraction` of a ``[batch, positions, units]`` output with each (position,
    unit) pair as one unit: the share of its variance that changes with the sequence at a fixed
    position. Tokens as samples would count what changes with the position too (a position
    table that drowns the tokens leaves the output different at every position and the same
    for every sequence). At most :data:`SEQUENCE_UNITS_MAX` random units (logits) are read."""
    z = z.detach().movedim(batch_dim, 0)
    if z.dim() != 3 or z.shape[0] < 2:
        return math.nan
    if z.shape[-1] > SEQUENCE_UNITS_MAX:
        z = z[..., torch.randperm(z.shape[-1], generator=generator)[:SEQUENCE_UNITS_MAX].to(z.device)]
    return sample_fraction(z.reshape(z.shape[0], -1))


def output_stats(h: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
    """Every registered :data:`STATISTICS` of one output ``[samples, units]``, and its shape."""
    n, u = h.shape
    x = h.to(_reduce_dtype(h))
    if n > 1:
        var_s, mu = column_var_mean(x)
    else:
        var_s, mu = torch.zeros(u, dtype=x.dtype, device=x.device), x.mean(dim=0)
    m = Moments(h, x, var_s, mu, generator)
    out: dict[str, float] = {}
    for stat in STATISTICS.values():
        v = stat.fn(m)
        out.update(v if isinstance(v, dict) else {stat.name: v})
    return {**out, "units": u, "samples": n}


def rms(t: torch.Tensor) -> float:
    t = t.detach()
    return float(t.to(_reduce_dtype(t)).pow(2).mean().sqrt())


def token_similarity(h: torch.Tensor, seq_dim: int) -> float:
    """Mean cosine similarity between the token representations of one sequence, averaged over
    sequences: ``(|sum_t u_t|^2 - T) / (T (T - 1))`` with ``u_t`` the unit vectors, so no T x T
    matrix is built. 0 for unrelated tokens, 1 when every token is the same vector (the rank
    collapse of Dong et al. 2021)."""
    h = h.detach()
    if h.dim() != 3 or h.shape[seq_dim] < 2:
        return math.nan
    if seq_dim == 0:
        h = h.transpose(0, 1)  # [batch, tokens, features]
    x = h.to(_reduce_dtype(h))
    u = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    t = u.shape[1]
    s = u.sum(dim=1)
    return float(((s * s).sum(dim=-1) - t).mean() / (t * (t - 1)))


def position_lookup(ids: torch.Tensor) -> bool:
    """Whether a lookup's integer ids are positions: one run of consecutive ids (0, 1, 2, ...;
    RoBERTa's start after its padding index), the same for every sequence of the batch. A token
    lookup differs between sequences; a token-type or bounding-box lookup repeats one id."""
    if ids.dim() == 0 or ids.shape[-1] < 2 or ids.is_floating_point() or ids.is_complex():
        return False
    rows = ids.detach().reshape(-1, ids.shape[-1])
    return bool((rows == rows[:1]).all() and (rows[0, 1:] - rows[0, :-1] == 1).all())


def adjacent_similarity(rows: torch.Tensor) -> float:
    """Mean cosine similarity between the vectors a position lookup gives neighbouring positions
    (``rows``: ``[..., positions, width]``, the first sequence read): near 1 for a smooth code (a
    sinusoid table, a trained one), ~0 for a random draw, whose neighbours are unrelated."""
    x = rows.detach().reshape(-1, rows.shape[-2], rows.shape[-1])[0] if rows.dim() >= 2 else None
    if x is None or x.shape[0] < 2:
        return math.nan
    x = x.to(_reduce_dtype(x))
    u = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    return float((u[1:] * u[:-1]).sum(dim=-1).mean())


def token_spread(h: torch.Tensor, seq_dim: int) -> float:
    """RMS of the token vectors about their sequence's mean token: what tells one position from
    another, in the stream's own units. Token similarity near 1 says the tokens are alike
    *relative* to the stream; this says whether their differences were lost (they shrink) or a
    shared vector grew over them (they stay)."""
    h = h.detach()
    if h.dim() != 3 or h.shape[seq_dim] < 2:
        return math.nan
    x = h.to(_reduce_dtype(h))
    return float((x - x.mean(dim=seq_dim, keepdim=True)).pow(2).mean().sqrt())


def looks_like_attention(t: object) -> bool:
    """A ``[batch, heads, queries, keys]`` tensor of probabilities: non-negative rows that sum to 1."""
    if not isinstance(t, torch.Tensor) or t.dim() != 4 or not t.is_floating_point() or t.shape[-1] < 2:
        return False
    t = t.detach()
    if float(t.min()) < 0:
        return False
    sums = t.sum(dim=-1, dtype=torch.float32)
    # bfloat16 rows sum to 1 within its own rounding (eps 7.8e-3), not within float32's
    return bool(torch.allclose(sums, torch.ones_like(sums), atol=max(1e-3, torch.finfo(t.dtype).eps)))


def attention_stats(p: torch.Tensor) -> list[dict[str, float]]:
    """Per head: the entropy of the attention rows against its maximum log(keys a query may
    see), and the logit scale, the std of q.k/sqrt(d) over a row's keys, read back from the
    probabilities as the std of log p (softmax only shifts logits). Keys no head of the row can
    see (a causal or padding mask) are left out; rows with a single visible key are skipped.
    Where the softmax underflows to exact zeros the logit std is a lower bound; ``zero_share`` is
    the share of visible entries that did (a float16 model's saturated heads: most of them).
    ``causal``: no query sees a key after its own position (a causal mask, a sliding window)."""
    p = p.detach().to(torch.float64)
    visible = (p > 0).any(dim=1, keepdim=True)  # [B, 1, Q, K]
    causal = p.shape[-1] == p.shape[-2] and not bool(visible.triu(1).any())
    n_vis = visible.sum(dim=-1).to(torch.float64)  # [B, 1, Q]
    rows = (n_vis >= 2).expand(p.shape[:-1])  # [B, H, Q]
    logp = torch.where(p > 0, p.log(), torch.zeros_like(p))
    entropy = -(p * logp).sum(dim=-1)  # [B, H, Q]
    max_entropy = n_vis.clamp_min(1).log().expand_as(entropy)
    pos = p > 0
    cnt = pos.sum(dim=-1).clamp_min(1).to(torch.float64)
    mean_lp = logp.sum(dim=-1) / cnt
    var_lp = (torch.where(pos, (logp - mean_lp.unsqueeze(-1)) ** 2, torch.zeros_like(p))).sum(dim=-1) / (cnt - 1).clamp_min(1)
    # the rows read are the same for every head (the mask is): every head's means in one reduction
    r = rows[:, :1]  # [B, 1, Q]
    n_rows = int(r.sum())
    if not n_rows:
        return []

    def per_head(v: torch.Tensor) -> list[float]:  # [B, H, Q] -> each head's mean over the rows read
        return (torch.where(r, v, torch.zeros((), dtype=v.dtype)).sum(dim=(0, 2)) / n_rows).tolist()

    e, m = per_head(entropy), per_head(max_entropy)
    std, top = per_head(var_lp.sqrt()), per_head(p.amax(dim=-1))
    zero = (((p == 0) & visible).sum(dim=(0, 2, 3)) / visible.expand_as(p[:, :1]).sum().clamp_min(1)).tolist()
    return [dict(head=h, entropy=e[h], max_entropy=m[h], entropy_ratio=e[h] / m[h] if m[h] > 0 else math.nan,
                 logit_std=std[h], max_prob=top[h], zero_share=zero[h], causal=causal) for h in range(p.shape[1])]


def distinct_rows(rows: torch.Tensor, *more: tuple[torch.Tensor, float], seed: int = 0) -> int:
    """How many rows of ``rows`` differ, in O(N D) without a pairwise matrix: every row is
    reduced to a random projection (the same elementwise kernel and reduction for every row, so
    identical rows give bit-identical keys) and the distinct keys are counted. Symmetry from a
    constant init is exact (SGD keeps identical units identical to the bit), so exact equality
    is the test; two different rows share a float64 key with probability ~N^2 / 2^53.
    (Sorting the rows' bytes was exact too but cost 1.5 s on a 50257 x 768 head.) ``more``:
    (rows, weight) blocks of the same rows continued (each unit's gradient), projected on their
    own random vectors and added with that weight, as if concatenated without the copy."""
    x = rows.detach().reshape(rows.shape[0], -1)
    if x.shape[0] < 2:
        return int(x.shape[0])
    g = torch.Generator().manual_seed(seed)

    def project(t: torch.Tensor) -> torch.Tensor:
        if t.dtype not in (torch.float32, torch.float64):
            t = t.float()
        r = torch.randn(t.shape[1], generator=g, dtype=torch.float64).to(device=t.device, dtype=t.dtype)
        # products in the tensor's dtype, summed in float64 (-0.0 folded into 0.0)
        return (t * r).sum(dim=1, dtype=torch.float64) + 0.0

    keys = project(x)
    for t, weight in more:
        keys = keys + weight * project(t.detach().reshape(x.shape[0], -1))
    return int(torch.unique(keys).shape[0])


def _recurrent_weight_stats(m: nn.Module) -> dict[str, object]:
    """A recurrent layer's units are its hidden units: unit j owns row j of every gate's block in
    the first layer's (or the cell's) W_ih, W_hh and biases; identical units stay identical
    under training."""
    nan = math.nan
    gates = {"LSTM": 4, "GRU": 3, "LSTMCell": 4, "GRUCell": 3}.get(type(m).__name__, 1)
    h = m.hidden_size
    sfx = "" if isinstance(m, nn.RNNCellBase) else "_l0"
    parts = [getattr(m, n + sfx).detach() for n in ("weight_ih", "weight_hh")]
    if m.bias:
        parts += [getattr(m, n + sfx).detach().reshape(-1, 1) for n in ("bias_ih", "bias_hh")]
    rows = torch.cat([t.to(torch.float64) for t in parts], dim=1)  # [gates * h, ...]
    per_unit = rows.reshape(gates, h, -1).transpose(0, 1).reshape(h, -1)
    return dict(weight_std=nan, weight_abs_max=abs_max(parts[0]), weight_units=h, fan_in=nan, fan_out=nan,
                fan_source="", kaiming_std=nan, xavier_std=nan, init_guess=None, distinct_units=distinct_rows(per_unit))


def weight_stats(module: nn.Module, memo: dict[int, tuple[torch.Tensor, float, float]] | None = None) -> dict[str, object]:
    """The module's weight: std against Kaiming, LeCun, Xavier and torch's default for its fans,
    the closest of them, and how many of its units (rows) are distinct. ``memo``: each weight's
    (itself, std, max |w|) by ``id``, read and filled, for a table tied to a head (one pass each, not two)."""
    w = weight_of(module)
    nan = math.nan
    if w is None and isinstance(module, RECURRENT):
        return _recurrent_weight_stats(module)
    if w is None:
        return dict(weight_std=nan, weight_abs_max=nan, weight_units=nan, fan_in=nan, fan_out=nan, fan_source="",
                    kaiming_std=nan, xavier_std=nan, init_guess=None, distinct_units=None)
    f = fans(module, w)
    wd = w.detach()
    if memo is None or id(w) not in memo:
        scale = (w, float(wd.to(_reduce_dtype(wd)).std()), abs_max(wd))  # w held: its id stays its own
        if memo is not None:
            memo[id(w)] = scale
    _, std, top = memo[id(w)] if memo is not None else scale
    refs = {
        "kaiming": math.sqrt(2 / f.fan_in), "lecun": math.sqrt(1 / f.fan_in), "xavier": math.sqrt(2 / (f.fan_in + f.fan_out)),
        "torch-default": math.sqrt(1 / (3 * f.fan_in)), "normal(0,1)": 1.0,
    }
    if std > 0 and math.isfinite(std):
        guess = min(refs, key=lambda k: abs(math.log(std / refs[k])))
        if abs(math.log(std / refs[guess])) > math.log(1.25):
            guess = f"none (std {std:.3g})"
    else:
        guess = "constant" if std == 0 else "non-finite"
    # units are rows of [out, in]: an embedding's rows are tokens, Conv1D's are its columns
    unit_rows = wd.t() if type(module).__name__ == "Conv1D" and wd.dim() == 2 else wd
    if is_embedding(module):
        distinct = None  # identical token vectors show up as collapse over positions instead
    else:
        bias = getattr(module, "bias", None)
        mat = unit_rows.reshape(unit_rows.shape[0], -1)
        # each unit's bias beside its weights, as a block of its own (a concatenation copied every weight)
        blocks = [(bias.detach().reshape(-1, 1).to(mat.dtype), 1.0)] if (
            isinstance(bias, torch.Tensor) and bias.dim() == 1 and bias.shape[0] == mat.shape[0]) else []
        # with the step-0 gradient beside each unit's weights: units alike in what they read but
        # not in what reads them (the all-zero rows of a sparse_ init, each feeding the next layer
        # through its own weights) get different gradients, and the first step separates them;
        # only units alike in both stay alike
        # (rows already distinct in their weights stay distinct with more columns: the gradient is
        # read only where some rows are alike, which saves a pass over a 50257-row head)
        distinct = distinct_rows(mat, *blocks)
        g = w.grad if w.is_leaf else None  # a parametrized weight is computed: no .grad of its own
        if distinct < mat.shape[0] and isinstance(g, torch.Tensor) and g.layout == torch.strided and g.shape == w.shape:
            grows = g.detach().t() if unit_rows is not wd else g.detach()
            g_top = abs_max(grows)
            if math.isfinite(g_top) and g_top > 0:
                # on the weights' scale: an exploding net's 1e18 gradients would drown the rows' differences
                w_top = max([abs_max(mat), *(abs_max(b) for b, _ in blocks)])
                distinct = distinct_rows(mat, *blocks, (grows, w_top / g_top))
    return dict(weight_std=std, weight_abs_max=top, weight_units=int(unit_rows.shape[0]), fan_in=f.fan_in, fan_out=f.fan_out, fan_source=f.source, kaiming_std=refs["kaiming"],
                xavier_std=refs["xavier"], init_guess=guess, distinct_units=distinct)
