"""What ``initscope inspect`` costs on top of one plain forward + backward pass.

    python benchmarks/bench_inspect.py            # GPT-2 at its real width and vocabulary, and a 25M-parameter CNN
    python benchmarks/bench_inspect.py --quick    # smaller sizes, for a smoke run

1. In one process, model built and batch drawn (issue 11, ISSUE-NOTES): a 6-block GPT-2 with
   n_embd 768 and vocab 50257 at 8 x 128 tokens. Baseline: the same model's own loss forward
   + backward (best of 2, after a warm-up). Target: inspect's first call <= 2x, and its peak
   memory within 4 GiB beyond the baseline's; the best of two more calls is printed too (timed
   as the baseline is).
2. End to end, two fresh processes: ``python -c`` that imports torch and transformers, builds
   the model and runs one forward + backward, against ``initscope inspect`` on the same model
   (6 blocks, 32 x 64 tokens); the ratio is printed (issue 11's target is 2x).
3. The 25M-parameter CNN of the first inspect benchmark, batch 64 (target < 60 s).
4. A LLaMA (6 blocks, width 512, vocab 32000) whose padding row the init zeroes, 8 x 128 tokens:
   inspect with and without the zero-row probe, against the plain pass (issue 11's 2x, here on a
   model that runs the probe).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

import torch
from torch import nn


def _max_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def _plain_pass(model: torch.nn.Module, ids: torch.Tensor) -> float:
    """Seconds for one forward + backward of a causal LM's own loss on ``ids``, gradients cleared."""
    t0 = time.perf_counter()
    model(input_ids=ids, labels=ids).loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def in_process(n_embd: int, vocab: int, batch: int, tokens: int) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from initscope.inspect import inspect

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=6, n_embd=n_embd, n_head=12, vocab_size=vocab, n_positions=max(tokens, 128)))
    ids = torch.randint(0, vocab, (batch, tokens), generator=torch.Generator().manual_seed(0))
    params = sum(p.numel() for p in model.parameters())

    plain = lambda: _plain_pass(model, ids)  # noqa: E731

    plain()
    base = min(plain() for _ in range(2))
    rss_base = _max_rss_gib()

    def inspected() -> tuple[float, object]:
        t0 = time.perf_counter()
        res = inspect(model, {"input_ids": ids})
        return time.perf_counter() - t0, res

    t, res = inspected()  # its first call, against the plain pass's best after a warm-up: the target's ratio
    rss = _max_rss_gib()
    warm = min(inspected()[0] for _ in range(2))
    print(f"1. in process: GPT-2, 6 blocks, n_embd {n_embd}, vocab {vocab} ({params / 1e6:.0f} M parameters), "
          f"{batch} x {tokens} tokens, {torch.get_num_threads()} threads")
    print(f"   plain forward + backward (own loss): {base:6.2f} s   (best of 2 after a warm-up)")
    print(f"   initscope.inspect, first call:       {t:6.2f} s   ratio {t / base:.2f}x (target <= 2x)")
    print(f"   initscope.inspect, best of 2 more:   {warm:6.2f} s   ratio {warm / base:.2f}x (measured as the plain pass is)")
    print(f"   peak memory: {rss_base:.2f} GiB after the plain passes, {rss:.2f} GiB after inspect "
          f"(+{rss - rss_base:.2f} GiB; target <= 4 GiB beyond)")
    print(f"   verdict: {res.verdict}")


def end_to_end(n_embd: int, vocab: int, batch: int, tokens: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mod = os.path.join(tmp, "bench_gpt2_model.py")
        with open(mod, "w") as f:
            f.write(textwrap.dedent(f"""
                import torch
                from transformers import GPT2Config, GPT2LMHeadModel
                def make():
                    torch.manual_seed(0)
                    return GPT2LMHeadModel(GPT2Config(n_layer=6, n_embd={n_embd}, n_head=12, vocab_size={vocab}))
            """))
        plain_src = (f"import sys; sys.path.insert(0, {tmp!r}); import torch, transformers; from bench_gpt2_model import make; "
                     f"m = make(); ids = torch.randint(0, {vocab}, ({batch}, {tokens})); m(input_ids=ids, labels=ids).loss.backward()")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", plain_src], check=True, cwd=tmp)
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "initscope", "inspect", "bench_gpt2_model:make", "--input-shape", str(tokens),
                            "--batch", str(batch), "--out", os.path.join(tmp, "run")], cwd=tmp, capture_output=True, text=True)
        t = time.perf_counter() - t0
        if p.returncode:
            sys.exit(p.stderr)
    print(f"2. end to end: GPT-2, 6 blocks, n_embd {n_embd}, vocab {vocab}, {batch} x {tokens} tokens")
    print(f"   python -c 'import torch, transformers; build; forward + backward': {plain:6.2f} s")
    print(f"   initscope inspect (report, figures, run directory):              {t:6.2f} s   ratio {t / plain:.2f}x")


def cnn25m() -> nn.Module:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = [*block(3, 128), *block(128, 128), nn.MaxPool2d(2), *block(128, 256), *block(256, 256), nn.MaxPool2d(2),
              *block(256, 512), *block(512, 512), nn.MaxPool2d(2), *block(512, 1024), *block(1024, 1024),
              *block(1024, 640), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(640, 1000)]
    return nn.Sequential(*layers)


def cnn(batch: int) -> None:
    from initscope.inspect import inspect_model

    torch.manual_seed(0)
    model = cnn25m()
    n = sum(p.numel() for p in model.parameters())
    x = torch.randn(batch, 3, 32, 32)
    t0 = time.perf_counter()
    out = model(x)
    nn.functional.cross_entropy(out, torch.zeros(batch, dtype=torch.long)).backward()
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = inspect_model(cnn25m, input_shape=(3, 32, 32), batch=batch)
    t = time.perf_counter() - t0
    print(f"3. CNN with {n / 1e6:.1f} M parameters, batch {batch} of 3x32x32")
    print(f"   plain forward + backward: {base:6.2f} s")
    print(f"   initscope inspect:        {t:6.2f} s  ({t / base:.1f}x the plain pass, model built twice; target < 60 s)")
    print(f"   verdict: {res.verdict}")


def zero_row(width: int, vocab: int, batch: int, tokens: int) -> None:
    """A LLaMA whose config names a padding token, so its init zeroes that row and inspect runs the
    zero-row probe (``core.zero_row_probe``): inspect with the probe and with it switched off,
    alternating, against the plain pass."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import initscope.inspect.core as core
    from initscope.inspect import inspect

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=width, intermediate_size=width * 8 // 3,
                                         num_hidden_layers=6, num_attention_heads=8, pad_token_id=0))
    ids = torch.randint(1, vocab, (batch, tokens), generator=torch.Generator().manual_seed(0))

    plain = lambda: _plain_pass(model, ids)  # noqa: E731

    plain()
    rows = core.zero_token_rows
    times: dict[str, list[float]] = {"plain": [], "on": [], "off": []}
    inspect(model, {"input_ids": ids})  # warm-up
    try:
        for _ in range(3):  # interleaved: a machine whose speed drifts drifts for all three
            times["plain"].append(plain())
            for on in (True, False):
                core.zero_token_rows = rows if on else (lambda m: [])
                t0 = time.perf_counter()
                inspect(model, {"input_ids": ids})
                times["on" if on else "off"].append(time.perf_counter() - t0)
    finally:
        core.zero_token_rows = rows
    base = min(times["plain"])
    on, off = min(times["on"]), min(times["off"])
    print(f"4. in process: LLaMA, 6 blocks, width {width}, vocab {vocab}, pad_token_id 0 (its row zero), {batch} x {tokens} tokens")
    print(f"   plain forward + backward (own loss): {base:6.2f} s   (best of 3 after a warm-up, interleaved with inspect)")
    print(f"   initscope.inspect, zero-row probe off: {off:6.2f} s   ratio {off / base:.2f}x (best of 3)")
    print(f"   initscope.inspect, zero-row probe on:  {on:6.2f} s   ratio {on / base:.2f}x (target <= 2x); the probe {on - off:+.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="n_embd 192, vocab 5000: a smoke run")
    a = ap.parse_args()
    n_embd, vocab = (192, 5000) if a.quick else (768, 50257)
    in_process(n_embd, vocab, 8, 128)
    end_to_end(n_embd, vocab, 32, 64)
    cnn(16 if a.quick else 64)
    zero_row(128 if a.quick else 512, 5000 if a.quick else 32000, 8, 128)


if __name__ == "__main__":
    main()
