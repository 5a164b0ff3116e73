"""phase-diagram's figure: the correlation depth scale over (sigma_w^2, sigma_b^2), the edge of
chaos, and the simulated points on top."""

from __future__ import annotations

import numpy as np
import pandas as pd

from initscope.report.charts import Chart, Panel, Trace


def phase_diagram(grid: pd.DataFrame, boundary: pd.DataFrame, sims: pd.DataFrame, *, activation: str, depth: int,
                  w_range: tuple[float, float], b_max: float) -> Chart:
    """Heatmap of log10 xi_c, the chi_1 = 1 line, and each simulated point coloured by its
    sample fraction at the last layer (its theory beside it, and in the hover)."""
    piv = grid.pivot(index="sigma_b2", columns="sigma_w2", values="xi_c")
    z = np.log10(np.clip(piv.to_numpy(dtype=float), 1e-2, 1e3))
    b = boundary.dropna()
    traces = [Trace("heatmap", list(piv.columns), list(piv.index), z=z, colorbar="log10 correlation depth scale xi_c", legend=False),
              Trace("line", b.sigma_w2, b.sigma_b2, "chi_1 = 1 (edge of chaos)", "white", width=2.5)]
    notes = ()
    if not sims.empty:
        fw = sims.get("theory_finite_width", sims.theory)
        traces.append(Trace("markers", sims.sigma_w2, sims.sigma_b2, "simulated", values=sims.value, colorscale="magma", zrange=(0, 1),
                            size=12, colorbar=f"simulated 1 - c at layer {depth} (theory)", legend=False,
                            hover=[f"simulated {v:.3f} ± {s:.3f}, mean-field theory {t:.3f}, finite width {f:.3f}"
                                   for v, s, t, f in zip(sims.value, sims.stderr, sims.theory, fw)]))
        notes = tuple((float(r.sigma_w2), float(r.sigma_b2), f"{r.value:.2f} ({r.theory:.2f})") for r in sims.itertuples())
    return Chart("phase_diagram", (Panel(tuple(traces), title=f"Order-to-chaos phase diagram, {activation}", x_title="sigma_w^2",
                                         y_title="sigma_b^2", notes=notes, note_color="white", x_range=w_range, y_range=(0, b_max)),),
                 size=(8.5, 5.4), height=480)
