"""The ``initscope`` command: parses, calls the library, renders. Nothing else lives here."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import click

from initscope.errors import InitscopeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="initscope")
def app() -> None:
    """See what a neural network does to its data at initialization."""


class _Bar:
    """A rich progress bar on stderr, with the time left estimated from the rate so far; drawn
    only on a terminal (a script's stderr keeps its one line per error) and only once work has
    taken > 1 s."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
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
            from rich.progress import (
                BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                TextColumn("left"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self.progress.start()
        if task not in self.tasks:
            self.tasks[task] = self.progress.add_task(task, total=total)
        self.progress.update(self.tasks[task], completed=completed, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _listing(path: Any) -> str:
    """What a run directory holds, as the line after "wrote" names it (folders with a slash)."""
    return ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in Path(path).iterdir()))


def _echo_json(obj: Any) -> None:
    from initscope.results import jsonable

    sys.stdout.write(json.dumps(jsonable(obj), indent=2) + "\n")


@app.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the lists as JSON.")
def list_cmd(as_json: bool) -> None:
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
    click.echo("experiments:")
    for name, desc in listing["experiments"].items():
        click.echo(f"  {name:24s} {desc}")
    click.echo("init schemes:")
    for name, s in sorted(SCHEMES.items()):
        click.echo(f"  {name:24s} {s.description}")
    click.echo("activations (gain preserving E[phi(z)^2]; torch.nn.init.calculate_gain where it differs):")
    for name, g in sorted(gains.items()):
        torch_g = g["torch_gain"]
        extra = ""
        if torch_g is None:
            extra = "  (torch: none)"
        elif abs(torch_g - g["gain"]) > 1e-3 * g["gain"]:
            extra = f"  (torch: {torch_g:.4g})"
        click.echo(f"  {name:24s} {g['gain']:.4f}{extra}")
    click.echo("inputs: " + ", ".join(listing["inputs"]))


@app.command("run")
@click.argument("name")
@click.option("--set", "set_", multiple=True, metavar="KEY=VALUE", help="Override a config field (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run directory (default runs/NAME-TIMESTAMP).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every random draw.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary on stdout.")
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
@click.option("--tensorboard", type=click.Path(path_type=Path), default=None, help="Also write per-layer histograms for TensorBoard here.")
def run_cmd(name: str, set_: tuple[str, ...], out: Path | None, device: str, seed: int, as_json: bool, force: bool, tensorboard: Path | None) -> None:
    """Run an experiment and write its run directory (run.json, stats.parquet, figures, report.html)."""
    from initscope.runner import run

    bar = _Bar()
    try:
        record = run(name, set_, seed=seed, device=device, out=out, force=force, progress=bar, tensorboard=tensorboard)
    finally:
        bar.close()
    if as_json:
        _echo_json(record.summary)
        return
    click.echo(f"wrote {record.path}/ (report.html, run.json, stats.parquet, figures/)")
    for v in record.meta.get("verdicts", []):  # each report section's verdict, in the report's order
        click.echo(f"{v['title']}: {v['verdict']}")


@app.command("theory")
@click.option("--activation", default="relu", show_default=True, help="Activation name (see `initscope list`).")
@click.option("--init", default="kaiming-normal", show_default=True, help="Init scheme; sets sigma_w^2 = fan_in x weight variance.")
@click.option("--depth", type=int, default=50, show_default=True)
@click.option("--width", type=int, default=1024, show_default=True)
@click.option("--input-dim", type=int, default=None, help="Input dimension N_0 (default: the width).")
@click.option("--input", "input_", default="gaussian", show_default=True, help="Input distribution (sets E|x|^2 / N_0).")
@click.option("--sigma-b", type=float, default=0.0, show_default=True, help="Standard deviation of the biases.")
@click.option("--sigma-w2", type=float, default=None, help="Weight variance times fan-in, overriding --init.")
@click.option("--replicates", type=int, default=None,
              help="Replicates of the finite-width Gram chain (default 1000; 0 skips the finite-width prediction).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the finite-width chain.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON object on stdout.")
def theory_cmd(
    activation: str, init: str, depth: int, width: int, input_dim: int | None, input_: str,
    sigma_b: float, sigma_w2: float | None, replicates: int | None, seed: int, as_json: bool,
) -> None:
    """Mean-field predictions per layer for a setup, and the finite-width prediction at --width
    (sampled Gram chain), without simulating a network."""
    from initscope.theory.finite_width import setup_summary

    pred, fw, d = setup_summary(activation, init, depth, width=width, input_dim=input_dim, input=input_, sigma_b=sigma_b,
                                sigma_w2=sigma_w2, replicates=replicates, seed=seed)
    if as_json:
        _echo_json(d)
        return
    click.echo(f"mean-field theory: activation={activation}, init={init}, depth={depth}, width={width}, sigma_b={sigma_b}")
    for key in ("chi1", "q_star", "c_star", "xi_q", "xi_c"):
        v = d[key]
        click.echo(f"  {key:7s} {'undefined' if v is None else f'{v:.6g}'}")
    for note in d["notes"]:
        click.echo(f"  note: {note}")
    if fw is not None:
        click.echo(f"  finite width {width}: {fw.route}, {fw.replicates} replicates (seed {seed}), mean ± standard error")
        if "perturbative" in d:
            until = d["perturbative"]["reliable_until"]
            click.echo(f"  analytic check: {d['perturbative']['route']}, reliable to layer {until}" if until else
                       f"  analytic check: {d['perturbative']['route']}, not reliable at this depth/width")
        for note in fw.notes:
            click.echo(f"  note: {note}")
    head = f"  {'layer':>5s} {'q':>12s} {'c':>10s} {'sample_fraction':>16s}"
    pt_frac = d.get("sample_fraction_perturbative")
    click.echo(head + (f" {'at width ' + str(width):>22s} {'network_variance':>17s}" if fw is not None else "")
               + (f" {'1/N theory':>11s}" if pt_frac else ""))
    show = sorted({1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, depth} & set(pred.layers))
    def num(v: float, width: int, spec: str) -> str:  # '-': undefined there (past an overflow, or 0/0); the notes say why
        return f"{v:{width}{spec}}" if math.isfinite(v) else f"{'-':>{width}s}"

    for layer in show:
        i = layer - 1
        line = f"  {layer:5d} {num(pred.q[i], 12, '.6g')} {num(pred.c[i], 10, '.6f')} {num(pred.sample_fraction[i], 16, '.6g')}"
        if fw is not None:
            sf = (f"{fw.sample_fraction[i]:.4g} ± {fw.sample_fraction_stderr[i]:.2g}" if math.isfinite(fw.sample_fraction[i]) else "-")
            line += f" {sf:>22s} {num(fw.network_variance[i], 17, '.6g')}"
        if pt_frac:
            line += f" {pt_frac[i]:11.4g}" if pt_frac[i] is not None else f" {'-':>11s}"
        click.echo(line)


@app.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
def report_cmd(run_dir: Path) -> None:
    """Rebuild figures and report.html of a run directory without re-running anything."""
    from initscope.runner import rebuild

    click.echo(f"rebuilt {rebuild(run_dir)}")


@app.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where to write the comparison (default runs/compare-TIMESTAMP).")
@click.option("--force", is_flag=True, help="Replace a non-empty --out.")
def compare_cmd(run_dirs: tuple[Path, ...], out: Path | None, force: bool) -> None:
    """Put several runs' depth profiles side by side in one report."""
    from initscope.report.compare import compare

    path = compare(run_dirs, out, force=force)
    click.echo(f"wrote {path}/report.html")


@app.command("sweep")
@click.argument("name")
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2", required=True,
              help="A config key and its values (repeatable; the sweep is the product). seed=0,1,2 repeats. "
                   "A list-valued key separates its values with ';' (variants='a,b;c').")
@click.option("--set", "set_", multiple=True, metavar="KEY=VALUE", help="Override a config field at every point (repeatable).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool; ray: each point a Ray task (pip install 'initscope[ray]').")
@click.option("--workers", type=int, default=1, show_default=True, help="Points at once (local pool size, or a local Ray's CPUs).")
@click.option("--address", default=None, help="Join this Ray cluster (with --engine ray); without it a local Ray starts.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto; cuda points ask Ray for a GPU.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every point (unless seed is swept).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Sweep folder; re-running resumes it.")
@click.option("--force", is_flag=True, help="Start over: remove what --out holds.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON object (points, table) on stdout.")
def sweep_cmd(name: str, grid: tuple[str, ...], set_: tuple[str, ...], engine: str, workers: int, address: str | None, device: str,
              seed: int, out: Path, force: bool, as_json: bool) -> int:
    """Run an experiment at every point of a config grid, into one table (DIR/stats.parquet) and one report."""
    from initscope.sweep import sweep

    bar = _Bar()

    def failed(r: Any) -> None:
        where = ", ".join(f"{k}={v}" for k, v in r.point.values.items())
        sys.stderr.write(f"initscope: point {where} failed: {r.error}\n")

    try:
        res = sweep(name, grid, set_, out=out, engine=engine, workers=workers, address=address, device=device, seed=seed,
                    force=force, progress=bar, on_failure=failed)
    finally:
        bar.close()
    if as_json:
        _echo_json(res.as_json())
    else:
        counts = {s: sum(r.status == s for r in res.points) for s in ("done", "skipped", "failed")}
        click.echo(f"wrote {res.path}/ ({counts['done']} points run, {counts['skipped']} already done, {counts['failed']} failed; "
                   f"table {res.table or 'none'}, report.html)")
    return 1 if res.failed else 0


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise InitscopeError(f"--input-shape expects comma-separated integers like 3,32,32, got {text!r}") from None


@app.command("inspect")
@click.argument("model")
@click.option("--input-shape", default=None, help="Shape of one input: 3,32,32 (N(0, 1) floats), or 64 (64 token ids for a model whose first layer is an embedding).")
@click.option("--vocab", type=int, default=None, help="Draw token ids in [0, VOCAB) (default: the first embedding's size, when the model starts with one).")
@click.option("--data", "data_ref", default=None, help="MODULE:LOADER returning a batch: a tensor, a tuple (model(*batch)) or a dict (model(**batch)).")
@click.option("--batch", type=int, default=None, help="Samples in the batch [default: 256; 32 sequences of token ids].")
@click.option("--task", type=click.Choice(["auto", "classification", "lm", "regression", "none"]), default="auto", show_default=True,
              help="The loss to back-propagate: auto reads it from a transformers head, a [batch, classes] output of a linear layer, "
                   "or a [batch, tokens, V] output of a model fed token ids (from a linear layer, or computed by hand as "
                   "h @ wte.weight.T), V an embedding table's size (a hand-written LM).")
@click.option("--draws", type=int, default=1, show_default=True, help="Call the factory K times: variance over weight draws vs over samples.")
@click.option("--fix", type=click.Choice(["auto", "lsuv", "sample-variance"]), default=None,
              help="auto: the fix the defects call for (nothing if healthy); lsuv / sample-variance: a data-driven re-init. Saves the state dict.")
@click.option("--trial", "trial_steps", type=int, default=None,
              help="Also train STEPS AdamW steps on the batch from the init and from its --fix auto twin, and compare.")
@click.option("--ops", "ops", is_flag=True, help="Also record every floating-point operation forward and backward, with float16/bfloat16/float8 headroom.")
@click.option("--widths", default=None, metavar="W1,W2,...",
              help="Width check (mup's coordinate check): call FACTORY(width=W) at each width and fit each module's scale against width.")
@click.option("--steps", type=int, default=3, show_default=True, help="--widths: optimizer steps after init.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="adam", show_default=True, help="--widths: the optimizer.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="--widths: its learning rate.")
@click.option("--out", type=click.Path(path_type=Path), default=None)
@click.option("--force", is_flag=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON object on stdout.")
def inspect_cmd(model: str, input_shape: str | None, vocab: int | None, data_ref: str | None, batch: int | None, task: str, draws: int,
                fix: str | None, trial_steps: int | None, ops: bool, widths: str | None, steps: int, optimizer: str, lr: float, out: Path | None,
                force: bool, seed: int, as_json: bool) -> None:
    """Check any torch model at init: MODEL is MODULE:FACTORY (a function returning an nn.Module)."""
    from initscope.inspect import run_inspect

    if widths is not None:
        from initscope.inspect.widths import run_width_check

        if fix or trial_steps or draws != 1 or task != "auto":
            raise InitscopeError("--widths runs the width check alone: drop --fix, --trial, --draws and --task")
        try:
            ws = [int(w) for w in widths.replace(" ", "").split(",") if w]
        except ValueError:
            raise InitscopeError(f"--widths expects comma-separated integers like 64,128,256, got {widths!r}") from None
        path, summary = run_width_check(model, ws, input_shape=_shape(input_shape), data_ref=data_ref, vocab=vocab, batch=batch,
                                        steps=steps, optimizer=optimizer, lr=lr, out=out, force=force, seed=seed)
        if as_json:
            _echo_json(summary)
        else:
            click.echo(f"wrote {path}/ ({_listing(path)})")
            click.echo(summary["verdict"])
        return

    path, summary = run_inspect(model, input_shape=_shape(input_shape), data_ref=data_ref, vocab=vocab, batch=batch, draws=draws,
                                fix=fix, task=task, trial_steps=trial_steps, ops=ops, out=out, force=force, seed=seed)  # type: ignore[arg-type]
    if as_json:
        _echo_json(summary)
        return
    click.echo(f"wrote {path}/ ({_listing(path)})")
    if summary["issues"]:
        click.echo("issues:")
        for issue in summary["issues"]:
            click.echo(f"  - {issue}")
    else:
        click.echo(summary["verdict"])
    if summary.get("trial"):
        click.echo(f"trial: {summary['trial']['verdict']}")
    if "ops" in summary:
        click.echo(f"ops: {len(summary['ops'])} floating-point operations recorded (ops.parquet)"
                   + "".join(f"\n  - {m}" for m in summary.get("format_findings", [])))
    fx = summary.get("fix")
    if fx:
        left = fx["issues_after"]
        n = len(fx["changed"])
        in_memory = any("applied to this model in memory" in a for a in fx.get("actions", []))
        click.echo(f"--fix {fx['method']}: " + (f"{n} tensor{'s' if n != 1 else ''} changed" if n else
                                                "no tensor changed" if in_memory or fx.get("config_changes") else "nothing changed")
                   + f" ({fx['forward_passes']} forward pass{'es' if fx['forward_passes'] != 1 else ''}); state dict in {path}/{fx['state_dict']}; "
                   + ("no issue left on a held-out batch" if not left else f"{len(left)} issue(s) left"))
        acting = [a for a in fx.get("actions", []) if a.startswith("no defect; acting on the warning")]
        if acting:
            click.echo(f"  {acting[0]}")
        for k, v in (fx.get("config_changes") or {}).items():
            click.echo(f"  transformers: {v}" if k == "note" else f"  transformers config: {k} = {v}"
                       + (" (applied to the model the held-out check ran; set it where you build the model too)"
                          if in_memory and k == "scale_embedding" else ""))


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        rv = app.main(args=argv, prog_name="initscope", standalone_mode=False)
        if isinstance(rv, int):
            return rv
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
