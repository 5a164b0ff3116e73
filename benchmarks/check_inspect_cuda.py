"""``initscope.inspect`` on CUDA against the same model on the CPU (a GPU check: CI has no GPU).

    python benchmarks/check_inspect_cuda.py            # zoo pairs, --fix auto, --trial, GPT-2 at its real size
    python benchmarks/check_inspect_cuda.py --quick    # zoo pairs only

1. Every zoo family at its default and x10 (and a hand-written decoder calling
   F.scaled_dot_product_attention), built on the CPU and copied to CUDA, on the same batch:
   the loss at step 0 (relative difference), the block branch ratios (largest relative
   difference), the attention entropies (largest absolute difference), and whether both
   devices report the same defects. Float32 kernels differ between devices, so numbers agree to
   ~1e-4 and not bit for bit.
2. ``--fix auto`` on each x10 pair on both devices: the largest relative difference between the
   fixed weights (the draws come from the same CPU generator on both), and whether the fixed
   model is healthy on each device.
3. ``inspect --trial``'s computation (5 AdamW steps on the batch) runs on CUDA.
4. GPT-2 with 6 blocks, n_embd 768, vocabulary 50257, 8 x 128 tokens on CUDA: inspect (best of
   3 after a warm-up) against the model's own forward + backward (best of 3 after a warm-up),
   and CUDA peak memory beyond the model's own pass.
5. The command line with a factory that returns a CUDA model (--fix auto, --trial, --ops, --draws,
   --fix lsuv): each exits 0 and records the CUDA device in run.json.

The CPU twin of every path here runs in the test suite (tests/test_inspect*.py).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from initscope.inspect import inspect, zoo
from initscope.inspect.fixes import auto_fix


def to(batch, device: str):
    if isinstance(batch, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return batch.to(device)


def defects(res) -> list[str]:
    return sorted({f.kind for f in res.findings if f.severity == "defect"})


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


class SdpaBlock(torch.nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.ln, self.qkv, self.proj = heads, torch.nn.LayerNorm(d), torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (u.view(b, t, self.heads, c // self.heads).transpose(1, 2) for u in self.qkv(self.ln(x)).split(c, dim=2))
        return x + self.proj(torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c))


class SdpaDecoder(torch.nn.Module):
    """A hand-written pre-norm decoder calling F.scaled_dot_product_attention (nanoGPT style):
    inspect recomputes its attention probabilities from the call."""

    def __init__(self, scale: float = 1.0, v: int = 500, d: int = 64, heads: int = 4, n: int = 3) -> None:
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(v, d), torch.nn.Embedding(64, d)
        self.blocks = torch.nn.ModuleList(SdpaBlock(d, heads) for _ in range(n))
        self.ln, self.head = torch.nn.LayerNorm(d), torch.nn.Linear(d, v, bias=False)
        for p in self.parameters():
            if p.dim() >= 2:
                torch.nn.init.normal_(p, 0.0, 0.02 * scale)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def compare_pairs(device: str) -> bool:
    ok = True
    print("1-2. zoo pairs on the CPU and on", device)
    print(f"  {'pair':26s} {'loss rel':>9s} {'branch rel':>10s} {'entropy abs':>11s}  defects  fix: weights rel, healthy cpu/cuda")
    for family in zoo.FAMILIES:
        for init in ("default", "x10"):
            cpu = zoo.build(family, init, seed=0)
            gpu = copy.deepcopy(cpu).to(device)
            x, _ = zoo.task_data(family, 16, seed=12345)
            a, b = inspect(cpu, x), inspect(gpu, to(x, device))
            loss = rel(a.output.loss, b.output.loss)
            br = 0.0
            if "branch_ratio" in a.blocks and not a.blocks.empty:
                br = max((rel(u, v) for u, v in zip(a.blocks.branch_ratio, b.blocks.branch_ratio) if u == u and v == v), default=0.0)
            ent = 0.0
            if not a.attention.empty:
                ent = float((a.attention.entropy_ratio.to_numpy() - b.attention.entropy_ratio.to_numpy()).__abs__().max())
            same = defects(a) == defects(b)
            line = f"  {family + ' ' + init:26s} {loss:9.1e} {br:10.1e} {ent:11.1e}  {'same' if same else 'DIFFER ' + str(defects(a)) + ' vs ' + str(defects(b))}"
            ok &= same and loss < 1e-3 and br < 1e-3 and ent < 1e-3
            if init == "x10" and a.issues:
                auto_fix(cpu, x)
                auto_fix(gpu, to(x, device))
                wrel = max(float((p.detach().cpu() - q.detach().cpu()).abs().max() / p.detach().abs().max().clamp_min(1e-30))
                           for p, q in zip(cpu.parameters(), gpu.parameters()))
                hc, hg = not inspect(cpu, x).issues, not inspect(gpu, to(x, device)).issues
                line += f"  fix: {wrel:.1e}, {hc}/{hg}"
                ok &= hc == hg
            print(line, flush=True)
    ids = torch.randint(0, 500, (8, 32), generator=torch.Generator().manual_seed(0))
    for scale in (1.0, 10.0):
        torch.manual_seed(0)
        cpu = SdpaDecoder(scale)
        gpu = copy.deepcopy(cpu).to(device)
        a, b = inspect(cpu, ids), inspect(gpu, ids.to(device))
        ent = float((a.attention.entropy_ratio.to_numpy() - b.attention.entropy_ratio.to_numpy()).__abs__().max()) if len(a.attention) else 1.0
        same = sorted(f.kind for f in a.findings) == sorted(f.kind for f in b.findings) and len(a.attention) == len(b.attention) > 0
        ok &= same and ent < 1e-3
        print(f"  {'sdpa decoder x' + format(scale, 'g'):26s} {rel(a.output.loss, b.output.loss):9.1e} {'':10s} {ent:11.1e}  "
              + ("same (warnings too)" if same else f"DIFFER {[f.kind for f in a.findings]} vs {[f.kind for f in b.findings]}"))
    return ok


def trial_on(device: str) -> bool:
    from initscope.inspect.trial import trial

    model = zoo.build("llama", "default", seed=0).to(device)
    x, _ = zoo.task_data("llama", 8, seed=1)
    res = trial(model, to(x, device), "lm", steps=5)
    cls = zoo.build("resnet", "default", seed=0).to(device)
    xi, _ = zoo.task_data("resnet", 8, seed=1)
    res2 = trial(cls, to(xi, device), "classification", steps=5)
    print(f"3. trial on {device}: LLaMA LM losses {[round(v, 3) for v in res.losses]}, "
          f"ResNet classifier {[round(v, 3) for v in res2.losses]}")
    return len(res.losses) == 5 and len(res2.losses) == 5


def gpt2_real(device: str) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=6, n_embd=768, n_head=12, vocab_size=50257)).to(device)
    ids = torch.randint(0, 50257, (8, 128), generator=torch.Generator().manual_seed(0)).to(device)

    def plain() -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        return time.perf_counter() - t0

    plain()
    torch.cuda.reset_peak_memory_stats()
    base = min(plain() for _ in range(3))
    peak_base = torch.cuda.max_memory_allocated() / 2**30
    inspect(model, {"input_ids": ids})  # warm-up (kernels, eager attention)
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = inspect(model, {"input_ids": ids})
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    t = min(times)
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"4. GPT-2, 6 blocks, n_embd 768, vocab 50257, 8 x 128 tokens on {torch.cuda.get_device_name()}:")
    print(f"   plain forward + backward (own loss): {base * 1e3:8.1f} ms")
    print(f"   initscope.inspect (best of 3):       {t * 1e3:8.1f} ms   ratio {t / base:.1f}x "
          f"(all: {', '.join(f'{v * 1e3:.0f}' for v in times)} ms)")
    print(f"   CUDA peak memory: {peak_base:.2f} GiB in the plain pass, {peak:.2f} GiB in inspect (+{peak - peak_base:.2f} GiB)")
    print(f"   verdict: {res.verdict}")


FACTORY = """
import torch
from transformers import GPT2Config, GPT2LMHeadModel

def make():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000)).to("{device}")

def broken():
    m = make()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(10)
    return m
"""


def cli_on(device: str) -> bool:
    """The command line with a factory that returns a model on ``device``: every option that
    runs the model (--fix auto, --trial, --ops, --draws, --fix lsuv) exits 0 and run.json names
    the device."""
    import json
    import os
    import subprocess
    import tempfile

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "gpu_factory.py"), "w") as f:
            f.write(FACTORY.format(device=device))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, os.environ.get("PYTHONPATH", "")])}
        for args in (["gpu_factory:broken", "--fix", "auto", "--trial", "3"], ["gpu_factory:make", "--ops", "--draws", "2"],
                     ["gpu_factory:broken", "--fix", "lsuv"]):
            out = os.path.join(tmp, "run")
            p = subprocess.run([sys.executable, "-m", "initscope", "inspect", *args, "--input-shape", "32", "--out", out, "--force"],
                               capture_output=True, text=True, env=env, cwd=tmp)
            ran_on = json.load(open(os.path.join(out, "run.json")))["device"]["device"] if p.returncode == 0 else None
            good = p.returncode == 0 and str(ran_on).startswith(device)
            ok &= good
            print(f"5. initscope inspect {' '.join(args)}: exit {p.returncode}, ran on {ran_on}"
                  + ("" if good else "\n" + p.stderr[-2000:]))
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this check compares inspect on CUDA with the CPU")
    ok = compare_pairs("cuda")
    if not a.quick:
        ok &= trial_on("cuda")
        gpt2_real("cuda")
        ok &= cli_on("cuda")
    print("all agree" if ok else "SOME DIFFER")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
