"""Reports: static matplotlib figures and one self-contained interactive HTML page, written
into a run directory through :class:`initscope.results.RunWriter`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from initscope.report.charts import Section
from initscope.results import RunWriter

if TYPE_CHECKING:  # the report layer does not import experiments; experiments declare what it draws
    from initscope.experiments.base import Experiment


def draw_figures(sections: list[Section]) -> dict[str, Any]:
    """The static figures of an experiment's declared sections (``exp.report(...)``), name ->
    matplotlib Figure, drawn by the matplotlib backend."""
    from initscope.report.charts import Chart, to_matplotlib

    return {c.name: to_matplotlib(c) for s in sections for c in s.figures if isinstance(c, Chart) and c.png}


def write_figures(w: RunWriter, sections: list[Section]) -> list[Path]:
    """Draw the declared charts as ``figures/*.png`` and ``*.svg`` (for papers and slides)."""
    return [p for name, fig in draw_figures(sections).items() for p in w.figure(fig, name)]


def report_sections(sections: list[Section]) -> list[Section]:
    """The declared sections with every chart drawn by the plotly backend."""
    from initscope.report.charts import Chart, to_plotly

    return [dataclasses.replace(s, figures=tuple(to_plotly(f) if isinstance(f, Chart) else f for f in s.figures
                                                 if not isinstance(f, Chart) or f.html))
            for s in sections]


def write_report(w: RunWriter, exp: Experiment, sections: list[Section], tables: dict[str, pd.DataFrame],
                 meta: dict[str, Any]) -> list[dict[str, str]]:
    """Write the HTML report of the declared sections; return each section's title and verdict
    (what ``initscope run`` prints)."""
    w.report(f"initscope: {exp.name}", meta, report_sections(sections), tables)
    return [{"title": s.title, "verdict": s.verdict} for s in sections if s.verdict]


__all__ = ["draw_figures", "report_sections", "write_figures", "write_report"]
