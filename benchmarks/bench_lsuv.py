"""initscope's LSUV (``inspect --fix lsuv``) against the ``lsuv`` package from PyPI.

    pip install lsuv && python benchmarks/bench_lsuv.py

Same models, same fitting batch; measured on a held-out batch: the per-layer output std
of every Linear/Conv (LSUV's target is 1), the forward passes each used, and the time.
"""

from __future__ import annotations

import copy
import io
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_inspect import mlp  # noqa: E402

from initscope.inspect import at_init_mode, fix_model, record  # noqa: E402
from initscope.inspect.zoo import resnet_model  # noqa: E402


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                         nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def resnet() -> nn.Module:
    return resnet_model(16, 2)


def count_forwards(model: nn.Module) -> list[int]:
    n = [0]
    model.register_forward_pre_hook(lambda m, i: n.__setitem__(0, n[0] + 1))
    return n


def held_out_std(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    df = record(model, x)
    df = df[df.type.isin(["Linear", "Conv2d"])]
    return np.sqrt(df.variance.to_numpy())


def main() -> None:
    try:
        import lsuv
    except ImportError:
        raise SystemExit("pip install lsuv to run this comparison")
    cases = {"mlp-20 (torch default)": (lambda: mlp(20, 128), (128,)), "small CNN + BN": (small_cnn, (3, 16, 16)), "ResNet-style": (resnet, (3, 16, 16))}
    print(f"{'model':24s} {'method':10s} {'mean |std-1|':>12s} {'max |std-1|':>11s} {'forwards':>8s} {'seconds':>8s}")
    for name, (factory, shape) in cases.items():
        torch.manual_seed(0)
        base = factory()
        g = torch.Generator().manual_seed(1)
        fit, held = torch.randn(128, *shape, generator=g), torch.randn(128, *shape, generator=g)
        for method in ("initscope", "lsuv-pypi"):
            model = copy.deepcopy(base)
            calls = count_forwards(model)
            t0 = time.perf_counter()
            if method == "initscope":
                fix_model(model, fit, "lsuv")
            else:
                with redirect_stdout(io.StringIO()), at_init_mode(model):
                    lsuv.lsuv_with_singlebatch(model, fit, verbose=False)
            dt = time.perf_counter() - t0
            dev = np.abs(held_out_std(model, held) - 1)
            print(f"{name:24s} {method:10s} {dev.mean():12.3f} {dev.max():11.3f} {calls[0]:8d} {dt:8.2f}")


if __name__ == "__main__":
    main()
