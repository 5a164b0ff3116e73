"""One forward (and backward) pass with hooks: statistics are reduced *inside* the hooks, so
nothing of a module's output is kept beyond its row, whatever the model's size.

What is recorded, per call:
- every leaf module (and every attention module) that computes something: a row of
  :func:`~initscope.inspect.stats.output_stats`, its role, and whether its output goes
  straight into a norm (found by tensor identity: a norm's input is that module's output);
- every repeated block (:func:`~initscope.inspect.structure.find_blocks`): the residual
  stream in and out, and each residual branch at the moment it is added to the stream. A
  torch function mode watches the additions inside the block: an addition with one operand
  on the stream (the block's input, or what a previous addition or a post-norm made of it)
  has the branch as its other operand, whatever the model's own code calls it;
- every tensor of attention probabilities a module returns (``[batch, heads, q, k]``);
- the gradient that reaches each block's output in the backward pass.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initscope.inspect.load import first_tensor
from initscope.inspect.stats import (
    adjacent_similarity,
    as_samples_by_units,
    attention_stats,
    effective_rank_sampled,
    GATE_SATURATION_Z,
    gate_saturation,
    recurrent_radius,
    looks_like_attention,
    output_stats,
    position_lookup,
    sample_fraction,
    _reduce_dtype,
    rms,
    token_similarity,
    token_spread,
)
from initscope.inspect.structure import (RECURRENT, find_blocks, find_block_candidates, fused_experts, in_parametrization, is_activation,
                                         is_attention, is_embedding, is_norm, fans, is_recorded, weight_of)
from initscope.repro import generator

_ADDS = {"add", "add_", "__add__", "__radd__", "__iadd__"}
# saturating nonlinearities a model may call as functions (a hand-written LSTM cell, WaveNet's
# gated units, a highway layer): judged where a weighted layer's output is their input
_GATES = {"tanh", "sigmoid"}
_MULS = {"mul", "__mul__", "__rmul__"}
# ops that only reshape: the stream reshaped is still the stream (OPT adds its MLP branch to the
# stream flattened to [batch x tokens, width])
_RESHAPES = {"view", "reshape", "flatten", "unflatten", "contiguous", "view_as", "reshape_as"}
# A branch within this relative distance of the last norm output times a scalar is that norm's
# output (rounding only: float32 gives ~1e-7)
SCALED_NORM_TOL = 1e-4
# below / above these (the verdicts' SAMPLE_FRACTION_MIN and DEAD_FRACTION_MAX) a layer's input is
# checked for being constant over the samples
SAMPLE_CHECK_BELOW = 0.05
DEAD_CHECK_ABOVE = 0.5


@dataclass
class _Frame:
    """One block call in progress."""

    block: int  # index into Recording.blocks
    stream: set[int]  # ids of tensors that are the residual stream
    keep: list[torch.Tensor] = field(default_factory=list)  # keeps the ids above alive and unique
    attention_since_add: bool = False
    attention_seen: bool = False  # an attention module ran inside this block call
    other_input: bool = False  # the call was given another floating tensor of the stream's rank
    rows_at_add: int = -1  # len(Recording.rows) at this call's latest residual addition (-1: none yet)
    # a norm's output taken as the stream because it normalized the stream (a sum in a post-norm
    # block; the block's input where the residual is taken after the norm, as MiniMax's), by id ->
    # the origin of what it normalized; provisional until that is added to again, which shows the norm
    # began a branch (a pre-norm block): RWKV's channel mixing adds its normed input x a gain to its shift
    normed: dict[int, int] = field(default_factory=dict)
    root: dict[int, int] = field(default_factory=dict)  # a stream tensor's id -> the normed output it came from
    origin: dict[int, int] = field(default_factory=dict)  # a stream tensor's id -> the one it is a gain or view of
    provisional: list[tuple[int, int]] = field(default_factory=list)  # (branch index, root) recorded on such a stream
    before_provisional: dict[int, tuple[int, bool]] = field(default_factory=dict)  # root -> rows_at_add, attention_since_add
    pending_attention: set[int] = field(default_factory=set)  # provisional additions an attention module made (_attention_done)


@dataclass
class Recording:
    rows: list[dict[str, Any]] = field(default_factory=list)  # per module call
    blocks: list[dict[str, Any]] = field(default_factory=list)  # per block call
    branches: list[dict[str, Any]] = field(default_factory=list)  # per residual addition
    attention: list[dict[str, Any]] = field(default_factory=list)  # per attention call and head


# F.scaled_dot_product_attention's probabilities are recomputed on at most this many entries
# (batch x heads x queries x keys): the first samples, then every k-th query row beyond it
SDPA_STATS_MAX = 1 << 22


def sdpa_probabilities(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                       dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
                       **_: Any) -> torch.Tensor | None:
    """The attention probabilities ``F.scaled_dot_product_attention`` computes and does not return,
    ``[batch, heads, queries, keys]``, as its documented reference does: softmax(q k^T x scale +
    mask), the causal mask aligned top left, keys shared by groups of heads (GQA) repeated. On
    large calls, the first samples and every k-th query row (SDPA_STATS_MAX entries at most).
    None for inputs it does not read (not 3-D or 4-D, heads that do not divide)."""
    if not (isinstance(query, torch.Tensor) and isinstance(key, torch.Tensor)) or query.dim() not in (3, 4) or key.dim() != query.dim():
        return None
    three = query.dim() == 3  # [batch, queries, dim]: one head
    q, k = (query.detach().unsqueeze(1), key.detach().unsqueeze(1)) if three else (query.detach(), key.detach())
    b, h, lq, d = q.shape
    hk, lk = k.shape[1], k.shape[2]
    if hk != h:
        if h % hk:
            return None
        k = k.repeat_interleave(h // hk, dim=1)
    keep = max(1, min(b, SDPA_STATS_MAX // max(1, h * lq * lk)))
    rows = torch.arange(lq, device=q.device)[::max(1, math.ceil(keep * h * lq * lk / SDPA_STATS_MAX))]
    logits = q[:keep, :, rows].float() @ k[:keep].float().transpose(-2, -1)
    logits = logits * (scale if scale is not None else 1.0 / math.sqrt(d))
    if is_causal:
        logits = logits.masked_fill(~torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril()[rows], float("-inf"))
    if isinstance(attn_mask, torch.Tensor):
        m = attn_mask.detach().expand(*query.shape[:-1], lk)  # a view: broadcast, not copied
        m = (m.unsqueeze(1) if three else m)[:keep, :, rows]
        logits = logits.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else logits + m.float()
    return torch.nan_to_num(torch.softmax(logits, dim=-1), nan=0.0)  # a row with every key masked: no attention


# graph nodes walked back from a branch before giving up on finding the stream (unknown: kept as a branch)
DERIVES_WALK_MAX = 5000


def derives_from(t: torch.Tensor, sources: list[torch.Tensor]) -> bool | None:
    """Whether ``t`` was computed from any of ``sources`` (a walk back through the autograd graph):
    a residual branch is, a feature merged in from another input (DPT's fusion of a backbone
    stage, a U-Net decoder's skip) is not. None when it cannot tell (no graph, or the walk is
    longer than DERIVES_WALK_MAX)."""
    targets = {id(s.grad_fn) for s in sources if isinstance(s, torch.Tensor) and s.grad_fn is not None}
    if t.grad_fn is None or not targets or any(isinstance(s, torch.Tensor) and s.grad_fn is None for s in sources):
        return None
    stack, seen = [t.grad_fn], set()
    while stack:
        f = stack.pop()
        if id(f) in targets:
            return True
        if id(f) in seen:
            continue
        seen.add(id(f))
        if len(seen) > DERIVES_WALK_MAX:
            return None
        stack.extend(n for n, _ in f.next_functions if n is not None)
    return False


def sequence_first(model: nn.Module) -> bool:
    """torch's ``batch_first=False`` convention: sequence outputs are ``[tokens, batch, features]``."""
    flags = [m.batch_first for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    return bool(flags) and not any(flags)


def _mha_dead_end(m: nn.MultiheadAttention, inp: tuple) -> bool:
    """Whether torch's MultiheadAttention ends its branch in a zero output projection fed
    zeros: its values (``W_v v + b_v``) are exactly zero, so every mix of them is."""
    if bool(m.out_proj.weight.detach().any()) or len(inp) < 3 or not isinstance(inp[2], torch.Tensor):
        return False
    e = m.embed_dim
    w = m.in_proj_weight[2 * e:] if m.in_proj_weight is not None else m.v_proj_weight
    b = m.in_proj_bias[2 * e:] if m.in_proj_bias is not None else None
    return not bool(torch.nn.functional.linear(inp[2].detach(), w.detach(), None if b is None else b.detach()).any())


class _AddWatcher(TorchFunctionMode):
    def __init__(self, rec: Recorder) -> None:
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        fname = getattr(func, "__name__", "")
        if fname in _GATES and not self.rec.replaying and args and isinstance(args[0], torch.Tensor):
            out = func(*args, **kwargs)
            self.rec.gate_called(args[0], out)
            return out
        out = self._dispatch(func, fname, args, kwargs)
        if fname in _ADDS or fname in _MULS:
            self.rec.gate_arithmetic(fname, args, kwargs, out)
        return out

    def _dispatch(self, func, fname, args, kwargs):  # noqa: ANN001, ANN202
        frame = self.rec.frames[-1] if self.rec.frames else None
        if fname == "scaled_dot_product_attention":
            out = func(*args, **kwargs)
            self.rec.sdpa_called(args, kwargs)
            return out
        if fname == "softmax" and not self.rec.replaying:
            out = func(*args, **kwargs)
            self.rec.softmax_called(out, args, kwargs)
            return out
        if fname in _RESHAPES and frame is not None and args and isinstance(args[0], torch.Tensor) and id(args[0]) in frame.stream:
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor) and out is not args[0]:
                frame.stream.add(id(out))
                if id(args[0]) in frame.root:
                    frame.root[id(out)] = frame.root[id(args[0])]
                frame.origin[id(out)] = frame.origin.get(id(args[0]), id(args[0]))
                frame.keep.append(out)
            return out
        if fname in _MULS and frame is not None and len(args) >= 1:
            out = func(*args, **kwargs)
            other = args[1] if len(args) > 1 else kwargs.get("other")
            if not self._residual_gain(frame, args[0], other, out):
                self._branch_gain(frame, args[0], other, out)
            return out
        if fname not in _ADDS or len(args) < 1:
            return func(*args, **kwargs)
        if frame is None:
            return self.rec.outer_add(func, args, kwargs)
        a, b = args[0], (args[1] if len(args) > 1 else kwargs.get("other"))
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return func(*args, **kwargs)
        on_a, on_b = id(a) in frame.stream, id(b) in frame.stream
        if on_a and on_b:
            return func(*args, **kwargs)
        if not on_a and not on_b:
            # two branch outputs summed before they reach the stream (GPT-NeoX's parallel
            # attention + MLP): the sum remembers where its parts came from
            out = func(*args, **kwargs)
            names = [n for t in (a, b) for n in self.rec.producers_of(t)]
            if names and isinstance(out, torch.Tensor):
                self.rec._composite[id(out)] = (weakref.ref(out), names)
                frame.keep.append(out)
            return out
        stream, branch = (a, b) if on_a else (b, a)
        self.rec.settle_norms(frame, stream)
        root = frame.root.get(id(stream))
        if root is not None and root not in frame.before_provisional:
            frame.before_provisional[root] = (frame.rows_at_add, frame.attention_since_add)
        self.rec.branch_added(frame, stream, branch)
        out = func(*args, **kwargs)
        if root is not None:
            frame.provisional.append((len(self.rec.rec.branches) - 1, root))
            frame.root[id(out)] = root
        frame.stream.add(id(out))
        frame.keep.append(out)
        return out

    @staticmethod
    def _is_gain(g: Any, x: torch.Tensor) -> bool:
        """A number, or a parameter of one value per channel of ``x`` at most: a scale no input sets."""
        return (isinstance(g, (int, float)) and not isinstance(g, bool)) or (
            isinstance(g, nn.Parameter) and x.dim() > 0 and g.numel() <= x.shape[-1])

    @classmethod
    def _residual_gain(cls, frame: _Frame, a: Any, b: Any, out: Any) -> bool:
        """The stream times a gain (:meth:`_is_gain`: Doge's ``input_residual * residual +
        hidden_states``, DeepNet's ``alpha * x``) is still the stream: the addition that follows adds
        the branch to it. A product with anything else (a highway layer's gate, computed from the
        input) is not followed. True where ``out`` was taken as the stream."""
        if not isinstance(out, torch.Tensor):
            return False
        for x, g in ((a, b), (b, a)):
            if not (isinstance(x, torch.Tensor) and id(x) in frame.stream) or out.shape != x.shape:
                continue
            if cls._is_gain(g, x):
                frame.stream.add(id(out))
                if id(x) in frame.root:
                    frame.root[id(out)] = frame.root[id(x)]
                frame.origin[id(out)] = frame.origin.get(id(x), id(x))
                frame.keep.append(out)
                return True
        return False

    def _branch_gain(self, frame: _Frame, a: Any, b: Any, out: Any) -> None:
        """A module's output times a gain (:meth:`_is_gain`) still came out of that module: Granite's
        ``attn_out * residual_multiplier``, MiniCPM's ``scale_depth / sqrt(layers)``, a layer scale
        (ConvNeXt's ``gamma``, BEiT's ``lambda``) name the branch by the module that made it. A product
        of two computed tensors (a router's weights times an expert's output) is not followed."""
        if not isinstance(out, torch.Tensor):
            return
        for x, g in ((a, b), (b, a)):
            if not isinstance(x, torch.Tensor) or id(x) in frame.stream or out.shape != x.shape or not self._is_gain(g, x):
                continue
            names = self.rec.producers_of(x)
            if names:
                self.rec._composite[id(out)] = (weakref.ref(out), names)
                frame.keep.append(out)
            return


def _varies_along_positions(t: torch.Tensor) -> bool:
    """Whether a lookup fed no tensor (a shape: RoFormer's sinusoid table) gave different vectors
    to different positions (``[..., positions, width]``): it can only be a code of the positions."""
    return t.dim() >= 2 and t.shape[-2] >= 2 and not bool((t[..., 1:, :] == t[..., :1, :]).all())


def _held(refs: dict[int, weakref.ref], t: torch.Tensor) -> bool:
    """Whether ``t`` itself is among ``refs`` (by id, the tensor still the one that had it)."""
    ref = refs.get(id(t))
    return ref is not None and ref() is t


class Recorder:
    """Hooks on a model; use as a context manager around one forward + backward pass."""

    def __init__(self, model: nn.Module, *, seed: int = 0) -> None:
        self.model = model
        self.rec = Recording()
        self.frames: list[_Frame] = []
        self.calls: dict[str, int] = {}
        self.generator = generator(seed, "record")
        self.seq_dim = 0 if sequence_first(model) else 1
        self.blocks = find_blocks(model)
        # a container listed alone (ALBERT's one layer group, called in a loop; a one-layer
        # transformer) is recorded as a block, and dropped after the pass when no residual
        # addition was made in it (drop_non_blocks)
        self.candidates = find_block_candidates(model, self.blocks)
        self.block_names = {name: group for name, group in self.blocks + self.candidates}
        self._producer: dict[int, tuple[weakref.ref, int]] = {}  # id(output) -> row it came from
        # a mixture of experts' output (the module holding fused experts, or the one around it: no
        # recorded module makes it) -> how many rows were recorded when it came out
        self._moe_out: dict[int, tuple[weakref.ref, int]] = {}
        experts = fused_experts(model)
        self._moe_modules = {n for e in experts for n in (e, e.rpartition(".")[0]) if n} - set(self.block_names)
        # functional sigmoid / tanh calls (gate_called): sums of layer outputs fed to them, and
        # their saturation, applied to the layers' rows after the pass unless a swish undoes it
        self._preact: dict[int, tuple[weakref.ref, list[int]]] = {}
        self._radius: dict[int, float] = {}  # id(module) -> stats.recurrent_radius
        self._gate_reads: list[list] = []  # [output, input (weak), layer rows, (beyond, entries)]
        self._gate_by_out: dict[int, int] = {}  # id(output) -> its latest read
        self._in_activation = 0
        self._norm_outputs: dict[int, weakref.ref] = {}  # id -> a norm's output (weak: a freed one's id comes back)
        self._last_norm: weakref.ref | None = None
        self._modules: dict[str, nn.Module] | None = None
        # id -> the probabilities read (weak): torch's MultiheadAttention returns a layer's weights to
        # an encoder layer that drops them, and the next layer's may take the freed tensor's id
        self._seen_attention: dict[int, weakref.ref] = {}
        self._handles: list[Any] = []
        self._block_stack: list[str] = []
        self._attn_marks: list[int] = []
        self._pending: tuple | None = None  # a block whose output may be added to its input by the caller
        self._composite: dict[int, tuple[weakref.ref, list[str]]] = {}  # id(sum of branches) -> their modules
        self._attn_stack: list[str] = []  # attention modules whose forward is running, innermost last
        self._attn_rows: list[int] = []  # len(rec.attention) when each of them began
        self._paths: dict[int, tuple[str, ...]] = {}  # id(row) -> the blocks running when it was recorded
        self._softmax_seen: dict[str, list[torch.Tensor]] = {}  # probabilities a running attention module computed
        self._softmax_outputs: set[int] = set()  # ids of those softmax outputs, as returned (an nn.Softmax's is no layer row)
        # after the forward pass: hooks that fire again are activation checkpointing recomputing
        # blocks in the backward pass (torch.utils.checkpoint); they record nothing new
        self.replaying = False
        self._replay_calls: dict[str, int] = {}
        self._block_rows: dict[str, int] = {}  # block call name -> its row
        self._grad_from_replay: set[int] = set()  # rows whose output took no gradient in the forward (reentrant checkpoint)

    # --- per module call ---

    def _next_call(self, name: str) -> tuple[str, int]:
        """The name the next call of ``name`` gets (``name``, then ``name#2``, ...), and its index."""
        k = self.calls.get(name, 0)
        return (name if k == 0 else f"{name}#{k + 1}"), k

    def _call_name(self, name: str) -> tuple[str, int]:
        call, k = self._next_call(name)
        self.calls[name] = k + 1
        return call, k

    def _role(self, m: nn.Module, inp: Any = None) -> str:
        ids = first_tensor(inp) if inp is not None else None
        if is_embedding(m) or (weight_of(m) is not None and isinstance(ids, torch.Tensor) and not ids.is_floating_point()
                               and not ids.is_complex()):
            # a lookup table by what it is fed (I-BERT's QuantEmbedding is not an nn.Embedding)
            return "embedding"
        if is_norm(m):
            return "norm"
        if is_attention(m):
            return "attention"
        if weight_of(m) is not None:
            return "layer"
        return "activation" if len(list(m.parameters(recurse=False))) == 0 else "other"

    def _module_hook(self, name: str):
        def hook(m: nn.Module, inp: Any, out: Any) -> None:
            if self.replaying:
                return
            t = first_tensor(out, floating=True)
            if t is None:
                return
            x = first_tensor(inp, floating=True)
            if x is not None and x is t:  # dropout / identity in eval: nothing new
                return
            if isinstance(m, nn.Softmax) and id(t) in self._softmax_outputs:
                return  # attention probabilities (softmax_called), not a layer's units
            seen = self._producer.get(id(t))
            if seen is not None and seen[0]() is t:  # a container returning its child's output
                with torch.no_grad():
                    self._find_attention(self._call_name(name)[0], out)
                if is_attention(m) and self.frames and self._attn_marks:
                    self._attention_done(self._attn_marks.pop())
                if is_attention(m) and self.frames:
                    self.frames[-1].attention_seen = True
                return
            call, k = self._call_name(name)
            with torch.no_grad():
                row = dict(name=call, module=name, type=type(m).__name__, role=self._role(m, inp), call=k,
                           block=self._block_stack[-1] if self._block_stack else "", feeds_norm=False, input_constant=False,
                           **output_stats(as_samples_by_units(t, m), self.generator))
                if row["role"] == "layer" and x is not None and x.is_floating_point():
                    # a layer fed exact zeros: its weight's gradient is zero whatever reaches it
                    # (verdicts.dead_blocks)
                    row["input_zero"] = not bool(x.detach().any())
                    if row["sample_variance"] == 0 and x.numel() and isinstance(w := weight_of(m), torch.Tensor) and not bool(w.any()):
                        # a layer whose weight is exactly zero (its output, the bias, does not vary):
                        # what its first gradient (error x input) can tell the samples apart by
                        row["input_sample_fraction"] = sample_fraction(as_samples_by_units(x, m))
                if row["role"] == "embedding":
                    self._mark_position_table(row, m, first_tensor(inp), t)
                if isinstance(m, nn.MultiheadAttention):
                    # its output projection runs as a function: whether it is zero and fed zeros
                    row["dead_end"] = _mha_dead_end(m, inp)
                if x is not None and not (row["sample_fraction"] >= SAMPLE_CHECK_BELOW and row["dead_fraction"] <= DEAD_CHECK_ABOVE):
                    # an output constant over the samples because its input already was (MarkupLM's
                    # xpath path fed only padding) owes nothing to this layer's init
                    xs = as_samples_by_units(x, m)
                    row["input_constant"] = bool(xs.shape[0] > 1 and float((xs - xs[:1]).abs().amax()) == 0.0)
                elif first_tensor(inp) is None:
                    # fed no tensor at all (Perceiver's trainable position encodings take the batch
                    # size): its output cannot depend on the sample
                    row["input_constant"] = True
                self._find_attention(call, out)
                if not self.rec.rows and row["role"] == "layer" and x is not None and x.is_floating_point() and isinstance(
                        weight_of(m), torch.Tensor) and weight_of(m).dim() == 2 and x.shape[-1] == fans(m, weight_of(m)).fan_in:
                    # the data's own rank where a Linear-like first layer reads it: a layer whose
                    # init loses rank (constant weights) cannot excuse the layers after it
                    row["input_effective_rank"] = effective_rank_sampled(x.detach().reshape(-1, x.shape[-1]),
                                                                         generator(0, "input-rank"))[0]
                if isinstance(m, (*RECURRENT, nn.Tanh, nn.Sigmoid)) and x is not None:
                    row["gate_saturation"], row["saturated_gate"] = gate_saturation(m, x, inp[1] if isinstance(m, nn.RNNCellBase) and len(inp) > 1 else None)
                if isinstance(m, (nn.RNN, nn.RNNCell)):
                    if id(m) not in self._radius:  # a cell called in a loop: once
                        self._radius[id(m)] = recurrent_radius(m)
                    row["recurrent_radius"] = self._radius[id(m)]
            idx = len(self.rec.rows)
            self.rec.rows.append(row)
            self._paths[id(row)] = tuple(self._block_stack)
            self._producer[id(t)] = (weakref.ref(t), idx)
            if is_norm(m):
                self._norm_outputs[id(t)] = weakref.ref(t)
                self._last_norm = weakref.ref(t)
            if is_attention(m) and self.frames and self._attn_marks:
                self._attention_done(self._attn_marks.pop())
                self.frames[-1].attention_seen = True
            if self.frames and is_norm(m) and x is not None and id(x) in self.frames[-1].stream:
                # a post-norm block: the normalized stream is the stream from here on (provisional:
                # see settle_norms)
                f = self.frames[-1]
                f.stream.add(id(t))
                f.keep.append(t)
                f.normed[id(t)] = f.origin.get(id(x), id(x))
                f.root[id(t)] = id(t)

        return hook

    @staticmethod
    def _mark_position_table(row: dict[str, Any], m: nn.Module, ids: torch.Tensor | None, out: torch.Tensor) -> None:
        """A lookup that is a position table (its ids the positions, the same in every sequence; or
        fed only a shape, as RoFormer's sinusoid table): whether the optimizer moves it, and how
        alike it makes neighbouring positions (verdicts.tables_behind_norm)."""
        if not (position_lookup(ids) if ids is not None else _varies_along_positions(out)):
            return
        w = weight_of(m)
        row["position_table"] = True
        row["trainable"] = bool(isinstance(w, torch.Tensor) and w.requires_grad)
        row["adjacent_similarity"] = adjacent_similarity(out)

    def _attention_pre_hook(self, name: str, mark: bool = True):
        def hook(m: nn.Module, inp: Any) -> None:
            if self.replaying:
                return
            if mark:  # (popped by its output hook; an attention module that is a block has none)
                self._attn_marks.append(len(self.rec.branches))
            self._attn_stack.append(name)
            self._attn_rows.append(len(self.rec.attention))

        return hook

    def _attention_exit(self, m: nn.Module, inp: Any, out: Any) -> None:
        if not self._attn_stack or self.replaying:
            return
        name, start = self._attn_stack.pop(), self._attn_rows.pop()
        seen = self._softmax_seen.pop(name, [])
        if not self._attn_stack:
            self._softmax_outputs.clear()  # (ids are only meaningful while their tensors live)
        if seen and len(self.rec.attention) == start:
            # no probabilities in its output, nor from an SDPA call: those its softmax made
            k = self.calls.get(name, 0)
            self._record_probabilities(name if k <= 1 else f"{name}#{k}", seen)

    def softmax_called(self, out: Any, args: tuple, kwargs: dict) -> None:
        """A softmax inside an attention module whose output looks like ``[batch, heads, queries,
        keys]`` probabilities (minGPT, lucidrains, MobileViT and LeViT compute attention so; XLNet's
        ``[queries, keys, batch, heads]`` over dim 1; Hiera's ``[batch, heads, windows, queries,
        keys]``, windows taken as samples): they stand for the module's attention when
        its output holds none (kept until it returns). A softmax outside an attention module
        (a segmentation head's over classes) is not read as attention."""
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if not self._attn_stack or not isinstance(out, torch.Tensor):
            return
        returned = out
        if out.dim() == 5 and dim in (-1, 4):  # Hiera's [batch, heads, windows, queries, keys]
            b, h, w, q, k = out.shape
            out = out.transpose(1, 2).reshape(b * w, h, q, k)
        elif out.dim() == 4 and dim == 1:  # XLNet's [queries, keys, batch, heads]
            out = out.permute(2, 3, 0, 1)
        elif out.dim() == 3 and dim in (-1, 2):  # one head, [batch, queries, keys] (a DDPM U-Net's attention block)
            out = out.unsqueeze(1)
        elif out.dim() != 4 or dim not in (-1, 3):
            return
        with torch.no_grad():
            if out.shape[-2] < 2 or not looks_like_attention(out):
                return
        self._softmax_seen.setdefault(self._attn_stack[-1], []).append(out)
        self._softmax_outputs.add(id(returned))

    def _add_attention(self, call: str, r: dict[str, Any]) -> None:
        row = dict(layer=call, block=self._block_stack[-1] if self._block_stack else "", **r)
        self.rec.attention.append(row)
        self._paths[id(row)] = tuple(self._block_stack)

    def _record_probabilities(self, call: str, probs: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p in probs:
                self._seen_attention[id(p)] = weakref.ref(p)
                for r in attention_stats(p):
                    self._add_attention(call, r)

    def sdpa_called(self, args: tuple, kwargs: dict) -> None:
        """``F.scaled_dot_product_attention`` returns no probabilities (a hand-written decoder, a
        timm ViT): they are recomputed from its query and keys (:func:`sdpa_probabilities`) and
        recorded under the attention module that called it, as the call its output hook will get."""
        with torch.no_grad():
            p = sdpa_probabilities(*args, **kwargs)
        if p is None:
            return
        if self._attn_stack:
            call = self._next_call(self._attn_stack[-1])[0]  # the name its output hook will record
        else:
            call = self._call_name("scaled_dot_product_attention")[0]
        with torch.no_grad():
            for r in attention_stats(p):
                self._add_attention(call, r)

    def _norm_pre_hook(self, m: nn.Module, inp: Any) -> None:
        x = first_tensor(inp, floating=True)
        if x is None or self.replaying:
            return
        hit = self._producer.get(id(x))
        if hit is not None and hit[0]() is x:
            self.rec.rows[hit[1]]["feeds_norm"] = True

    def _attention_seen(self, t: torch.Tensor) -> bool:
        return _held(self._seen_attention, t)

    def _find_attention(self, call: str, out: Any) -> None:
        items = list(out.values()) if isinstance(out, dict) else (list(out.to_tuple()) if hasattr(out, "to_tuple") else
                                                                  list(out) if isinstance(out, (tuple, list)) else [])
        for t in items[1:]:
            if isinstance(t, torch.Tensor) and not self._attention_seen(t) and looks_like_attention(t):
                self._seen_attention[id(t)] = weakref.ref(t)
                for r in attention_stats(t):
                    self._add_attention(call, r)

    @staticmethod
    def _mha_pre_hook(m: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Ask torch's MultiheadAttention for per-head weights (its callers pass need_weights=False)."""
        args = list(args)
        if len(args) > 4:
            args[4] = True
        else:
            kwargs["need_weights"] = True
        if len(args) > 6:
            args[6] = False
        else:
            kwargs["average_attn_weights"] = False
        return tuple(args), kwargs

    # --- blocks and the residual stream ---

    def _block_pre_hook(self, name: str):
        def hook(m: nn.Module, args: tuple, kwargs: dict) -> None:
            if self.replaying:
                k = self._replay_calls.get(name, 0)
                self._replay_calls[name] = k + 1
                self.frames.append(_Frame(self._block_rows.get(name if k == 0 else f"{name}#{k + 1}", -1), set()))
                return
            x = first_tensor(args, floating=True)
            if x is None:
                x = first_tensor(kwargs.get("hidden_states", kwargs), floating=True)
            self._block_stack.append(name)
            if x is None:
                self.frames.append(_Frame(-1, set()))
                return
            call, k = self._call_name(name)
            idx = len(self.rec.blocks)
            self._block_rows[call] = idx
            self.rec.blocks.append(dict(block=call, module=name, group=self.block_names[name], type=type(m).__name__,
                                        index=idx, stream_rms_in=rms(x),
                                        token_spread_in=token_spread(x, self.seq_dim) if x.dim() == 3 else math.nan))
            others = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor) and t is not x and t.is_floating_point()
                      and t.dim() == x.dim()]
            self.frames.append(_Frame(idx, {id(x)}, [x], attention_seen=is_attention(m), other_input=bool(others)))

        return hook

    def _block_hook(self, name: str):
        def hook(m: nn.Module, inp: Any, out: Any) -> None:
            frame = self.frames.pop()
            y = first_tensor(out, floating=True)
            if self.replaying:
                # a reentrant checkpoint ran the block without autograd in the forward: the
                # gradient reaching it flows through this recomputation
                if frame.block in self._grad_from_replay and y is not None and y.requires_grad:
                    self._grad_from_replay.discard(frame.block)
                    row = self.rec.blocks[frame.block]
                    y.register_hook(lambda g, row=row: row.__setitem__("grad_rms", rms(g)))
                return
            self._block_stack.pop()
            if frame.block < 0 or y is None:
                return
            row = self.rec.blocks[frame.block]
            with torch.no_grad():
                st = output_stats(as_samples_by_units(y, m), self.generator)
                row.update(stream_rms=rms(y), sample_fraction=st["sample_fraction"], effective_rank=st["effective_rank"],
                           token_similarity=token_similarity(y, self.seq_dim) if y.dim() == 3 else math.nan,
                           token_spread=token_spread(y, self.seq_dim) if y.dim() == 3 else math.nan,
                           post_norm=_held(self._norm_outputs, y), grad_rms=math.nan)
                mine = [b for b in self.rec.branches if b["block_index"] == frame.block]
                # a branch that ends in a norm (Gemma 2's and GLM-4's sandwich norms, OLMo 2's
                # post-norm) has the RMS of its gain by design, and one without parameters (FNet's
                # Fourier mixing) the scale of its architecture: their ratios stay in the branches
                # table, and the block's ratios are those of the branches an init scales
                scaled = [b for b in mine if not (b["normalized"] or b["parameter_free"] or b.get("merged", False))]
                for role in ("attention", "mlp"):
                    rs = [b["ratio"] for b in scaled if b["role"] == role]
                    row[f"{role}_branch_ratio"] = max(rs) if rs else math.nan
                row["branch_ratio"] = max((b["ratio"] for b in scaled), default=math.nan)
                row["branches"] = len(mine)
            x = frame.keep[0] if frame.keep else None
            self._pending = None
            if not mine and x is not None and x.shape == y.shape and x is not y:
                # the block returned its branch: the caller may add it to the stream (a loop
                # `x = x + block(x)`); outer_add checks the next addition
                self._pending = (frame.block, weakref.ref(x), weakref.ref(y), frame.attention_seen, m)
            if y.requires_grad:
                def grad_hook(g: torch.Tensor, row: dict = row) -> None:
                    row["grad_rms"] = rms(g)
                y.register_hook(grad_hook)
            else:
                self._grad_from_replay.add(frame.block)

        return hook

    def outer_add(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """An addition outside every block: when it adds the last block's output to that block's
        input, the block is a residual branch of a caller's loop, measured like the others."""
        out = func(*args, **kwargs)
        p, self._pending = self._pending, None
        if p is None or len(args) < 2:
            return out
        idx, xr, yr, attn, m = p
        x, y = xr(), yr()
        a, b = args[0], args[1]
        if x is None or y is None or not isinstance(out, torch.Tensor) or {id(a), id(b)} != {id(x), id(y)}:
            return out
        row = self.rec.blocks[idx]
        s_, b_ = rms(x), rms(y)
        ratio = b_ / s_ if s_ > 0 else math.nan  # a zero stream is begun, not swamped (branch_added)
        role = "attention" if attn else "mlp"
        normalized = self._normalized(y)
        self.rec.branches.append(dict(block=row["block"], block_index=idx, role=role, module=row["module"],
                                      branch_rms=b_, stream_rms=s_, ratio=ratio, normalized=normalized, parameter_free=False))
        if normalized:  # its gain's scale: not the block's ratio (see _block_hook)
            ratio = math.nan
        with torch.no_grad():
            st = output_stats(as_samples_by_units(out, m), self.generator)
            row.update(stream_rms=rms(out), sample_fraction=st["sample_fraction"], effective_rank=st["effective_rank"],
                       token_similarity=token_similarity(out, self.seq_dim) if out.dim() == 3 else math.nan,
                       token_spread=token_spread(out, self.seq_dim) if out.dim() == 3 else math.nan,
                       branches=1, branch_ratio=ratio, **{f"{role}_branch_ratio": ratio})
        return out

    def producers_of(self, t: torch.Tensor) -> list[str]:
        """The recorded module calls a tensor came out of (several for a sum of branches)."""
        hit = self._producer.get(id(t))
        if hit is not None and hit[0]() is t:
            return [self.rec.rows[hit[1]]["name"]]
        comp = self._composite.get(id(t))
        return list(comp[1]) if comp is not None and comp[0]() is t else []

    def _normalized(self, t: torch.Tensor) -> bool:
        """Whether ``t`` came out of a normalization layer: straight from one, or as the last norm
        output times a scalar (HyperCLOVA X's ``residual_multiplier``)."""
        hit = self._producer.get(id(t))
        if hit is not None and hit[0]() is t:
            return self.rec.rows[hit[1]]["role"] == "norm"
        n = self._last_norm() if self._last_norm is not None else None
        if n is None or n.shape != t.shape:
            return False
        with torch.no_grad():
            a, b = n.detach().to(_reduce_dtype(n)).flatten(), t.detach().to(_reduce_dtype(t)).flatten()
            nn_ = float(a @ a)
            if not nn_ > 0:
                return False
            c, bb = float(a @ b) / nn_, float(b @ b)
            return c != 0 and bb > 0 and float((b - c * a).pow(2).sum()) <= SCALED_NORM_TOL ** 2 * bb

    def _parameter_free(self, names: list[str]) -> bool:
        """Whether the modules a branch came out of hold no parameters (FNet's Fourier mixing):
        no init sets its scale."""
        if not names:
            return False
        if self._modules is None:
            self._modules = dict(self.model.named_modules())
        mods = [self._modules.get(n.split("#")[0]) for n in names]  # call names: module[#k]
        return all(m is not None and next(m.parameters(), None) is None for m in mods)

    def _layer_rows_of(self, t: torch.Tensor) -> list[int]:
        """The rows of the weighted layers whose output ``t`` is: itself, a view or slice of one
        (an LSTM cell's ``gates.chunk(4)``), or a sum of such (``W x + U h``)."""
        for u in (t, t._base):
            if u is None:
                continue
            hit = self._producer.get(id(u))
            if hit is not None and hit[0]() is u and self.rec.rows[hit[1]]["role"] == "layer":
                return [hit[1]]
            pre = self._preact.get(id(u))
            if pre is not None and pre[0]() is u:
                return pre[1]
        return []

    def gate_arithmetic(self, fname: str, args: tuple, kwargs: dict, out: Any) -> None:
        """Follows what a functional gate reads: a sum of layer outputs is a pre-activation (a
        scaled one, GELU's ``c (x + 0.044715 x^3)``, is not); ``x * sigmoid(x)`` is a swish,
        whose saturation passes the gradient (x itself), so that read is withdrawn."""
        if len(args) < 2 and "other" not in kwargs:
            return
        a, b = args[0], (args[1] if len(args) > 1 else kwargs.get("other"))
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return
        if fname in _MULS:
            for g, x in ((a, b), (b, a)):
                k = self._gate_by_out.get(id(g))
                if k is not None and self._gate_reads[k][0]() is g and self._gate_reads[k][1]() is x:
                    self._gate_reads[k][2] = []  # withdrawn: a swish
            return
        if isinstance(out, torch.Tensor) and a.shape == b.shape:
            ra, rb = self._layer_rows_of(a), self._layer_rows_of(b)
            if ra and rb:
                self._preact[id(out)] = (weakref.ref(out), ra + rb)

    def gate_called(self, x: torch.Tensor, out: Any) -> None:
        """A ``torch.sigmoid`` / ``torch.tanh`` outside an activation module, on a weighted
        layer's output (or a sum, view or slice of such): the share of its input beyond
        |z| > 4 (:func:`~initscope.inspect.stats.gate_saturation`'s bar), kept for those layers."""
        if self._in_activation or not x.is_floating_point() or not x.numel() or not isinstance(out, torch.Tensor):
            return
        rows = self._layer_rows_of(x)
        if not rows:
            return
        with torch.no_grad():
            beyond = int((x.detach().abs() > GATE_SATURATION_Z).sum())
        # (a list: an output's id is reused once it is freed, a read is not)
        self._gate_by_out[id(out)] = len(self._gate_reads)
        self._gate_reads.append([weakref.ref(out), weakref.ref(x), rows, (beyond, x.numel())])

    def _apply_gate_reads(self) -> None:
        """Each layer's share over every entry of its output the gates read (an LSTM cell's four
        chunks together: the share ``nn.LSTM``'s first step gives)."""
        counts: dict[int, list[int]] = {}
        for _, _, rows, (beyond, n) in self._gate_reads:
            for i in rows:
                c = counts.setdefault(i, [0, 0])
                c[0] += beyond
                c[1] += n
        for i, (beyond, n) in counts.items():
            self.rec.rows[i].update(gate_saturation=beyond / n, gate_read="functional")
        self._gate_reads.clear()
        self._gate_by_out.clear()
        self._preact.clear()

    def _activation_pre_hook(self, m: nn.Module, inp: Any) -> None:
        self._in_activation += 1

    def _activation_exit(self, m: nn.Module, inp: Any, out: Any) -> None:
        self._in_activation -= 1

    def _inside_attention(self, frame: _Frame) -> bool:
        """An attention module below this block call is running: it adds its own branch to the
        stream before it returns (BLOOM's ``dropout_add`` inside ``BloomAttention``)."""
        block = self.rec.blocks[frame.block]["module"]
        return bool(self._attn_stack) and self._attn_stack[-1].startswith(block + ".")

    def _attention_done(self, mark: int) -> None:
        """An attention module's call ends, ``mark`` additions recorded when it began. One that made
        no residual addition itself (BERT's outer BertAttention adds its own branch inside) is the
        branch the next addition adds. Where every addition made inside it is provisional
        (:meth:`settle_norms`), their settling decides: RWKV's time mixing on its normed input is
        dropped (so none was its own), BLOOM's own addition onto a residual taken after the norm
        (``apply_residual_connection_post_layernorm``) is kept."""
        frame = self.frames[-1]
        made = set(range(mark, len(self.rec.branches)))
        if not made:
            frame.attention_since_add = True
        elif made <= {i for i, _ in frame.provisional}:
            frame.pending_attention = made

    def settle_norms(self, frame: _Frame, stream: torch.Tensor) -> None:
        """A residual addition onto what a provisional norm output normalized (:class:`_Frame`
        ``normed``; the same tensor, a view of it or it times a gain): the stream went on past the
        norm, so the block is pre-norm and that norm began a branch. What was read as stream from it
        is not, and the additions recorded on it (RWKV's token shift, ``x * mix + shifted * (1 - mix)``,
        on its normed input) were inside a branch: dropped."""
        o = frame.origin.get(id(stream), id(stream))
        gone = {r for r, src in frame.normed.items() if src == o}
        if not gone:
            return
        dropped = sorted((i for i, r in frame.provisional if r in gone), reverse=True)
        for i in dropped:
            del self.rec.branches[i]
        firsts = [frame.before_provisional.pop(r) for r in gone if r in frame.before_provisional]
        if firsts:
            frame.rows_at_add, frame.attention_since_add = min(firsts)
        if frame.pending_attention and frame.pending_attention <= set(dropped):
            frame.attention_since_add = True  # an attention whose additions were all inside its branch
        if dropped:
            frame.pending_attention = set()
        for i in [i for i, r in frame.root.items() if r in gone]:
            frame.stream.discard(i)
            del frame.root[i]
        for r in gone:
            del frame.normed[r]
        frame.provisional = [(i - sum(d < i for d in dropped), r) for i, r in frame.provisional if r not in gone]

    def branch_added(self, frame: _Frame, stream: torch.Tensor, branch: torch.Tensor) -> None:
        producers = self.producers_of(branch)
        module = ",".join(producers)
        s, b = rms(stream), rms(branch)
        self.rec.branches.append(dict(
            block=self.rec.blocks[frame.block]["block"], block_index=frame.block,
            role=("attention" if frame.attention_since_add or self._inside_attention(frame)
                  else "mlp"),
            module=module,
            # a stream of exact zeros (DETR's decoder queries start at 0) is begun by the branch,
            # not swamped: no ratio
            branch_rms=b, stream_rms=s, ratio=b / s if s > 0 else math.nan,
            normalized=self._normalized(branch), parameter_free=self._parameter_free(producers),
            merged=frame.other_input and derives_from(branch, [t for t in frame.keep if id(t) in frame.stream]) is False,
            parallel=self._ran_before_last_add(frame, branch)))
        frame.attention_since_add = False
        frame.rows_at_add = len(self.rec.rows)

    def _ran_before_last_add(self, frame: _Frame, branch: torch.Tensor) -> bool:
        """Whether ``branch`` came out of a module call recorded before this block call's previous
        residual addition: it cannot have read what that addition made. Cohere's and StableLM's
        parallel residual (``residual + attn_out + mlp_out``) add an MLP that ran on the same normed
        input as the attention, one addition after the attention's; Cohere 2 MoE's MLP is a mixture
        of experts, whose output no recorded module makes (``_moe_out``: read when it came out)."""
        if frame.rows_at_add < 0:
            return False
        hit = self._producer.get(id(branch))
        if hit is not None and hit[0]() is branch:
            return hit[1] < frame.rows_at_add
        moe = self._moe_out.get(id(branch))
        return bool(moe is not None and moe[0]() is branch and moe[1] <= frame.rows_at_add)

    def _moe_hook(self, m: nn.Module, inp: Any, out: Any) -> None:
        t = first_tensor(out, floating=True)
        if t is not None and not self.replaying:
            self._moe_out[id(t)] = (weakref.ref(t), len(self.rec.rows))

    # --- context ---

    def __enter__(self) -> Recording:
        for name, mod in self.model.named_modules():
            if not name or in_parametrization(name):
                continue
            if name in self.block_names:
                self._handles.append(mod.register_forward_pre_hook(self._block_pre_hook(name), with_kwargs=True))
                self._handles.append(mod.register_forward_hook(self._block_hook(name)))
                if is_attention(mod):  # a branch the caller adds (lucidrains): its softmax is its attention
                    self._handles.append(mod.register_forward_pre_hook(self._attention_pre_hook(name, mark=False)))
                    self._handles.append(mod.register_forward_hook(self._attention_exit))
                continue
            if is_recorded(name, mod):
                self._handles.append(mod.register_forward_hook(self._module_hook(name)))
            if name in self._moe_modules:
                self._handles.append(mod.register_forward_hook(self._moe_hook))
            if is_activation(mod):  # its own sigmoid / tanh is its row's, not a gate's
                self._handles.append(mod.register_forward_pre_hook(self._activation_pre_hook))
                self._handles.append(mod.register_forward_hook(self._activation_exit))
            if is_norm(mod):
                self._handles.append(mod.register_forward_pre_hook(self._norm_pre_hook))
            if is_attention(mod):
                self._handles.append(mod.register_forward_pre_hook(self._attention_pre_hook(name)))
                self._handles.append(mod.register_forward_hook(self._attention_exit))
            if isinstance(mod, nn.MultiheadAttention):
                self._handles.append(mod.register_forward_pre_hook(self._mha_pre_hook, with_kwargs=True))
        # watched in every model: a flat one has no residual stream to follow, but its attention
        # may still be an F.scaled_dot_product_attention call no hook sees
        self._mode = _AddWatcher(self)
        self._mode.__enter__()
        return self.rec

    def stop_watching(self) -> None:
        """Leave the torch function mode (after the forward pass; the backward needs none)."""
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None
            self._apply_gate_reads()
        self.replaying = True

    def drop_non_blocks(self) -> None:
        """A candidate in which the forward made no residual addition is no block (a looped plain
        layer is judged as a plain stack): its rows leave the blocks table (the rest renumbered),
        and the layers in it belong to the innermost block around them that stays one, or to
        none, as they would have been recorded without it. One with a residual addition is a
        block, called once (a one-layer transformer) or in a loop (ALBERT)."""
        added = {self.rec.blocks[b["block_index"]]["module"] for b in self.rec.branches}
        drop = {name for name, _ in self.candidates if name not in added}
        if not drop:
            return
        renumber: dict[int, int] = {}
        kept: list[dict[str, Any]] = []
        for i, row in enumerate(self.rec.blocks):
            if row["module"] not in drop:
                renumber[i] = len(kept)
                row["index"] = len(kept)
                kept.append(row)
        self.rec.blocks = kept
        self.rec.branches = [dict(b, block_index=renumber[b["block_index"]]) for b in self.rec.branches if b["block_index"] in renumber]
        for row in self.rec.rows + self.rec.attention:
            if row.get("block") in drop:
                # the innermost enclosing block that stays one
                row["block"] = next((b for b in reversed(self._paths.get(id(row), ())) if b not in drop), "")
        self.candidates = [c for c in self.candidates if c[0] not in drop]

    def __exit__(self, *exc: Any) -> None:
        self.stop_watching()
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.drop_non_blocks()
        self.frames.clear()
        self._producer.clear()
        self._moe_out.clear()
        self._composite.clear()


@contextmanager
def no_fastpath() -> Iterator[None]:
    """``nn.TransformerEncoderLayer`` / ``nn.MultiheadAttention`` have a fused path that skips
    submodule hooks; it is switched off while recording."""
    mha = getattr(torch.backends, "mha", None)
    old = mha.get_fastpath_enabled() if mha is not None and hasattr(mha, "get_fastpath_enabled") else None
    if old is not None:
        mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        if old is not None:
            mha.set_fastpath_enabled(old)


def would_switch_attention(model: nn.Module) -> bool:
    """Whether :func:`eager_attention` would load the eager implementation into ``model``."""
    cfg = getattr(model, "config", None)
    old = getattr(cfg, "_attn_implementation", None) if cfg is not None else None
    return old not in (None, "eager") and callable(getattr(model, "set_attn_implementation", None))


@contextmanager
def eager_attention(model: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """``transformers`` models compute attention with SDPA kernels that return no weights; the
    measurement loads the eager implementation (same maths, weights returned) and restores the
    model's own afterwards. Yields whether it switched (never when not ``enabled``)."""
    cfg = getattr(model, "config", None)
    setter = getattr(model, "set_attn_implementation", None)
    old = getattr(cfg, "_attn_implementation", None) if cfg is not None else None
    switched = False
    if enabled and would_switch_attention(model):
        try:
            setter("eager")
        except Exception:  # noqa: BLE001 - a model that cannot go eager keeps its kernel (no weights)
            pass
        if cfg._attn_implementation != "eager":
            # models that refuse the switch with a log line, not an error (Falcon: "does not
            # support setting its attention implementation dynamically") read the field on
            # every call
            try:
                cfg._attn_implementation = "eager"
            except Exception:  # noqa: BLE001
                pass
        switched = cfg._attn_implementation == "eager"
    try:
        yield switched
    finally:
        if switched:
            try:
                setter(old)
            except Exception:  # noqa: BLE001
                pass
            if cfg._attn_implementation != old:
                cfg._attn_implementation = old
