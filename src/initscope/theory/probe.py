"""Mean-field and finite-width predictions of everything an engine probe measures: the
theory lines beside a probe's tables (network view at x0, sample view over the drawn inputs,
the layer view), from the probe's own config and inputs. Used by kaiming-variance; the maps
themselves are :mod:`initscope.theory`'s fold."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from initscope.engine.probe import ProbeConfig
from initscope.nets import MLPSpec


def drawn_inputs(pc: ProbeConfig) -> tuple[Any, Any]:
    """The engine's own inputs, in float64: x0 of the network view and the S samples of the
    sample view (same generators, same dtype: a float64 draw would be another number)."""
    import torch

    from initscope.data import get_input
    from initscope.repro import generator

    dist, n0 = get_input(pc.input), pc.spec.input_dim
    x0 = dist.sample(1, n0, generator=generator(pc.seed, "x0"), dtype=pc.torch_dtype)[0].to(torch.float64)
    x = dist.sample(pc.samples, n0, generator=generator(pc.seed, "inputs"), dtype=pc.torch_dtype).to(torch.float64)
    return x0, x


def mean_field_inputs(pc: ProbeConfig, inputs: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """What the mean-field maps need from a probe config: per-layer sigma_w^2, sigma_b^2,
    and the second moments of the actual inputs (x0 for the network view, the S samples
    for the sample view), drawn from the same generators as the engine."""
    spec = pc.spec
    sw2 = spec.sigma_w2()
    notes: list[str] = []
    if spec.scheme.distribution == "constant":
        notes.append("constant weights are not random: mean-field theory does not apply")
    elif not spec.scheme.rotation_invariant_gaussian:
        notes.append(f"{spec.init} weights are not Gaussian: the theory uses their variance (exact as width -> infinity)")
    widths = spec.layer_widths
    sigma_b2 = {
        "zero": 0.0,
        "normal": spec.sigma_b**2,
        "constant": spec.bias_value**2,
        "linspace": float(np.mean(np.linspace(-1, 1, widths[0]) ** 2)),
        "torch-default": 1.0 / (3.0 * widths[0]),
    }[spec.bias]
    if spec.bias in ("constant", "linspace"):
        notes.append(
            f"'{spec.bias}' biases are the same in every network: the mean-field network variance tracks each unit's mean; "
            f"its sample-view lines treat them as random with their mean square {sigma_b2:.3g}; the finite-width lines draw them as the network does"
        )
    if spec.bias == "torch-default":
        notes.append(
            f"'torch-default' biases are uniform, of variance 1/(3 fan_in): the mean-field lines use the hidden layers' {sigma_b2:.3g} "
            f"throughout{' (layer 1 has fan-in ' + str(spec.input_dim) + ')' if spec.input_dim != widths[0] else ''}; "
            "the finite-width lines draw each layer's own"
        )
    x0, x = inputs if inputs is not None else drawn_inputs(pc)
    n0, s = spec.input_dim, pc.samples
    sq = float((x * x).sum()) / (s * n0)
    total = x.sum(dim=0)
    cross = (float(total @ total) - float((x * x).sum())) / (s * (s - 1) * n0) if s > 1 else 0.0
    return dict(
        sigma_w2=sw2, sigma_b2=sigma_b2, x0_sq=float(x0 @ x0) / n0, x_sq=sq, x_ab=cross, notes=notes,
        residual=spec.residual, layernorm=spec.norm in ("layernorm", "rmsnorm"),
    )


def fixed_bias_network_variance(spec: MLPSpec, sigma_w2: list[float], x0_sq: float) -> np.ndarray:
    """Mean-field variance over networks when every network has the same biases b.

    Over networks, y_{l,i} = w_i . h_{l-1} + b_i has mean b_i and variance
    v_l = sigma_w^2 E|h_{l-1}|^2 / N, where E|h|^2 / N = mean_i E[phi(b_i + sqrt(v) z)^2]:
    v_1 = sigma_w^2 |x0|^2 / N_0 (Gauss-Hermite, 160 nodes)."""
    import torch

    from initscope.nets import draw_bias

    z, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / w.sum()
    v = [sigma_w2[0] * x0_sq]
    for layer in range(2, spec.n_layers + 1):
        # constant and linspace biases draw nothing: the generator is never used
        b = draw_bias(spec, layer - 1, (), generator=torch.Generator(), dtype=torch.float64, device="cpu").numpy()
        u = b[:, None] + math.sqrt(max(v[-1], 0.0)) * z[None, :]
        phi = spec.act.fn(torch.from_numpy(u)).numpy()
        v.append(sigma_w2[layer - 1] * float(((phi * phi) @ w).mean()))
    return np.array(v)


INPUT_SUBSET = 128  # inputs whose 8128 pairs the mean-field sample-view line averages over (0.12 s for relu)


def theory_table(pc: ProbeConfig, replicates: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Mean-field predictions of every statistic the run measures (tidy: layer, stat, value),
    and with ``replicates`` the finite-width ones of the sampled Gram chain on the run's own
    inputs (``*_finite_width`` and their ``*_stderr``)."""
    from initscope.theory import (
        pairs_in_closed_form, predict, predict_batchnorm, propagate_inputs, ratio_or_nan, relu_norm_fluctuation, relu_sample_fraction_asymptote,
    )
    from initscope.theory.finite_width import pairs_from, predict_finite_width

    spec = pc.spec
    x0, x = drawn_inputs(pc)  # once, for every theory line below
    mf = mean_field_inputs(pc, (x0, x))
    common = dict(residual=mf["residual"], layernorm=mf["layernorm"])
    at_x0 = predict(spec.act, mf["sigma_w2"], mf["sigma_b2"], spec.n_layers, x_sq=mf["x0_sq"], **common)
    over_x = predict(spec.act, mf["sigma_w2"], mf["sigma_b2"], spec.n_layers, x_sq=mf["x_sq"], x_ab=mf["x_ab"], samples=pc.samples, **common)
    layers = np.arange(1, spec.n_layers + 1)
    sample_var, spread, frac = np.array(over_x.sample_variance), np.array(over_x.mean_spread), np.array(over_x.sample_fraction)
    if not (mf["residual"] or mf["layernorm"]) and pairs_in_closed_form(spec.act):
        # the inputs' norms differ: run the covariance map on every pair of a subset of the
        # actual inputs instead of the equal-norm map (whose q_ab misses (E|x|)^2 / E|x|^2).
        # In closed form only: by quadrature 8128 pairs would take minutes.
        sub = x[: INPUT_SUBSET]
        pairs = propagate_inputs(spec.act, mf["sigma_w2"], mf["sigma_b2"], spec.n_layers, (sub @ sub.T).numpy(), spec.input_dim)
        sample_var, spread = pairs.sample_variance.copy(), pairs.mean_spread.copy()
        # layer 1 is exact from all the inputs (the subset's mean inner product is noisy
        # next to a mean spread that is ~0 there)
        sample_var[0], spread[0] = over_x.sample_variance[0], over_x.mean_spread[0] - over_x.sample_variance[0] / pc.samples
        spread += sample_var / pc.samples
        frac = ratio_or_nan(sample_var, sample_var + spread)
    net_var = np.array(at_x0.q)
    norm_notes: list[str] = []
    if spec.norm == "rmsnorm":
        norm_notes.append("rmsnorm: mean field as layernorm (the mean over units it keeps is O(1/sqrt(width)) for zero-mean "
                          "pre-activations; a bias or a ReLU's mean adds to it at finite width)")
    if spec.norm == "batchnorm":
        bn = predict_batchnorm(spec.act, mf["sigma_w2"], mf["sigma_b2"], (at_x0.q[0], sample_var[0], spread[0] - sample_var[0] / pc.samples),
                               residual=mf["residual"])
        net_var[1:], sample_var[1:] = bn.q, bn.sample_variance
        spread[1:] = bn.mean_spread + bn.sample_variance / pc.samples
        frac = ratio_or_nan(sample_var, sample_var + spread)
        over_q = np.array(over_x.q)
        over_q[1:] = bn.q
        norm_notes.append(f"batchnorm: mean field over an infinite batch (the batch here is {spec.batch_size}): every unit is "
                          "reset to mean 0 and variance 1 over samples, so from layer 2 on the lines are the same at every layer")
    if spec.bias in ("constant", "linspace") and not (mf["residual"] or mf["layernorm"]) and spec.norm != "batchnorm":
        # a bias shared by every network adds nothing to a variance over networks: track
        # each unit's mean (its bias) through the layers instead of adding mean(b^2)
        net_var = fixed_bias_network_variance(spec, mf["sigma_w2"], mf["x0_sq"])
    cols = {
        "network_variance": net_var,
        "sample_variance": sample_var,
        "mean_spread": spread,
        "sample_fraction": frac,
        # over the units of one layer, ddof 1 as measured: units i.i.d. with mean 0 and
        # variance q given the previous layer, so its expectation is q itself
        "layer_variance": over_q if spec.norm == "batchnorm" else np.array(over_x.q),
    }
    fw_notes: list[str] = list(norm_notes)
    if replicates and spec.norm == "batchnorm":
        fw_notes.append("no finite-width line for batch norm: the Gram chain follows input pairs, and a batch couples all its samples")
    elif replicates:
        fw = predict_finite_width(spec, pairs=pairs_from(x, replicates, pc.seed), x0=x0, samples=pc.samples, seed=pc.seed)
        cols["sample_fraction_finite_width"] = np.array(fw.sample_fraction)
        cols["sample_fraction_finite_width_stderr"] = np.array(fw.sample_fraction_stderr)
        cols["network_variance_finite_width"] = np.array(fw.network_variance)
        cols["network_variance_finite_width_stderr"] = np.array(fw.network_variance_stderr)
        for stat in ("sample_variance", "mean_spread"):
            cols[f"{stat}_finite_width"] = np.array(getattr(fw, stat))
            cols[f"{stat}_finite_width_stderr"] = np.array(getattr(fw, f"{stat}_stderr"))
        fw_notes += [f"finite-width theory at width {spec.width}: {fw.route}, {fw.replicates} replicates"] + fw.notes
    relu_kaiming = spec.activation == "relu" and mf["sigma_b2"] == 0 and not (mf["residual"] or mf["layernorm"]) and spec.norm == "none"
    if relu_kaiming and all(abs(v - 2.0) < 1e-12 for v in mf["sigma_w2"][1:]):
        cols["sample_fraction_asymptote"] = np.where(layers >= 10, relu_sample_fraction_asymptote(layers), np.nan)
    if spec.activation == "relu" and mf["sigma_b2"] == 0 and not (mf["residual"] or mf["layernorm"]) and spec.norm == "none":
        spread = np.sqrt(relu_norm_fluctuation(spec.n_layers, spec.layer_widths))
        cols["layer_variance_lo"] = cols["layer_variance"] * (1 - spread)
        cols["layer_variance_hi"] = cols["layer_variance"] * (1 + spread)
    rows = [
        dict(layer=int(l), stat=stat, value=float(v))
        for stat, values in cols.items()
        for l, v in zip(layers, values)
        if math.isfinite(v)  # no row where a line is not defined (the asymptote before layer 10)
    ]
    notes = list(mf["notes"]) + [n for n in over_x.notes if not n.startswith(("q_star", "xi", "chi1"))] + fw_notes
    return pd.DataFrame(rows, columns=["layer", "stat", "value"]), notes
