"""Where a plain stack's signal leaves the floating-point range: the single-input chain of
q_l (the theory fold on one input), its post-activation moments, and the first layer at which
the largest activation or the variance itself passes each float type's largest number
(continued past float64's range in log space). Text 002's recursion; used by
variance-explosion."""

from __future__ import annotations

import math

import numpy as np

from initscope.activations import moments
from initscope.nets import MLPSpec
from initscope.theory import predict


def single_input_chain(spec: MLPSpec, x_sq: float) -> dict[str, np.ndarray]:
    """One input through ``spec`` (no bias), per layer: q_1 = sigma_w^2 E[x^2],
    q_{l+1} = sigma_w^2 E[phi(u)^2], u ~ N(0, q_l).

    ``x_sq`` is E[x^2] of the actual inputs. Returns the pre-activation second moment
    q_l (``pre_second_moment``, also the pre-activation variance: the mean is 0), the
    post-activation second moment E[phi(u)^2], mean E[phi(u)] and variance. Layers whose
    q_l no longer fits a float64 (past 1e300) are NaN: the recursion is then continued in
    log space by :func:`predicted_overflow`.
    """
    act, n = spec.act, spec.n_layers
    out = {k: np.full(n, np.nan) for k in ("pre_second_moment", "post_second_moment", "post_mean", "post_variance")}
    # q_l is the theory fold's (one input: a pair at distance 0; no bias); it stops past 1e300
    chain = predict(act, [float(v) for v in spec.sigma_w2()], 0.0, n, x_sq=x_sq, x_ab=x_sq).q
    for i, ql in enumerate(chain):
        if not math.isfinite(ql):
            break
        m = moments(act, ql)
        out["pre_second_moment"][i] = ql
        out["post_second_moment"][i], out["post_mean"][i], out["post_variance"][i] = m.second, m.mean, m.variance
    return out


def expected_max_abs_normal(n: int) -> float:
    """The largest |z| among n standard normal draws, to first order: sqrt(2 ln n) (the
    classical extreme-value scale; 5.3 for the 1.6 million activations of a default run)."""
    return math.sqrt(2 * math.log(max(n, 2)))


def activation_limit(dtype: str, n_values: int) -> float:
    """The pooled variance at which the largest of ``n_values`` activations reaches ``dtype``'s
    largest number: (finfo.max / sqrt(2 ln n))^2 (inf when that passes float64)."""
    with np.errstate(over="ignore"):
        return float((np.float64(np.finfo(np.dtype(dtype)).max) / expected_max_abs_normal(n_values)) ** 2)


def predicted_overflow(spec: MLPSpec, x_sq: float, n_values: int, max_layers: int = 5000) -> dict[str, dict[str, int | None]]:
    """The first layer at which, by the recursion, something leaves each float type.

    * ``activations``: the largest of ``n_values`` activations, sqrt(q_l) x
      :func:`expected_max_abs_normal` (n_values), exceeds ``finfo.max``; this is what
      ``first_nonfinite_layer`` measures (the matmul returns inf).
    * ``variance``: q_l itself exceeds ``finfo.max``: the text's ``x.var()`` computed in
      that type is no longer finite although every activation still is.

    Layers are counted past ``depth`` (up to ``max_layers``); None if never. The recursion
    runs in log space so that float64's limit, 1.8e308, can be passed:
    log q_{l+1} = log q_l + log(sigma_w^2 E[phi(u)^2] / q_l), the ratio taken at the last q
    below 1e282 (exact for positively homogeneous phi: linear, ReLU, leaky ReLU).
    """
    act = spec.act
    sw2_all = spec.sigma_w2()
    sw2 = sw2_all[-1]  # layers past depth repeat the last one
    log_z = math.log(expected_max_abs_normal(n_values))
    q = sw2_all[0] * x_sq
    log_q = math.log(q) if q > 0 else -math.inf
    ratio: float | None = None
    limits = {name: math.log(float(np.finfo(dt).max)) for name, dt in (("float32", np.float32), ("float64", np.float64))}
    out: dict[str, dict[str, int | None]] = {name: {"activations": None, "variance": None} for name in limits}
    for layer in range(1, max_layers + 1):
        for name, lim in limits.items():
            if out[name]["activations"] is None and 0.5 * log_q + log_z > lim:
                out[name]["activations"] = layer
            if out[name]["variance"] is None and log_q > lim:
                out[name]["variance"] = layer
        if all(v is not None for d in out.values() for v in d.values()) or log_q < -700:
            break
        if log_q < 650:  # q still fits a float64 with room: use the true map
            q = math.exp(log_q)
            sw = sw2_all[layer] if layer < len(sw2_all) else sw2
            ratio = sw * moments(act, q).second / q
        log_q += math.log(ratio) if ratio is not None and ratio > 0 else -math.inf
    return out
