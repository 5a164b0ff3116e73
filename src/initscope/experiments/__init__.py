"""Named experiments, registered by name."""

from __future__ import annotations

from initscope.errors import unknown
from initscope.experiments.base import Experiment, Outcome, RunContext, Section

EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS[exp.name] = exp
    return exp


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise unknown("experiment", name, EXPERIMENTS) from None


def list_experiments() -> list[str]:
    return sorted(EXPERIMENTS)


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
