"""The ``initscope inspect`` run directory: ``run.json``, tidy tables (``stats.parquet`` per
module call, ``blocks``, ``branches``, ``attention``), figures and a report with the verdict on
top, the residual stream's depth profile (as in Brock et al. 2021's signal-propagation plots),
an attention-entropy heatmap and the per-module table, sortable and filterable."""

from __future__ import annotations

import html
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from initscope.errors import InitscopeError, unknown
from initscope.inspect.core import InspectResult, Task, inspect, inspect_model
from initscope.inspect.fixes import FIXES, auto_fix, fix_model
from initscope.inspect.load import call_factory, draw_batch, load_batch, load_object
from initscope.palette import PALETTE
from initscope.report.charts import Chart, Panel, Trace, to_matplotlib, to_plotly
from initscope.repro import derive_seed, generator

_PROFILE = (("stream_rms", "stream RMS", "log"), ("branch_ratio", "branch / stream RMS", "log"),
            ("sample_fraction", "share over samples", "linear"),
            ("token_similarity", "token similarity", "linear"))
_TABLE_COLUMNS = ("name", "type", "role", "second_moment", "sample_variance", "mean_spread", "sample_fraction", "dead_fraction",
                  "effective_rank", "grad_norm", "weight_std", "init_guess", "fan_source", "verdict")


def _profile_columns(blocks: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [p for p in _PROFILE if p[0] in blocks and blocks[p[0]].notna().any()]


def flat_range(values: list[float], log: bool) -> tuple[float, float] | None:
    """A y range around values that hardly vary (relative spread under 1e-3), so the axis does
    not zoom into rounding noise (a stream RMS of 0.00999999982 to 0.00999999983); None when
    they vary enough for the automatic range."""
    v = [x for x in values if math.isfinite(x) and (x > 0 or not log)]
    if not v:
        return None
    lo, hi = min(v), max(v)
    mid = max(abs(lo), abs(hi))
    if hi - lo > 1e-3 * mid:
        return None
    if mid == 0:
        return (-1.0, 1.0)
    return (lo / 2, hi * 2) if log else (lo - 0.1 * mid, hi + 0.1 * mid)


def stream_chart(blocks: pd.DataFrame, after: pd.DataFrame | None = None) -> Chart:
    """Depth profile of the residual stream, block by block (init solid, after a fix dashed)."""
    cols = _profile_columns(blocks)
    panels = []
    for col, title, scale in cols:
        traces = []
        for label, df, dash in (("init", blocks, "solid"), ("after fix", after, "dash")):
            if df is None or df.empty:
                continue
            series = [("attention_branch_ratio", "attention"), ("mlp_branch_ratio", "mlp")] if col == "branch_ratio" else [(col, "")]
            for j, (c, sub) in enumerate(series):
                if c not in df or df[c].isna().all():
                    continue
                name = " ".join(s for s in (sub or title, f"({label})" if after is not None else "") if s)
                traces.append(Trace("errorbar", list(range(len(df))), df[c].astype(float), name, PALETTE[j], dash=dash, size=3,
                                    legend=len(series) > 1 or after is not None,
                                    hover=[f"{b}: {v:.4g}" for b, v in zip(df.block, df[c].astype(float))]))
        ys = [float(y) for t in traces for y in t.y]
        panels.append(Panel(tuple(traces), title=title, x_title="block", y_log=scale == "log", y_range=flat_range(ys, scale == "log")))
    return Chart("stream", tuple(panels), size=(3.4 * len(cols), 3.3), height=360)


def attention_chart(att: pd.DataFrame) -> Chart:
    """Heatmap of attention entropy / its maximum, attention layer x head."""
    grid = att.pivot_table(index="layer", columns="head", values="entropy_ratio", sort=False)
    heat = Trace("heatmap", list(range(grid.shape[1])), list(range(grid.shape[0])), z=grid.values, zrange=(0, 1), colorbar="entropy / max")
    panel = Panel((heat,), title="attention entropy / log(keys)", x_title="head", y_title="attention layer (forward order)", y_reversed=True,
                  xticks=tuple((float(i), str(c)) for i, c in enumerate(grid.columns)))
    return Chart("attention", (panel,), size=(2.2 + 0.45 * grid.shape[1], 1.3 + 0.3 * grid.shape[0]), height=min(160 + 22 * grid.shape[0], 900))


def module_profile_chart(before: pd.DataFrame, after: pd.DataFrame | None) -> Chart:
    """Variance over samples and its share per module call (forward order), before and after a fix."""
    spread, share = [], []
    for label, df, dash in (("init", before, "solid"), ("after fix", after, "dash")):
        if df is None or df.empty:
            continue
        x = list(range(len(df)))
        for j, (stat, word) in enumerate((("sample_variance", "sample variance"), ("mean_spread", "mean spread"))):
            y = df[stat].clip(lower=1e-30)
            spread.append(Trace("errorbar", x, y, f"{word} ({label})", PALETTE[j], dash=dash, size=2.5,
                                hover=[f"{n}: {v:.4g}" for n, v in zip(df.name, y)]))
        share.append(Trace("errorbar", x, df.sample_fraction, label, PALETTE[0], dash=dash, size=2.5,
                           hover=[f"{n}: {v:.3g}" for n, v in zip(df.name, df.sample_fraction)]))
    x_title = "module call (forward order; names in the table and the hover)"
    return Chart("profile", (Panel(tuple(spread), title="variance over samples and spread of per-unit means", x_title=x_title, y_log=True),
                             Panel(tuple(share), title="share of variance over samples", x_title=x_title)), size=(12, 3.8), height=380)


def _cell(v: Any) -> tuple[str, str]:
    """(shown text, sort key) of one table cell."""
    if isinstance(v, float):
        return ("" if math.isnan(v) else f"{v:.4g}"), ("" if math.isnan(v) else repr(v))
    if isinstance(v, (bool,)) or v is None:
        return ("" if v is None else str(v)), ("" if v is None else str(v))
    if isinstance(v, int):
        return str(v), str(v)
    return str(v), str(v)


def sortable_table(df: pd.DataFrame, columns: tuple[str, ...] = _TABLE_COLUMNS, table_id: str = "modules") -> str:
    """Every module call with its full name: click a header to sort, type to filter, flagged rows red."""
    cols = [c for c in columns if c in df]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, r in df.iterrows():
        flagged = bool(r.get("verdict"))
        cells = []
        for c in cols:
            text, key = _cell(r[c])
            cls = " class='t'" if c in ("name", "type", "role", "init_guess", "fan_source", "verdict") else ""
            cells.append(f"<td{cls} data-k='{html.escape(key, quote=True)}'>{html.escape(text)}</td>")
        body.append(f"<tr{' class=flag' if flagged else ''}>{''.join(cells)}</tr>")
    script = (
        "<script>(function(){var t=document.getElementById('%s'),f=document.getElementById('%s-filter');"
        "f.addEventListener('input',function(){var q=f.value.toLowerCase();"
        "t.querySelectorAll('tbody tr').forEach(function(r){r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':''});});"
        "t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){var b=t.tBodies[0],"
        "rs=Array.from(b.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';rs.sort(function(x,y){"
        "var a=x.cells[i].dataset.k,c=y.cells[i].dataset.k,na=parseFloat(a),nc=parseFloat(c);"
        "var r=(!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c);return asc?r:-r;});rs.forEach(function(r){b.appendChild(r);});});});})();</script>"
    ) % (table_id, table_id)
    return (f"<input class='filter' id='{table_id}-filter' placeholder='filter modules (name, type, verdict)'>"
            f"<div class='tablewrap'><table class='sortable' id='{table_id}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>{script}")


def _issues_html(res: InspectResult) -> str:
    items = "".join(f"<li>{html.escape(i)}</li>" for i in res.issues)
    return f"<ul class='issues'>{items}</ul>" if items else ""


MAX_TRIAL_STEPS = 10_000


def _record_ops(factory: Any, data: Any, data_ref: str | None, input_shape: Any, vocab: Any, batch: Any, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``--ops``: a fresh model from the same seed, the same batch, one forward and backward under
    the op recorder (loss as the width check takes it: next-token, classes, or MSE)."""
    from initscope.inspect.load import call_factory, call_model, draw_batch, load_batch, output_tensor
    from initscope.inspect.ops import findings, record_ops
    from initscope.inspect.widths import batch_loss

    torch.manual_seed(seed)
    model = call_factory(factory)
    b = load_batch(data, batch, data_ref or "") if data is not None else draw_batch(model, input_shape=input_shape, vocab=vocab, batch=batch, seed=seed)
    model.train()

    def loss_of(out: Any) -> torch.Tensor:
        t = output_tensor(out)
        if t is None:
            raise InitscopeError("the model returned no floating tensor to take a loss of")
        return batch_loss(t, b, generator(seed, "labels"))[0]

    table = record_ops(model, lambda: call_model(model, b), loss_of)
    return table, findings(table)


def _ops_chart(ops: pd.DataFrame) -> Chart:
    """log2 RMS per op in execution order, forward and backward, float16 and float8 e4m3 bands;
    with four or more repeated blocks, only the first and last are drawn (the rest are folded)."""
    from initscope.inspect.ops import block_of

    blocks = [block_of(m) for m in ops.module]  # a list: pandas would turn None into a (truthy) NaN
    order = list(dict.fromkeys(b for b in blocks if b))
    shown = ops
    folded = ""
    if len(order) >= 4:
        keep = {order[0], order[-1]}
        shown = ops[[b is None or b in keep for b in blocks]]
        folded = f" (blocks {order[1]} .. {order[-2]} folded: {len(ops) - len(shown)} ops in the table)"
    x = list(range(len(shown)))
    ends = [0, max(len(shown) - 1, 1)]
    traces = [Trace("band", ends, [lo, lo], name, color, y2=[hi, hi], alpha=0.08)
              for lo, hi, name, color in ((-14, math.log2(65504), "float16 normal range", PALETTE[0]),
                                          (-6, math.log2(448), "float8 e4m3 normal range", PALETTE[3]))]
    labels = [f"{m}: {o}" for m, o in zip(shown.module, shown.op)]
    for j, (col, name) in enumerate((("fwd_rms", "forward RMS"), ("bwd_rms", "gradient RMS"))):
        if col in shown:
            y = [math.log2(v) if isinstance(v, float) and v > 0 and math.isfinite(v) else math.nan for v in shown[col]]
            traces.append(Trace("errorbar", x, y, name, PALETTE[j], size=3, hover=[f"{lab}<br>log2 {v:.2f}" for lab, v in zip(labels, y)]))
    return Chart("ops", (Panel(tuple(traces), x_title="operation, in execution order" + folded, y_title="log2 RMS"),), size=(12, 4.2), height=420)


def run_inspect(
    model_ref: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    data_ref: str | None = None,
    vocab: int | None = None,
    batch: int | None = None,
    draws: int = 1,
    fix: str | None = None,
    task: Task = "auto",
    trial_steps: int | None = None,
    ops: bool = False,
    out: str | Path | None = None,
    force: bool = False,
    seed: int = 0,
) -> tuple[Path, dict[str, Any]]:
    """The ``initscope inspect`` command as a library call: inspect, optionally fix and try a
    short training run, write a run directory."""
    from initscope.report.charts import Section
    from initscope.results import RunWriter, device_info, versions

    from initscope.repro import check_seed

    check_seed(seed)
    if fix is not None and fix not in FIXES:
        raise unknown("fix", fix, FIXES)
    if trial_steps is not None and not 1 <= trial_steps <= MAX_TRIAL_STEPS:
        raise InitscopeError(f"--trial must be in [1, {MAX_TRIAL_STEPS:,}] steps (a trial is a first signal, not a training run), got {trial_steps}")
    factory = load_object(model_ref)
    data = load_object(data_ref) if data_ref else None
    out_path = Path(out) if out is not None else Path("runs") / f"inspect-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    with RunWriter(out_path, force) as w:
        t0 = time.perf_counter()
        res = inspect_model(factory, input_shape=input_shape, data=data, data_ref=data_ref or "", vocab=vocab, batch=batch,
                            draws=draws, seed=seed, task=task)
        summary = res.as_json()
        after: InspectResult | None = None
        if fix:
            torch.manual_seed(seed)
            model = call_factory(factory)
            b = load_batch(data, batch, data_ref or "") if data is not None else draw_batch(model, input_shape=input_shape, vocab=vocab, batch=batch, seed=seed)
            plan = None
            before = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if fix == "auto":
                plan = auto_fix(model, b, seed=seed)
                fixed, passes = model, plan.forward_passes
            else:
                fixed, passes = fix_model(model, b, fix, seed=seed)
            torch.save(fixed.state_dict(), w.path / "fixed_state_dict.pt")
            held = b if data is not None else draw_batch(model, input_shape=input_shape, vocab=vocab, batch=batch, seed=derive_seed(seed, "held-out"))
            after = inspect(fixed, held, seed=seed, task=task)
            changed = [k for k, v in fixed.state_dict().items() if k not in before or not torch.equal(v, before[k])]
            del before
            summary["fix"] = {"method": fix, "forward_passes": passes, "state_dict": "fixed_state_dict.pt", "changed": changed,
                              "layers_after": after.layers.reindex(columns=["name", "sample_variance", "variance", "sample_fraction", "verdict"]).to_dict(orient="records"),
                              "issues_after": after.issues, "output_after": after.output.as_dict()}
            if plan is not None:
                summary["fix"].update(actions=plan.actions, config_changes=plan.config_changes)
        trial_fig = None
        if trial_steps:
            summary["trial"] = _trial(factory, data, data_ref, input_shape, vocab, batch, seed, res, trial_steps)
            trial_chart = _trial_chart(summary["trial"])
            trial_fig = to_plotly(trial_chart) if trial_chart is not None else None
        elapsed = time.perf_counter() - t0
        ops_table = None
        if ops:
            ops_table, ops_found = _record_ops(factory, data, data_ref, input_shape, vocab, batch, seed)
            summary["ops"] = ops_table.to_dict(orient="records")
            summary["formats"] = ops_found["formats"]
            summary["format_findings"] = ops_found["messages"]
            summary["gradient_first_to_last_block"] = ops_found.get("gradient_first_to_last_block")
        tables = {"stats": res.layers, "blocks": res.blocks, "branches": res.branches, "attention": res.attention}
        if ops_table is not None:
            tables["ops"] = ops_table
        w.tables(tables)
        if after is not None:
            w.tables({"stats_after_fix": after.layers})
        sections = []
        o = res.output
        out_line = (f"task {o.task}; loss at step 0 {o.loss:.4g} ({o.loss_source})"
                    + (f" against {o.chance_loss:.4g} = log({o.classes}) for uniform guesses" if math.isfinite(o.chance_loss) else "")
                    + f"; logit std {o.logit_std:.3g}.")
        headline = (f"{len(res.issues)} issue(s) stand in the way of training, in the order to fix them:" if res.issues else res.verdict)
        sections.append(Section("Verdict", headline, (), note=" ".join([out_line, *(n if n.endswith(".") else n + "." for n in res.notes)]),
                                html=_issues_html(res)))

        if not res.blocks.empty and _profile_columns(res.blocks):
            chart = stream_chart(res.blocks, after.blocks if after is not None else None)
            w.figure(to_matplotlib(chart), chart.name)
            pfig = to_plotly(chart)
            groups = ", ".join(sorted(set(res.blocks.group)))
            sections.append(Section("Residual stream, block by block", _stream_line(res), (pfig,),
                                    note=f"{len(res.blocks)} blocks in {groups}. Branch ratio: each residual branch's RMS against the "
                                         "stream it is added to (attention and MLP branches). Token similarity: mean cosine between "
                                         "the token vectors of one sequence (1 = every token the same vector)."))
        if not res.attention.empty:
            chart = attention_chart(res.attention)
            w.figure(to_matplotlib(chart), chart.name)
            pfig = to_plotly(chart)
            per = res.attention.groupby("layer", sort=False).entropy_ratio.mean()
            sections.append(Section("Attention entropy", f"lowest layer mean: {per.min():.1%} of the maximum log(keys) ({per.idxmin()}); "
                                    f"logit std up to {res.attention.logit_std.max():.3g}.", (pfig,),
                                    note="Per head: entropy of the attention rows over its maximum log(number of keys each query may see)."))
        chart = module_profile_chart(res.layers, after.layers if after is not None else None)
        w.figure(to_matplotlib(chart), chart.name)
        pfig = to_plotly(chart)
        sections.append(Section("Every module call", f"{len(res.layers)} module calls in forward order; flagged rows are red.", (pfig,),
                                html=sortable_table(res.layers)))
        if ops_table is not None and not ops_table.empty:
            fmsg = summary["format_findings"]
            sections.append(Section("Every operation, forward and backward, against the number formats",
                                    "; ".join(fmsg) + "." if fmsg else "no operation overflows float16 and none is mostly below float8 e4m3's smallest normal.",
                                    (to_plotly(_ops_chart(ops_table)),),
                                    note=f"{len(ops_table)} floating-point operations (module calls and functional ops, recorded by a "
                                         "TorchFunctionMode), RMS of each output and of the gradient flowing back through it, log2; "
                                         "bands: float16's normal range (2^-14 to 65504) and float8 e4m3's (2^-6 to 448). The table "
                                         "(ops.parquet, --json ops) has every format's underflow and overflow shares, raw and with "
                                         "per-tensor scaling."))
        if trial_fig is not None:
            tr = summary["trial"]
            sections.append(Section(f"Trial: {tr['steps']} AdamW steps on this batch", tr["verdict"], (trial_fig,),
                                    note="A second signal beside the step-0 verdicts: the model's own init against the same "
                                         "architecture after --fix auto (or re-initialized by its library when healthy), fitting the one batch."))
        if after is not None:
            fx = summary["fix"]
            what = "".join(f"<li>{html.escape(a)}</li>" for a in fx.get("actions", [])[:200])
            cfg = fx.get("config_changes") or {}
            note = ("transformers config: " + ", ".join(f"{k} = {v}" for k, v in cfg.items())) if cfg else ""
            sections.append(Section(f"After --fix {fix}", "; ".join(after.issues) or "no issue left on a held-out batch.", (),
                                    note=note, html=f"<details><summary>what the fix did</summary><ul>{what}</ul></details>" if what else ""))
        meta = {
            "experiment": "inspect", "description": f"initscope inspect {model_ref}",
            "config": {"model": model_ref, "input_shape": list(input_shape) if input_shape else None, "data": data_ref, "vocab": vocab,
                       "batch": batch, "draws": draws, "fix": fix, "task": task},
            "seed": seed, "device": device_info(res.device), "versions": _versions(versions),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "timings": {"run_s": elapsed}, "summary": summary,
        }
        w.report(f"initscope inspect: {model_ref}", meta, sections, tables)
        w.meta(meta)
    return w.out, summary


def _trial(factory: Any, data: Any, data_ref: str | None, input_shape: Any, vocab: Any, batch: Any, seed: int,
           res: InspectResult, steps: int) -> dict[str, Any]:
    """Train the model from its init and a known-good reference on the same batch; compare. The
    reference is its --fix auto twin when inspect found a defect, else the same architecture
    re-initialized by its library (``trial.library_reinit``)."""
    from initscope.inspect.trial import library_reinit, trial

    ref_name = "fixed" if res.issues else "library re-init"
    curves: dict[str, list[float]] = {}
    for which in ("init", ref_name):
        torch.manual_seed(seed)
        model = call_factory(factory)
        b = load_batch(data, batch, data_ref or "") if data is not None else draw_batch(model, input_shape=input_shape, vocab=vocab, batch=batch, seed=seed)
        if which == "fixed":
            auto_fix(model, b, seed=seed)
        elif which == "library re-init":
            model = library_reinit(model, seed)
        r = trial(model, b, res.output.task, steps=steps, seed=seed)
        if r is None:
            return {"steps": steps, "verdict": f"no trial: task {res.output.task!r} has no labels to fit", "curves": {}}
        curves[which] = r.losses
    first = curves["init"][0]
    chance = res.output.chance_loss
    # progress below chance, as benchmarks/verdicts.py measures it (a start far above chance is no progress)
    drop = {k: chance - v[-1] if v and all(map(math.isfinite, v)) else -math.inf for k, v in curves.items()}
    share = drop["init"] / drop[ref_name] if drop[ref_name] > 0 else math.nan
    label = "after --fix auto" if ref_name == "fixed" else "from its library's own init"
    reach = (f"the init gets {share:.0%} of the reference's progress below chance ({chance:.3g})" if share == share and share >= 0
             else f"the init is still above chance ({chance:.3g}) while the reference is below it" if share == share
             else "the reference makes no progress below chance either")
    hint = ""
    if share == share and ref_name == "fixed" and share >= 0.7:
        hint = (" (fitting one batch is not training: in benchmarks/verdicts.py six broken models fit their batch as well as "
                "their fixed twin, so this does not clear the defects)")
    elif share == share and ref_name != "fixed" and share < 0.3:
        hint = (" (slower than its library's init on this batch: a short trial calls small inits slow that go on to train, "
                "so this is a hint, not a verdict)")
    verdict = (f"from its init the loss goes {first:.3g} -> {curves['init'][-1]:.3g}; {label} "
               f"{curves[ref_name][0]:.3g} -> {curves[ref_name][-1]:.3g}: {reach}{hint}.")
    return {"steps": steps, "curves": curves, "reference": ref_name, "share": share if share == share else None, "verdict": verdict}


def _trial_chart(tr: dict[str, Any]) -> Chart | None:
    if not tr.get("curves"):
        return None
    traces = tuple(Trace("line", list(range(len(v))), v, {"init": "model's init", "fixed": "after --fix auto"}.get(k, k), PALETTE[j])
                   for j, (k, v) in enumerate(tr["curves"].items()))
    return Chart("trial", (Panel(traces, x_title="step", y_title="training loss", y_log=True),), size=(8, 3.6), height=320)


def _versions(base: Any) -> dict[str, str]:
    import sys

    v = base()
    tf = sys.modules.get("transformers")
    if tf is not None:
        v["transformers"] = tf.__version__
    return v


def _stream_line(res: InspectResult) -> str:
    b = res.blocks
    first, last = b.iloc[0], b.iloc[-1]
    parts = [f"stream RMS {first.stream_rms_in:.3g} into block 0, {last.stream_rms:.3g} out of the last"]
    if "branch_ratio" in b and b.branch_ratio.notna().any():
        parts.append(f"largest branch/stream ratio {b.branch_ratio.max():.3g} ({b.loc[b.branch_ratio.idxmax(), 'block']})")
    if "token_similarity" in b and b.token_similarity.notna().any():
        parts.append(f"token similarity {first.token_similarity:.3f} -> {last.token_similarity:.3f}")
    br = res.branches
    for col, what in (("normalized", "end in a norm, so their scale is its gain's"),
                      ("parameter_free", "hold no parameters, so their scale is the architecture's")):
        if col in br and br[col].any():
            own = br[br[col]]
            parts.append(f"{len(own)} of {len(br)} branches {what} (up to {own.ratio.max():.3g}x the stream, in "
                         "branches.parquet): not judged against the stream")
    return "; ".join(parts) + "."
