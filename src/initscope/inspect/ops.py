"""``inspect --ops``: every floating-point operation of a forward and backward pass, and its scale
against the number formats people train in.

Recording needs no trace: a ``TorchFunctionMode`` sees every torch call the model makes, module
or functional (``F.softmax``, ``torch.matmul``, an in-place ``+=``); module hooks keep the path of
the module it runs in. For each op's floating output it keeps, reduced on the fly (never a copy
of the activation): RMS, mean |x|, max |x| and, per format, the share of nonzero values below
the smallest normal (underflow) and above the largest finite value (overflow), without scaling
and with per-tensor scaling (amax mapped to the format's max, as float8 training does). A hook
on the output does the same for the gradient flowing back through it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

FORMATS: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
}
# ops that move or reinterpret values without computing new ones
SKIP = {
    "view", "view_as", "reshape", "reshape_as", "permute", "transpose", "t", "expand", "expand_as", "__getitem__", "contiguous",
    "unsqueeze", "squeeze", "flatten", "unflatten", "split", "chunk", "unbind", "narrow", "select", "detach", "clone", "to",
    "type", "float", "double", "half", "cpu", "cuda", "__get__", "__set__", "size", "dim", "numel", "stride", "data_ptr",
    "is_floating_point", "requires_grad_", "retain_grad", "register_hook", "__setitem__", "item", "tolist", "__len__",
    "__format__", "__repr__", "__bool__", "__hash__", "storage_offset", "element_size", "is_contiguous", "repeat",
    "movedim", "as_strided", "dtype", "device", "new_empty", "new_zeros", "new_ones", "zeros_like", "ones_like",
    "empty_like", "full_like", "copy_", "zero_", "fill_", "masked_fill_", "cat", "stack", "index_select", "gather",
    "embedding", "dropout", "__iter__", "__contains__", "__array__", "__reduce_ex__", "__deepcopy__",
}


SHARE_SAMPLE = 2**20  # values the format shares are counted on; a bigger tensor is read with a stride (RMS and max stay exact)


def format_stats(x: torch.Tensor) -> dict[str, float]:
    """RMS, mean |x|, max |x| and, per format, underflow and overflow shares (raw and with
    per-tensor scaling) and the bits of headroom (max over amax) and of footroom (RMS over the
    smallest normal), in log2. The shares count every value of a tensor of up to
    ``SHARE_SAMPLE`` values and an evenly strided sample of a bigger one, except overflow, which
    is counted exactly whenever max |x| passes a format's max (it is 0 otherwise)."""
    a = x.detach().abs()
    if a.dtype != torch.float32 and a.dtype != torch.float64:
        a = a.float()
    n = a.numel()
    out: dict[str, float] = {"rms": float(torch.linalg.vector_norm(a, dtype=torch.float64) / math.sqrt(n)) if n else math.nan,
                             "mean_abs": float(a.mean(dtype=torch.float64)) if n else math.nan, "max_abs": float(a.max()) if n else math.nan}
    flat = a.reshape(-1)
    s = flat[:: -(-n // SHARE_SAMPLE)] if n > SHARE_SAMPLE else flat
    nonzero = s > 0
    nz = int(nonzero.sum())
    amax = out["max_abs"]
    for name, dt in FORMATS.items():
        fi = torch.finfo(dt)
        tiny, big = float(fi.tiny), float(fi.max)
        under = int((nonzero & (s < tiny)).sum())
        over = int((flat > big).sum()) if amax > big else 0
        out[f"{name}_underflow"] = under / nz if nz else 0.0
        out[f"{name}_overflow"] = over / n if n else 0.0
        if amax > 0 and math.isfinite(amax):
            scale = big / amax  # per-tensor scaling: the largest value lands on the format's max
            out[f"{name}_underflow_scaled"] = int((nonzero & (s < tiny / scale)).sum()) / nz if nz else 0.0
            out[f"{name}_headroom_bits"] = math.log2(big / amax)
            out[f"{name}_footroom_bits"] = math.log2(out["rms"] / tiny) if out["rms"] > 0 else -math.inf
        else:
            out[f"{name}_underflow_scaled"] = 0.0 if amax == 0 else math.nan
            out[f"{name}_headroom_bits"] = math.inf if amax == 0 else -math.inf
            out[f"{name}_footroom_bits"] = -math.inf if amax == 0 else math.nan
    return out


class OpRecorder(TorchFunctionMode):
    """Rows of every floating op inside ``with`` (forward), and their gradients after ``backward``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.stack: list[str] = []
        self._hooks: list[Any] = []

    def __enter__(self) -> OpRecorder:
        def enter(name: str) -> Callable[..., None]:
            def pre(_m: nn.Module, _a: Any) -> None:
                self.stack.append(name or "(model)")
            return pre

        def leave(_m: nn.Module, _a: Any, _o: Any) -> None:  # returns None: a hook's return value would replace the output
            if self.stack:
                self.stack.pop()

        for name, m in self.model.named_modules():
            self._hooks.append(m.register_forward_pre_hook(enter(name)))
            self._hooks.append(m.register_forward_hook(leave))
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", str(func))
        if name in SKIP:
            return out
        # an op may return several tensors (torch's LSTM: output, h, c): each floating one is a row
        parts = [(name, out)] if isinstance(out, torch.Tensor) else (
            [(f"{name}[{i}]", t) for i, t in enumerate(out) if isinstance(t, torch.Tensor)] if isinstance(out, (tuple, list)) else [])
        for label, t in parts:
            if t.is_floating_point() and t.numel():
                self._record(label, t)
        return out

    def _record(self, name: str, out: torch.Tensor) -> None:
        row: dict[str, Any] = {"index": len(self.rows), "module": self.stack[-1] if self.stack else "(model)", "op": name,
                               "shape": "x".join(map(str, out.shape))}
        row.update({f"fwd_{k}": v for k, v in format_stats(out).items()})
        self.rows.append(row)
        if out.requires_grad:
            def grad_hook(g: torch.Tensor, row: dict[str, Any] = row) -> None:
                row.update({f"bwd_{k}": v for k, v in format_stats(g).items()})

            out.register_hook(grad_hook)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def record_ops(model: nn.Module, call: Callable[[], Any], loss_of: Callable[[Any], torch.Tensor] | None) -> pd.DataFrame:
    """One forward (``call()``) under the recorder, then the backward of ``loss_of(output)``."""
    rec = OpRecorder(model)
    with rec:
        out = call()
    if loss_of is not None:
        loss = loss_of(out)
        if loss.requires_grad and math.isfinite(float(loss.detach())):
            loss.backward()
    model.zero_grad(set_to_none=True)
    return rec.table()


def block_of(module: str) -> str | None:
    """The repeated block a module path runs in (``transformer.h.3.attn`` -> ``transformer.h.3``), or None."""
    parts = module.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].isdigit():
            return ".".join(parts[: i + 1])
    return None


def findings(ops: pd.DataFrame) -> dict[str, Any]:
    """``formats``: per format and direction, the ops that overflow and the ops most of whose values
    underflow, unscaled; and the gradient's RMS from the first block to the last."""
    out: dict[str, Any] = {"formats": {}, "messages": []}
    for fmt in FORMATS:
        entry = {}
        for d in ("fwd", "bwd"):
            o, u = f"{d}_{fmt}_overflow", f"{d}_{fmt}_underflow"
            if o not in ops:
                continue
            over = ops[ops[o] > 0]
            under = ops[ops[u] > 0.5]
            entry[d] = {"ops": int(ops[o].notna().sum()), "overflow_ops": int(len(over)), "mostly_underflow_ops": int(len(under)),
                        "underflow_share_mean": float(ops[u].mean())}
            if fmt == "float16" and len(over):
                r = over.iloc[0]
                out["messages"].append(f"{'forward' if d == 'fwd' else 'backward'} {r['op']} in {r['module']} overflows float16 at init "
                                       f"(max |x| {r[f'{d}_max_abs']:.3g} > 65504; {len(over)} op(s) in all)")
            if fmt == "float8_e4m3fn" and len(under):
                r = under.iloc[0]
                out["messages"].append(f"{'forward' if d == 'fwd' else 'backward'} values underflow float8 e4m3 unscaled in {len(under)} op(s), "
                                       f"first {r['op']} in {r['module']} ({r[u]:.0%} of its values below 2^-6)")
        out["formats"][fmt] = entry
    if "bwd_rms" in ops:
        blocks = ops.assign(block=ops.module.map(block_of)).dropna(subset=["block", "bwd_rms"])
        if blocks.block.nunique() >= 2:
            per = blocks.groupby("block", sort=False).bwd_rms.median()
            ratio = float(per.iloc[0] / per.iloc[-1]) if per.iloc[-1] > 0 else math.inf
            out["gradient_first_to_last_block"] = ratio
            if ratio > 100 or ratio < 0.01:
                out["messages"].append(f"gradients {'explode' if ratio > 1 else 'vanish'} toward the input: median op-gradient RMS in "
                                       f"{per.index[0]} is {ratio:.3g}x that in {per.index[-1]}")
    return out
