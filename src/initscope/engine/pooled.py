"""Pooled statistics of a plain stack: one network's activations reduced over every sample and
unit of a layer (text 002's ``x.var()``), over independent networks, safe against overflow.

:func:`pooled_run` pushes one batch through ``networks`` independent draws of a spec and keeps,
per network and layer, the pooled variance, mean and second moment before and after the
activation (:func:`initscope.engine.moments.pooled_moments`), the reductions as the text
computes them in the run's dtype (which may overflow first), and histogram values of chosen
layers. :func:`over_networks` turns a run into the tidy ``stats`` rows of the schema
(:data:`initscope.results.STATS_COLUMNS`): the mean over networks and its standard error, NaN
from the first layer where any network left the float range (no inf or NaN is averaged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from initscope.engine.forward import forward
from initscope.engine.moments import mean_stderr, pooled_moments
from initscope.nets import MLPSpec

SITES = ("pre", "post")
STATS = ("variance", "mean", "second_moment")
TEXT_STATS = ("text_variance", "text_sum")


@dataclass
class PooledRun:
    """One spec's measurements: rows per network, layer and site; histogram values (network 0);
    where each network first left the float range."""

    rows: list[dict] = field(default_factory=list)
    hist: list[dict] = field(default_factory=list)
    text_rows: list[dict] = field(default_factory=list)  # the text's own x.var() and x.sum() in the run's dtype
    per_network_first: list[int | None] = field(default_factory=list)

    @property
    def first_nonfinite_layer(self) -> int | None:
        bad = [f for f in self.per_network_first if f is not None]
        return min(bad) if bad else None


def pooled_run(spec: MLPSpec, x: torch.Tensor, *, seed: int, stream: str, networks: int,
               hist_layers: tuple[int, ...] = (), hist_keep: torch.Tensor | None = None) -> PooledRun:
    """Push ``x`` through ``networks`` independent networks of ``spec`` (no biases: text 002's
    layers are ``x @ w``; network r's weights come from ``(seed, stream, r)``). Each network
    stops at its first layer with a non-finite pre- or post-activation. Histogram values at
    ``hist_layers`` (pre and post, the same entries ``hist_keep`` of the flattened layer) come
    from network 0."""
    out = PooledRun()
    for r in range(networks):
        first = None
        for layer, y, post in forward(spec, x, seed, stream, r, bias=False):
            stats = {"pre": pooled_moments(y), "post": pooled_moments(post)}
            if stats["pre"] is None or stats["post"] is None:
                first = layer
                break
            for site, st in stats.items():
                out.rows.append(dict(network=r, layer=layer, site=site, **st))
            with np.errstate(all="ignore"):
                out.text_rows.append(dict(network=r, layer=layer, text_variance=float(post.var()), text_sum=float(post.sum())))
            if r == 0 and layer in hist_layers and hist_keep is not None:
                for site, v in (("pre", y), ("post", post)):
                    vals = v.reshape(-1)[hist_keep].to(torch.float64).cpu().numpy()
                    out.hist.extend(dict(site=site, layer=layer, value=float(z)) for z in vals)
        out.per_network_first.append(first)
    return out


def over_networks(run: PooledRun, depth: int, networks: int) -> pd.DataFrame:
    """Mean and standard error over networks per layer, site and statistic (tidy: ``layer,
    site, stat, value, stderr, n``).

    A layer counts only if every network reached it with finite activations: from the first
    non-finite layer on, values are NaN rather than averages of the survivors. A layer every
    network reached whose float64 variance is past 1.8e308 is inf.
    """
    df = pd.DataFrame(run.rows, columns=["network", "layer", "site", *STATS])
    stop = run.first_nonfinite_layer or depth + 1
    out = []
    for (layer, site), cell in df.groupby(["layer", "site"]) if not df.empty else ():
        for stat in STATS:
            vals = cell[stat].to_numpy(dtype=float)
            reached = layer < stop and len(vals) == networks
            finite = reached and bool(np.isfinite(vals).all())
            if finite:
                value = float(vals.mean())
            elif reached and not np.isnan(vals).any():
                value = math.inf
            else:
                value = math.nan
            se = mean_stderr(vals, overflow_safe=True)[1] if finite else math.nan
            out.append(dict(layer=int(layer), site=site, stat=stat, value=value, stderr=se, n=networks))
    have = {(r["layer"], r["site"]) for r in out}
    for layer in range(1, depth + 1):
        for site in SITES:
            if (layer, site) not in have:
                out.extend(dict(layer=layer, site=site, stat=stat, value=math.nan, stderr=math.nan, n=networks) for stat in STATS)
    return pd.DataFrame(out).sort_values(["layer", "site", "stat"], kind="stable").reset_index(drop=True)


def text_reductions(run: PooledRun, depth: int) -> tuple[pd.DataFrame, dict[str, int | None]]:
    """The text's ``x.var()`` and ``x.sum()`` of the post-activations, computed as the text
    does in the run's dtype (inf and NaN included): tidy rows (mean over networks, inf or NaN
    as soon as one network's is) and the first layer where each stops being finite
    (``text_variance_first_nonfinite_layer``, ``text_sum_first_nonfinite_layer``)."""
    df = pd.DataFrame(run.text_rows, columns=["network", "layer", *TEXT_STATS])
    out, first = [], {}
    for stat in TEXT_STATS:
        with np.errstate(invalid="ignore", over="ignore"):  # inf and NaN are the text's own results here, not a warning
            by_layer = df.groupby("layer")[stat].apply(lambda v: float(np.mean(v.to_numpy())) if len(v) else math.nan)
        for layer in range(1, depth + 1):
            value = float(by_layer.get(layer, math.nan))
            out.append(dict(layer=layer, site="post", stat=stat, value=value, stderr=math.nan, n=int((df.layer == layer).sum())))
        bad = df[~np.isfinite(df[stat].to_numpy())]
        first[f"{stat}_first_nonfinite_layer"] = int(bad.layer.min()) if len(bad) else None
    return pd.DataFrame(out), first
