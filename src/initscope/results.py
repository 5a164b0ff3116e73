"""Run directories: ``run.json`` plus tidy parquet tables, written whole or not at all."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from initscope.errors import InitscopeError

RUN_JSON = "run.json"


def versions() -> dict[str, str]:
    """Versions of python and every package a result depends on."""
    import matplotlib
    import numpy
    import plotly
    import scipy
    import torch

    from initscope import __version__

    return {
        "initscope": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "matplotlib": matplotlib.__version__,
        "plotly": plotly.__version__,
        "platform": platform.platform(),
    }


def device_info(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"device": device, "threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["cuda_name"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda_version"] = torch.version.cuda
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info


def jsonable(x: Any) -> Any:
    """Replace NaN/inf by None (JSON has no NaN) and numpy scalars by Python ones."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class RunDir:
    """A finished run directory, loaded back."""

    path: Path
    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def stats(self) -> pd.DataFrame:
        return self.tables["stats"]

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, experiment={self.meta.get('experiment')!r})"

    def _repr_html_(self) -> str:
        import html

        summary = self.meta.get("summary", {})
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_short(v))}</td></tr>" for k, v in summary.items()
        )
        return f"<b>{html.escape(str(self.meta.get('experiment')))}</b> run at {html.escape(str(self.path))}<table>{rows}</table>"


def _short(v: Any) -> str:
    if isinstance(v, list) and len(v) > 6:
        return f"[{', '.join(map(_fmt, v[:3]))}, ..., {', '.join(map(_fmt, v[-2:]))}] ({len(v)} values)"
    return _fmt(v) if not isinstance(v, list) else "[" + ", ".join(map(_fmt, v)) + "]"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def check_out_dir(out: Path, force: bool, flag: str = "--out") -> None:
    """Refuse an existing non-empty directory unless ``force``; refuse a file; refuse a path that
    names no directory of its own ('', '.', '..', '/') or holds the working directory (--force
    would delete it)."""
    if out.name in ("", ".", ".."):
        raise InitscopeError(f"{flag} {str(out)!r} names no new directory; give a path such as runs/my-run")
    try:
        holds_cwd = out.exists() and Path.cwd().resolve().is_relative_to(out.resolve())
    except OSError:
        holds_cwd = False
    if holds_cwd:
        raise InitscopeError(f"{flag} {str(out)!r} holds the working directory; give a path such as runs/my-run")
    if out.exists() and not out.is_dir():
        raise InitscopeError(f"--out {str(out)!r} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InitscopeError(f"--out {str(out)!r} exists and is not empty; pass --force to replace it")


def _can_create_in(folder: Path) -> bool:
    """Whether a folder can be created in ``folder``, by creating and removing one: ``os.access``
    says yes to root everywhere, /proc included, and a run would do its work before failing."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".initscope-probe-", dir=folder))
        return True
    except OSError:
        return False


def check_writable(path: Path, flag: str) -> None:
    """Refuse, before any work, a path whose nearest existing ancestor is not a writable folder."""
    p = path if path.is_absolute() else Path.cwd() / path
    if p.exists():
        if not p.is_dir():
            raise InitscopeError(f"{flag} {str(path)!r} exists and is not a directory")
        if not _can_create_in(p):
            raise InitscopeError(f"{flag} {str(path)!r}: the folder is not writable; choose a writable path")
        return
    for a in p.parents:
        if a.exists():
            if not a.is_dir():
                raise InitscopeError(f"{flag} {str(path)!r}: {str(a)!r} is a file, not a folder; choose a writable path")
            if not _can_create_in(a):
                raise InitscopeError(f"{flag} {str(path)!r}: {str(a)!r} is not writable; choose a writable path")
            return


class StagingDir:
    """Write into a temporary sibling of ``out``; ``commit`` renames it into place.

    If anything fails before ``commit``, the temporary directory is removed and
    ``out`` is left as it was: a run directory appears whole or not at all.
    """

    def __init__(self, out: Path, force: bool) -> None:
        self.out = out
        self.force = force
        self.created: list[Path] = []
        try:
            check_out_dir(out, force)
            # folders this run creates above ``out``: removed again if it fails (nothing left behind)
            self.created = [p for p in (out.parent, *out.parent.parents) if not p.exists()][::-1]
            out.parent.mkdir(parents=True, exist_ok=True)
            # staging directories of this target left by a killed run: never a finished run
            for stale in out.parent.glob(f".{out.name}.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as e:
            self._remove_created()
            raise InitscopeError(f"--out {out}: cannot write a run directory there ({e.strerror}); choose a writable path") from None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o777 & ~umask)  # mkdtemp makes it private; a run directory is not

    def commit(self) -> Path:
        if self.out.exists():
            check_out_dir(self.out, self.force)
            trash = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
            os.replace(self.out, trash / "old")
            os.replace(self.path, self.out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(self.path, self.out)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._remove_created()

    def _remove_created(self) -> None:
        for p in reversed(self.created):
            try:
                p.rmdir()  # only if still empty: never anything another process put there
            except OSError:
                break

    def __enter__(self) -> StagingDir:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()


class RunWriter:
    """The one way a run directory is written: ``run`` (and so each point of a ``sweep``),
    ``inspect``, ``inspect --widths``, ``compare`` and ``report``. Everything goes into a
    temporary sibling of ``out``; leaving the ``with`` block normally renames it into place,
    an exception removes it (and any folder created for it), so a run directory appears whole
    or not at all::

        with RunWriter(out, force) as w:
            w.tables({"stats": df})
            w.figure(fig, "profile")              # figures/profile.png and .svg
            w.report(title, meta, sections, tables)
            w.meta(meta)
        w.out                                     # the finished directory

    ``RunWriter.update(path)`` stages a copy of an existing run directory, for rewriting its
    figures and report (``initscope report``): the old one stays until the new one is whole.
    """

    def __init__(self, out: str | Path, force: bool = False, *, _copy_of: Path | None = None) -> None:
        self.out = Path(out)
        self._staging = StagingDir(self.out, force)
        self.path = self._staging.path
        if _copy_of is not None:
            try:
                shutil.copytree(_copy_of, self.path, dirs_exist_ok=True)
            except OSError as e:
                self._staging.abort()
                raise InitscopeError(f"{_copy_of}: cannot copy the run directory ({e.strerror})") from None
        self.committed = False

    @classmethod
    def update(cls, path: str | Path) -> RunWriter:
        return cls(path, force=True, _copy_of=Path(path))

    def tables(self, tables: dict[str, pd.DataFrame]) -> None:
        write_tables(self.path, tables)

    def figure(self, fig: Any, name: str) -> list[Path]:
        """A matplotlib figure as ``figures/NAME.png`` (110 dpi) and ``.svg`` (for papers and slides); closed after."""
        import matplotlib.pyplot as plt

        d = self.path / "figures"
        d.mkdir(exist_ok=True)
        paths = [d / f"{name}.png", d / f"{name}.svg"]
        fig.savefig(paths[0], dpi=110)
        fig.savefig(paths[1])
        plt.close(fig)
        return paths

    def report(self, title: str, meta: dict[str, Any], sections: Any, tables: dict[str, pd.DataFrame]) -> Path:
        """``report.html``: the self-contained page (:func:`initscope.report.html.render`)."""
        from initscope.report.html import render

        path = self.path / "report.html"
        path.write_text(render(title, meta, sections, tables), encoding="utf-8")
        return path

    def meta(self, meta: dict[str, Any]) -> None:
        write_meta(self.path, meta)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.out = self._staging.commit()
            self.committed = True
        else:
            self._staging.abort()


STATS_COLUMNS = ("layer", "stat", "value", "stderr", "n")
"""Every experiment's ``stats`` table: key columns that say which series a row belongs to
(``variant``, ``view``, ``site``, ``step``, ...), then these five, in this order. ``stderr`` is
NaN and ``n`` 1 for a value measured once (one network trained, one exact check); predictions
live in a table of their own (``theory``). ``compare`` and the sweep read any run through it."""


def conform_stats(df: pd.DataFrame, *, stderr: float = math.nan, n: int = 1) -> pd.DataFrame:
    """``df`` with the :data:`STATS_COLUMNS` last and in order, filling a missing ``stderr``
    or ``n`` (a value measured once); raises if ``layer``, ``stat`` or ``value`` is missing."""
    missing = [c for c in ("layer", "stat", "value") if c not in df.columns]
    if missing:
        raise ValueError(f"a stats table needs the columns {', '.join(STATS_COLUMNS)}; missing {', '.join(missing)}")
    out = df.copy()
    if "stderr" not in out:
        out["stderr"] = stderr
    if "n" not in out:
        out["n"] = n
    keys = [c for c in out.columns if c not in STATS_COLUMNS]
    return out[keys + list(STATS_COLUMNS)]


def stats_keys(df: pd.DataFrame) -> list[str]:
    """The key columns of a stats table: everything before :data:`STATS_COLUMNS`."""
    return [c for c in df.columns if c not in STATS_COLUMNS]


def write_tables(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        df.to_parquet(path / f"{name}.parquet", index=False)


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    (path / RUN_JSON).write_text(json.dumps(jsonable(meta), indent=2, sort_keys=False) + "\n")


def load_run(path: str | Path) -> RunDir:
    """Load a run directory written by :func:`initscope.runner.run`."""
    p = Path(path)
    if not (p / RUN_JSON).is_file():
        raise InitscopeError(f"{str(p)!r} is not a run directory (no {RUN_JSON})")
    f = p / RUN_JSON
    try:
        meta = json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InitscopeError(f"{f}: not readable JSON ({e})") from None
    if not isinstance(meta, dict):
        raise InitscopeError(f"{f}: expected a JSON object, got {type(meta).__name__}")
    missing = [k for k in ("experiment", "config", "seed") if k not in meta]
    if missing:
        raise InitscopeError(f"{f}: missing {', '.join(missing)}; not a run directory initscope wrote")
    if not isinstance(meta["config"], dict):
        raise InitscopeError(f"{f}: 'config' must be an object")
    tables = {}
    for t in sorted(p.glob("*.parquet")):
        try:
            tables[t.stem] = pd.read_parquet(t)
        except Exception as e:  # pyarrow raises several types for a truncated or foreign file
            raise InitscopeError(f"{t}: not a readable parquet table ({type(e).__name__})") from None
    return RunDir(p, meta, tables)
