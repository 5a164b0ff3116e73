"""kaiming-variance with normalization: the run's own norm and the compared ones, beside mean field."""

import math

import pytest

from initscope.errors import InitscopeError
from initscope.runner import run

SMALL = {"depth": 10, "width": 128, "networks": 200, "samples": 256, "sample_networks": 3, "theory_replicates": 0}


def test_batch_norm_run_keeps_the_fraction_and_compares_the_other_norms():
    rec = run("kaiming-variance", {**SMALL, "norm": "batchnorm", "compare_norms": ("none", "layernorm")}, write=False, seed=2)
    s = rec.summary
    f = 1 - 1 / math.pi  # Var relu(z) / E relu(z)^2; the measured mean spread adds the 1/S noise of a mean over S samples
    assert s["theory_sample_fraction"][1:] == pytest.approx([f / (1 + f / 256)] * 9, rel=1e-9)
    assert all(abs(v - (1 - 1 / math.pi)) < 0.05 for v in s["sample_fraction"][1:])
    assert s["network_variance"][5] == pytest.approx(1.0, rel=0.1)  # sigma_w^2 E relu(z)^2 = 1 after every norm
    assert any("batchnorm: mean field over an infinite batch" in n for n in s["theory_notes"])
    norms = rec.outcome.tables["norms"]
    assert list(dict.fromkeys(norms.norm)) == ["batchnorm", "none", "layernorm"]
    assert s["norms"]["none"][-1] < 0.25 and s["norms"]["layernorm"][-1] < 0.25 and s["norms"]["batchnorm"][-1] > 0.6
    ln = norms[norms.norm == "layernorm"]
    # layer norm follows its mean-field line (length map reset) up to finite-width terms (depth/width 0.08 here, 3 networks)
    assert ((ln.value / ln.theory - 1).abs() < 0.35).all()


def test_rms_norm_uses_layer_norms_mean_field_and_says_so():
    s = run("kaiming-variance", {**SMALL, "norm": "rmsnorm", "compare_norms": ()}, write=False).summary
    assert any(n.startswith("rmsnorm: mean field as layernorm") for n in s["theory_notes"])
    assert abs(s["sample_fraction"][-1] - s["theory_sample_fraction"][-1]) < 0.03


@pytest.mark.parametrize("overrides,match", [
    ({"compare_norms": ("groupnorm",)}, "unknown norm 'groupnorm'"),
    ({"norm": "batchnorm", "samples": 33, "batch_size": 32}, "leave a batch of 1"),
    ({"norm": "batchnorm", "batch_size": 1}, "batch_size must be >= 2"),
    ({"norm": "batchnorm", "init": "orthogonal", "sampler": "exact"}, "sampler 'exact' with norm=batchnorm needs normal weights"),
])
def test_bad_norm_configs(overrides, match):
    with pytest.raises(InitscopeError, match=match):
        run("kaiming-variance", {**SMALL, **overrides}, write=False)
