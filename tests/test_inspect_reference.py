"""The library-init yardstick (initscope.inspect.reference): measured in place, everything put back."""

import math

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

from initscope.inspect.load import as_batch  # noqa: E402
from initscope.inspect.reference import (  # noqa: E402
    at_library_init,
    first_attention_ratio,
    library_first_attention_ratio,
    library_first_attention_scales,
    library_norm_branch_scales,
    library_ranges,
    norm_branch_scales,
)
from initscope.inspect.zoo import gpt2_model, llama_model  # noqa: E402

IDS = as_batch({"input_ids": torch.randint(0, 1000, (4, 32), generator=torch.Generator().manual_seed(0))})
LLAMA_BLOCKS = [f"model.layers.{i}" for i in range(4)]
O_PROJ = "model.layers.0.self_attn.o_proj"


def _embeddings_and_o_proj_rms(m) -> tuple[float, float]:
    """RMS of the token embeddings and of the first block's o_proj output in one full eval pass,
    read by forward hooks: the by-hand answer the stopped passes are checked against."""
    seen = {}
    hooks = [m.model.embed_tokens.register_forward_hook(lambda mod, i, o: seen.setdefault("emb", o.detach())),
             m.model.layers[0].self_attn.o_proj.register_forward_hook(lambda mod, i, o: seen.setdefault("o", o.detach()))]
    with torch.no_grad():
        m.eval()(**IDS.kwargs)
    for h in hooks:
        h.remove()
    return float(seen["emb"].pow(2).mean().sqrt()), float(seen["o"].pow(2).mean().sqrt())


def test_the_first_attention_ratio_is_the_o_proj_output_over_the_embeddings():
    """One forward pass stopped at o_proj: the same RMS ratio as a full pass with hooks by hand."""
    torch.manual_seed(0)
    m = llama_model()
    emb, o = _embeddings_and_o_proj_rms(m)
    by_hand = o / emb
    assert first_attention_ratio(m, IDS, LLAMA_BLOCKS[0], O_PROJ) == pytest.approx(by_hand, rel=1e-5)
    assert math.isnan(first_attention_ratio(m, IDS, LLAMA_BLOCKS[0], "no.such.module"))


def test_the_library_init_is_undone_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    m = gpt2_model()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.config.initializer_range = 0.2
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    ref = library_first_attention_ratio(m, IDS, [f"transformer.h.{i}" for i in range(4)], "transformer.h.0.attn.c_proj")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert m.config.initializer_range == 0.2
    # the yardstick is the config class's default range, not the one the user set
    assert library_ranges(m) == {"initializer_range": 0.02}
    own = first_attention_ratio(m, IDS, "transformer.h.0", "transformer.h.0.attn.c_proj")
    assert own / ref > 5  # x3 on every weight and the norm gains


def test_inside_the_library_init_the_first_block_is_redrawn_and_later_ones_are_not():
    """Within the context the token table and the first block hold the library's N(0, 0.02) (GPT-2's
    c_proj its 0.02 / sqrt(2 x layers)), the later blocks what the user set."""
    torch.manual_seed(0)
    m = gpt2_model()
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(0.5)
    with at_library_init(m, [f"transformer.h.{i}" for i in range(1, 4)]) as ok:
        assert ok
        assert float(m.transformer.wte.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
        assert float(m.transformer.h[0].attn.c_attn.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
        assert float(m.transformer.h[0].attn.c_proj.weight.detach().std()) == pytest.approx(0.02 / math.sqrt(8), rel=0.1)
        assert float(m.transformer.h[0].ln_1.weight.detach().mean()) == 1.0
        assert bool((m.transformer.h[1].attn.c_attn.weight == 0.5).all())
    assert all(bool((p == 0.5).all()) for p in m.parameters())


def test_the_yardstick_does_not_move_with_the_first_block_s_own_scale():
    """Scaling block 0's o_proj by 4 scales its own ratio by exactly 4 and leaves the library's (the
    same seed) exactly as it was: the init the user chose is what the ratio reads."""
    torch.manual_seed(0)
    m = llama_model()
    own = first_attention_ratio(m, IDS, LLAMA_BLOCKS[0], O_PROJ)
    ref = library_first_attention_ratio(m, IDS, LLAMA_BLOCKS, O_PROJ, seed=5)
    with torch.no_grad():
        m.model.layers[0].self_attn.o_proj.weight.mul_(4.0)
    assert first_attention_ratio(m, IDS, LLAMA_BLOCKS[0], O_PROJ) == pytest.approx(4 * own, rel=1e-5)
    assert library_first_attention_ratio(m, IDS, LLAMA_BLOCKS, O_PROJ, seed=5) == ref
    assert library_first_attention_ratio(m, IDS, LLAMA_BLOCKS, O_PROJ, seed=6) != ref


def test_a_model_the_library_does_not_initialize_has_no_yardstick():
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8))
    assert library_ranges(model) is None
    with at_library_init(model, []) as ok:
        assert not ok
    assert math.isnan(library_first_attention_ratio(model, as_batch(torch.zeros(2, 3, dtype=torch.long)), ["0"], "1"))


def _imagegpt(init_std: float | None = None, seed: int = 0) -> nn.Module:
    """A small ImageGPT: GPT-2's block, whose ``_init_weights`` leaves its Conv1D layers to their
    constructor."""
    torch.manual_seed(seed)
    m = transformers.ImageGPTForCausalImageModeling(transformers.ImageGPTConfig(vocab_size=1001, n_embd=64, n_layer=2,
                                                                                n_head=4, n_positions=64))
    if init_std is not None:
        with torch.no_grad():
            for p in m.parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, init_std)
    return m


def test_layers_the_library_init_leaves_to_their_constructor_are_drawn_by_it():
    """ImageGPT's ``_init_weights`` re-draws its embeddings, and its root-level rule every c_proj at
    0.02 / sqrt(2 x layers), but not c_attn or c_fc, which its Conv1D constructor draws N(0, 0.02).
    The yardstick draws those by that constructor (before stop 45 it had none: stop 44 refused a
    reference read with them at the init under test). So at N(0, 0.1) the library init gives the
    ratio of ImageGPT as built (independent: the model at its own init), and everything, the later
    block's c_proj too, is put back."""
    m = _imagegpt(0.1)
    blocks = ["transformer.h.0", "transformer.h.1"]
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with at_library_init(m, blocks[1:]) as ok:
        assert ok
        h0 = m.transformer.h[0]
        assert float(h0.attn.c_attn.weight.detach().std()) == pytest.approx(0.02, rel=0.1)  # its constructor's draw
        assert float(h0.mlp.c_fc.weight.detach().std()) == pytest.approx(0.02, rel=0.1)
        assert float(h0.attn.c_proj.weight.detach().std()) == pytest.approx(0.02 / 2, rel=0.1)  # the root's rule, 2 layers
        assert float(m.transformer.wte.weight.detach().std()) == pytest.approx(0.02, rel=0.1)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    ref = library_first_attention_ratio(m, IDS, blocks, "transformer.h.0.attn.c_proj", draws=8)
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    built = [first_attention_ratio(_imagegpt(seed=s), IDS, blocks[0], "transformer.h.0.attn.c_proj") for s in range(8)]
    assert ref == pytest.approx(sum(built) / len(built), rel=0.15)


def test_a_library_init_that_keeps_a_layer_as_it_was_gives_no_yardstick():
    """Where the library's init leaves a linear layer's weight as it was and no constructor re-draws
    it (here LLaMA's ``_init_weights`` made to skip its Linear layers), a reference read with it in
    place would carry the init under test: there is none, and everything is put back."""
    torch.manual_seed(0)
    m = llama_model()
    own = m._init_weights
    m._init_weights = lambda mod: None if isinstance(mod, nn.Linear) else own(mod)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with at_library_init(m, LLAMA_BLOCKS[1:]) as ok:
        assert not ok
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert math.isnan(library_first_attention_ratio(m, IDS, LLAMA_BLOCKS, O_PROJ))
    del m._init_weights
    assert math.isfinite(library_first_attention_ratio(m, IDS, LLAMA_BLOCKS, O_PROJ))


def test_imagegpt_is_inspected_as_a_causal_lm_under_its_own_loss():
    """``ImageGPTForCausalImageModeling`` ends in no LM suffix inspect knew before stop 44: it was
    judged by an MSE against random targets. Its own loss (next pixel id) is now used, and its
    chance level is the log of its ids."""
    from initscope.inspect import inspect

    res = inspect(_imagegpt(), {"input_ids": IDS.kwargs["input_ids"]})
    assert res.output.task == "lm" and res.output.loss_source == "the model's own loss (given labels)"
    assert res.output.chance_loss == pytest.approx(math.log(1000))  # its logits: every id but the start token
    assert abs(res.output.loss - res.output.chance_loss) < 0.1  # N(0, 0.02) logits: near chance
    assert 0.7 < res.output.first_attention_library / float(res.branches.ratio.iloc[0]) < 1.4  # built at its library's init


@pytest.mark.parametrize("width, draws", [(64, 3), (512, 1)])
def test_a_wide_stream_takes_one_draw_of_the_library_init(width: int, draws: int):
    """Below ONE_DRAW_WIDTH the reference is the mean of three seeded draws, from it on the first
    draw alone: the same numbers as asking for that many draws by hand."""
    from initscope.inspect.reference import ONE_DRAW_WIDTH

    assert (width >= ONE_DRAW_WIDTH) == (draws == 1)
    torch.manual_seed(0)
    m = gpt2_model(n_embd=width, n_layer=2, n_head=4)
    blocks, branch = ["transformer.h.0", "transformer.h.1"], "transformer.h.0.attn.c_proj"
    ref = library_first_attention_ratio(m, IDS, blocks, branch, seed=3)
    assert ref == library_first_attention_ratio(m, IDS, blocks, branch, seed=3, draws=draws)
    one = library_first_attention_ratio(m, IDS, blocks, branch, seed=3, draws=1)
    assert (ref == one) == (draws == 1)


def test_a_range_the_config_derives_from_the_width_is_read_at_this_width():
    """Youtu's config sets initializer_range = 2 / sqrt(5 hidden_size) when none is given: the
    yardstick is that range at the model's own width, so its default init reads 1x its library
    (it read 8.6x at width 256 against the range of the class's default width, 2048)."""
    cfg_cls = getattr(transformers, "YoutuConfig", None)
    if cfg_cls is None:
        pytest.skip("this transformers has no Youtu")
    kw = dict(vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=2, q_lora_rank=64, kv_lora_rank=32, qk_rope_head_dim=16, qk_nope_head_dim=16, v_head_dim=32,
              max_position_embeddings=64, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    m = transformers.YoutuForCausalLM(cfg_cls(**kw))
    assert library_ranges(m) == {"initializer_range": pytest.approx(2 / (5 * 128) ** 0.5)}
    blocks = [f"model.layers.{i}" for i in range(2)]
    own = first_attention_ratio(m, IDS, blocks[0], O_PROJ)
    ref = library_first_attention_ratio(m, IDS, blocks, O_PROJ)
    assert own / ref == pytest.approx(1.0, abs=0.25)
    # a range the user set is not the yardstick: the class's derived one still is
    m.config.initializer_range = 0.2
    assert library_ranges(m) == {"initializer_range": pytest.approx(2 / (5 * 128) ** 0.5)}


def _gemma3(scale_tables: float = 1.0, scale_rest: float = 1.0) -> nn.Module:
    """A small Gemma 3 (a norm before and after each branch), its tables and every other parameter
    scaled apart."""
    torch.manual_seed(0)
    cfg = transformers.Gemma3TextConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=64,
                                        pad_token_id=0, bos_token_id=0, eos_token_id=0, sliding_window=16)
    m = transformers.Gemma3ForCausalLM(cfg)
    tables = {id(p) for mod in m.modules() if isinstance(mod, nn.Embedding) for p in mod.parameters()}
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(scale_tables if id(p) in tables else scale_rest)
    return m


def test_a_branch_ending_in_a_norm_is_read_before_it_against_the_tokens():
    """norm_branch_scales: the stream entering the first block and what enters the norm after its
    attention, as forward hooks on the embeddings and on o_proj see them in a full pass."""
    m = _gemma3()
    emb, o = _embeddings_and_o_proj_rms(m)
    stream, branch = norm_branch_scales(m, IDS, "model.layers.0", "model.layers.0.post_attention_layernorm")
    assert stream == pytest.approx(emb, rel=1e-5)  # Gemma's tables x sqrt(width) inside the module
    assert branch == pytest.approx(o, rel=1e-5)


@pytest.mark.parametrize("tables, rest", [(1.0, 1.0), (0.1, 1.0), (1.0, 0.1), (0.1, 0.1)])
def test_the_tokens_and_the_normed_branch_are_read_against_the_library(tables, rest):
    """Against the library's own init both readings are the scales applied: the tables' factor, and
    the attention's value and output projections' product (the pre-norm's gain is Gemma's 1 + w,
    0 x anything)."""
    m = _gemma3(tables, rest)
    stream, branch = norm_branch_scales(m, IDS, "model.layers.0", "model.layers.0.post_attention_layernorm")
    lib_stream, lib_branch = library_norm_branch_scales(m, IDS, ["model.layers.0", "model.layers.1"],
                                                        "model.layers.0.post_attention_layernorm")
    assert stream / lib_stream == pytest.approx(tables, rel=0.05)
    assert branch / lib_branch == pytest.approx(rest**2, rel=0.25)  # the draws differ: one attention's RMS


def test_a_head_tied_to_the_token_table_is_not_drawn_twice():
    """GPT-2's lm_head shares wte's weight and comes first in the draw order: wte's own draw is the
    one that stays, so the head's is skipped (a 50257 x 768 draw at real size); the table still
    holds the library's N(0, 0.02) inside, and everything is put back."""
    from initscope.inspect.reference import _redrawn_later

    torch.manual_seed(0)
    m = gpt2_model()
    assert m.lm_head.weight is m.transformer.wte.weight
    order = [mod for _, mod in reversed(list(m.named_modules()))]
    assert _redrawn_later(order) == {id(m.lm_head)}
    with torch.no_grad():
        m.transformer.wte.weight.fill_(0.5)
    with at_library_init(m, [f"transformer.h.{i}" for i in range(1, 4)]) as ok:
        assert ok and float(m.transformer.wte.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert bool((m.transformer.wte.weight == 0.5).all())


class _TiedConfig(transformers.PretrainedConfig):
    model_type = "initscope-tied-test"

    def __init__(self, initializer_range: float = 0.02, **kw):
        self.initializer_range = initializer_range
        super().__init__(**kw)


class _HeadDrawsTheTable(transformers.PreTrainedModel):
    """A tied table whose library init is the head's rule alone (the table's module draws nothing)."""

    config_class = _TiedConfig

    def __init__(self, config):
        super().__init__(config)
        self.emb = nn.Embedding(40, 8)
        self.head = nn.Linear(8, 40, bias=False)
        self.head.weight = self.emb.weight

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(0.0, self.config.initializer_range)


def test_a_skipped_head_is_drawn_after_all_where_the_table_s_own_module_left_it():
    m = _HeadDrawsTheTable(_TiedConfig())
    with torch.no_grad():
        m.emb.weight.fill_(0.5)
    with at_library_init(m, []) as ok:
        assert ok
        assert float(m.emb.weight.detach().std()) == pytest.approx(0.02, rel=0.15)
    assert bool((m.emb.weight == 0.5).all())


def test_the_library_s_token_embeddings_come_from_the_same_passes_as_its_ratio():
    """library_first_attention_scales: its ratio is library_first_attention_ratio's, and its stream
    is the token embeddings' RMS the library's N(0, initializer_range) draws (0.02, within the
    sampling error of the looked-up rows); the model's own table, drawn 5x smaller, reads 0.2x it
    in inspect's Output.embeddings_library, and by hand."""
    from initscope.inspect import inspect

    torch.manual_seed(0)
    m = llama_model()
    with torch.no_grad():
        m.model.embed_tokens.weight.normal_(0.0, 0.004)
    ratio, stream = library_first_attention_scales(m, IDS, LLAMA_BLOCKS, O_PROJ)
    assert ratio == pytest.approx(library_first_attention_ratio(m, IDS, LLAMA_BLOCKS, O_PROJ), rel=1e-9)
    assert stream == pytest.approx(m.config.initializer_range, rel=0.1)
    emb, _ = _embeddings_and_o_proj_rms(m)
    res = inspect(m, IDS)
    assert res.output.embeddings_library == pytest.approx(emb / stream, rel=1e-3)
    assert res.output.embeddings_library == pytest.approx(0.2, rel=0.1)
