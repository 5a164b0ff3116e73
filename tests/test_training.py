import math

import torch
from torch import nn

from initscope import training


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g)
    return x, (x[:, 0] > 0).long()


def test_one_sgd_step_by_hand():
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    twin = nn.Linear(5, 2)
    twin.load_state_dict(model.state_dict())
    idx = torch.arange(8)
    hist = training.train(model, x, y, steps=1, lr=0.5, batches=lambda step: idx)
    loss = nn.functional.cross_entropy(twin(x[idx]), y[idx])
    loss.backward()
    with torch.no_grad():
        for p in twin.parameters():
            p -= 0.5 * p.grad
    torch.testing.assert_close(model.weight, twin.weight)
    assert list(hist.step) == [0, 1]
    assert hist.batch_loss[0] == float(loss.detach()) and math.isnan(hist.batch_loss[1])
    assert hist.loss[1] == float(nn.functional.cross_entropy(twin(x), y).detach())
    assert not hist.diverged.any()


def test_divergence_stops_training_and_is_flagged():
    x, y = _data()
    model = nn.Sequential(nn.Linear(5, 50), nn.ReLU(), nn.Linear(50, 2))
    hist = training.train(model, x * 1e3, y, steps=50, lr=1e6, batches=training.minibatches(64, 16, torch.Generator().manual_seed(1)))
    assert bool(hist.diverged.iloc[-1]) and len(hist) < 51
    assert not hist.diverged.iloc[:-1].any()


def test_measure_runs_before_each_step_and_minibatches_are_reproducible():
    x, y = _data()
    seen = []
    model = nn.Linear(5, 2)
    training.train(model, x, y, steps=3, lr=0.1, batches=training.minibatches(64, 8), measure=lambda m: seen.append(m.weight.clone()) or {})
    assert len(seen) == 4 and not torch.equal(seen[0], seen[1])
    a = training.minibatches(64, 8, torch.Generator().manual_seed(3))
    b = training.minibatches(64, 8, torch.Generator().manual_seed(3))
    assert all(torch.equal(a(k), b(k)) for k in range(3))
