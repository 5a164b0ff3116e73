"""Seeding: derived seeds are pure functions of (seed, path), the same in every process; seed_all
makes python, numpy and torch repeat themselves; seeds torch cannot take are refused."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from initscope.errors import InitscopeError
from initscope.repro import check_seed, derive_seed, generator, seed_all


def test_derived_seeds_are_pure_and_distinct():
    a = derive_seed(7, "sample", 3, 12)
    assert a == derive_seed(7, "sample", 3, 12) and 0 <= a < 2**63
    others = {derive_seed(7, "sample", 3, 13), derive_seed(8, "sample", 3, 12), derive_seed(7, "network", 3, 12)}
    assert a not in others and len(others) == 3
    assert torch.equal(torch.rand(5, generator=generator(7, "x")), torch.rand(5, generator=generator(7, "x")))


def test_derived_seeds_do_not_depend_on_the_process_or_its_hash_seed():
    code = "from initscope.repro import derive_seed; print(derive_seed(3, 'net', 1, 'rows', 2))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": h}).stdout
            for h in ("12345",)}  # another process, another hash seed than this one
    assert outs == {f"{derive_seed(3, 'net', 1, 'rows', 2)}\n"}


def test_seed_all_repeats_every_generator():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_all(11)
    first = draw()
    seed_all(11)
    assert draw() == first
    seed_all(12)
    assert draw() != first
    assert os.environ["PYTHONHASHSEED"] == "12"


@pytest.mark.parametrize("bad", [-1, 2**63, 10**30, 1.5, "3"])
def test_seeds_torch_cannot_take_are_refused(bad):
    with pytest.raises(InitscopeError, match=r"--seed must be an integer in \[0, 2\^63\)"):
        check_seed(bad)
    assert check_seed(2**63 - 1) == 2**63 - 1
