"""Run a named experiment end to end: config -> seed -> measure -> run directory -> figures -> report."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from initscope.config import apply_overrides, to_dict
from initscope.engine.probe import Progress, _no_progress
from initscope.errors import InitscopeError, unknown
from initscope.experiments import Experiment, Outcome, RunContext, get_experiment
from initscope.repro import check_seed, seed_all
from initscope.results import RunWriter, conform_stats, check_out_dir, check_writable, device_info, versions

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; 'cuda' without CUDA is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InitscopeError("--device cuda: no CUDA device is available here; use --device cpu or auto")
        return device
    raise unknown("device", device, DEVICES)


def default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


@dataclass
class RunRecord:
    """A finished run: where it was written (None if not written), its metadata and outcome."""

    path: Path | None
    meta: dict[str, Any]
    outcome: Outcome

    @property
    def summary(self) -> dict[str, Any]:
        return self.outcome.summary

    def _repr_html_(self) -> str:
        """A compact summary in Jupyter: the experiment, where it was written, its verdict-bearing lists."""
        from initscope.results import RunDir

        return RunDir(self.path or Path("(not written)"), self.meta, self.outcome.tables)._repr_html_()

    def __repr__(self) -> str:
        return f"RunRecord({self.meta['experiment']!r}, path={str(self.path) if self.path else None!r})"


@dataclass(frozen=True)
class Plan:
    """A run that passed every check: what :func:`run` will do, nothing done or written yet."""

    experiment: Experiment
    config: Any
    seed: int
    device: str
    out: Path | None  # None: not written


def validate(
    name: str,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    *,
    seed: int = 0,
    device: str = "auto",
    out: str | Path | None = None,
    force: bool = False,
    write: bool = True,
    tensorboard: str | Path | None = None,
) -> Plan:
    """Every check a run goes through before it touches the disk, and nothing else: the name,
    each config value (type, finiteness, range), the memory and operations the config needs
    against ``memory_mb`` and the machine, the seed, the device, and the output paths.
    Raises :class:`InitscopeError` with one line naming what is wrong and what is allowed."""
    check_seed(seed)
    exp = get_experiment(name)
    cfg = apply_overrides(exp.config, overrides)
    if tensorboard is not None:
        from initscope.report.tensorboard import check_tensorboard

        check_tensorboard(tensorboard)
    dev = resolve_device(device)
    target = None
    if write:
        target = Path(out) if out is not None else default_out(name)
        try:
            check_out_dir(target, force)
            check_writable(target, "--out")
        except OSError as e:  # a name too long, a path through a file
            raise InitscopeError(f"--out {target}: cannot write a run directory there ({e.strerror}); choose a writable path") from None
    return Plan(exp, cfg, seed, dev, target)


def run(
    name: str,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    *,
    seed: int = 0,
    device: str = "auto",
    out: str | Path | None = None,
    force: bool = False,
    write: bool = True,
    progress: Progress | None = None,
    tensorboard: str | Path | None = None,
    figures: bool = True,
) -> RunRecord:
    """Run experiment ``name``; write its run directory unless ``write=False`` (``figures=False``:
    without the static PNG/SVG figures, which cost seconds; the HTML report is always written).

    Every user mistake (unknown name or key, bad value, occupied ``out``) raises
    :class:`InitscopeError` before any work is done and before anything is written.
    """
    progress = progress or _no_progress
    plan = validate(name, overrides, seed=seed, device=device, out=out, force=force, write=write, tensorboard=tensorboard)
    exp, cfg, dev = plan.experiment, plan.config, plan.device
    seed_all(seed)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    outcome = exp.run(cfg, RunContext(seed=seed, device=dev, progress=progress))
    outcome.tables["stats"] = conform_stats(outcome.tables["stats"])  # one schema for every experiment
    timings = {**outcome.timings, "run_s": time.perf_counter() - t0}
    meta: dict[str, Any] = {
        "experiment": name,
        "description": exp.description,
        "source": exp.source,
        "config": to_dict(cfg),
        "seed": seed,
        "device": device_info(dev),
        "versions": versions(),
        "started": started,
        "timings": timings,
        "summary": outcome.summary,
        **outcome.info,
    }
    if plan.out is None:
        return RunRecord(None, meta, outcome)
    from initscope.report import write_figures, write_report

    with RunWriter(plan.out, force) as w:
        w.tables(outcome.tables)
        t1 = time.perf_counter()
        progress("figures", 0, 1)
        sections = exp.report(outcome.tables, cfg, meta)  # declared once, drawn by both backends
        if figures:
            write_figures(w, sections)
        timings["figures_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        meta["verdicts"] = write_report(w, exp, sections, outcome.tables, meta)
        timings["report_s"] = time.perf_counter() - t2
        progress("figures", 1, 1)
        meta["timings"] = timings
        w.meta(meta)
    if tensorboard is not None:
        from initscope.report.tensorboard import write_tensorboard

        meta["tensorboard_histograms"] = write_tensorboard(tensorboard, outcome.tables, run_name=w.out.name)
    return RunRecord(w.out, meta, outcome)


def rebuild(run_dir: str | Path) -> Path:
    """``initscope report``: redraw a run directory's figures and report from its tables and
    run.json, without re-running anything. The directory is replaced only once the new figures
    and report are whole."""
    from initscope.report import write_figures, write_report
    from initscope.results import load_run

    rd = load_run(run_dir)
    exp = get_experiment(rd.meta["experiment"])
    cfg = apply_overrides(exp.config, {k: tuple(v) if isinstance(v, list) else v for k, v in rd.meta["config"].items()})
    sections = exp.report(rd.tables, cfg, rd.meta)  # declared once, drawn by both backends
    with RunWriter.update(rd.path) as w:
        write_figures(w, sections)
        write_report(w, exp, sections, rd.tables, rd.meta)
    return w.out / "report.html"
