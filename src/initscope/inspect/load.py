"""Load the user's model and data, and call the model the way it expects to be called.

A batch is whatever the model takes: a tensor, a tuple (called as ``model(*batch)``) or a
dict (``model(**batch)``). Outputs may be tensors, tuples, dicts or ``transformers``
``ModelOutput``s; :func:`output_tensor` picks ``logits``, else ``last_hidden_state``, else
the first floating tensor.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.inspect.structure import is_embedding
from initscope.repro import generator

# A batch of sequences when the CLI draws token ids and the user gave no --batch: 32 x 64
# tokens is the size the speed target is stated at (issue 11), and 2048 rows is plenty for
# per-feature statistics; vector/image inputs keep 256 samples.
DEFAULT_BATCH = 256
DEFAULT_TOKEN_BATCH = 32


def load_object(ref: str) -> Callable[..., Any]:
    """``'package.module:name'`` or ``'path/to/file.py:name'`` -> the object."""
    if ":" not in ref:
        raise InitscopeError(f"expected MODULE:NAME (e.g. mypkg.models:make_model), got {ref!r}")
    mod_name, attr = ref.rsplit(":", 1)
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise InitscopeError(f"{mod_name!r} is not a file")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(mod_name)
    except InitscopeError:
        raise
    except Exception as e:
        raise InitscopeError(f"could not import {mod_name!r}: {type(e).__name__}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InitscopeError(f"{mod_name!r} has no attribute {attr!r}") from None


def call_factory(factory: Callable[[], nn.Module]) -> nn.Module:
    try:
        model = factory()
    except Exception as e:
        raise InitscopeError(f"the factory raised {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise InitscopeError(f"the factory must return a torch.nn.Module, got {type(model).__name__}")
    return model


# --- batches --------------------------------------------------------------------------------


@dataclass
class Batch:
    """Positional and keyword arguments of one model call, and how they were made."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # said in the report: "N(0, 1) inputs of shape ...", "token ids in [0, V)", "--data ..."

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (*self.args, *self.kwargs.values()) if isinstance(t, torch.Tensor)]

    @property
    def main(self) -> torch.Tensor | None:
        """The input the model reads first: the first positional tensor, else ``input_ids`` /
        ``pixel_values`` / the first tensor value."""
        for a in self.args:
            if isinstance(a, torch.Tensor):
                return a
        for key in ("input_ids", "pixel_values", "inputs_embeds", "input_values", "x"):
            if isinstance(self.kwargs.get(key), torch.Tensor):
                return self.kwargs[key]
        ts = self.tensors()
        return ts[0] if ts else None

    @property
    def size(self) -> int:
        m = self.main
        return int(m.shape[0]) if m is not None and m.dim() > 0 else 1

    def with_kwargs(self, **extra: Any) -> Batch:
        return Batch(self.args, {**self.kwargs, **extra}, self.source)


def as_batch(x: Any, source: str = "") -> Batch:
    """A tensor, tuple/list or dict (what a data loader returns) -> :class:`Batch`."""
    if isinstance(x, Batch):
        return x
    if isinstance(x, torch.Tensor):
        return Batch((x,), {}, source)
    if isinstance(x, Mapping):
        return Batch((), dict(x), source)
    if isinstance(x, (tuple, list)):
        return Batch(tuple(x), {}, source)
    raise InitscopeError(f"a batch must be a tensor, a tuple or a dict of tensors, got {type(x).__name__}")


def _hf_main_input(model: nn.Module) -> str | None:
    """``transformers`` models name their input: ``input_ids``, ``pixel_values``, ..."""
    name = getattr(model, "main_input_name", None)
    return name if isinstance(name, str) and hasattr(model, "config") else None


def token_table(model: nn.Module) -> nn.Module | None:
    """The token table of a model whose first layer is an embedding (``transformers``: its input
    embeddings; torch: the first registered leaf module), else None."""
    get = getattr(model, "get_input_embeddings", None)
    if callable(get) and _hf_main_input(model) == "input_ids":
        try:
            emb = get()
        except Exception:  # noqa: BLE001 - some wrappers raise NotImplementedError
            emb = None
        if is_embedding(emb) or hasattr(emb, "num_embeddings"):
            return emb
    for _, m in model.named_modules():
        if len(list(m.children())) == 0:  # the first leaf decides
            return m if is_embedding(m) else None
    return None


def token_vocab(model: nn.Module) -> int | None:
    """The vocabulary of a model whose first layer is an embedding (:func:`token_table`), else None."""
    table = token_table(model)
    return int(table.num_embeddings) if table is not None else None


def draw_batch(
    model: nn.Module,
    *,
    input_shape: tuple[int, ...] | None,
    vocab: int | None,
    batch: int | None,
    seed: int,
) -> Batch:
    """Random inputs for a model: token ids in ``[0, vocab)`` of shape ``[batch, *input_shape]``
    when ``vocab`` is given or the model's first layer is an embedding, else N(0, 1) floats.
    ``transformers`` models get them under their ``main_input_name``."""
    if not input_shape:
        raise InitscopeError("give --input-shape (e.g. 3,32,32, or 64 tokens) or --data MODULE:LOADER")
    if any(d < 1 for d in input_shape):
        raise InitscopeError(f"--input-shape needs positive sizes, got {input_shape}")
    if vocab is not None and vocab < 1:
        raise InitscopeError(f"--vocab must be >= 1, got {vocab}")
    g = generator(seed, "batch")
    tokens = vocab if vocab is not None else token_vocab(model)
    n = batch if batch is not None else (DEFAULT_TOKEN_BATCH if tokens else DEFAULT_BATCH)
    if n < 2:
        raise InitscopeError(f"--batch must be >= 2, got {n}")
    from initscope.resources import check_memory

    entries = n * math.prod(input_shape)
    check_memory(8.0 * entries, f"a batch of {n:,} inputs of shape {tuple(input_shape)} ({entries:,} numbers)",
                 knob="use a smaller --batch or --input-shape")
    if tokens:
        x = torch.randint(0, tokens, (n, *input_shape), generator=g)
        source = f"uniform random token ids in [0, {tokens}), shape {tuple(x.shape)}" + (
            "" if vocab is not None else " (the first layer is an embedding; --vocab sets the range)"
        )
    else:
        x = torch.randn(n, *input_shape, generator=g)
        source = f"N(0, 1) inputs of shape {tuple(x.shape)}"
    # drawn on the CPU from the seed (the same batch on every device), then put where the model is
    device = next((p.device for p in model.parameters()), None)
    if device is not None and device.type != "cpu":
        x = x.to(device)
        source += f", on {device}"
    key = _hf_main_input(model)
    return Batch((), {key: x}, source) if key else Batch((x,), {}, source)


def load_batch(loader: Callable[[], Any], batch: int | None, ref: str) -> Batch:
    """Call the user's ``--data`` loader; keep the first ``batch`` rows of every tensor."""
    try:
        x = loader()
    except Exception as e:
        raise InitscopeError(f"the data loader raised {type(e).__name__}: {e}") from None
    b = as_batch(x, f"--data {ref}")
    if not b.tensors():
        raise InitscopeError("the data loader must return a tensor, a tuple or a dict holding at least one tensor")
    if batch is not None:
        cut = lambda v: v[:batch] if isinstance(v, torch.Tensor) and v.dim() > 0 else v  # noqa: E731
        b = Batch(tuple(cut(a) for a in b.args), {k: cut(v) for k, v in b.kwargs.items()}, b.source)
    if b.size < 2:
        raise InitscopeError(f"the data loader's batch has {b.size} sample(s); at least 2 are needed")
    return b


def call_model(model: nn.Module, batch: Batch) -> Any:
    try:
        return model(*batch.args, **batch.kwargs)
    except InitscopeError:
        raise
    except Exception as e:
        shapes = ", ".join(
            [str(tuple(t.shape)) for t in batch.args if isinstance(t, torch.Tensor)]
            + [f"{k}={tuple(v.shape)}" for k, v in batch.kwargs.items() if isinstance(v, torch.Tensor)]
        )
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InitscopeError(f"the model rejected an input of shape {shapes}: {type(e).__name__}: {msg}") from None


# --- outputs ---------------------------------------------------------------------------------


def first_tensor(out: Any, *, floating: bool = False, batched: bool = False) -> torch.Tensor | None:
    """The first tensor in a (nested) tuple, list, dict or ModelOutput (``batched``: of 1+
    dimensions, passing over a scalar such as an auxiliary loss returned first)."""
    if isinstance(out, torch.Tensor):
        return out if (out.is_floating_point() or not floating) and (out.dim() > 0 or not batched) else None
    if isinstance(out, Mapping) or hasattr(out, "to_tuple"):
        values = out.values() if isinstance(out, Mapping) else out.to_tuple()
        for o in values:
            t = first_tensor(o, floating=floating, batched=batched)
            if t is not None:
                return t
    if isinstance(out, (tuple, list)):
        for o in out:
            t = first_tensor(o, floating=floating, batched=batched)
            if t is not None:
                return t
    return None


def output_tensor(out: Any) -> torch.Tensor | None:
    """The model's prediction: ``logits``, else ``last_hidden_state``, else the first floating
    tensor that is not a scalar (``return aux_loss, logits``), else a scalar one."""
    for key in ("logits", "last_hidden_state", "prediction_logits"):
        v = out.get(key) if isinstance(out, Mapping) else getattr(out, key, None)
        if isinstance(v, torch.Tensor):
            return v
    t = first_tensor(out, floating=True, batched=True)
    return t if t is not None else first_tensor(out, floating=True)


def model_loss(out: Any) -> torch.Tensor | None:
    """The loss a model computed itself (a ``transformers`` model given ``labels``)."""
    v = out.get("loss") if isinstance(out, Mapping) else getattr(out, "loss", None)
    return v if isinstance(v, torch.Tensor) and v.dim() == 0 else None
