"""`inspect --ops` recording against one plain forward+backward of the same model, in one process,
model built and batch drawn first (issue 20's bound: <= 4x).

    python benchmarks/bench_ops.py [--blocks 6 --embd 768 --vocab 50257 --batch 8 --seq 128]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from transformers import GPT2Config, GPT2LMHeadModel

    from initscope.inspect.ops import findings, record_ops

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=args.blocks, n_embd=args.embd, n_head=12, vocab_size=args.vocab, n_positions=args.seq))
    ids = torch.randint(0, args.vocab, (args.batch, args.seq))

    def plain() -> None:
        model.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=ids).loss.backward()

    def ops() -> None:
        record_ops(model, lambda: model(input_ids=ids, labels=ids), lambda out: out.loss)

    plain()  # warm-up
    ops()
    t = {}
    for name, fn in (("plain", plain), ("ops", ops)):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        t[name] = best
    table = record_ops(model, lambda: model(input_ids=ids, labels=ids), lambda out: out.loss)
    f = findings(table)
    print(f"GPT-2, {args.blocks} blocks, n_embd {args.embd}, vocab {args.vocab}, batch {args.batch} x {args.seq}: "
          f"plain forward+backward {t['plain']:.2f} s, with --ops recording {t['ops']:.2f} s: {t['ops'] / t['plain']:.2f}x "
          f"({len(table)} ops; best of {args.repeat})")
    print("findings:", f["messages"])


if __name__ == "__main__":
    main()
