"""Streaming moments: merge chunk statistics without holding the samples.

Chan, Golub & LeVeque (1979) pairwise update: two partial (count, mean, M2)
triples combine exactly, so the result does not depend on how work was chunked
(up to floating-point rounding). Accumulators are float64 whatever the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def abs_max(x: torch.Tensor) -> float:
    """max |x| in one pass without a copy (NaN if any entry is NaN; 0 for an empty tensor):
    aminmax beats abs().amax() 2x on CPU."""
    if x.numel() == 0:
        return 0.0
    lo, hi = torch.aminmax(x.detach())
    return max(-float(lo), float(hi))


@dataclass
class RunningMoments:
    """Per-coordinate mean and variance over a streamed batch axis (axis 0)."""

    count: int = 0
    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None
    _shape: tuple[int, ...] = field(default=(), repr=False)

    def update(self, x: torch.Tensor) -> None:
        """Fold in a chunk ``x`` of shape ``[n, *coords]``."""
        n = x.shape[0]
        if n == 0:
            return
        # The chunk's own moments by two passes in its dtype (5x faster than
        # torch.var_mean on CPU); only per-coordinate results go to float64.
        mean_x = x.mean(dim=0)
        d = x - mean_x
        mean_b, m2_b = mean_x.to(torch.float64), (d * d).sum(dim=0).to(torch.float64)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean_b, m2_b
            return
        total = self.count + n
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n / total)
        self.count = total

    def variance(self, ddof: int = 1) -> torch.Tensor:
        """Per-coordinate variance (unbiased by default)."""
        if self.mean is None or self.count - ddof <= 0:
            raise ValueError("not enough samples for a variance")
        return self.m2 / (self.count - ddof)


@dataclass
class ScalarMoments:
    """Mean and standard error of a stream of scalars (one per network, say)."""

    values: list[float] = field(default_factory=list)

    def add(self, x: torch.Tensor | float) -> None:
        if isinstance(x, torch.Tensor):
            self.values.extend(x.detach().to(torch.float64).reshape(-1).cpu().tolist())
        else:
            self.values.append(float(x))

    @property
    def n(self) -> int:
        return len(self.values)

    def mean(self) -> float:
        return float(torch.tensor(self.values, dtype=torch.float64).mean()) if self.values else float("nan")

    def stderr(self) -> float:
        if self.n < 2:
            return float("nan")
        return float(torch.tensor(self.values, dtype=torch.float64).std() / self.n**0.5)


def network_variance(sq: torch.Tensor, ubar: torch.Tensor) -> tuple[float, float]:
    """Mean over units of the variance over M networks, from each network's |y_m|^2 / N
    (``sq``, [M]) and each unit's mean over networks (``ubar``, [N]), with its standard error.

    value = (sum_m |y_m|^2 / N - M mean_i ubar_i^2) / (M - 1). Two sources of error: the
    spread of |y_m|^2 / N over networks (0 where W keeps the norm, as an orthogonal one does)
    and that of the squared unit means, each of whose N means has variance ~ value / M: the
    sd of their average is ~ value sqrt(2 / N) / M.
    """
    m = sq.numel()
    value = (float(sq.sum()) - m * float((ubar * ubar).mean())) / (m - 1)
    return value, math.hypot(float(sq.std() / math.sqrt(m)), abs(value) * math.sqrt(2 / ubar.numel()) / (m - 1))


def mean_stderr(values: Any, *, overflow_safe: bool = False) -> tuple[float, float]:
    """Mean of independent draws and its standard error (NaN with fewer than two): the one
    place initscope turns draws (networks, seeds, runs) into a value and its error bar.
    ``overflow_safe``: the spread is taken on values divided by their largest magnitude, so
    values near float64's limit do not overflow when squared (the result may still be inf)."""
    a = np.asarray(values, dtype=float).ravel()
    if len(a) < 2:
        return (float(a.mean()) if len(a) else math.nan), math.nan
    if overflow_safe:
        scale = float(np.abs(a).max())
        return float(a.mean()), (0.0 if scale == 0.0 else float((a / scale).std(ddof=1)) / math.sqrt(len(a)) * scale)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))


def pooled_moments(v: torch.Tensor) -> dict[str, float] | None:
    """The pooled variance (ddof 1: text 002's ``x.var()``), mean and second moment over every
    entry of ``v``; None if an entry is not finite.

    Two float64 reductions (a sum and a 2-norm) give all three: float32 squares would
    overflow long before the values do. A finite norm implies every entry is finite, so
    the costly elementwise check runs only when the norm is not finite, where it tells an
    inf/NaN entry from float64 values whose squares overflow (variance reported as inf).
    """
    n = v.numel()
    total = float(v.sum(dtype=torch.float64))
    norm = float(torch.linalg.vector_norm(v, dtype=torch.float64))
    if not (math.isfinite(norm) and math.isfinite(total)):
        if not bool(torch.isfinite(v).all()):
            return None
        # finite float64 values past 1e154: rescale by the largest |value| (Python floats
        # overflow to inf silently when multiplied, never warn)
        scale = float(v.abs().amax())
        u = v / scale
        mean = float(u.sum(dtype=torch.float64)) / n * scale
        root = float(torch.linalg.vector_norm(u, dtype=torch.float64)) * scale / math.sqrt(n)  # sqrt of the second moment
        second = root * root
        variance = (root - abs(mean)) * (root + abs(mean)) * n / (n - 1)
        return dict(variance=variance, mean=mean, second_moment=second)
    second = norm * norm / n
    mean = total / n
    return dict(variance=max(second - mean * mean, 0.0) * n / (n - 1), mean=mean, second_moment=second)


def mean_stderr_rows(table: Any) -> tuple[Any, Any]:
    """Per row of a [points x draws] table (numpy or pandas): mean and standard error over the
    draws (the columns); the error is 0 with a single draw (nothing to spread)."""
    a = np.asarray(table, dtype=float)
    n = a.shape[1]
    return a.mean(axis=1), (a.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(a.shape[0]))


def ratio_stderr(a: np.ndarray, b: np.ndarray) -> float:
    """Jackknife standard error over networks of sum(a) / (sum(a) + sum(b)), the ratio of
    means the sample fraction is (the spread of per-network ratios is another quantity,
    with heavy tails at depth)."""
    n = len(a)
    sa, sb = float(a.sum()), float(b.sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # a network with no variance at all: undefined, not a warning
        loo = (sa - a) / ((sa - a) + (sb - b))
    if not np.isfinite(loo).all():
        return math.nan
    return float(math.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()))
