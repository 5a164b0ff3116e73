"""One registry type for every name -> thing table: a miss is the one-line error naming the choices."""

import pickle

import pytest

from initscope.activations import ACTIVATIONS
from initscope.data import INPUTS
from initscope.errors import InitscopeError
from initscope.experiments import EXPERIMENTS
from initscope.registry import Registry
from initscope.schemes import SCHEMES


def test_a_miss_names_the_sorted_choices_and_a_hit_returns_the_thing():
    r = Registry("colour", [("red", 1), ("blue", 2)])
    assert r["red"] == 1 and r.lookup("blue") == 2 and r.names() == ["blue", "red"]
    with pytest.raises(InitscopeError, match=r"^unknown colour 'green'; choose from: blue, red$"):
        r["green"]
    with pytest.raises(InitscopeError, match=r"unknown colour \['x'\]"):
        r.lookup(["x"])  # unhashable: still the one-line error, not a TypeError
    assert r.get("green") is None and "green" not in r  # dict semantics otherwise unchanged
    assert r.register("green", 3) == 3 and r["green"] == 3


@pytest.mark.parametrize("reg, kind", [(SCHEMES, "init scheme"), (ACTIVATIONS, "activation"), (INPUTS, "input distribution"),
                                       (EXPERIMENTS, "experiment")])
def test_the_package_registries_use_it_and_survive_pickling(reg, kind):
    assert isinstance(reg, Registry) and reg.kind == kind and len(reg) >= 3
    with pytest.raises(InitscopeError, match=f"unknown {kind} 'nope'"):
        reg["nope"]
    back = pickle.loads(pickle.dumps(Registry(kind, [(k, k) for k in reg])))  # sweep workers receive tables by pickle
    assert back.kind == kind and back.names() == reg.names()
