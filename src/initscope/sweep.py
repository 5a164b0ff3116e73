"""Sweeps: one experiment at every point of a config grid, locally or on a Ray cluster, into one table.

A sweep directory holds ``sweep.json`` (grid, engine, versions, each point's status and time),
``points/NAME/`` (each an ordinary run directory, written whole or not at all by the runner),
``stats.parquet`` (every point's ``stats`` with one column per grid key) and ``report.html``.
A point is named by the hash of what determines its numbers (experiment, resolved config, seed,
initscope version; not the device), so re-running the same sweep skips finished points and a
changed grid runs only what is new. Points no longer in the grid stay on disk but leave the table.

Engines: ``local`` (a process pool, each worker pinned to its share of the CPU threads) and
``ray`` (each point a Ray task; joins ``address`` or starts a local Ray). No scheduler of our own.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from initscope.errors import InitscopeError, unknown

ENGINES = ("local", "ray")
SWEEP_JSON = "sweep.json"
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Point:
    """One grid point: its grid values (as given), the overrides it runs with, its hash and folder name."""

    values: dict[str, str]
    overrides: dict[str, str]
    seed: int
    key: str  # sha256 of experiment, resolved config, seed, initscope version

    @property
    def name(self) -> str:
        return f"p-{self.key[:16]}"


@dataclass
class PointResult:
    point: Point
    status: str  # "done" | "skipped" (finished before) | "failed"
    seconds: float = 0.0
    error: str = ""


def _is_tuple_field(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple_field(a) for a in typing.get_args(tp))
    return origin is tuple


def parse_grid(experiment: str, grid: Iterable[str]) -> dict[str, list[str]]:
    """``["key=v1,v2", ...]`` -> ``{key: [v1, v2]}``. A field that takes a list (``variants``,
    ``trace_layers``) separates its grid values with ``;`` instead (``variants=a,b;c``). ``seed``
    sweeps the run seed. Every key must be a config field (or seed); each list non-empty."""
    import dataclasses

    from initscope.experiments import get_experiment

    exp = get_experiment(experiment)
    hints = typing.get_type_hints(exp.config)
    names = [f.name for f in dataclasses.fields(exp.config) if f.init]
    out: dict[str, list[str]] = {}
    for g in grid:
        if "=" not in g:
            raise InitscopeError(f"--grid expects key=v1,v2,..., got {g!r}")
        key, text = (s.strip() for s in g.split("=", 1))
        key = key.replace("-", "_")
        if key != "seed" and key not in names:
            raise InitscopeError(f"--grid: {unknown('config key', key, ['seed', *names], sort=False)}")
        if key in out:
            raise InitscopeError(f"--grid {key} given twice; give all its values in one --grid")
        sep = ";" if key != "seed" and _is_tuple_field(hints[key]) else ","
        values = [v.strip() for v in text.split(sep)]
        if not text.strip() or any(v == "" for v in values):
            raise InitscopeError(f"--grid {key}={text!r}: expected a non-empty list of values separated by {sep!r}")
        if len(set(values)) != len(values):
            raise InitscopeError(f"--grid {key}={text!r}: a value is listed twice")
        out[key] = values
    if not out:
        raise InitscopeError("give at least one --grid key=v1,v2,...")
    n = math.prod(len(v) for v in out.values())
    if n > MAX_POINTS:
        raise InitscopeError(f"the grid has {n:,} points; at most {MAX_POINTS:,} (split it into several sweeps)")
    return out


def point_key(experiment: str, config: Any, seed: int) -> str:
    """What determines a point's numbers, hashed: experiment, resolved config, seed, initscope version."""
    from initscope import __version__
    from initscope.config import to_dict
    from initscope.results import jsonable

    blob = json.dumps(jsonable({"experiment": experiment, "config": to_dict(config), "seed": seed, "initscope": __version__}),
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def plan_points(experiment: str, grid: Mapping[str, list[str]], sets: Mapping[str, str], seed: int = 0,
                device: str = "cpu") -> list[Point]:
    """Every point of the product grid, each validated (type, range, resources) before any runs."""
    from initscope.runner import validate

    keys = list(grid)
    points = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        overrides = {**sets, **{k: v for k, v in values.items() if k != "seed"}}
        point_seed = seed
        if "seed" in values:
            try:
                point_seed = int(values["seed"])
            except ValueError:
                raise InitscopeError(f"--grid seed={values['seed']!r}: expected integer") from None
        try:
            plan = validate(experiment, overrides, seed=point_seed, device=device, write=False)
        except InitscopeError as e:
            where = ", ".join(f"{k}={v}" for k, v in values.items())
            raise InitscopeError(f"grid point {where}: {e}") from None
        points.append(Point(values, overrides, point_seed, point_key(experiment, plan.config, point_seed)))
    return points


def _run_point(experiment: str, overrides: dict[str, str], seed: int, device: str, out: str, threads: int) -> tuple[str, float, str]:
    """One point in a worker (pool process or Ray task): (status, seconds, error). Never raises:
    a failed point is reported, not fatal to the others."""
    import torch

    from initscope.runner import run

    if threads > 0:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        run(experiment, overrides, seed=seed, device=device, out=out, force=True)
        return "done", time.perf_counter() - t0, ""
    except Exception as e:  # noqa: BLE001 - a point's failure is data for the sweep
        msg = str(e) if isinstance(e, InitscopeError) else f"{type(e).__name__}: {e}"
        return "failed", time.perf_counter() - t0, msg.splitlines()[0] if msg else type(e).__name__


def _pool_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def run_local(experiment: str, todo: list[Point], device: str, root: Path, workers: int,
              done: Callable[[PointResult], None]) -> None:
    """A process pool of ``workers``, each pinned to its share of this machine's cores."""
    import concurrent.futures as cf
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        for p in todo:
            status, secs, err = _run_point(experiment, p.overrides, p.seed, device, str(root / "points" / p.name), 0)
            done(PointResult(p, status, secs, err))
        return
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_pool_init, initargs=(threads,))
    try:
        futures = {pool.submit(_run_point, experiment, p.overrides, p.seed, device, str(root / "points" / p.name), threads): p
                   for p in todo}
        for f in cf.as_completed(futures):
            p = futures[f]
            try:
                status, secs, err = f.result()
            except Exception as e:  # noqa: BLE001 - a worker that died (killed, out of memory)
                status, secs, err = "failed", 0.0, f"worker died: {type(e).__name__}: {e}"
            done(PointResult(p, status, secs, err))
    finally:  # on Ctrl-C: points not started are cancelled; finished ones stay (the sweep resumes)
        pool.shutdown(wait=True, cancel_futures=True)


def check_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InitscopeError("--engine ray needs Ray: pip install 'initscope[ray]'") from None
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse, in seconds and before anything is written, a Ray address nothing answers at
    (Ray's own join retries for minutes). ``auto`` and addresses without a port are left to Ray."""
    import socket

    hostport = address.split("://", 1)[-1]
    if address == "auto" or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise InitscopeError(f"--address {address}: no Ray cluster answers there ({type(e).__name__}: {e}); start one with "
                             "`ray start --head`, or drop --address for a local Ray") from None


def run_ray(experiment: str, todo: list[Point], device: str, root: Path, workers: int, address: str | None,
            done: Callable[[PointResult], None]) -> None:
    """Each point a Ray task (one CPU, or one GPU with ``device`` cuda); joins ``address`` or starts a local Ray."""
    ray = check_ray()
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        try:
            import logging

            ray.init(log_to_driver=False, logging_level=logging.ERROR, **kw)
        except Exception as e:  # noqa: BLE001 - a cluster that cannot be reached is the user's input
            raise InitscopeError(f"--engine ray: could not {'join ' + address if address else 'start a local Ray'} "
                                 f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        started = True
    try:
        resources = {"num_gpus": 1} if device.startswith("cuda") else {"num_cpus": 1}
        task = ray.remote(**resources)(_run_point)
        refs = {task.remote(experiment, p.overrides, p.seed, device, str(root.resolve() / "points" / p.name), 1): p for p in todo}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            p = refs[ready[0]]
            try:
                status, secs, err = ray.get(ready[0])
            except Exception as e:  # noqa: BLE001 - a task that died
                status, secs, err = "failed", 0.0, f"Ray task failed: {type(e).__name__}"
            done(PointResult(p, status, secs, err))
    finally:
        if started:
            ray.shutdown()


@dataclass
class SweepResult:
    path: Path
    points: list[PointResult] = field(default_factory=list)
    table: Path | None = None

    @property
    def failed(self) -> list[PointResult]:
        return [r for r in self.points if r.status == "failed"]

    def as_json(self) -> dict[str, Any]:
        return {
            "points": [{"values": r.point.values, "status": r.status, "run_dir": str(self.path / "points" / r.point.name),
                        "seconds": round(r.seconds, 3), **({"error": r.error} if r.error else {})} for r in self.points],
            "table": str(self.table) if self.table else None,
        }


def _check_dir(out: Path, experiment: str, force: bool) -> dict[str, Any] | None:
    """The sweep.json of a sweep ``out`` already holds (resume), None for a new sweep; refuse a
    folder holding anything else. ``force`` starts over."""
    from initscope.results import check_writable

    if out.exists() and not out.is_dir():
        raise InitscopeError(f"--out {str(out)!r} exists and is not a directory")
    check_writable(out, "--out")
    if not out.exists() or not any(out.iterdir()):
        return None
    if force:
        return {}
    f = out / SWEEP_JSON
    if not f.is_file():
        raise InitscopeError(f"--out {str(out)!r} holds something other than a sweep (no {SWEEP_JSON}); choose an empty folder or pass --force")
    try:
        old = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise InitscopeError(f"{f}: not readable JSON ({e}); pass --force to start over") from None
    if not isinstance(old, dict) or old.get("experiment") != experiment:
        raise InitscopeError(f"--out {str(out)!r} holds a sweep of {old.get('experiment') if isinstance(old, dict) else '?'!r}, "
                             f"not {experiment!r}; choose another folder or pass --force")
    return old


def _finished(path: Path, key: str) -> bool:
    f = path / "point.json"
    try:
        return (path / "run.json").is_file() and json.loads(f.read_text()).get("key") == key
    except (OSError, ValueError):
        return False


def sweep(
    experiment: str,
    grid: Iterable[str],
    sets: Iterable[str] = (),
    *,
    out: str | Path,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    force: bool = False,
    progress: Callable[[str, float, float], None] | None = None,
    on_failure: Callable[[PointResult], None] | None = None,
) -> SweepResult:
    """Run ``experiment`` at every point of ``grid``; see the module docstring."""
    from initscope.config import split_assignments
    from initscope.repro import check_seed
    from initscope.results import device_info, jsonable, versions
    from initscope.runner import resolve_device

    if engine not in ENGINES:
        raise unknown("engine", engine, ENGINES)
    if not 1 <= workers <= 1024:
        raise InitscopeError(f"--workers must be in [1, 1024], got {workers}")
    if address is not None and engine != "ray":
        raise InitscopeError("--address joins a Ray cluster: use it with --engine ray")
    check_seed(seed)
    dev = resolve_device(device)
    set_map = split_assignments(sets)
    g = parse_grid(experiment, grid)
    if overlap := sorted(set(g) & set(set_map)):
        raise InitscopeError(f"{', '.join(overlap)} given both in --grid and --set; give it in one")
    points = plan_points(experiment, g, set_map, seed=seed, device=dev)
    if engine == "ray":
        check_ray()
        if address:
            check_address(address)
    root = Path(out)
    old = _check_dir(root, experiment, force)
    if old == {} and force:
        shutil.rmtree(root)
    (root / "points").mkdir(parents=True, exist_ok=True)
    for stale in (root / "points").glob(".*.tmp-*"):  # staging folders of a killed sweep
        shutil.rmtree(stale, ignore_errors=True)

    progress = progress or (lambda *_: None)
    results: dict[str, PointResult] = {}
    todo = []
    for p in points:
        if _finished(root / "points" / p.name, p.key):
            results[p.key] = PointResult(p, "skipped")
        else:
            todo.append(p)
    from datetime import datetime, timezone

    t_start = time.perf_counter()
    before = {p.get("key"): p for p in (old or {}).get("points", []) if isinstance(p, dict)}
    for r in results.values():  # a finished point keeps the time it took
        r.seconds = float((before.get(r.point.key) or {}).get("seconds") or 0.0)
    meta = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "timings": {},
        "experiment": experiment, "grid": g, "set": set_map, "engine": engine, "workers": workers, "address": address,
        "seed": seed, "device": device_info(dev), "versions": versions(),
    }

    def record(r: PointResult) -> None:
        results[r.point.key] = r
        if r.status == "done":
            (root / "points" / r.point.name / "point.json").write_text(json.dumps({"key": r.point.key, "values": r.point.values}))
        elif on_failure is not None:
            on_failure(r)
        progress("points", len(results), len(points))
        _write_json(root, meta, points, results)

    progress("points", len(results), len(points))
    _write_json(root, meta, points, results)
    if todo:
        if engine == "ray":
            run_ray(experiment, todo, dev, root, workers, address, record)
        else:
            run_local(experiment, todo, dev, root, workers, record)
    res = SweepResult(root, [results[p.key] for p in points])
    res.table = write_table(root, points, results)
    meta["timings"] = {"run_s": time.perf_counter() - t_start, "points_s": sum(r.seconds for r in results.values() if r.status == "done")}
    _write_json(root, meta, points, results)
    if res.table is not None:
        from initscope.report.sweep import write_sweep_report

        write_sweep_report(root, experiment, g, pd.read_parquet(res.table), jsonable(meta))
    return res


def _write_json(root: Path, meta: dict[str, Any], points: list[Point], results: dict[str, PointResult]) -> None:
    from initscope.results import jsonable

    doc = {**meta, "points": [
        {"values": p.values, "seed": p.seed, "key": p.key, "run_dir": f"points/{p.name}",
         "status": results[p.key].status if p.key in results else "pending",
         "seconds": round(results[p.key].seconds, 3) if p.key in results else None,
         **({"error": results[p.key].error} if p.key in results and results[p.key].error else {})}
        for p in points]}
    tmp = root / f".{SWEEP_JSON}.tmp"
    tmp.write_text(json.dumps(jsonable(doc), indent=2) + "\n")
    os.replace(tmp, root / SWEEP_JSON)


def grid_column(key: str, columns: Iterable[str]) -> str:
    """The table's column for grid key ``key``: the key itself, or ``grid_KEY`` where the stats already have one."""
    return f"grid_{key}" if key in set(columns) else key


def _typed(values: list[str]) -> list[Any]:
    """Grid values as numbers where every one is a number (so the table sorts and plots them)."""
    try:
        nums = [float(v) for v in values]
    except ValueError:
        return values
    return [int(n) if n.is_integer() and "." not in v and "e" not in v.lower() else n for n, v in zip(nums, values)]


def write_table(root: Path, points: list[Point], results: dict[str, PointResult]) -> Path | None:
    """Every finished point's ``stats.parquet`` with one column per grid key, in grid order."""
    keys = list(points[0].values) if points else []
    typed = {k: dict(zip([p.values[k] for p in points], _typed([p.values[k] for p in points]))) for k in keys}
    frames = []
    for p in points:
        r = results.get(p.key)
        if r is None or r.status == "failed":
            continue
        f = root / "points" / p.name / "stats.parquet"
        if not f.is_file():
            continue
        df = pd.read_parquet(f)
        cols = {grid_column(k, df.columns): typed[k][p.values[k]] for k in keys}
        frames.append(df.assign(**cols)[list(cols) + list(df.columns)])
    out = root / "stats.parquet"
    if not frames:
        out.unlink(missing_ok=True)
        return None
    table = pd.concat(frames, ignore_index=True)
    tmp = root / ".stats.parquet.tmp"
    table.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    return out
