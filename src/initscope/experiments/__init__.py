"""Named experiments, registered by name."""

from __future__ import annotations

from initscope.registry import Registry
from initscope.experiments.base import Experiment, Outcome, RunContext
from initscope.report.charts import Section

EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register(exp: Experiment) -> Experiment:
    return EXPERIMENTS.register(exp.name, exp)


def get_experiment(name: str) -> Experiment:
    return EXPERIMENTS.lookup(name)


def list_experiments() -> list[str]:
    return EXPERIMENTS.names()


# Each module registers itself on import.
from initscope.experiments import kaiming_variance  # noqa: E402,F401
from initscope.experiments import phase_diagram  # noqa: E402,F401
from initscope.experiments import variance_explosion  # noqa: E402,F401
from initscope.experiments import permutation_symmetry  # noqa: E402,F401
from initscope.experiments import constant_init  # noqa: E402,F401
from initscope.experiments import data_distributions  # noqa: E402,F401
from initscope.experiments import init_training  # noqa: E402,F401
from initscope.experiments import backward_variance  # noqa: E402,F401

__all__ = ["EXPERIMENTS", "Experiment", "Outcome", "RunContext", "Section", "get_experiment", "list_experiments", "register"]
