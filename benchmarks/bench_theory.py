"""Per-layer mean-field prediction for 1000 layers: time per activation against the targets, and
accuracy against an independent high-order quadrature.

    PYTHONPATH=src python benchmarks/bench_theory.py

Targets (issue 16): <= 50 ms for 1000 layers and a pair of inputs for every built-in activation,
<= 0.2 s for a user callable (tanh wrapped in a lambda: the generic path, no specialisation).
Times are the best of 5 after a warm-up (imports and cached nodes not counted), whole
``predict`` calls: the layer loop and the fixed-point scalars (q*, c*, chi_1, depth scales).

Accuracy: the same 1000-layer recursion recomputed here without initscope's theory code:
E[phi(u)^2] by scipy's adaptive ``quad`` and the gap (1/2) E[(phi(u) - phi(v))^2] on a
200 x 200 Gauss-Hermite grid in the coordinates t = u - v, s = (u + v)/2 (so a small gap is
resolved on its own scale). Printed: the largest relative error over the layers of q and of
1 - c. The benchmark's point (sigma_w^2 = 1.5, sigma_b^2 = 0.05) is chaotic for tanh and erf
(c* < 1); a second, ordered point (sigma_w^2 = 0.8, sigma_b^2 = 0.05: c -> 1) checks that the
gap keeps its digits as it shrinks.

neural-tangents (issue 16's peer), where it imports: the same 1000 layers through its kernel
functions (``stax.Dense`` + the activation, one jitted layer applied 1000 times, as its jitted
kernel is used; its numerical route ``ElementwiseNumerical`` for tanh), timed in this process
beside initscope, and the final layer's kernel compared. neural-tangents 0.6.5 needs an older
jax (0.4.35 works; jax 0.10 moved ``jax.core.Jaxpr``) and its package imports a
TensorFlow-only ``experimental`` subpackage that the kernels never use, so the benchmark puts an
empty module in its place instead of installing TensorFlow:

    pip install --no-deps --target /tmp/ntlib neural-tangents==0.6.5 jax==0.4.35 jaxlib==0.4.35 \
        ml_dtypes==0.5.1 frozendict opt_einsum
    PYTHONPATH=src:/tmp/ntlib python benchmarks/bench_theory.py
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.integrate import quad

from initscope.theory import predict

TARGET_MS = 50.0
TARGET_CALLABLE_MS = 200.0
DEPTH = 1000
FUNCS = {
    "tanh": torch.tanh, "gelu": torch.nn.functional.gelu, "erf": torch.erf,
    "silu": torch.nn.functional.silu, "elu": torch.nn.functional.elu, "relu": torch.relu, "selu": torch.selu,
}


def time_ms(act, repeats: int = 5, sigma_w2=1.5) -> float:
    predict(act, sigma_w2, 0.05, DEPTH)  # warm-up: imports, quadrature nodes
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict(act, sigma_w2, 0.05, DEPTH)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def reference(fn, sw: float, sb: float, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """q_l and gap_l for two independent unit-mean-square inputs, by independent quadrature.

    E[phi(u)^2]: scipy's adaptive quad. The gap, in t = u - v ~ N(0, 2 gap) and
    s = (u + v)/2 ~ N(0, q - gap/2) (independent for equal norms): Gauss-Legendre in |t| (200
    nodes on [0, 13] sd: for phi with a kink the inner integral is not smooth at t = 0), and in
    s on [-13, 13] split at the kinks s = -+t/2 (u = 0, v = 0), 3 x 80 nodes; below gap/q = 1e-10, where phi(s + t/2) - phi(s - t/2) would cancel, its
    linearization gap E[phi'(s)^2] (relative error O(gap/q)), phi' by autograd.
    """
    def phi(x: np.ndarray) -> np.ndarray:
        return fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()

    def dphi(x: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).requires_grad_(True)
        (g,) = torch.autograd.grad(fn(z).sum(), z)
        return g.numpy()

    gl, gw = np.polynomial.legendre.leggauss(80)
    zt, wt = np.polynomial.legendre.leggauss(200)  # |z_t| on [0, 13]: even in t, and not smooth at t = 0 for a kink
    zt, wt = (zt + 1) * 6.5, 2 * wt * 6.5 * np.exp(-0.5 * ((zt + 1) * 6.5) ** 2) / math.sqrt(2 * math.pi)

    def pieces(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = lo[:, None] + (hi - lo)[:, None] * (gl + 1) / 2
        return x, (hi - lo)[:, None] * gw / 2 * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    q, d = sw * 1.0 + sb, sw * 1.0  # layer 1: |x|^2 / N_0 = 1, <x_a, x_b> = 0
    qs, ds = [q], [d]
    for _ in range(depth - 1):
        sq = math.sqrt(q)
        f = lambda x: float(phi(np.array([sq * x]))[0]) ** 2 * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        m_q = sum(quad(f, a, b, epsabs=0, epsrel=1e-13, limit=200)[0] for a, b in ((-40, 0), (0, 40)))
        ss = math.sqrt(max(q - 0.5 * d, 0.0))
        if d / q < 1e-10:
            x, w = pieces(np.array([-13.0, 0.0]), np.array([0.0, 13.0]))
            m_d = d * float(np.sum(w * dphi(ss * x) ** 2))
        else:
            t = math.sqrt(2 * d) * zt
            k = np.abs(t) / (2 * ss) if ss > 0 else np.full_like(t, 13.0)
            k = np.minimum(k, 13.0)
            xs, ws = zip(*(pieces(lo, hi) for lo, hi in ((-13.0 + 0 * k, -k), (-k, k), (k, 13.0 + 0 * k))))
            x, w = np.concatenate(xs, axis=1), np.concatenate(ws, axis=1)
            s = ss * x
            diff = phi(s + t[:, None] / 2) - phi(s - t[:, None] / 2)
            m_d = 0.5 * float(wt @ np.sum(w * diff * diff, axis=1))
        q, d = sw * m_q + sb, sw * m_d
        qs.append(q)
        ds.append(d)
    return np.array(qs), np.array(ds)


def accuracy(name: str, sw: float, sb: float, depth: int = 200) -> tuple[float, float]:
    p = predict(name, sw, sb, depth)
    q_ref, d_ref = reference(FUNCS[name], sw, sb, depth)
    q = np.array(p.q)
    one_minus_c = np.array(p.sample_variance) / q  # gap / q: 1 - c without the rounding of 1 - c
    ref_1mc = d_ref / q_ref
    seen = ref_1mc > 1e-290  # both underflow together far down the ordered phase
    return float(np.max(np.abs(q / q_ref - 1))), float(np.max(np.abs(one_minus_c[seen] / ref_1mc[seen] - 1)))


def neural_tangents_comparison(sw: float = 1.5, sb: float = 0.05) -> None:
    import sys
    import types

    sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))  # TF-only, unused
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        from neural_tangents import stax
    except Exception as e:  # not installed, or a jax it does not support
        print(f"neural-tangents: not importable here ({type(e).__name__}: {str(e).splitlines()[0][:80]}); comparison skipped")
        return
    x = np.random.default_rng(0).standard_normal((2, 1000))
    x /= np.sqrt((x**2).mean(axis=1, keepdims=True))  # E x^2 = 1 for both inputs
    c0 = float(x[0] @ x[1] / 1000)
    print(f"neural-tangents, same process: {DEPTH} layers of Dense(sigma_w^2={sw}, sigma_b^2={sb}) + phi on two inputs (c0 = {c0:.3f});"
          " its time: one jitted layer applied in a loop (compile not counted); agreement: the last layer's post-activation kernel")
    for name, layer in (("relu", stax.Relu()), ("erf", stax.Erf()), ("gelu", stax.Gelu(approximate=False)),
                        ("tanh", stax.ElementwiseNumerical(jnp.tanh, deg=25))):
        _, _, kf = stax.serial(stax.Dense(1, W_std=math.sqrt(sw), b_std=math.sqrt(sb)), layer)
        kfj = jax.jit(kf)
        jax.block_until_ready(kfj(kf(x, None)).nngp)  # compile
        best_nt = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            k = kf(x, None)
            for _ in range(DEPTH):
                k = kfj(k)
            jax.block_until_ready(k.nngp)
            best_nt = min(best_nt, time.perf_counter() - t0)
        K = np.asarray(k.nngp)
        predict(name, sw, sb, DEPTH + 1, x_sq=1.0, x_ab=c0)  # warm-up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            p = predict(name, sw, sb, DEPTH + 1, x_sq=1.0, x_ab=c0)
            best = min(best, time.perf_counter() - t0)
        q, c = p.q[-1], p.c[-1]
        ours = np.array([(q - sb) / sw, (c * q - sb) / sw])  # layer DEPTH + 1's pre-activation, back through its Dense
        rel = np.abs(ours / np.array([K[0, 0], K[0, 1]]) - 1)
        print(f"  {name:5s} neural-tangents {best_nt * 1e3:7.1f} ms, initscope {best * 1e3:6.1f} ms (for {DEPTH + 1} layers); "
              f"K11 {K[0, 0]:.8f} vs {ours[0]:.8f}, K12 {K[0, 1]:.8f} vs {ours[1]:.8f}: relative {rel.max():.1e}")


def main() -> None:
    print(f"predict(act, sigma_w2=1.5, sigma_b2=0.05, depth={DEPTH}), best of 5; ratio = target / actual (> 1: within target)")
    for name in ("relu", "tanh", "gelu", "erf", "silu", "elu"):
        ms = time_ms(name)
        print(f"  {name:18s} {ms:7.1f} ms   ratio {TARGET_MS / ms:5.2f}x")
    generic = time_ms(lambda x: torch.tanh(x))
    print(f"  {'user callable tanh':18s} {generic:7.1f} ms   ratio {TARGET_CALLABLE_MS / generic:5.2f}x (target {TARGET_CALLABLE_MS:.0f} ms)")
    # the loop reuses a layer's evaluation when the state repeats bit for bit (a converged q in the
    # ordered phase, an exact fixed point); a sigma_w^2 that differs in every layer never repeats:
    varying = [1.5 + 0.1 * math.sin(layer) for layer in range(DEPTH)]
    print("no repeated state (sigma_w^2 = 1.5 + 0.1 sin(layer), different in every layer): every layer evaluates phi")
    for name in ("tanh", "gelu", "elu"):
        ms = time_ms(name, sigma_w2=varying)
        print(f"  {name:18s} {ms:7.1f} ms   ratio {TARGET_MS / ms:5.2f}x")
    print("accuracy over 200 layers against the independent reference: max relative error of q and of 1 - c")
    for sw, sb in ((1.5, 0.05), (0.8, 0.05)):
        for name in ("tanh", "gelu", "erf", "silu", "elu", "selu"):
            eq, ec = accuracy(name, sw, sb)
            print(f"  sigma_w2={sw:<4} {name:6s} q {eq:8.1e}   1-c {ec:8.1e}")
    neural_tangents_comparison()


if __name__ == "__main__":
    main()
