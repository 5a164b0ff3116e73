import pytest
import torch

from initscope.errors import InitscopeError
from initscope.geometry import (
    effective_rank,
    jacobian_singular_values,
    normalized_spectrum,
    pca,
    singular_values,
    stable_rank,
    top_k_fraction,
    weight_norms,
)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_isotropic_cloud_has_effective_rank_near_its_dimension():
    x = torch.randn(20_000, 12, generator=_g(), dtype=torch.float64)
    assert 11.8 < effective_rank(x) <= 12.0
    assert 0.9 * 12 < stable_rank(x) <= 12.0
    assert top_k_fraction(x, 12) == pytest.approx(1.0)
    assert top_k_fraction(x, 1) == pytest.approx(1 / 12, rel=0.1)


def test_rank_k_matrix_has_k_nonzero_singular_values():
    a = torch.randn(200, 3, generator=_g(1), dtype=torch.float64) @ torch.randn(3, 30, generator=_g(2), dtype=torch.float64)
    s = singular_values(a, center=False)
    assert int((s > 1e-9 * s[0]).sum()) == 3
    assert effective_rank(torch.outer(torch.arange(50.0), torch.ones(7))) == pytest.approx(1.0)  # a line
    assert effective_rank(torch.ones(10, 4)) == 0.0  # a point after centring


def test_orthogonal_map_keeps_all_singular_values():
    x = torch.randn(300, 20, generator=_g(3), dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=_g(4), dtype=torch.float64))
    torch.testing.assert_close(singular_values(x @ q), singular_values(x))
    assert effective_rank(x @ q) == pytest.approx(effective_rank(x))
    spec = normalized_spectrum(x)
    assert float(spec[0]) == 1.0 and bool((spec[1:] <= 1).all())


def test_pca_projects_onto_the_largest_directions():
    g = _g(5)
    x = torch.randn(5000, 3, generator=g, dtype=torch.float64) * torch.tensor([5.0, 2.0, 0.1], dtype=torch.float64)
    p = pca(x, 2)
    assert p.shape == (5000, 2)
    assert float(p[:, 0].var()) == pytest.approx(25, rel=0.1) and float(p[:, 1].var()) == pytest.approx(4, rel=0.1)
    assert pca(torch.randn(10, 2, dtype=torch.float64), 3).shape == (10, 3)  # zero-padded
    with pytest.raises(InitscopeError):
        pca(torch.randn(3, 4, 5), 2)


def test_weight_norms_of_schemes():
    n = weight_norms("normal", (40, 40), draws=50, generator=_g(6))
    assert n.shape == (2000,) and float((n > 1).float().mean()) > 0.99  # text 001: "most are greater than 1"
    assert float(n.pow(2).mean()) == pytest.approx(40, rel=0.05)
    torch.testing.assert_close(weight_norms("sphere", (40, 40), generator=_g(7)), torch.ones(40, dtype=torch.float64))


def test_jacobian_singular_values_of_linear_and_orthogonal_maps():
    w = torch.randn(5, 4, generator=_g(8), dtype=torch.float64)
    sv = jacobian_singular_values(lambda v: w @ v, torch.randn(3, 4, dtype=torch.float64))
    torch.testing.assert_close(sv, torch.linalg.svdvals(w).expand(3, -1))
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=_g(9), dtype=torch.float64))
    sv = jacobian_singular_values(lambda v: q @ v, torch.randn(2, 6, dtype=torch.float64))
    torch.testing.assert_close(sv, torch.ones(2, 6, dtype=torch.float64))  # dynamical isometry
