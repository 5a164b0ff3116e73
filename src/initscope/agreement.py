"""Where simulation leaves its theory: one reading of two tidy tables, for every verdict.

``stats`` has (layer, stat, value, stderr) rows of the simulation, ``theory`` (layer, stat,
value) rows of a prediction and, optionally, ``{stat}_stderr`` rows of its own sampling
error. A layer departs when |simulation - theory| exceeds ``Z`` combined standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

Z = 3.0  # standard errors: one layer in 370 departs by chance, a 50-layer profile about one time in 7


@dataclass(frozen=True)
class Gap:
    stat: str
    theory: str  # the theory line's name, e.g. "sample_fraction_finite_width"
    first_layer: int | None  # first layer past Z standard errors (None: never)
    departing: int  # how many layers are past Z standard errors
    layers: int  # layers compared
    worst_layer: int | None
    worst_relative: float  # (simulation - theory) / theory at the worst layer
    worst_z: float

    def sentence(self, label: str) -> str:
        if self.first_layer is None:
            return f"{self.stat} stays within {Z:g} standard errors of the {label} at every layer (largest gap {abs(self.worst_z):.1f} se)"
        return (
            f"{self.stat} leaves the {label} from layer {self.first_layer} ({self.departing} of {self.layers} layers past "
            f"{Z:g} se), by up to {self.worst_relative:+.{0 if abs(self.worst_relative) >= 0.01 else 2}%} at layer {self.worst_layer}"
        )


def gap(stats: pd.DataFrame, theory: pd.DataFrame, stat: str, line: str | None = None, *, site: str | None = "pre") -> Gap | None:
    """How the simulated ``stat`` departs from the theory line ``line`` (default: ``stat``)."""
    line = line or stat
    sim = stats[stats.stat == stat]
    if site is not None and "site" in sim.columns:
        sim = sim[sim.site == site]
    th = theory[theory.stat == line].set_index("layer").value
    th_se = theory[theory.stat == f"{line}_stderr"].set_index("layer").value
    sim = sim.set_index("layer")
    layers = [l for l in sim.index if l in th.index]
    rows = []
    for l in sorted(layers):
        v, se, t = float(sim.value[l]), float(sim.stderr[l]), float(th[l])
        tse = float(th_se[l]) if l in th_se.index else 0.0
        if not all(math.isfinite(x) for x in (v, t)) or not math.isfinite(se):
            continue
        err = math.hypot(se, tse if math.isfinite(tse) else 0.0)
        z = (v - t) / err if err > 0 else (0.0 if v == t else math.inf)
        rows.append((l, z, (v - t) / t if t != 0 else math.nan))
    if not rows:
        return None
    zs = np.array([abs(r[1]) for r in rows])
    past = [r for r in rows if abs(r[1]) > Z]
    worst = rows[int(np.argmax(zs))]
    if past:  # by how much: the largest relative gap among the departing layers
        worst = max(past, key=lambda r: abs(r[2]) if math.isfinite(r[2]) else -1)
    return Gap(stat, line, past[0][0] if past else None, len(past), len(rows), worst[0], worst[2], worst[1])
