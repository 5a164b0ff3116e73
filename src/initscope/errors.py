"""The one error type a user's mistake raises.

The CLI turns an :class:`InitscopeError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class InitscopeError(ValueError):
    """A user's mistake: an unknown name, a bad value, a config key that does not exist."""


def unknown(kind: str, name: object, choices: Iterable[str], *, sort: bool = True) -> InitscopeError:
    """The error for a registry miss, naming the valid choices (sorted, or in the order given:
    a config's keys read best in the order the config declares them)."""
    return InitscopeError(f"unknown {kind} {name!r}; choose from: {', '.join(sorted(choices) if sort else choices)}")
