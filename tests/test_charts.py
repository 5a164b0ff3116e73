"""The chart declarations and their two backends: every trace kind reaches both, with the same data."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from initscope.report.charts import KINDS, Chart, Panel, Trace, to_matplotlib, to_plotly


def _all_kinds() -> Chart:
    x = np.arange(1, 6, dtype=float)
    traces = (
        Trace("line", x, x ** 2, "line", "#1f77b4", dash="dash"),
        Trace("markers", x, x, "markers", "#ff7f0e", err=0.1 * x),
        Trace("errorbar", x, 2 * x, "errorbar", "#2ca02c", err=0.2 * x),
        Trace("band", x, x, "band", "#d62728", y2=3 * x, alpha=0.2),
        Trace("hist", np.linspace(0, 1, 50), name="hist", bins=10),
    )
    heat = Trace("heatmap", [0.0, 1.0, 2.0], [0.0, 1.0], z=np.array([[1.0, 2.0, 3.0], [4.0, math.nan, 6.0]]), colorbar="z")
    cloud = Trace("scatter3d", [0.0, 1.0], [1.0, 0.0], z=[0.5, 0.5], values=[0.0, 1.0], colorscale="coolwarm")
    return Chart("all", (Panel(traces, title="lines", y_log=True, hlines=((2.0, "two"),), notes=((2.0, 100.0, "here"),)),
                         Panel((heat,), title="heat", y_reversed=True)), title="every kind"), Chart("cloud", (Panel((cloud,)),))


def test_every_kind_is_declared_and_drawn_by_both_backends():
    chart, cloud = _all_kinds()
    kinds = {t.kind for p in chart.panels + cloud.panels for t in p.traces}
    assert kinds == set(KINDS)
    fig = to_matplotlib(chart)
    try:
        ax, hx = fig.axes[0], fig.axes[1]
        assert ax.get_yscale() == "log" and ax.get_title() == "lines"
        assert hx.get_ylim()[0] > hx.get_ylim()[1]  # reversed: the first row on top
        assert any(t.get_text() == "here" for t in ax.texts)
    finally:
        plt.close(fig)
    p = to_plotly(chart)
    types = [d.type for d in p.data]
    assert types.count("scatter") == 4 and types.count("histogram") == 1 and types.count("heatmap") == 1
    line = next(d for d in p.data if d.name == "line")
    assert list(line.y) == [1.0, 4.0, 9.0, 16.0, 25.0] and line.line.dash == "dash"
    heat = next(d for d in p.data if d.type == "heatmap")
    assert heat.z[1][1] is None  # NaN becomes a gap, not a number
    note = next(a for a in p.layout.annotations if a.text == "here")
    assert note.y == pytest.approx(2.0)  # a note on a log axis is placed in log10 units
    assert p.layout.yaxis2.autorange == "reversed"
    assert to_plotly(cloud).data[0].type == "scatter3d"
    plt.close(to_matplotlib(cloud))


def test_frames_are_a_grid_in_the_png_and_a_slider_in_the_page():
    frames = tuple((str(layer), (Panel((Trace("hist", np.random.default_rng(layer).normal(size=100), name="a"),), title="view a"),
                                 Panel((Trace("hist", np.random.default_rng(layer + 9).normal(size=100), name="b"),), title="view b")))
                   for layer in (1, 5, 10))
    chart = Chart("hists", frames=frames, frame_label="layer", size=(9, 5))
    fig = to_matplotlib(chart)
    try:
        assert len(fig.axes) == 6 and [a.get_title() for a in fig.axes[:3]] == ["layer 1", "layer 5", "layer 10"]
    finally:
        plt.close(fig)
    p = to_plotly(chart)
    steps = p.layout.sliders[0].steps
    assert [s.label for s in steps] == ["1", "5", "10"]
    visible = [d.visible for d in p.data]
    assert visible == [True, True, False, False, False, False]  # the first frame shows, the others wait for the slider
    assert steps[2].args[0]["visible"] == [False, False, False, False, True, True]


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown trace kind 'pie'"):
        Trace("pie")


def test_a_long_depth_profile_legend_goes_below_the_axes_and_covers_no_curve():
    """The default run's variance_by_depth draws four statistics with their theory lines: 16 legend
    entries, which inside the axes covered the early layers' curves. Past 8 entries the legend sits
    below the axes: its box lies under the axes' box in the drawn figure."""
    import pandas as pd

    from initscope.report.builders import depth_profile

    stats = pd.DataFrame([dict(layer=l, stat=s, site="pre", value=1.0 + l, stderr=0.1) for s in ("a", "b", "c", "d", "e", "f", "g", "h", "i")
                          for l in range(1, 6)])
    few = depth_profile("few", stats[stats.stat.isin(["a", "b"])], ["a", "b"], title="t")
    many = depth_profile("many", stats, list("abcdefghi"), title="t")
    assert few.panels[0].legend_below == 0 and many.panels[0].legend_below > 0
    fig = to_matplotlib(many)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y1 < ax.get_window_extent().y0 and len(ax.get_legend().get_texts()) == 9
    plt.close(fig)
