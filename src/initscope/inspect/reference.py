"""The same architecture at its library's own init, as a yardstick for ratios that grow with width.

Some step-0 ratios of a causal LM (the first attention branch against the token embeddings it is
added to) grow with the width at the library's own scale (``initializer_range`` 0.02 is a larger
share of a 1024-wide stream than of a 64-wide one), so no fixed bar reads them at every width. Read
against what the *same* model gives when the library initializes it (the config class's default
range, the model's own ``_init_weights``), they are a factor over a known-good init, which does not
move with the width: the first block's attention in LLaMA at every weight x2 reads 4.2x its
library init at width 64 and about the same at width 256, and trains at both.

The reference is measured in place and cheaply: the modules the first block reads (everything
outside the later blocks) are re-initialized by the library, one forward pass runs up to the first
attention's exit under ``torch.no_grad``, and every tensor is put back as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from initscope.inspect.load import Batch, call_model, first_tensor
from initscope.inspect.stats import rms
from initscope.repro import derive_seed

# Config attributes that set a transformers model's init scale (GPT-2, LLaMA, ...: initializer_range;
# OPT, XGLM, BART-style: init_std): the reference puts each at its config class's default.
RANGE_ATTRIBUTES = ("initializer_range", "init_std")
# Draws of the library's init averaged for the reference: one draw's first-attention ratio moves by
# about 10% at width 64 (GPT-2: 0.102-0.114), three put it within about 6%.
REFERENCE_DRAWS = 3
# From this stream width on, one draw: its spread falls with the width (GPT-2 at 8 x 128 tokens, six
# draws each: coefficient of variation 6.4% at width 64, 1.3% at 256, 1.1% at 768), so one draw at 512
# is as sure as three at 64, and a real-size model's table (50257 x 768) is drawn once, not three times
# (0.6 s a draw). Every width the verdicts benchmark trains (64, 256) keeps its three.
ONE_DRAW_WIDTH = 512


class _Stop(Exception):
    """Raised at the measured branch's exit: nothing after it is needed."""


def first_attention_ratio(model: nn.Module, batch: Batch, block: str, branch: str) -> float:
    """RMS of the output of ``branch`` (the module whose output the block adds to its stream: an
    attention's output projection) / RMS of the stream entering ``block`` (both module names), from
    one no-grad forward pass stopped at the branch's exit; NaN where either is not seen."""
    return _first_attention(model, batch, block, branch)[0]


def _first_attention_scales(model: nn.Module, batch: Batch, block: str, branch: str) -> tuple[tuple[float, float], int]:
    """:func:`_first_attention`'s ratio with the RMS of the stream entering ``block`` (the token
    embeddings, in a causal LM), and the branch's width."""
    got: dict[str, float] = {}
    ratio, width = _first_attention(model, batch, block, branch, got)
    return (ratio, got.get("stream", math.nan)), width


def _stream_hook(got: dict[str, float]) -> Callable[[nn.Module, tuple, dict], None]:
    """A block's forward pre-hook (with kwargs) keeping the RMS of the stream entering it in ``got``."""

    def pre(m: nn.Module, args: tuple, kwargs: dict) -> None:
        x = _block_input(args, kwargs)
        if x is not None and "stream" not in got:
            got["stream"] = rms(x)

    return pre


def _keep_branch(got: dict[str, float], t: Any) -> None:
    """Keep the RMS and width of the branch tensor in ``t`` (its first floating tensor) in ``got``,
    then stop the pass: nothing after the branch is needed."""
    y = first_tensor(t, floating=True)
    if y is not None:
        got["branch"] = rms(y)
        got["width"] = y.shape[-1] if y.dim() else 1
    raise _Stop


def _first_attention(model: nn.Module, batch: Batch, block: str, branch: str,
                     got: dict[str, float] | None = None) -> tuple[float, int]:
    """:func:`first_attention_ratio`, and the width (last dimension) of the branch's output (0 where
    not seen); what was read (``stream``, ``branch`` RMS) is left in ``got`` where given."""
    mods = dict(model.named_modules())
    if block not in mods or branch not in mods:
        return math.nan, 0
    got = {} if got is None else got

    pre = _stream_hook(got)

    def post(m: nn.Module, inp: Any, out: Any) -> None:
        _keep_branch(got, out)

    _stopped_pass(model, batch, [mods[block].register_forward_pre_hook(pre, with_kwargs=True), mods[branch].register_forward_hook(post)])
    if "branch" not in got:
        return math.nan, 0
    s, b = got.get("stream", math.nan), got["branch"]
    return (b / s if s > 0 else math.nan), int(got.get("width", 0))


def norm_branch_scales(model: nn.Module, batch: Batch, block: str, norm: str) -> tuple[float, float]:
    """For a first block whose branch ends in the norm ``norm`` (Gemma's, HyperCLOVA X's
    ``post_attention_layernorm``): the RMS of the stream entering ``block`` (the token embeddings)
    and the RMS of what enters ``norm`` (the branch before it is normalized), from one no-grad
    forward pass stopped at the norm's entry; NaNs where either is not seen."""
    return _norm_branch(model, batch, block, norm)[0]


def _norm_branch(model: nn.Module, batch: Batch, block: str, norm: str) -> tuple[tuple[float, float], int]:
    """:func:`norm_branch_scales`, and the branch's width (0 where not seen)."""
    mods = dict(model.named_modules())
    if block not in mods or norm not in mods:
        return (math.nan, math.nan), 0
    got: dict[str, float] = {}

    def at_norm(m: nn.Module, args: tuple) -> None:
        _keep_branch(got, args)

    _stopped_pass(model, batch, [mods[block].register_forward_pre_hook(_stream_hook(got), with_kwargs=True),
                                 mods[norm].register_forward_pre_hook(at_norm)])
    return (got.get("stream", math.nan), got.get("branch", math.nan)), int(got.get("width", 0))


def library_norm_branch_scales(model: nn.Module, batch: Batch, blocks: list[str], norm: str, *, seed: int = 0,
                               draws: int = REFERENCE_DRAWS) -> tuple[float, float]:
    """:func:`norm_branch_scales` of ``blocks[0]`` with the modules it reads at the library's init,
    each the mean over the draws :func:`library_first_attention_ratio` takes; NaNs where the model
    has no library init."""
    stream, branch = _library_means(model, blocks, lambda: _norm_branch(model, batch, blocks[0], norm), size=2, seed=seed,
                                    draws=draws)
    return stream, branch


def library_ranges(model: nn.Module) -> dict[str, float] | None:
    """The init-scale attributes of a transformers model's config at their class defaults
    (``{"initializer_range": 0.02}``) for the model's own sizes: the config rebuilt from its own
    settings without them, so a default the class derives from the width comes out at this width
    (Youtu's ``2 / sqrt(5 hidden_size)``: 0.056 at width 256, not the 0.020 of its default 2048);
    the class's bare default where that rebuild fails (a config whose saved settings do not pass
    its own checks); None for a model the library does not initialize."""
    cfg = getattr(model, "config", None)
    if cfg is None or not callable(getattr(model, "_init_weights", None)):
        return None
    default = None
    try:
        default = type(cfg)(**{k: v for k, v in cfg.to_dict().items() if k not in RANGE_ATTRIBUTES})
    except Exception:  # noqa: BLE001 - settings the class will not take back: its bare default below
        pass
    if default is None:
        try:
            default = type(cfg)()
        except Exception:  # noqa: BLE001 - a config class that needs arguments has no default to read
            return None
    ranges = {a: float(getattr(default, a)) for a in RANGE_ATTRIBUTES
              if isinstance(getattr(cfg, a, None), (int, float)) and isinstance(getattr(default, a, None), (int, float))}
    return ranges or None


def _redrawn_later(order: list[nn.Module]) -> set[int]:
    """The modules of ``order`` whose every own parameter a module later in ``order`` owns too and
    that own no buffer: a head tied to the token table (GPT-2's ``lm_head``, drawn first of all)
    whose draw the table's own draw overwrites. Skipping it saves a draw of the whole table (0.17 s
    of GPT-2's 50257 x 768; ``benchmarks/bench_inspect.py``) and leaves every tensor as it was drawn."""
    later: set[int] = set()
    skip: set[int] = set()
    for m in reversed(order):
        own = [id(p) for p in m.parameters(recurse=False)]
        if own and all(i in later for i in own) and not any(True for _ in m.buffers(recurse=False)):
            skip.add(id(m))
        later.update(own)
    return skip


def _kept_weights(modules: list[nn.Module], saved: dict[int, tuple[torch.Tensor, torch.Tensor, object]]) -> bool:
    """Whether the library's init left a layer's weight (a linear or convolution layer's, not all
    zero) as it was, and no constructor re-drew (:func:`_constructor_init`): a reference read with it
    in place would carry the init under test.
    Tables a library keeps fixed (Marian's sinusoidal positions, Swin v2's logit scale) are not
    layers and do not count."""
    for m in modules:
        w = getattr(m, "weight", None)
        layer = isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) or type(m).__name__ == "Conv1D"
        if layer and isinstance(w, torch.Tensor) and id(w) in saved:
            copy = saved[id(w)][1]
            if torch.equal(w, copy) and bool(copy.any()):
                return True
    return False


def _constructor_init(m: nn.Module, saved: dict[int, tuple[torch.Tensor, torch.Tensor, object]]) -> None:
    """A transformers ``Conv1D`` whose weight ``_init_weights`` left as it was (OpenAI GPT's and
    ImageGPT's do not draw them) drawn as the library draws it, by its own constructor
    (``Conv1D(nf, nx)``: the library's init of that layer), in place."""
    w = getattr(m, "weight", None)
    if (type(m).__name__ != "Conv1D" or not type(m).__module__.startswith("transformers.") or not isinstance(w, torch.Tensor)
            or id(w) not in saved or not torch.equal(w, saved[id(w)][1])):
        return
    try:
        fresh = type(m)(m.nf, m.nx)
    except Exception:  # noqa: BLE001 - a constructor we cannot call: the layer stays kept, and the reference refused
        return
    for name in ("weight", "bias"):
        mine, theirs = getattr(m, name, None), getattr(fresh, name, None)
        if isinstance(mine, torch.Tensor) and isinstance(theirs, torch.Tensor) and mine.shape == theirs.shape:
            mine.copy_(theirs.to(mine.dtype))


def block_change_ratio(model: nn.Module, batch: Batch, block: str) -> float:
    """RMS of what ``block`` adds to the stream it reads (its output less its input: in a parallel
    block the attention's and the MLP's branches together) / RMS of that input, from one no-grad
    forward pass stopped at the block's exit; NaN where either is not seen or the shapes differ."""
    return _block_change(model, batch, block)[0]


def _block_change(model: nn.Module, batch: Batch, block: str) -> tuple[float, int]:
    """:func:`block_change_ratio`, and the stream's width (0 where not seen)."""
    mods = dict(model.named_modules())
    if block not in mods:
        return math.nan, 0
    got: dict[str, Any] = {}

    def pre(m: nn.Module, args: tuple, kwargs: dict) -> None:
        x = _block_input(args, kwargs)
        if x is not None and "input" not in got:
            got["input"] = x.detach().clone()  # a block may write into its input in place

    def post(m: nn.Module, inp: Any, out: Any) -> None:
        y, x = first_tensor(out, floating=True), got.get("input")
        if y is not None and x is not None and y.shape == x.shape:
            s = rms(x)
            got["ratio"] = rms(y.detach() - x) / s if s > 0 else math.nan
            got["width"] = y.shape[-1] if y.dim() else 1
        raise _Stop

    _stopped_pass(model, batch, [mods[block].register_forward_pre_hook(pre, with_kwargs=True), mods[block].register_forward_hook(post)])
    return float(got.get("ratio", math.nan)), int(got.get("width", 0))


def _block_input(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The stream a block is called with: its first floating positional argument, or
    ``hidden_states`` (or the first floating tensor) among its keyword arguments."""
    x = first_tensor(args, floating=True)
    return x if x is not None else first_tensor(kwargs.get("hidden_states", kwargs), floating=True)


def _stopped_pass(model: nn.Module, batch: Batch, handles: list[Any]) -> None:
    """One eval-mode, no-grad forward pass that a hook stops by raising :class:`_Stop` (what fails
    otherwise leaves no measurement); the ``handles`` removed and every module's training flag put
    back afterwards."""
    was = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            call_model(model, batch)
    except Exception:  # noqa: BLE001 - _Stop, which call_model reports as a rejected input; else no measurement
        pass
    finally:
        for h in handles:
            h.remove()
        for m, t in was.items():
            m.training = t


def library_block_change_ratio(model: nn.Module, batch: Batch, blocks: list[str], *, seed: int = 0,
                               draws: int = REFERENCE_DRAWS) -> float:
    """:func:`block_change_ratio` of ``blocks[0]`` with the modules it reads at the library's init,
    averaged as :func:`library_first_attention_ratio` averages; NaN where there is no library init."""
    return _library_mean(model, blocks, lambda: _block_change(model, batch, blocks[0]), seed=seed, draws=draws)


def library_first_attention_ratio(model: nn.Module, batch: Batch, blocks: list[str], branch: str, *, seed: int = 0,
                                  draws: int = REFERENCE_DRAWS) -> float:
    """:func:`first_attention_ratio` of ``blocks[0]`` with the modules it reads at the library's
    init (:func:`at_library_init`), the mean over ``draws`` seeded draws (one where the branch is
    :data:`ONE_DRAW_WIDTH` wide or more); NaN where the model has no library init or the pass fails.
    The global random state and the model are left as they were."""
    return library_first_attention_scales(model, batch, blocks, branch, seed=seed, draws=draws)[0]


def library_first_attention_scales(model: nn.Module, batch: Batch, blocks: list[str], branch: str, *, seed: int = 0,
                                   draws: int = REFERENCE_DRAWS) -> tuple[float, float]:
    """:func:`library_first_attention_ratio` and, from the same passes, the RMS of the stream
    entering ``blocks[0]`` at the library's init (the token embeddings the ratio divides by)."""
    return _library_means(model, blocks, lambda: _first_attention_scales(model, batch, blocks[0], branch), size=2,
                          seed=seed, draws=draws)


def _library_mean(model: nn.Module, blocks: list[str], measure: Callable[[], tuple[float, int]], *, seed: int,
                  draws: int) -> float:
    """The mean of ``measure()`` (a value and the width it was read at) over ``draws`` seeded draws
    of the library's init of everything outside ``blocks[1:]``; one draw from ONE_DRAW_WIDTH on."""
    def one() -> tuple[tuple[float, ...], int]:
        value, width = measure()
        return (value,), width

    return _library_means(model, blocks, one, size=1, seed=seed, draws=draws)[0]


def _library_means(model: nn.Module, blocks: list[str], measure: Callable[[], tuple[tuple[float, ...], int]], *, size: int,
                   seed: int, draws: int) -> tuple[float, ...]:
    """:func:`_library_mean` of a measure that reads ``size`` values in one pass, each averaged
    over the same draws; NaNs where there is no library init or a draw fails."""
    nan = (math.nan,) * size
    vals: list[tuple[float, ...]] = []
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        for k in range(draws):
            torch.manual_seed(derive_seed(seed, "library init", k))
            try:
                with at_library_init(model, blocks[1:]) as ok:
                    if not ok:
                        return nan
                    got, width = measure()
                    vals.append(tuple(got))
            except Exception:  # noqa: BLE001 - an init that fails on a module (custom code): no reference
                return nan
            if width >= ONE_DRAW_WIDTH:
                break
    return tuple(sum(v[i] for v in vals) / len(vals) for i in range(size))


@contextmanager
def at_library_init(model: nn.Module, later_blocks: list[str]) -> Iterator[bool]:
    """Within: every module outside ``later_blocks`` re-initialized by the model's own
    ``_init_weights`` at the config class's default range (yields False, changing nothing, where
    the model has no such init; False too where that init leaves a weight matrix as it was,
    :func:`_kept_weights`); afterwards every parameter, buffer and config value as it was."""
    ranges = library_ranges(model)
    if ranges is None:
        yield False
        return
    cfg = model.config
    inside = tuple(b + "." for b in later_blocks)
    chosen = [(n, m) for n, m in model.named_modules() if n not in later_blocks and not n.startswith(inside)]
    # every tensor of the model is saved and put back, the later blocks' too: a PreTrainedModel's own
    # ``_init_weights`` may walk every parameter below it (ImageGPT's c_proj rule re-draws all of them)
    tensors = {id(t): t for m in model.modules() for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))}
    saved = {k: (t, t.detach().clone(), getattr(t, "_is_hf_initialized", None)) for k, t in tensors.items()}
    old = {a: getattr(cfg, a) for a in ranges}
    try:
        for a, v in ranges.items():
            setattr(cfg, a, v)
        with torch.no_grad():
            for t, _, flag in saved.values():
                if flag is not None:
                    t._is_hf_initialized = False  # transformers' init helpers skip a tensor so marked
            order = [m for _, m in reversed(chosen)]  # inner modules first, then the ones around them (GPT-2's and ImageGPT's c_proj rules)
            skipped = _redrawn_later(order)
            for m in order:
                if id(m) not in skipped:
                    model._init_weights(m)
            for m in order:
                if id(m) in skipped and all(torch.equal(p, saved[id(p)][1]) for p in m.parameters(recurse=False)):
                    model._init_weights(m)  # the later module left the shared tensor alone after all
            for _, m in chosen:
                _constructor_init(m, saved)
        yield not _kept_weights([m for _, m in chosen], saved)
    finally:
        for a, v in old.items():
            setattr(cfg, a, v)
        with torch.no_grad():
            for t, copy, flag in saved.values():
                t.copy_(copy)
                if flag is not None:
                    t._is_hf_initialized = flag
