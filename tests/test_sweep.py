"""Sweeps: the grid, one table, resuming, failures, the two engines, the report; bad input in one line."""

import json
import shutil

import pandas as pd
import pytest

from conftest import assert_refused
from initscope.errors import InitscopeError
from initscope.sweep import parse_grid, sweep

SETS = ["depth=4", "networks=32", "samples=32", "sample_networks=2", "theory_replicates=0", "compare_norms=", "trace_layers=1"]


GRID = ["width=8,16", "seed=1"]


def _sweep(out, grid, **kw):
    return sweep("kaiming-variance", grid, SETS, out=out, **kw)


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    """GRID on the local pool (2 spawned workers, 1 thread each), run once for two tests: the local
    test resumes and grows a copy of it, the Ray test compares its table. Nothing writes into it."""
    return _sweep(tmp_path_factory.mktemp("pool") / "sw", GRID, workers=2)


def test_grid_parsing():
    assert parse_grid("kaiming-variance", ["width=8,16", "seed=0,1"]) == {"width": ["8", "16"], "seed": ["0", "1"]}
    assert parse_grid("variance-explosion", ["variants=normal-linear,kaiming-relu;lecun-relu"]) == {
        "variants": ["normal-linear,kaiming-relu", "lecun-relu"]}  # a list-valued key: ';' between points


@pytest.mark.parametrize("grid,match", [
    (["detph=1,2"], "--grid: unknown config key 'detph'; choose from: seed, depth"),
    (["width="], "expected a non-empty list"),
    (["width=8,,16"], "expected a non-empty list"),
    (["width"], "--grid expects key=v1,v2"),
    (["width=8,8"], "listed twice"),
    (["width=8", "width=16"], "given twice"),
    ([], "give at least one --grid"),
])
def test_bad_grids(grid, match):
    with pytest.raises(InitscopeError, match=match):
        parse_grid("kaiming-variance", grid)


def test_local_sweep_one_table_resumes_and_runs_only_what_is_new(tmp_path, pool_sweep):
    res = pool_sweep  # the first two points (on the pool; the grown point below runs in this process)
    assert [r.status for r in res.points] == ["done"] * 2 and not res.failed
    out = tmp_path / "sw"
    shutil.copytree(res.path, out)
    table = pd.read_parquet(out / "stats.parquet")
    assert list(table.columns[:2]) == ["width", "seed"] and {"view", "site", "layer", "stat", "value", "stderr", "n"} <= set(table.columns)
    assert sorted(set(zip(table.width, table.seed))) == [(8, 1), (16, 1)]
    # each point is an ordinary run directory, the same numbers as a plain run with the same config and seed
    from initscope.runner import run

    one = run("kaiming-variance", [*SETS, "width=16"], seed=1, write=False).outcome.tables["stats"]
    mine = table[(table.width == 16) & (table.seed == 1)].drop(columns=["width", "seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, one.reset_index(drop=True))
    stamps = {p.name: (p / "run.json").stat().st_mtime_ns for p in (out / "points").iterdir()}
    again = _sweep(out, GRID)
    assert [r.status for r in again.points] == ["skipped"] * 2
    assert {p.name: (p / "run.json").stat().st_mtime_ns for p in (out / "points").iterdir()} == stamps  # nothing re-ran
    grown = _sweep(out, ["width=16,32", "seed=1"])
    assert [r.status for r in grown.points] == ["skipped", "done"]
    table = pd.read_parquet(out / "stats.parquet")
    assert sorted(set(zip(table.width, table.seed))) == [(16, 1), (32, 1)]  # points left out of the grid leave the table
    assert len(list((out / "points").iterdir())) == 3  # ... but stay on disk
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["grid"] == {"width": ["16", "32"], "seed": ["1"]} and doc["engine"] == "local"
    assert {"torch", "initscope"} <= set(doc["versions"]) and all(p["status"] in ("done", "skipped") for p in doc["points"])
    assert (out / "report.html").stat().st_size > 100_000


def test_failed_point_does_not_stop_the_others(tmp_path, monkeypatch, main):
    import dataclasses

    from initscope.experiments import EXPERIMENTS

    exp = EXPERIMENTS["kaiming-variance"]

    def flaky(cfg, ctx):
        if cfg.width == 16:
            raise RuntimeError("out of luck")
        return exp.run(cfg, ctx)

    monkeypatch.setitem(EXPERIMENTS, "kaiming-variance", dataclasses.replace(exp, run=flaky))
    p = main("sweep", "kaiming-variance", "--grid", "width=8,16", *[a for s in SETS for a in ("--set", s)],
             "--out", str(tmp_path / "sw"), "--json")
    assert p.returncode == 1  # some points failed
    assert p.stderr.strip().splitlines() == ["initscope: point width=16 failed: RuntimeError: out of luck"]
    d = json.loads(p.stdout)
    assert [pt["status"] for pt in d["points"]] == ["done", "failed"] and d["table"].endswith("stats.parquet")
    assert set(pd.read_parquet(d["table"]).width) == {8}


def test_sweep_folder_rules(tmp_path, main):
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("x")
    base = ["sweep", "kaiming-variance", "--grid", "width=8", *[a for s in SETS for a in ("--set", s)]]
    assert_refused(main(*base, "--out", str(other)), "holds something other than a sweep")
    assert main(*base, "--out", str(tmp_path / "sw")).returncode == 0
    assert_refused(main("sweep", "phase-diagram", "--grid", "width=8,16", "--out", str(tmp_path / "sw")), "holds a sweep of 'kaiming-variance'")
    assert main(*base, "--out", str(other), "--force").returncode == 0 and not (other / "mine.txt").exists()


@pytest.mark.parametrize("args,message", [
    (["--grid", "detph=1,2"], "unknown config key 'detph'"),
    (["--grid", "width=8,abc"], "grid point width=abc: --set width='abc': expected integer"),
    (["--grid", "width=8,0"], "grid point width=0: width must be >= 1"),
    (["--grid", "width=8", "--set", "width=16"], "width given both in --grid and --set"),
    (["--grid", "width=8", "--workers", "0"], "--workers must be in [1, 1024]"),
    (["--grid", "width=8", "--address", "ray://x:1"], "--address joins a Ray cluster"),
    (["--grid", "width=8", "--engine", "spark"], "Invalid value for '--engine'"),
])
def test_bad_sweep_input_is_one_line_before_any_point(tmp_path, args, message, main):
    assert_refused(main("sweep", "kaiming-variance", *args, "--out", str(tmp_path / "sw")), message)
    assert not (tmp_path / "sw").exists()


def test_ray_engine_without_ray_names_the_extra(tmp_path, monkeypatch, main):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name)) if name == "ray" else real(name, *a, **k))
    assert_refused(main("sweep", "kaiming-variance", "--grid", "width=8", "--engine", "ray", "--out", str(tmp_path / "sw")),
                   "--engine ray needs Ray: pip install 'initscope[ray]'")


def test_two_numeric_keys_draw_a_heatmap():
    from initscope.report.sweep import sections

    rows = [dict(sigma_w2=w, sigma_b2=b, view="sample", site="pre", layer=3, stat="sample_fraction", value=w + b, stderr=0.0, n=1)
            for w in (1.0, 2.0) for b in (0.0, 0.1)]
    secs = sections(pd.DataFrame(rows), {"sigma_w2": ["1.0", "2.0"], "sigma_b2": ["0.0", "0.1"]})
    titles = [s.title for s in secs]
    assert titles == ["sample_fraction over sigma_w2", "sample_fraction over sigma_w2 x sigma_b2"]
    heat = secs[1].figures[0].data[0]
    assert heat.type == "heatmap" and [list(r) for r in heat.z] == [[1.0, 2.0], [1.1, 2.1]]


def test_process_pool_and_ray_give_the_same_table(tmp_path, pool_sweep):
    """Two points on the local pool (2 spawned workers, 1 thread each) and on a local Ray: the same
    table (the issue's 2x2 grid ran here before; the engines do not see the grid's shape)."""
    pytest.importorskip("ray")
    local = pool_sweep
    assert [r.status for r in local.points] == ["done"] * 2
    remote = _sweep(tmp_path / "ray", GRID, engine="ray", workers=2)
    assert [r.status for r in remote.points] == ["done"] * 2
    pd.testing.assert_frame_equal(pd.read_parquet(local.table), pd.read_parquet(remote.table))
    assert json.loads((tmp_path / "ray" / "sweep.json").read_text())["engine"] == "ray"


def test_a_ray_address_nothing_answers_at_is_refused_quickly(tmp_path, main):
    import socket
    import time

    pytest.importorskip("ray")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    assert_refused(main("sweep", "kaiming-variance", "--grid", "width=8", "--engine", "ray", "--address", f"127.0.0.1:{port}",
                        "--out", str(tmp_path / "sw")), "no Ray cluster answers there")
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "sw").exists()
