"""The probe: push inputs through networks and reduce to statistics, per randomness view.

Text 000 names three sources of randomness for a pre-activation y_l:

* **network** — one fixed input x_0, M independent networks: P(y_l | x_0).
* **sample** — one fixed network, S inputs: P(y_l | W_1..W_l); per neuron the mean
  mu_i(w) over samples and the variance over samples (y = mu(w) + nu(w, x)),
  repeated over R networks for error bars.
* **layer** — one network, one input: the distribution over the units of a layer.

Every view streams: work is cut into chunks that fit ``memory_mb``, and per-unit
moments are merged exactly across chunks (:mod:`initscope.engine.moments`).

For weights whose rows are i.i.d. isotropic Gaussian, the network view uses an
exact shortcut: given the previous layer's output h of one network, a fresh
W h is N(0, sigma_w^2 |h|^2 I), so ``y = sigma_w |h| z + b`` costs O(N) per
network and layer instead of O(N^2). The full-matrix path draws every W and is
the reference the shortcut is tested against.

With batch norm (``spec.norm == "batchnorm"``) a unit is normalized over the samples that
pass with it, so every view needs a batch:

* **network** — each network sees x_0 together with ``batch_size - 1`` other inputs, drawn
  once and the same for every network; the reported value is x_0's row. For Gaussian rows
  the shortcut becomes W H^T = sqrt(v) Z R with R from the QR of the batch (O(out B^2)).
* **sample** and **layer** — the S inputs pass in consecutive batches of ``batch_size``
  (memory chunks hold whole batches: ``batch_size`` is never the chunk).

Every statistic is taken at the pre-activation y_l, before the next layer's norm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import torch

from initscope.data import get_input
from initscope.engine.moments import RunningMoments, abs_max, mean_stderr, network_variance, ratio_stderr
from initscope.errors import InitscopeError, unknown
from initscope.engine.forward import forward
from initscope.engine.samplers import EXACT_DISTRIBUTIONS, exact_linear, has_exact_law
from initscope.nets import TILE_ENTRIES, MLPSpec, combine, draw_bias, draw_tiles, post_activation
from initscope.repro import generator as make_generator
from initscope.resources import check_memory, check_operations

View = Literal["network", "sample", "layer"]
VIEWS: tuple[str, ...] = ("network", "sample", "layer")
SAMPLERS: tuple[str, ...] = ("auto", "exact", "full")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
SITES: tuple[str, ...] = ("pre", "post")

# Networks share one random stream per block of this many, so results do not
# depend on how the memory budget cuts the work into chunks.
RNG_BLOCK = 64

Progress = Callable[[str, float, float], None]  # (task, completed, total)


def _no_progress(task: str, completed: float, total: float) -> None:
    return None


@dataclass(frozen=True)
class ProbeConfig:
    """How to measure a network spec. Defaults are text 000's experiment."""

    spec: MLPSpec = field(default_factory=MLPSpec)
    input: str = "gaussian"  # text 000: Gaussian white noise
    networks: int = 1000  # M, network view: "randomly sample 1000 different networks"
    samples: int = 1000  # S, sample view: "generate 1000 different input samples"
    sample_networks: int = 8  # R networks for the sample view's error bars (the text used one)
    views: tuple[str, ...] = VIEWS
    trace_layers: tuple[int, ...] = (1, 5, 10, 50)  # the text's histogram layers
    trace_neurons: int = 3  # the text's "3 neurons" in the sample view
    sampler: str = "auto"  # auto: exact where the scheme allows it, else full matrices
    dtype: str = "float32"
    memory_mb: float = 1024.0  # working-memory budget for one chunk
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("networks", "samples", "sample_networks"):
            if getattr(self, name) < 1:
                raise InitscopeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if "network" in self.views and self.networks < 2:
            raise InitscopeError("networks must be >= 2 to measure a variance over networks")
        if "sample" in self.views and self.samples < 2:
            raise InitscopeError("samples must be >= 2 to measure a variance over samples")
        if self.spec.norm == "batchnorm" and self.samples % self.spec.batch_size == 1 and {"sample", "layer"} & set(self.views):
            raise InitscopeError(f"batch norm: {self.samples} samples in batches of {self.spec.batch_size} leave a batch of 1; "
                                 "change samples or batch_size")
        for v in self.views:
            if v not in VIEWS:
                raise unknown("view", v, VIEWS)
        if {"sample", "layer"} & set(self.views) and min(self.spec.layer_widths) < 2:
            raise InitscopeError(f"width must be >= 2: the sample and layer views take a variance over a layer's units, "
                                 f"got {min(self.spec.layer_widths)}")
        if self.sampler not in SAMPLERS:
            raise unknown("sampler", self.sampler, SAMPLERS)
        if self.dtype not in DTYPES:
            raise unknown("dtype", self.dtype, DTYPES)
        if not self.memory_mb > 0:
            raise InitscopeError(f"memory_mb must be > 0, got {self.memory_mb}")
        get_input(self.input)
        self._check_whole_weights()
        self._check_resources()

    def _check_resources(self) -> None:
        """Refuse, before any work, a config that cannot fit ``memory_mb`` or has no end."""
        spec, item = self.spec, torch.empty((), dtype=self.torch_dtype).element_size()
        widest = max(*spec.layer_widths, spec.input_dim)
        L = spec.n_layers
        needs = []
        batch = self.network_batch
        if "network" in self.views:
            needs.append((RNG_BLOCK * 8 * widest * batch * item,
                          f"one block of {RNG_BLOCK} networks at width {widest:,}" + (f", a batch of {batch} each" if batch > 1 else "")))
            needs.append((self.networks * L * 32, f"per-network sums of {self.networks:,} networks x {L:,} layers"))
        if {"sample", "layer"} & set(self.views):
            needs.append((self.samples * spec.input_dim * item, f"{self.samples:,} inputs of dimension {spec.input_dim:,}"))
            needs.append((8 * widest * item, f"one sample's activations at width {widest:,}"))
        # these are floors the chunking cannot cut (below them memory_mb is exceeded by one
        # block, one sample, the inputs): they must fit the machine
        for need, what in needs:
            check_memory(need, what)
        macs = sum(spec.weight_shape(l)[0] * spec.weight_shape(l)[1] for l in range(1, L + 1))
        ops = 0.0
        if "network" in self.views and (self.resolved_sampler() == "full" or batch > 1):
            ops += float(self.networks) * macs * batch
        if {"sample", "layer"} & set(self.views):
            ops += float(self.sample_networks) * self.samples * macs
        check_operations(ops, "use fewer networks, samples, layers or a smaller width")

    def _check_whole_weights(self) -> None:
        """Weights whose rows are not independent (orthogonal) cannot be drawn in row tiles:
        refuse, before any work, a matrix the memory budget cannot hold."""
        scheme = self.spec.scheme
        if scheme.row_separable:
            return
        item = torch.empty((), dtype=self.torch_dtype).element_size()
        biggest = max(range(1, self.spec.n_layers + 1), key=lambda l: math.prod(self.spec.weight_shape(l)))
        shape = self.spec.weight_shape(biggest)
        need = math.prod(shape) * item / 2**20
        full_network = "network" in self.views and self.resolved_sampler() == "full"
        if ({"sample", "layer"} & set(self.views) or full_network) and need * (RNG_BLOCK if full_network else 1) > self.memory_mb:
            raise InitscopeError(
                f"init {self.spec.init!r} draws every weight whole ({scheme.distribution} rows are not independent): "
                f"layer {biggest}'s {shape[0]}x{shape[1]} {self.dtype} matrix needs {need:,.4g} MB"
                f"{f' per network, {RNG_BLOCK} networks at once' if full_network else ''}, above memory_mb={self.memory_mb:g}; "
                f"raise memory_mb (to {2 * need * (RNG_BLOCK if full_network else 1):,.4g} or more), or probe the network view "
                "alone with its exact law, which needs no matrix (ProbeConfig(views=('network',)))"
            )

    @property
    def network_batch(self) -> int:
        """Inputs each network of the network view sees at once: x0 alone, or with batch norm
        x0 and ``batch_size - 1`` fixed others (the same for every network), normalized together."""
        return self.spec.batch_size if self.spec.norm == "batchnorm" else 1

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def layers_traced(self) -> tuple[int, ...]:
        return tuple(sorted({l for l in self.trace_layers if 1 <= l <= self.spec.n_layers}))

    def resolved_sampler(self) -> str:
        """'exact' or 'full' for the network view (with batch norm, exact for Gaussian rows only:
        W H for a batch H is then sqrt(v) Z R, with R from the QR of H)."""
        if self.spec.norm == "batchnorm" and self.spec.scheme.distribution != "normal":
            if self.sampler == "exact":
                raise InitscopeError(f"sampler 'exact' with norm=batchnorm needs normal weights; init {self.spec.init!r} is "
                                     f"{self.spec.scheme.distribution}; use sampler=full or auto")
            return "full"
        exact = has_exact_law(self.spec.scheme)
        if self.sampler == "exact" and not exact:
            raise InitscopeError(
                f"sampler 'exact' needs {', '.join(EXACT_DISTRIBUTIONS)} weights; init {self.spec.init!r} is "
                f"{self.spec.scheme.distribution}; use sampler=full or auto"
            )
        if self.sampler == "auto":
            return "exact" if exact else "full"
        return self.sampler


@dataclass
class ProbeResult:
    """Tidy tables out of one probe.

    ``stats``: one row per (view, site, layer, stat) with ``value``, ``stderr`` and
    ``n`` (the number of independent draws the error bar is over).
    ``traces``: raw values for histograms (view, site, layer, neuron, draw, value).
    ``first_nonfinite``: per view, the first layer whose activations overflowed.
    """

    stats: pd.DataFrame
    traces: pd.DataFrame
    first_nonfinite: dict[str, int | None]
    sampler: str
    timings: dict[str, float]

    def stat(self, name: str, site: str = "pre") -> pd.Series:
        """One statistic as a Series indexed by layer (NaN where not finite)."""
        rows = self.stats[(self.stats.stat == name) & (self.stats.site == site)]
        return rows.set_index("layer")["value"].sort_index()

    def __repr__(self) -> str:
        return f"ProbeResult({len(self.stats)} stats, sampler={self.sampler}, first_nonfinite={self.first_nonfinite})"

    def _repr_html_(self) -> str:
        """Jupyter: pre-activation statistics (columns) at a few layers (rows)."""
        pre = self.stats[self.stats.site == "pre"]
        wide = pre.pivot_table(index="layer", columns="stat", values="value")
        layers = sorted(set(wide.index) & {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, int(wide.index.max())})
        return f"<p>ProbeResult: sampler {self.sampler}, first non-finite layer {self.first_nonfinite}</p>" + wide.loc[layers].to_html(float_format=lambda v: f"{v:.4g}")


# --- helpers ----------------------------------------------------------------


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, view: str, site: str, layer: int, stat: str, value: float, stderr: float, n: int) -> None:
        if math.isfinite(value):  # no row where a statistic is undefined (past an overflow, 0/0): never a NaN value
            self.rows.append(dict(view=view, site=site, layer=layer, stat=stat, value=value, stderr=stderr, n=n))


def _finite(x: torch.Tensor) -> bool:
    return math.isfinite(abs_max(x))


# Above this magnitude float32 squares (and sums of them) may overflow although the
# values are finite; statistics of such layers are taken in float64.
_SAFE_FLOAT32 = 1e15


def _for_stats(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.float32 and abs_max(x) > _SAFE_FLOAT32:
        return x.to(torch.float64)
    return x


def _row_var_mean(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unbiased variance and mean over the last axis (two passes; faster than var_mean on CPU)."""
    m = x.mean(dim=-1, keepdim=True)
    d = x - m
    return (d * d).sum(dim=-1) / max(x.shape[-1] - 1, 1), m.squeeze(-1)


def _record_overflow(first: dict[str, int | None], view: str, layer: int) -> None:
    if first.get(view) is None or layer < first[view]:  # type: ignore[operator]
        first[view] = layer


def _chunks(total: int, size: int) -> list[range]:
    return [range(s, min(s + size, total)) for s in range(0, total, size)]


# --- network view ---------------------------------------------------------


def _weight_bytes(cfg: ProbeConfig, batch: int) -> int:
    """Bytes of the biggest weight tile drawn at once for ``batch`` networks."""
    spec, item = cfg.spec, torch.empty((), dtype=cfg.torch_dtype).element_size()
    separable = spec.scheme.row_separable
    biggest = 0
    for layer in range(1, spec.n_layers + 1):
        out, fan_in = spec.weight_shape(layer)
        whole = batch * out * fan_in
        biggest = max(biggest, whole if not separable else min(whole, max(TILE_ENTRIES, batch * fan_in)))
    return biggest * item


def _network_chunk_size(cfg: ProbeConfig, sampler: str) -> int:
    spec, item = cfg.spec, torch.empty((), dtype=cfg.torch_dtype).element_size()
    widest = max(*spec.layer_widths, spec.input_dim)
    per_net = item * 8 * widest * cfg.network_batch
    free = cfg.memory_mb * 2**20 - (2 * _weight_bytes(cfg, RNG_BLOCK) if sampler == "full" else 0)
    blocks = max(1, int(free // (per_net * RNG_BLOCK)))
    return blocks * RNG_BLOCK


def _network_layer(
    cfg: ProbeConfig, sampler: str, layer: int, h: torch.Tensor, h_norm: torch.Tensor | None, nets: range, device: torch.device,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pre-activation (before the skip connection) of ``layer`` for networks ``nets``.

    ``h``: ``[m, fan_in]`` inputs of this layer, one row per network; ``h_norm``: their
    2-norms ``[m, 1]`` (the exact laws need little else of h). Each block of
    ``RNG_BLOCK`` networks draws from its own streams: one call for the exact law, or
    the block's whole weights in row tiles (one batched multiply per tile).
    """
    spec, dtype = cfg.spec, cfg.torch_dtype
    out, fan_in = spec.weight_shape(layer)
    lin = torch.empty(len(nets), out, dtype=dtype, device=device)
    if sampler == "exact":
        blocks = [
            (slice(b.start - nets.start, b.stop - nets.start), make_generator(cfg.seed, "network-exact", b.start // RNG_BLOCK, layer, device=device))
            for b in _chunks_in_blocks(nets)
        ]
        exact_linear(spec.scheme, (out, fan_in), h, h_norm, blocks=blocks, out=lin)
        if spec.bias != "zero":
            for rows, g in blocks:
                lin[rows] += draw_bias(spec, layer, (rows.stop - rows.start,), generator=g, dtype=dtype, device=device)
        return lin
    for block in _chunks_in_blocks(nets):
        rows = slice(block.start - nets.start, block.stop - nets.start)
        index = block.start // RNG_BLOCK
        hb, lb = h[rows].unsqueeze(2), lin[rows]
        parts = draw_tiles(spec, layer, cfg.seed, "network-full", index, batch=len(block), dtype=dtype, device=device, workspace=workspace)
        for tile, part in parts:
            if tile is None:
                if spec.bias != "zero":
                    lb += part
            else:
                lb[:, tile.start : tile.stop] = torch.bmm(part, hb).squeeze(2)
    return lin


def _network_layer_batch(
    cfg: ProbeConfig, sampler: str, layer: int, h: torch.Tensor, nets: range, device: torch.device,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`_network_layer` for a batch per network: ``h`` ``[m, B, fan_in]`` -> ``[m, B, out]``.

    Exact for Gaussian rows: with H^T = Q R (QR of the batch), W H^T = (W Q) R and W Q has
    i.i.d. N(0, v) entries (Q has orthonormal columns), so W H^T = sqrt(v) Z R for
    Z ~ N(0, I) of shape [out, min(fan_in, B)]: O(out B^2) per network instead of O(out fan_in B).
    """
    spec, dtype = cfg.spec, cfg.torch_dtype
    out, fan_in = spec.weight_shape(layer)
    lin = torch.empty(len(nets), h.shape[1], out, dtype=dtype, device=device)
    if sampler == "exact":
        v = spec.scheme.second_moment((out, fan_in))
        for b in _chunks_in_blocks(nets):
            rows = slice(b.start - nets.start, b.stop - nets.start)
            g = make_generator(cfg.seed, "network-batch-exact", b.start // RNG_BLOCK, layer, device=device)
            r = torch.linalg.qr(h[rows].transpose(1, 2).to(torch.float64), mode="r").R.to(dtype)  # [mb, k, B]
            z = torch.randn(b.stop - b.start, out, r.shape[1], generator=g, dtype=dtype, device=device)
            lin[rows] = (math.sqrt(v) * torch.bmm(z, r)).transpose(1, 2)
            if spec.bias != "zero":
                lin[rows] += draw_bias(spec, layer, (b.stop - b.start,), generator=g, dtype=dtype, device=device).unsqueeze(1)
        return lin
    for block in _chunks_in_blocks(nets):
        rows = slice(block.start - nets.start, block.stop - nets.start)
        hb, lb = h[rows], lin[rows]
        parts = draw_tiles(spec, layer, cfg.seed, "network-full", block.start // RNG_BLOCK, batch=len(block), dtype=dtype,
                           device=device, workspace=workspace)
        for tile, part in parts:
            if tile is None:
                if spec.bias != "zero":
                    lb += part.unsqueeze(1)
            else:
                lb[:, :, tile.start : tile.stop] = torch.bmm(hb, part.transpose(1, 2))
    return lin


def _row_norm(h: torch.Tensor) -> torch.Tensor:
    """|h| per row without overflow: float32 sums of squares overflow long before |h| does."""
    scale = h.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    return (h / scale).norm(dim=1, keepdim=True) * scale


def _chunks_in_blocks(nets: range) -> list[range]:
    starts = range(nets.start, nets.stop, RNG_BLOCK)
    return [range(s, min(s + RNG_BLOCK, nets.stop)) for s in starts]


@dataclass
class _NetworkSums:
    """Per layer and site: per-unit sums over networks, per-network sums over units.

    Two passes over the activations give everything the network view reports:
    mean over units of the variance over networks is
    ``(sum_m |y_m|^2 / N - M mean_i ybar_i^2) / (M - 1)``.
    """

    unit_sum: torch.Tensor | None = None  # [N] float64, sum over networks
    row_sq: list[torch.Tensor] = field(default_factory=list)  # per network |y_m|^2 / N
    row_mean: list[torch.Tensor] = field(default_factory=list)  # per network mean over units
    count: int = 0

    def add(self, v: torch.Tensor, sq: torch.Tensor) -> None:
        col = v.sum(dim=0).to(torch.float64)
        self.unit_sum = col if self.unit_sum is None else self.unit_sum + col
        self.row_sq.append((sq / v.shape[1]).to(torch.float64).cpu())
        self.row_mean.append(v.mean(dim=1).to(torch.float64).cpu())
        self.count += v.shape[0]

    def network_variance(self) -> tuple[float, float]:
        return network_variance(torch.cat(self.row_sq), self.unit_sum / self.count)

    def network_mean(self) -> tuple[float, float]:
        r = torch.cat(self.row_mean)
        return float(r.mean()), float(r.std() / math.sqrt(self.count))


def _sq_norms(v: torch.Tensor, amax: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``v`` ready for statistics (float64 if float32 squares could overflow) and |v_m|^2 per row."""
    if v.dtype == torch.float32 and amax > _SAFE_FLOAT32:
        v = v.to(torch.float64)
    if v.dtype == torch.float64 and amax > 1e150:
        return v, _row_norm(v).squeeze(1) ** 2
    return v, (v * v).sum(dim=1)


def _probe_network_view(
    cfg: ProbeConfig, x0: torch.Tensor, rows: _Rows, traces: list[dict], first: dict, progress: Progress,
    batch: torch.Tensor | None = None,
) -> str:
    """The network view: ``networks`` networks at the fixed input ``x0`` (row 0 of ``batch``,
    whose other rows pass beside it through batch norm)."""
    spec, act, device = cfg.spec, cfg.spec.act, torch.device(cfg.device)
    sampler = cfg.resolved_sampler()
    L = spec.n_layers
    sums = {s: [_NetworkSums() for _ in range(L)] for s in SITES}
    traced = set(cfg.layers_traced)
    chunks = _chunks(cfg.networks, _network_chunk_size(cfg, sampler))
    item = torch.empty((), dtype=cfg.torch_dtype).element_size()
    workspace = torch.empty(_weight_bytes(cfg, RNG_BLOCK) // item, dtype=cfg.torch_dtype, device=device) if sampler == "full" else None
    done = 0
    for nets in chunks:
        m = len(nets)
        y_prev: torch.Tensor | None = None
        h, h_norm = x0.expand(m, -1), _row_norm(x0.unsqueeze(0)).expand(m, 1)
        hb = batch.expand(m, -1, -1) if batch is not None else None
        for layer in range(1, L + 1):
            if hb is not None:  # batch norm: the whole batch goes through; x0's row is measured
                yb = combine(_network_layer_batch(cfg, sampler, layer, hb, nets, device, workspace), y_prev, spec, layer)
                postb = post_activation(yb, spec, act)
                y, y_prev, hb = yb[:, 0], yb, postb
                if not (_finite(yb) and _finite(postb)):
                    _record_overflow(first, "network", layer)
                    break
                for site, val in (("pre", y), ("post", postb[:, 0])):
                    v, sq = _sq_norms(val, abs_max(val))
                    sums[site][layer - 1].add(v, sq)
                    if layer in traced:
                        for k, x in enumerate(val[:, 0].tolist()):
                            traces.append(dict(view="network", site=site, layer=layer, neuron=0, draw=nets.start + k, value=x))
                continue
            y = combine(_network_layer(cfg, sampler, layer, h, h_norm, nets, device, workspace), y_prev, spec, layer)
            amax = abs_max(y)
            if not math.isfinite(amax):
                _record_overflow(first, "network", layer)
                break
            post = post_activation(y, spec, act)
            amax_post = abs_max(post)
            if not math.isfinite(amax_post):  # e.g. a user's activation that returns NaN
                _record_overflow(first, "network", layer)
                break
            for site, val in (("pre", y), ("post", post)):
                v, sq = _sq_norms(val, amax if site == "pre" else amax_post)
                sums[site][layer - 1].add(v, sq)
                if site == "post":
                    h, h_norm = post, sq.sqrt().unsqueeze(1).to(post.dtype)
                if layer in traced:
                    for k, x in enumerate(val[:, 0].tolist()):
                        traces.append(dict(view="network", site=site, layer=layer, neuron=0, draw=nets.start + k, value=x))
            y_prev = y
        done += m
        progress("network view", done, cfg.networks)
    stop = first.get("network") or L + 1
    for site in SITES:
        for layer in range(1, L + 1):
            ok = layer < stop
            var, var_se = sums[site][layer - 1].network_variance() if ok else (math.nan, math.nan)
            rows.add("network", site, layer, "network_variance", var, var_se, cfg.networks)
            mean, mean_se = sums[site][layer - 1].network_mean() if ok else (math.nan, math.nan)
            rows.add("network", site, layer, "network_mean", mean, mean_se, cfg.networks)
    return sampler


# --- sample and layer views -----------------------------------------------


def _sample_chunk_size(cfg: ProbeConfig) -> int:
    """Samples per chunk: what fits beside the biggest weight tile (twice: drawn, multiplied).

    A budget smaller than that floor is exceeded by the tile, never by the activations."""
    spec, item = cfg.spec, torch.empty((), dtype=cfg.torch_dtype).element_size()
    budget = cfg.memory_mb * 2**20
    free = max(budget - 2 * _weight_bytes(cfg, 1), budget / 4)
    per_sample = 8 * max(max(spec.layer_widths), spec.input_dim) * item
    return max(1, int(free // per_sample))


def _probe_sample_views(
    cfg: ProbeConfig, x: torch.Tensor, rows: _Rows, traces: list[dict], first: dict, progress: Progress
) -> None:
    """Sample view (and layer view) over R networks, each ``build_mlp(spec, seed, r)``."""
    spec = cfg.spec
    L, R = spec.n_layers, cfg.sample_networks
    want_sample, want_layer = "sample" in cfg.views, "layer" in cfg.views
    traced = set(cfg.layers_traced)
    per_net: dict[str, list[list[dict]]] = {s: [[] for _ in range(L)] for s in SITES}
    size = _sample_chunk_size(cfg)
    if spec.norm == "batchnorm":  # a chunk holds whole batches: batch_size is the batch, never the memory chunk
        size = max(spec.batch_size, size - size % spec.batch_size)
    chunks = _chunks(cfg.samples, size)
    total = R * L * len(chunks)
    done = 0
    for r in range(R):
        unit = {s: [RunningMoments() for _ in range(L)] for s in SITES}
        layer_var = {s: [0.0] * L for s in SITES}
        layer_mean = {s: [0.0] * L for s in SITES}
        reached = L
        for chunk in chunks:
            for layer, y, post in forward(spec, x[chunk.start : chunk.stop], cfg.seed, "net", r, last=min(L, reached)):
                done += 1
                if not (_finite(y) and _finite(post)):
                    _record_overflow(first, "sample", layer)
                    if want_layer:
                        _record_overflow(first, "layer", layer)
                    reached = layer - 1
                    break
                for site, val in (("pre", _for_stats(y)), ("post", _for_stats(post))):
                    unit[site][layer - 1].update(val)
                    lv, lm = _row_var_mean(val)
                    layer_var[site][layer - 1] += float(lv.sum(dtype=torch.float64)) if val.shape[1] > 1 else math.nan
                    layer_mean[site][layer - 1] += float(lm.sum(dtype=torch.float64))
                    if r == 0 and layer in traced:
                        if want_sample:
                            for k in range(min(cfg.trace_neurons, val.shape[1])):
                                for s, v in enumerate(val[:, k].tolist(), start=chunk.start):
                                    traces.append(dict(view="sample", site=site, layer=layer, neuron=k, draw=s, value=v))
                        if want_layer and chunk.start == 0:
                            for k, v in enumerate(val[0].tolist()):
                                traces.append(dict(view="layer", site=site, layer=layer, neuron=k, draw=0, value=v))
            progress("sample view", done, total)
        for site in SITES:
            for layer in range(1, reached + 1):
                mom = unit[site][layer - 1]
                mu, var = mom.mean, mom.variance()
                sv = float(var.mean())
                ms = float(mu.var()) if mu.numel() > 1 else math.nan
                per_net[site][layer - 1].append(
                    dict(
                        sample_variance=sv,
                        mean_spread=ms,
                        sample_mean=float(mu.mean()),
                        layer_variance=layer_var[site][layer - 1] / cfg.samples,
                        layer_mean=layer_mean[site][layer - 1] / cfg.samples,
                    )
                )
    stop = min(v for v in (first.get("sample"), L + 1) if v is not None)
    for site in SITES:
        for layer in range(1, L + 1):
            recs = per_net[site][layer - 1] if layer < stop else []
            df = pd.DataFrame(recs)

            def mean_se(col: str) -> tuple[float, float]:
                return (math.nan, math.nan) if df.empty else mean_stderr(df[col].to_numpy())

            if want_sample:
                sv, sv_se = mean_se("sample_variance")
                ms, ms_se = mean_se("mean_spread")
                frac = sv / (sv + ms) if sv + ms > 0 else math.nan  # every pre-activation equal: undefined
                frac_se = ratio_stderr(df["sample_variance"].to_numpy(), df["mean_spread"].to_numpy()) if len(df) > 1 else math.nan
                mu, mu_se = mean_se("sample_mean")
                rows.add("sample", site, layer, "sample_variance", sv, sv_se, R)
                rows.add("sample", site, layer, "mean_spread", ms, ms_se, R)
                rows.add("sample", site, layer, "sample_fraction", frac, frac_se, R)
                rows.add("sample", site, layer, "sample_mean", mu, mu_se, R)
            if want_layer:
                lv, lv_se = mean_se("layer_variance")
                lm, lm_se = mean_se("layer_mean")
                rows.add("layer", site, layer, "layer_variance", lv, lv_se, R)
                rows.add("layer", site, layer, "layer_mean", lm, lm_se, R)


# --- entry point ----------------------------------------------------------


def _in_order(traces: pd.DataFrame) -> pd.DataFrame:
    """Traces in one order whatever the chunking: the network view's by layer, site and
    draw; then, per layer and site, the sample view's (by neuron, draw) and the layer view's."""
    key = pd.DataFrame({
        "a": (traces.view != "network").astype(int),
        "layer": traces.layer,
        "site": traces.site.map({s: i for i, s in enumerate(SITES)}),
        "b": (traces.view == "layer").astype(int),
        "neuron": traces.neuron,
        "draw": traces.draw,
    })
    order = key.sort_values(list(key.columns), kind="stable").index
    return traces.loc[order].reset_index(drop=True)


def probe(cfg: ProbeConfig, progress: Progress | None = None) -> ProbeResult:
    """Measure ``cfg.spec`` in every view of ``cfg.views``; see the module docstring."""
    progress = progress or _no_progress
    device, dtype = torch.device(cfg.device), cfg.torch_dtype
    spec, dist = cfg.spec, get_input(cfg.input)
    rows, traces = _Rows(), []
    first: dict[str, int | None] = {v: None for v in cfg.views}
    timings: dict[str, float] = {}
    sampler = cfg.resolved_sampler() if "network" in cfg.views else "none"
    with torch.no_grad():
        if "network" in cfg.views:
            t0 = time.perf_counter()
            x0 = dist.sample(1, spec.input_dim, generator=make_generator(cfg.seed, "x0", device=device), dtype=dtype, device=device)[0]
            batch = None
            if cfg.network_batch > 1:  # x0 and batch_size - 1 fixed others, shared by every network
                others = dist.sample(cfg.network_batch - 1, spec.input_dim, generator=make_generator(cfg.seed, "x0-batch", device=device),
                                     dtype=dtype, device=device)
                batch = torch.cat([x0.unsqueeze(0), others])
            _probe_network_view(cfg, x0, rows, traces, first, progress, batch)
            timings["network_view_s"] = time.perf_counter() - t0
        if "sample" in cfg.views or "layer" in cfg.views:
            t0 = time.perf_counter()
            x = dist.sample(cfg.samples, spec.input_dim, generator=make_generator(cfg.seed, "inputs", device=device), dtype=dtype, device=device)
            _probe_sample_views(cfg, x, rows, traces, first, progress)
            timings["sample_view_s"] = time.perf_counter() - t0
    stats = pd.DataFrame(rows.rows, columns=["view", "site", "layer", "stat", "value", "stderr", "n"])
    trace_df = _in_order(pd.DataFrame(traces, columns=["view", "site", "layer", "neuron", "draw", "value"]))
    return ProbeResult(stats, trace_df, first, sampler, timings)
