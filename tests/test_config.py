from dataclasses import dataclass

import pytest

from initscope.config import apply_overrides, parse_value, to_dict
from initscope.errors import InitscopeError


@dataclass(frozen=True)
class Cfg:
    depth: int = 3
    scale: float = 1.0
    name: str = "relu"
    flag: bool = False
    layers: tuple[int, ...] = (1, 2)
    dim: int | None = None


def test_defaults_and_typed_overrides():
    c = apply_overrides(Cfg, ["depth=7", "scale=2.5", "name=tanh", "flag=true", "layers=1,5,10", "dim=none"])
    assert c == Cfg(depth=7, scale=2.5, name="tanh", flag=True, layers=(1, 5, 10), dim=None)
    assert apply_overrides(Cfg, {"dim": "12"}).dim == 12
    assert apply_overrides(Cfg, {"depth": 4}).depth == 4  # typed values from Python pass through


def test_unknown_key_names_valid_keys():
    with pytest.raises(InitscopeError, match="unknown config key 'detph'.*depth"):
        apply_overrides(Cfg, ["detph=3"])


@pytest.mark.parametrize("text", ["depth=three", "scale=abc", "flag=maybe", "layers=1,x"])
def test_wrongly_typed_value(text):
    with pytest.raises(InitscopeError, match="expected"):
        apply_overrides(Cfg, [text])


def test_missing_equals():
    with pytest.raises(InitscopeError, match="key=value"):
        apply_overrides(Cfg, ["depth"])


def test_parse_value_union_and_to_dict():
    assert parse_value("3", int | None, "k") == 3
    assert parse_value("null", float | None, "k") is None
    assert to_dict(Cfg())["layers"] == [1, 2]
