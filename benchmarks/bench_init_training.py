"""init-training at its defaults (the issue's bound: under 5 minutes on 2 CPU cores), and the same
five starts at three learning rates: which start trains fastest depends on the rate.

    python benchmarks/bench_init_training.py [--lrs 0.01,0.02,0.05]
"""

from __future__ import annotations

import argparse
import time

from initscope.runner import run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrs", default="0.01,0.02,0.05")
    args = ap.parse_args()
    for lr in args.lrs.split(","):
        t0 = time.perf_counter()
        rec = run("init-training", {"lr": lr}, device="cpu", write=False)
        s = rec.summary
        print(f"\nlr {lr}: {time.perf_counter() - t0:.1f} s (training {rec.meta['timings']['training_s']:.1f} s)")
        print(f"| start | epochs to loss {s['target_loss']:g} (per seed) | final accuracy | diverged | sample fraction at init, last layer | |dL/dW_1| at init |")
        print("| --- | --- | --- | --- | --- | --- |")
        for v, d in s["variants"].items():
            acc = "-" if d["final_accuracy"] is None else f"{d['final_accuracy']:.3f} ± {d['final_accuracy_stderr'] or 0:.3f}"
            print(f"| {v} | {d['epochs_to_target']} | {acc} | {d['diverged'] or '-'} | {d['sample_fraction_at_init'][-1]:.3f} | "
                  f"{d['grad_norm_at_init'][0]:.3g} |")
        print("verdict:", s["verdict"])


if __name__ == "__main__":
    main()
