"""What an experiment is: a config, a run function, and the report it declares.

Every experiment is the same pipeline with a different config; a module only
declares what to vary, what to measure (tidy tables) and what to draw (sections of
:class:`initscope.report.charts.Chart` over those tables; it imports no plotting library).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from initscope.engine.probe import Progress, _no_progress
from initscope.report.charts import Section


@dataclass(frozen=True)
class RunContext:
    """What a run gets besides its config."""

    seed: int = 0
    device: str = "cpu"
    progress: Progress = _no_progress


@dataclass
class Outcome:
    """What an experiment's ``run`` returns.

    ``tables`` are tidy DataFrames written as ``<name>.parquet`` (``stats`` always);
    ``summary`` is the ``--json`` output; ``info`` goes into run.json.
    """

    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config: type
    run: Callable[[Any, RunContext], Outcome]
    # what the report shows: sections of Chart declarations over the run's tables; the report
    # layer draws each chart as figures/NAME.png (and .svg) and in the HTML page
    report: Callable[[dict[str, pd.DataFrame], Any, dict[str, Any]], list[Section]]
    source: str = ""  # the seed text it reproduces

    def __repr__(self) -> str:
        return f"Experiment({self.name!r})"
