import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from initscope.errors import InitscopeError
from initscope.experiments.variance_explosion import parse_variant, sums_demo
from initscope.runner import run

SMALL = {"depth": 30, "width": 64, "samples": 256, "networks": 8, "hist_layers": (1, 10, 30)}


@pytest.fixture(scope="module")
def small_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow is a result: not one warning may escape
        return run("variance-explosion", SMALL, write=False, seed=0)


@pytest.mark.parametrize("variant", ["lecun-linear", "lecun-relu", "kaiming-relu", "normal-linear"])
def test_each_variant_follows_its_recursion(small_run, variant):
    stats = small_run.outcome.tables["stats"]
    v = small_run.summary["variants"][variant]
    rows = stats[(stats.variant == variant) & (stats.site == "post") & (stats.stat == "variance")].sort_values("layer")
    checked = 0
    for (_, r), theory in zip(rows.iterrows(), v["theory_variance"]):
        if not math.isfinite(r.value):
            continue
        # relative: the spread over networks grows like (1 + 5/N)^l, so compare within 5 SE of the 8 networks
        assert abs(r.value - theory) < 5 * r.stderr + 1e-12 * theory, (variant, r.layer, r.value, theory, r.stderr)
        checked += 1
    assert checked >= 10


def test_the_texts_story_in_numbers(small_run):
    v = small_run.summary["variants"]
    nl = v["normal-linear"]
    assert nl["variance"][0] == pytest.approx(64, rel=0.1)  # "after the very first layer our variance is already ~fan_in"
    assert nl["variance"][1] / nl["variance"][0] == pytest.approx(64, rel=0.3)
    # N(0,1) weights, width 64: |y| ~ 8^l leaves float32 near layer 42 - beyond depth 30 here
    assert nl["first_nonfinite_layer"] is None
    assert 0.8 < v["lecun-linear"]["variance"][-1] < 1.25 or v["lecun-linear"]["variance"][-1] == pytest.approx(1, rel=0.5)
    lr = np.array(v["lecun-relu"]["theory_pre_activation_variance"])
    assert np.allclose(lr[1:] / lr[:-1], 0.5)  # the second moment halves each layer
    assert v["lecun-relu"]["variance"][-1] < 1e-7
    kr = v["kaiming-relu"]["theory_pre_activation_variance"]
    assert max(kr) == pytest.approx(min(kr))


def test_overflow_layer_matches_prediction_and_no_nan_is_averaged():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = run("variance-explosion", {"depth": 60, "width": 64, "samples": 128, "networks": 2, "variants": ("normal-linear",)}, write=False)
    v = rec.summary["variants"]["normal-linear"]
    first, pred = v["first_nonfinite_layer"], v["predicted_overflow_layer"]["float32"]["activations"]
    assert first is not None and abs(first - pred) <= 2, (first, pred)
    assert all(x is not None and math.isfinite(x) for x in v["variance"][: first - 1])
    assert all(x is None for x in v["variance"][first - 1 :])
    assert v["predicted_overflow_layer"]["float64"]["activations"] > 300  # 8^l passes 1.8e308 near l = 341


def test_parse_variant_and_extra_variants():
    assert parse_variant("lecun-relu") == ("lecun-normal", "relu")
    assert parse_variant("orthogonal-leaky_relu") == ("orthogonal", "leaky_relu")
    assert parse_variant("torch-default-tanh") == ("torch-default", "tanh")
    with pytest.raises(InitscopeError, match="unknown init scheme 'kaimin'"):
        parse_variant("kaimin-relu")
    with pytest.raises(InitscopeError, match="SCHEME-ACTIVATION"):
        parse_variant("kaiming")
    rec = run("variance-explosion", {"depth": 5, "width": 32, "samples": 64, "networks": 2, "variants": ("xavier-tanh",)}, write=False)
    v = rec.summary["variants"]["xavier-tanh"]
    assert len(v["theory_variance"]) == 5 and all(x > 0 for x in v["theory_variance"])


def test_sums_demo():
    df = sums_demo(seed=0)
    for _, r in df.iterrows():
        assert abs(r.variance - r.expected) < 5 * r.stderr


def test_cli(tmp_path):
    p = subprocess.run([sys.executable, "-m", "initscope", "run", "variance-explosion", "--json", "--out", str(tmp_path / "r"),
                        "--set", "depth=8", "--set", "width=32", "--set", "samples=64", "--set", "networks=2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert set(d["variants"]) == {"normal-linear", "lecun-linear", "lecun-relu", "kaiming-relu"}
    for v in d["variants"].values():
        assert {"variance", "pre_activation_variance", "first_nonfinite_layer", "theory_variance"} <= set(v)
        assert len(v["variance"]) == 8
    bad = subprocess.run([sys.executable, "-m", "initscope", "run", "variance-explosion", "--set", "variants=kaimin-relu",
                          "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "kaimin" in bad.stderr
    assert not (tmp_path / "b").exists()
