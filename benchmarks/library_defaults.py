"""inspect on the library default of every ``transformers`` architecture that builds small.

    python benchmarks/library_defaults.py            # causal LMs, sequence classifiers, image classifiers (~30 min)
    python benchmarks/library_defaults.py clm        # one kind: clm | seq | img
    python benchmarks/library_defaults.py clm glm4 fnet   # named model types only
    python benchmarks/library_defaults.py real       # six models at the sizes people train (GPT-2 124M, BERT-base, ViT-base, ...; ~2 min)
    python benchmarks/library_defaults.py --fix-x10 --every 4 [clm|seq|img]  # also every parameter x10, then --fix auto (~25 min)

Issue 19's target: no false alarm on a library default. Every model type in transformers' auto
mappings for the kind is built from its config class with small sizes (the common size fields set
where the config has them: 2 layers, width 64, 4 heads, vocabulary 1000, 32 x 32 images), on a
batch of 8 (32 token ids, or images), and inspected. A model is *built* when its forward runs on
that batch (configs whose small sizes do not fit their own code, or that need inputs beyond
token ids or pixels, are counted apart); for each built one the script prints its defects (the
findings that make ``inspect`` report an issue) or ``healthy``, and the modules a fused path
kept from the hooks (not judged; a warning, not a defect); finally how many defaults were
flagged. Models with more than 30M parameters at these sizes are
skipped, as are builds that take over 60 s.

``--fix-x10`` also breaks each built model (every parameter x10, the zoo's ``x10``) and runs
``--fix auto`` on it: it prints what inspect says of the broken model, then whether the fixed
one is healthy on the batch and on a held-out one, or what is left, or the error if the fix
failed. ``--every K`` takes every K-th model type of each kind (a sample across the library).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import warnings

import torch

SMALL = dict(vocab_size=1000, decoder_vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_layers=2, n_layer=2, n_layers=2, num_attention_heads=4, n_head=4,
             n_heads=4, num_heads=4, intermediate_size=128, ffn_dim=128, d_model=64, n_embd=64, dim=64, d_ff=128, hidden_dim=128,
             num_key_value_heads=2, max_position_embeddings=128, n_positions=128, embedding_size=64, d_kv=16, head_dim=16,
             encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
             decoder_ffn_dim=128, num_decoder_layers=2, num_labels=10, image_size=32, patch_size=4, num_experts=4, num_local_experts=4,
             moe_intermediate_size=64, shared_expert_intermediate_size=64, num_experts_per_tok=2, kv_lora_rank=16, q_lora_rank=16,
             qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, state_size=8, time_step_rank=4, conv_kernel=4, expand=2)
MAX_PARAMS = 30e6
BUILD_SECONDS = 60


def small_config(model_type: str):
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cfg = CONFIG_MAPPING[model_type]()
    for k, v in SMALL.items():
        if hasattr(cfg, k):
            try:
                setattr(cfg, k, v)
            except Exception:  # noqa: BLE001 - a per-layer or validated field keeps its default
                pass
    for k in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        v = getattr(cfg, k, None)
        if isinstance(v, int) and v >= SMALL["vocab_size"]:
            setattr(cfg, k, 0)
    return cfg


def batch_for(kind: str, cfg, g: torch.Generator) -> dict:
    if kind == "img":
        s = getattr(cfg, "image_size", 32)
        s = s if isinstance(s, int) else s[0]
        return {"pixel_values": torch.randn(8, getattr(cfg, "num_channels", 3), s, s, generator=g)}
    return {"input_ids": torch.randint(1, SMALL["vocab_size"], (8, 32), generator=g)}


class _Timeout(Exception):
    pass


def _alarm(*_: object) -> None:
    raise _Timeout


def break_and_fix(model: torch.nn.Module, batch: dict, held: dict) -> tuple[str, bool]:
    """Every parameter x10, inspect, ``--fix auto`` (on a defect, or a warning it acts on), inspect
    again (the batch and a held-out one): a line saying what happened, and whether the fixed model
    is healthy on both (no defect, no such warning)."""
    from initscope.inspect import inspect
    from initscope.inspect.fixes import ACTED_ON_WARNINGS, auto_fix
    from initscope.inspect.zoo import _scale_all

    _scale_all(model, 10.0)
    broken = inspect(model, batch)
    kinds = sorted({f.kind for f in broken.findings if f.severity == "defect" or f.kind in ACTED_ON_WARNINGS})
    if not kinds:
        return "x10 not flagged: nothing to fix", True
    try:
        plan = auto_fix(model, batch)
    except Exception as e:  # noqa: BLE001 - the sweep reports and goes on
        return f"x10 {', '.join(kinds)} -> FIX FAILED: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:120]}", False
    left = {f.kind for r in (inspect(model, batch), inspect(model, held)) for f in r.findings
            if f.severity == "defect" or f.kind in ACTED_ON_WARNINGS}
    return (f"x10 {', '.join(kinds)} -> fixed ({len(plan.actions)} actions): "
            + ("healthy" if not left else f"STILL {', '.join(sorted(left))}")), not left


def run(kind: str, only: set[str], fix_x10: bool = False, every: int = 1) -> dict[str, int]:
    import transformers as t
    from transformers.models.auto import modeling_auto as ma

    from initscope.inspect import inspect

    mapping = {"clm": ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, "seq": ma.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
               "img": ma.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES}[kind]
    counts = {"built": 0, "flagged": 0, "partly unrecorded": 0, "inspect failed": 0, "did not build": 0, "skipped": 0,
              "x10 fixed": 0, "x10 not fixed": 0}
    g = torch.Generator().manual_seed(0)
    for i, (model_type, cls_name) in enumerate(mapping.items()):
        if (only and model_type not in only) or i % every:
            continue
        cls_name = cls_name[0] if isinstance(cls_name, tuple) else cls_name
        signal.alarm(BUILD_SECONDS)
        t0, stage = time.time(), "config"
        try:
            cfg = small_config(model_type)
            stage = "build"
            torch.manual_seed(0)
            model = getattr(t, cls_name)(cfg)
            n = sum(p.numel() for p in model.parameters())
            if n > MAX_PARAMS:
                counts["skipped"] += 1
                print(f"{kind} {model_type:26s} skipped: {n / 1e6:.0f}M parameters at the small sizes", flush=True)
                continue
            batch = batch_for(kind, cfg, g)
            stage = "forward"
            model.eval()
            try:
                with torch.no_grad():
                    model(**batch)
            except Exception:  # noqa: BLE001 - hybrid models want no cache at init
                batch["use_cache"] = False
                with torch.no_grad():
                    model(**batch)
            signal.alarm(0)
            stage = "inspect"
            counts["built"] += 1
            res = inspect(model, batch)
            defects = [f"{f.kind} at {f.place} ({f.value:.3g})" for f in res.findings if f.severity == "defect"]
            unseen = [w for w in res.warnings if w.startswith("not recorded")]
            counts["flagged"] += bool(defects)
            counts["partly unrecorded"] += bool(unseen)
            print(f"{kind} {model_type:26s} {time.time() - t0:5.1f}s {'FLAGGED: ' + '; '.join(defects) if defects else 'healthy'}"
                  + (f" ({unseen[0].split(' (')[0]}: {unseen[0].split(': ', 1)[-1]})" if unseen else ""), flush=True)
            if fix_x10:
                stage = "fix"
                held = {**batch_for(kind, cfg, g), **{k: v for k, v in batch.items() if not isinstance(v, torch.Tensor)}}  # use_cache
                line, ok = break_and_fix(model, batch, held)
                counts["x10 fixed" if ok else "x10 not fixed"] += 1
                print(f"{kind} {model_type:26s} {line}", flush=True)
        except _Timeout:  # the alarm covers the build and the first forward, not inspect
            counts["skipped"] += 1
            print(f"{kind} {model_type:26s} over {BUILD_SECONDS}s at {stage}", flush=True)
        except Exception as e:  # noqa: BLE001 - the sweep reports and goes on
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:140]
            failed = {"inspect": "inspect failed", "fix": "x10 not fixed"}.get(stage, "did not build")
            counts[failed] += 1
            print(f"{kind} {model_type:26s} {failed.upper() if stage in ('inspect', 'fix') else 'did not build (' + stage + ')'}: "
                  f"{type(e).__name__}: {msg}", flush=True)
        finally:
            signal.alarm(0)
    return counts


def real_sizes() -> None:
    """Library defaults at the sizes people train, on a batch of 8: none should be flagged."""
    import transformers as t

    from initscope.inspect import inspect

    g = torch.Generator().manual_seed(0)

    def ids(v: int, n: int = 128) -> dict:
        return {"input_ids": torch.randint(0, v, (8, n), generator=g)}

    models = {
        "GPT-2 124M": (lambda: t.GPT2LMHeadModel(t.GPT2Config()), lambda: ids(50257)),
        "BERT-base, 3 classes": (lambda: t.BertForSequenceClassification(t.BertConfig(num_labels=3)), lambda: ids(30522)),
        "ViT-base, 224 px": (lambda: t.ViTForImageClassification(t.ViTConfig(num_labels=10)),
                             lambda: {"pixel_values": torch.randn(8, 3, 224, 224, generator=g)}),
        "LLaMA 12 x 1024, GQA": (lambda: t.LlamaForCausalLM(t.LlamaConfig(
            hidden_size=1024, intermediate_size=2816, num_hidden_layers=12, num_attention_heads=16, num_key_value_heads=4,
            vocab_size=32000)), lambda: ids(32000)),
        "Qwen3 8 x 768 (QK-norm)": (lambda: t.Qwen3ForCausalLM(t.Qwen3Config(
            hidden_size=768, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=12, num_key_value_heads=4, head_dim=64,
            vocab_size=32000)), lambda: ids(32000)),
        "T5-small (seq2seq)": (lambda: t.T5ForConditionalGeneration(t.T5Config(decoder_start_token_id=0)),
                               lambda: {**ids(32128, 64), "decoder_input_ids": torch.randint(0, 32128, (8, 32), generator=g)}),
    }
    for name, (build, data) in models.items():
        torch.manual_seed(0)
        model, batch = build(), data()
        t0 = time.time()
        res = inspect(model, batch)
        n = sum(p.numel() for p in model.parameters())
        print(f"real {name:26s} {n / 1e6:5.0f}M {time.time() - t0:5.1f}s loss {res.output.loss:.3g} (chance {res.output.chance_loss:.3g}) "
              + ("FLAGGED: " + "; ".join(res.issues) if res.issues else "healthy")
              + (f"; warnings: {'; '.join(w.split(':')[0] for w in res.warnings)}" if res.warnings else ""), flush=True)


MEMORY_CAP_GB = 12  # address space of the sweep's process


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    signal.signal(signal.SIGALRM, _alarm)
    if argv != ["real"]:
        # a config whose small sizes do not shrink it (Fuyu: ~24 GB at build) fails to build
        # instead of taking the machine down with it
        import resource

        cap = MEMORY_CAP_GB << 30
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if argv == ["real"]:
        real_sizes()
        return
    fix_x10 = "--fix-x10" in argv
    every = 1
    if "--every" in argv:
        k = argv.index("--every")
        if k + 1 >= len(argv) or not argv[k + 1].isdigit() or int(argv[k + 1]) < 1:
            sys.exit("--every takes a positive whole number")
        every = int(argv[k + 1])
        argv = argv[:k] + argv[k + 2:]
    argv = [a for a in argv if a != "--fix-x10"]
    kinds = [argv[0]] if argv and argv[0] in ("clm", "seq", "img") else ["clm", "seq", "img"]
    only = set(argv[1:] if argv and argv[0] in ("clm", "seq", "img") else argv)
    for kind in kinds:
        c = run(kind, only, fix_x10, every)
        print(f"{kind}: {c['built']} built and inspected, {c['flagged']} flagged, {c['inspect failed']} where inspect failed, "
              f"{c['partly unrecorded']} with modules a fused path kept from the hooks; "
              f"{c['did not build']} did not build at the small sizes, {c['skipped']} skipped"
              + (f"; x10 then --fix auto: {c['x10 fixed']} healthy after the fix, {c['x10 not fixed']} not" if fix_x10 else ""),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
