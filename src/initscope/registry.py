"""Every name -> thing table (experiments, init schemes, activations, input distributions) is a
:class:`Registry`: a dict whose miss raises the one-line error naming the choices."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from initscope.errors import unknown

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """``REGISTRY[name]`` returns the thing or raises :class:`~initscope.errors.InitscopeError`
    ("unknown KIND 'x'; choose from: ..."); ``register`` adds one under its own name."""

    def __init__(self, kind: str, items: Iterable[tuple[str, T]] = ()) -> None:
        super().__init__(items)
        self.kind = kind

    def __missing__(self, name: str) -> T:
        raise unknown(self.kind, name, self)

    def lookup(self, name: object) -> T:
        """Like ``[name]``, also for a name that is not a string or not hashable."""
        try:
            return self[name]  # type: ignore[index]
        except TypeError:
            raise unknown(self.kind, name, self) from None

    def register(self, name: str, thing: T) -> T:
        self[name] = thing
        return thing

    def names(self) -> list[str]:
        return sorted(self)
