"""initscope inspect on a ~25-million-parameter CNN at batch 64 on the CPU (target < 60 s).

    python benchmarks/bench_inspect.py

Baseline measured in the same run: one plain forward + backward pass of the same model
and batch, so the ratio says what the hooks and statistics cost on top.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from initscope.inspect import inspect_model


def cnn25m() -> nn.Module:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = [*block(3, 128), *block(128, 128), nn.MaxPool2d(2), *block(128, 256), *block(256, 256), nn.MaxPool2d(2),
              *block(256, 512), *block(512, 512), nn.MaxPool2d(2), *block(512, 1024), *block(1024, 1024),
              *block(1024, 640), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(640, 1000)]
    return nn.Sequential(*layers)


def main() -> None:
    torch.manual_seed(0)
    model = cnn25m()
    n = sum(p.numel() for p in model.parameters())
    x = torch.randn(64, 3, 32, 32)
    t0 = time.perf_counter()
    out = model(x)
    (0.5 * out.pow(2).mean()).backward()
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = inspect_model(cnn25m, input_shape=(3, 32, 32), batch=64)
    t = time.perf_counter() - t0
    print(f"CNN with {n / 1e6:.1f} M parameters, batch 64 of 3x32x32, {torch.get_num_threads()} threads")
    print(f"  plain forward + backward: {base:6.2f} s")
    print(f"  initscope inspect:        {t:6.2f} s  ({t / base:.1f}x the plain pass; target < 60 s)")
    print(f"  verdict: {res.verdict}")
    flagged = res.layers[res.layers.verdict != '']
    print(flagged[['name', 'type', 'second_moment', 'sample_fraction', 'verdict']].to_string())


if __name__ == "__main__":
    main()
