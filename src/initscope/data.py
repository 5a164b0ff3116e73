"""Input distributions: the x_0 ~ Q(x_0) of the texts.

Each distribution draws a ``[n, dim]`` tensor from a generator and states its
second moment E|x|^2 / dim, which the mean-field theory needs for layer 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from initscope.registry import Registry
from initscope.repro import generator


@dataclass(frozen=True)
class InputDistribution:
    name: str
    draw: Callable[[int, int, torch.Generator, torch.dtype, torch.device], torch.Tensor]
    mean_square: Callable[[int], float]  # E[|x|^2] / dim, for dimension dim
    description: str

    def sample(
        self,
        n: int,
        dim: int,
        *,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        return self.draw(n, dim, generator, dtype, torch.device(device))

    def __repr__(self) -> str:
        return f"InputDistribution({self.name!r})"


def _gaussian(n: int, dim: int, g: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.randn(n, dim, generator=g, dtype=dtype, device=device)


def _sphere(n: int, dim: int, g: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    z = _gaussian(n, dim, g, dtype, device)
    return z / z.norm(dim=1, keepdim=True)


def _ball(n: int, dim: int, g: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Uniform in the unit ball: a uniform direction times a radius U^(1/d)
    # (the construction text 001 links to).
    direction = _sphere(n, dim, g, dtype, device)
    radius = torch.rand(n, 1, generator=g, dtype=dtype, device=device) ** (1.0 / dim)
    return direction * radius


INPUTS: Registry[InputDistribution] = Registry("input distribution", (
    (d.name, d)
    for d in (
        InputDistribution("gaussian", _gaussian, lambda dim: 1.0, "Gaussian white noise N(0, I) (text 000)"),
        InputDistribution("sphere", _sphere, lambda dim: 1.0 / dim, "uniform on the unit sphere"),
        InputDistribution(
            "ball", _ball, lambda dim: 1.0 / (dim + 2), "uniform in the unit ball (text 001); E|x|^2 = d/(d+2)"
        ),
    )
))


def get_input(name: str | InputDistribution) -> InputDistribution:
    if isinstance(name, InputDistribution):
        return name
    return INPUTS.lookup(name)


def list_inputs() -> list[str]:
    return INPUTS.names()


# --- a real data set: scikit-learn's digits (shipped with the package, no download) ------------


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8x8 digits of scikit-learn (read from the installed package), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target, dtype=torch.long)


def digits_split(test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits split at random (by ``seed``) into training and held-out sets, each pixel
    standardized with the training split's mean and standard deviation (a pixel constant
    there, like the corners, is only centred)."""
    x, y = load_digits()
    perm = torch.randperm(len(x), generator=generator(seed, "init-training", "split"))
    n_test = round(len(x) * test_fraction)
    test, train = perm[:n_test], perm[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    z = (x - mean) / std
    return z[train], y[train], z[test], y[test]
