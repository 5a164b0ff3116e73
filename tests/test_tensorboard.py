"""report.tensorboard: every histogram written is the table's values of one tag and layer, read
back through TensorBoard's own event reader."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorboard")


def test_histograms_round_trip_through_tensorboards_reader(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from initscope.report.tensorboard import write_tensorboard

    rng = np.random.default_rng(0)
    traces = pd.DataFrame([dict(view=v, site="pre", layer=l, value=x)
                           for v in ("network", "sample") for l in (1, 5) for x in rng.normal(0, l, 200)])
    traces.loc[0, "value"] = np.inf  # not finite: left out, never a NaN bucket
    stats = pd.DataFrame(dict(layer=[1], stat=["x"], value=[1.0]))  # stats are scalars per layer: not histograms
    n = write_tensorboard(tmp_path, {"traces": traces, "stats": stats}, "run")
    assert n == 4
    acc = EventAccumulator(str(tmp_path / "run"), size_guidance={"histograms": 0})
    acc.Reload()
    assert sorted(acc.Tags()["histograms"]) == ["traces/network/pre", "traces/sample/pre"]
    for tag, view in (("traces/network/pre", "network"), ("traces/sample/pre", "sample")):
        events = acc.Histograms(tag)
        assert [e.step for e in events] == [1, 5]
        for e in events:
            vals = traces[(traces.view == view) & (traces.layer == e.step)].value.to_numpy()
            vals = vals[np.isfinite(vals)]
            h = e.histogram_value
            assert h.num == len(vals)
            assert h.min == pytest.approx(vals.min()) and h.max == pytest.approx(vals.max())
            assert h.sum == pytest.approx(vals.sum(), rel=1e-9, abs=1e-9)
            assert h.sum_squares == pytest.approx((vals**2).sum(), rel=1e-9)
