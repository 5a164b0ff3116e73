"""`inspect`'s per-module recording and `inspect --ops` per-op recording, each against one plain
forward+backward of the same model, in one process, model built and batch drawn first (issue 20's
bounds: <= 2x and <= 4x).

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

    def modules() -> None:
        from initscope.inspect import inspect

        model.zero_grad(set_to_none=True)
        inspect(model, {"input_ids": ids})

    plain()  # warm-up
    ops()
    modules()
    t = {}
    for name, fn in (("plain", plain), ("modules", modules), ("ops", ops)):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        t[name] = best
    table = record_ops(model, lambda: model(input_ids=ids, labels=ids), lambda out: out.loss)
    f = findings(table)
    print(f"GPT-2, {args.blocks} blocks, n_embd {args.embd}, vocab {args.vocab}, batch {args.batch} x {args.seq}: "
          f"plain forward+backward {t['plain']:.2f} s; inspect (per module, statistics included) {t['modules']:.2f} s: "
          f"{t['modules'] / t['plain']:.2f}x; with --ops recording {t['ops']:.2f} s: {t['ops'] / t['plain']:.2f}x "
          f"({len(table)} ops; best of {args.repeat})")
    print("findings:", f["messages"])
    unit_scaling_side_by_side(model, ids, t["plain"], args.repeat)


def unit_scaling_side_by_side(model, ids, plain_s: float, repeat: int) -> None:
    """Graphcore's unit-scaling ``track_scales`` on the same model, where it installs."""
    try:
        from unit_scaling.transforms import track_scales
    except ImportError:
        print("unit-scaling: not installed (pip install unit-scaling) - no side-by-side run")
        return
    tracked = track_scales(model)
    for kw in ({}, {"use_cache": False}):
        times = []
        try:
            for _ in range(repeat):
                t0 = time.perf_counter()
                model.zero_grad(set_to_none=True)
                tracked(input_ids=ids, labels=ids, **kw).loss.backward()
                nodes = len(tracked.scales_graph().nodes)
                times.append(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - a third party's failure is a result here
            print(f"unit-scaling track_scales {kw or '(default call)'}: failed, {type(e).__name__}: {str(e).splitlines()[0][:120]}")
            continue
        print(f"unit-scaling track_scales {kw}: first call {times[0]:.2f} s ({times[0] / plain_s:.2f}x plain), then "
              f"{min(times[1:] or times):.2f} s ({min(times[1:] or times) / plain_s:.2f}x), {nodes} nodes in its scales graph")


if __name__ == "__main__":
    main()
