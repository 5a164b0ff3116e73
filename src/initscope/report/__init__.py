"""Reports: static matplotlib figures and one self-contained interactive HTML page, written
into a run directory through :class:`initscope.results.RunWriter`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from initscope.experiments.base import Experiment, Section
from initscope.results import RunWriter


def draw_figures(exp: Experiment, tables: dict[str, pd.DataFrame], cfg: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The experiment's static figures, name -> matplotlib Figure: its declared charts drawn by
    the matplotlib backend."""
    from initscope.report.charts import Chart, to_matplotlib

    return {c.name: to_matplotlib(c) for s in exp.report(tables, cfg, meta) for c in s.figures if isinstance(c, Chart) and c.png}


def write_figures(w: RunWriter, exp: Experiment, tables: dict[str, pd.DataFrame], cfg: Any, meta: dict[str, Any]) -> list[Path]:
    """Draw the experiment's figures as ``figures/*.png`` and ``*.svg`` (for papers and slides)."""
    return [p for name, fig in draw_figures(exp, tables, cfg, meta).items() for p in w.figure(fig, name)]


def report_sections(exp: Experiment, tables: dict[str, pd.DataFrame], cfg: Any, meta: dict[str, Any]) -> list[Section]:
    """The report's sections with every declared chart drawn by the plotly backend."""
    from initscope.report.charts import Chart, to_plotly

    return [dataclasses.replace(s, figures=tuple(to_plotly(f) if isinstance(f, Chart) else f for f in s.figures
                                                 if not isinstance(f, Chart) or f.html))
            for s in exp.report(tables, cfg, meta)]


def write_report(w: RunWriter, exp: Experiment, tables: dict[str, pd.DataFrame], cfg: Any, meta: dict[str, Any]) -> list[dict[str, str]]:
    """Write the HTML report; return each section's title and verdict (what ``initscope run`` prints)."""
    sections = report_sections(exp, tables, cfg, meta)
    w.report(f"initscope: {exp.name}", meta, sections, tables)
    return [{"title": s.title, "verdict": s.verdict} for s in sections if s.verdict]


def rebuild(run_dir: str | Path) -> Path:
    """``initscope report``: redraw a run directory's figures and report from its tables and
    run.json, without re-running anything. The directory is replaced only once the new figures
    and report are whole."""
    from initscope.config import apply_overrides
    from initscope.experiments import get_experiment
    from initscope.results import load_run

    rd = load_run(run_dir)
    exp = get_experiment(rd.meta["experiment"])
    cfg = apply_overrides(exp.config, {k: tuple(v) if isinstance(v, list) else v for k, v in rd.meta["config"].items()})
    with RunWriter.update(rd.path) as w:
        write_figures(w, exp, rd.tables, cfg, rd.meta)
        write_report(w, exp, rd.tables, cfg, rd.meta)
    return w.out / "report.html"


__all__ = ["draw_figures", "rebuild", "report_sections", "write_figures", "write_report"]
