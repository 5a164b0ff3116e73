"""The command line: one subprocess smoke run as a user runs it, the rest in-process through
``initscope.cli.main`` (the same entry point, without 3.5 s of interpreter start-up each)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

SMALL = ["--set", "depth=6", "--set", "width=32", "--set", "networks=64", "--set", "samples=64", "--set", "sample_networks=2",
         "--set", "theory_replicates=200"]


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "initscope", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def main(capsys, monkeypatch):
    """``main(*args, cwd=None)``: the CLI in-process, with the subprocess result's fields."""
    from initscope.cli import main as entry

    def call(*args, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        rc = entry([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(rc, out, err)

    return call


def test_run_json_summary_and_run_directory(tmp_path):
    out = tmp_path / "run"
    p = cli("run", "kaiming-variance", *SMALL, "--out", str(out), "--json", "--device", "cpu", "--seed", "3")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)  # stdout holds only the JSON
    keys = ["layers", "network_variance", "sample_variance", "mean_spread", "sample_fraction", "layer_variance",
            "theory_sample_fraction", "theory_sample_fraction_finite_width", "theory_network_variance_finite_width"]
    for k in keys:
        assert len(summary[k]) == 6, k
    assert "finite-width line" in summary["theory_verdict"]
    assert summary["layers"] == [1, 2, 3, 4, 5, 6]
    for sv, ms, f in zip(summary["sample_variance"], summary["mean_spread"], summary["sample_fraction"]):
        assert f == pytest.approx(sv / (sv + ms))
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 3 and meta["config"]["depth"] == 6 and meta["device"]["device"] == "cpu"
    assert {"torch", "numpy", "initscope"} <= set(meta["versions"]) and "run_s" in meta["timings"]
    stats = pd.read_parquet(out / "stats.parquet")
    assert {"layer", "view", "stat", "value", "stderr"} <= set(stats.columns)
    assert (out / "report.html").stat().st_size > 100_000  # plotly.js is embedded
    assert {f.name for f in (out / "figures").iterdir()} >= {"histograms.png", "variance_by_depth.png", "sample_fraction.png"}


def test_same_seed_gives_identical_stats(tmp_path, main):
    for name in ("a", "b"):
        assert main("run", "kaiming-variance", *SMALL, "--out", str(tmp_path / name), "--device", "cpu").returncode == 0
    a, b = (pd.read_parquet(tmp_path / n / "stats.parquet") for n in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "kaiming-varianec"], "unknown experiment 'kaiming-varianec'; choose from: "),
        (["run", "kaiming-variance", "--set", "init=kaiming"], "unknown init scheme 'kaiming'; choose from: "),
        (["run", "kaiming-variance", "--set", "activation=rleu"], "unknown activation 'rleu'; choose from: "),
        (["run", "kaiming-variance", "--set", "detph=3"], "unknown config key 'detph'; choose from: depth"),
        (["run", "kaiming-variance", "--set", "depth=ten"], "expected integer"),
        (["run", "kaiming-variance", "--set", "depth=0"], "depth must be >= 1"),
        (["run", "kaiming-variance", "--set", "width=0"], "width must be >= 1"),
        (["run", "kaiming-variance", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "kaiming-variance", "--bogus"], "No such option"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, message, main):
    p = main(*args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert p.returncode == 2
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert p.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary directory


def test_existing_out_refused_unless_force(tmp_path, main):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    p = main("run", "kaiming-variance", *SMALL, "--out", str(out))
    assert p.returncode == 2 and "--force" in p.stderr
    assert (out / "keep.txt").read_text() == "mine"
    p = main("run", "kaiming-variance", *SMALL, "--out", str(out), "--force")
    assert p.returncode == 0, p.stderr
    assert not (out / "keep.txt").exists() and (out / "run.json").exists()
    assert [f.name for f in tmp_path.iterdir()] == ["out"]  # no leftovers


def test_list_names_everything(main):
    p = main("list", "--json")
    assert p.returncode == 0, p.stderr
    listing = json.loads(p.stdout)
    assert "kaiming-variance" in listing["experiments"]
    assert {"kaiming-normal", "torch-default", "sphere", "orthogonal"} <= set(listing["schemes"])
    assert listing["activations"]["gelu"]["torch_gain"] is None
    assert listing["activations"]["relu"]["gain"] == pytest.approx(2**0.5)


def test_report_rebuilds_from_run_dir(tmp_path, main):
    out = tmp_path / "run"
    assert main("run", "kaiming-variance", *SMALL, "--out", str(out)).returncode == 0
    (out / "report.html").unlink()
    p = main("report", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "report.html").exists()
    p = main("report", str(tmp_path))
    assert p.returncode == 2 and "not a run directory" in p.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "kaiming-variance", "--set", "depth=2", "--out", "/proc/initscope-x"], "--out /proc/initscope-x: cannot write a run directory there"),
        (["theory", "--depth", "100000000"], "--depth must be <= 100,000"),
        (["theory", "--depth", "0"], "--depth must be >= 1"),
    ],
)
def test_unwritable_out_and_endless_theory_are_refused_in_one_line(capsys, argv, message):
    from initscope.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
