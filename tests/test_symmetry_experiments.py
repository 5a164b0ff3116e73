import json

import pytest

from initscope.errors import InitscopeError
from initscope.runner import run


def test_permutation_symmetry_experiment():
    rec = run("permutation-symmetry", {"networks": 2, "steps": 3}, write=False)
    s = rec.summary
    assert s["dtype"] == "float64"
    assert max(s["forward_max_abs_diff"], s["grad_max_abs_diff"], s["update_max_abs_diff"]) < 1e-13
    f32 = s["by_dtype"]["float32"]
    assert 0 < max(f32.values()) < 1e-5  # rounding, not zero: float32 does its sums in another order
    # the control (next layer's columns left alone) is caught at every step, and kept out of the headline numbers
    assert min(s["inconsistent_float64"].values()) > 1e-2
    stats = rec.outcome.tables["stats"]
    assert set(stats.permutation) == {"consistent", "inconsistent"}
    assert set(stats.stat) == {"forward_max_abs_diff", "grad_max_abs_diff", "update_max_abs_diff"} and stats.step.nunique() == 3
    assert list(stats.columns[-5:]) == ["layer", "stat", "value", "stderr", "n"]  # the schema every experiment shares


def test_constant_init_experiment_claims():
    rec = run("constant-init", {"steps": 40, "seed_check_steps": 5}, write=False, seed=0)
    v = rec.summary["variants"]
    widths = rec.summary["widths"]
    assert set(v) == {"constant", "constant-dropout", "random"}
    assert all(d == [1, 1] for d in v["constant"]["distinct_units"])  # (a) one unit forever
    assert rec.summary["final"]["constant"] == {"unit_spread": [0.0, 0.0], "rank": [1, 1]}  # bit for bit
    assert v["constant-dropout"]["distinct_units"][0] == [1, 1]
    assert all(d > 1 for d in v["constant-dropout"]["distinct_units"][-1])  # (b) dropout breaks it
    assert v["random"]["distinct_units"][0] == widths  # (c) full width from the start
    assert len(v["constant"]["loss"]) == 41
    assert v["random"]["loss"][-1] < v["constant"]["loss"][-1]
    assert rec.summary["seed_check"] == {"same_seed_bit_identical": True, "other_seed_differs": True, "unseeded_rerun_differs": True}
    stats = rec.outcome.tables["stats"]
    assert set(stats.stat) == {"distinct_units", "unit_spread", "rank", "loss"}


def test_same_seed_bit_identical_runs():
    over = {"steps": 10, "seed_check_steps": 2}
    a = run("constant-init", over, write=False, seed=4).summary["variants"]
    b = run("constant-init", over, write=False, seed=4).summary["variants"]
    c = run("constant-init", over, write=False, seed=5).summary["variants"]
    assert a == b and a["random"]["loss"] != c["random"]["loss"]


@pytest.mark.parametrize("name,override", [
    ("constant-init", {"steps": 0}),
    ("constant-init", {"dropout": 0.0}),
    ("constant-init", {"lr": -1.0}),
    ("permutation-symmetry", {"steps": 0}),
    ("permutation-symmetry", {"dtype": "float16"}),
])
def test_bad_configs_are_user_errors(name, override):
    with pytest.raises(InitscopeError):
        run(name, override, write=False)


def test_cli_permutation_symmetry_json(tmp_path, main):
    p = main("run", "permutation-symmetry", "--json", "--out", str(tmp_path / "r"),
             "--set", "networks=1", "--set", "steps=2", "--set", "dtype=float32")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["dtype"] == "float32"
    for k in ("forward_max_abs_diff", "grad_max_abs_diff", "update_max_abs_diff"):
        assert 0 <= d[k] < 1e-5
    assert (tmp_path / "r" / "figures" / "permutation_checks.png").exists()


def test_a_run_directory_from_before_the_stats_schema_is_redrawn(tmp_path):
    """``initscope report`` on a permutation-symmetry run written with ``claim``/``max_abs_diff``
    columns (before one stats schema) redraws it with the same verdict."""
    from initscope.runner import rebuild

    rec = run("permutation-symmetry", {"networks": 1, "steps": 2}, out=tmp_path / "ps", seed=0, figures=False)
    new = rec.outcome.tables["stats"]
    old = new.assign(claim=new.stat.str.replace("_max_abs_diff", "", regex=False), max_abs_diff=new.value)
    old[["step", "claim", "layer", "max_abs_diff", "network", "dtype", "permutation"]].to_parquet(tmp_path / "ps" / "stats.parquet", index=False)
    (tmp_path / "ps" / "report.html").unlink()
    verdict = json.loads((tmp_path / "ps" / "run.json").read_text())["verdicts"][0]["verdict"]
    rebuild(tmp_path / "ps")
    assert verdict[:60] in (tmp_path / "ps" / "report.html").read_text()  # the same verdict, drawn from the old table
    assert (tmp_path / "ps" / "figures" / "permutation_checks.png").exists()
