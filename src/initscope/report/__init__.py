"""Reports: static matplotlib figures and one self-contained interactive HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from initscope.experiments.base import Experiment


def write_figures(run_dir: Path, exp: Experiment, tables: dict[str, pd.DataFrame], cfg: Any, meta: dict[str, Any]) -> list[Path]:
    """Draw the experiment's figures into ``run_dir/figures/*.png`` and ``*.svg`` (for papers and slides)."""
    import matplotlib.pyplot as plt

    out = run_dir / "figures"
    out.mkdir(exist_ok=True)
    paths = []
    for name, fig in exp.figures(tables, cfg, meta).items():
        for ext, kw in (("png", {"dpi": 110}), ("svg", {})):
            p = out / f"{name}.{ext}"
            fig.savefig(p, **kw)
            paths.append(p)
        plt.close(fig)
    return paths


def write_report(path: Path, exp: Experiment, tables: dict[str, pd.DataFrame], cfg: Any, meta: dict[str, Any]) -> list[dict[str, str]]:
    """Write the HTML report; return each section's title and verdict (what ``initscope run`` prints)."""
    from initscope.report.html import render

    sections = exp.sections(tables, cfg, meta)
    path.write_text(render(f"initscope: {exp.name}", meta, sections, tables), encoding="utf-8")
    return [{"title": s.title, "verdict": s.verdict} for s in sections if s.verdict]


__all__ = ["write_figures", "write_report"]
