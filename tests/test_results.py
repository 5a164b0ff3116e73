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


def test_conform_stats_puts_the_schema_last_and_fills_what_a_single_measurement_lacks():
    from initscope.results import STATS_COLUMNS, conform_stats, stats_keys

    df = pd.DataFrame({"value": [1.0, 2.0], "layer": [1, 2], "variant": ["a", "b"], "stat": ["s", "s"], "step": [0, 0]})
    out = conform_stats(df)
    assert list(out.columns) == ["variant", "step", *STATS_COLUMNS]
    assert out.stderr.isna().all() and (out.n == 1).all() and list(out.value) == [1.0, 2.0]
    assert stats_keys(out) == ["variant", "step"]
    with pytest.raises(ValueError, match="missing stat"):
        conform_stats(pd.DataFrame({"layer": [1], "value": [0.0]}))


def _fake_run(path, stats: pd.DataFrame, config: dict) -> None:
    path.mkdir()
    write_tables(path, {"stats": stats})
    write_meta(path, {"experiment": "x", "config": config, "seed": 0})


def test_compare_reads_any_run_through_the_schema(tmp_path):
    """Two runs of different shapes: one with per-view series, one with a value per training step
    and no standard error. Series come from the keys that vary (views), a key with many values
    (steps) is averaged over and named; no experiment is special-cased."""
    from initscope.report.compare import compare

    views = pd.DataFrame({"view": ["network"] * 3 + ["sample"] * 3, "layer": [1, 2, 3] * 2, "stat": "variance",
                          "value": [1.0, 1.0, 1.0, 0.5, 0.25, 0.125], "stderr": 0.01, "n": 100})
    steps = pd.DataFrame({"step": np.repeat(np.arange(10), 3), "layer": np.tile([1, 2, 3], 10), "stat": "variance",
                          "value": np.tile([2.0, 4.0, 6.0], 10) + np.repeat(np.arange(10), 3)})
    _fake_run(tmp_path / "a", views, {"width": 10})
    _fake_run(tmp_path / "b", steps, {"width": 20})
    out = load_run(compare([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp"))
    table = out.stats
    assert set(table.run) == {"width=10, network", "width=10, sample", "width=20"}
    b = table[table.run == "width=20"].sort_values("layer")
    np.testing.assert_allclose(b.value, [2 + 4.5, 4 + 4.5, 6 + 4.5])  # the mean over the 10 steps
    report = (tmp_path / "cmp" / "report.html").read_text()
    assert "averaged over step (10 values)" in report
