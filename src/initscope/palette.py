"""The one palette of every figure, static (matplotlib) and interactive (plotly): matplotlib's
tab10 in its order ("C0".."C9"). Named series (views, statistics, norms, variants) take fixed
entries so a series keeps its colour across figures and reports. No imports: experiments and
the report layer both read it without importing each other."""

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def color(i: int) -> str:
    """The i-th colour of :data:`PALETTE`, cycling."""
    return PALETTE[i % len(PALETTE)]


# viridis at 9 evenly spaced points (matplotlib's values), for a colour that runs with depth
_VIRIDIS = ((68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129), (92, 200, 99),
            (170, 220, 50), (253, 231, 37))


def sequential(t: float) -> str:
    """A colour on viridis for t in [0, 1] (dark: 0, yellow: 1), linearly between its anchors."""
    t = min(max(float(t), 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(_VIRIDIS[i], _VIRIDIS[i + 1]))
    return f"#{r:02x}{g:02x}{b:02x}"
