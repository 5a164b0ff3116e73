"""Small models of the families people train, each with its library's own init, and the
ways an init goes wrong, for trying ``inspect`` (and for its tests and calibration):

    initscope inspect initscope.inspect.zoo:llama --input-shape 32
    initscope inspect initscope.inspect.zoo:llama_x10 --input-shape 32

``build(family, init)`` is the general form. The ``transformers`` families are built from a
config (nothing is downloaded) and need the ``transformers`` extra.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from initscope.errors import InitscopeError, unknown

VOCAB = 1000  # token ids of the sequence families are drawn in [0, VOCAB)
CLASSES = 10  # classes of the classifier families
SEQ = 32  # tokens per sequence the families are sized for
IMAGE = (3, 32, 32)


def _tf():
    try:
        import transformers
    except ImportError:
        raise InitscopeError("this model needs the transformers library: pip install 'initscope[transformers]'") from None
    return transformers


def gpt2_model(**cfg: object) -> nn.Module:
    t = _tf()
    c = dict(vocab_size=VOCAB, n_positions=128, n_embd=64, n_layer=4, n_head=4, bos_token_id=0, eos_token_id=0)
    c.update(cfg)
    return t.GPT2LMHeadModel(t.GPT2Config(**c))


def llama_model(**cfg: object) -> nn.Module:
    t = _tf()
    c = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=172, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=128)
    c.update(cfg)
    return t.LlamaForCausalLM(t.LlamaConfig(**c))


def neox_model(**cfg: object) -> nn.Module:
    """GPT-NeoX: parallel attention and MLP branches added to the stream together."""
    t = _tf()
    c = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
             max_position_embeddings=128)
    c.update(cfg)
    return t.GPTNeoXForCausalLM(t.GPTNeoXConfig(**c))


def bert_model(**cfg: object) -> nn.Module:
    t = _tf()
    c = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
             max_position_embeddings=128, num_labels=CLASSES)
    c.update(cfg)
    return t.BertForSequenceClassification(t.BertConfig(**c))


def vit_model(**cfg: object) -> nn.Module:
    t = _tf()
    c = dict(image_size=IMAGE[1], patch_size=4, num_channels=IMAGE[0], hidden_size=64, num_hidden_layers=4,
             num_attention_heads=4, intermediate_size=256, num_labels=CLASSES)
    c.update(cfg)
    return t.ViTForImageClassification(t.ViTConfig(**c))


class TokenEncoder(nn.Module):
    """torch's own ``nn.TransformerEncoder`` with token embeddings, learned positions and a
    classifier on the mean token: torch's default init throughout."""

    def __init__(self, *, norm_first: bool = False, d: int = 64, layers: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(SEQ, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.1, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d) if norm_first else nn.Identity()
        self.head = nn.Linear(d, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids) + self.pos[: ids.shape[1]]
        return self.head(self.norm(self.encoder(h)).mean(dim=1))


class BasicBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def resnet_model(width: int = 16, blocks: int = 3) -> nn.Module:
    """A small ResNet with BatchNorm (torch's default init)."""
    return nn.Sequential(nn.Conv2d(IMAGE[0], width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                         *[BasicBlock(width) for _ in range(blocks)], nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, CLASSES))


def cnn_model(width: int = 16, depth: int = 4) -> nn.Module:
    """A plain CNN without normalization, Kaiming-initialized (He et al. 2015)."""
    layers: list[nn.Module] = []
    c = IMAGE[0]
    for _ in range(depth):
        conv = nn.Conv2d(c, width, 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU()]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, CLASSES))


def mlp_model(depth: int = 8, width: int = 128, in_dim: int = 64, kaiming: bool = True) -> nn.Module:
    """A ReLU MLP, Kaiming-initialized (``kaiming=False``: torch's default init, which shrinks
    the signal by ~1/sqrt(6) a layer)."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        lin = nn.Linear(d, width)
        if kaiming:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(width, CLASSES))


class LSTMClassifier(nn.Module):
    """Token embeddings, a 2-layer LSTM and a classifier on its last state (torch's default init)."""

    def __init__(self, d: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.lstm = nn.LSTM(d, d, num_layers=2, batch_first=True)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))
        return self.head(out[:, -1])


# family -> (builder, input shape, how its residual branches end: names of the modules whose
# weights write into the stream, for the "zero-residual" init)
FAMILIES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], tuple[str, ...]]] = {
    "gpt2": (gpt2_model, (SEQ,), ("attn.c_proj", "mlp.c_proj")),
    "llama": (llama_model, (SEQ,), ("o_proj", "down_proj")),
    "neox": (neox_model, (SEQ,), ("attention.dense", "mlp.dense_4h_to_h")),
    "bert": (bert_model, (SEQ,), ("attention.output.dense", "output.dense")),
    "vit": (vit_model, IMAGE, ("attention.o_proj", "mlp.fc2", "attention.output.dense", "output.dense")),
    "encoder": (lambda: TokenEncoder(norm_first=False), (SEQ,), ("out_proj", "linear2")),
    "encoder-prenorm": (lambda: TokenEncoder(norm_first=True), (SEQ,), ("out_proj", "linear2")),
    "resnet": (resnet_model, IMAGE, ("bn2",)),
    "cnn": (cnn_model, IMAGE, ()),
    "mlp": (mlp_model, (64,), ()),
    "mlp20-torch": (lambda: mlp_model(depth=20, kaiming=False), (64,), ()),
    "lstm": (LSTMClassifier, (SEQ,), ()),
}

INITS = ("default", "x10", "x0.1", "x0.01", "constant", "zero-residual", "orthogonal")


def _scale_all(model: nn.Module, factor: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)


def _constant(model: nn.Module) -> None:
    """Every weight matrix set to its own mean magnitude (same scale, every unit identical)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.fill_(float(p.abs().mean()))


def _orthogonal(model: nn.Module) -> None:
    """Every weight matrix re-drawn orthogonal with gain 1 (rows or columns orthonormal), biases
    kept: a scale-preserving init that ignores what each layer feeds."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                nn.init.orthogonal_(p.view(p.shape[0], -1), generator=g)


def _zero_residual(model: nn.Module, ends: tuple[str, ...]) -> int:
    """Every parameter of the modules whose names end in one of ``ends`` set to 0; how many modules."""
    zeroed = 0
    with torch.no_grad():
        for name, m in model.named_modules():
            if any(name.endswith(e) for e in ends):
                zeroed += 1
                for p in m.parameters(recurse=False):
                    p.zero_()
    return zeroed


def build(family: str, init: str = "default", *, seed: int = 0) -> nn.Module:
    """A model of ``family`` with ``init``: its library's default, every parameter scaled
    (``x10``, ``x0.1``, ``x0.01``), ``constant`` weight matrices, or ``zero-residual`` (the
    last layer of every residual branch zeroed, as GPT-2's scaled / ReZero / Fixup-style inits
    push to the limit)."""
    if family not in FAMILIES:
        raise unknown("model family", family, FAMILIES)
    if init not in INITS:
        raise unknown("init", init, INITS)
    torch.manual_seed(seed)
    builder, _, ends = FAMILIES[family]
    model = builder()
    if init.startswith("x"):
        _scale_all(model, float(init[1:]))
    elif init == "constant":
        _constant(model)
    elif init == "orthogonal":
        _orthogonal(model)
    elif init == "zero-residual":
        if not ends:
            raise InitscopeError(f"{family} has no residual branches to zero")
        _zero_residual(model, ends)
    return model


# --- each family's task: small, learnable in a few hundred steps, chance loss log(classes) ---

LM_SUCCESSORS = 4  # the LM task: a first-order Markov chain, each token followed by one of 4


def task(family: str) -> str:
    """``lm`` (next token of a sparse Markov chain), ``tokens`` (bag-of-words classes) or
    ``digits`` (scikit-learn's 8 x 8 digits: flat for MLPs, 3 x 32 x 32 images otherwise)."""
    if family in ("gpt2", "llama", "neox"):
        return "lm"
    if family in ("bert", "encoder", "encoder-prenorm", "lstm"):
        return "tokens"
    return "digits"


def _digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    n_train = 1400
    mu, sd = x[:n_train].mean(0), x[:n_train].std(0).clamp_min(1e-3)  # standardized per feature on the training split
    x = (x - mu) / sd
    return (x[:n_train], y[:n_train]) if split == "train" else (x[n_train:], y[n_train:])


def task_data(family: str, n: int, *, seed: int, split: str = "train") -> tuple[object, torch.Tensor]:
    """``n`` examples of the family's task: (model input, labels). For the LM task the labels
    are the input ids (the model shifts them)."""
    g = torch.Generator().manual_seed(seed * 7919 + (0 if split == "train" else 1))
    kind = task(family)
    if kind == "lm":
        table = torch.randint(0, VOCAB, (VOCAB, LM_SUCCESSORS), generator=torch.Generator().manual_seed(0))
        ids = torch.empty(n, SEQ, dtype=torch.long)
        ids[:, 0] = torch.randint(0, VOCAB, (n,), generator=g)
        for t in range(1, SEQ):
            ids[:, t] = table[ids[:, t - 1], torch.randint(0, LM_SUCCESSORS, (n,), generator=g)]
        return {"input_ids": ids}, ids
    if kind == "tokens":
        y = torch.randint(0, CLASSES, (n,), generator=g)
        own = y.unsqueeze(1) * (VOCAB // CLASSES) + torch.randint(0, VOCAB // CLASSES, (n, SEQ), generator=g)
        ids = torch.where(torch.rand(n, SEQ, generator=g) < 0.5, own, torch.randint(0, VOCAB, (n, SEQ), generator=g))
        return ({"input_ids": ids} if family == "bert" else ids), y
    x, y = _digits(split)
    idx = torch.randint(0, len(y), (n,), generator=g)
    x, y = x[idx], y[idx]
    if family.startswith("mlp"):
        return x, y
    img = torch.nn.functional.interpolate(x.view(-1, 1, 8, 8), size=IMAGE[1:], mode="bilinear", align_corners=False)
    img = img.expand(-1, IMAGE[0], -1, -1).contiguous()
    return ({"pixel_values": img} if family == "vit" else img), y


def input_shape(family: str) -> tuple[int, ...]:
    if family not in FAMILIES:
        raise unknown("model family", family, FAMILIES)
    return FAMILIES[family][1]


# zero-argument factories for the command line: initscope inspect initscope.inspect.zoo:llama_x10
def _factory(family: str, init: str) -> Callable[[], nn.Module]:
    f = lambda: build(family, init)  # noqa: E731
    f.__name__ = f"{family}_{init}".replace("-", "_").replace(".", "")
    return f


for _fam in FAMILIES:
    for _init in INITS:
        _name = _fam.replace("-", "_") if _init == "default" else f"{_fam}_{_init}".replace("-", "_").replace(".", "")
        globals()[_name] = _factory(_fam, _init)
