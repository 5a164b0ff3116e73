"""inspect --widths (mup's coordinate check): flat for a width-aware parametrization, sloped for
N(0, 1) weights, and the standard parametrization's readout growing under Adam."""

import json
import math

import pytest
import torch
from torch import nn

from conftest import assert_refused
from initscope.errors import InitscopeError
from initscope.inspect.widths import fit_slopes, width_check


class ScaledLinear(nn.Module):
    """y = W x / fan_in with W ~ N(0, fan_in): the effective weight has variance 1 / fan_in at init,
    and an Adam step (about lr per entry of W) moves y by about lr at every width."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.fan_in = fan_in
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) * math.sqrt(fan_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T / self.fan_in


def width_aware(width):
    return nn.Sequential(ScaledLinear(16, width), nn.Tanh(), ScaledLinear(width, width), nn.Tanh(), ScaledLinear(width, 4))


def standard(width):  # torch's default init: flat at init, its readout grows under Adam
    return nn.Sequential(nn.Linear(16, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 4))


def unit_weights(width):  # N(0, 1) weights whatever the fan-in
    m = standard(width)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.normal_()
    return m


WIDTHS = [64, 128, 256, 512]


def test_width_aware_model_is_flat_at_every_step():
    c = width_check(width_aware, WIDTHS, input_shape=(16,), batch=64, steps=3, optimizer="adam", lr=1e-2)
    assert c.flagged == []
    # a finite batch's noise: the 4-unit readout over 64 samples gives max |slope| 0.02-0.13
    # over seeds 0-4 (each width draws its own weights); unscaled weights give 0.5 (below)
    assert c.slopes.slope.abs().max() < 0.2


def test_unscaled_weights_grow_like_sqrt_width():
    c = width_check(unit_weights, WIDTHS, input_shape=(16,), batch=64, steps=3)
    at_init = c.slopes[(c.slopes.step == 0) & (c.slopes.stat == "rms")].set_index("module").slope
    assert at_init["2"] == pytest.approx(0.5, abs=0.08) and at_init["4"] == pytest.approx(0.5, abs=0.1)  # the two fan-in = width layers
    assert at_init["0"] == pytest.approx(0.0, abs=0.05)  # fan-in 16 at every width
    assert {"2", "4"} <= set(c.flagged)


def test_standard_parametrization_is_flat_at_init_and_its_readout_grows_under_adam():
    c = width_check(standard, WIDTHS, input_shape=(16,), batch=64, steps=3, lr=1e-2)
    rms = c.slopes[c.slopes.stat == "rms"].set_index(["module", "step"]).slope
    assert all(abs(rms[(m, 0)]) < 0.1 for m in ("0", "2", "4"))
    assert rms[("4", 3)] > 0.25 and "4" in c.flagged  # mup's point: Adam's update of the readout sums over the width


def test_slopes_by_hand():
    import pandas as pd

    t = pd.DataFrame([dict(module="a", width=w, step=0, stat="rms", value=3 * w**0.5) for w in (8, 16, 32)])
    assert fit_slopes(t).slope.iloc[0] == pytest.approx(0.5)
    t.loc[1, "value"] = 0.0
    assert math.isnan(fit_slopes(t).slope.iloc[0])  # a zero scale has no log: no slope, no flag


def test_cli_json_and_bad_input(tmp_path, main):
    mod = tmp_path / "models_w.py"
    mod.write_text("import torch\nfrom torch import nn\n"
                   "def make(width): return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 3))\n"
                   "def fixed(): return nn.Linear(8, 3)\n")
    p = main("inspect", f"{mod}:make", "--widths", "16,32,64", "--input-shape", "8", "--out", str(tmp_path / "w"), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["widths"] == [16, 32, 64] and set(d["modules"]) == {"0", "1", "2"} and isinstance(d["flagged"], list)
    assert len(d["modules"]["2"]["rms"]) == 4 and len(d["modules"]["2"]["rms"][0]) == 3 and len(d["modules"]["2"]["slope"]) == 4
    assert (tmp_path / "w" / "report.html").exists() and (tmp_path / "w" / "figures" / "width_check.png").exists()
    for args, msg in ((["--widths", "16"], "--widths needs 2 to 16 different positive integers"),
                      (["--widths", "16,x"], "--widths expects comma-separated integers"),
                      (["--widths", "16,32", "--fix", "auto"], "--widths runs the width check alone"),
                      (["--widths", "16,32", "--lr", "-1"], "--lr must be a positive finite number")):
        assert_refused(main("inspect", f"{mod}:make", "--input-shape", "8", *args, "--out", str(tmp_path / "bad")), msg)
    assert_refused(main("inspect", f"{mod}:fixed", "--input-shape", "8", "--widths", "16,32", "--out", str(tmp_path / "bad")),
                   "--widths needs a factory that takes width=")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(InitscopeError, match="unknown optimizer"):
        width_check(standard, [8, 16], input_shape=(16,), optimizer="lion")
