"""inspect --ops: every floating op (functional ones too) with its forward and backward scale, and
format headroom checked against torch's own casts."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initscope.inspect.ops import FORMATS, findings, format_stats, record_ops


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_underflow_and_overflow_shares_are_torchs_casts(fmt):
    dt = FORMATS[fmt]
    fi = torch.finfo(dt)
    # magnitudes from 2^-10 x the smallest normal to 2^10 x the largest, none within 27% of either edge (float8 e5m2
    # rounds 0.88 x its smallest normal up to it: a cast decides by rounding what the share decides by value)
    logs = torch.linspace(math.log2(float(fi.tiny)) - 10, math.log2(float(fi.max)) + 10, 4001, dtype=torch.float64)
    x = (2.0 ** logs) * torch.where(torch.arange(4001) % 2 == 0, 1.0, -1.0)
    x = x[((x.abs() / fi.tiny).log2().abs() > 0.35) & ((x.abs() / fi.max).log2().abs() > 0.35)].float()
    if fmt == "bfloat16":  # float32 holds nothing past bfloat16's range: keep what float32 can carry
        x = x[torch.isfinite(x) & (x != 0)]
    s = format_stats(x)
    cast = x.to(dt).float()
    below = ((cast.abs() < fi.tiny) & (x != 0)).float().mean()  # subnormal or flushed to zero by the cast
    # float16, bfloat16, e5m2 overflow to inf; torch saturates e4m3fn (no inf) at its max
    beyond = (~torch.isfinite(cast)).float().mean() if fmt != "float8_e4m3fn" else (cast.abs() == fi.max).float().mean()
    assert s[f"{fmt}_underflow"] == pytest.approx(float(below), abs=1e-6)
    assert s[f"{fmt}_overflow"] == pytest.approx(float(beyond), abs=1e-6)
    scaled = x * (fi.max / x.abs().max())  # per-tensor scaling, as float8 training does
    assert s[f"{fmt}_underflow_scaled"] == pytest.approx(float(((scaled.abs() < fi.tiny) & (x != 0)).float().mean()), abs=1e-6)
    assert s["max_abs"] == pytest.approx(float(x.abs().max()))


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.o = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 4)

    def forward(self, x):
        a = torch.matmul(self.q(x), self.k(x).transpose(-1, -2)) / 4
        p = F.softmax(a, dim=-1)
        h = p @ x
        h += x  # in place: module hooks never see it
        return self.o(h).mean(1)


def test_functional_ops_are_recorded_with_forward_and_backward_scales():
    torch.manual_seed(0)
    m, x = Functional(), torch.randn(2, 8, 16)
    t = record_ops(m, lambda: m(x), lambda out: out.pow(2).mean())
    assert list(t.op) == ["linear", "linear", "matmul", "div", "softmax", "matmul", "add_", "linear", "mean"]
    assert list(t.module[:2]) == ["q", "k"] and t.module[4] == "(model)"
    # the same intermediates by hand, their gradients by autograd
    q, k = m.q(x), m.k(x)
    a = torch.matmul(q, k.transpose(-1, -2)) / 4
    p = F.softmax(a, dim=-1)
    for v in (q, a, p):
        v.retain_grad()
    h = p @ x + x
    m.o(h).mean(1).pow(2).mean().backward()
    for i, v in ((0, q), (3, a), (4, p)):
        assert t.fwd_rms[i] == pytest.approx(float(v.detach().pow(2).mean().sqrt()), rel=1e-5)
        assert t.bwd_rms[i] == pytest.approx(float(v.grad.pow(2).mean().sqrt()), rel=1e-5)


def test_findings_name_float16_overflow_and_float8_underflow():
    class Loud(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l = nn.Linear(8, 8)

        def forward(self, x):
            return self.l(x) * 1e6

    m = Loud()
    f = findings(record_ops(m, lambda: m(torch.randn(4, 8)), lambda out: (out * 1e-12).sum()))
    assert any("overflows float16 at init" in s for s in f["messages"])
    assert any("underflow float8 e4m3" in s for s in f["messages"])
    assert f["formats"]["float16"]["fwd"]["overflow_ops"] == 1


def test_cli_ops_json(tmp_path, main):
    mod = tmp_path / "m_ops.py"
    mod.write_text("from torch import nn\ndef make(): return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))\n")
    p = main("inspect", f"{mod}:make", "--input-shape", "8", "--ops", "--out", str(tmp_path / "r"), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert [o["op"] for o in d["ops"]] == ["linear", "relu", "linear"]
    assert set(d["formats"]) == set(FORMATS) and "bwd_float16_underflow" in d["ops"][0]
    assert (tmp_path / "r" / "ops.parquet").exists()


def test_shares_of_a_big_tensor_come_from_a_strided_sample_and_overflow_stays_exact():
    from initscope.inspect.ops import SHARE_SAMPLE

    g = torch.Generator().manual_seed(0)
    x = torch.exp(torch.randn(3 * SHARE_SAMPLE + 7, generator=g) * 6)  # magnitudes over ~17 binades either side of 1
    s = format_stats(x)
    exact_under = float(((x > 0) & (x < torch.finfo(torch.float16).tiny)).float().mean())
    assert abs(s["float16_underflow"] - exact_under) < 0.005  # a strided sample of 2^20 values
    assert s["float16_overflow"] == int((x > 65504).sum()) / x.numel()  # counted on every value
    assert s["rms"] == pytest.approx(float(x.double().pow(2).mean().sqrt()), rel=1e-9)


def test_report_folds_the_middle_blocks():
    import pandas as pd

    from initscope.inspect.report import _ops_chart

    mods = ["embed"] + [f"layers.{b}.mlp" for b in range(5) for _ in range(3)] + ["head"]
    ops = pd.DataFrame({"module": mods, "op": ["linear"] * len(mods), "fwd_rms": [1.0] * len(mods), "bwd_rms": [0.5] * len(mods)})
    panel = _ops_chart(ops).panels[0]
    forward = next(t for t in panel.traces if t.name == "forward RMS")
    assert len(forward.x) == 1 + 3 + 3 + 1  # embed, block 0, block 4, head
    assert "blocks layers.1 .. layers.3 folded: 9 ops" in panel.x_title


def test_ops_returning_several_tensors_are_recorded():
    """torch's LSTM returns (output, (h, c)) from one op: each floating tensor is a row, with its gradient."""
    m = nn.LSTM(6, 8, batch_first=True)
    t = record_ops(m, lambda: m(torch.randn(3, 5, 6))[0], lambda out: out.pow(2).mean())
    assert t.op.str.startswith("lstm[").sum() >= 1 and t.fwd_rms.notna().all()
    assert t[t.op == "lstm[0]"].bwd_rms.notna().all()
