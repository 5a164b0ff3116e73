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


# Every config field of every experiment, given every kind of awkward value: the config is
# built or InitscopeError names the problem; nothing else escapes (issue 15's contract).
AWKWARD = ["0", "1", "-1", "2", "nan", "inf", "-inf", "1e308", "1e-308", "10000000000000000000000", "", "abc", "true", "none",
           "1,2", "0,0", "-1,2", "1.5", "1e6", "64,64", "relu", "orthogonal", "normal-linear", ",", "3,"]


def test_every_field_takes_any_value_or_names_the_problem():
    import dataclasses

    from initscope.config import apply_overrides
    from initscope.errors import InitscopeError
    from initscope.experiments import get_experiment, list_experiments

    cases = escaped = 0
    for name in list_experiments():
        exp = get_experiment(name)
        for field in (f.name for f in dataclasses.fields(exp.config) if f.init):
            for value in AWKWARD:
                cases += 1
                try:
                    apply_overrides(exp.config, [f"{field}={value}"])
                except InitscopeError as e:
                    assert "\n" not in str(e), (name, field, value)
                except Exception:  # noqa: BLE001 - the point of the test
                    escaped += 1
    assert cases > 1700 and escaped == 0, (cases, escaped)  # 71 fields x 25 values
