"""backward-variance's figures: forward and backward variance through the widths per mode, and
where gradient independence fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from initscope.palette import color as palette_color
from initscope.report.charts import Chart, Panel, Trace

PANELS = (("forward", "network_variance", "forward: E y_l^2 over networks"),
          ("backward", "network_variance", "backward: E delta_l^2 over networks"),
          ("backward", "sample_fraction", "gradient: share of variance over samples"))


def panels(stats: pd.DataFrame, theory: pd.DataFrame, act: str, widths: Sequence[int], mode_colors: Mapping[str, str],
           titled: bool) -> list[Panel]:
    """Forward variance, backward variance and the gradient's sample fraction for one activation:
    simulated dots (error bars over networks) and mean-field dashes, one colour per mode."""
    out = []
    for j, (direction, stat, label) in enumerate(PANELS):
        traces = []
        for mode in dict.fromkeys(stats["mode"]):
            d = stats[(stats.activation == act) & (stats["mode"] == mode) & (stats.direction == direction) & (stats.stat == stat)].sort_values("layer")
            c = mode_colors.get(mode, "black")
            traces.append(Trace("markers", d.layer, d.value, f"{mode} (simulated)", c, err=d.stderr.fillna(0).to_numpy(), size=5, legend=j == 0))
            t = theory[(theory.activation == act) & (theory["mode"] == mode) & (theory.direction == direction) & (theory.stat == stat)]
            if len(t):
                traces.append(Trace("line", t.layer, t.value, f"{mode} (mean field)", c, dash="dash", legend=j == 0))
        out.append(Panel(tuple(traces), title=f"{act} — {label}" if titled else label, x_title="layer (width)",
                         y_log=stat == "network_variance",
                         xticks=tuple((float(l), f"{l}\n({w})") for l, w in enumerate(widths, start=1))))
    return out


def per_activation(stats: pd.DataFrame, theory: pd.DataFrame, act: str, widths: Sequence[int], mode_colors: Mapping[str, str]) -> Chart:
    return Chart(f"backward_variance_{act}", tuple(panels(stats, theory, act, widths, mode_colors, titled=False)), png=False, height=420)


def overview(stats: pd.DataFrame, theory: pd.DataFrame, widths: Sequence[int], mode_colors: Mapping[str, str], title: str) -> Chart:
    acts = list(dict.fromkeys(stats.activation))
    return Chart("backward_variance", tuple(p for act in acts for p in panels(stats, theory, act, widths, mode_colors, titled=True)),
                 cols=3, title=title, size=(15, 4.0 * len(acts)), html=False)


def independence(ind: pd.DataFrame) -> Chart:
    """Per deep narrow net (activation, width): the gradient's mean over networks, its typical
    network and its spread over networks, each against the mean-field line, by layer."""
    cols: dict[str, list[Trace]] = {"ratio": [], "typical_ratio": [], "norm_spread": []}
    for k, ((act, w), d) in enumerate(ind.groupby(["activation", "width"], sort=False)):
        d = d.sort_values("layer")
        for j, col in enumerate(cols):  # one colour per net in every panel
            cols[col].append(Trace("errorbar", d.layer, d[col], f"{act}, width {w}", palette_color(k), legend=j == 0))
    x_title = "layer (the gradient comes back from the last)"
    return Chart("gradient_independence", (
        Panel(tuple(cols["ratio"]), title="mean over networks / mean field", x_title=x_title, y_log=True),
        Panel(tuple(cols["typical_ratio"]), title="typical (median) network / mean field", x_title=x_title, y_log=True),
        Panel(tuple(cols["norm_spread"]), title="relative spread over networks", x_title=x_title),
    ), size=(15, 4.2), height=420)
