"""``inspect --widths``: does each module's activation scale stay put as the model widens? (the
coordinate check of mup: Yang & Hu 2021, "Tensor Programs IV/V").

A factory taking ``width=`` builds the model at every width; the same batch goes through each;
every leaf module's output scale (mean |x| and RMS) is recorded at init and after each of a few
optimizer steps on one loss. Per module and step, the log2 scale is fitted against log2 width:
the slope is the change per doubling of the width (0: the scale does not depend on it; 0.5: it
grows like sqrt(width), as with weights whose variance does not shrink with fan-in). A module
is flagged when |slope| exceeds ``FLAG_SLOPE`` after the last step (at init alone is not the
point: a standard-parametrized model can be flat at init and blow up in its first Adam steps).
"""

from __future__ import annotations

import inspect as pyinspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from initscope.errors import InitscopeError, unknown
from initscope.inspect.load import Batch, call_model, draw_batch, load_batch, output_tensor
from initscope.inspect.structure import in_parametrization, is_leaf
from initscope.palette import color
from initscope.repro import derive_seed, generator

FLAG_SLOPE = 0.25  # per doubling: a 2^0.25 = 19% change per doubling compounds to 2x over four doublings
OPTIMIZERS = ("sgd", "adam")
MAX_WIDTHS, MAX_STEPS = 16, 1000


@dataclass
class WidthCheck:
    table: pd.DataFrame  # module, width, step, stat (mean_abs | rms), value
    slopes: pd.DataFrame  # module, step, stat, slope
    widths: list[int]
    steps: int
    optimizer: str
    lr: float
    loss: str

    @property
    def flagged(self) -> list[str]:
        last = self.slopes[(self.slopes.step == self.steps) & (self.slopes.stat == "rms")]
        return [m for m, s in zip(last.module, last.slope) if math.isfinite(s) and abs(s) > FLAG_SLOPE]

    def as_json(self) -> dict[str, Any]:
        modules: dict[str, Any] = {}
        for m in dict.fromkeys(self.table.module):
            t = self.table[self.table.module == m]
            entry: dict[str, Any] = {}
            for stat in ("mean_abs", "rms"):
                piv = t[t.stat == stat].pivot_table(index="step", columns="width", values="value")
                entry[stat] = [[_num(v) for v in piv.loc[s].reindex(self.widths)] for s in piv.index]
            sl = self.slopes[(self.slopes.module == m) & (self.slopes.stat == "rms")].sort_values("step")
            entry["slope"] = [_num(v) for v in sl.slope]
            modules[m] = entry
        return {"widths": self.widths, "steps": self.steps, "optimizer": self.optimizer, "lr": self.lr, "loss": self.loss,
                "modules": modules, "flagged": self.flagged, "flag_slope": FLAG_SLOPE}


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _build(factory: Callable[..., nn.Module], width: int) -> nn.Module:
    try:
        model = factory(width=width)
    except TypeError as e:
        if "width" in str(e):
            raise InitscopeError(f"--widths needs a factory that takes width= (got: {e})") from None
        raise InitscopeError(f"the factory raised TypeError: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's factory
        raise InitscopeError(f"the factory raised {type(e).__name__} at width {width}: {e}") from None
    if not isinstance(model, nn.Module):
        raise InitscopeError(f"the factory must return a torch.nn.Module, got {type(model).__name__}")
    return model


def batch_loss(out: torch.Tensor, batch: Batch, g: torch.Generator) -> tuple[torch.Tensor, str]:
    """Next-token cross-entropy for integer inputs and [batch, seq, vocab] logits; cross-entropy
    against fixed random classes for [batch, classes]; else MSE against fixed N(0, 1) targets."""
    from initscope.inspect.core import standard_loss

    ids = batch.main
    if ids is not None and not ids.is_floating_point() and out.dim() == 3 and ids.shape == out.shape[:2]:
        return standard_loss("lm", out, ids, g), "next-token cross-entropy"
    if out.dim() == 2 and out.shape[1] >= 2:
        labels = torch.randint(0, out.shape[1], (out.shape[0],), generator=g)
        return standard_loss("classification", out, labels, g), "cross-entropy against fixed random classes"
    return standard_loss("none", out, None, g), "MSE against fixed N(0, 1) targets"


def _scales(model: nn.Module, batch: Batch) -> dict[str, tuple[float, float]]:
    """(mean |x|, RMS) of every leaf module's first floating output on ``batch``."""
    from initscope.inspect.load import first_tensor

    seen: dict[str, tuple[float, float]] = {}
    hooks = []

    def hook(name: str) -> Callable[..., None]:
        def record(_m: nn.Module, _i: Any, out: Any) -> None:
            t = first_tensor(out, floating=True)
            if t is not None and name not in seen and t.numel():
                x = t.detach().float()
                seen[name] = (float(x.abs().mean()), float(x.pow(2).mean().sqrt()))
        return record

    for name, m in model.named_modules():
        if name and is_leaf(m) and not in_parametrization(name):
            hooks.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            call_model(model, batch)
    finally:
        for h in hooks:
            h.remove()
    return seen


def width_check(factory: Callable[..., nn.Module], widths: list[int], *, input_shape: tuple[int, ...] | None = None,
                vocab: int | None = None, batch: int | None = None, data: Callable[[], Any] | None = None, data_ref: str = "",
                steps: int = 3, optimizer: str = "adam", lr: float = 1e-3, seed: int = 0) -> WidthCheck:
    """Scale of every module at every width, at init and after each of ``steps`` optimizer steps."""
    if len(widths) < 2 or len(set(widths)) != len(widths) or min(widths) < 1 or len(widths) > MAX_WIDTHS:
        raise InitscopeError(f"--widths needs 2 to {MAX_WIDTHS} different positive integers, got {widths}")
    if optimizer not in OPTIMIZERS:
        raise unknown("optimizer", optimizer, OPTIMIZERS)
    if not 0 <= steps <= MAX_STEPS:
        raise InitscopeError(f"--steps must be in [0, {MAX_STEPS}], got {steps}")
    if not (lr > 0 and math.isfinite(lr)):
        raise InitscopeError(f"--lr must be a positive finite number, got {lr}")
    if "width" not in pyinspect.signature(factory).parameters and not any(
            p.kind == p.VAR_KEYWORD for p in pyinspect.signature(factory).parameters.values()):
        raise InitscopeError("--widths needs a factory that takes width= (def make_model(width): ...)")
    widths = sorted(widths)
    rows, loss_name = [], ""
    b: Batch | None = None
    for w in widths:
        torch.manual_seed(seed)
        model = _build(factory, w)
        if b is None:  # one batch for every width (the input does not depend on the width)
            b = load_batch(data, batch, data_ref) if data is not None else draw_batch(model, input_shape=input_shape, vocab=vocab,
                                                                                      batch=batch, seed=seed)
        opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
        g = generator(seed, "labels")
        for step in range(steps + 1):
            model.train()
            for name, (mean_abs, rms) in _scales(model, b).items():
                rows += [dict(module=name, width=w, step=step, stat="mean_abs", value=mean_abs),
                         dict(module=name, width=w, step=step, stat="rms", value=rms)]
            if step == steps:
                break
            out = output_tensor(call_model(model, b))
            if out is None:
                raise InitscopeError("the model returned no floating tensor to take a loss of")
            g.manual_seed(derive_seed(seed, "labels"))  # the same targets at every step and width
            loss, loss_name = batch_loss(out, b, g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    table = pd.DataFrame(rows, columns=["module", "width", "step", "stat", "value"])
    return WidthCheck(table, fit_slopes(table), widths, steps, optimizer, lr, loss_name or "none (--steps 0)")


def fit_slopes(table: pd.DataFrame) -> pd.DataFrame:
    """Least-squares slope of log2(scale) on log2(width), per module, step and statistic (NaN where
    a scale is 0 or not finite at some width, or a module is missing at one)."""
    out = []
    for (m, step, stat), d in table.groupby(["module", "step", "stat"], sort=False):
        x, y = np.log2(d.width.to_numpy(float)), d.value.to_numpy(float)
        ok = len(d) >= 2 and np.all(np.isfinite(y)) and np.all(y > 0) and d.width.nunique() == len(d)
        slope = float(np.polyfit(x, np.log2(y), 1)[0]) if ok else math.nan
        out.append(dict(module=m, step=step, stat=stat, slope=slope))
    return pd.DataFrame(out, columns=["module", "step", "stat", "slope"])


# --- the run directory --------------------------------------------------------------------------


def chart(check: WidthCheck) -> Any:
    """Scale (RMS) against width per module, one panel per step, each line labelled with its
    fitted slope per doubling; flagged modules drawn thick and first."""
    from initscope.report.charts import Chart, Panel, Trace

    steps = list(range(check.steps + 1))
    t = check.table[check.table.stat == "rms"]
    sl = check.slopes[check.slopes.stat == "rms"].set_index(["module", "step"]).slope
    flagged = set(check.flagged)
    modules = sorted(dict.fromkeys(t.module), key=lambda m: (m not in flagged, list(dict.fromkeys(t.module)).index(m)))
    panels = []
    for j, step in enumerate(steps):
        traces = []
        for k, m in enumerate(modules):
            d = t[(t.module == m) & (t.step == step)].sort_values("width")
            s = sl.get((m, step), math.nan)
            traces.append(Trace("errorbar", d.width, d.value, f"{m} ({s:+.2f})" if math.isfinite(s) else m, color(k), size=3,
                                width=2.2 if m in flagged else 1.0))
        panels.append(Panel(tuple(traces), title=f"step {step}" + (" (init)" if step == 0 else f" ({check.optimizer}, lr {check.lr:g})"),
                            x_title="width", x_log=True, y_log=bool((t[t.step == step].value > 0).any()),  # all zeros stay linear
                            y_title="RMS of the module's output" if j == 0 else ""))
    return Chart("widths", tuple(panels), size=(4.2 * len(steps), 4.4), height=480,
                 title=f"Width check: {len(flagged)} of {len(modules)} modules change scale with width "
                       f"(|slope| > {FLAG_SLOPE} per doubling after {check.steps} steps)")


def verdict(check: WidthCheck) -> str:
    f = check.flagged
    last = check.slopes[(check.slopes.step == check.steps) & (check.slopes.stat == "rms")].set_index("module").slope
    if not f:
        worst = last.abs().max() if len(last) else math.nan
        return (f"flat: no module's scale changes by more than {FLAG_SLOPE} (log2) per doubling of the width after "
                f"{check.steps} {check.optimizer} steps (largest |slope| {worst:.2f}).")
    shown = ", ".join(f"{m} ({last[m]:+.2f})" for m in f[:8]) + (f" and {len(f) - 8} more" if len(f) > 8 else "")
    return (f"{len(f)} module(s) change scale with width after {check.steps} {check.optimizer} steps (slope per doubling): {shown}. "
            "A slope of +0.5 is a scale growing like sqrt(width): an init or learning rate that does not shrink with the fan-in.")


def run_width_check(model_ref: str, widths: list[int], *, input_shape: tuple[int, ...] | None = None, data_ref: str | None = None,
                    vocab: int | None = None, batch: int | None = None, steps: int = 3, optimizer: str = "adam", lr: float = 1e-3,
                    out: Any = None, force: bool = False, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """``initscope inspect MODEL --widths ...`` as a library call: the check, then a run directory
    (stats.parquet: the scales, slopes.parquet, run.json, report.html, figures/width_check.png)."""
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    from initscope.report.charts import Section
    from initscope.inspect.load import load_object
    from initscope.repro import check_seed
    from initscope.results import RunWriter, device_info, versions

    check_seed(seed)
    factory = load_object(model_ref)
    data = load_object(data_ref) if data_ref else None
    out_path = Path(out) if out is not None else Path("runs") / f"widths-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    with RunWriter(out_path, force) as w:
        t0 = time.perf_counter()
        check = width_check(factory, widths, input_shape=input_shape, vocab=vocab, batch=batch, data=data, data_ref=data_ref or "",
                            steps=steps, optimizer=optimizer, lr=lr, seed=seed)
        summary = check.as_json()
        summary["verdict"] = verdict(check)
        w.tables({"stats": check.table, "slopes": check.slopes})
        from initscope.report.charts import to_matplotlib, to_plotly

        picture = chart(check)
        w.figure(to_matplotlib(picture), "width_check")
        pfig = to_plotly(picture)
        meta = {
            "experiment": "inspect --widths", "description": f"initscope inspect {model_ref} --widths {','.join(map(str, widths))}",
            "config": {"model": model_ref, "widths": widths, "steps": steps, "optimizer": optimizer, "lr": lr, "loss": check.loss,
                       "input_shape": list(input_shape) if input_shape else None, "data": data_ref, "batch": batch},
            "seed": seed, "device": device_info("cpu"), "versions": versions(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "timings": {"run_s": time.perf_counter() - t0},
            "summary": summary,
        }
        sections = [Section("Scale against width, per module", summary["verdict"], (pfig,),
                            note=f"RMS of each module's output on one batch, at init and after each {optimizer} step (lr {lr:g}, loss: "
                                 f"{check.loss}); the number beside each module is the fitted slope of log2 RMS on log2 width, "
                                 "per doubling, at that step. mup's coordinate check: with a width-aware parametrization every "
                                 "line is flat at every step.")]
        w.report(f"initscope inspect --widths: {model_ref}", meta, sections, {"stats": check.table, "slopes": check.slopes})
        w.meta(meta)
    return w.out, summary
