"""Per-layer mean-field prediction for 1000 layers: time per activation against the 50 ms target.

    PYTHONPATH=src python benchmarks/bench_theory.py

relu has closed forms (pure float arithmetic per layer); tanh, gelu and the others go through
quadrature, one call of the activation's torch function on 2000 float64 nodes per layer; a
user callable (tanh wrapped in a lambda) shows the generic path with no specialisation.
Best of 5 after a warm-up, so imports and cached nodes are not counted.
"""

from __future__ import annotations

import time

import torch

from initscope.theory import predict

TARGET_MS = 50.0


def time_ms(act, repeats: int = 5) -> float:
    predict(act, 1.5, 0.05, 1000)  # warm-up: imports, quadrature nodes
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(act, 1.5, 0.05, 1000)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    print("predict(act, sigma_w2=1.5, sigma_b2=0.05, depth=1000), best of 5; ratio = target / actual (> 1: within target)")
    for name in ("relu", "tanh", "gelu", "erf", "silu", "elu"):
        ms = time_ms(name)
        print(f"  {name:18s} {ms:7.1f} ms   ratio {TARGET_MS / ms:5.2f}x")
    generic = time_ms(lambda x: torch.tanh(x))
    print(f"  {'user callable tanh':18s} {generic:7.1f} ms   ratio {TARGET_MS / generic:5.2f}x")


if __name__ == "__main__":
    main()
