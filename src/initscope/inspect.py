"""``initscope inspect``: the at-init check for any ``torch.nn.Module``.

Forward hooks record, for every module call, the output's statistics in text 000's
decomposition (units: features of a Linear or sequence model, channels of a conv
layer; samples: the batch, and positions for conv and sequence models), dead units,
effective rank, each parameter's gradient norm for a standard loss, and the weights'
own scale against Kaiming and Xavier. With several draws of the factory, variance over
weight draws is separated from variance over samples. Verdicts name what is wrong and
a fix; ``lsuv`` and ``sample-variance`` apply one.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.geometry import effective_rank

FIXES = ("lsuv", "sample-variance")
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


# --- loading the user's code ---------------------------------------------------------------


def load_object(ref: str) -> Callable[..., Any]:
    """``'package.module:name'`` or ``'path/to/file.py:name'`` -> the object."""
    if ":" not in ref:
        raise InitscopeError(f"expected MODULE:NAME (e.g. mypkg.models:make_model), got {ref!r}")
    mod_name, attr = ref.rsplit(":", 1)
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise InitscopeError(f"{mod_name!r} is not a file")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(mod_name)
    except InitscopeError:
        raise
    except Exception as e:
        raise InitscopeError(f"could not import {mod_name!r}: {type(e).__name__}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InitscopeError(f"{mod_name!r} has no attribute {attr!r}") from None


def call_factory(factory: Callable[[], nn.Module]) -> nn.Module:
    try:
        model = factory()
    except Exception as e:
        raise InitscopeError(f"the factory raised {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise InitscopeError(f"the factory must return a torch.nn.Module, got {type(model).__name__}")
    return model


# --- hooks ----------------------------------------------------------------------------------


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        for o in out.values():
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def as_samples_by_units(t: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """``[samples, units]``: channels (dim 1) for conv-like outputs, the last dim otherwise."""
    t = t.detach()
    if t.dim() == 1:
        return t.reshape(-1, 1)
    if t.dim() == 2:
        return t
    channel_first = t.dim() >= 4 or isinstance(module, (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d))
    if channel_first:
        return t.movedim(1, -1).reshape(-1, t.shape[1])
    return t.reshape(-1, t.shape[-1])


@dataclass
class _Record:
    name: str
    type: str
    call: int
    output: torch.Tensor  # [samples, units], float64 on CPU
    branch_ratio: float = math.nan  # residual blocks: |output - input| / |input|


# Container modules named like residual blocks (torchvision's BasicBlock / Bottleneck, timm's
# Block, ...) whose output has the input's shape are measured as blocks: the branch-to-skip
# ratio |y - x| / |x| says whether the residual branch swamps the skip connection.
_BLOCK_NAMES = ("Block", "Residual", "Bottleneck")
BRANCH_RATIO_MAX = 10.0


@contextmanager
def _recording(model: nn.Module, max_samples: int):
    records: list[_Record] = []
    calls: dict[str, int] = {}
    handles = []

    def make(name: str, mod: nn.Module):
        def hook(m: nn.Module, inp: Any, out: Any) -> None:
            t = _first_tensor(out)
            if t is None or not t.is_floating_point():
                return
            k = calls.get(name, 0)
            calls[name] = k + 1
            h = as_samples_by_units(t, m).to(torch.float64).cpu()
            if h.shape[0] > max_samples:
                h = h[:: math.ceil(h.shape[0] / max_samples)]
            records.append(_Record(name if k == 0 else f"{name}#{k + 1}", type(m).__name__, k, h))

        return hook

    def make_block(name: str):
        def hook(m: nn.Module, inp: Any, out: Any) -> None:
            x, y = _first_tensor(inp), _first_tensor(out)
            if x is None or y is None or x.shape != y.shape or not y.is_floating_point():
                return
            k = calls.get(name, 0)
            calls[name] = k + 1
            ratio = float((y - x).detach().double().norm() / x.detach().double().norm().clamp_min(1e-30))
            h = as_samples_by_units(y, m).to(torch.float64).cpu()
            if h.shape[0] > max_samples:
                h = h[:: math.ceil(h.shape[0] / max_samples)]
            records.append(_Record(name if k == 0 else f"{name}#{k + 1}", type(m).__name__, k, h, ratio))

        return hook

    for name, mod in model.named_modules():
        if name and (len(list(mod.children())) == 0 or isinstance(mod, nn.MultiheadAttention)):
            handles.append(mod.register_forward_hook(make(name, mod)))
        elif name and any(b in type(mod).__name__ for b in _BLOCK_NAMES):
            handles.append(mod.register_forward_hook(make_block(name)))
    # nn.TransformerEncoderLayer / nn.MultiheadAttention have a fused fast path that skips
    # submodule hooks; it is switched off for the inspection, and grads stay enabled.
    mha = getattr(torch.backends, "mha", None)
    old = mha.get_fastpath_enabled() if mha is not None and hasattr(mha, "get_fastpath_enabled") else None
    if old is not None:
        mha.set_fastpath_enabled(False)
    try:
        yield records
    finally:
        for h in handles:
            h.remove()
        if old is not None:
            mha.set_fastpath_enabled(old)


# --- statistics -------------------------------------------------------------------------------


def output_stats(h: torch.Tensor) -> dict[str, float]:
    """Text 000's decomposition of one module output ``[samples, units]``."""
    n, u = h.shape
    mu = h.mean(dim=0)
    var_s = h.var(dim=0) if n > 1 else torch.zeros(u, dtype=h.dtype)
    sample_variance = float(var_s.mean())
    mean_spread = float(mu.var()) if u > 1 else 0.0
    total = sample_variance + mean_spread
    scale = float(h.abs().max()) if h.numel() else 0.0
    dead = float(((var_s <= 1e-12 * (1 + scale**2)) | (h.abs().amax(dim=0) == 0)).double().mean())
    return dict(
        mean=float(h.mean()),
        variance=float(h.var()) if h.numel() > 1 else 0.0,
        second_moment=float((h * h).mean()),
        sample_variance=sample_variance,
        mean_spread=mean_spread,
        sample_fraction=sample_variance / total if total > 0 else math.nan,
        dead_fraction=dead,
        effective_rank=effective_rank(h[: min(n, 2048)]) if u > 1 and n > 1 else math.nan,
        units=u,
        samples=n,
    )


def weight_stats(module: nn.Module) -> dict[str, Any]:
    """The weight's std against the Kaiming (sqrt(2/fan_in)) and Xavier values, and the closest init."""
    w = getattr(module, "weight", None)
    if not isinstance(module, _WEIGHTED) or w is None:
        return dict(weight_std=math.nan, kaiming_std=math.nan, xavier_std=math.nan, init_guess=None, distinct_units=None)
    from initscope.schemes import compute_fans
    from initscope.symmetry import distinct_units

    fan_in, fan_out = compute_fans(w.shape)
    std = float(w.detach().double().std())
    refs = {
        "kaiming": math.sqrt(2 / fan_in), "lecun": math.sqrt(1 / fan_in), "xavier": math.sqrt(2 / (fan_in + fan_out)),
        "torch-default": math.sqrt(1 / (3 * fan_in)), "normal(0,1)": 1.0,
    }
    guess = min(refs, key=lambda k: abs(math.log(max(std, 1e-30) / refs[k]))) if std > 0 else "constant"
    if std > 0 and abs(math.log(std / refs[guess])) > math.log(1.25):
        guess = f"none (std {std:.3g})"
    bias = getattr(module, "bias", None)
    return dict(weight_std=std, kaiming_std=refs["kaiming"], xavier_std=refs["xavier"], init_guess=guess,
                distinct_units=distinct_units(w.detach().reshape(w.shape[0], -1), bias.detach() if bias is not None else None))


def _standard_loss(out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """MSE against N(0, 1) targets of the output's shape: gradients at init, whatever the task."""
    target = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
    return 0.5 * ((out - target) ** 2).mean()


# --- the inspection ----------------------------------------------------------------------------


@dataclass
class InspectResult:
    layers: pd.DataFrame  # one row per module call
    verdict: str
    issues: list[str] = field(default_factory=list)
    draws: pd.DataFrame | None = None  # per module: variance over draws vs over samples

    def as_json(self) -> dict[str, Any]:
        cols = ["name", "type", "sample_variance", "mean_spread", "sample_fraction", "dead_fraction", "effective_rank",
                "grad_norm", "weight_std", "kaiming_std", "xavier_std", "init_guess", "second_moment", "branch_ratio", "network_variance",
                "network_variance_stderr", "verdict"]
        rows = self.layers.reindex(columns=cols).to_dict(orient="records")
        return {"layers": rows, "verdict": self.verdict, "issues": self.issues}


def _draw_inputs(input_shape: tuple[int, ...] | None, data: Callable[[], Any] | None, batch: int, seed: int) -> torch.Tensor:
    if data is not None:
        try:
            x = data()
        except Exception as e:
            raise InitscopeError(f"the data loader raised {type(e).__name__}: {e}") from None
        x = _first_tensor(x) if not isinstance(x, torch.Tensor) else x
        if x is None:
            raise InitscopeError("the data loader must return a tensor (or a tuple whose first item is one)")
        return x[:batch]
    if not input_shape:
        raise InitscopeError("give --input-shape (e.g. 3,32,32) or --data MODULE:LOADER")
    if any(d < 1 for d in input_shape):
        raise InitscopeError(f"--input-shape needs positive sizes, got {input_shape}")
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *input_shape, generator=g)


@contextmanager
def at_init_mode(model: nn.Module):
    """Eval mode (no dropout), except BatchNorm, which normalizes with batch statistics as it
    will in training; its running statistics are left untouched (momentum 0 while inspecting)."""
    from torch.nn.modules.batchnorm import _BatchNorm

    was = {m: m.training for m in model.modules()}
    model.eval()
    saved = []
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            tracked = m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None
            saved.append((m, m.momentum, tracked))
            m.momentum = 0.0
            m.train()
    try:
        yield model
    finally:
        for m, mom, tracked in saved:
            m.momentum = mom
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
        for m, t in was.items():
            m.training = t


def _forward(model: nn.Module, x: torch.Tensor) -> Any:
    try:
        return model(x)
    except Exception as e:
        raise InitscopeError(f"the model rejected an input of shape {tuple(x.shape)}: {type(e).__name__}: {str(e).splitlines()[0]}") from None


def record(model: nn.Module, x: torch.Tensor, *, seed: int = 0, max_samples: int = 8192) -> pd.DataFrame:
    """One forward and backward pass with hooks; a row per module call."""
    with at_init_mode(model), _recording(model, max_samples) as recs:
        out = _forward(model, x)
        out_t = _first_tensor(out)
        if out_t is not None and out_t.requires_grad:
            _standard_loss(out_t, torch.Generator().manual_seed(seed)).backward()
    mods = dict(model.named_modules())
    rows = []
    for r in recs:
        base = r.name.split("#")[0]
        mod = mods[base]
        grads = [p.grad for p in mod.parameters(recurse=False) if p.grad is not None]
        row = dict(name=r.name, type=r.type, **output_stats(r.output), **weight_stats(mod), branch_ratio=r.branch_ratio)
        row["grad_norm"] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads))) if grads else math.nan
        rows.append(row)
    model.zero_grad(set_to_none=True)
    # MultiheadAttention applies out_proj's weight functionally (no module call): its output is
    # recorded as the attention's own; anything else weighted that never fired was skipped.
    functional = {f"{n}.out_proj" for n, m in mods.items() if isinstance(m, nn.MultiheadAttention)}
    fired = {r.name.split("#")[0] for r in recs}
    missing = [n for n, m in mods.items() if n and isinstance(m, _WEIGHTED) and n not in fired and n not in functional]
    df = pd.DataFrame(rows)
    df.attrs["not_recorded"] = missing
    return df


def diagnose(layers: pd.DataFrame, input_second_moment: float) -> tuple[pd.Series, list[str]]:
    """Per-layer verdicts in plain words, and the overall list of issues with their fixes."""
    verdicts, issues = [], []
    ref = max(input_second_moment, 1e-12)
    after_pool = False
    for _, r in layers.iterrows():
        v = []
        # averaging over positions removes i.i.d. input noise by design; after a pooling layer a
        # small share of variance over samples says more about white-noise inputs than the init
        after_pool = after_pool or "Pool" in r.type
        m2 = r.second_moment
        if not math.isfinite(m2):
            v.append("non-finite output")
        elif m2 > 1e3 * ref:
            v.append(f"exploding: second moment {m2:.3g} (input {ref:.3g})")
        elif m2 < 1e-3 * ref and r.type in ("Linear", "Conv1d", "Conv2d", "Conv3d"):
            v.append(f"vanishing: second moment {m2:.3g} (input {ref:.3g})")
        if r.sample_fraction < 0.05 and r.samples > 1 and not after_pool:
            v.append(f"collapsing over samples: only {r.sample_fraction:.1%} of the variance depends on the input")
        if r.dead_fraction > 0.5:
            v.append(f"{r.dead_fraction:.0%} dead units")
        units = r.units
        if units >= 8 and r.samples >= 8 and math.isfinite(r.effective_rank) and r.effective_rank < 0.05 * min(units, r.samples) and r.sample_fraction >= 0.05:
            v.append(f"rank collapse: effective rank {r.effective_rank:.2g} of {units}")
        br = r.get("branch_ratio")
        if br is not None and pd.notna(br) and br > BRANCH_RATIO_MAX:
            v.append(f"residual branch swamps the skip: |branch| / |skip| = {br:.3g}")
        du = r.get("distinct_units")
        if du is not None and pd.notna(du) and units > 1 and int(du) < units:
            du = int(du)
            v.append(f"duplicate units: {du} distinct of {units} (symmetric init: SGD cannot separate them)")
        verdicts.append("; ".join(v))
    fixes = {
        "exploding": "rescale the init (initscope inspect --fix lsuv)",
        "vanishing": "rescale the init (initscope inspect --fix lsuv)",
        "collapsing over samples": "fewer layers, normalization, or --fix sample-variance",
        "dead units": "a leaky activation, smaller biases, or re-init",
        "rank collapse": "residual connections or normalization",
        "duplicate units": "a random init (e.g. kaiming-normal)",
        "residual branch swamps": "scale the branch down (zero-init its last norm, or 1/sqrt(depth))",
        "non-finite": "a smaller init scale",
    }
    for key, fix in fixes.items():
        hit = [n for n, v in zip(layers.name, verdicts) if key in v]
        if hit:
            issues.append(f"{key} in {len(hit)} layer(s), first {hit[0]}: {fix}")
    return pd.Series(verdicts, index=layers.index), issues


def inspect_model(
    factory: Callable[[], nn.Module],
    *,
    input_shape: tuple[int, ...] | None = None,
    data: Callable[[], Any] | None = None,
    batch: int = 256,
    draws: int = 1,
    seed: int = 0,
) -> InspectResult:
    """Inspect ``factory()``'s model at init; with ``draws`` > 1 the factory is called that many
    times (seeded) so variance over weight draws is reported beside variance over samples."""
    if batch < 2:
        raise InitscopeError(f"--batch must be >= 2, got {batch}")
    if draws < 1:
        raise InitscopeError(f"--draws must be >= 1, got {draws}")
    x = _draw_inputs(input_shape, data, batch, seed)
    torch.manual_seed(seed)
    model = call_factory(factory)
    layers = record(model, x, seed=seed)
    not_recorded = layers.attrs.get("not_recorded", [])
    if draws > 1:
        outs: dict[str, list[torch.Tensor]] = {}
        for d in range(draws):
            torch.manual_seed(seed + 1 + d)
            m = call_factory(factory)
            with torch.no_grad(), at_init_mode(m), _recording(m, 8192) as recs:
                _forward(m, x)
            for r in recs:
                outs.setdefault(r.name, []).append(r.output)
        net_var, net_se = [], []
        for name in layers.name:
            stack = outs.get(name)
            if not stack or len({t.shape for t in stack}) != 1:
                net_var.append(math.nan)
                net_se.append(math.nan)
                continue
            s = torch.stack(stack)  # [draws, samples, units]
            per = ((s - s.mean(dim=0)) ** 2).sum(dim=0).mean() / (draws - 1)
            per_draw = (s * s).mean(dim=(1, 2))
            net_var.append(float(per))
            net_se.append(float(per_draw.std() / math.sqrt(draws)))
        layers["network_variance"], layers["network_variance_stderr"] = net_var, net_se
    v, issues = diagnose(layers, float((x.double() ** 2).mean()))
    layers["verdict"] = v
    if not_recorded:
        issues.append(f"not recorded (a fused path skipped their hooks): {', '.join(not_recorded)}")
    verdict = "healthy: no layer explodes, vanishes, collapses over samples, dies or duplicates." if not issues else " | ".join(issues)
    return InspectResult(layers=layers, verdict=verdict, issues=issues)


# --- fixes -------------------------------------------------------------------------------------


def fix_model(model: nn.Module, x: torch.Tensor, method: str, *, tol: float = 0.05, max_iter: int = 10) -> tuple[nn.Module, int]:
    """Data-driven init in place. ``lsuv``: orthogonal weights, then rescale each Linear/Conv
    (in forward order) until its output variance over the batch is 1 (Mishkin & Matas 2016).
    ``sample-variance``: the same loop targeting the variance over samples (mean over units of
    each unit's variance over the batch), the quantity text 000 says Kaiming lets collapse.
    Returns the model and the number of forward passes used."""
    if method not in FIXES:
        raise InitscopeError(f"unknown fix {method!r}; choose from: {', '.join(FIXES)}")
    weighted = [(n, m) for n, m in model.named_modules() if isinstance(m, _WEIGHTED)]
    passes = 0
    with torch.no_grad():
        for _, m in weighted:
            if method == "lsuv":
                nn.init.orthogonal_(m.weight)
            if m.bias is not None:
                m.bias.zero_()
        for name, m in weighted:
            for _ in range(max_iter):
                captured: list[torch.Tensor] = []
                h = m.register_forward_hook(lambda mod, i, o: captured.append(as_samples_by_units(_first_tensor(o), mod)))
                with at_init_mode(model):
                    _forward(model, x)
                passes += 1
                h.remove()
                if not captured:
                    break
                out = captured[0].double()
                v = float(out.var()) if method == "lsuv" else float(out.var(dim=0).mean())
                if not math.isfinite(v) or v <= 0 or abs(v - 1) < tol:
                    break
                m.weight.mul_(1 / math.sqrt(v))
    return model, passes


# --- run directory -------------------------------------------------------------------------------


def _profile_figures(before: pd.DataFrame, after: pd.DataFrame | None):
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.28, wspace=0.2)
    pfig = go.Figure()
    for label, df, ls in (("before", before, "-"), ("after fix", after, "--")):
        if df is None:
            continue
        idx = np.arange(len(df))
        axes[0].semilogy(idx, df.sample_variance.clip(lower=1e-30), ls=ls, marker="o", ms=3, label=f"sample variance ({label})")
        axes[0].semilogy(idx, df.mean_spread.clip(lower=1e-30), ls=ls, marker="s", ms=3, label=f"mean spread ({label})")
        axes[1].plot(idx, df.sample_fraction, ls=ls, marker="o", ms=3, label=label)
        for stat in ("sample_variance", "mean_spread"):
            pfig.add_trace(go.Scatter(x=list(df.name), y=list(df[stat].clip(lower=1e-30)), mode="lines+markers", name=f"{stat} ({label})"))
    for ax in axes:
        ax.set_xticks(np.arange(len(before)))
        ax.set_xticklabels(before.name, rotation=70, fontsize=6)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_title("variance over samples and spread of per-unit means", fontsize=9)
    axes[1].set_title("share of variance over samples", fontsize=9)
    pfig.update_layout(yaxis_type="log", height=420, template="plotly_white", xaxis_title="module (forward order)")
    return fig, pfig


def run_inspect(
    model_ref: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    data_ref: str | None = None,
    batch: int = 256,
    draws: int = 1,
    fix: str | None = None,
    out: str | Path | None = None,
    force: bool = False,
    seed: int = 0,
) -> tuple[Path, dict[str, Any]]:
    """The ``initscope inspect`` command as a library call: inspect, optionally fix, write a run directory."""
    import time
    from datetime import datetime, timezone

    import matplotlib.pyplot as plt

    from initscope.experiments.base import Section
    from initscope.report.html import render
    from initscope.results import StagingDir, device_info, versions, write_meta

    if fix is not None and fix not in FIXES:
        raise InitscopeError(f"unknown fix {fix!r}; choose from: {', '.join(FIXES)}")
    factory = load_object(model_ref)
    data = load_object(data_ref) if data_ref else None
    out_path = Path(out) if out is not None else Path("runs") / f"inspect-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    staging = StagingDir(out_path, force)
    try:
        t0 = time.perf_counter()
        res = inspect_model(factory, input_shape=input_shape, data=data, batch=batch, draws=draws, seed=seed)
        summary = res.as_json()
        after = None
        if fix:
            torch.manual_seed(seed)
            model = call_factory(factory)
            x = _draw_inputs(input_shape, data, batch, seed)
            fixed, passes = fix_model(model, x, fix)
            torch.save(fixed.state_dict(), staging.path / "fixed_state_dict.pt")
            held_out = _draw_inputs(input_shape, data, batch, seed + 12345) if data is None else x
            after = record(fixed, held_out, seed=seed)
            v, issues = diagnose(after, float((held_out.double() ** 2).mean()))
            after["verdict"] = v
            summary["fix"] = {"method": fix, "forward_passes": passes, "state_dict": "fixed_state_dict.pt",
                              "layers_after": after.reindex(columns=["name", "sample_variance", "variance", "sample_fraction", "verdict"]).to_dict(orient="records"),
                              "issues_after": issues}
        elapsed = time.perf_counter() - t0
        res.layers.to_parquet(staging.path / "stats.parquet", index=False)
        if after is not None:
            after.to_parquet(staging.path / "stats_after_fix.parquet", index=False)
        (staging.path / "figures").mkdir()
        fig, pfig = _profile_figures(res.layers, after)
        fig.savefig(staging.path / "figures" / "profile.png", dpi=110)
        fig.savefig(staging.path / "figures" / "profile.svg")
        plt.close(fig)
        import plotly.graph_objects as go

        tbl = res.layers.reindex(columns=["name", "type", "sample_variance", "mean_spread", "sample_fraction", "dead_fraction", "effective_rank", "grad_norm", "weight_std", "init_guess", "verdict"])
        table = go.Figure(go.Table(header=dict(values=list(tbl.columns)), cells=dict(values=[tbl[c].map(lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)) for c in tbl.columns])))
        table.update_layout(height=min(120 + 28 * len(tbl), 900), margin=dict(l=5, r=5, t=5, b=5))
        sections = [Section("Diagnosis", res.verdict, (pfig, table))]
        if after is not None:
            sections.append(Section(f"After --fix {fix}", "; ".join(summary["fix"]["issues_after"]) or "no issue left on a held-out batch.", ()))
        meta = {
            "experiment": "inspect", "description": f"initscope inspect {model_ref}",
            "config": {"model": model_ref, "input_shape": list(input_shape) if input_shape else None, "data": data_ref,
                       "batch": batch, "draws": draws, "fix": fix},
            "seed": seed, "device": device_info("cpu"), "versions": versions(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "timings": {"run_s": elapsed}, "summary": summary,
        }
        (staging.path / "report.html").write_text(render(f"initscope inspect: {model_ref}", meta, sections, {"layers": res.layers}), encoding="utf-8")
        write_meta(staging.path, meta)
        return staging.commit(), summary
    except BaseException:
        staging.abort()
        raise
