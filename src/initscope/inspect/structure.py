"""What each module *is* in the model: weighted layer (and its fans), norm, attention,
embedding, and which modules are the repeated blocks around a residual stream.

Read from the module types alone, before anything runs; what the data flow adds
(which layer feeds a norm, which tensor is added to the stream) is found while
recording (:mod:`initscope.inspect.record`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

# modules whose output is their input in eval mode: recording them only repeats a row
_PASS_THROUGH = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


def is_leaf(module: nn.Module) -> bool:
    """A module with no submodules of its own, counting a layer whose weight is parametrized
    (``weight_norm``, ``spectral_norm``: a ``parametrizations`` container computes it) as one."""
    return all(name == "parametrizations" for name, _ in module.named_children())


def in_parametrization(name: str) -> bool:
    """Whether a module name is a parametrization's (``layer.parametrizations.weight.0``): it
    computes a weight, and its output is no activation."""
    return name == "parametrizations" or name.startswith("parametrizations.") or ".parametrizations" in name


def is_recorded(name: str, module: nn.Module) -> bool:
    """Whether inspect measures this module's output: a leaf layer, or an attention module (torch's
    MultiheadAttention holds its out_proj as a child), never a parametrization, a pass-through or a
    rotary table (:func:`is_rotary`)."""
    return (bool(name) and not in_parametrization(name) and (is_leaf(module) or is_attention(module)) and not is_pass_through(module)
            and not is_rotary(module))


def is_rotary(module: nn.Module) -> bool:
    """A rotary position table (the ``transformers`` ``*RotaryEmbedding`` modules, which keep their
    frequencies in an ``inv_freq`` buffer, or any class so named): it computes cos and sin of the
    positions, the same for every input, so its output is neither an activation nor the init's.
    (Measured as one, Llama 3's scaled frequencies, half of them nearly still over a short batch,
    read as dead units: a warning on every library init.)"""
    return (len(list(module.parameters(recurse=False))) == 0
            and ("inv_freq" in dict(module.named_buffers(recurse=False)) or "Rotary" in type(module).__name__))


def fused_experts(model: nn.Module) -> list[str]:
    """Modules holding a mixture of experts as tensors of their own: two or more floating 3-D
    parameters with one leading size over 1, the experts (``MixtralExperts.gate_up_proj``
    ``[experts, 2 x ffn, width]`` and ``down_proj``), which no weighted layer module holds. Not a
    convolution's weight norm: ``weight_g`` [out, 1, 1] and ``weight_v`` [out, in, kernel] on a
    Conv1d under the older ``weight_norm``, ``original0`` / ``original1`` in the parametrization
    of the newer one (a TCN's layers were read as experts). Routed: beside the module (in its parent,
    outside it) a 2-D parameter one of whose sizes is the experts' count, the router's
    ``[experts, width]``; RecurrentGemma's RG-LRU gates, block-diagonal weights ``[heads, 64, 64]``
    that every token passes through, have none (stop 59)."""
    mods = dict(model.named_modules())
    out = []
    for n, m in mods.items():
        if isinstance(m, nn.modules.conv._ConvNd) or in_parametrization(n):
            continue
        cubes = [p for p in m.parameters(recurse=False) if p.is_floating_point() and p.dim() == 3]
        if n and len(cubes) >= 2 and len({p.shape[0] for p in cubes}) == 1 and cubes[0].shape[0] > 1 and _routed(mods, n, cubes[0].shape[0]):
            out.append(n)
    return out


def _routed(mods: dict[str, nn.Module], name: str, experts: int) -> bool:
    """Whether the parent of module ``name`` holds, outside it, a 2-D parameter with a size of
    ``experts``: a router (Mixtral's ``gate``, gpt-oss's ``router``, AFMoE's ``router.gate``)."""
    parent = name.rpartition(".")[0]
    return any(p.dim() == 2 and experts in p.shape for pn, p in mods[parent].named_parameters()
               if not (f"{parent}.{pn}" if parent else pn).startswith(name + "."))


def is_pass_through(module: nn.Module) -> bool:
    return isinstance(module, _PASS_THROUGH) or type(module).__name__ in ("Dropout", "DropPath", "StochasticDepth")


def is_nonorm(module: nn.Module) -> bool:
    """MobileBERT's ``NoNorm``: weight * x + bias, no statistic (its own name says so), so no norm to
    inspect, though its library init is a norm's (weight 1, bias 0)."""
    return type(module).__name__ == "NoNorm"


def is_norm(module: nn.Module) -> bool:
    """LayerNorm, RMSNorm, GroupNorm, BatchNorm, InstanceNorm, and any class named ``*Norm`` (a
    library's own RMSNorm): what comes out of one has a scale set by the norm, not the init.
    Not MobileBERT's ``NoNorm``, an elementwise affine map."""
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm, _BatchNorm, nn.modules.instancenorm._InstanceNorm)):
        return True
    rms = getattr(nn, "RMSNorm", None)
    if rms is not None and isinstance(module, rms):
        return True
    name = type(module).__name__
    if is_nonorm(module):  # a scale the init sets
        return False
    return name.endswith(("Norm", "Norm1d", "Norm2d", "RMSNorm")) or name in ("LayerNorm", "RMSNorm")


def is_attention(module: nn.Module) -> bool:
    """``nn.MultiheadAttention`` or a class named ``*Attention`` (the ``transformers`` families),
    ``*Attn``, ``*MHSA`` or ``Attn*`` / ``Attention*`` (hand-written: ``RelAttn``, ``AttnBlock2d``)."""
    name = type(module).__name__
    return isinstance(module, nn.MultiheadAttention) or name.endswith(("Attention", "Attn", "MHSA")) or name.startswith(("Attn", "Attention"))


def is_activation(module: nn.Module) -> bool:
    """torch's activation modules, and classes named for one (``NewGELUActivation``,
    ``QuickGELU``, a user's ``Swish``): the sigmoid or tanh they compute is their own math, not
    a gate the model reads."""
    if type(module).__module__ == nn.modules.activation.__name__:
        return not isinstance(module, nn.MultiheadAttention)  # (defined beside them)
    name = type(module).__name__.lower()
    return any(k in name for k in ("gelu", "silu", "swish", "mish", "activation"))


RECURRENT = (nn.RNNBase, nn.RNNCellBase)  # LSTM/GRU/RNN layers and their cells
# The names a query or key projection goes by (transformers, timm, hand-written attention)
QK_NAME = re.compile(r"(q|k|query|key|wq|wk|q_proj|k_proj|q_lin|k_lin|to_q|to_k)")


def is_embedding(module: nn.Module) -> bool:
    return isinstance(module, (nn.Embedding, nn.EmbeddingBag))


def weight_of(module: nn.Module) -> torch.Tensor | None:
    """The module's own floating ``weight`` of two or more dimensions, if it has one: Linear,
    ConvNd, ``transformers``' Conv1D, Embedding, a user's custom layer. Norm scales (1-D) are not."""
    w = getattr(module, "weight", None)
    if isinstance(w, torch.Tensor) and w.is_floating_point() and w.dim() >= 2:
        return w
    return None


@dataclass(frozen=True)
class Fans:
    fan_in: int
    fan_out: int
    source: str  # where the layout was read from: the module type, or a guess from the weight


def fans(module: nn.Module, weight: torch.Tensor) -> Fans:
    """Fan-in and fan-out of a weighted module: from its type where known, else the weight's layout.

    - ``nn.Linear`` and unknown 2-D weights: ``[out, in]`` (torch's convention);
    - ``ConvNd``: ``[out, in/groups, *kernel]`` (transposed: ``[in, out/groups, *kernel]``);
    - ``transformers``' ``Conv1D`` (GPT-2): ``[in, out]``, the transpose of Linear;
    - ``Embedding``: a lookup ``[num_embeddings, dim]``: one row is read per token, so fan-in 1
      and fan-out ``dim`` (what ``nn.init.normal_``'s N(0, 1) default is right for).
    """
    shape = tuple(weight.shape)
    receptive = 1
    for k in shape[2:]:
        receptive *= k
    if is_embedding(module):
        return Fans(1, shape[1], "embedding lookup [num_embeddings, dim]")
    if type(module).__name__ == "Conv1D" and len(shape) == 2:
        return Fans(shape[0], shape[1], "transformers Conv1D [in, out]")
    if isinstance(module, _ConvNd):
        if getattr(module, "transposed", False):
            return Fans(shape[0] * receptive, shape[1] * receptive, f"{type(module).__name__} [in, out/groups, *kernel]")
        return Fans(shape[1] * receptive, shape[0] * receptive, f"{type(module).__name__} [out, in/groups, *kernel]")
    if isinstance(module, nn.Linear):
        return Fans(shape[1], shape[0], "Linear [out, in]")
    return Fans(shape[1] * receptive, shape[0] * receptive, "guessed from the weight as [out, in, *kernel]")


SHORT_CONV_KERNEL_MAX = 4


def short_conv_mixers(model: nn.Module) -> tuple[str, ...]:
    """Token mixers whose only mixing is a short depthwise convolution (LFM2's ``conv``: a linear
    map in, a Conv1d of kernel <= SHORT_CONV_KERNEL_MAX with one group per channel, a linear map
    out): modules holding such a Conv1d whose every parameter belongs to a Linear or to that
    Conv1d. A state-space or linear-attention mixer holds a short convolution too, beside a
    recurrence whose parameters are its own (Mamba 2's and Qwen3-Next's ``A_log``, ``dt_bias``)
    and a norm: it mixes far back, and is not one. The innermost such modules."""
    found = []
    for n, m in model.named_modules():
        convs = [c for c in m.modules() if isinstance(c, nn.Conv1d)]
        if not n or len(convs) != 1 or isinstance(m, nn.Conv1d):
            continue
        c = convs[0]
        depthwise = c.groups == c.in_channels == c.out_channels and c.kernel_size[0] <= SHORT_CONV_KERNEL_MAX
        linear_only = all(isinstance(sub, (nn.Linear, nn.Conv1d)) or not list(sub.parameters(recurse=False))
                          for sub in m.modules())
        if depthwise and linear_only and any(isinstance(sub, nn.Linear) for sub in m.modules()):
            found.append(n)
    return tuple(n for n in found if not any(n.startswith(o + ".") for o in found))


def mixes_locally(model: nn.Module) -> bool:
    """Whether a convolution mixes neighbouring positions: a kernel wider than one whose windows
    overlap (stride below the kernel). A ViT's patch embedding (kernel = stride) does not;
    MobileViT's and LeViT's convolutions, PVT v2's overlapping patch embeddings do."""
    for m in model.modules():
        if isinstance(m, _ConvNd):
            k, st = tuple(m.kernel_size), tuple(m.stride)
            if any(a > 1 for a in k) and any(b < a for a, b in zip(k, st)):
                return True
    return False


def _is_block(m: nn.Module) -> bool:
    """A container of layers: a module with children, except a ``Sequential`` / ``ModuleList``
    whose children are containers themselves (a stage of blocks, not a block)."""
    if is_leaf(m):
        return False
    if isinstance(m, (nn.ModuleList, nn.Sequential)):
        return all(is_leaf(c) for c in m.children())
    return True


def find_blocks(model: nn.Module) -> list[tuple[str, str]]:
    """The repeated blocks, as ``(name, group)`` in registration order: every child of a
    ``ModuleList`` / ``Sequential`` that sits in a run of two or more children of one class that
    are containers of layers (a transformer's layers, a ResNet stage's blocks, a ``Sequential``
    of leaf layers that the parent adds to its input). Leaf layers in a row (``Linear, Linear``)
    are a plain stack, not blocks; a ``Sequential`` of blocks is a stage. Nested runs keep the
    outermost. One block object listed several times (``nn.ModuleList([block] * 4)``: weights
    shared across depth) is one name, whose hooks fire once per call. A run of lists the caller
    unpacks (``[attention, feed-forward]`` pairs) gives their containers; a list of layers of
    different classes (Jamba) gives them all."""
    blocks: list[tuple[str, str]] = []
    taken: list[str] = []
    listed: set[int] = set()

    def inside(name: str) -> bool:
        return any(name.startswith(t + ".") for t in taken)

    for name, mod in model.named_modules():
        if not isinstance(mod, (nn.ModuleList, nn.Sequential)) or inside(name):
            continue
        children = [(n, c) for n, c in mod._modules.items() if c is not None]  # with repeats (named_children drops them)
        chosen: list[tuple[str, nn.Module]] = []
        i = 0
        while i < len(children):
            j = i
            cls = type(children[i][1])
            while j + 1 < len(children) and type(children[j + 1][1]) is cls:
                j += 1
            run = children[i : j + 1]
            if len(run) >= 2 and _is_block(run[0][1]):
                chosen += run
            elif len(run) >= 2 and cls is nn.ModuleList:
                # lists the caller unpacks, `for attn, ff in self.layers: x = attn(x) + x; ...`
                # (lucidrains' layout): a list has no forward, so its containers are the blocks
                chosen += [(f"{n}.{gn}", g) for n, c in run for gn, g in c._modules.items()
                           if g is not None and not is_leaf(g) and not isinstance(g, (nn.ModuleList, nn.Sequential))]
            i = j + 1
        if not chosen and isinstance(mod, nn.ModuleList) and _mixed_layers(children):
            chosen = children
        for child_name, child in chosen:
            if id(child) in listed:
                continue
            listed.add(id(child))
            full = f"{name}.{child_name}" if name else child_name
            blocks.append((full, name or "(root)"))
            taken.append(full)
    return blocks


def _mixed_layers(children: list[tuple[str, nn.Module]]) -> bool:
    """Two or more layers of different classes in one list (Jamba's Mamba and attention decoder
    layers alternate): containers of layers, none a list itself nor holding repeated blocks."""
    return len(children) >= 2 and all(_is_block(c) and not isinstance(c, (nn.ModuleList, nn.Sequential)) and not find_blocks(c)
                                      for _, c in children)


def find_block_candidates(model: nn.Module, blocks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Containers that are blocks if the forward makes a residual addition in them, which only
    the forward tells (the recorder drops the others: ``Recorder.drop_non_blocks``): one listed
    alone in a ``ModuleList`` / ``Sequential`` (ALBERT's one layer group, which its encoder calls
    once per layer; a one-layer transformer), outermost only; and a module of a class of its own
    held as an attribute (a universal transformer's looped block, a U-Net's residual blocks), at
    every depth. Returned as ``(name, group)``, never inside a block of :func:`find_blocks` nor
    holding one."""
    names = [n for n, _ in blocks]
    out: list[tuple[str, str]] = []

    def related(a: str, b: str) -> bool:
        return a == b or a.startswith(b + ".") or b.startswith(a + ".")

    for name, mod in model.named_modules():
        if not isinstance(mod, (nn.ModuleList, nn.Sequential)):
            continue
        children = [(n, c) for n, c in mod._modules.items() if c is not None]
        if len(children) != 1 or not _is_block(children[0][1]) or is_attention(children[0][1]):
            continue
        full = f"{name}.{children[0][0]}" if name else children[0][0]
        if any(related(full, b) for b in names) or any(full.startswith(c + ".") for c, _ in out):
            continue
        out.append((full, name or "(root)"))
    # containers of a class of their own held as attributes, outside every block and holding none:
    # only a custom forward can add a branch to its input (a Sequential's cannot). Nested ones are
    # all candidates; each with an addition in it stays a block
    taken = names + [c for c, _ in out]
    for name, mod in model.named_modules():
        if (not name or is_leaf(mod) or isinstance(mod, (nn.ModuleList, nn.Sequential, nn.ModuleDict)) or is_attention(mod)
                or is_norm(mod) or in_parametrization(name) or any(related(name, t) for t in taken)):
            continue
        parent = name.rpartition(".")[0]
        out.append((name, parent or "(root)"))
    return out

