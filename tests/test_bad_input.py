"""Issue 15's contract, command by command: a bad input gets exit 2, exactly one line on stderr
naming what is wrong, no traceback, nothing on stdout, and no new, changed or removed file in the
working directory or next to ``--out``. Awkward but legal inputs give a clean result (no NaN in
any table). Validation alone is fuzzed with hypothesis (``initscope.runner.validate``).

Cases covered: CASES (table, below) + RUNS (awkward legal runs) + the hypothesis draws; the
counts are asserted in ``test_the_tables_cover_every_command`` so the note's numbers stay true.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from conftest import assert_refused

MODELS = '''
import torch
from torch import nn
def mlp(): return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
def emb(): return nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 10))
def raises(): raise RuntimeError("boom")
def tensor(): return torch.zeros(3)
class Bad(nn.Module):
    def __init__(self): super().__init__(); self.l = nn.Linear(4, 4)
    def forward(self, x): raise ValueError("forward boom")
def bad(): return Bad()
class NoneOut(nn.Module):
    def __init__(self): super().__init__(); self.l = nn.Linear(4, 4)
    def forward(self, x): self.l(x); return None
def none_out(): return NoneOut()
def data_str(): return "hello"
def data_raises(): raise KeyError("x")
def data_one(): return torch.randn(1, 4)
def data_int(): return torch.randint(0, 5, (16, 4))
'''

KV = ["--set", "depth=3", "--set", "width=16", "--set", "networks=8", "--set", "samples=8", "--set", "sample_networks=2",
      "--set", "theory_replicates=10", "--set", "trace_layers=1"]

# (argv, the words the one stderr line must hold); {M} is the models file, {S} the sandbox,
# {F} a regular file in it, {R} a corrupt run directory in it.
CASES: list[tuple[list[str], str]] = [
    # the command line itself
    (["nope"], "No such command 'nope'"),
    (["--nope"], "No such option"),
    (["run"], "Missing argument 'NAME'"),
    (["list", "--nope"], "No such option"),
    # run: names, types, values that parse but cannot be used
    (["run", "nope"], "unknown experiment 'nope'; choose from: "),
    (["run", "kaiming-variance", "--set", "x"], "--set expects key=value"),
    (["run", "kaiming-variance", "--set", "=3"], "unknown config key ''"),
    (["run", "kaiming-variance", "--set", "depth="], "expected integer"),
    (["run", "kaiming-variance", "--set", "depth=2.5"], "expected integer"),
    (["run", "kaiming-variance", "--set", "depth=1", "--set", "depth=2"], "--set depth given twice"),
    (["run", "kaiming-variance", "--set", "width=1"], "width must be >= 2"),
    (["run", "kaiming-variance", "--set", "init=nope"], "unknown init scheme 'nope'"),
    (["run", "kaiming-variance", "--set", "norm=nope"], "choose from"),
    (["run", "kaiming-variance", "--set", "sampler=nope"], "choose from"),
    (["run", "kaiming-variance", "--set", "dtype=int8"], "choose from"),
    (["run", "kaiming-variance", "--set", "sigma_b=inf"], "sigma_b='inf'"),
    (["run", "kaiming-variance", "--set", "memory_mb=0"], "memory_mb must be > 0"),
    (["run", "kaiming-variance", "--set", "networks=1"], "networks must be >= 2"),
    (["run", "kaiming-variance", "--set", "theory_replicates=1"], "theory_replicates must be 0 (off) or >= 2"),
    (["run", "kaiming-variance", "--seed", "-1"], "--seed must be an integer in [0, 2^63)"),
    (["run", "kaiming-variance", "--seed", "9223372036854775808"], "--seed must be an integer in [0, 2^63)"),
    (["run", "kaiming-variance", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "kaiming-variance", "--device", "cuda"], "no CUDA device"),
    (["run", "variance-explosion", "--set", "variants=nope"], "must be SCHEME-ACTIVATION"),
    (["run", "phase-diagram", "--set", "width=1"], "width must be >= 2"),
    (["run", "phase-diagram", "--set", "sigma_w2_min=5"], "sigma_w2_min < sigma_w2_max"),
    (["run", "constant-init", "--set", "rtol=nan"], "rtol='nan'"),
    (["run", "constant-init", "--set", "lr=-1"], "lr"),
    (["run", "permutation-symmetry", "--set", "sigma_b=nan"], "sigma_b='nan'"),
    (["run", "data-distributions", "--set", "variants=nope"], "choose from"),
    # run: sizes beyond the machine
    (["run", "kaiming-variance", "--set", "depth=1000000000"], "depth must be <= 100,000"),
    (["run", "kaiming-variance", "--set", "samples=100000000000"], "need"),
    (["run", "variance-explosion", "--set", "width=10000000"], "half of this machine's memory"),
    (["run", "phase-diagram", "--set", "grid_w=1000000", "--set", "grid_b=1000000"], "grid_w x grid_b must be <= 10,000"),
    # run: output paths
    (["run", "kaiming-variance", *KV, "--out", ""], "names no new directory"),
    (["run", "kaiming-variance", *KV, "--out", "."], "names no new directory"),
    (["run", "kaiming-variance", *KV, "--out", "{S}"], "holds the working directory"),
    (["run", "kaiming-variance", *KV, "--out", "{F}"], "exists and is not a directory"),
    (["run", "kaiming-variance", *KV, "--out", "{F}/sub"], "is a file, not a folder"),
    (["run", "kaiming-variance", *KV, "--out", "{S}/" + "x" * 300], "File name too long"),
    (["run", "kaiming-variance", *KV, "--out", "{R}"], "exists and is not empty; pass --force"),
    (["run", "kaiming-variance", *KV, "--out", "{S}/new", "--tensorboard", "{F}/tb"], "--tensorboard"),
    # theory
    (["theory", "--activation", "nope"], "unknown activation 'nope'"),
    (["theory", "--init", ""], "unknown init scheme ''"),
    (["theory", "--input", "nope"], "unknown input distribution 'nope'"),
    (["theory", "--depth", "0"], "--depth must be >= 1"),
    (["theory", "--depth", "1e3"], "is not a valid integer"),
    (["theory", "--depth", "100000000"], "--depth must be <= 100,000"),
    (["theory", "--width", "0"], "width must be >= 1"),
    (["theory", "--width", "1000000000"], "too big for the finite-width chain"),
    (["theory", "--input-dim", "-1"], "input_dim must be >= 1"),
    (["theory", "--sigma-b", "nan"], "sigma_b"),
    (["theory", "--sigma-b", "1e200"], "sigma_b must be >= 0 with a finite square"),
    (["theory", "--sigma-w2", "-1"], "sigma_w2 must be a finite number >= 0"),
    (["theory", "--replicates", "1"], "replicates must be >= 2"),
    (["theory", "--replicates", "1000000000000"], "too big for the finite-width chain"),
    (["theory", "--seed", "-1"], "--seed must be an integer in [0, 2^63)"),
    # report and compare: corrupt or foreign run directories
    (["report"], "Missing argument 'RUN_DIR'"),
    (["report", "{S}/nonexistent"], "is not a run directory (no run.json)"),
    (["report", "{F}"], "is not a run directory (no run.json)"),
    (["report", "{R}"], "run.json: not readable JSON"),
    (["compare", "{R}"], "compare needs at least two run directories"),
    (["compare", "{R}", "{R}", "--out", "{S}/cmp"], "run.json: not readable JSON"),
    # inspect: references, factories, models, batches, limits
    (["inspect", "nope"], "expected MODULE:NAME"),
    (["inspect", "nope_pkg_x:f"], "could not import 'nope_pkg_x'"),
    (["inspect", "os:nope"], "'os' has no attribute 'nope'"),
    (["inspect", "{S}/nope.py:mlp"], "is not a file"),
    (["inspect", "{M}:raises", "--input-shape", "4"], "the factory raised RuntimeError: boom"),
    (["inspect", "{M}:tensor", "--input-shape", "4"], "the factory must return a torch.nn.Module, got Tensor"),
    (["inspect", "{M}:mlp"], "give --input-shape"),
    (["inspect", "{M}:mlp", "--input-shape", "x"], "--input-shape expects comma-separated integers"),
    (["inspect", "{M}:mlp", "--input-shape", "0"], "--input-shape needs positive sizes"),
    (["inspect", "{M}:mlp", "--input-shape", "5"], "the model rejected an input of shape (256, 5)"),
    (["inspect", "{M}:mlp", "--input-shape", "4,4,4,4,4,4,4,4,4,4,4,4,4,4"], "use a smaller --batch or --input-shape"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--batch", "1"], "--batch must be >= 2"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--batch", "100000000000"], "use a smaller --batch"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--draws", "0"], "--draws must be in [1, 1,000]"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--draws", "1000000"], "--draws must be in [1, 1,000]"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--trial", "0"], "--trial must be in [1, 10,000]"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--trial", "100000000"], "--trial must be in [1, 10,000]"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--vocab", "0"], "--vocab must be >= 1"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--task", "lm"], "--task lm needs integer inputs"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--fix", "nope"], "Invalid value for '--fix'"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--seed", "-1"], "--seed must be an integer in [0, 2^63)"),
    (["inspect", "{M}:mlp", "--input-shape", "4", "--out", "{F}/sub"], "cannot write a run directory there"),
    (["inspect", "{M}:emb", "--input-shape", "4", "--vocab", "100"], "IndexError"),
    (["inspect", "{M}:bad", "--input-shape", "4"], "ValueError: forward boom"),
    (["inspect", "{M}:none_out", "--input-shape", "4"], "the model returned no floating tensor"),
    (["inspect", "{M}:mlp", "--data", "{M}:data_str"], "a batch must be a tensor, a tuple or a dict"),
    (["inspect", "{M}:mlp", "--data", "{M}:data_raises"], "the data loader raised KeyError"),
    (["inspect", "{M}:mlp", "--data", "{M}:data_one"], "at least 2 are needed"),
    (["inspect", "{M}:mlp", "--data", "{M}:data_int"], "the model rejected an input"),
]


def snapshot(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``root`` with (is a folder, size, modification time)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (p.is_dir(), st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "models_for_bad_input.py"  # outside every sandbox
    path.write_text(MODELS)
    return path


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """The working directory: a regular file, a corrupt run directory, nothing else."""
    (tmp_path / "a-file").write_text("x")
    run = tmp_path / "corrupt-run"
    run.mkdir()
    (run / "run.json").write_text("{")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_one_line_exit_2_nothing_touched(argv, message, sandbox, models, main):
    subs = {"{S}": str(sandbox), "{F}": str(sandbox / "a-file"), "{R}": str(sandbox / "corrupt-run"), "{M}": str(models)}

    def fill(a: str) -> str:
        for k, v in subs.items():
            a = a.replace(k, v)
        return a

    before = snapshot(sandbox)
    assert_refused(main(*[fill(a) for a in argv]), fill(message))
    assert snapshot(sandbox) == before


def test_unwritable_folders_are_refused_before_any_work(sandbox, monkeypatch, main):
    """A read-only folder (as root every folder is writable, so the probe that creates a folder
    plays the read-only one here; test_cli's /proc case runs the real probe)."""
    from initscope import results

    real_probe = results._can_create_in
    locked = sandbox / "locked"
    locked.mkdir()
    monkeypatch.setattr(results, "_can_create_in", lambda folder: Path(folder) != locked and real_probe(folder))
    before = snapshot(sandbox)
    assert_refused(main("run", "kaiming-variance", *KV, "--out", str(locked / "run")), "is not writable; choose a writable path")
    assert_refused(main("run", "kaiming-variance", *KV, "--out", str(sandbox / "ok"), "--tensorboard", str(locked / "tb")),
                   "--tensorboard")
    monkeypatch.chdir(locked)  # no --out: the default runs/NAME-TIME lands in a read-only working directory
    assert_refused(main("run", "kaiming-variance", *KV), "is not writable")
    assert snapshot(sandbox) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_for_real(sandbox, main):
    locked = sandbox / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert_refused(main("run", "kaiming-variance", *KV, "--out", str(locked / "run")), "not writable")
    finally:
        locked.chmod(0o755)


def test_failed_run_removes_the_folders_it_created(sandbox, main, monkeypatch):
    """A failure found late (here: the experiment itself raises) leaves no parent folder behind."""
    from initscope.errors import InitscopeError
    from initscope.experiments import EXPERIMENTS, get_experiment

    exp = get_experiment("kaiming-variance")

    def boom(cfg, ctx):
        raise InitscopeError("late failure")

    monkeypatch.setitem(EXPERIMENTS, "kaiming-variance", dataclasses.replace(exp, run=boom))
    before = snapshot(sandbox)
    assert_refused(main("run", "kaiming-variance", *KV, "--out", str(sandbox / "a" / "b" / "run")), "late failure")
    assert_refused(main("run", "kaiming-variance", *KV), "late failure")  # default runs/NAME-TIME
    assert snapshot(sandbox) == before

    def late(tables, cfg, meta):  # fails while the run directory is being written: staging exists
        raise InitscopeError("late failure in the report")

    monkeypatch.setitem(EXPERIMENTS, "kaiming-variance", dataclasses.replace(exp, report=late))
    assert_refused(main("run", "kaiming-variance", *KV, "--out", str(sandbox / "c" / "d" / "run")), "late failure in the report")
    assert snapshot(sandbox) == before


# Awkward but legal runs: a clean result, no NaN in any table, and where a statistic is
# undefined the summary says why.
RUNS: list[tuple[str, dict[str, str]]] = [
    ("kaiming-variance", {"init": "zeros"}),
    ("kaiming-variance", {"weight_scale": "1e30"}),
    ("kaiming-variance", {"weight_scale": "1e-30"}),
    ("kaiming-variance", {"width": "2", "depth": "12"}),
    ("kaiming-variance", {"init": "zeros", "bias": "normal", "sigma_b": "1"}),
    ("kaiming-variance", {"depth": "1"}),
    ("phase-diagram", {"width": "2"}),
    ("variance-explosion", {"width": "1"}),
    ("data-distributions", {"samples": "3", "networks": "2"}),
    ("constant-init", {"lr": "1e30", "steps": "3"}),
]
SMALL_RUN = {
    "kaiming-variance": dict(depth="3", width="16", networks="16", samples="16", sample_networks="2", theory_replicates="20",
                             trace_layers="1,3"),
    "variance-explosion": dict(depth="3", width="16", samples="16", networks="2", hist_layers="1,3", hist_values="10"),
    "constant-init": dict(widths="8,8", steps="3", batch="16", seed_check_steps="2"),
    "data-distributions": dict(depth="3", width="8", spectrum_dim="8", samples="16", networks="2", jacobian_points="2"),
    "phase-diagram": dict(grid_w="3", grid_b="2", sim_sigma_w2="1.5", sim_sigma_b2="0.1", depth="3", width="16", samples="8",
                          sample_networks="2", theory_replicates="20"),
}


@pytest.mark.parametrize("name,overrides", RUNS, ids=[f"{n}:{o}" for n, o in RUNS])
def test_awkward_legal_runs_give_clean_tables(name, overrides, recwarn):
    from initscope.runner import run

    rec = run(name, {**SMALL_RUN[name], **overrides}, device="cpu", write=False)
    for table, df in rec.outcome.tables.items():
        if "value" in df:
            assert df["value"].notna().all(), (table, df[df["value"].isna()].head())
    if name == "kaiming-variance":
        s = rec.summary
        assert len(s["sample_fraction"]) == len(s["layers"])
        if None in s["sample_fraction"] and not any(s["first_nonfinite_layer"].values()):
            assert any("0/0" in n for n in s["notes"])  # undefined, and said why
    assert not [w for w in recwarn if "initscope" in str(w.filename)], [str(w.message) for w in recwarn]


def test_zero_weights_say_the_fraction_is_undefined():
    from initscope.runner import run

    s = run("kaiming-variance", {**SMALL_RUN["kaiming-variance"], "init": "zeros"}, device="cpu", write=False).summary
    assert s["sample_fraction"] == [None, None, None] and "layer(s) 1-3" in s["notes"][0]
    assert s["network_variance"] == [0.0, 0.0, 0.0]  # defined: zero, not undefined


# --- validation alone, fuzzed ---------------------------------------------------------

def _fields():
    from initscope.experiments import get_experiment, list_experiments

    return [(n, f.name) for n in list_experiments() for f in dataclasses.fields(get_experiment(n).config) if f.init]


def test_validation_holds_for_any_set_values(tmp_path, monkeypatch):
    """hypothesis draws 1-3 ``--set`` values for fields of one experiment (numbers of every size and
    sign, non-finite ones, lists, words, registry names): ``validate`` returns a plan or raises one
    line of InitscopeError, and writes nothing."""
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from initscope.errors import InitscopeError
    from initscope.runner import validate

    monkeypatch.chdir(tmp_path)
    fields = _fields()
    names = sorted({n for n, _ in fields})
    words = st.sampled_from(["relu", "tanh", "orthogonal", "sphere", "zeros", "none", "layernorm", "true", "false", "auto",
                             "exact", "full", "float64", "normal", "constant", "kaiming-relu", "normal-linear", ""])
    numbers = st.one_of(st.integers(-10**25, 10**25).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-308", "0", "1", "2", "-1", "1.5"]))
    values = st.one_of(numbers, words, st.lists(numbers, min_size=0, max_size=4).map(",".join), st.text(max_size=8))
    outcome = {"plans": 0, "refused": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(name=st.sampled_from(names), data=st.data())
    def check(name, data):
        own = [f for n, f in fields if n == name]
        keys = data.draw(st.lists(st.sampled_from(own), min_size=1, max_size=3, unique=True))
        sets = [f"{k}={data.draw(values)}" for k in keys]
        try:
            validate(name, sets, seed=data.draw(st.integers(-5, 2**64)), out=tmp_path / "out")
            outcome["plans"] += 1
        except InitscopeError as e:
            assert "\n" not in str(e) and str(e)
            outcome["refused"] += 1

    check()
    assert list(tmp_path.iterdir()) == []
    assert outcome["plans"] > 10 and outcome["refused"] > 100, outcome  # both sides of the contract were exercised


def test_the_tables_cover_every_command():
    commands = {argv[0] for argv, _ in CASES}
    assert {"run", "theory", "inspect", "report", "compare", "list"} <= commands
    assert len(CASES) >= 90 and len(RUNS) >= 10, (len(CASES), len(RUNS))
