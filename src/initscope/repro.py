"""Reproducible seeding: one scheme, as text 003 ("Numerical Stability and Initialization")
asks, everywhere in initscope.

**Every random stream initscope draws is ``generator(seed, purpose, *index)``**: a torch
generator seeded with ``derive_seed(seed, purpose, *index)``, a hash of the run seed, a word
naming what the stream is for and the indices that place it. Examples: the engine's weights
``("sample", network, layer)`` and ``("network-exact", block, layer)``, an experiment's inputs
``("inputs",)``, inspect's random labels ``("labels",)`` and batch ``("batch",)``. A stream is
therefore a pure function of the seed and its place: work can be chunked, reordered or run in
other processes without changing a number, and two purposes never share a stream (a hash,
not ``seed + i``).

**The global generator is seeded only where code outside initscope draws from it**: a user's
model factory (``inspect``: ``torch.manual_seed(seed)``, so the model inspected is the one
``torch.manual_seed(seed); factory()`` builds; further draws ``derive_seed(seed, "draw", d)``),
``reset_parameters()`` and dropout masks in training loops (``derive_seed(seed, purpose, k)``).
``seed_all`` seeds python, numpy, torch and CUDA once per run, for anything left.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

from initscope.errors import InitscopeError


SEED_LIMIT = 2**63  # torch.manual_seed takes a signed 64-bit integer


def check_seed(seed: int, flag: str = "--seed") -> int:
    """Refuse a seed torch cannot take, in one line, before any work."""
    if not (isinstance(seed, int) and 0 <= seed < SEED_LIMIT):
        raise InitscopeError(f"{flag} must be an integer in [0, 2^63), got {seed}")
    return seed


def seed_all(seed: int = 1992, seed_torch: bool = True, deterministic: bool = True) -> int:
    """Seed python, numpy, torch and CUDA; switch torch to deterministic kernels.

    Mirrors text 003: PYTHONHASHSEED, ``random``, ``np.random``, ``torch.manual_seed``
    and ``torch.cuda.manual_seed_all``, cuDNN deterministic and not benchmarking.
    Unlike the text we leave cuDNN enabled (its deterministic algorithms suffice) and
    ask torch for deterministic algorithms where they exist, warning-only so that an
    op without one does not crash a measurement. Returns the seed.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if seed_torch:
        torch.manual_seed(seed)
        torch.cuda.manual_seed_all(seed)
        if deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            if torch.cuda.is_available():
                # cuBLAS needs this for deterministic matmuls on CUDA >= 10.2. (On the
                # CPU our kernels are deterministic already, and the switch costs a
                # second of imports, so it is only thrown where it matters.)
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def derive_seed(seed: int, *path: int | str) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``path`` (e.g. ``("sample", r, layer)``).

    A hash rather than ``seed + i`` so that streams for different paths never overlap.
    """
    key = ":".join([str(seed), *map(str, path)]).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def generator(seed: int, *path: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``derive_seed(seed, *path)``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *path))
    return g
