"""The ``initscope`` command: parses, calls the library, renders. Nothing else lives here."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import click
import typer

from initscope.errors import InitscopeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="See what a neural network does to its data at initialization.",
)


class _Bar:
    """A rich progress bar on stderr that appears only once work has taken > 1 s."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, task: str, completed: float, total: float) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            if time.perf_counter() - self.t0 < 1.0:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                console=Console(stderr=True), transient=False,
            )
            self.progress.start()
        if task not in self.tasks:
            self.tasks[task] = self.progress.add_task(task, total=total)
        self.progress.update(self.tasks[task], completed=completed, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _echo_json(obj: Any) -> None:
    from initscope.results import jsonable

    sys.stdout.write(json.dumps(jsonable(obj), indent=2) + "\n")


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print the lists as JSON.")) -> None:
    """Name the experiments, init schemes, activations and input distributions."""
    from initscope.activations import gain_table
    from initscope.data import list_inputs
    from initscope.experiments import EXPERIMENTS
    from initscope.schemes import SCHEMES

    gains = {row["name"]: row for row in gain_table()}
    listing = {
        "experiments": {name: e.description for name, e in sorted(EXPERIMENTS.items())},
        "schemes": {name: repr(s) for name, s in sorted(SCHEMES.items())},
        "activations": {name: {"gain": g["gain"], "torch_gain": g["torch_gain"]} for name, g in sorted(gains.items())},
        "inputs": list_inputs(),
    }
    if as_json:
        _echo_json(listing)
        return
    typer.echo("experiments:")
    for name, desc in listing["experiments"].items():
        typer.echo(f"  {name:24s} {desc}")
    typer.echo("init schemes:")
    for name, s in sorted(SCHEMES.items()):
        typer.echo(f"  {name:24s} {s.description}")
    typer.echo("activations (gain preserving E[phi(z)^2]; torch.nn.init.calculate_gain where it differs):")
    for name, g in sorted(gains.items()):
        torch_g = g["torch_gain"]
        extra = ""
        if torch_g is None:
            extra = "  (torch: none)"
        elif abs(torch_g - g["gain"]) > 1e-3 * g["gain"]:
            extra = f"  (torch: {torch_g:.4g})"
        typer.echo(f"  {name:24s} {g['gain']:.4f}{extra}")
    typer.echo("inputs: " + ", ".join(listing["inputs"]))


@app.command("run")
def run_cmd(
    name: str = typer.Argument(..., help="Experiment name (see `initscope list`)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field: key=value (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default runs/NAME-TIMESTAMP)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random draw."),
    as_json: bool = typer.Option(False, "--json", help="Print only a JSON summary on stdout."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out."),
) -> None:
    """Run an experiment and write its run directory (run.json, stats.parquet, figures, report.html)."""
    from initscope.runner import run

    bar = _Bar()
    try:
        record = run(name, set_, seed=seed, device=device, out=out, force=force, progress=bar)
    finally:
        bar.close()
    if as_json:
        _echo_json(record.summary)
        return
    typer.echo(f"wrote {record.path}/ (report.html, run.json, stats.parquet, figures/)")
    sections = record.meta.get("verdict")
    if sections:
        typer.echo(sections)


@app.command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="A run directory written by `initscope run`.")) -> None:
    """Rebuild figures and report.html of a run directory without re-running anything."""
    from initscope.config import apply_overrides
    from initscope.experiments import get_experiment
    from initscope.report import write_figures, write_report
    from initscope.results import load_run

    rd = load_run(run_dir)
    exp = get_experiment(rd.meta["experiment"])
    cfg = apply_overrides(exp.config, {k: tuple(v) if isinstance(v, list) else v for k, v in rd.meta["config"].items()})
    write_figures(rd.path, exp, rd.tables, cfg, rd.meta)
    write_report(rd.path / "report.html", exp, rd.tables, cfg, rd.meta)
    typer.echo(f"rebuilt {rd.path}/report.html")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except InitscopeError as e:
        sys.stderr.write(f"initscope: error: {e}\n")
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("initscope: aborted\n")
        return 130
    except click.ClickException as e:
        sys.stderr.write(f"initscope: error: {e.format_message()}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
