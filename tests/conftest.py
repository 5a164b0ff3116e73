"""Shared fixtures: the CLI in-process (``main``) and the bad-input contract (``assert_refused``)."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# One intra-op thread for torch here and in the subprocesses the tests start (the CLI smoke runs;
# sweep workers pin their own). The suite runs many small tensor ops; with OpenMP's default (one
# thread per core) on a small machine shared with Chromium, spawned workers or anything else,
# the spinning threads thrash: tests/test_engine.py took 593 s of wall time (588 s of CPU) on
# 2 busy cores with the default, 20 s with one thread (three experiment runs timed at a quiet moment
# took the same wall time either way). Set OMP_NUM_THREADS yourself to test with more.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the environment it reads)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# Every experiment at a small size, shared by the figure tests and the browser tests (one run each per
# session through the ``small_run`` fixture). Change a size here and both files see it.
SMALL_RUNS = {
    "kaiming-variance": {"depth": 12, "width": 64, "networks": 64, "samples": 64, "sample_networks": 2, "theory_replicates": 100},
    "variance-explosion": {"depth": 12, "width": 32, "samples": 64, "networks": 2, "hist_layers": (1, 10)},
    "phase-diagram": {"grid_w": 4, "grid_b": 3, "depth": 6, "width": 64, "samples": 16, "sim_sigma_w2": (1.5,), "sim_sigma_b2": (0.1,),
                      "case_depth": 6, "case_width": 32},
    "permutation-symmetry": {"networks": 1, "steps": 2},
    "constant-init": {"steps": 10, "seed_check_steps": 3},
    "data-distributions": {"networks": 2, "samples": 20, "depth": 3, "width": 16, "spectrum_dim": 16, "jacobian_points": 3,
                           "variants": ("normal", "sphere")},
    "backward-variance": {"input_dim": 16, "widths": (32, 16), "output_dim": 8, "networks": 20, "samples": 4, "gi_widths": (8,), "gi_depth": 4},
    "init-training": {"depth": 3, "width": 16, "seeds": 2, "epochs": 2, "variants": ("kaiming", "sample-statistics", "batchnorm")},
}


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """``small_run(name)``: the RunRecord of experiment ``name`` at ``SMALL_RUNS[name]`` (seed 0, cpu),
    its run directory written (report.html, tables, run.json; no PNG figures) into a session folder.
    Each experiment runs once per session. Shared: read it, never write into it (copy it first)."""
    from initscope.runner import run

    root = tmp_path_factory.mktemp("small-runs")
    done = {}

    def get(name):
        if name not in done:
            done[name] = run(name, SMALL_RUNS[name], out=root / name, seed=0, device="cpu", figures=False)
        return done[name]

    return get


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def assert_refused(p: Result, message: str) -> None:
    """The bad-input contract: exit 2, one line on stderr naming the problem, no traceback, no stdout."""
    assert p.returncode == 2, p.stderr
    assert message in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert p.stdout == ""


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
