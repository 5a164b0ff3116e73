"""The geometry of representations and weights: spectra, ranks, PCA, norms, Jacobians.

All functions take a representation matrix ``h`` of shape ``[samples, units]`` (or a
weight matrix) and return tensors or floats; none prints or plots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from initscope.errors import InitscopeError
from initscope.schemes import Scheme, get_scheme


def _matrix(h: torch.Tensor) -> torch.Tensor:
    if h.dim() != 2:
        raise InitscopeError(f"expected a [samples, units] matrix, got shape {tuple(h.shape)}")
    return h.detach().to(torch.float64)


def singular_values(h: torch.Tensor, *, center: bool = True) -> torch.Tensor:
    """Singular values of the (centred) representation, largest first."""
    m = _matrix(h)
    if center:
        m = m - m.mean(dim=0, keepdim=True)
    return torch.linalg.svdvals(m)


def normalized_spectrum(h: torch.Tensor, *, center: bool = True) -> torch.Tensor:
    """Singular values divided by the largest (all zeros stay zeros): text 001's spectra."""
    s = singular_values(h, center=center)
    return s / s[0] if float(s[0]) > 0 else s


def effective_rank(h: torch.Tensor, *, center: bool = True) -> float:
    """exp of the entropy of p_i = s_i / sum s (Roy & Vetterli 2007): d for an isotropic
    cloud in d dimensions, 1 for a line, 0 for a point."""
    return effective_rank_of(singular_values(h, center=center))


def effective_rank_of(s: torch.Tensor) -> float:
    """:func:`effective_rank` from the singular values ``s`` themselves (however they were found)."""
    total = float(s.sum())
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def stable_rank(h: torch.Tensor, *, center: bool = True) -> float:
    """sum s_i^2 / s_1^2: how many directions carry comparable energy (0 for a point)."""
    s = singular_values(h, center=center)
    return float((s * s).sum() / (s[0] * s[0])) if float(s[0]) > 0 else 0.0


def top_k_fraction(h: torch.Tensor, k: int = 1, *, center: bool = True) -> float:
    """Fraction of the variance along the top ``k`` principal components."""
    if k < 1:
        raise InitscopeError(f"k must be >= 1, got {k}")
    s2 = singular_values(h, center=center) ** 2
    total = float(s2.sum())
    return float(s2[:k].sum()) / total if total > 0 else 1.0


def pca(h: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Projection of the centred representation on its first ``k`` principal components
    (``[samples, k]``, zero-padded when the representation has fewer than ``k`` directions)."""
    m = _matrix(h)
    m = m - m.mean(dim=0, keepdim=True)
    u, s, _ = torch.linalg.svd(m, full_matrices=False)
    proj = u[:, :k] * s[:k]
    if proj.shape[1] < k:
        proj = torch.cat([proj, torch.zeros(proj.shape[0], k - proj.shape[1], dtype=proj.dtype)], dim=1)
    # fix the sign of each component (largest |loading| positive) so that pictures are stable
    signs = torch.sign(proj.gather(0, proj.abs().argmax(dim=0, keepdim=True)))
    return proj * torch.where(signs == 0, torch.ones_like(signs), signs)


def weight_norms(scheme: str | Scheme, shape: Sequence[int], *, draws: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """2-norms of the weight vectors (rows, one per unit) of ``draws`` weights of ``shape``."""
    sch = get_scheme(scheme)
    out = [sch.sample(shape, generator=generator, dtype=torch.float64).reshape(shape[0], -1).norm(dim=1) for _ in range(draws)]
    return torch.cat(out)


def jacobian_singular_values(f: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
    """Singular values of the Jacobian of ``f`` (vector in, vector out) at each point: ``[points, min(in, out)]``.

    Dynamical isometry (Saxe et al. 2014; Pennington et al. 2017) is all of them near 1.
    """
    rows = []
    for x in points:
        j = torch.autograd.functional.jacobian(f, x.detach())
        rows.append(torch.linalg.svdvals(j.reshape(j.shape[0], -1).to(torch.float64)))
    return torch.stack(rows)
