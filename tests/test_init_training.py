"""init-training: the data-dependent inits against direct computations, the training against a
hand-written loop, divergence named and left out, an honest verdict."""

import math

import pytest
import torch
from torch import nn

from initscope.errors import InitscopeError
from initscope.data import digits_split
from initscope.experiments.init_training import InitTrainingConfig, build, summarize, train_one, verdict
from initscope.training import gradient_norms, sample_fractions
from initscope.repro import derive_seed, generator

TINY = InitTrainingConfig(depth=4, width=16, seeds=2, epochs=2, batch=32, init_batch=64)


@pytest.fixture(scope="module")
def data():
    return digits_split(0.2, 0)


def test_split_is_standardized_on_the_training_part(data):
    xtr, ytr, xte, yte = data
    assert len(xtr) + len(xte) == 1797 and len(xte) == 359
    moving = xtr.std(0) > 0
    torch.testing.assert_close(xtr.mean(0), torch.zeros(64), atol=1e-5, rtol=0)
    torch.testing.assert_close(xtr.std(0)[moving], torch.ones(int(moving.sum())), atol=1e-5, rtol=0)
    assert set(ytr.tolist()) == set(range(10))


def test_sample_statistics_init_gives_every_unit_mean_0_variance_1(data):
    x = data[0][:128]
    model = build(TINY, "sample-statistics", 0, 0, x)
    with torch.no_grad():
        h = x
        for lin in model.hidden:  # by hand, not through the module's preactivations
            y = h @ lin.weight.T + lin.bias
            torch.testing.assert_close(y.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
            torch.testing.assert_close(y.std(0, unbiased=False), torch.ones(16), atol=1e-4, rtol=0)
            h = torch.relu(y)
    assert sample_fractions(model, x) == pytest.approx([1.0] * 4, abs=1e-6)  # no mean spread left


def test_lsuv_is_orthogonal_then_one_scale_per_layer(data):
    x = data[0][:128]
    plain = build(TINY, "kaiming", 0, 0, x)  # a different start; only lsuv's own properties are checked
    model = build(TINY, "lsuv", 0, 0, x)
    with torch.no_grad():
        for y in model.preactivations(x):
            assert abs(float(y.var()) - 1) < 0.01
        w = model.hidden[1].weight  # square: orthogonal rows up to one scale
        gram = w @ w.T
        torch.testing.assert_close(gram / gram.diagonal().mean(), torch.eye(16), atol=1e-5, rtol=0)
    assert all(torch.all(lin.bias == 0) for lin in model.hidden) and plain is not model


def test_sample_fraction_and_gradients_by_hand(data):
    x, y = data[0][:64], data[1][:64]
    model = build(TINY, "kaiming", 1, 0, x)
    with torch.no_grad():
        y3 = torch.relu(torch.relu(x @ model.hidden[0].weight.T) @ model.hidden[1].weight.T) @ model.hidden[2].weight.T
    sv, ms = float(y3.var(0).mean()), float(y3.mean(0).var())
    assert sample_fractions(model, x)[2] == pytest.approx(sv / (sv + ms), rel=1e-5)
    g = gradient_norms(model, x, y)
    twin = build(TINY, "kaiming", 1, 0, x)
    nn.functional.cross_entropy(twin(x), y).backward()
    assert g[0] == pytest.approx(float(twin.hidden[0].weight.grad.norm()), rel=1e-6)
    assert all(p.grad is None or torch.all(p.grad == 0) for p in model.parameters())  # cleared


def test_training_is_a_plain_sgd_loop(data):
    """train_one against a hand-written loop: same model, same minibatches, same SGD steps."""
    rows, diverged = train_one(TINY, "batchnorm", 1, 0, data)
    xtr, ytr, xte, yte = data
    pick = torch.randperm(len(xtr), generator=generator(0, "init-training", "init-batch", 1))[: TINY.init_batch]
    torch.manual_seed(derive_seed(0, "init-training", "torch", 1))
    model = build(TINY, "batchnorm", 1, 0, xtr[pick])
    g = generator(0, "init-training", "batches", 1)
    losses = []
    for _ in range(TINY.epochs * TINY.steps_per_epoch):
        idx = torch.randint(0, len(xtr), (TINY.batch,), generator=g)
        loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-TINY.lr)  # p - lr * grad, rounded as torch's SGD rounds it
        losses.append(float(loss.detach()))
    got = [r["value"] for r in rows if r["stat"] == "train_loss"]
    assert diverged is None and got == losses
    model.eval()
    acc = float((model(xte).argmax(1) == yte).float().mean())
    assert [r["value"] for r in rows if r["stat"] == "test_accuracy"][-1] == pytest.approx(acc)


def test_run_summary_and_divergence_left_out():
    from initscope.runner import run

    s = run("init-training", {"depth": "3", "width": "16", "seeds": "2", "epochs": "2", "variants": "kaiming,sample-statistics"},
            device="cpu", write=False).summary
    for v in ("kaiming", "sample-statistics"):
        d = s["variants"][v]
        assert {"loss", "loss_stderr", "accuracy", "seeds", "sample_fraction_at_init"} <= set(d)
        assert len(d["accuracy"]) == 3 and len(d["sample_fraction_at_init"]) == 3 and d["seeds"] == [0, 1]
    assert s["variants"]["sample-statistics"]["sample_fraction_at_init"] == pytest.approx([1.0] * 3, abs=1e-5)
    hot = run("init-training", {"depth": "3", "width": "16", "seeds": "2", "epochs": "2", "lr": "1e4", "variants": "kaiming"},
              device="cpu", write=False)
    d = hot.summary["variants"]["kaiming"]
    assert d["diverged"] and d["seeds"] == sorted({0, 1} - {int(k) for k in d["diverged"]})
    assert "diverged at step" in hot.summary["verdict"]


def _summary(k_epochs, s_epochs):
    v = dict(final_accuracy=0.9, final_accuracy_stderr=0.01, diverged={}, mean_train_loss=0.5)
    return {"epochs": 12, "target_loss": 0.3, "variants": {
        "kaiming": dict(v, epochs_to_target=k_epochs), "sample-statistics": dict(v, epochs_to_target=s_epochs)}}


def test_verdict_says_when_sample_statistics_do_not_help():
    assert "does not train measurably faster" in verdict(_summary([8, 9, 10], [9, 10, 11]))
    assert "reaches the target" in verdict(_summary([10, 11, 10], [4, 5, 4]))
    assert verdict(_summary([10, 11, 10], [4, 5, 4])).startswith("Fastest to a training loss of 0.3: sample-statistics")


@pytest.mark.parametrize("kw,match", [
    (dict(variants=("nope",)), "unknown variant 'nope'; choose from: batchnorm, kaiming"),
    (dict(variants=("lsuv", "lsuv")), "listed twice"),
    (dict(batch=1), "batch must be >= 2"),
    (dict(lr=math.inf), "lr must be"),
    (dict(test_fraction=0.9), "test_fraction"),
    (dict(init_batch=5000), "training digits"),
])
def test_bad_configs(kw, match):
    with pytest.raises(InitscopeError, match=match):
        InitTrainingConfig(**kw)


def test_summarize_handles_a_variant_whose_every_seed_diverged():
    import pandas as pd

    stats = pd.DataFrame([dict(variant="kaiming", seed=0, step=0, epoch=0, layer=1, stat="sample_fraction_at_init", value=0.5)])
    s = summarize(stats, {"kaiming": {0: 3}}, TINY)
    assert s["variants"]["kaiming"]["seeds"] == [] and s["variants"]["kaiming"]["final_accuracy"] is None
    assert "diverged at step 3" in s["verdict"]
