"""The inspection: one recorded forward + backward pass of a model at init, the loss its task
defines, then the verdicts. ``inspect(model, batch)`` for a model in memory,
``inspect_model(factory, ...)`` for a factory (the command line's form)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from initscope.errors import InitscopeError, unknown
from initscope.inspect.load import Batch, as_batch, call_factory, call_model, draw_batch, model_loss, output_tensor, token_table
from initscope.inspect.record import Recorder, eager_attention, no_fastpath, would_switch_attention
from initscope.inspect.reference import (block_change_ratio, library_block_change_ratio, library_first_attention_scales,
                                         library_norm_branch_scales, norm_branch_scales)
from initscope.inspect.stats import entry_std, sequence_sample_fraction, weight_stats
from initscope.inspect.structure import (fused_experts, in_parametrization, is_embedding, is_leaf, is_pass_through, is_recorded, mixes_locally,
                                         short_conv_mixers, weight_of)
from initscope.repro import derive_seed, generator

Task = Literal["auto", "classification", "lm", "regression", "none"]
TASKS = ("auto", "classification", "lm", "regression", "none")


@dataclass
class Output:
    """What the model's output says at step 0: its scale, and the loss against chance."""

    task: str  # classification | lm | regression | none
    classes: int | None
    logit_std: float
    loss: float
    chance_loss: float  # log(classes) for classification and LM; NaN otherwise
    loss_source: str  # "the model's own loss", "cross-entropy with random labels", ...
    # a token model's [batch, positions, logits]: the share of the logits' variance that changes
    # with the sequence at a fixed position (:func:`stats.sequence_sample_fraction`); NaN otherwise
    sequence_fraction: float = math.nan
    # the largest std among the tables of the token table's width (:func:`token_tables`) over the
    # token table's: how far a table added to the tokens outweighs them; NaN without such tables
    table_ratio: float = math.nan
    # the largest std among the bare position tensors of the token table's width that no module
    # looks up (a sinusoid buffer added by hand, ``pe``; :func:`token_tables`' loose ones), which the
    # recording has no row for; NaN without one
    position_std: float = math.nan
    # a causal LM's first attention branch RMS / the token embeddings it is added to, with the
    # modules the first block reads at the library's own init (:mod:`initscope.inspect.reference`):
    # the yardstick its own ratio is read against; NaN for a model the library does not initialize
    first_attention_library: float = math.nan
    # a first block that is parallel with one addition (verdicts.parallel_blocks; GPT-NeoX, Phi,
    # Falcon): RMS of what it adds to its stream / RMS of that stream (:func:`reference.block_change_ratio`),
    # as the model is and with the modules it reads at the library's own init; NaN otherwise, and
    # the library's NaN where there is none
    first_block_change: float = math.nan
    first_block_change_library: float = math.nan
    # a causal LM whose first attention branch ends in a norm (Gemma 2 and 3, HyperCLOVA X, OLMo 2):
    # the token embeddings entering the first block and that branch before its norm, each as the
    # model is over the same at the library's own init (:func:`reference.norm_branch_scales`);
    # for any other causal LM whose first attention is read against its library init, the token
    # embeddings alone so (from :func:`reference.library_first_attention_scales`); NaN otherwise
    embeddings_library: float = math.nan
    norm_branch_library: float = math.nan
    # an LM over the overconfidence bar: its next-token loss with each position's own token's logit
    # left out (:func:`loss_without_copying`); NaN otherwise
    loss_without_copy: float = math.nan
    # the soft cap the model puts on its logits, c x tanh(z / c) (Gemma 2's final_logit_softcapping,
    # RecurrentGemma's logits_soft_cap; :func:`logit_cap`); NaN where it has none
    logit_cap: float = math.nan

    def as_dict(self) -> dict[str, Any]:
        return dict(task=self.task, classes=self.classes, logit_std=self.logit_std, loss=self.loss,
                    chance_loss=self.chance_loss, loss_source=self.loss_source, sequence_fraction=self.sequence_fraction,
                    table_ratio=self.table_ratio, position_std=self.position_std, first_attention_library=self.first_attention_library,
                    first_block_change=self.first_block_change, first_block_change_library=self.first_block_change_library,
                    embeddings_library=self.embeddings_library, norm_branch_library=self.norm_branch_library,
                    loss_without_copy=self.loss_without_copy, logit_cap=self.logit_cap)


# AdamW's default eps (torch.optim.AdamW, Adam): a gradient entry far below it gets a step of
# lr * g / eps instead of ~lr, so a parameter whose gradients sit under it barely moves.
ADAM_EPS = 1e-8
# The learning rate the optimizer-facing checks assume: AdamW's default, which moves every
# entry by about this much per step whatever its gradient's size.
ADAM_LR = 1e-3


@dataclass
class Gradients:
    """What the first optimizer step can do with the step-0 gradients: how many of them an
    Adam-family optimizer would damp, and which embeddings are shared with the output head."""

    by_parameter: list[tuple[str, int, int]] = field(default_factory=list)  # (name, nonzero entries, of them below ADAM_EPS), model order
    tied_embeddings: list[tuple[str, float]] = field(default_factory=list)  # (embedding module, weight RMS) also read by a head
    batch: int = 0  # samples in the batch they were measured on (the share moves with it below ~16)
    # how fast AdamW can shrink the loss by shrinking weights: sum over parameters of
    # max(0, <p, dL/dp>) x min(1, ADAM_LR / RMS(p)), in nats per step (see :func:`gradient_facts`)
    shrink_rate: float = math.nan
    matrices: list[str] = field(default_factory=list)  # the parameters of by_parameter with 2+ dimensions (weights, tables)
    # below_adam_eps again after one Adam step (:func:`one_adam_step`), measured only where the share
    # is over verdicts.GRAD_BELOW_EPS_MAX and near-zero gates (:func:`gated_parameters`) stand in the way
    below_adam_eps_after_step: float = math.nan
    # a token whose embedding row is exactly zero (a padding index the init zeroed), and the
    # largest |gradient| the batch's first sequence, made to start with it, contributes at step 0:
    # at the token table's output, or, where a 0/0 leaves a NaN there, over the parameters (:func:`_probe_max`;
    # inf: a gradient or the loss is not finite; -1 / NaN: not probed)
    zero_row_token: int = -1
    zero_row_grad_max: float = math.nan
    # the same probe after one Adam step on the batch's own gradients (:func:`one_adam_step`): a zero
    # bias that takes a gradient moves, and the state the sequence starts from is zero no more
    # (GLM-4 x2 learned so; Dory's stays zero), or the step makes an overflow (Kolibri1 range-x8)
    zero_row_grad_max_after_step: float = math.nan

    @property
    def nonzero(self) -> int:
        """Nonzero gradient entries (exact zeros, from unused embedding rows or zeroed branches, are not counted)."""
        return sum(k for _, k, _ in self.by_parameter)

    @property
    def below_adam_eps(self) -> float:
        """Share of the nonzero entries with |g| < ADAM_EPS (NaN: no backward)."""
        n = self.nonzero
        return sum(b for _, _, b in self.by_parameter) / n if n else math.nan

    def as_dict(self) -> dict[str, Any]:
        return dict(below_adam_eps=self.below_adam_eps, below_adam_eps_after_step=self.below_adam_eps_after_step,
                    nonzero=self.nonzero, batch=self.batch, shrink_rate=self.shrink_rate,
                    zero_row_token=self.zero_row_token, zero_row_grad_max=self.zero_row_grad_max,
                    # JSON has no inf (--json writes it as null, as NaN): said apart
                    zero_row_overflows=None if self.zero_row_token < 0 else self.zero_row_grad_max == math.inf,
                    zero_row_grad_max_after_step=self.zero_row_grad_max_after_step,
                    zero_row_overflows_after_step=(None if self.zero_row_token < 0
                                                   else self.zero_row_grad_max_after_step == math.inf),
                    tied_embeddings=[{"module": n, "weight_rms": r} for n, r in self.tied_embeddings],
                    by_parameter=[{"parameter": n, "nonzero": k, "below_adam_eps": b} for n, k, b in self.by_parameter])


def gated_parameters(model: nn.Module) -> set[int]:
    """ids of the parameters behind a near-zero gate (``verdicts.GATE_SCALE_MAX``): every parameter
    of the module that owns the gate, or of its parent when the gate's owner is a leaf (timm's
    LayerScale beside the attention it scales); the gate itself stays counted."""
    from initscope.inspect.structure import is_norm
    from initscope.inspect.verdicts import GATE_SCALE_MAX

    parent: dict[int, nn.Module] = {}
    for m in model.modules():
        for c in m.children():
            parent[id(c)] = m
    gated: set[int] = set()
    for m in model.modules():
        if is_norm(m):
            continue
        for pname, p in m.named_parameters(recurse=False):
            if p.dim() != 1 or "bias" in pname or not p.is_floating_point() or not p.numel():
                continue
            if float(p.detach().abs().max()) <= GATE_SCALE_MAX:
                scope = m if any(True for _ in m.children()) else parent.get(id(m), m)
                gated |= {id(q) for q in scope.parameters() if q is not p}
    return gated


def gradient_facts(model: nn.Module, batch: int = 0, lookups: int = 0) -> Gradients:
    """:class:`Gradients` from the ``.grad`` the step-0 backward left on ``model``'s parameters
    (the weights behind a near-zero gate are left out: :func:`gated_parameters`), measured on a
    batch of ``batch`` samples.

    ``shrink_rate``: <p, dL/dp> is the loss's derivative along p's own scale (d L / d log s for
    p -> s p); an AdamW step moves each entry by ~ADAM_LR, so it can shrink p's scale by a share
    ADAM_LR / RMS(p) per step (all of it at most). Summed over the parameters whose shrinking
    lowers the loss, it bounds how fast training can undo an output scale that is too large:
    weights a norm follows have <p, dL/dp> = 0 and add nothing."""
    rows = []
    matrices: list[str] = []
    rate = 0.0
    gated = gated_parameters(model)
    for name, p in model.named_parameters():  # a tied weight once
        if p.grad is None or id(p) in gated:
            continue
        g = _dense(p.grad.detach())
        nonzero = int(torch.count_nonzero(g))
        # entries under eps, less the exact zeros among them
        rows.append((name, nonzero, int(torch.count_nonzero(g.abs() < ADAM_EPS)) - (g.numel() - nonzero)))
        if p.dim() >= 2:
            matrices.append(name)
        w = p.detach()
        along = float(torch.dot(w.flatten().float(), g.flatten().float()))
        rms = float(torch.linalg.vector_norm(w.float())) / math.sqrt(max(w.numel(), 1))
        if math.isfinite(along) and along > 0 and rms > 0:
            rate += along * min(1.0, ADAM_LR / rms)
    return Gradients(rows, tied_embeddings(model, lookups), batch, rate if rows else math.nan, matrices)


def _dense(g: torch.Tensor) -> torch.Tensor:
    """A gradient as a strided tensor (``nn.Embedding(sparse=True)`` leaves a sparse one)."""
    return g.to_dense() if g.layout != torch.strided else g


@contextmanager
def adam_steps(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Inside: a function that moves every parameter with a nonzero gradient by Adam's first
    step (lr ``ADAM_LR``, lr x g / (|g| + eps), no weight decay) and clears the gradients for the
    next pass; after: every parameter's value and gradient put back (the next check starts from
    step 0's)."""
    saved = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]
    grads = [(p, p.grad) for p in model.parameters()]

    def step() -> None:
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    g = _dense(p.grad)
                    if bool(g.any()):
                        p.addcdiv_(g, g.abs().add_(ADAM_EPS), value=-ADAM_LR)
        model.zero_grad(set_to_none=True)

    try:
        yield step
    finally:
        with torch.no_grad():
            for p, old in saved:
                p.copy_(old)
        for p, g in grads:
            p.grad = g


@contextmanager
def one_adam_step(model: nn.Module) -> Iterator[None]:
    """Inside: one Adam step taken (:func:`adam_steps`), gradients cleared; after: values put back."""
    with adam_steps(model) as step:
        step()
        yield


# zeros can hold each other in chains (Fixup: a zero head keeps the zero last convolution's
# gradient at 0, which keeps the scalar biases before it at 0, for one step each)
STUCK_PASSES = 8


def stuck_at_zero(model: nn.Module, rerun: Callable[[], Any]) -> list[str]:
    """Parameters (weights, or a one-entry gate) that are exactly zero and take exactly zero
    gradient at step 0, and still none after Adam steps on every parameter that has one
    (``rerun`` repeats the forward and backward), pass after pass until a pass frees none of them
    (at most ``STUCK_PASSES``): each is zero because another is (a gate tanh(alpha) at alpha = 0
    on a branch whose last layer is 0, LoRA with A and B at 0), so none ever moves. The passes
    run only when step 0 leaves such candidates. Biases are left out (one before a BatchNorm
    takes no gradient by design)."""

    def no_gradient(p: torch.Tensor) -> bool:
        return p.grad is None or not bool(_dense(p.grad).any())

    # in the graph (a gradient, even of zeros) at step 0: a parameter outside it is unused, not stuck
    cand = {n for n, p in model.named_parameters()
            if p.requires_grad and p.grad is not None and p.numel() and (p.dim() >= 2 or p.numel() == 1)
            and _all_zero(p) and no_gradient(p)}
    if not cand or not any(p.grad is not None and bool(_dense(p.grad).any()) for p in model.parameters()):
        return []
    with adam_steps(model) as step:
        for _ in range(STUCK_PASSES):
            step()
            try:
                rerun()
            except Exception:  # noqa: BLE001 - a model whose second pass fails is judged on step 0 alone
                return []
            left = {n for n, p in model.named_parameters() if n in cand and not bool(p.detach().any()) and no_gradient(p)}
            if left == cand:
                break
            cand = left
    order = [n for n, _ in model.named_parameters()]
    return sorted(cand, key=order.index)


def _all_zero(p: torch.Tensor) -> bool:
    """Whether every entry of ``p`` is zero; a nonzero first entry answers without a pass (a pass
    over GPT-2's 81 M parameters cost 0.07 s)."""
    t = p.detach()
    return not bool(t[(0,) * t.dim()]) and not bool(t.any())


def _eps_share_after_step(model: nn.Module, grads: Gradients, rerun: Callable[[], Any], facts: Callable[[], Gradients]) -> float:
    """The share of gradients below eps after one Adam step, where the step-0 share is over the
    bar and near-zero gates exist (NaN otherwise: not measured)."""
    from initscope.inspect.verdicts import GRAD_BELOW_EPS_MAX

    share = grads.below_adam_eps
    if not (share == share and share > GRAD_BELOW_EPS_MAX) or not gated_parameters(model):
        return math.nan
    with one_adam_step(model):
        try:
            rerun()
        except Exception:  # noqa: BLE001 - as in stuck_at_zero
            return math.nan
        return facts().below_adam_eps


def zero_token_rows(model: nn.Module) -> list[int]:
    """The rows of the model's token table (:func:`load.token_table`) that are exactly zero, where
    some row is not (a table all zero is another finding's)."""
    table = token_table(model)
    w = weight_of(table) if table is not None else None
    if w is None or w.dim() != 2:
        return []
    zero = (w.detach() == 0).all(dim=1)
    return [] if bool(zero.all()) else [int(i) for i in zero.nonzero().flatten()]


def _starting_with(b: Batch, token: int) -> Batch | None:
    """``b`` with its first sequence's first token id set to ``token``; None where the batch holds
    no ``[batch, positions]`` token ids."""
    ids = b.kwargs.get("input_ids", b.main)
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.dtype == torch.bool or ids.dim() != 2:
        return None
    probe = ids.clone()
    probe[0, 0] = token
    if "input_ids" in b.kwargs and b.kwargs["input_ids"] is ids:
        return b.with_kwargs(input_ids=probe)
    return Batch(tuple(probe if a is ids else a for a in b.args), dict(b.kwargs), b.source)


def _first_sequence(b: Batch) -> Batch:
    """``b`` cut to its first sample: every tensor whose first dimension is the batch's."""
    n = b.size

    def cut(t: Any) -> Any:
        return t[:1] if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[0] == n else t

    return Batch(tuple(cut(a) for a in b.args), {k: cut(v) for k, v in b.kwargs.items()}, b.source)


@contextmanager
def _output_gradient_scaled(model: nn.Module, factor: float) -> Iterator[None]:
    """The gradient reaching the model's output tensor multiplied by ``factor`` (a hook on the
    tensor its forward returns, which its own loss, if any, was computed from)."""
    def hook(_module: nn.Module, _args: Any, out: Any) -> None:
        t = output_tensor(out)
        if t is not None and t.requires_grad:
            t.register_hook(lambda g: g * factor)

    handle = model.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _plain_step0(model: nn.Module, b: Batch, task: Task) -> torch.Tensor | None:
    """The step-0 loss on ``b``, without the recorder (whose statistics cost more than the pass): a
    ``transformers`` LM's own loss given labels, as :func:`_record` computes it (not where that loss
    copies its input, :func:`own_loss_copies`), else the next-token loss of a ``[batch, positions,
    vocabulary]`` output read against integer input ids of ``[batch, positions]``; None for any
    other model or task."""
    known = hf_task(model)
    labels = _own_lm_labels(b)
    if task not in ("auto", "lm"):
        return None
    with at_init_mode(model), no_fastpath(), _quiet_transformers():
        cb = b
        if known is not None and known[0] == "lm" and labels is not None:
            cb = b.with_kwargs(labels=labels)
        if "use_cache" not in cb.kwargs and _forward_names(model, "use_cache"):
            cb = cb.with_kwargs(use_cache=False)
        got = call_model(model, cb)
        out = output_tensor(got)
        own = model_loss(got) if cb is not b else None
        if own is not None and out is not None and not own_loss_copies(own, out, cb.kwargs.get("labels"), cb.kwargs.get("input_ids")):
            return own
        ids = _int_ids(b.kwargs.get("input_ids", b.main))
        if out is None or ids is None or out.dim() != 3 or tuple(out.shape[:2]) != tuple(ids.shape):
            return None
        return standard_loss("lm", out, ids, generator(0, "labels"))


def _largest(grads: list[torch.Tensor]) -> float:
    """The largest |entry| of ``grads``: inf where one is not finite, NaN where none is inf and
    one is NaN (a 0/0, not an overflow)."""
    tops = [_dense(g.detach()).abs().amax().float() for g in grads if g.numel()]
    if not tops:
        return 0.0
    top = torch.stack(tops)
    if bool(torch.isinf(top).any()):
        return math.inf
    return float(top.max()) if bool(torch.isfinite(top).all()) else math.nan


def _probe_max(model: nn.Module, one: Batch, batch_size: int, task: Task) -> float:
    """The largest |gradient| the one sequence ``one`` contributes at step 0 to a batch of
    ``batch_size`` (:func:`zero_row_probe`), read at the output of the model's token table, where
    only activations' gradients are computed (no weights': a third of a backward's cost): every
    gradient the zero state's norms blow up passes there on its way to the table. An overflow
    there (inf) is the reading even where the weights' gradients are still finite because the
    table drops its padding row's gradient: every real model trained so broke, 11 of 12 by
    diverging once training had grown the overflow one norm further (``benchmarks/RESULTS.md``,
    stop 64: LLaMA and Qwen3 at 24 blocks, HyperCLOVA X x2.5; MiniMax x5 learned nothing; a toy
    of sphere projections at the same edge trained). A NaN there with no inf (a 0/0, as a root with no epsilon gives at zero)
    is no overflow: every parameter's gradient is read instead, as training meets them. So too
    where the table's module is not called (a lookup done by hand). inf: a gradient or the loss
    is not finite; NaN: no LM loss or the pass failed."""
    table = token_table(model)
    outs: list[torch.Tensor] = []

    def keep(_m: nn.Module, _a: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and out.requires_grad:
            outs.append(out)

    handle = table.register_forward_hook(keep) if table is not None else None
    model.zero_grad(set_to_none=True)
    try:
        with _output_gradient_scaled(model, 1.0 / batch_size):
            loss = _plain_step0(model, one, task)
            if loss is None:
                return math.nan
            if not bool(torch.isfinite(loss.detach()).all()):
                return math.inf
            if not loss.requires_grad:
                return 0.0
            if outs:
                at_table = _largest(list(torch.autograd.grad(loss, outs, allow_unused=True, materialize_grads=True,
                                                             retain_graph=True)))
                if at_table == at_table:
                    return at_table
            loss.backward()
    except Exception:  # noqa: BLE001 - as in stuck_at_zero: a probe that fails reads nothing
        return math.nan
    finally:
        if handle is not None:
            handle.remove()
    top = _largest([p.grad for p in model.parameters() if p.grad is not None])
    return math.inf if top != top else top  # a NaN among the weights' gradients breaks training as an inf does


def zero_row_probe(model: nn.Module, b: Batch, task: Task = "auto") -> tuple[int, float, float]:
    """(token, largest |gradient|, the same after one Adam step) of a step-0 backward on ``b`` with its
    first sequence made to start with the first token whose embedding row is exactly zero
    (:func:`zero_token_rows`): the state such a sequence starts from is zero, and where the model
    normalizes that zero state (an RMS or L2 norm with its epsilon inside the root) each norm
    multiplies the gradient by 1/sqrt(eps). Only that sequence is run (:func:`_plain_step0`: an
    LM's loss) and only its activations' gradients are computed (:func:`_probe_max`: the largest
    at the token table's output; the parameters' only where a 0/0 leaves a NaN there), its output's
    gradient scaled by 1 / batch size: in a model that treats each
    sequence apart, every value its backward passes is the one the whole batch's backward passes
    along it, at 1 / batch of a pass's cost. The probe runs again after one Adam step on the
    gradients the batch left (:func:`one_adam_step`), where training first meets such a sequence:
    zero biases move, and the state may be zero no more; or the step's moves make the overflow
    (Kolibri1 at initializer_range x8). inf: a gradient or the loss is not finite; NaN: not run;
    (-1, NaN, NaN): no zero row, no token ids, not an LM, or the pass failed. Expects the batch's
    step-0 gradients on the parameters; clears them."""
    rows = zero_token_rows(model)
    probe = _starting_with(b, rows[0]) if rows else None
    if probe is None:
        return -1, math.nan, math.nan
    one = _first_sequence(probe)
    batch_grads = [(p, p.grad) for p in model.parameters()]
    first = _probe_max(model, one, b.size, task)
    after = math.nan
    if first == first:
        for p, g in batch_grads:
            p.grad = g
        with one_adam_step(model):
            after = _probe_max(model, one, b.size, task)
    model.zero_grad(set_to_none=True)
    return (-1, math.nan, math.nan) if first != first else (rows[0], first, after)


def linear_weights(model: nn.Module) -> set[int]:
    """The ids of the weights ``nn.Linear`` modules hold (a head tied to a table holds the table's)."""
    return {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}


def token_tables(model: nn.Module) -> tuple[tuple[str, torch.Tensor, float], list[tuple[str, torch.Tensor, float]]] | None:
    """The token table and the tables of its width that may be added to it: every embedding
    table's weight (more than one row, nonzero), and every bare ``[positions, width]`` parameter
    or buffer (``[positions, 1, width]`` too) named as a position table (pos, pos_embed,
    position_embeddings, pe) or held under a generic name (weight, weights) by a module so named
    (XGLM's computed sinusoid, ``embed_positions.weights``), each with its std. The
    token table is taken as the narrowest one that learns (the one a table added to it drowns);
    None where there is none."""
    from initscope.inspect.structure import is_embedding

    tables, seen = [], set()
    for n, m in model.named_modules():
        w = getattr(m, "weight", None)
        if is_embedding(m) and isinstance(w, torch.Tensor) and w.dim() == 2 and w.shape[0] > 1 and id(w) not in seen:
            seen.add(id(w))
            tables.append((n, w, float(w.detach().float().std())))
    tables = [t for t in tables if t[2] > 0]
    trainable = [t for t in tables if t[1].requires_grad]
    if not trainable:
        return None
    token = min(trainable, key=lambda t: t[2])
    seen |= linear_weights(model)
    width = token[1].shape[1]
    return token, [t for t in tables if t[1] is not token[1] and t[1].shape[1] == width] + _loose_position_tensors(model, width, seen)


def _loose_position_tensors(model: nn.Module, width: int, seen: set[int]) -> list[tuple[str, torch.Tensor, float]]:
    """Every bare ``[positions, width]`` parameter or buffer (``[positions, 1, width]`` too) not in
    ``seen`` (embedding and linear weights), named as a position table (pos, pos_embed,
    position_embeddings, pe) or held under a generic name (weight, weights) by a module so named, with
    its std."""
    # other bare matrices of that width are layers' weights (MultiheadAttention's in_proj_weight);
    # a buffer so named (or ``pe``, the sinusoidal table of torch's Transformer tutorial) does not learn
    def position_named(n: str) -> bool:
        *_, parent, last = ["", *n.lower().split(".")]
        # a module of positions holding its table under a generic name (XGLM's sinusoid, computed into
        # ``embed_positions.weights``, a buffer: stop 58, set 57)
        return "pos" in last or last == "pe" or (last in ("weight", "weights") and "pos" in parent)

    return [(n, p, float(p.detach().float().std())) for n, p in [*model.named_parameters(), *model.named_buffers()]
            if id(p) not in seen and (p.requires_grad or not isinstance(p, nn.Parameter)) and p.is_floating_point()
            and p.dim() in (2, 3) and position_named(n) and p.shape[-1] == width and len([d for d in p.shape if d > 1]) == 2]


def tied_embeddings(model: nn.Module, lookups: int = 0) -> list[tuple[str, float]]:
    """Embedding tables whose weight is also the weight of a Linear (an output head reading
    the same matrix: GPT-2's wte and lm_head), with the weight's RMS. With ``lookups`` (how many
    token ids the batch held) also a table read by a functional head (``F.linear(h, wte.weight)``,
    ``h @ wte.weight.T``): the step-0 gradient reached every one of its rows though the batch's
    ids could look up fewer."""
    from initscope.inspect.structure import is_embedding

    linear = linear_weights(model)
    out = []
    seen: set[int] = set()  # BART's one table is its encoder's, its decoder's and the shared one
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if not (is_embedding(m) and isinstance(w, torch.Tensor) and w.numel()) or id(w) in seen:
            continue
        seen.add(id(w))
        g = _dense(w.grad) if w.grad is not None else None
        read_whole = (lookups > 0 and g is not None and w.dim() == 2 and w.shape[0] > lookups
                      and bool((g.detach() != 0).any(dim=1).all()))
        if id(w) in linear or read_whole:
            out.append((name, float(w.detach().float().square().mean().sqrt())))
    return out


@dataclass
class InspectResult:
    layers: pd.DataFrame  # one row per module call
    blocks: pd.DataFrame  # one row per block call: the residual stream and its branches
    branches: pd.DataFrame  # one row per addition of a branch to the stream
    attention: pd.DataFrame  # one row per attention call and head
    output: Output
    verdict: str
    issues: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how things were measured (eager attention, inputs, ...)
    findings: list[Any] = field(default_factory=list)  # verdicts.Finding, structured (defects and warnings)
    warnings: list[str] = field(default_factory=list)  # findings not predicted to stop training
    gradients: Gradients | None = None  # the step-0 gradients as an optimizer sees them
    device: str = "cpu"  # where the model ran
    stuck: list[str] = field(default_factory=list)  # parameters stuck at zero (:func:`stuck_at_zero`)

    LAYER_COLUMNS = ("name", "type", "role", "block", "sample_variance", "mean_spread", "sample_fraction", "dead_fraction",
                     "effective_rank", "grad_norm", "weight_std", "fan_in", "fan_out", "fan_source", "kaiming_std", "xavier_std",
                     "init_guess", "distinct_units", "second_moment", "feeds_norm", "gate_saturation", "saturated_gate", "recurrent_radius", "network_variance", "network_variance_stderr",
                     "verdict")

    @property
    def healthy(self) -> bool:
        return not self.issues

    def as_json(self) -> dict[str, Any]:
        from initscope.results import jsonable

        rows = lambda df, cols=None: jsonable((df.reindex(columns=list(cols)) if cols else df).to_dict(orient="records"))  # noqa: E731
        return {"layers": rows(self.layers, self.LAYER_COLUMNS), "verdict": self.verdict, "issues": list(self.issues),
                "warnings": list(self.warnings), "confidence": [f.confidence for f in self.findings if f.severity == "defect"],
                "blocks": rows(self.blocks), "attention": rows(self.attention), "output": jsonable(self.output.as_dict()),
                "notes": list(self.notes), "gradients": jsonable(self.gradients.as_dict()) if self.gradients else None,
                "stuck": list(self.stuck)}

    def __repr__(self) -> str:
        return f"InspectResult({len(self.layers)} module calls, {len(self.blocks)} blocks, verdict={self.verdict!r})"

    def _repr_html_(self) -> str:
        import html

        items = "".join(f"<li>{html.escape(i)}</li>" for i in self.issues) or "<li>healthy</li>"
        return (f"<b>initscope inspect</b>: {len(self.layers)} module calls, {len(self.blocks)} blocks<ul>{items}</ul>"
                + self.layers.reindex(columns=["name", "type", "role", "second_moment", "sample_fraction", "verdict"]).to_html(
                    index=False, max_rows=40))


@contextmanager
def at_init_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (no dropout), except BatchNorm, which normalizes with batch statistics as it
    will in training; its running statistics are left untouched (momentum 0 while inspecting).
    Recurrent layers (LSTM, GRU, RNN) stay in training mode with their dropout at 0 (the same
    outputs as eval mode): cuDNN back-propagates through them only in training mode."""
    from torch.nn.modules.batchnorm import _BatchNorm

    was = {m: m.training for m in model.modules()}
    model.eval()
    saved = []
    recurrent = []
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            tracked = m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None
            saved.append((m, m.momentum, tracked))
            m.momentum = 0.0
            m.train()
        elif isinstance(m, nn.RNNBase):
            recurrent.append((m, m.dropout))
            m.dropout = 0.0
            m.train()
    try:
        yield model
    finally:
        for m, mom, tracked in saved:
            m.momentum = mom
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
        for m, p in recurrent:
            m.dropout = p
        for m, t in was.items():
            m.training = t


# --- the task and its loss -------------------------------------------------------------------------

_HF_LM = ("ForCausalLM", "LMHeadModel", "ForMaskedLM", "ForConditionalGeneration", "ForCausalImageModeling")
_HF_CLS = ("ForSequenceClassification", "ForImageClassification", "ForTokenClassification", "ForAudioClassification",
           "ForMultipleChoice")


def hf_task(model: nn.Module) -> tuple[str, int | None] | None:
    """A ``transformers`` model's task, from its class name and config."""
    if not hasattr(model, "config"):
        return None
    name = type(model).__name__
    cfg = model.config
    if name.endswith(_HF_LM):
        return "lm", getattr(cfg, "vocab_size", None) or getattr(getattr(cfg, "text_config", None), "vocab_size", None)
    if name.endswith(_HF_CLS):
        return "classification", int(getattr(cfg, "num_labels", 2))
    return None


def _int_ids(t: object) -> torch.Tensor | None:
    return t if isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex() else None


def _own_lm_labels(batch: Batch) -> torch.Tensor | None:
    """Labels for a ``transformers`` LM's own loss: a seq2seq model given ``decoder_input_ids``
    (T5, BART) predicts each decoder token from the ones before it, so its labels are those ids
    shifted left (the last position ignored, -100); otherwise the input ids (a causal LM shifts
    them itself, a seq2seq model builds its decoder inputs from them)."""
    dec = _int_ids(batch.kwargs.get("decoder_input_ids"))
    if dec is not None and dec.dim() == 2:
        lab = torch.full_like(dec, -100)
        lab[:, :-1] = dec[:, 1:]
        return lab
    return _int_ids(batch.kwargs.get("input_ids"))


def _labels_for(model: nn.Module, task: str, batch: Batch, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
    name = type(model).__name__
    if task == "lm":
        # the standard loss shifts them itself; a seq2seq model's logits are its decoder's
        dec = _int_ids(batch.kwargs.get("decoder_input_ids"))
        return dec if dec is not None else _int_ids(batch.kwargs.get("input_ids", batch.main))
    if task == "classification":
        classes = out.shape[-1]
        shape = out.shape[:-1]
        if name.endswith("ForMultipleChoice"):
            shape = out.shape[:1]
        if getattr(getattr(model, "config", None), "problem_type", None) == "multi_label_classification":
            return None
        return torch.randint(0, classes, tuple(shape), generator=generator).to(out.device)
    return None


# the config keys transformers models name their logits' soft cap by
LOGIT_CAP_KEYS = ("final_logit_softcapping", "logits_soft_cap")


def logit_cap(model: nn.Module, logits: torch.Tensor) -> float:
    """The soft cap c a ``transformers`` LM puts on its output ``logits`` (c x tanh(logits / c)),
    read from its config (:data:`LOGIT_CAP_KEYS`; a text config nested in a multimodal one too);
    NaN where none is set, or where the logits pass it (a head the cap is not applied to: Gemma 2's
    sequence classifier shares the config of its capped LM)."""
    config = getattr(model, "config", None)
    for cfg in (config, getattr(config, "text_config", None)):
        for key in LOGIT_CAP_KEYS:
            c = getattr(cfg, key, None) if cfg is not None else None
            if isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and c > 0:
                return float(c) if float(logits.detach().abs().max()) <= c else math.nan
    return math.nan


def _table_ratio(found: tuple | None) -> float:
    """``Output.table_ratio`` from :func:`token_tables`' answer."""
    if found is None or not found[1]:
        return math.nan
    (_, _, token), others = found
    return max(std for _, _, std in others) / token


def _loose_position_std(model: nn.Module, found: tuple | None) -> float:
    """The largest std among :func:`token_tables`' bare position tensors (``Output.position_std``;
    ``found``: its answer): no module looks them up, so the recording has no row for them; NaN
    without one."""
    if found is None:
        return math.nan
    modules = {n for n, _ in model.named_modules()}
    loose = [std for n, _, std in found[1] if n not in modules]
    return max(loose) if loose else math.nan


def own_loss_copies(own: torch.Tensor, out: torch.Tensor, labels: object, ids: object) -> bool:
    """Whether an LM's own loss, given ``labels`` equal to its input ``ids``, is the cross-entropy
    of each position against its own token (no shift: the ``*ForCausalLM`` of BART's family, BART, Marian, Pegasus, ...,
    expect labels shifted by the caller) rather than against the next one: training on it
    teaches the model to copy its input. Labels shifted already (a seq2seq model's, from its
    decoder ids) are not the input ids and are left alone."""
    if not (isinstance(labels, torch.Tensor) and isinstance(ids, torch.Tensor) and out.dim() == 3 and labels.dim() == 2
            and tuple(out.shape[:2]) == tuple(labels.shape) and labels.shape[1] > 1 and labels.shape == ids.shape
            and bool(torch.equal(labels.to(ids.device), ids))):
        return False
    v = float(own.detach())
    tol = 1e-4 * max(1.0, abs(v))
    with torch.no_grad():
        z = out.detach().float()
        same = float(F.cross_entropy(z.reshape(-1, z.shape[-1]), labels.reshape(-1).to(z.device), ignore_index=-100))
        if abs(v - same) > tol:  # the common case, a loss that shifts: one cross-entropy decides
            return False
        nxt = float(F.cross_entropy(z[:, :-1].reshape(-1, z.shape[-1]), labels[:, 1:].reshape(-1).to(z.device), ignore_index=-100))
    return tol < abs(v - nxt)


def loss_without_copying(z: torch.Tensor, ids: torch.Tensor, seq_dim: int = 1) -> float:
    """An LM's next-token cross-entropy with each position's own input token's logit left out
    (kept where the next token is that same token): what its step-0 loss owes to predicting the
    token it reads. A head tied to a token table that the stream still carries at the last block
    gives that token a logit of about |e|^2 (Cohere 2 with its table at N(0, 1): 15.9 nats against
    7.4 without it). ``z``: ``[batch, positions, vocabulary]`` (``[positions, batch, ...]`` where
    ``seq_dim`` is 0); NaN where the ids do not index the logits."""
    z, ids = z.detach(), ids.detach().to(z.device)
    if seq_dim == 0:
        z, ids = z.movedim(0, 1), ids.movedim(0, 1)
    if (z.dim() != 3 or ids.dim() != 2 or tuple(ids.shape) != tuple(z.shape[:2]) or z.shape[1] < 2 or ids.is_floating_point()
            or not bool(((ids >= 0) & (ids < z.shape[-1])).all())):
        return math.nan
    cur, nxt = ids[:, :-1], ids[:, 1:]
    with torch.no_grad():
        zz = z[:, :-1].float().clone()
        own = zz.gather(-1, cur.unsqueeze(-1))
        zz.scatter_(-1, cur.unsqueeze(-1), torch.where((cur != nxt).unsqueeze(-1), torch.full_like(own, -math.inf), own))
        return float(F.cross_entropy(zz.reshape(-1, zz.shape[-1]), nxt.reshape(-1)))


def standard_loss(task: str, out: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator,
                  seq_dim: int = 1) -> torch.Tensor:
    """The loss of a task whose head inspect knows, on the model's output: cross-entropy for a
    classifier, next-token cross-entropy for an LM (labels are the input ids, shifted here as
    transformers does, along ``seq_dim``: 0 for torch's sequence-first ``[tokens, batch]``
    layout); MSE against N(0, 1) targets otherwise."""
    if task == "classification" and labels is not None:
        return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), labels.reshape(-1))
    if task == "lm" and labels is not None:
        if seq_dim == 0 and out.dim() == 3 and labels.dim() == 2:
            out, labels = out.transpose(0, 1), labels.transpose(0, 1)
        if out.dim() != 3 or labels.dim() != 2 or tuple(out.shape[:2]) != tuple(labels.shape):
            raise InitscopeError(f"--task lm needs logits [batch, tokens, vocabulary] for token ids [batch, tokens]; "
                                 f"the model returned {tuple(out.shape)} for ids {tuple(labels.shape)}")
        logits, target = out[:, :-1], labels[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))
    # no known task: gradients under MSE against N(0, 1) targets of the output's shape
    target = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
    return 0.5 * ((out - target) ** 2).mean()


def _auto_task(model: nn.Module, out: torch.Tensor, head_role: str | None, batch: Batch | None = None) -> tuple[str, int | None]:
    """A plain torch model is a classifier when its output is ``[batch, classes]`` straight out
    of a weighted layer (logits, no activation after them); a language model when it is fed
    token ids ``[batch, tokens]`` and returns ``[batch, tokens, V]`` from a weighted layer or
    from no module at all (``head_role`` "functional": ``h @ wte.weight.T``, a head tied by
    hand), V the size of one of its embedding tables (a hand-written decoder); else the task is
    unknown."""
    if out.dim() == 2 and out.shape[1] >= 2 and head_role == "layer":
        return "classification", int(out.shape[1])
    ids = _int_ids(batch.kwargs.get("input_ids", batch.main)) if batch is not None else None
    if (ids is not None and ids.dim() == 2 and out.dim() == 3 and tuple(out.shape[:2]) == tuple(ids.shape)
            and head_role in ("layer", "functional") and any(is_embedding(m) and m.num_embeddings == out.shape[-1]
                                             for m in model.modules() if isinstance(m, nn.Embedding))):
        return "lm", int(out.shape[-1])
    return "none", None


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers warns about things inspect itself causes (labels with the default loss
    type, eager attention): its logger is set to errors while inspecting, then restored."""
    import sys

    tf = sys.modules.get("transformers")
    if tf is None:
        yield
        return
    old = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()
    try:
        yield
    finally:
        tf.logging.set_verbosity(old)


# --- the inspection ------------------------------------------------------------------------------------


def _record(model: nn.Module, batch: Batch, *, seed: int, task: Task) -> tuple[Recorder, Output, list[str]]:
    try:
        return _record_with(model, batch, seed=seed, task=task, eager=True)
    except InitscopeError as e:
        # the eager attention some transformers models ship does not run where their own kernel
        # does: measure with the model's own kernel, without attention weights
        if not (str(e).startswith("the model rejected") and would_switch_attention(model)):
            raise
        model.zero_grad(set_to_none=True)
        rec, output, notes = _record_with(model, batch, seed=seed, task=task, eager=False)
        seen = "recomputed from its scaled_dot_product_attention calls" if rec.rec.attention else "not measured"
        notes.insert(0, f"the eager attention implementation failed ({str(e).split(': ', 1)[-1]}); measured with the "
                        f"model's own kernel, which returns no attention weights (attention entropy {seen})")
        return rec, output, notes


def _record_with(model: nn.Module, batch: Batch, *, seed: int, task: Task, eager: bool) -> tuple[Recorder, Output, list[str]]:
    notes: list[str] = []
    g = generator(seed, "labels")
    known = hf_task(model)
    with at_init_mode(model), no_fastpath(), _quiet_transformers(), eager_attention(model, eager) as eager:
        if eager:
            notes.append("attention measured with the eager implementation (the model's own kernel returns no weights); "
                         "restored afterwards")
        call_batch = batch
        resolved = task
        if known is not None and known[0] == "lm" and task == "auto" and _own_lm_labels(batch) is None:
            known = None  # an LM fed no token ids (Whisper's audio features alone): no labels to judge by
        if known is not None and task in ("auto", known[0]):
            resolved = known[0]
            # a transformers model computes its task's own loss when given labels
            probe_labels = None
            if resolved == "lm":
                probe_labels = _own_lm_labels(batch)
            elif resolved == "classification":
                probe_labels = torch.randint(0, int(known[1] or 2), (batch.size,), generator=g)
                if type(model).__name__.endswith("ForTokenClassification") and batch.main is not None:
                    probe_labels = torch.randint(0, int(known[1] or 2), tuple(batch.main.shape[:2]), generator=g)
            if probe_labels is not None:
                call_batch = batch.with_kwargs(labels=probe_labels.to(batch.main.device if batch.main is not None else "cpu"))
        if "use_cache" not in call_batch.kwargs and _forward_names(model, "use_cache"):
            # step 0 of training builds no cache; in eval mode some models would (RWKV's state, updated
            # in place, then breaks the backward pass)
            call_batch = call_batch.with_kwargs(use_cache=False)

        def attempt(cb: Batch) -> tuple[Recorder, Output]:
            nonlocal resolved
            rec = Recorder(model, seed=seed)
            with rec as recording:
                out = call_model(model, cb)
                rec.stop_watching()
                out_t = output_tensor(out)
                if out_t is None:
                    raise InitscopeError(f"the model returned no floating tensor (got {type(out).__name__})")
                hit = rec._producer.get(id(out_t))
                head = recording.rows[hit[1]] if hit is not None and hit[0]() is out_t else None
                if head is not None:
                    head["role"] = "head" if head["role"] == "layer" else head["role"]
                if resolved == "classification" and known is None and out_t.dim() >= 4:
                    # a dense prediction [batch, classes, height, width]: torch's cross-entropy
                    # convention puts the classes on dim 1
                    out_t = out_t.movedim(1, -1)
                    note = f"--task classification on a {out_t.dim()}-D output: classes on dim 1 ({out_t.shape[-1]}), one prediction per position"
                    if note not in notes:  # once, whichever attempt measured
                        notes.append(note)
                contrastive = resolved == "auto" and _contrastive(out, out_t)
                if contrastive:
                    # CLIP-style: each image's logits over the batch's texts, its own text the
                    # class (labels known: the diagonal); chance is log(batch)
                    resolved, classes = "classification", int(out_t.shape[-1])
                elif resolved == "auto":
                    role = "functional" if head is None else "layer" if head["role"] == "head" else head["role"]
                    resolved, classes = _auto_task(model, out_t, role, cb)
                else:
                    # an LM's classes are its logits' width (a config may state another vocabulary)
                    classes = int(out_t.shape[-1]) if resolved == "lm" else known[1] if known is not None and known[0] == resolved else (
                        int(out_t.shape[-1]) if resolved == "classification" else None)
                own = model_loss(out)
                if own is not None and resolved == "lm" and own_loss_copies(own, out_t, cb.kwargs.get("labels"), cb.kwargs.get("input_ids")):
                    own = None
                    note = ("the model's own loss does not shift its labels (labels=input_ids asks it to copy its input: "
                            "BART's family's *ForCausalLM: BART, Marian, Pegasus); judged by the next-token loss instead")
                    if note not in notes:
                        notes.append(note)
                if own is not None:
                    loss, source = own, "the model's own loss (given labels)"
                else:
                    labels = (torch.arange(classes, device=out_t.device) if contrastive else
                              _labels_for(model, resolved, batch, out_t, g) if resolved in ("classification", "lm") else None)
                    if resolved in ("classification", "lm") and labels is None:
                        raise InitscopeError(f"--task {resolved} needs integer inputs to use as labels (token ids)") if resolved == "lm" else \
                            InitscopeError("could not draw labels for the classification loss")
                    loss = standard_loss(resolved, out_t, labels, g, seq_dim=rec.seq_dim)
                    source = {"classification": "cross-entropy with random labels", "lm": "next-token cross-entropy",
                              }.get(resolved, "MSE against N(0, 1) targets (no known task)")
                value = float(loss.detach())
                if contrastive and own is None:
                    source = "cross-entropy of each image against its own text (the diagonal)"
                if resolved == "classification" and not contrastive and out_t.dim() >= 2 and out_t.shape[-1] >= 2 and math.isfinite(value):
                    # the labels are a random draw (inspect does not know the task's own), so the loss judged
                    # is its expectation over uniformly random labels, exact from the logits: no draw moves a
                    # verdict. The gradients still come from the drawn labels (the expected loss's gradient,
                    # softmax - 1/C, vanishes with the logits).
                    z = out_t.detach().double().reshape(-1, out_t.shape[-1])
                    value = float((torch.logsumexp(z, dim=-1) - z.mean(dim=-1)).mean())
                    source = source.replace("with random labels", "expected over uniformly random labels") \
                        if "random labels" in source else source + ", expected over uniformly random labels"
                ids = cb.kwargs.get("input_ids", cb.main)
                token_input = isinstance(ids, torch.Tensor) and not ids.is_floating_point() and ids.dim() == 2
                found = token_tables(model) if token_input else None
                output = Output(
                    task=resolved, classes=classes, loss=value,
                    # the head's row measured these very entries: its pooled variance, not another pass
                    logit_std=math.sqrt(head["variance"]) if head is not None and head["variance"] >= 0 else entry_std(out_t),
                    chance_loss=math.log(classes) if classes and resolved in ("classification", "lm") else math.nan,
                    loss_source=source,
                    sequence_fraction=sequence_sample_fraction(out_t, 1 if rec.seq_dim == 0 else 0, generator(seed, "sequence"))
                    if token_input and out_t.dim() == 3 else math.nan,
                    table_ratio=_table_ratio(found),
                    position_std=_loose_position_std(model, found),
                    logit_cap=logit_cap(model, out_t) if resolved == "lm" else math.nan)
                from initscope.inspect.verdicts import LOSS_EXCESS_NATS

                if resolved == "lm" and token_input and out_t.dim() == 3 and value - output.chance_loss > LOSS_EXCESS_NATS:
                    output.loss_without_copy = loss_without_copying(out_t, ids, rec.seq_dim)
                if loss.requires_grad and math.isfinite(float(loss.detach())):
                    try:
                        loss.backward()
                    except (RuntimeError, AssertionError) as e:
                        # the model's own backward: Reformer's reversible layers assert training mode
                        # (inspect runs in eval mode)
                        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        if isinstance(e, AssertionError):
                            msg = f"an assertion in its backward ({msg or 'no message'}); a model whose backward needs "
                            msg += "training mode (Reformer's reversible layers) cannot be inspected without dropout"
                        raise InitscopeError(f"the model's backward pass failed: {msg}") from None
                elif loss.requires_grad:
                    notes.append("the loss at step 0 is not finite: no backward pass")
            return rec, output

        def attempt_with_weights(cb: Batch) -> tuple[Recorder, Output]:
            """A ``transformers`` model whose attention returns its probabilities only when asked
            (Swin v2, CvT, PVT: no attention interface to switch) is asked; one that rejects the
            flag is called without it."""
            if _takes_output_attentions(model) and "output_attentions" not in cb.kwargs:
                try:
                    return attempt(cb.with_kwargs(output_attentions=True))
                except InitscopeError as e:
                    if not str(e).startswith("the model rejected"):
                        raise
                    model.zero_grad(set_to_none=True)
            return attempt(cb)

        try:
            rec, output = attempt_with_weights(call_batch)
        except InitscopeError as e:
            # some models' own loss fails on labels their forward accepts (a vocabulary the config
            # states apart from the head's, a loss that needs more than labels): judge the standard
            # loss of the task instead, on a fresh recording
            if call_batch is batch or not str(e).startswith("the model rejected"):
                raise
            model.zero_grad(set_to_none=True)
            notes.append(f"the model's own loss failed when given labels ({str(e).split(': ', 1)[-1]}); "
                         "the standard loss of its task is judged instead")
            try:
                rec, output = attempt_with_weights(batch)
            except InitscopeError as e2:
                raise InitscopeError(f"{e2} (and given labels for its own loss: {str(e).split(': ', 1)[-1]})") from None
    return rec, output, notes


def _forward_params(model: nn.Module) -> dict:
    """The parameters of a ``transformers`` model's forward, by name (empty for any other model, or
    a forward without a signature)."""
    import inspect as pyinspect

    if not type(model).__module__.startswith("transformers.") or not hasattr(model, "config"):
        return {}
    try:
        return dict(pyinspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return {}


def _forward_names(model: nn.Module, name: str) -> bool:
    """A ``transformers`` model whose forward has a parameter ``name`` of its own."""
    return name in _forward_params(model)


def _takes_output_attentions(model: nn.Module) -> bool:
    """A ``transformers`` model whose forward names ``output_attentions`` or takes ``**kwargs``."""
    params = _forward_params(model)
    return "output_attentions" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _layers_table(model: nn.Module, rec: Recorder) -> pd.DataFrame:
    mods = dict(model.named_modules())
    rows = []
    cache: dict[str, dict[str, Any]] = {}
    by_weight: dict[int, dict[str, Any]] = {}  # tied weights (GPT-2's wte and lm_head) are measured once
    memo: dict[int, tuple[torch.Tensor, float, float]] = {}  # and their std and max |w| once, whatever modules hold them
    held = []  # every weight read, alive till the end: a parametrized one is computed, and its id could come back
    for r in rec.rec.rows:
        mod = mods[r["module"]]
        if r["module"] not in cache:
            grads = [p.grad for p in mod.parameters(recurse=False) if p.grad is not None]
            # (a norm per tensor: the squares of a 50257 x 768 gradient were a 154 MB copy)
            gn = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(_dense(g).float()) for g in grads]))) if grads else math.nan
            w = weight_of(mod)
            held.append(w)
            key = id(w) if w is not None else None
            if key is not None and key in by_weight and type(mods[by_weight[key]["_module"]]) is type(mod):
                ws = by_weight[key]
            else:
                ws = dict(**weight_stats(mod, memo), _module=r["module"])
                if key is not None:
                    by_weight[key] = ws
            cache[r["module"]] = dict({k: v for k, v in ws.items() if k != "_module"}, grad_norm=gn)
        rows.append({**r, **cache[r["module"]]})
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=list(InspectResult.LAYER_COLUMNS))
    return df


def expert_slabs(model: nn.Module, experts: list[str]) -> tuple[tuple[str, float, int, int], ...]:
    """Every 3-D tensor of the ``experts`` modules (:func:`fused_experts`) as (parameter name, std,
    size 1, size 2): what the slab-fan rule (``verdicts.slab_fan_modules``) reads."""
    out = []
    for n in experts:
        for pn, p in model.get_submodule(n).named_parameters(recurse=False):
            if p.is_floating_point() and p.dim() == 3:
                out.append((f"{n}.{pn}", float(entry_std(p.detach())), int(p.shape[1]), int(p.shape[2])))
    return tuple(out)


def _glu_pair(a: torch.Size, b: torch.Size) -> bool:
    """Whether 3-D tensors ``a`` and ``b`` are a gated MLP's experts: ``a`` gate and up fused (2k
    wide), ``b`` the down projection (k wide), over the same experts and width, in either layout
    ([experts, out, in] as Mixtral's, or [experts, in, out] as gpt-oss's)."""
    return a[0] == b[0] and any(wa == wb and ka == 2 * kb for wa, ka in ((a[1], a[2]), (a[2], a[1]))
                                for wb, kb in ((b[1], b[2]), (b[2], b[1])))


def _stacked_glu(mods: dict[str, nn.Module], name: str) -> bool:
    """Whether module ``name`` holds gated experts stacked in 2-D tensors of its own (DBRX's ``w1``,
    ``v1`` and ``w2``, each [experts x k, width]: gate, up and the down projection stored
    transposed): three or more bare 2-D tensors of one shape [R, width], R not the width, with a
    router beside it (a 2-D tensor outside it, in its parent or the parent's parent, with a size E,
    1 < E < width, that divides R)."""
    m = mods[name]
    if isinstance(m, (nn.Linear, nn.Embedding)):
        return False
    flat = [p.shape for p in m.parameters(recurse=False) if p.is_floating_point() and p.dim() == 2]
    shape = max(set(flat), key=flat.count) if flat else None
    if shape is None or flat.count(shape) < 3 or shape[0] == shape[1]:
        return False
    rows, width = shape
    up = name
    for _ in range(2):
        up = up.rpartition(".")[0]
        if any(p.dim() == 2 and any(1 < e < width and rows % e == 0 for e in p.shape)
               for pn, p in mods[up].named_parameters() if not (f"{up}.{pn}" if up else pn).startswith(name + ".")):
            return True
        if not up:
            break
    return False


def gated_experts(model: nn.Module) -> tuple[str, ...]:
    """The innermost modules whose 3-D tensors (their own and their children's) hold experts that are
    gated MLPs by their shapes (:func:`_glu_pair`), whatever their names: Mixtral's ``gate_up_proj`` /
    ``down_proj``, gpt-oss's transposed ones, JetMoE's ``input_linear`` / ``output_linear`` each in a
    module of its own; and those holding them stacked in 2-D tensors (DBRX: :func:`_stacked_glu`)."""
    mods = dict(model.named_modules())
    shaped = []
    for n, m in mods.items():  # a Conv1d's weight is 3-D too, [out, in, kernel]: not an expert
        cubes = [p.shape for sub in m.modules() if not isinstance(sub, nn.modules.conv._ConvNd)
                 for p in sub.parameters(recurse=False) if p.is_floating_point() and p.dim() == 3]
        if n and (any(_glu_pair(a, b) for i, a in enumerate(cubes) for j, b in enumerate(cubes) if i != j)
                  or _stacked_glu(mods, n)):
            shaped.append(n)
    return tuple(n for n in shaped if not any(o.startswith(n + ".") for o in shaped))


def _not_recorded(model: nn.Module, layers: pd.DataFrame) -> list[str]:
    """Weighted modules that never fired a hook (a fused path, or applied functionally)."""
    mods = dict(model.named_modules())
    functional = {f"{n}.out_proj" for n, m in mods.items() if isinstance(m, nn.MultiheadAttention)}
    fired = set(layers.module) if "module" in layers else set()
    # a module whose weight another, recorded module holds too (T5's ``shared``, tied to both
    # stacks' embed_tokens) was measured through that one
    fired_weights = {id(weight_of(mods[n])) for n in fired if n in mods and weight_of(mods[n]) is not None}
    return [n for n, m in mods.items() if n and weight_of(m) is not None and not is_pass_through(m) and n not in fired
            and n not in functional and is_leaf(m) and not in_parametrization(n) and id(weight_of(m)) not in fired_weights]


@contextmanager
def _state_kept(model: nn.Module) -> Iterator[None]:
    """Every buffer put back as it was: a forward pass, or a parametrized weight read in training
    mode (spectral_norm's power iteration vectors), may update them. So is a module's plain dict
    that the pass filled with tensors carrying a graph (LeViT's eval-mode ``attention_bias_cache``):
    the backward frees that graph, and the next forward would reuse it."""
    saved = [(m, n, t, t.detach().clone()) for m in model.modules() for n, t in m._buffers.items() if t is not None]
    caches = [(m, n, dict(d)) for m in model.modules() for n, d in vars(m).items() if not n.startswith("_") and type(d) is dict]
    try:
        yield
    finally:
        for m, n, old_cache in caches:
            now = getattr(m, n, None)
            if type(now) is dict and any(isinstance(v, torch.Tensor) and v.grad_fn is not None and old_cache.get(k) is not v
                                         for k, v in now.items()):
                now.clear()
                now.update(old_cache)
        with torch.no_grad():
            for m, n, t, old in saved:
                if m._buffers.get(n) is not t:
                    m._buffers[n] = t
                if not torch.equal(t, old):
                    t.copy_(old)


def inspect(model: nn.Module, batch: Any, *, seed: int = 0, task: Task = "auto") -> InspectResult:
    """Inspect a model already built, on one batch (a tensor, a tuple called as
    ``model(*batch)``, or a dict called as ``model(**batch)``). The model's parameters and
    buffers are left as they were (gradients are cleared)."""
    if not isinstance(model, nn.Module):
        raise InitscopeError(f"inspect needs a torch.nn.Module, got {type(model).__name__}")
    with _state_kept(model):
        return _inspect(model, batch, seed=seed, task=task)


def _inspect(model: nn.Module, batch: Any, *, seed: int, task: Task) -> InspectResult:
    from initscope.inspect.verdicts import diagnose

    if not isinstance(model, nn.Module):
        raise InitscopeError(f"inspect needs a torch.nn.Module, got {type(model).__name__}")
    if task not in TASKS:
        raise unknown("task", task, TASKS)
    b = as_batch(batch)
    if b.size < 2:
        raise InitscopeError(f"the batch has {b.size} sample(s); at least 2 are needed")
    meta = next((n for n, p in model.named_parameters() if p.is_meta), None)
    if meta is not None:
        raise InitscopeError(f"the model's parameters are on the meta device (no values; first {meta}): build it on the CPU or a GPU, "
                             "or load its weights (to_empty() then an init) before inspecting it")
    _check_finite(b)
    compiled = _compiled_original(model)
    if compiled is not None:
        model = compiled
    old_grads = {p: p.grad for p in model.parameters()}
    model.zero_grad(set_to_none=True)
    try:
        rec, output, notes = _record(model, b, seed=seed, task=task)
        layers = _layers_table(model, rec)
        ids = [t for t in b.tensors() if not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)]
        grads = gradient_facts(model, b.size, sum(t.numel() for t in ids))
        with_grad = {id(p) for p in model.parameters() if p.grad is not None}
        stuck = stuck_at_zero(model, lambda: _record(model, b, seed=seed, task=task))
        grads.below_adam_eps_after_step = _eps_share_after_step(model, grads, lambda: _record(model, b, seed=seed, task=task),
                                                                lambda: gradient_facts(model, b.size, sum(t.numel() for t in ids)))
        grads.zero_row_token, grads.zero_row_grad_max, grads.zero_row_grad_max_after_step = zero_row_probe(model, b, task)
    finally:
        for p, g in old_grads.items():
            p.grad = g
    if compiled is not None:
        notes.insert(0, "a torch.compile'd model: its original module was inspected (the same parameters; inspect's hooks "
                        "would break the compiled graph)")
    blocks = pd.DataFrame(rec.rec.blocks)
    branches = pd.DataFrame(rec.rec.branches)
    attention = pd.DataFrame(rec.rec.attention)
    missing = _not_recorded(model, layers)
    if with_grad:
        # after a backward pass a module none of whose parameters got a gradient was not used by
        # this forward (MarkupLM's xpath_unitseq2_embeddings is built and never called): a note,
        # not an issue; one whose weight got a gradient ran on a path that skipped its hook
        mods = dict(model.named_modules())
        unused = [n for n in missing if not any(id(p) in with_grad for p in mods[n].parameters())]
        missing = [n for n in missing if n not in unused]
        if unused:
            notes.append(f"not used by this forward pass (no gradient reached them): {', '.join(unused)}")
    if b.source:
        notes.insert(0, f"inputs: {b.source}")
    output.first_attention_library, tokens_library = _first_attention_library(model, b, blocks, branches, output, seed)
    output.first_block_change, output.first_block_change_library = _first_block_change(model, b, blocks, branches, attention, seed)
    output.embeddings_library, output.norm_branch_library = _norm_branch_library(model, b, blocks, branches, output, seed)
    if not math.isfinite(output.embeddings_library):
        output.embeddings_library = tokens_library
    experts = fused_experts(model)
    findings, layer_verdicts = diagnose(layers, blocks, branches, attention, output, float_input_m2=_float_input_m2(b),
                                       gradients=grads, stuck=stuck, image_input=b.main is not None and b.main.is_floating_point() and b.main.dim() == 4,
                                       local_mixing=mixes_locally(model), gated_experts=gated_experts(model),
                                       expert_slabs=expert_slabs(model, experts), short_mixers=short_conv_mixers(model))
    layers["verdict"] = layer_verdicts
    issues = [f.message for f in findings if f.severity == "defect"]
    warnings = [f.message for f in findings if f.severity == "warning"]
    if missing:
        # what inspect could not see is not a defect of the init: said beside the verdict, not as one
        warnings.append(f"not recorded (a fused path skipped their hooks, so they were not judged): {', '.join(missing)}")
    if experts:
        # a mixture of experts whose experts are 3-D tensors (transformers' MoE models: Mixtral,
        # Qwen2-MoE, OLMoE): no layer module holds them, so no layer rule reads their weights
        shown = ", ".join(experts[:3]) + (f" and {len(experts) - 3} more" if len(experts) > 3 else "")
        warnings.append(f"experts fused into 3-D tensors were not judged as layers ({shown}): only the stream and the "
                        "branches their outputs join were")
    verdict = ("healthy: nothing at init stands in the way of training (scale, stream, attention, output, symmetry)."
               if not issues else " | ".join(issues))
    if layers.empty and not issues:  # nothing inside was measured: say so instead of a clean bill
        verdict = ("only the output was judged (no issue there): no module inside the model gave a floating-point output "
                   "to measure (a bare nn.LSTM or nn.Linear has no submodules; wrap it in nn.Sequential to see its layers).")
    if not issues and warnings:
        verdict += " To watch: " + "; ".join(w.split(";")[0] for w in warnings) + "."
    device = next((str(p.device) for p in model.parameters()), "cpu")
    return InspectResult(layers=layers, blocks=blocks, branches=branches, attention=attention, output=output,
                         verdict=verdict, issues=issues, notes=notes, findings=findings, warnings=warnings, gradients=grads,
                         device=device, stuck=stuck)


def _first_attention_branch(blocks: pd.DataFrame, branches: pd.DataFrame, output: Output) -> pd.Series | None:
    """A causal LM's first attention branch (its ``branches`` row) where one module made it; None
    otherwise."""
    if output.task != "lm" or blocks.empty or branches.empty or "role" not in branches:
        return None
    first = branches[(branches.block_index == 0) & (branches.role == "attention")]
    if first.empty or "," in str(first.module.iloc[0]) or not str(first.module.iloc[0]):
        return None
    return first.iloc[0]


def _first_attention_library(model: nn.Module, b: Batch, blocks: pd.DataFrame, branches: pd.DataFrame, output: Output,
                             seed: int) -> tuple[float, float]:
    """The first block's attention ratio at the library's own init, for a causal LM whose first
    attention branch comes out of one module (:func:`reference.library_first_attention_scales`),
    and the token embeddings it is added to (the stream entering that block) over the same there;
    NaNs otherwise."""
    first = _first_attention_branch(blocks, branches, output)
    if first is None:
        return math.nan, math.nan
    ratio, lib_stream = library_first_attention_scales(model, b, list(dict.fromkeys(str(m) for m in blocks.module)),
                                                       str(first.module), seed=seed)
    stream = float(first.stream_rms) if "stream_rms" in first else math.nan
    return ratio, (stream / lib_stream if lib_stream > 0 else math.nan)


def _norm_branch_library(model: nn.Module, b: Batch, blocks: pd.DataFrame, branches: pd.DataFrame, output: Output,
                         seed: int) -> tuple[float, float]:
    """For a causal LM whose first attention branch comes out of a norm: its token embeddings and
    that branch before the norm, each over the same at the library's init; NaNs otherwise."""
    first = _first_attention_branch(blocks, branches, output)
    if first is None or not bool(first.normalized):
        return math.nan, math.nan
    names, norm = list(dict.fromkeys(str(m) for m in blocks.module)), str(first.module)
    stream, branch = norm_branch_scales(model, b, names[0], norm)
    lib_stream, lib_branch = library_norm_branch_scales(model, b, names, norm, seed=seed)
    return (stream / lib_stream if lib_stream > 0 else math.nan), (branch / lib_branch if lib_branch > 0 else math.nan)


def _first_block_change(model: nn.Module, b: Batch, blocks: pd.DataFrame, branches: pd.DataFrame, attention: pd.DataFrame,
                        seed: int) -> tuple[float, float]:
    """What a parallel first block with one addition adds to its stream over the stream, as the
    model is and at the library's init (:func:`reference.library_block_change_ratio`); NaNs where
    the first block is not such a block."""
    from initscope.inspect.verdicts import parallel_blocks

    if blocks.empty or "module" not in blocks:
        return math.nan, math.nan
    names = list(dict.fromkeys(str(m) for m in blocks.module))
    if names[0] not in parallel_blocks(branches, attention) or "block_index" not in branches or (branches.block_index == 0).sum() != 1:
        return math.nan, math.nan  # a block with two additions (Cohere, StableLM) reads another way: not compared
    return block_change_ratio(model, b, names[0]), library_block_change_ratio(model, b, names, seed=seed)


def _contrastive(out: Any, out_t: torch.Tensor) -> bool:
    """A contrastive image-text output (CLIP, ALIGN): ``logits_per_image`` ``[batch, batch]``, the
    output inspect judges."""
    v = out.get("logits_per_image") if isinstance(out, dict) else getattr(out, "logits_per_image", None)
    return v is out_t and out_t.dim() == 2 and out_t.shape[0] == out_t.shape[1] >= 2


def _check_finite(b: Batch) -> None:
    """A batch with NaN or inf in it would be blamed on the init: refused, naming the input.
    -inf is allowed outside the main input (an additive attention mask)."""
    named = [(f"argument {i}", t) for i, t in enumerate(b.args)] + list(b.kwargs.items())
    for name, t in named:
        if not (isinstance(t, torch.Tensor) and t.is_floating_point()):
            continue
        nan, inf = int(torch.isnan(t).sum()), int((torch.isinf(t) if t is b.main else t == math.inf).sum())
        if nan or inf:
            raise InitscopeError(f"the batch's {name} {tuple(t.shape)} holds {nan} NaN and {inf} infinite value(s); "
                                 "inspect judges the init on finite inputs")


def _compiled_original(model: nn.Module) -> nn.Module | None:
    """The module ``torch.compile`` wrapped, if ``model`` is such a wrapper (it holds the same
    parameters, under ``_orig_mod``)."""
    orig = getattr(model, "_orig_mod", None)
    return orig if isinstance(orig, nn.Module) and type(model).__name__ == "OptimizedModule" else None


def _float_input_m2(b: Batch) -> float | None:
    m = b.main
    if m is None or not m.is_floating_point():
        return None
    return float(m.detach().double().pow(2).mean())


MAX_DRAWS = 1_000  # each draw builds and runs the model once; more only sharpens an error bar already at 1/sqrt(2 x 1000)


def inspect_model(
    factory: Callable[[], nn.Module],
    *,
    input_shape: tuple[int, ...] | None = None,
    data: Callable[[], Any] | None = None,
    data_ref: str = "",
    vocab: int | None = None,
    batch: int | None = None,
    draws: int = 1,
    seed: int = 0,
    task: Task = "auto",
) -> InspectResult:
    """Inspect ``factory()``'s model at init; with ``draws`` > 1 the factory is called that many
    more times (seeded) so variance over weight draws is reported beside variance over samples."""
    from initscope.inspect.load import load_batch

    if batch is not None and batch < 2:
        raise InitscopeError(f"--batch must be >= 2, got {batch}")
    if not 1 <= draws <= MAX_DRAWS:
        raise InitscopeError(f"--draws must be in [1, {MAX_DRAWS:,}] (the variance over draws is within 5% at 1,000), got {draws}")
    torch.manual_seed(seed)
    model = call_factory(factory)
    b = load_batch(data, batch, data_ref or "loader") if data is not None else draw_batch(
        model, input_shape=input_shape, vocab=vocab, batch=batch, seed=seed)
    try:
        res = inspect(model, b, seed=seed, task=task)
    except InitscopeError as e:
        hint = input_shape_hint(model, input_shape) if data is None and "rejected an input" in str(e) else None
        if hint:
            raise InitscopeError(f"{e}; {hint}") from None
        raise
    if draws > 1:
        _network_variance(res, factory, b, draws, seed)
    return res


def input_shape_hint(model: nn.Module, input_shape: tuple[int, ...] | None) -> str | None:
    """What ``--input-shape`` the model's first layer reads, where it says: a ``transformers``
    vision config's ``num_channels`` and ``image_size``, else the first convolution's
    ``in_channels`` (C,H,W for a 2-D one, C,L for 1-D) or the first Linear's ``in_features``;
    None where the shape given already fits."""
    cfg = getattr(model, "config", None)
    channels, size = getattr(cfg, "num_channels", None), getattr(cfg, "image_size", None)
    size = size[0] if isinstance(size, (list, tuple)) and size else size
    if isinstance(channels, int) and isinstance(size, int):
        want, what = (channels, size, size), f"C,H,W images (its config: num_channels {channels}, image_size {size})"
    else:
        first = next((m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))), None)
        if first is None:
            return None
        if isinstance(first, nn.Linear):
            want, what = (first.in_features,), f"{first.in_features} features (its first Linear)"
        else:
            dims = len(first.kernel_size)
            want = (first.in_channels, *[32] * dims)
            what = f"C,{ {1: 'L', 2: 'H,W', 3: 'D,H,W'}[dims]} inputs with C = {first.in_channels} (its first {type(first).__name__})"
    if input_shape is not None and tuple(input_shape) == want:
        return None
    return f"this model reads {what}: try --input-shape {','.join(map(str, want))}"


def _network_variance(res: InspectResult, factory: Callable[[], nn.Module], b: Batch, draws: int, seed: int) -> None:
    """Variance over weight draws (text 000's network view) per module, on the same batch."""
    from initscope.inspect.load import first_tensor
    from initscope.inspect.stats import as_samples_by_units

    sums: dict[str, list[torch.Tensor]] = {}
    for d in range(draws):
        torch.manual_seed(derive_seed(seed, "draw", d))  # the user's factory draws from the global generator
        m = call_factory(factory)
        outs: dict[str, torch.Tensor] = {}
        handles = []
        calls: dict[str, int] = {}

        def make(name: str):
            def hook(mod: nn.Module, inp: Any, out: Any) -> None:
                t = first_tensor(out, floating=True)
                x = first_tensor(inp, floating=True)
                if t is None or (x is not None and x is t):
                    return
                k = calls.get(name, 0)
                calls[name] = k + 1
                key = name if k == 0 else f"{name}#{k + 1}"
                h = as_samples_by_units(t, mod)
                if h.shape[0] > 8192:
                    h = h[:: math.ceil(h.shape[0] / 8192)]
                outs[key] = h.to(torch.float64).cpu()

            return hook

        for name, mod in m.named_modules():
            if is_recorded(name, mod):  # the modules the recorder measures
                handles.append(mod.register_forward_hook(make(name)))
        try:
            with torch.no_grad(), at_init_mode(m), no_fastpath():
                call_model(m, b)
        finally:
            for h in handles:
                h.remove()
        for k, v in outs.items():
            sums.setdefault(k, []).append(v)
    net_var, net_se = [], []
    for name in res.layers.name:
        stack = sums.get(name)
        if not stack or len(stack) != draws or len({t.shape for t in stack}) != 1:
            net_var.append(math.nan)
            net_se.append(math.nan)
            continue
        s = torch.stack(stack)  # [draws, samples, units]
        net_var.append(float(((s - s.mean(dim=0)) ** 2).sum(dim=0).mean() / (draws - 1)))
        net_se.append(float((s * s).mean(dim=(1, 2)).std() / math.sqrt(draws)))
    res.layers["network_variance"], res.layers["network_variance_stderr"] = net_var, net_se
    measured = [v for v in net_var if v == v]
    if measured and max(measured) == 0.0:
        res.notes.append(f"the {draws} draws gave identical outputs in every module (network variance 0): the factory "
                         "returns the same weights each call (does it set a seed itself?)")
