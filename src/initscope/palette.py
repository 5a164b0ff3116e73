"""The one palette of every figure, static (matplotlib) and interactive (plotly): matplotlib's
tab10 in its order ("C0".."C9"). Named series (views, statistics, norms, variants) take fixed
entries so a series keeps its colour across figures and reports. No imports: experiments and
the report layer both read it without importing each other."""

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def color(i: int) -> str:
    """The i-th colour of :data:`PALETTE`, cycling."""
    return PALETTE[i % len(PALETTE)]
