"""Finite-width theory: what a network of width N does at depth, where mean field drifts.

Mean-field theory replaces the Gram matrix of a layer's outputs by its expectation, which is
exact as N -> infinity. At finite width the Gram matrix fluctuates by O(1/sqrt N) per layer,
and the fluctuations compound with depth: what matters is depth / width. For text 000's
ReLU/Kaiming network the share of variance over samples at layer 50 is about 0.020 at width
1024 where mean field says 0.0126, and the gap passes 3x at width 256.

**The sampled Gram chain (exact in distribution for Gaussian weights).** Given layer l - 1,
the pre-activations of layer l for S inputs, (y_i(x_1), ..., y_i(x_S)), are i.i.d. over the
units i with the Gaussian law N(b_i, sigma_w^2 K_{l-1}) where K_{l-1} = H^T H / N is the
S x S Gram matrix of the previous layer's outputs H = phi(norm(y_{l-1})). So the state
(the N x S pre-activations, or just K when there are no skip connections) is a Markov chain
that can be advanced at O(N S) per layer: no weight matrix, no mean-field step. Running
many replicates of it (one replicate = one network and one draw of the inputs) and averaging
gives the expectation of any statistic of the layer at this width, with a standard error.

* For the sample fraction (text 000's quantity), S = 2 independent inputs drawn from the
  input law: per unit, E_w (y(x) - y(x'))^2 / 2 is the expected variance over samples and
  E_w y(x) y(x') the expected square of the unit's mean over samples; the chain averages
  both over units, networks and input pairs.
* For the network variance and the spread of the layer norm across networks, S = 1 at the
  fixed input x0: the same estimator the network view uses.

Biases are drawn as the network would draw them (:func:`initscope.nets.draw_bias`): a
Gaussian bias is random per network, a ``linspace`` or ``constant`` one is the same in
every network, which is why the per-unit mean is tracked, not assumed zero. Residual
connections and LayerNorm act on the tracked pre-activations exactly as in
:func:`initscope.nets.post_activation`. Non-Gaussian weights enter through their variance
(exact for the Gaussian only; the note says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from initscope.errors import InitscopeError
from initscope.engine.moments import network_variance
from initscope.nets import MLPSpec, combine, draw_bias, post_activation
from initscope.repro import generator as make_generator

ROUTE = "sampled Gram chain"


@dataclass(frozen=True)
class FiniteWidthPrediction:
    """Per-layer expectations at finite width (index l - 1 is layer l), each with its
    standard error over ``replicates`` replicates of the chain."""

    layers: list[int]
    width: list[int]
    sample_fraction: list[float]
    sample_fraction_stderr: list[float]
    sample_variance: list[float]
    sample_variance_stderr: list[float]
    mean_spread: list[float]
    mean_spread_stderr: list[float]
    network_variance: list[float]
    network_variance_stderr: list[float]
    norm_spread: list[float]  # std over networks of |y|^2 / N, relative to its mean
    replicates: int
    route: str = ROUTE
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def clean(v: list[float]) -> list[float | None]:
            return [float(x) if math.isfinite(x) else None for x in v]

        return {
            "route": self.route, "replicates": self.replicates, "layers": list(self.layers),
            "sample_fraction": clean(self.sample_fraction), "sample_fraction_stderr": clean(self.sample_fraction_stderr),
            "sample_variance": clean(self.sample_variance), "sample_variance_stderr": clean(self.sample_variance_stderr),
            "mean_spread": clean(self.mean_spread), "mean_spread_stderr": clean(self.mean_spread_stderr),
            "network_variance": clean(self.network_variance), "network_variance_stderr": clean(self.network_variance_stderr),
            "norm_spread": clean(self.norm_spread), "notes": list(self.notes),
        }


def _layer(h: torch.Tensor, out: int, v: float, g: torch.Generator) -> torch.Tensor:
    """W h for a fresh W [out, N_prev] of i.i.d. N(0, v) entries, per replicate: ``h`` is
    [M, S, N_prev] (S = 1 or 2 inputs); the result [M, S, out] has its ``out`` unit columns
    i.i.d. N(0, v h h^T), drawn through the 2 x 2 Cholesky factor."""
    m, s, _ = h.shape
    gram = v * torch.bmm(h, h.transpose(1, 2))  # [M, S, S]
    z = torch.randn(m, s, out, generator=g, dtype=h.dtype, device=h.device)
    a = gram[:, 0, 0].clamp_min(0).sqrt()[:, None]
    if s == 1:
        return z.mul_(a[:, :, None])
    l21 = torch.where(a > 0, gram[:, 0, 1, None] / a.clamp_min(torch.finfo(h.dtype).tiny), torch.zeros_like(a))
    # l22^2 = c - l21^2 cancels when the two inputs have become nearly the same (deep in the
    # ordered phase): in float32 that floors the sample fraction near 1e-7. Through the
    # difference d = h_b - h_a instead, (|h_a|^2 |d|^2 - (h_a . d)^2) / |h_a|^2, in float64 sums.
    f64 = torch.float64
    ha, d = h[:, 0], h[:, 1] - h[:, 0]
    aa, dd, ad = ((ha * ha).sum(1, dtype=f64), (d * d).sum(1, dtype=f64), (ha * d).sum(1, dtype=f64))
    l22 = (v * (aa * dd - ad * ad).clamp_min(0) / aa.clamp_min(torch.finfo(f64).tiny)).sqrt().to(h.dtype)[:, None]
    z[:, 1].mul_(l22).addcmul_(z[:, 0], l21)
    z[:, 0].mul_(a)
    return z


def _chain(spec: MLPSpec, x: torch.Tensor, seed: int, stream: str) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield the pre-activations [M, S, N_l] of layers 1..L for inputs ``x`` [M, S, N_0]."""
    act, scheme = spec.act, spec.scheme
    y: torch.Tensor | None = None
    h = x
    for layer in range(1, spec.n_layers + 1):
        g = make_generator(seed, stream, layer, device=x.device)
        out, fan_in = spec.weight_shape(layer)
        new = _layer(h, out, scheme.second_moment((out, fan_in)), g)
        if spec.bias != "zero":  # per network: the same bias for every input
            new += draw_bias(spec, layer, (x.shape[0],), generator=g, dtype=x.dtype, device=x.device)[:, None, :]
        y = combine(new, y, spec, layer)  # the one forward rule of nets: units are the last axis
        yield layer, y
        h = post_activation(y, spec, act)


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # past an overflow: NaN, cut off and noted, not a warning
def predict_finite_width(
    spec: MLPSpec,
    *,
    pairs: torch.Tensor,
    x0: torch.Tensor,
    samples: int | None = None,
    seed: int = 0,
) -> FiniteWidthPrediction:
    """Finite-width expectations for ``spec`` by the sampled Gram chain.

    ``pairs``: [M, 2, N_0] input pairs drawn independently from the input law (one per
    replicate); ``x0``: the network view's fixed input [N_0], replicated M times, or one
    input per replicate [M, N_0] (then the network variance is also averaged over inputs).
    ``samples``: the S of a sample view whose measured mean spread includes the noise of
    S-sample means (E Var_i(mu_hat_i) = Var_i(mu_i) + sample_variance / S); None for S -> inf.
    """
    if pairs.dim() != 3 or pairs.shape[1] != 2 or pairs.shape[2] != spec.input_dim:
        raise InitscopeError(f"pairs must have shape [replicates, 2, {spec.input_dim}], got {tuple(pairs.shape)}")
    m = pairs.shape[0]
    if m < 2:
        raise InitscopeError(f"the finite-width chain needs >= 2 replicates, got {m}")
    # float32 chains (torch draws float32 normals 3-4x faster than float64); every
    # statistic is reduced in float64
    dtype = torch.float32
    L = spec.n_layers
    sf, sf_se, sv_l, ms_l = [math.nan] * L, [math.nan] * L, [math.nan] * L, [math.nan] * L
    sv_se, ms_se = [math.nan] * L, [math.nan] * L
    nv, nv_se, spread = [math.nan] * L, [math.nan] * L, [math.nan] * L
    with torch.no_grad():
        xp = pairs.to(dtype)  # [M, 2, N_0]
        for layer, y in _chain(spec, xp, seed, "finite-width-pairs"):
            n = y.shape[2]
            ya, yb = y[:, 0], y[:, 1]
            f64 = torch.float64
            sv = ((ya - yb) ** 2).mean(dim=1, dtype=f64) / 2  # per replicate: E over x of Var over samples, per unit
            ms = (ya * yb).mean(dim=1, dtype=f64) - ya.mean(dim=1, dtype=f64) * yb.mean(dim=1, dtype=f64)
            ms = ms * n / (n - 1) if n > 1 else ms
            if samples:
                ms = ms + sv / samples
            s_mean, ms_mean = float(sv.mean()), float(ms.mean())
            if not (math.isfinite(s_mean) and math.isfinite(ms_mean)):  # an inf or NaN anywhere reaches the means
                break
            sv_l[layer - 1], ms_l[layer - 1] = s_mean, ms_mean
            sv_se[layer - 1], ms_se[layer - 1] = float(sv.std() / math.sqrt(m)), float(ms.std() / math.sqrt(m))
            tot = s_mean + ms_mean
            if tot == 0:  # every pre-activation the same number: the fraction is 0/0, left undefined
                continue
            sf[layer - 1] = s_mean / tot
            # delta method for a ratio of means: f = A / (A + B)
            infl = (sv * ms_mean - ms * s_mean) / (tot * tot)
            sf_se[layer - 1] = float(infl.std() / math.sqrt(m))
        x1 = (x0.to(dtype).reshape(1, 1, -1).expand(m, 1, -1) if x0.dim() == 1 else x0.to(dtype).reshape(m, 1, -1)).contiguous()
        for layer, y in _chain(spec, x1, seed, "finite-width-x0"):
            yy = y[:, 0]
            sq = (yy * yy).mean(dim=1, dtype=torch.float64)
            value, se = network_variance(sq, yy.mean(dim=0, dtype=torch.float64))  # the network view's estimator
            if not math.isfinite(value):
                break
            nv[layer - 1], nv_se[layer - 1] = value, se
            spread[layer - 1] = float(sq.std() / sq.mean()) if float(sq.mean()) > 0 else math.nan
    notes = []
    if spec.scheme.distribution != "normal":
        notes.append(f"{spec.init} weights enter the chain through their variance: exact for Gaussian weights only")
    return FiniteWidthPrediction(
        layers=list(range(1, L + 1)), width=list(spec.layer_widths), sample_fraction=sf, sample_fraction_stderr=sf_se,
        sample_variance=sv_l, sample_variance_stderr=sv_se, mean_spread=ms_l, mean_spread_stderr=ms_se, network_variance=nv, network_variance_stderr=nv_se, norm_spread=spread,
        replicates=m, notes=notes,
    )


def input_pairs(input: str, input_dim: int, replicates: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``replicates`` independent input pairs and one fixed input from the named input law."""
    from initscope.data import get_input

    dist = get_input(input)
    x = dist.sample(2 * replicates, input_dim, generator=make_generator(seed, "finite-width-inputs"), dtype=torch.float64)
    x0 = dist.sample(1, input_dim, generator=make_generator(seed, "x0"), dtype=torch.float64)[0]
    return x.view(replicates, 2, input_dim), x0


def pairs_from(x: torch.Tensor, replicates: int, seed: int) -> torch.Tensor:
    """``replicates`` pairs of distinct rows of ``x`` (the inputs a run actually drew)."""
    s = x.shape[0]
    if s < 2:
        raise InitscopeError("pairs need at least 2 inputs")
    g = make_generator(seed, "finite-width-pairs-of-inputs")
    a = torch.randint(0, s, (replicates,), generator=g)
    b = (a + torch.randint(1, s, (replicates,), generator=g)) % s
    return torch.stack([x[a], x[b]], dim=1)




DEFAULT_REPLICATES = 1000  # depth 50 at width 1024 in about 1.5 s; layer-50 sample fraction to ~2% (1 se)
# The chain holds [replicates, 2, width] floats a few times over: refuse what would not fit.
MAX_CHAIN_ENTRIES = 1 << 27


def setup_spec(
    activation: str = "relu", init: str = "kaiming-normal", depth: int = 50, *, width: int = 1024,
    input_dim: int | None = None, sigma_b: float = 0.0, sigma_w2: float | None = None,
) -> MLPSpec:
    """The :class:`MLPSpec` of a named theory setup (``initscope theory``'s options)."""
    return MLPSpec(
        input_dim=input_dim if input_dim is not None else width, width=width, depth=depth, activation=activation, init=init,
        weight_scale=sigma_w2, bias="normal" if sigma_b > 0 else "zero", sigma_b=sigma_b,
    )


def predict_setup_finite_width(
    spec: MLPSpec, *, input: str = "gaussian", replicates: int = DEFAULT_REPLICATES, seed: int = 0, samples: int | None = None
) -> FiniteWidthPrediction:
    """:func:`predict_finite_width` with ``replicates`` input pairs drawn from the named input law."""
    if replicates < 2:
        raise InitscopeError(f"replicates must be >= 2, got {replicates}")
    widest = max(*spec.layer_widths, spec.input_dim)
    if 2 * replicates * widest > MAX_CHAIN_ENTRIES:
        raise InitscopeError(
            f"replicates x width = {replicates:,} x {widest:,} is too big for the finite-width chain "
            f"(at most {MAX_CHAIN_ENTRIES // 2:,} in all); use fewer replicates"
        )
    pairs, _ = input_pairs(input, spec.input_dim, replicates, seed)
    # no particular x0 here: the network variance is averaged over inputs from the law too
    return predict_finite_width(spec, pairs=pairs, x0=pairs[:, 0], samples=samples, seed=seed)


# --- the analytic route: 1/N perturbation theory ------------------------------------

PERTURBATIVE = "1/N perturbation theory (moment closure of the Gram chain)"
# Past this relative spread of a layer's squared norm over networks the expansion in 1/N is
# no longer small: its first neglected terms are of the order of this spread squared.
RELIABLE_SPREAD = 0.3


@dataclass(frozen=True)
class PerturbativePrediction:
    """The analytic finite-width route, per layer (index l - 1 is layer l)."""

    layers: list[int]
    sample_fraction: list[float]
    network_variance: list[float]
    norm_spread: list[float]  # its estimate of the relative spread of |y|^2 / N over networks
    reliable_until: int | None  # last layer where norm_spread <= RELIABLE_SPREAD (None: none)
    route: str = PERTURBATIVE
    notes: list[str] = field(default_factory=list)


def _gram_map(act, sigma_w2: float, sigma_b2: float, s: np.ndarray) -> np.ndarray:
    """E[next state | state] for states s = (K_aa, K_bb, D) rows, D = (K_aa + K_bb)/2 - K_ab:
    the mean-field maps, with the gap map evaluated without cancellation."""
    from initscope.theory import _gap_values, mean_phi_squared

    qa = sigma_w2 * np.maximum(s[:, 0], 0.0) + sigma_b2
    qb = sigma_w2 * np.maximum(s[:, 1], 0.0) + sigma_b2
    gap = sigma_w2 * np.clip(s[:, 2], 0.0, None)
    gap = np.minimum(gap, 0.5 * (qa + qb) + np.sqrt(qa * qb))
    fa = np.array([mean_phi_squared(act, float(q)) for q in qa])
    fb = np.array([mean_phi_squared(act, float(q)) for q in qb])
    fd = _gap_values(act, qa, qb, gap)
    return np.stack([fa, fb, fd], axis=1)


def _gram_noise(act, sigma_w2: float, sigma_b2: float, s: np.ndarray) -> np.ndarray:
    """Cov of one unit's (phi(u)^2, phi(v)^2, (phi(u) - phi(v))^2 / 2) at state s: the
    next Gram state's covariance is this over the width (Gauss-Hermite in gap coordinates)."""
    from initscope.theory import _gap_nodes, _grid, _phi

    qa = np.array([sigma_w2 * max(s[0], 0.0) + sigma_b2])
    qb = np.array([sigma_w2 * max(s[1], 0.0) + sigma_b2])
    gap = np.array([sigma_w2 * max(s[2], 0.0)])
    u, v = _gap_nodes(qa, qb, gap)
    w = _grid()[2]
    pu, pv = _phi(act, u[0]), _phi(act, v[0])
    feats = np.stack([pu * pu, pv * pv, 0.5 * (pu - pv) ** 2])
    mean = feats @ w
    d = feats - mean[:, None]
    return (d * w) @ d.T


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def predict_perturbative(
    spec: MLPSpec,
    *,
    pairs: torch.Tensor,
    samples: int | None = None,
) -> PerturbativePrediction:
    """Finite-width expectations to first order in 1/N, for plain MLPs with Gaussian weights
    and i.i.d. Gaussian (or zero) biases.

    The Gram chain's state s = (K_aa, K_bb, D) has E[s' | s] = F(s) (the mean-field maps) and
    Cov[s' | s] = G(s) / N. Carrying the mean m and covariance C of the state to first order
    in 1/N — m' = E F(s), C' = Cov F(s) + G(m) / N, both over a Gaussian s ~ (m, C) by the
    unscented transform (exact for a quadratic F) — is the kernel's 1/N correction and the
    four-point vertex of Yaida (2020) and Roberts, Yaida & Hanin (2022) in state-space form.
    It is reliable while the spread it predicts stays small (``reliable_until``: relative
    spread of the layer norm <= 0.3, about depth/width <= 0.018 for ReLU at criticality).
    ``pairs`` [M, 2, N_0]: input pairs, whose Gram states give the layer-0 mean and covariance.
    """
    from initscope.activations import get_activation

    if spec.residual or spec.norm != "none":
        raise InitscopeError("the perturbative route covers plain MLPs (no residual, no LayerNorm); use the sampled chain")
    if spec.bias not in ("zero", "normal"):
        raise InitscopeError(f"the perturbative route needs i.i.d. Gaussian or zero biases, got {spec.bias!r}; use the sampled chain")
    act = get_activation(spec.act)
    x = pairs.to(torch.float64)
    n0 = x.shape[2]
    kaa, kbb = (x[:, 0] ** 2).sum(1) / n0, (x[:, 1] ** 2).sum(1) / n0
    kab = (x[:, 0] * x[:, 1]).sum(1) / n0
    s0 = torch.stack([kaa, kbb, (kaa + kbb) / 2 - kab], dim=1).numpy()
    m, c = s0.mean(axis=0), np.cov(s0.T)
    sb2 = spec.sigma_b**2 if spec.bias == "normal" else 0.0
    L = spec.n_layers
    frac, netvar, spread = [math.nan] * L, [math.nan] * L, [math.nan] * L
    reliable: int | None = None
    sw2s = spec.sigma_w2()
    for layer in range(1, L + 1):
        out = spec.weight_shape(layer)[0]
        sw2 = sw2s[layer - 1]
        sv = sw2 * m[2]
        ms = sw2 * ((m[0] + m[1]) / 2 - m[2]) + sb2 + (sv / samples if samples else 0.0)
        frac[layer - 1] = float(sv / (sv + ms)) if sv + ms > 0 else math.nan
        netvar[layer - 1] = float(sw2 * m[0] + sb2)
        # the pre-activation's squared norm over networks: its state part, plus one layer's own noise
        q = sw2 * m[0] + sb2
        rel = math.sqrt(max(sw2 * sw2 * c[0, 0] + 2 * q * q / out, 0.0)) / q if q > 0 else math.nan
        spread[layer - 1] = rel
        if rel <= RELIABLE_SPREAD:
            reliable = layer
        if layer == L:
            break
        # unscented transform of F over s ~ (m, C): 6 points m +- sqrt(3) columns of C^(1/2)
        evals, evecs = np.linalg.eigh((c + c.T) / 2)
        root = evecs * np.sqrt(np.clip(evals, 0.0, None))
        pts = np.concatenate([m + math.sqrt(3) * root.T, m - math.sqrt(3) * root.T])
        f = _gram_map(act, sw2, sb2, pts)
        m_next = f.mean(axis=0)
        c_next = (f - m_next).T @ (f - m_next) / len(pts)
        m, c = m_next, c_next + _gram_noise(act, sw2, sb2, m) / out
        if not np.all(np.isfinite(m)):
            break
    notes = [f"{PERTURBATIVE}: reliable to layer {reliable}" if reliable else f"{PERTURBATIVE}: not reliable at any layer here"]
    return PerturbativePrediction(list(range(1, L + 1)), frac, netvar, spread, reliable, notes=notes)




def setup_summary(activation: str, init: str, depth: int, *, width: int, input_dim: int | None = None, input: str = "gaussian",
                  sigma_b: float = 0.0, sigma_w2: float | None = None, replicates: int | None = None, seed: int = 0) -> tuple[Any, Any, dict]:
    """``initscope theory`` as a library call: the mean-field prediction of a setup, the
    finite-width one at ``width`` (sampled Gram chain; ``replicates=0`` skips it) and, for
    plain nets, the 1/N perturbative check, merged into the command's ``--json`` object.
    Returns (mean-field Prediction, finite-width prediction or None, the JSON dict)."""
    from initscope.repro import check_seed
    from initscope.theory import check_depth, predict_setup

    check_seed(seed)
    try:
        check_depth(depth)
    except InitscopeError as e:
        raise InitscopeError(f"--{e}") from None
    pred = predict_setup(
        activation, init, depth, width=width, input_dim=input_dim, sigma_b=sigma_b, sigma_w2=sigma_w2, input=input
    )
    d = pred.as_dict()
    replicates = DEFAULT_REPLICATES if replicates is None else replicates
    fw = None
    if replicates:
        spec = setup_spec(activation, init, depth, width=width, input_dim=input_dim, sigma_b=sigma_b, sigma_w2=sigma_w2)
        fw = predict_setup_finite_width(spec, input=input, replicates=replicates, seed=seed)
        f = fw.as_dict()
        d.update({
            "sample_fraction_finite_width": f["sample_fraction"],
            "sample_fraction_finite_width_stderr": f["sample_fraction_stderr"],
            "network_variance_finite_width": f["network_variance"],
            "network_variance_finite_width_stderr": f["network_variance_stderr"],
            "norm_spread_finite_width": f["norm_spread"],
            "finite_width": {"route": fw.route, "replicates": fw.replicates, "width": width, "seed": seed, "notes": fw.notes},
        })
        if spec.residual is False and spec.norm == "none":
            pt = predict_perturbative(spec, pairs=input_pairs(input, spec.input_dim, replicates, seed)[0])
            d.update({
                "sample_fraction_perturbative": [v if v == v else None for v in pt.sample_fraction],
                "perturbative": {"route": pt.route, "reliable_until": pt.reliable_until, "notes": pt.notes},
            })
    return pred, fw, d


__all__ = [
    "DEFAULT_REPLICATES", "ROUTE", "FiniteWidthPrediction", "input_pairs", "pairs_from", "predict_finite_width",
    "predict_setup_finite_width", "setup_spec", "PerturbativePrediction", "predict_perturbative",
    "setup_summary",
]
