"""Shared fixtures: the CLI in-process (``main``) and the bad-input contract (``assert_refused``)."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# One intra-op thread for torch here and in the subprocesses the tests start (the CLI smoke runs;
# sweep workers pin their own). The suite runs many small tensor ops; with OpenMP's default (one
# thread per core) on a small machine shared with Chromium, spawned workers or anything else,
# the spinning threads thrash: tests/test_engine.py took 593 s of wall time (588 s of CPU) on
# 2 busy cores with the default, 20 s with one thread; on an idle machine one thread costs nothing
# measurable. Set OMP_NUM_THREADS yourself to test with more.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the environment it reads)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


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
