"""The backward view: the back-propagated signal delta_l = dL/dy_l of an MLP at initialization.

The output cotangent c is drawn N(0, 1) (L = sum(c * output)), so delta_l is what any loss with
unit-variance output gradients sends back: ``cotangent="shared"`` draws one c per network for all
its samples (then delta_l varies over samples only through the input, and text 000's
decomposition applies to the gradient as to the forward signal); ``"sample"`` one per sample. Measured through the exact
path (each network built as a module, the same weights forward and backward) in text 000's
three views, for the forward pre-activation y_l and for delta_l alike:

* **network** — the first input x0, many networks: the variance over networks, averaged over units;
* **sample** — one network, the S inputs: the variance over samples (``sample_variance``) and the
  spread of the per-unit means (``mean_spread``), averaged over the networks;
* **layer** — one network and input: the variance over the units of a layer.

Tidy rows: ``direction`` (forward | backward), ``view``, ``layer``, ``stat``, ``value``, ``stderr``, ``n``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from initscope.data import get_input
from initscope.engine.moments import mean_stderr, ratio_stderr
from initscope.errors import InitscopeError
from initscope.nets import MLPSpec, build_mlp
from initscope.repro import generator

COTANGENTS = ("shared", "sample")


def signals(spec: MLPSpec, x: torch.Tensor, seed: int, network: int, dtype: torch.dtype = torch.float32,
            cotangent: str = "shared") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Network ``network``'s pre-activations y_l and back-propagated delta_l = dL/dy_l on inputs
    ``x`` [S, N0], for L = sum(c * output) with c ~ N(0, 1) drawn from its own stream."""
    if cotangent not in COTANGENTS:
        from initscope.errors import unknown

        raise unknown("cotangent", cotangent, COTANGENTS)
    if spec.output_dim is None:
        raise InitscopeError("the backward view needs a readout: set output_dim")
    model = build_mlp(spec, seed=seed, network=network, dtype=dtype)
    ys = model.preactivations(x.to(dtype))
    for y in ys:
        y.retain_grad()
    out = model.readout(model.post(ys[-1], spec.n_layers))
    shape = out.shape if cotangent == "sample" else (1, out.shape[1])
    c = torch.randn(shape, generator=generator(seed, "cotangent", network), dtype=dtype).expand_as(out)
    (out * c).sum().backward()
    return [y.detach() for y in ys], [y.grad.detach() for y in ys]


def backward_probe(spec: MLPSpec, *, networks: int = 400, samples: int = 100, seed: int = 0, input: str = "gaussian",
                   dtype: torch.dtype = torch.float32, cotangent: str = "shared", progress=None) -> pd.DataFrame:
    """Forward and backward statistics per layer in the three views (see the module docstring)."""
    if networks < 2 or samples < 2:
        raise InitscopeError("networks and samples must be >= 2 (variances over them)")
    x = get_input(input).sample(samples, spec.input_dim, generator=generator(seed, "inputs"), dtype=torch.float64)
    L = spec.n_layers
    acc = {d: {k: [[] for _ in range(L)] for k in ("x0", "sv", "ms", "lv")} for d in ("forward", "backward")}
    for r in range(networks):
        ys, ds = signals(spec, x, seed, r, dtype, cotangent)
        for direction, vals in (("forward", ys), ("backward", ds)):
            for l, v in enumerate(vals):
                v = v.to(torch.float64)
                a = acc[direction]
                a["x0"][l].append(v[0])
                a["sv"][l].append(float(v.var(dim=0).mean()))
                a["ms"][l].append(float(v.mean(dim=0).var()))
                a["lv"][l].append(float(v.var(dim=1).mean()))
        if progress is not None:
            progress("networks", r + 1, networks)
    rows = []
    for direction, a in acc.items():
        for l in range(L):
            at_x0 = torch.stack(a["x0"][l])  # [networks, units]
            per_unit = at_x0.var(dim=0)  # over networks
            # standard error over networks of the unit-averaged variance: per network, the mean over
            # units of (v - mean)^2 is one draw whose mean is (M-1)/M times the variance
            dev = ((at_x0 - at_x0.mean(dim=0)) ** 2).mean(dim=1) * networks / (networks - 1)
            nv, nv_se = float(per_unit.mean()), float(dev.std() / math.sqrt(networks))
            rows.append(dict(direction=direction, view="network", layer=l + 1, stat="network_variance", value=nv, stderr=nv_se, n=networks))
            if float(dev.mean()) > 0:  # relative spread over networks of the layer's mean square (0 as width -> infinity)
                rows.append(dict(direction=direction, view="network", layer=l + 1, stat="norm_spread",
                                 value=float(dev.std() / dev.mean()), stderr=math.nan, n=networks))
                # the typical network: median over networks of the unit-averaged square (the mean is carried by rare large ones
                # once depth/width is not small)
                rows.append(dict(direction=direction, view="network", layer=l + 1, stat="network_variance_median",
                                 value=float(dev.median()), stderr=math.nan, n=networks))
            for key, stat, view in (("sv", "sample_variance", "sample"), ("ms", "mean_spread", "sample"), ("lv", "layer_variance", "layer")):
                m, se = mean_stderr(a[key][l])
                rows.append(dict(direction=direction, view=view, layer=l + 1, stat=stat, value=m, stderr=se, n=networks))
            sv, ms = np.array(a["sv"][l]), np.array(a["ms"][l])
            if sv.sum() + ms.sum() > 0:
                frac = float(sv.sum() / (sv.sum() + ms.sum()))
                se = ratio_stderr(sv, ms)  # the probe's jackknife, over networks
                rows.append(dict(direction=direction, view="sample", layer=l + 1, stat="sample_fraction", value=frac, stderr=se, n=networks))
    return pd.DataFrame(rows, columns=["direction", "view", "layer", "stat", "value", "stderr", "n"])
