"""TensorBoard export: per-layer histograms with the layer index as the step, so that
TensorBoard's distribution view draws text 000's picture (one column of histograms per view)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initscope.errors import InitscopeError


def check_tensorboard(log_dir: str | Path | None = None) -> None:
    """Raise before any work if ``--tensorboard`` cannot be written (the package is an extra,
    the folder must be writable)."""
    if log_dir is not None:
        from initscope.results import check_writable

        try:
            check_writable(Path(log_dir), "--tensorboard")
        except OSError as e:
            raise InitscopeError(f"--tensorboard {str(log_dir)!r}: {e.strerror}; choose a writable path") from None
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:  # pragma: no cover - tensorboard is an optional extra
        raise InitscopeError("--tensorboard needs the tensorboard package: pip install 'initscope[tensorboard]'") from None


def write_tensorboard(log_dir: str | Path, tables: dict[str, pd.DataFrame], run_name: str) -> int:
    """Write every table with ``layer`` and ``value`` columns as histograms; returns how many.

    Groups by the table's categorical columns (view, site, variant) into one tag each.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # pragma: no cover - tensorboard is an optional extra
        raise InitscopeError("--tensorboard needs the tensorboard package: pip install 'initscope[tensorboard]'") from None
    written = 0
    with SummaryWriter(log_dir=str(Path(log_dir) / run_name)) as writer:
        for name, df in tables.items():
            if name == "stats" or not {"layer", "value"} <= set(df.columns):
                continue
            keys = [c for c in ("view", "site", "variant") if c in df.columns]
            groups = df.groupby(keys) if keys else [((), df)]
            for key, grp in groups:
                key = key if isinstance(key, tuple) else (key,)
                tag = "/".join([name, *map(str, key)])
                for layer, cell in grp.groupby("layer"):
                    vals = cell.value.to_numpy(dtype=np.float64)
                    vals = vals[np.isfinite(vals)]
                    if len(vals):
                        writer.add_histogram(tag, vals, global_step=int(layer))
                        written += 1
    return written
