"""Run directories: staging that appears whole or not at all, the one loader, JSON without NaN."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from initscope.errors import InitscopeError
from initscope.results import RunWriter, StagingDir, jsonable, load_run, write_meta, write_tables


def test_staging_commits_whole_or_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    s = StagingDir(out, force=False)
    (s.path / "x.txt").write_text("1")
    assert not out.exists() and s.path.parent == out.parent
    assert s.commit() == out and (out / "x.txt").read_text() == "1"
    assert [p.name for p in out.parent.iterdir()] == ["run"]  # no staging folder left beside it
    s2 = StagingDir(tmp_path / "c" / "d" / "run", force=False)
    (s2.path / "half.txt").write_text("x")
    s2.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # the folders it created went with it


def test_force_replaces_and_without_it_a_full_folder_is_kept(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(InitscopeError, match="pass --force"):
        StagingDir(out, force=False)
    s = StagingDir(out, force=True)
    (s.path / "new.txt").write_text("new")
    s.commit()
    assert [p.name for p in out.iterdir()] == ["new.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_context_manager_aborts_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with StagingDir(tmp_path / "run", force=False) as s:
            (s.path / "x").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_run_writer_commits_tables_figure_report_and_meta_whole(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame({"layer": [1, 2], "stat": ["a", "a"], "value": [0.5, 1.5]})
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    with RunWriter(tmp_path / "r" / "run") as w:
        w.tables({"stats": df})
        w.figure(fig, "profile")
        w.report("title", {"experiment": "x"}, [], {"stats": df})
        w.meta({"experiment": "kaiming-variance", "config": {}, "seed": 0})
        assert not (tmp_path / "r" / "run").exists()  # nothing in place before the block ends
    assert w.committed and w.out == tmp_path / "r" / "run"
    assert sorted(p.name for p in w.out.rglob("*")) == ["figures", "profile.png", "profile.svg", "report.html", "run.json", "stats.parquet"]
    pd.testing.assert_frame_equal(load_run(w.out).stats, df)
    assert not plt.fignum_exists(fig.number)  # closed after saving


def test_run_writer_leaves_nothing_on_error_and_update_keeps_the_old_until_whole(tmp_path):
    with pytest.raises(RuntimeError):
        with RunWriter(tmp_path / "a" / "run") as w:
            w.meta({"experiment": "x", "config": {}, "seed": 0})
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [] and not w.committed
    run = tmp_path / "run"
    with RunWriter(run) as w:
        w.meta({"experiment": "x", "config": {}, "seed": 0})
        (w.path / "report.html").write_text("old")
    with pytest.raises(RuntimeError):
        with RunWriter.update(run) as w:
            (w.path / "report.html").write_text("half")
            raise RuntimeError("boom")
    assert (run / "report.html").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with RunWriter.update(run) as w:
        (w.path / "report.html").write_text("new")
    assert (run / "report.html").read_text() == "new" and (run / "run.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_round_trip_through_the_loader(tmp_path):
    df = pd.DataFrame({"layer": [1, 2], "stat": ["a", "b"], "value": [0.5, 1.5]})
    write_tables(tmp_path, {"stats": df})
    write_meta(tmp_path, {"experiment": "kaiming-variance", "config": {"depth": 2}, "seed": 0, "x": math.nan})
    rd = load_run(tmp_path)
    pd.testing.assert_frame_equal(rd.tables["stats"], df)
    assert rd.meta["x"] is None and json.loads((tmp_path / "run.json").read_text())["seed"] == 0


def test_jsonable_has_no_nan_and_no_numpy():
    out = jsonable({"a": np.float32(1.5), "b": [math.inf, np.int64(3)], "c": (np.nan,), 4: "k"})
    assert out == {"a": 1.5, "b": [None, 3], "c": [None], "4": "k"}
    assert type(out["b"][1]) is int
    json.dumps(out, allow_nan=False)
