"""The command line: one subprocess smoke run as a user runs it, the rest in-process through
``initscope.cli.main`` (the same entry point, without 3.5 s of interpreter start-up each)."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import assert_refused

SMALL = ["--set", "depth=6", "--set", "width=32", "--set", "networks=64", "--set", "samples=64", "--set", "sample_networks=2",
         "--set", "theory_replicates=200"]


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "initscope", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


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
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 3 and meta["config"]["depth"] == 6 and meta["device"]["device"] == "cpu"
    assert {"torch", "numpy", "initscope"} <= set(meta["versions"]) and "run_s" in meta["timings"]
    stats = pd.read_parquet(out / "stats.parquet")
    assert {"layer", "view", "stat", "value", "stderr"} <= set(stats.columns)
    for stat in ("sample_fraction", "network_variance"):  # --json says what the table holds
        rows = stats[(stats.stat == stat) & (stats.site == "pre")].sort_values("layer")
        assert summary[stat] == pytest.approx(rows.value.tolist(), rel=1e-12)
    assert (out / "report.html").stat().st_size > 100_000  # plotly.js is embedded
    assert {f.name for f in (out / "figures").iterdir()} >= {"histograms.png", "variance_by_depth.png", "sample_fraction.png"}


def test_same_seed_gives_identical_stats():
    """The same seed and config give the same table (the run path every command shares; drawing is
    left out, it does not touch the numbers)."""
    from initscope.runner import run

    cfg = {k: float(v) if "." in v else int(v) for k, v in (a.split("=") for a in SMALL[1::2])}
    a, b = (run("kaiming-variance", cfg, seed=5, device="cpu", write=False).outcome.tables["stats"] for _ in range(2))
    pd.testing.assert_frame_equal(a, b)
    c = run("kaiming-variance", cfg, seed=6, device="cpu", write=False).outcome.tables["stats"]
    assert not a.value.equals(c.value)  # and another seed gives other numbers


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
    assert_refused(main(*args, "--out", str(tmp_path / "out"), cwd=tmp_path), message)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary directory


def test_list_names_everything(main):
    p = main("list", "--json")
    assert p.returncode == 0, p.stderr
    listing = json.loads(p.stdout)
    assert "kaiming-variance" in listing["experiments"]
    assert {"kaiming-normal", "torch-default", "sphere", "orthogonal"} <= set(listing["schemes"])
    assert listing["activations"]["gelu"]["torch_gain"] is None
    assert listing["activations"]["relu"]["gain"] == pytest.approx(2**0.5)


@pytest.mark.parametrize(
    "argv,message",
    [
        # the default size: refused before any work (as root os.access calls /proc writable; the check
        # creates a folder to know), so this takes no longer than parsing
        (["run", "kaiming-variance", "--out", "/proc/initscope-x"], "--out '/proc/initscope-x': '/proc' is not writable"),
        (["theory", "--depth", "100000000"], "--depth must be <= 100,000"),
        (["theory", "--depth", "0"], "--depth must be >= 1"),
    ],
)
def test_unwritable_out_and_endless_theory_are_refused_in_one_line(argv, message, main):
    assert_refused(main(*argv), message)


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "kaiming-variance", "--seed", "1180591620717411303424"], "--seed must be an integer in [0, 2^63)"),
        (["run", "kaiming-variance", "--set", "memory_mb=inf"], "memory_mb='inf'"),
        (["run", "kaiming-variance", "--set", "sigma_b=nan"], "sigma_b='nan'"),
        (["run", "constant-init", "--set", "lr=nan"], "lr='nan': expected a finite number"),
        (["run", "kaiming-variance", "--set", "depth=3", "--set", "depth=4"], "--set depth given twice"),
    ],
)
def test_values_that_parse_but_cannot_be_used(tmp_path, args, message, main):
    assert_refused(main(*args, "--out", str(tmp_path / "out"), cwd=tmp_path), message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "run_json,table,message",
    [
        ("[1, 2]", None, "run.json: expected a JSON object, got list"),
        ("{", None, "run.json: not readable JSON"),
        ('{"experiment": "kaiming-variance"}', None, "run.json: missing config, seed"),
        ('{"experiment": "kaiming-variance", "config": {}, "seed": 0}', b"not parquet", "stats.parquet: not a readable parquet table"),
    ],
)
def test_corrupt_run_directories_are_named_not_tracebacks(tmp_path, run_json, table, message, main):
    d = tmp_path / "run"
    d.mkdir()
    (d / "run.json").write_text(run_json)
    if table is not None:
        (d / "stats.parquet").write_bytes(table)
    before = sorted(p.name for p in d.iterdir())
    for cmd in (["report", str(d)], ["compare", str(d), str(d), "--out", str(tmp_path / "cmp")]):
        assert_refused(main(*cmd), message)
    assert sorted(p.name for p in d.iterdir()) == before and not (tmp_path / "cmp").exists()


def test_existing_out_refused_unless_force_stale_staging_removed_and_report_rebuilds(tmp_path, main):
    """One forced run (with figures, through the CLI) serves three checks that each ran the same
    config before: an occupied --out is refused unless --force; the stale staging folders of the
    target go (another target's stay); ``initscope report`` rebuilds the run's report.html."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    stale = tmp_path / ".out.tmp-killed"
    stale.mkdir()
    (stale / "stats.parquet").write_text("half")
    other = tmp_path / ".another.tmp-x"
    other.mkdir()
    p = main("run", "kaiming-variance", *SMALL, "--out", str(out))
    assert p.returncode == 2 and "--force" in p.stderr
    assert (out / "keep.txt").read_text() == "mine"
    p = main("run", "kaiming-variance", *SMALL, "--out", str(out), "--force")
    assert p.returncode == 0, p.stderr
    assert not (out / "keep.txt").exists() and (out / "run.json").exists()
    assert not stale.exists() and other.exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == [".another.tmp-x", "out"]  # no leftovers
    # the report rebuilds from the run directory
    lines = p.stdout.splitlines()  # where it wrote, then each report section's verdict (also in run.json)
    assert lines[0].startswith("wrote ") and lines[1].startswith("Variance by depth, per source of randomness: network variance")
    assert json.loads((out / "run.json").read_text())["verdicts"][0]["title"] == "Variance by depth, per source of randomness"
    (out / "report.html").unlink()
    p = main("report", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "report.html").exists()
    p = main("report", str(tmp_path))
    assert p.returncode == 2 and "not a run directory" in p.stderr


def test_diverging_training_reports_its_step(tmp_path, main):
    p = main("run", "constant-init", "--set", "lr=1e30", "--set", "steps=5", "--set", "seed_check_steps=2",
             "--out", str(tmp_path / "ci"), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["diverged_at_step"] == {"constant": 1, "constant-dropout": 1, "random": 1}


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "kaiming-variance", "--set", "depth=1000000000"], "depth must be <= 100,000"),
        (["run", "kaiming-variance", "--set", "width=10000000"], "need"),  # memory here, operations on a bigger machine
        (["run", "kaiming-variance", "--set", "input_dim=10000000000"], "need"),
        (["run", "kaiming-variance", "--set", "networks=1000000000000"], "per-network sums of 1,000,000,000,000 networks"),
        (["run", "kaiming-variance", "--set", "samples=100000000000"], "100,000,000,000 inputs of dimension 1,024 need"),
        (["run", "kaiming-variance", "--set", "width=100000", "--set", "memory_mb=100000"], "multiply-adds"),
        (["run", "variance-explosion", "--set", "width=10000000"], "half of this machine's memory"),
        (["run", "variance-explosion", "--set", "networks=100000000"], "multiply-adds"),
        (["run", "constant-init", "--set", "widths=10000000,10000000"], "the digits MLP"),
        (["run", "constant-init", "--set", "rtol=-1"], "rtol must be a finite number >= 0"),
        (["run", "permutation-symmetry", "--set", "widths=1000000000"], "the permuted MLP"),
        (["run", "data-distributions", "--set", "samples=100000000000"], "the normal MLP"),
        (["run", "phase-diagram", "--set", "grid_w=1000000", "--set", "grid_b=1000000"], "grid_w x grid_b must be <= 10,000"),
        (["theory", "--depth", "1000000000"], "--depth must be <= 100,000"),
    ],
)
def test_sizes_beyond_the_machine_are_refused_before_any_work(tmp_path, args, message, main):
    extra = ["--out", str(tmp_path / "out")] if args[0] == "run" else []
    assert_refused(main(*args, *extra, cwd=tmp_path), message)
    assert list(tmp_path.iterdir()) == []


def test_output_paths_that_cannot_be_written(tmp_path, main):
    f = tmp_path / "a-file"
    f.write_text("x")
    for out, message in ((f / "sub", "is a file, not a folder"), (tmp_path / ("x" * 300), "File name too long")):
        assert_refused(main("run", "kaiming-variance", *SMALL, "--out", str(out)), message)
    assert [q.name for q in tmp_path.iterdir()] == ["a-file"]


@pytest.fixture(scope="module")
def small_run_dir(tmp_path_factory):
    """One small kaiming-variance run directory, written in-process, for the other commands' smoke runs."""
    from initscope.runner import run

    cfg = {k: float(v) if "." in v else int(v) for k, v in (a.split("=") for a in SMALL[1::2])}
    out = tmp_path_factory.mktemp("smoke") / "kv"
    run("kaiming-variance", cfg, seed=0, device="cpu", out=out, figures=False)
    return out


@pytest.mark.parametrize("command", ["list", "theory", "report", "compare", "sweep"])
def test_every_command_runs_as_a_user_runs_it(command, small_run_dir, tmp_path):
    """One subprocess run per command besides `run` and `inspect` (smoke-tested above and in
    test_inspect): the installed entry point, its exit status and what it writes."""
    args = {
        "list": ["list", "--json"],
        "theory": ["theory", "--depth", "5", "--width", "64", "--json"],
        "report": ["report", str(small_run_dir)],
        "compare": ["compare", str(small_run_dir), str(small_run_dir), "--out", str(tmp_path / "cmp")],
        "sweep": ["sweep", "permutation-symmetry", "--grid", "steps=1,2", "--out", str(tmp_path / "sw"), "--json"],
    }[command]
    p = cli(*args)
    assert p.returncode == 0, p.stderr
    if command in ("list", "theory", "sweep"):
        assert json.loads(p.stdout)
    written = {"report": small_run_dir / "report.html", "compare": tmp_path / "cmp" / "report.html",
               "sweep": tmp_path / "sw" / "stats.parquet"}.get(command)
    assert written is None or written.stat().st_size > 0
