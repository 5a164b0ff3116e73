"""One self-contained HTML report per run: plotly.js embedded once, nothing fetched."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from initscope.report.charts import Section
from initscope.results import jsonable

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.verdict{background:#f3f7fb;border-left:4px solid #1f77b4;padding:.6em 1em;margin:.6em 0}
.note{color:#555;font-size:.9em}
table.meta{border-collapse:collapse;font-size:.85em} table.meta td{border:1px solid #ddd;padding:2px 8px;vertical-align:top}
details{margin:.5em 0} code{background:#f4f4f4;padding:0 3px}
a.dl{display:inline-block;margin:.3em 1em .3em 0}
ul.issues li{margin:.3em 0}
table.sortable{border-collapse:collapse;font-size:.8em;width:100%} table.sortable th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
table.sortable td,table.sortable th{border:1px solid #ddd;padding:2px 6px;text-align:right} table.sortable td:first-child,table.sortable td.t{text-align:left}
table.sortable tr.flag td{background:#fdecea} .tablewrap{max-height:520px;overflow:auto} input.filter{margin:.4em 0;padding:3px;width:40%}
"""


def _kv_table(d: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td><code>{html.escape(json.dumps(jsonable(v)))}</code></td></tr>"
        for k, v in d.items()
    )
    return f"<table class='meta'>{rows}</table>"


def _header(meta: dict[str, Any]) -> str:
    """Config, seed, device, versions and timings at the top of every report."""
    dev = meta.get("device", {}) or {}
    ver = meta.get("versions", {}) or {}
    timings = meta.get("timings", {}) or {}
    line = " · ".join(
        html.escape(str(x))
        for x in (
            f"seed {meta.get('seed')}",
            f"device {dev.get('device')} {dev.get('cuda_name') or dev.get('cpu') or ''}".strip(),
            f"initscope {ver.get('initscope')}, torch {ver.get('torch')}",
            f"run {timings.get('run_s', float('nan')):.2f} s" if isinstance(timings.get("run_s"), (int, float)) else "",
            f"started {meta.get('started')}",
        )
        if x
    )
    return (
        f"<p class='note'>{line}</p>"
        "<details><summary>config</summary>" + _kv_table(meta.get("config", {})) + "</details>"
        "<details><summary>timings</summary>" + _kv_table(timings) + "</details>"
        "<details><summary>versions and device</summary>" + _kv_table({**ver, **{f"device.{k}": v for k, v in dev.items()}}) + "</details>"
    )


def _csv_link(name: str, df: pd.DataFrame) -> str:
    data = base64.b64encode(df.to_csv(index=False).encode()).decode()
    return f"<a class='dl' download='{html.escape(name)}.csv' href='data:text/csv;base64,{data}'>{html.escape(name)}.csv</a>"


def render(title: str, meta: dict[str, Any], sections: Sequence[Section], tables: dict[str, pd.DataFrame]) -> str:
    """The full HTML page as a string."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(str(meta.get('description', '')))}</p>",
        _header(meta),
    ]
    for i, s in enumerate(sections):
        parts.append(f"<h2>{html.escape(s.title)}</h2><div class='verdict'>{html.escape(s.verdict)}</div>")
        if s.note:
            parts.append(f"<p class='note'>{html.escape(s.note)}</p>")
        for j, fig in enumerate(s.figures):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{i}-{j}", config={"displaylogo": False}))
        if s.html:
            parts.append(s.html)
    parts.append("<h2>Data</h2><p>Tidy tables of this run, as CSV:</p><p>")
    parts.extend(_csv_link(name, df) for name, df in tables.items() if len(df) <= 200_000)
    parts.append("</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
