import json

import pytest

from initscope.runner import run


def test_variants_orderings_not_numbers():
    rec = run("data-distributions", {"networks": 4, "samples": 60}, write=False, seed=0)
    v = rec.summary["variants"]
    for name, d in v.items():
        assert len(d["effective_rank"]) == 10 and len(d["singular_values"]) == 10
        assert len(d["singular_values"][0]) == 40 and abs(d["singular_values"][0][0] - 1) < 1e-12
    # N(0, 1) weights blow the scale up (text 001: "the scale of the data becomes huge"); sphere does not
    assert v["normal"]["scale"][-1] > 1000 * v["sphere"]["scale"][-1]
    # information is lost with depth in plain ReLU stacks: effective rank falls
    for name in ("normal", "sphere", "kaiming"):
        assert v[name]["effective_rank"][-1] < v[name]["effective_rank"][0]
    # the residual remedy keeps more of it than the plain Kaiming stack at the last layer
    assert v["residual"]["effective_rank"][-1] > v["kaiming"]["effective_rank"][-1]
    assert v["sphere"]["top1_fraction"][-1] > v["sphere"]["top1_fraction"][0]
    pcs = rec.outcome.tables["pca"]
    assert set(pcs.layer) == set(range(11)) and {"pc1", "pc2", "pc3", "target"} <= set(pcs.columns)


def test_cli_json_keys(tmp_path, main):
    p = main("run", "data-distributions", "--json", "--out", str(tmp_path / "r"),
             "--set", "networks=2", "--set", "variants=normal,sphere", "--set", "depth=4")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert set(d["variants"]) == {"normal", "sphere"}
    for v in d["variants"].values():
        assert {"scale", "effective_rank", "top1_fraction", "singular_values"} <= set(v)
    assert (tmp_path / "r" / "figures" / "pca.png").exists()
    bad = main("run", "data-distributions", "--set", "variants=sphere-spaced")
    assert bad.returncode == 2 and "unknown variant 'sphere-spaced'" in bad.stderr


def test_residual_branch_scale_follows_the_depth():
    """Issue 16's bug: the residual variant kept 2/10 ("1/depth" at the default depth) under --set depth=20."""
    from initscope.experiments.data_distributions import DataDistributionsConfig

    for depth in (10, 20, 3):
        spec = DataDistributionsConfig(depth=depth, variants=("residual",)).spec("residual", 40)
        assert spec.weight_scale == pytest.approx(2.0 / depth) and spec.residual
