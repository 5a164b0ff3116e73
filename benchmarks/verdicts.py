"""Calibration of ``inspect``'s verdicts against training (issue 19).

    python benchmarks/verdicts.py train     # train the zoo, save the ground truth (~20 min on 2 cores)
    python benchmarks/verdicts.py score     # inspect every pair against the saved truth (~1 min)
    python benchmarks/verdicts.py fixes     # --fix auto on every flagged pair, retrain, score the fixes
    python benchmarks/verdicts.py others    # families outside the zoo: library default and x10, no training
    python benchmarks/verdicts.py others --train-others  # ... at default, x3, x10, trained on the zoo's tasks (~15 min, saved) and scored
    python benchmarks/verdicts.py others --train-others --set 2  # ... at Xavier, Kaiming, x0.3, N(0, 0.05) (~15 min, saved)
    python benchmarks/verdicts.py ablations # one change to a zoo pair at a time (tied embeddings, norm scales, head), trained (~6 min)
    python benchmarks/verdicts.py warned    # pairs flagged with a defect stop 39 made or moved, fixed and trained again (saved)
    python benchmarks/verdicts.py replay --record  # inspect every trained pair once, keep what the verdicts read (~4 min)
    python benchmarks/verdicts.py replay    # every verdict again from that cache (~25 s): both confusion matrices, every error
    python benchmarks/verdicts.py holdout   # inits no threshold was set on (x3, x0.3, Xavier, Kaiming), trained (~12 min, saved) and scored
    python benchmarks/verdicts.py holdout --set 2  # a second set (x2, x5, x0.5, N(0, 0.02), LeCun uniform), trained (~20 min) and scored
    python benchmarks/verdicts.py holdout --set 3  # a third (x1.5, x4, x0.7, N(0, 0.05), Kaiming on the fan out), ~20 min
    python benchmarks/verdicts.py holdout --set 3 --fixes  # ... and --fix auto on its flagged pairs, trained again (~6 min)
    python benchmarks/verdicts.py holdout --set 4 --families gpt2,llama,neox  # x2.5, N(0, 0.1), N(0, 0.035) on the decoders
    python benchmarks/verdicts.py others --train-others --set 3  # ... and on the decoders outside the zoo (set 4's test)
    python benchmarks/verdicts.py others --train-others --set 4  # causal LMs whose x10 inspect does not flag: default, x3, x10 (~4 min)
    python benchmarks/verdicts.py others --train-others --set 5  # vision transformers outside the zoo: default, x0.3, x0.5, x3, Xavier
    python benchmarks/verdicts.py holdout --set 5 --families gpt2,llama,neox,bert,encoder,encoder-prenorm,lstm  # zero embeddings
    python benchmarks/verdicts.py others --train-others --set 6  # ... and on the token families outside the zoo
    python benchmarks/verdicts.py holdout --set 6 --families cnn,mlp,mlp20-torch  # x0.2, x0.4, N(0, 0.03), N(0, 0.04)
    python benchmarks/verdicts.py holdout --set 7 --families bert,encoder,encoder-prenorm  # x0.4, x0.6, N(0, 0.005), N(0, 0.01)
    python benchmarks/verdicts.py others --train-others --set 7  # ... and default on RoBERTa, DistilBERT, ELECTRA, MPNet, DeBERTa v2
    python benchmarks/verdicts.py others --train-others --set 8  # hand-written LSTM/GRU cells, WaveNet, highway: default, x3, x10, x0.3
    python benchmarks/verdicts.py holdout --set 8 --families encoder-prenorm  # N(0, 0.002), N(0, 0.003), N(0, 0.007)
    python benchmarks/verdicts.py others --train-others --set 9  # TCN, residual MLP/CNN without norms, Fixup: default, x3, x10, x0.1, x0.01
    python benchmarks/verdicts.py holdout --set 9  # every layer's weight at 0 (biases, norms, embeddings kept)
    python benchmarks/verdicts.py holdout --set 10 --families gpt2,llama,neox,bert,encoder,encoder-prenorm,vit  # the query at 0 (muP)
    python benchmarks/verdicts.py holdout --set 11  # every 1-D parameter at 0: biases and norm scales
    python benchmarks/verdicts.py holdout --set 12 --families llama,neox,bert,vit,encoder,encoder-prenorm,resnet,cnn,mlp,mlp20-torch,lstm  # zero head
    python benchmarks/verdicts.py holdout --set 13 --families gpt2,llama,neox,bert,vit  # initializer_range x10, x0.1 in the config
    python benchmarks/verdicts.py others --train-others --set 10  # BERT-style classifiers reading a [CLS] token: default, zero head
    python benchmarks/verdicts.py others --train-others --set 11  # LoRA on the zoo's families, base frozen: peft's init, A and B at 0, B random
    python benchmarks/verdicts.py holdout --set 14 --families lstm  # one LSTM gate shut or open by its bias (stop 36, in sample)
    python benchmarks/verdicts.py holdout --set 15 --families gpt2  # GPT-2's tied token table at N(0, s) (stop 36, in sample)
    python benchmarks/verdicts.py others --train-others --set 12  # a GRU's update gate; 13: a tanh RNN's recurrent gain;
                                                                   # 14: Marian, Pegasus with and without scale_embedding; 15: ProphetNet, RoC-BERT
    python benchmarks/verdicts.py holdout --set 16 --families gpt2,llama,neox,bert,encoder,cnn,mlp  # stop 39's test: x3.5, x0.35, N(0, 0.07), N(0, 0.15)
    python benchmarks/verdicts.py others --train-others --set 16  # ... and on Mistral, OPT, RoBERTa, ELECTRA, DistilBERT, DeBERTa v2
    python benchmarks/verdicts.py others --train-others --set 2 --fixes  # ... and --fix auto on a set's flagged pairs, trained again
    python benchmarks/verdicts.py others --predict --set 39  # a set's predictions, untrained (committed before its training);
                                                              # sets 19-39: decoders at width 256, out of sample (RESULTS.md)
    python benchmarks/verdicts.py holdout --set 17  # torch's own init (torch-default: every reset_parameters) on the zoo
    python benchmarks/verdicts.py others --train-others --set 78  # ... on 31 designs outside it; 80: 18 more;
                                                                   # 79: Gemma 2 with and without its logits' soft cap
    python benchmarks/verdicts.py others --train-others --set 81  # one module group x10 (query and key, head, norms)
    python benchmarks/verdicts.py tablefix  # the table defect and --fix auto's answer on 8 library encoders (~12 min)
    python benchmarks/verdicts.py others --train-others --set 82  # torch's own init on 20 more library encoders
    python benchmarks/verdicts.py others --train-others --set 83  # ... and set 81's module groups x10 on 16 of them
    python benchmarks/verdicts.py trial     # score inspect --trial against the truth (~6 min, ~25 s from its cache; --steps 60)
    python benchmarks/verdicts.py           # train (if no truth is saved), score, fixes

The zoo is ``initscope.inspect.zoo``: 12 families (GPT-2, LLaMA and GPT-NeoX decoders on a
sparse Markov-chain LM task; BERT, torch's TransformerEncoder post- and pre-norm and a 2-layer
LSTM on bag-of-words sequence classes; ViT, a BatchNorm ResNet and a plain CNN on scikit-learn's
digits as 3 x 32 x 32 images; a Kaiming MLP and a 20-layer MLP with torch's default init on the
flat digits), each with 7 inits (the library's default, every parameter x10, x0.1, x0.01,
constant weight matrices, zeroed residual-branch outputs, orthogonal re-draws).

**Ground truth.** Every pair is trained with AdamW (lr 1e-3, linear warmup over the first 30
steps, weight decay 0.01, 300 steps of batch 16, dropout as the model has it) for 2 seeds (init
and data order), then its loss is measured on held-out data. The first truth (200 steps at lr
3e-3, no warmup; ``--truth benchmarks/verdicts_truth_200steps_lr3e-3.json``) is kept and
scored too: its lr without warmup left BERT learning on 2 seeds of 6 from its own init, so its
labels said more about seed luck than about the init. Progress = (chance - loss) / (chance - best), chance = log(classes)
(log(vocabulary) for the LM), best = the family's lowest mean held-out loss over its inits.
Label: ``trains`` at progress >= 0.7, ``broken`` at <= 0.3, ``marginal`` between. A family
whose best init gets less than 10% of chance below chance is left out (its task was not
learned). The truth is saved in ``benchmarks/verdicts_truth.json`` so re-scoring after a change
to the verdicts takes a minute, not the training time.

**Score.** inspect runs on each pair (seed 0) with a batch of 16 examples of its task; a pair
is flagged when inspect reports any issue. Printed: the confusion matrix (flagged / not flagged
x trains / broken / marginal), agreement on the labelled pairs, false alarms and misses, per
family. Targets: agreement >= 95%, no false alarm on a library default, on zeroed residual
branches or on a small init that trains; every broken pair flagged.

**Fixes.** Every flagged pair is fixed with ``fix_model(..., "auto")`` and trained again the
same way; target: >= 90% of the broken pairs then train, and no pair that trained loses more
than its seed spread. ``warned`` does the same for every trained pair (zoo, holdout, others)
flagged with a defect stop 39 made or moved (``STOP39_KINDS``; the first of them a warning
``--fix auto`` acted on before it), labelled against the best init of their family as
``holdout`` and ``others`` label them.

**Replay.** ``replay --record`` runs inspect once on every trained pair and keeps what the
verdicts read (``benchmarks/.verdicts_replay.pkl``, not committed); ``replay`` then recomputes
every verdict from it in ~25 s and prints both confusion matrices (zoo; holdout and others
sets, a pair counted once per set it is in) and every pair judged wrong.

**Trial.** The second signal of ``inspect --trial STEPS``, computed as ``report._trial`` does
it: AdamW (lr 1e-3) for ``--steps`` steps on the pair's one batch (random labels for a
classifier, the token ids for an LM), from the pair's init and from a reference (its ``--fix
auto`` twin when inspect flags the pair, else its library's re-init); share = (chance - last
loss of the init) / (chance - last loss of the reference). The trial says broken at share < 0.3
(also when the init ends non-finite or above chance while the reference gets below it),
trains at share >= 0.7, unsure between or when the reference makes no progress either.
Printed: the trial alone, step 0 alone, "either flags" and "the trial overrides when it is
sure", and every pair's numbers. Results are cached in ``benchmarks/verdicts_trial.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import torch

from initscope.inspect import inspect
from initscope.inspect import zoo
from initscope.inspect.trial import train

TRUTH = Path(__file__).with_name("verdicts_truth.json")
TRIAL_CACHE = Path(__file__).with_name("verdicts_trial.json")
HOLDOUT = Path(__file__).with_name("verdicts_holdout.json")
# the training recipe of the ground truth (saved with it; `train --train-steps/--lr/--warmup`
# makes another): issue 19's 300 AdamW steps at torch's default lr with a linear warmup over
# the first 10%, the recipe these architectures are trained with; sized so the whole zoo trains
# in ~20 min on 2 cores
PROTOCOL = {"steps": 300, "lr": 1e-3, "warmup": 30, "batch": 16, "weight_decay": 0.01}
SEEDS = (0, 1)
TRAINS, BROKEN = 0.7, 0.3


def _pairs(families: list[str], inits: list[str]) -> list[tuple[str, str]]:
    return [(f, i) for f in families for i in inits if not (i == "zero-residual" and not zoo.FAMILIES[f][2])]


def chance(family: str) -> float:
    return math.log(zoo.VOCAB if zoo.task(family) == "lm" else zoo.CLASSES)


def run_training(family: str, init: str, seed: int, protocol: dict, model: torch.nn.Module | None = None) -> float:
    """Held-out loss after the fixed training budget."""
    torch.manual_seed(seed)
    if model is None:
        model = zoo.build(family, init, seed=seed)
    data = lambda step: zoo.task_data(family, protocol["batch"], seed=seed * 100_003 + step)  # noqa: E731
    res = train(model, data, steps=protocol["steps"], lr=protocol["lr"], warmup=protocol.get("warmup", 0),
                weight_decay=protocol.get("weight_decay", 0.01), eval_data=zoo.task_data(family, 512, seed=999, split="eval"))
    return res.eval_loss


def confusion(pairs: list[tuple[str, bool]], never: bool = True) -> int:
    """Print the confusion matrix (flagged / not flagged x trains / broken / marginal) of
    (label, flagged) pairs and the agreement on the labelled ones; return that agreement."""
    cm = {(f, l): 0 for f in (True, False) for l in ("trains", "broken", "marginal")}
    for lab, flagged in pairs:
        cm[(bool(flagged), lab)] += 1
    labelled = [(lab, f) for lab, f in pairs if lab != "marginal"]
    agree = sum(bool(f) == (lab == "broken") for lab, f in labelled)
    print(f"{'':12s} {'trains':>7s} {'broken':>7s} {'marginal':>9s}")
    for f in (True, False):
        print(f"{'flagged' if f else 'not flagged':12s} {cm[(f, 'trains')]:7d} {cm[(f, 'broken')]:7d} {cm[(f, 'marginal')]:9d}")
    print(f"agreement on {len(labelled)} labelled pairs: {agree} ({agree / max(1, len(labelled)):.1%})"
          + (f"; never flagging would give {sum(lab == 'trains' for lab, _ in labelled)}" if never else ""))
    return agree


def progress_against(truth: dict, family: str, loss: float) -> float:
    """A held-out loss as progress below chance against the family's best init in ``truth``."""
    ref = next(p for k, p in truth["pairs"].items() if k.split("|")[0] == family)
    return (ref["chance"] - loss) / (ref["chance"] - ref["best"]) if math.isfinite(loss) else -math.inf


def label(progress: float) -> str:
    return "trains" if progress >= TRAINS else "broken" if progress <= BROKEN else "marginal"


def add_labels(truth: dict) -> dict:
    """Progress and label of every pair from the saved losses (the rule in the docstring)."""
    fams: dict[str, list[str]] = {}
    for key in truth["pairs"]:
        fams.setdefault(key.split("|")[0], []).append(key)
    for fam, keys in fams.items():
        c = chance(fam)
        means = {k: sum(truth["pairs"][k]["losses"]) / len(truth["pairs"][k]["losses"]) for k in keys}
        best = min(means.values())
        learned = c - best >= 0.1 * c
        for k in keys:
            p = truth["pairs"][k]
            p["chance"], p["best"] = c, best
            p["progress"] = (c - means[k]) / (c - best) if math.isfinite(means[k]) and c > best else -math.inf
            p["seed_progress"] = [(c - v) / (c - best) if math.isfinite(v) and c > best else -math.inf for v in p["losses"]]
            p["label"] = label(p["progress"]) if learned else "left out"
    return truth


def protocol_of(truth: dict) -> dict:
    """The recipe a saved truth was trained with (files from before warmup existed have none)."""
    return {"warmup": 0, "weight_decay": 0.01, **{k: truth[k] for k in ("steps", "lr", "warmup", "batch", "weight_decay") if k in truth}}


def _train_job(job: tuple[str, str, int, dict]) -> tuple[str, int, float]:
    torch.set_num_threads(1)  # tiny models: two single-threaded workers beat one two-threaded
    fam, init, seed, protocol = job
    return f"{fam}|{init}", seed, run_training(fam, init, seed, protocol)


def cmd_train(families: list[str], inits: list[str], jobs: int, path: Path, protocol: dict) -> dict:
    """Train every (pair, seed) not yet in the saved truth; the file is rewritten as results
    come in, so an interrupted run resumes."""
    import multiprocessing as mp

    truth = {**protocol, "seeds": list(SEEDS), "pairs": {}}
    if path.exists():
        truth = json.loads(path.read_text())
        if protocol_of(truth) != protocol:
            sys.exit(f"{path} was trained with {protocol_of(truth)}, not {protocol}: give another --truth")
    todo = [(f, i, s, protocol) for f, i in _pairs(families, inits) for s in SEEDS
            if len(truth["pairs"].get(f"{f}|{i}", {}).get("by_seed", {})) < len(SEEDS)
            and str(s) not in truth["pairs"].get(f"{f}|{i}", {}).get("by_seed", {})]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(jobs) as pool:
        for n, (key, seed, loss) in enumerate(pool.imap_unordered(_train_job, todo)):
            entry = truth["pairs"].setdefault(key, {"by_seed": {}})
            entry["by_seed"][str(seed)] = loss
            entry["losses"] = [entry["by_seed"][k] for k in sorted(entry["by_seed"])]
            path.write_text(json.dumps(truth, indent=1, allow_nan=True))
            print(f"[{n + 1}/{len(todo)} {time.perf_counter() - t0:6.0f}s] {key:28s} seed {seed}: held-out loss {loss:.4g}",
                  file=sys.stderr, flush=True)
    truth["pairs"] = {k: v for k, v in truth["pairs"].items() if len(v.get("losses", [])) == len(SEEDS)}
    return add_labels(truth)


def inspect_pair(family: str, init: str):
    model = zoo.build(family, init, seed=0)
    x, _ = zoo.task_data(family, 16, seed=12345)
    return model, x, inspect(model, x)


def cmd_score(truth: dict) -> dict[str, object]:
    rows = []
    for key, p in truth["pairs"].items():
        if p["label"] == "left out":
            continue
        fam, init = key.split("|")
        _, _, res = inspect_pair(fam, init)
        rows.append((fam, init, p["label"], p["progress"], res))
    labelled = [r for r in rows if r[2] != "marginal"]
    print()
    agree = confusion([(lab, bool(res.issues)) for _, _, lab, _, res in rows])
    print("\nfalse alarms (flagged, trains):")
    for fam, init, lab, prog, res in rows:
        if lab == "trains" and res.issues:
            print(f"  {fam:16s} {init:14s} progress {prog:5.2f}  {' | '.join(f.kind + ' @ ' + f.place for f in res.findings if f.severity == 'defect')}")
    print("misses (not flagged, broken):")
    for fam, init, lab, prog, res in rows:
        if lab == "broken" and not res.issues:
            print(f"  {fam:16s} {init:14s} progress {prog:5.2f}")
    # a pair whose seeds land on opposite sides (one trains, one broken) is labelled by a coin
    # flip of its training seed: agreement is also given without such pairs
    split = [r for r in labelled if min(truth["pairs"][f"{r[0]}|{r[1]}"]["seed_progress"]) <= BROKEN
             and max(truth["pairs"][f"{r[0]}|{r[1]}"]["seed_progress"]) >= TRAINS]
    steady = [r for r in labelled if r not in split]
    agree_steady = sum((bool(r[4].issues) == (r[2] == "broken")) for r in steady)
    print(f"\npairs whose {len(SEEDS)} training seeds disagree (one trains, one broken): {len(split)}"
          + "".join(f"\n  {f:16s} {i:14s} seeds {', '.join(f'{v:.2f}' for v in truth['pairs'][f'{f}|{i}']['seed_progress'])}"
                    f" -> {lab}, {'flagged' if res.issues else 'not flagged'}" for f, i, lab, _, res in split)
          + f"\nagreement on the {len(steady)} pairs whose seeds agree: {agree_steady} ({agree_steady / max(1, len(steady)):.1%})")
    print("\nper family: init -> label (progress) / verdict")
    for fam in dict.fromkeys(r[0] for r in rows):
        parts = [f"{init}: {lab} ({prog:.2f}) " + (f"FLAG {','.join(sorted({f.kind for f in res.findings if f.severity == 'defect'}))}" if res.issues else "ok")
                 + (f" (warnings: {','.join(sorted({f.kind for f in res.findings if f.severity == 'warning'}))})" if res.warnings else "")
                 for f2, init, lab, prog, res in rows if f2 == fam]
        print(f"  {fam}:\n    " + "\n    ".join(parts))
    return {"rows": rows, "agreement": agree / max(1, len(labelled)), "agreement_seeds_agree": agree_steady / max(1, len(steady))}


def trial_pair(family: str, init: str, res, steps: int, build=None) -> dict[str, object]:
    """``report._trial`` on one zoo pair: the pair's init and its reference trained on the same
    batch (seed 0); ``res`` is inspect's step-0 result on that batch. ``build``: a pair outside the
    zoo (a callable giving its model at ``init``; ``family`` then names its zoo task)."""
    from initscope.inspect.fixes import auto_fix
    from initscope.inspect.trial import library_reinit, trial

    t0 = time.perf_counter()
    x, _ = zoo.task_data(family, 16, seed=12345)
    ref_name = "fixed" if res.issues else "library re-init"
    curves: dict[str, list[float]] = {}
    for which in ("init", ref_name):
        torch.manual_seed(0)
        model = build() if build is not None else zoo.build(family, init, seed=0)
        if which == "fixed":
            auto_fix(model, x, seed=0)
        elif which == "library re-init":
            model = library_reinit(model, 0)
        r = trial(model, x, res.output.task, steps=steps, seed=0)
        if r is None:
            return {"steps": steps, "reference": ref_name, "share": math.nan, "no_trial": True, "seconds": time.perf_counter() - t0}
        curves[which] = r.losses
    chance_ = res.output.chance_loss
    drop = {k: chance_ - v[-1] if v and all(map(math.isfinite, v)) else -math.inf for k, v in curves.items()}
    share = drop["init"] / drop[ref_name] if drop[ref_name] > 0 else math.nan
    return {"steps": steps, "reference": ref_name, "chance": chance_, "share": share,
            "init": [curves["init"][0], curves["init"][-1]], "ref": [curves[ref_name][0], curves[ref_name][-1]],
            "init_diverged": not all(map(math.isfinite, curves["init"])), "seconds": time.perf_counter() - t0}


def trial_call(share: float) -> str:
    """broken below 0.3 (a non-finite or above-chance init against a reference that gets below
    chance gives a share <= 0, -inf), trains at 0.7 and above, unsure between and when the share
    is undefined (the reference makes no progress below chance either, or there is no trial)."""
    if share != share:
        return "unsure"
    return "broken" if share < BROKEN else "trains" if share >= TRAINS else "unsure"


def cmd_trial(truth: dict, steps: int = 60) -> dict[str, object]:
    """The short trial (``inspect --trial``) scored against the truth, alone and with step 0."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cache = json.loads(TRIAL_CACHE.read_text()) if TRIAL_CACHE.exists() else {}
    cache.setdefault("pairs", {})
    cache.update({"lr": 1e-3, "batch": 16, "seed": 0, "note": "inspect --trial's share per zoo pair (benchmarks/verdicts.py trial)"})
    rows = []
    keys = [k for k, p in truth["pairs"].items() if p["label"] != "left out"]
    trained = 0
    for n, key in enumerate(keys):
        p = truth["pairs"][key]
        fam, init = key.split("|")
        _, _, res = inspect_pair(fam, init)
        ref_name = "fixed" if res.issues else "library re-init"
        tr = cache["pairs"].get(key)
        if tr is None or tr.get("steps") != steps or tr.get("reference") != ref_name:
            tr = trial_pair(fam, init, res, steps)
            cache["pairs"][key] = tr
            cache["steps"] = steps
            TRIAL_CACHE.write_text(json.dumps(cache, indent=1, allow_nan=True))
            trained += 1
            print(f"[{n + 1}/{len(keys)} {time.perf_counter() - t0:6.0f}s] {key:28s} share {tr['share']:.3g} ({tr['seconds']:.1f}s)",
                  file=sys.stderr, flush=True)
        rows.append((fam, init, p["label"], p["progress"], bool(res.issues), tr["share"], trial_call(tr["share"]), tr))
    labelled = [r for r in rows if r[2] != "marginal"]
    n_lab = max(1, len(labelled))

    def matrix(name: str, flag) -> int:
        print(f"\n{name}")
        return confusion([(r[2], bool(flag(r))) for r in rows], never=False)

    print(f"\nshort trial: {steps} AdamW steps (lr 1e-3) on the pair's batch of 16; reference: --fix auto twin when step 0 "
          f"flags, else library re-init; trial says broken at share < {BROKEN}, trains at >= {TRAINS}")
    calls = {c: {l: sum(r[6] == c and r[2] == l for r in rows) for l in ("trains", "broken", "marginal")}
             for c in ("broken", "unsure", "trains")}
    print(f"\ntrial calls    {'trains':>7s} {'broken':>7s} {'marginal':>9s}")
    for c, v in calls.items():
        print(f"says {c:9s} {v['trains']:7d} {v['broken']:7d} {v['marginal']:9d}")
    a_trial = matrix("(1) trial alone (flagged = says broken; unsure counted as not flagged):", lambda r: r[6] == "broken")
    print(f"unsure on {sum(r[6] == 'unsure' for r in labelled)} of {len(labelled)} labelled pairs "
          f"({sum(r[6] == 'unsure' for r in rows if r[2] == 'marginal')} of {len(rows) - len(labelled)} marginal)")
    sure = [r for r in labelled if r[6] != "unsure"]
    a_sure = sum((r[6] == "broken") == (r[2] == "broken") for r in sure)
    print(f"where the trial is sure: {a_sure} of {len(sure)} right ({a_sure / max(1, len(sure)):.1%})")
    a_step0 = matrix("(2) step-0 verdict alone (as `score`):", lambda r: r[4])
    a_either = matrix("(3a) either flags (step 0 flags or the trial says broken):", lambda r: r[4] or r[6] == "broken")
    a_over = matrix("(3b) the trial overrides when it is sure (its call where broken/trains, else step 0):",
                    lambda r: r[6] == "broken" if r[6] != "unsure" else r[4])
    print(f"\nper pair ({steps} steps): family, init, label (progress), step 0, reference, share, trial call")
    num = lambda v: f"{v:7.2f}" if abs(v) < 1e3 or not math.isfinite(v) else f"{v:7.2g}"  # noqa: E731
    for fam, init, lab, prog, flagged, share, call, tr in rows:
        wrong = (call != "unsure" and (call == "broken") != (lab == "broken") and lab != "marginal")
        print(f"  {fam:16s} {init:14s} {lab:8s} {num(prog)}  {'FLAG' if flagged else 'ok  '}  {tr['reference']:15s} "
              f"share {num(share)}  {call:7s}" + ("  <- trial wrong" if wrong else ""))
    wall = time.perf_counter() - t0
    spent = sum(r[7].get("seconds", 0.0) for r in rows)
    print(f"\nwall time {wall:.0f} s ({trained} pairs trained now, {len(rows) - trained} from {TRIAL_CACHE.name}); "
          f"trial training time summed over the {len(rows)} pairs (cached included): {spent:.0f} s")
    return {"rows": rows, "agreement_trial": a_trial / n_lab, "agreement_step0": a_step0 / n_lab,
            "agreement_either": a_either / n_lab, "agreement_override": a_over / n_lab}


def features(res) -> dict[str, float]:
    """The step-0 numbers the verdicts read, one row per pair, to set the thresholds on."""
    import numpy as np

    b, a, lay, o = res.blocks, res.attention, res.layers, res.output
    w = lay[lay.weight_std.notna() & lay.grad_norm.notna() & (lay.role != "embedding")]
    nan = float("nan")
    return {
        "loss_excess": o.loss - o.chance_loss, "logit_std": o.logit_std,
        "entropy_min": float(a.groupby("layer").entropy_ratio.mean().min()) if not a.empty else nan,
        "branch_max": float(b.branch_ratio.max()) if "branch_ratio" in b and not b.empty else nan,
        "token_sim_max": float(b.token_similarity.max()) if "token_similarity" in b and not b.empty else nan,
        "stream_sf_min": float(b.sample_fraction.min()) if "sample_fraction" in b and not b.empty else nan,
        "grad_rms_first": float(b.grad_rms.iloc[0]) if "grad_rms" in b and not b.empty else nan,
        "out_sf": float(lay.sample_fraction.iloc[-1]),
        "head_m2": float(lay.second_moment.iloc[-1]),
        "rel_grad_median": float(np.median(w.grad_norm / (w.weight_std * np.sqrt(w.fan_in * w.weight_units)))) if len(w) else nan,
        "rel_grad_min": float((w.grad_norm / (w.weight_std * np.sqrt(w.fan_in * w.weight_units))).min()) if len(w) else nan,
    }


def cmd_features(truth: dict) -> None:
    import pandas as pd

    rows = []
    for key, p in truth["pairs"].items():
        fam, init = key.split("|")
        _, _, res = inspect_pair(fam, init)
        rows.append({"family": fam, "init": init, "label": p["label"], "progress": p["progress"], **features(res)})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.float_format", "{:.3g}".format):
        print(df.sort_values(["label", "family"]).to_string(index=False))


def _fix_job(job: tuple[str, str, int, dict]) -> tuple[str, str, int, float]:
    from initscope.inspect.fixes import fix_model

    torch.set_num_threads(1)
    fam, init, seed, protocol = job
    model = _holdout_model(fam, init, seed) if init in HOLDOUT_INITS else zoo.build(fam, init, seed=seed)
    x, _ = zoo.task_data(fam, 16, seed=12345)
    fix_model(model, x, "auto", seed=seed)  # the fix's own draws (LSUV) vary with the training seed
    return fam, init, seed, run_training(fam, init, seed, protocol, model=model)


def _train_fixed(pairs: list[tuple[str, str]], job, protocol: dict, jobs: int) -> dict[tuple[str, str], dict[int, float]]:
    """Each pair fixed and trained by ``job`` ((a, b, seed, protocol) -> (a, b, seed, loss)) for
    every seed, in ``jobs`` processes; the losses keyed by pair, then seed."""
    import multiprocessing as mp

    todo = [(a, b, s, protocol) for a, b in pairs for s in SEEDS]
    losses: dict[tuple[str, str], dict[int, float]] = {}
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(jobs) as pool:
        for n, (a, b, seed, loss) in enumerate(pool.imap_unordered(job, todo)):
            losses.setdefault((a, b), {})[seed] = loss
            print(f"[{n + 1}/{len(todo)} {time.perf_counter() - t0:5.0f}s] fixed {a} {b} seed {seed}", file=sys.stderr, flush=True)
    return losses


def cmd_fixes(truth: dict, score: dict, jobs: int, seed_losses: dict[tuple[str, str], list[float]] | None = None) -> dict[str, object]:
    """Every flagged pair fixed with --fix auto and trained again the same way (``score["rows"]``:
    (family, init, label, progress, inspect result); ``seed_losses``: the unfixed losses per seed
    of pairs outside the truth, for the seed spread)."""
    flagged = [(fam, init, lab, prog) for fam, init, lab, prog, res in score["rows"] if res.issues]
    losses = _train_fixed([(fam, init) for fam, init, _, _ in flagged], _fix_job, protocol_of(truth), jobs)
    print("\nfixes (--fix auto) on flagged pairs, trained again (2 seeds):")
    broken_fixed = broken_total = 0
    worse = []
    for fam, init, lab, prog in flagged:
        ref = next(p for k, p in truth["pairs"].items() if k.split("|")[0] == fam)
        before = (seed_losses or {}).get((fam, init)) or truth["pairs"][f"{fam}|{init}"]["losses"]
        ls = [losses[(fam, init)][s] for s in SEEDS]
        mean = sum(ls) / len(ls)
        new = progress_against(truth, fam, mean)
        if lab == "broken":
            broken_total += 1
            broken_fixed += new >= TRAINS
        spread = abs(before[0] - before[1]) / (ref["chance"] - ref["best"])
        if lab == "trains" and new < prog - max(spread, 0.05):
            worse.append(f"{fam} {init}")
        print(f"  {fam:16s} {init:14s} {lab:8s} progress {prog:5.2f} -> {new:5.2f} ({label(new)})")
    print(f"\nbroken pairs that train after the fix: {broken_fixed} of {broken_total}"
          f" ({broken_fixed / max(1, broken_total):.0%}); trained pairs made worse: {worse or 'none'}")
    return {"broken_fixed": broken_fixed, "broken_total": broken_total, "worse": worse}


def _scale_where(model: torch.nn.Module, factor: float, keep) -> None:
    """Every parameter x ``factor`` except those of modules ``keep(name, module)`` picks."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if keep(name, m):
                continue
            for p in m.parameters(recurse=False):
                p.mul_(factor)


def _is_norm(name: str, m: torch.nn.Module) -> bool:
    from initscope.inspect.structure import is_norm

    return is_norm(m)


def _positions(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    """GPT-2's learned position embeddings x ``factor``."""
    with torch.no_grad():
        model.transformer.wpe.weight.mul_(factor)
    return model


def _is_vo(name: str) -> bool:
    return ".v_proj." in name or ".o_proj." in name


def _is_qk(name: str) -> bool:
    return ".q_proj." in name or ".k_proj." in name


def _redraw_where(model: torch.nn.Module, how: str, where, inside: bool) -> torch.nn.Module:
    """``how`` (:func:`_redraw`) on the parameters ``where(name)`` picks (``inside``) or on all the
    others; the rest keep the model's own init."""
    kept = {n: p.detach().clone() for n, p in model.named_parameters() if where(n) != inside}
    _redraw(model, how)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in kept:
                p.copy_(kept[n])
    return model


# one change to a zoo pair, to find what breaks it: name -> (family, builder(seed))
ABLATIONS: dict[str, tuple[str, object]] = {
    "gpt2 x0.01, untied embeddings": ("gpt2", lambda: (m := zoo.gpt2_model(tie_word_embeddings=False), zoo._scale_all(m, 0.01))[0]),
    "llama x0.01, tied embeddings": ("llama", lambda: (m := zoo.llama_model(tie_word_embeddings=True), zoo._scale_all(m, 0.01))[0]),
    "neox x0.01, tied embeddings": ("neox", lambda: (m := zoo.neox_model(tie_word_embeddings=True), zoo._scale_all(m, 0.01))[0]),
    "gpt2 x0.01, norm scales kept at 1": ("gpt2", lambda: (m := zoo.gpt2_model(), _scale_where(m, 0.01, _is_norm))[0]),
    "gpt2 orthogonal, untied embeddings": ("gpt2", lambda: (m := zoo.gpt2_model(tie_word_embeddings=False), zoo._orthogonal(m))[0]),
    "gpt2 orthogonal, positions at N(0, 0.02^2)": ("gpt2", lambda: (m := zoo.gpt2_model(), zoo._orthogonal(m),
                                                                    m.transformer.wpe.weight.data.normal_(0, 0.02))[0]),
    "gpt2 default, positions x3": ("gpt2", lambda: _positions(zoo.gpt2_model(), 3.0)),
    "gpt2 default, positions x3, untied embeddings": ("gpt2", lambda: _positions(zoo.gpt2_model(tie_word_embeddings=False), 3.0)),
    "gpt2 default, positions x6": ("gpt2", lambda: _positions(zoo.gpt2_model(), 6.0)),
    "gpt2 orthogonal, positions at the tokens' RMS": ("gpt2", lambda: (m := zoo.gpt2_model(), zoo._orthogonal(m), _positions(
        m, float(m.transformer.wte.weight.detach().pow(2).mean().sqrt() / m.transformer.wpe.weight.detach().pow(2).mean().sqrt())))[0]),
    "llama x3": ("llama", lambda: (m := zoo.llama_model(), zoo._scale_all(m, 3.0))[0]),
    "llama x3, norm scales kept at 1": ("llama", lambda: (m := zoo.llama_model(), _scale_where(m, 3.0, _is_norm))[0]),
    "llama x3, embeddings kept": ("llama", lambda: (m := zoo.llama_model(), _scale_where(m, 3.0, lambda n, _: n.endswith("embed_tokens")))[0]),
    "llama x3, output head kept": ("llama", lambda: (m := zoo.llama_model(), _scale_where(m, 3.0, lambda n, _: n == "lm_head"))[0]),
    "llama x3, attention kept": ("llama", lambda: (m := zoo.llama_model(), _scale_where(m, 3.0, lambda n, _: ".self_attn." in n))[0]),
    "llama x3, MLP kept": ("llama", lambda: (m := zoo.llama_model(), _scale_where(m, 3.0, lambda n, _: ".mlp." in n))[0]),
    "bert x0.1, norm scales kept at 1": ("bert", lambda: (m := zoo.bert_model(), _scale_where(m, 0.1, _is_norm))[0]),
    "bert x0.1, pooler and classifier kept": ("bert", lambda: (m := zoo.bert_model(), _scale_where(
        m, 0.1, lambda n, _: n.startswith("classifier") or "pooler" in n))[0]),
    "bert x0.1, embeddings kept": ("bert", lambda: (m := zoo.bert_model(), _scale_where(m, 0.1, lambda n, _: "embeddings" in n))[0]),
    "resnet x0.1, norm scales kept at 1": ("resnet", lambda: (m := zoo.resnet_model(), _scale_where(m, 0.1, _is_norm))[0]),
    "llama lecun-uniform, v_proj and o_proj kept": ("llama", lambda: _redraw_where(zoo.llama_model(), "lecun-uniform", _is_vo, False)),
    "llama lecun-uniform on v_proj and o_proj only": ("llama", lambda: _redraw_where(zoo.llama_model(), "lecun-uniform", _is_vo, True)),
    "llama lecun-uniform, q_proj and k_proj kept": ("llama", lambda: _redraw_where(zoo.llama_model(), "lecun-uniform", _is_qk, False)),
}


def _redraw(model: torch.nn.Module, how: str) -> torch.nn.Module:
    """Every weight of 2+ dimensions re-drawn, biases and norm scales kept: ``xavier`` Glorot
    normal, ``kaiming`` He normal (fan in, ReLU gain), ``kaiming-fan-out`` He normal on the fan
    out, ``normal-<std>`` N(0, std^2) everywhere (0.02: the transformers default),
    ``lecun-uniform`` U(+-sqrt(3 / fan in)). Fan in = the entries per slice along the first
    dimension, fan out = the first dimension."""
    g = torch.Generator().manual_seed(4321)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                w = p.view(p.shape[0], -1)
                fan_out, fan_in = w.shape
                if how == "lecun-uniform":
                    bound = math.sqrt(3.0 / fan_in)
                    w.uniform_(-bound, bound, generator=g)
                    continue
                normal = re.fullmatch(r"normal-(\d+(?:\.\d+)?)", how)
                std = float(normal[1]) if normal else {"xavier": math.sqrt(2.0 / (fan_in + fan_out)), "kaiming": math.sqrt(2.0 / fan_in),
                                                       "kaiming-fan-out": math.sqrt(2.0 / fan_out)}[how]
                w.normal_(0.0, std, generator=g)
    return model


# inits no threshold was set on, in sets, each trained and scored once after the thresholds it
# tests were fixed. Set 1 (stop 27) then informed the rules of stop 28 (the overconfident-output
# rule); set 2 was committed before any of its pairs was trained, to test them; it showed them
# wrong on plain stacks, and sets 1 and 2 together set the rules again; set 3 was committed
# before its training, to test those.
HOLDOUT_SETS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "1": (HOLDOUT, ("x3", "x0.3", "xavier", "kaiming")),
    "2": (HOLDOUT.with_name("verdicts_holdout2.json"), ("x2", "x5", "x0.5", "normal-0.02", "lecun-uniform")),
    "3": (HOLDOUT.with_name("verdicts_holdout3.json"), ("x1.5", "x4", "x0.7", "normal-0.05", "kaiming-fan-out")),
    # set 4 (stop 29) tests the first-attention rule of causal LMs, set on everything above: run
    # on the decoders (`--families gpt2,llama,neox`), with the decoders outside the zoo in
    # `others --train-others --set 3`; committed before its training
    "4": (HOLDOUT.with_name("verdicts_holdout4.json"), ("x2.5", "normal-0.1", "normal-0.035")),
    # set 5 (stop 32) tests the zero-embeddings exception to "vanishing stream" with others set 6:
    # run on the families with embedding tables (`--families
    # gpt2,llama,neox,bert,encoder,encoder-prenorm,lstm`); committed before its training
    "5": (HOLDOUT.with_name("verdicts_holdout5.json"), ("zero-embeddings",)),
    # set 6 (stop 32) tested the plain stacks' vanishing bar moved to 3e-7: run on them
    # (`--families cnn,mlp,mlp20-torch`); committed with the bar, before its training. It
    # refuted the move (6/9 against 8/9 at 1e-3): the bar went back
    "6": (HOLDOUT.with_name("verdicts_holdout6.json"), ("x0.2", "x0.4", "normal-0.03", "normal-0.04")),
    # set 7 (stop 32) tested "flat attention" for token models whose loss reads one position, with
    # others set 7: run on BERT and the zoo's mean-pooling encoders (`--families
    # bert,encoder,encoder-prenorm`); committed with the rule, before its training. Others set 7
    # refuted the rule (verdicts.py's comment on ATTENTION_LOGIT_STD_MIN): it went
    "7": (HOLDOUT.with_name("verdicts_holdout7.json"), ("x0.4", "x0.6", "normal-0.005", "normal-0.01")),
    # holdout set 8 (stop 33, committed with "collapsing over positions" read against the tokens'
    # spread, and before its training): the pre-norm encoder at the small re-draws where its
    # branches' shared biases lift token similarity over the bar (`--families encoder-prenorm`)
    "8": (HOLDOUT.with_name("verdicts_holdout8.json"), ("normal-0.002", "normal-0.003", "normal-0.007")),
    # holdout sets 9 and 10 (stop 33, committed with "dead blocks", "no gradient reaches the
    # model" and flat attention not judged at exactly zero logits, before their training): every
    # family with every layer's weight at 0 (a botched init); the attention families with a zero
    # query, muP's (`--families gpt2,llama,neox,bert,encoder,encoder-prenorm,vit`)
    "9": (HOLDOUT.with_name("verdicts_holdout9.json"), ("zero-linear",)),
    "10": (HOLDOUT.with_name("verdicts_holdout10.json"), ("zero-query",)),
    # holdout set 11 (stop 33, committed with "no gradient reaches the model" for models where no
    # weight matrix takes a gradient, before its training): every 1-D parameter at 0 (biases and
    # norm scales), on all 12 zoo families
    "11": (HOLDOUT.with_name("verdicts_holdout11.json"), ("zero-1d",)),
    # holdout set 12 (stop 34, committed with "zero head on a shared feature" and before its
    # training): the head's weight and bias at 0 (muP's readout, Fixup's, timm's head_init_scale
    # 0) on every family whose head is its own (`--families llama,neox,bert,vit,encoder,
    # encoder-prenorm,resnet,cnn,mlp,mlp20-torch,lstm`: GPT-2's is its embedding table)
    "12": (HOLDOUT.with_name("verdicts_holdout12.json"), ("zero-head",)),
    # stop 35, committed before its training: initializer_range set 10x and 0.1x in the config
    # (the library's init run at that range), on the zoo's transformers families; the fix now
    # takes the config class's default where the config's range is > 3x off it
    "13": (HOLDOUT.with_name("verdicts_holdout13.json"), ("range-x10", "range-x0.1")),
    # stop 36, the cases the rules of that stop were set on (in sample, not a test of them): one
    # LSTM gate held shut or open by its bias (`--families lstm`), and GPT-2's tied token table at
    # N(0, s) (`--families gpt2`; s = 1 is nn.Embedding's default, a nanoGPT without _init_weights)
    "14": (HOLDOUT.with_name("verdicts_holdout14.json"), ("gate-forget-5", "gate-forget+5", "gate-input-5", "gate-output-5")),
    "15": (HOLDOUT.with_name("verdicts_holdout15.json"), ("embed-0.15", "embed-0.2", "embed-0.25", "embed-0.3", "embed-1")),
    # stop 39, committed with its rules (first attention a defect at 3.8, tied-stream growth, the
    # post-norm eps bar, a plain stack's vanishing read with its gradients) and before its
    # training, to test them out of sample: scales between the ones they were set on
    # (`--families gpt2,llama,neox,bert,encoder,cnn,mlp`)
    "16": (HOLDOUT.with_name("verdicts_holdout16.json"), ("x3.5", "x0.35", "normal-0.07", "normal-0.15")),
    # stop 65, committed with inspect's predictions before training: torch's own init
    # (``torch-default``, :func:`_torch_default`), what a model gets from its layers when nothing
    # else draws it, on every zoo family (its own default for the torch-built MLP, encoders and LSTM,
    # drawn again); others set 78 holds the same init on designs outside the zoo
    "17": (HOLDOUT.with_name("verdicts_holdout17.json"), ("torch-default",)),
}
HOLDOUT_INITS = {name for _, inits in HOLDOUT_SETS.values() for name in inits}


# the last layer of each residual branch in the transformers decoders of the others sets (set 39's
# ``zero-residual``: the zoo's, GPT-2's scaled init pushed to zero)
ZERO_RESIDUAL_ENDS = ("self_attn.o_proj", "mlp.down_proj", "mlp.fc2")


def apply_init(model: torch.nn.Module, init: str) -> torch.nn.Module:
    """An init outside the zoo by name: ``default`` leaves the model as built, ``constant``,
    ``orthogonal`` and ``zero-residual`` are the zoo's (:data:`initscope.inspect.zoo.INITS`; the
    branches' last layers by ZERO_RESIDUAL_ENDS), ``x<k>`` scales
    every parameter by k, ``zero-embeddings`` zeros every ``nn.Embedding`` table (tokens,
    positions, types; a tied head with them), ``zero-linear`` / ``zero-query`` (:func:`_zero_init`),
    ``zero-1d`` every 1-D parameter, ``zero-head`` the head (:func:`_zero_head`), ``torch-default``
    each module's own ``reset_parameters`` (:func:`_torch_default`), ``range-x<k>``
    the config's initializer_range x k (:func:`_config_range`), any other name re-draws the
    weight matrices (:func:`_redraw`)."""
    if init == "default":
        return model
    if init == "zero-head":
        return _zero_head(model)
    if init in ("constant", "orthogonal"):  # the zoo's own (zoo.INITS), on a model outside it
        (zoo._constant if init == "constant" else zoo._orthogonal)(model)
        return model
    if init == "zero-residual":
        if not zoo._zero_residual(model, ZERO_RESIDUAL_ENDS):
            raise ValueError(f"zero-residual: no module of {type(model).__name__} ends in one of {ZERO_RESIDUAL_ENDS}")
        return model
    if init.startswith("lora"):
        return _lora(model, init)
    if init == "torch-default":
        return _torch_default(model)
    if init == "torch-default-types-0.02":  # torch's own init, then the token-type tables alone at N(0, 0.02) (set 93)
        return _redraw_tables(_torch_default(model), "types", 0.02)
    std = re.fullmatch(r"(positions|types)-(\d+(?:\.\d+)?)", init)
    if std:  # one kind of table alone at N(0, std), the rest as built (sets 97-101)
        return _redraw_tables(model, std[1], float(std[2]))
    if init == "zero-embeddings":
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Embedding):
                    m.weight.zero_()  # a head tied to a table goes with it
        return model
    if init in ("zero-linear", "zero-query"):
        return _zero_init(model, init)
    if init == "zero-1d":  # the loop that zeroes "the biases" as every 1-D parameter: norm scales too
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 1:
                    p.zero_()
        return model
    scale = re.fullmatch(r"x(\d+(?:\.\d+)?)", init)
    if scale:
        zoo._scale_all(model, float(scale[1]))
        return model
    scale = re.fullmatch(r"range-x(\d+(?:\.\d+)?)", init)
    if scale:
        return _config_range(model, float(scale[1]))
    gate = re.fullmatch(r"gate-(input|forget|output|update)([+-]\d+(?:\.\d+)?)", init)
    if gate:
        return _gate_bias(model, gate[1], float(gate[2]))
    gain = re.fullmatch(r"hh-orthogonal-(\d+(?:\.\d+)?)", init)
    if gain:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.RNNBase):
                    for n, p in m.named_parameters(recurse=False):
                        if n.startswith("weight_hh"):
                            torch.nn.init.orthogonal_(p, gain=float(gain[1]))
        return model
    role = re.fullmatch(r"(qk|head|norm)-x(\d+(?:\.\d+)?)", init)
    if role:
        return _role_scale(model, role[1], float(role[2]))
    std = re.fullmatch(r"embed-(\d+(?:\.\d+)?)", init)
    if std:  # the token table (and a head tied to it) drawn at N(0, std): nn.Embedding's default is 1
        with torch.no_grad():
            model.get_input_embeddings().weight.normal_(0, float(std[1]))
        return model
    if init == "scale-embedding":  # BART's family: scale_embedding=True, the tokens x sqrt(d_model) in the forward
        model.config.scale_embedding = True
        for m in model.modules():
            if isinstance(getattr(m, "embed_scale", None), float):
                m.embed_scale = math.sqrt(model.config.d_model)
        return model
    return _redraw(model, init)


def _redraw_tables(model: torch.nn.Module, kind: str, std: float) -> torch.nn.Module:
    """One kind of lookup table alone drawn at N(0, std): ``types`` the token-type tables, ``positions``
    the learned position tables (named ``position_embeddings`` or ``pos``; not LayoutLM's box tables,
    ``x_position_embeddings`` ...). An error where the model has none."""
    def wanted(name: str) -> bool:
        last = name.rsplit(".", 1)[-1]
        return "token_type" in last if kind == "types" else last in ("pos", "position_embeddings")

    tables = [m for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding) and wanted(n)]
    if not tables:
        raise ValueError(f"{kind}-{std:g}: {type(model).__name__} has no {'token-type' if kind == 'types' else 'learned position'} table")
    with torch.no_grad():
        for m in tables:
            m.weight.normal_(0, std)
    return model


def _torch_default(model: torch.nn.Module) -> torch.nn.Module:
    """The init a model gets from torch's layers alone (``torch-default``): every module's own
    ``reset_parameters`` run again (``nn.Linear`` and the convolutions U(+-1/sqrt(fan in)) for
    weights and biases, ``nn.Embedding`` N(0, 1) with its padding row zero, norms at 1 and 0,
    ``nn.MultiheadAttention``'s Xavier), as in a model written from torch's modules with no init
    of its own, or a ``transformers`` model whose ``_init_weights`` a user replaced with a loop
    over ``reset_parameters``. Parameters no module resets (GPT-2's ``Conv1D``, position or class
    tokens held as bare parameters) keep the model's init."""
    with torch.no_grad():
        for m in reversed(list(model.modules())):  # children first, as they are built: MultiheadAttention's
            # own reset then zeroes its out_proj's bias, as at construction
            reset = getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)
            if callable(reset) and any(True for _ in m.parameters(recurse=False)):
                reset()
    return model


# the query and key projections by their last name (``q_lin``: DistilBERT; ``q``: T5 and MPNet;
# ``query_proj``: DeBERTa v2)
_KEY_NAMES = ("k_proj", "key", "k_lin", "k", "key_proj")
_QUERY_KEY = ("q_proj", "query", "q_lin", "q", "query_proj", *_KEY_NAMES)


def _role_scale(model: torch.nn.Module, role: str, k: float) -> torch.nn.Module:
    """One role's weights x k, the rest as built (set 81: the slip of one module group a debugging
    engineer meets): ``qk`` the query and key projections (by _QUERY_KEY; the first two thirds of
    GPT-2's ``c_attn`` and of torch's ``in_proj_weight``; each head's q and k rows of a fused
    ``query_key_value``), so the attention logits x k^2; ``head`` the output layer (an LM's
    ``get_output_embeddings``, a table tied to it with it; else the last ``nn.Linear``), weight
    and bias; ``norm`` every norm's scale (a module whose class name holds "Norm", its ``weight``).
    An error where nothing was scaled (a design without that role, or a norm whose scale is an
    offset from 1 at 0, as Gemma's)."""
    touched = 0
    with torch.no_grad():
        if role == "head":
            get = getattr(model, "get_output_embeddings", None)
            head = get() if callable(get) else None
            if head is None:
                head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
            for p in (head.weight, getattr(head, "bias", None)):
                if p is not None:
                    p.mul_(k)
                    touched += 1
        for m in model.modules():
            if role == "norm" and "Norm" in type(m).__name__ and isinstance(getattr(m, "weight", None), torch.nn.Parameter):
                touched += bool(m.weight.abs().sum() > 0)
                m.weight.mul_(k)
        for rows in _query_key_rows(model, _QUERY_KEY) if role == "qk" else ():
            rows.mul_(k)
            touched += 1
    if not touched:
        raise ValueError(f"{role}-x{k:g}: {type(model).__name__} has no {role} weights this init scales")
    return model


def _gate_bias(model: torch.nn.Module, gate: str, value: float) -> torch.nn.Module:
    """One gate of every LSTM / GRU layer held by its bias: ``bias_ih`` of that gate at ``value``
    and ``bias_hh`` at 0 (torch's gate order: LSTM input, forget, cell, output; GRU reset,
    update, candidate)."""
    from initscope.inspect.stats import gate_names

    with torch.no_grad():
        for m in model.modules():
            names = gate_names(m) if isinstance(m, torch.nn.RNNBase) else ()
            if gate not in names:
                continue
            k, h = names.index(gate), m.hidden_size
            for n, p in m.named_parameters(recurse=False):
                if n.startswith("bias_"):
                    p[k * h:(k + 1) * h] = value if n.startswith("bias_ih") else 0.0
    return model


def _config_range(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    """A ``transformers`` model as a user gets it by setting ``initializer_range`` to ``factor``
    times its config's value: the library's own init run again at that range (norms stay at 1,
    GPT-2's residual projections keep their 1/sqrt(2 x layers)), not every parameter scaled."""
    if not hasattr(model, "_init_weights") or not isinstance(getattr(model.config, "initializer_range", None), (int, float)):
        raise ValueError("range-x<k> needs a transformers model whose config has an initializer_range")
    model.config.initializer_range *= factor
    model.apply(model._init_weights)
    return model


class _LoRA(torch.nn.Module):
    """A frozen layer plus a rank-``r`` update B(A(x)) x alpha / r (Hu et al. 2021; peft's
    layout): A kaiming-uniform as nn.Linear's, B at 0 (``lora``), both at 0 (``lora-zero``), or B
    drawn like A (``lora-random-b``, peft's init_lora_weights=False)."""

    def __init__(self, base: torch.nn.Module, fan_in: int, fan_out: int, how: str, r: int = 4, alpha: float = 8.0) -> None:
        super().__init__()
        self.base, self.scale = base, alpha / r
        self.lora_A = torch.nn.Linear(fan_in, r, bias=False)
        self.lora_B = torch.nn.Linear(r, fan_out, bias=False)
        with torch.no_grad():
            if how == "lora-zero":
                self.lora_A.weight.zero_()
            if how != "lora-random-b":
                self.lora_B.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scale


def _lora(model: torch.nn.Module, how: str) -> torch.nn.Module:
    """Every ``nn.Linear`` (and GPT-2's ``Conv1D``) but the head wrapped in :class:`_LoRA` and every
    parameter frozen but the adapters' and, for a classifier, its head's (a new task head);
    torch's MultiheadAttention and Transformer layers read their weights directly and keep them."""
    from transformers.pytorch_utils import Conv1D

    if how not in ("lora", "lora-zero", "lora-random-b"):
        raise ValueError(f"unknown LoRA init {how!r}")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    head = linears[-1] if linears else None
    lm = any(isinstance(e, torch.nn.Embedding) and head is not None and e.weight is head.weight for e in model.modules()) or \
        type(model).__name__.endswith("ForCausalLM") or type(model).__name__ == "GPT2LMHeadModel"
    for p in model.parameters():
        p.requires_grad_(False)
    if head is not None and not lm:
        for p in head.parameters():
            p.requires_grad_(True)
    for name, parent in list(model.named_modules()):
        if isinstance(parent, (torch.nn.MultiheadAttention, torch.nn.TransformerEncoderLayer, torch.nn.TransformerDecoderLayer, _LoRA)):
            continue
        for cname, child in list(parent.named_children()):
            if child is head:
                continue
            if isinstance(child, torch.nn.Linear):
                setattr(parent, cname, _LoRA(child, child.in_features, child.out_features, how))
            elif isinstance(child, Conv1D):
                setattr(parent, cname, _LoRA(child, child.weight.shape[0], child.nf, how))
    return model


def _zero_head(model: torch.nn.Module) -> torch.nn.Module:
    """The model's last ``nn.Linear`` (its classifier or LM head) with weight and bias at 0; an
    error where that weight is an embedding table's too (GPT-2's tied head)."""
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not heads:
        raise ValueError("zero-head: the model has no nn.Linear")
    head = heads[-1]
    if any(isinstance(e, torch.nn.Embedding) and e.weight is head.weight for e in model.modules()):
        raise ValueError("zero-head: the head is tied to an embedding table (zero-embeddings zeroes both)")
    with torch.no_grad():
        head.weight.zero_()
        if head.bias is not None:
            head.bias.zero_()
    return model


def _zero_init(model: torch.nn.Module, how: str) -> torch.nn.Module:
    """``zero-linear``: every weight a layer multiplies by (Linear, convolution, transformers'
    Conv1D, torch's packed attention projection) set to 0, embedding tables, biases and norm
    scales kept (a botched init that zeroes every nn.Linear). ``zero-query``: the query
    projections at 0 and the rest as built (muP's zero query): ``q_proj`` / ``query``, the first
    third of GPT-2's ``c_attn`` and of torch's ``in_proj_weight``, each head's query rows of
    GPT-NeoX's ``query_key_value``."""
    from initscope.inspect.structure import is_embedding, weight_of

    with torch.no_grad():
        if how == "zero-query":
            for rows in _query_key_rows(model, ("q_proj", "query")):
                rows.zero_()
            return model
        for m in model.modules():
            w = weight_of(m)
            if w is not None and not is_embedding(m):
                w.zero_()
            if isinstance(m, torch.nn.MultiheadAttention) and m.in_proj_weight is not None:
                m.in_proj_weight.zero_()
    return model


def _query_key_rows(model: torch.nn.Module, names: tuple[str, ...]) -> list[torch.Tensor]:
    """Views of the attention weights that make the queries (and the keys where ``names`` holds key
    projections' names): a module whose last name is in ``names``, its whole weight; of a fused
    projection, the query's share (and the key's, where ``names`` holds one): the first third (two)
    of GPT-2's ``c_attn`` columns and of torch's ``in_proj_weight`` rows, each head's query (and key)
    rows of GPT-NeoX's ``query_key_value``; a bare parameter so named (XLNet's ``q``, ``k``)."""
    parts = 2 if any(n in _KEY_NAMES for n in names) else 1
    rows = []
    for name, m in model.named_modules():
        last = name.rsplit(".", 1)[-1]
        if last in names and isinstance(getattr(m, "weight", None), torch.nn.Parameter):
            rows.append(m.weight)
        elif last == "c_attn":  # transformers' Conv1D: [in, 3 x out], the query first, then the key
            rows.append(m.weight[:, : parts * m.weight.shape[1] // 3])
        elif isinstance(m, torch.nn.MultiheadAttention) and m.in_proj_weight is not None:
            rows.append(m.in_proj_weight[: parts * m.embed_dim])
        elif last == "query_key_value":  # [heads x (q, k, v) x head_dim, width]
            rows.append(m.weight.view(model.config.num_attention_heads, 3, -1, m.weight.shape[1])[:, :parts])
        # projections held as bare parameters of the attention module (XLNet's q and k, [width, heads, head_dim])
        rows += [p for n, p in m.named_parameters(recurse=False) if n in names and p.dim() >= 2]
    return rows


def _holdout_model(family: str, init: str, seed: int) -> torch.nn.Module:
    return apply_init(zoo.build(family, "default", seed=seed), init)


def _holdout_job(job: tuple[str, str, int, dict]) -> tuple[str, str, int, float]:
    torch.set_num_threads(1)
    fam, init, seed, protocol = job
    return fam, init, seed, run_training(fam, init, seed, protocol, model=_holdout_model(fam, init, seed))


def _train_saved(path: Path, protocol: dict, pairs: list[tuple[str, str]], job, jobs: int) -> dict[tuple[str, str], dict[int, float]]:
    """Held-out losses of ``pairs`` for every seed, trained by ``job`` ((a, b, seed, protocol) ->
    (a, b, seed, loss)) in ``jobs`` processes and saved in ``path`` after each one, so a run resumes
    and re-scoring takes a minute (a file trained with another recipe is not reused)."""
    import multiprocessing as mp

    saved = json.loads(path.read_text()) if path.exists() else {}
    if protocol_of(saved) != protocol:
        saved = {}
    saved = {**protocol, "seeds": list(SEEDS), "losses": saved.get("losses", {})}
    todo = [(a, b, s, protocol) for a, b in pairs for s in SEEDS if str(s) not in saved["losses"].get(f"{a}|{b}", {})]
    t0 = time.perf_counter()
    if todo:
        with mp.get_context("spawn").Pool(jobs) as pool:
            for n, (a, b, seed, loss) in enumerate(pool.imap_unordered(job, todo)):
                saved["losses"].setdefault(f"{a}|{b}", {})[str(seed)] = loss
                path.write_text(json.dumps(saved, indent=1, allow_nan=True))
                print(f"[{n + 1}/{len(todo)} {time.perf_counter() - t0:5.0f}s] {a} {b} seed {seed}: {loss:.4g}", file=sys.stderr, flush=True)
    return {tuple(k.split("|")): {int(s): v for s, v in by.items()} for k, by in saved["losses"].items()}


def judged_wrong(label_: str, flagged: bool) -> bool:
    """Whether inspect's step 0 disagrees with training on a labelled pair (flagged and trains, or
    not flagged and broken); marginal and left-out pairs are never wrong."""
    return label_ in ("trains", "broken") and flagged != (label_ == "broken")


def _print_judged(rows: list[tuple[str, str, str, float, object]], width: int) -> None:
    """The confusion matrix of (name, init, label, progress, inspect result) rows, then each row."""
    confusion([(lab, bool(res.issues)) for _, _, lab, _, res in rows if lab != "left out"])
    for name, init, lab, prog, res in rows:
        kinds = sorted({f.kind for f in res.findings if f.severity == "defect"})
        wrong = judged_wrong(lab, bool(res.issues))
        print(f"  {name:{width}s} {init:8s} {lab:8s} {prog:8.2f}  " + (f"FLAG {', '.join(kinds)}" if kinds else "ok") + ("  <- wrong" if wrong else ""))


def cmd_holdout(truth: dict, jobs: int, which: str = "1", fixes: bool = False) -> None:
    """Every family with one set of inits outside the zoo (HOLDOUT_SETS), trained the same way and
    labelled against the family's best in the truth, then judged by inspect: agreement out of sample."""
    path, inits = HOLDOUT_SETS[which]
    protocol = protocol_of(truth)
    fams = list(dict.fromkeys(k.split("|")[0] for k in truth["pairs"]))
    losses = _train_saved(path, protocol, [(f, i) for f in fams for i in inits], _holdout_job, jobs)
    rows = []
    for fam in fams:
        for init in inits:
            prog = progress_against(truth, fam, sum(losses[(fam, init)][s] for s in SEEDS) / len(SEEDS))
            torch.manual_seed(0)
            x, _ = zoo.task_data(fam, 16, seed=12345)
            res = inspect(_holdout_model(fam, init, 0), x)
            rows.append((fam, init, label(prog), prog, res))
    print(f"\nholdout set {which}: inits {', '.join(inits)}, trained with {protocol}:")
    _print_judged(rows, 16)
    if fixes:
        cmd_fixes(truth, {"rows": rows}, jobs, {k: [v[s] for s in SEEDS] for k, v in losses.items()})


def _ablation_job(job: tuple[str, int, dict]) -> tuple[str, int, float]:
    torch.set_num_threads(1)
    name, seed, protocol = job
    fam, builder = ABLATIONS[name]
    torch.manual_seed(seed)
    return name, seed, run_training(fam, "ablation", seed, protocol, model=builder())


def cmd_ablations(truth: dict, jobs: int) -> None:
    """Each ablation trained the same way as the truth (its family's chance and best init give
    the progress), and what inspect says of it (seed 0, the batch `score` uses)."""
    import multiprocessing as mp

    protocol = protocol_of(truth)
    todo = [(n, s, protocol) for n in ABLATIONS for s in SEEDS]
    losses: dict[str, dict[int, float]] = {}
    with mp.get_context("spawn").Pool(jobs) as pool:
        for name, seed, loss in pool.imap_unordered(_ablation_job, todo):
            losses.setdefault(name, {})[seed] = loss
    print(f"\nablations, trained with {protocol} ({len(SEEDS)} seeds):")
    for name, (fam, builder) in ABLATIONS.items():
        prog = [progress_against(truth, fam, losses[name][s]) for s in SEEDS]
        torch.manual_seed(0)
        x, _ = zoo.task_data(fam, 16, seed=12345)
        res = inspect(builder(), x)
        kinds = sorted({f.kind for f in res.findings if f.severity == "defect"})
        mean = sum(prog) / len(prog)
        print(f"  {name:44s} progress {mean:5.2f} ({label(mean)}; seeds {', '.join(f'{v:.2f}' for v in prog)})  "
              + (f"FLAG {', '.join(kinds)}" if kinds else "ok"))


class _LSTMCellNet(torch.nn.Module):
    """An LSTM written out as people write one (gates by ``torch.sigmoid`` / ``torch.tanh`` on
    ``W x + U h``), torch's default Linear init, on the zoo's token task (its last state)."""

    def __init__(self, d: int = 64, gru: bool = False) -> None:
        super().__init__()
        self.embed, self.gru, self.d = torch.nn.Embedding(zoo.VOCAB, d), gru, d
        self.ih, self.hh = torch.nn.Linear(d, (3 if gru else 4) * d), torch.nn.Linear(d, (3 if gru else 4) * d)
        self.head = torch.nn.Linear(d, zoo.CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        h = c = x.new_zeros(x.shape[0], self.d)
        for t in range(x.shape[1]):
            if self.gru:
                (xr, xz, xn), (hr, hz, hn) = self.ih(x[:, t]).chunk(3, 1), self.hh(h).chunk(3, 1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            else:
                i, f, g, o = (self.ih(x[:, t]) + self.hh(h)).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
        return self.head(h)


class _GatedConvBlock(torch.nn.Module):
    def __init__(self, d: int, dilation: int) -> None:
        super().__init__()
        self.pad = dilation
        self.filt = torch.nn.Conv1d(d, d, 2, dilation=dilation)
        self.gate = torch.nn.Conv1d(d, d, 2, dilation=dilation)
        self.out = torch.nn.Conv1d(d, d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.pad(x, (self.pad, 0))
        return x + self.out(torch.tanh(self.filt(h)) * torch.sigmoid(self.gate(h)))


class _WaveNet(torch.nn.Module):
    """WaveNet's gated units (tanh(W_f x) * sigmoid(W_g x), dilated causal convolutions, residual
    sums), torch's default init, on the zoo's token task (mean over time)."""

    def __init__(self, d: int = 64) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(zoo.VOCAB, d)
        self.blocks = torch.nn.ModuleList(_GatedConvBlock(d, 2 ** k) for k in range(4))
        self.head = torch.nn.Linear(d, zoo.CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(dim=2))


class _Highway(torch.nn.Module):
    """A highway network (Srivastava et al. 2015: y = H(x) T(x) + x (1 - T(x)), T = sigmoid with
    its bias at -2, as the paper sets it), torch's default Linear init, on the zoo's digits."""

    def __init__(self, d: int = 128, depth: int = 6) -> None:
        super().__init__()
        self.inp = torch.nn.Linear(64, d)
        self.h = torch.nn.ModuleList(torch.nn.Linear(d, d) for _ in range(depth))
        self.t = torch.nn.ModuleList(torch.nn.Linear(d, d) for _ in range(depth))
        with torch.no_grad():
            for t in self.t:
                t.bias.fill_(-2.0)
        self.head = torch.nn.Linear(d, zoo.CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.inp(x))
        for h, t in zip(self.h, self.t):
            g = torch.sigmoid(t(x))
            x = torch.relu(h(x)) * g + x * (1 - g)
        return self.head(x)


class _TCNBlock(torch.nn.Module):
    """Bai et al. (2018)'s temporal block: two weight-normalized dilated causal convolutions
    with ReLUs, weights N(0, 0.01), a residual sum (a 1 x 1 convolution where the width changes)."""

    def __init__(self, cin: int, cout: int, dilation: int) -> None:
        super().__init__()
        wn = torch.nn.utils.parametrizations.weight_norm
        self.pad = 2 * dilation
        self.c1 = wn(torch.nn.Conv1d(cin, cout, 3, dilation=dilation))
        self.c2 = wn(torch.nn.Conv1d(cout, cout, 3, dilation=dilation))
        self.down = torch.nn.Conv1d(cin, cout, 1) if cin != cout else None
        with torch.no_grad():
            for c in (self.c1, self.c2):
                c.parametrizations.weight.original1.normal_(0, 0.01)
            if self.down is not None:
                self.down.weight.normal_(0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = lambda h: torch.nn.functional.pad(h, (self.pad, 0))  # noqa: E731
        h = torch.relu(self.c2(pad(torch.relu(self.c1(pad(x))))))
        return torch.relu(h + (x if self.down is None else self.down(x)))


class _TCN(torch.nn.Module):
    """A TCN on the zoo's token task (its last step's features)."""

    def __init__(self, d: int = 64) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(zoo.VOCAB, 32)
        self.blocks = torch.nn.ModuleList(_TCNBlock(32 if k == 0 else d, d, 2 ** k) for k in range(4))
        self.head = torch.nn.Linear(d, zoo.CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        return self.head(x[:, :, -1])


class _PlainResBlock(torch.nn.Module):
    def __init__(self, d: int, conv: bool) -> None:
        super().__init__()
        make = (lambda: torch.nn.Conv2d(d, d, 3, padding=1)) if conv else (lambda: torch.nn.Linear(d, d))
        self.f1, self.f2 = make(), make()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f2(torch.relu(self.f1(x)))


class _PlainResNet(torch.nn.Module):
    """Residual blocks x + f2(relu(f1(x))) with no normalization anywhere and torch's default
    init: an MLP on the zoo's digits (``conv=False``, 8 blocks of width 128) or a CNN on its
    images (4 blocks of 16 channels)."""

    def __init__(self, conv: bool) -> None:
        super().__init__()
        d = 16 if conv else 128
        self.stem = torch.nn.Conv2d(zoo.IMAGE[0], d, 3, padding=1) if conv else torch.nn.Linear(64, d)
        self.blocks = torch.nn.Sequential(*[_PlainResBlock(d, conv) for _ in range(4 if conv else 8)])
        self.head, self.conv = torch.nn.Linear(d, zoo.CLASSES), conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        return self.head(h.mean(dim=(2, 3)) if self.conv else h)


class _FixupBlock(torch.nn.Module):
    def __init__(self, d: int, blocks: int) -> None:
        super().__init__()
        self.b1a, self.b1b, self.b2a, self.b2b = (torch.nn.Parameter(torch.zeros(1)) for _ in range(4))
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.c1 = torch.nn.Conv2d(d, d, 3, padding=1, bias=False)
        self.c2 = torch.nn.Conv2d(d, d, 3, padding=1, bias=False)
        with torch.no_grad():  # Fixup (Zhang et al. 2019): He init scaled by L^(-1/(2m-2)), m = 2; the last conv at 0
            torch.nn.init.kaiming_normal_(self.c1.weight, nonlinearity="relu")
            self.c1.weight.mul_(blocks ** -0.5)
            self.c2.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c1(x + self.b1a) + self.b1b)
        return torch.relu(x + self.c2(h + self.b2a) * self.scale + self.b2b)


class _Fixup(torch.nn.Module):
    """A Fixup ResNet (no normalization; scalar biases and multipliers; the head at 0) on the
    zoo's images."""

    def __init__(self, d: int = 16, blocks: int = 4) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(zoo.IMAGE[0], d, 3, padding=1)
        self.blocks = torch.nn.Sequential(*[_FixupBlock(d, blocks) for _ in range(blocks)])
        self.head = torch.nn.Linear(d, zoo.CLASSES)
        with torch.no_grad():
            self.head.weight.zero_(), self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(torch.relu(self.stem(x))).mean(dim=(2, 3)))


class _ClsFirst(torch.nn.Module):
    """A ``transformers`` sequence classifier given a [CLS] token before the zoo's text, as every
    BERT-style input begins (token 2: a pad id in none of them, RoBERTa's is 1); its pooler or
    head reads that position."""

    CLS = 2

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor) -> object:
        cls = torch.full((input_ids.shape[0], 1), self.CLS, dtype=input_ids.dtype, device=input_ids.device)
        return self.inner(input_ids=torch.cat([cls, input_ids], dim=1))


def _cls_encoder(kind: str, layers: int = 4) -> torch.nn.Module:
    import transformers as t

    enc = dict(vocab_size=zoo.VOCAB, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=256,
               max_position_embeddings=130, num_labels=zoo.CLASSES)
    if kind == "bert":
        inner = t.BertForSequenceClassification(t.BertConfig(**enc))
    elif kind == "roberta":
        inner = t.RobertaForSequenceClassification(t.RobertaConfig(**enc))
    elif kind == "electra":
        inner = t.ElectraForSequenceClassification(t.ElectraConfig(**enc, embedding_size=64))
    else:
        inner = t.DistilBertForSequenceClassification(t.DistilBertConfig(vocab_size=zoo.VOCAB, dim=64, n_layers=layers, n_heads=4,
                                                                         hidden_dim=256, max_position_embeddings=130,
                                                                         num_labels=zoo.CLASSES))
    return _ClsFirst(inner)


# others set 11 (stop 34): the zoo's families as frozen bases for LoRA (the inits: :func:`_lora`),
# labelled against their own best LoRA init (a frozen random base has its own ceiling)
# (torch's TransformerEncoder is left out: its layers read linear1.weight and friends directly,
# and its eval-mode fast path would skip an adapter; found when its first evaluation failed)
LORA_OTHERS = {f"{fam} (frozen)": fam for fam in ("gpt2", "llama", "neox", "bert", "vit", "mlp")}

# others set 10 (stop 34): BERT-style classifiers whose head reads the [CLS] position
CLS_OTHERS = {"bert-cls": lambda: _cls_encoder("bert"), "bert12-cls": lambda: _cls_encoder("bert", 12),
              "roberta-cls": lambda: _cls_encoder("roberta"), "electra-cls": lambda: _cls_encoder("electra"),
              "distilbert-cls": lambda: _cls_encoder("distilbert")}

# others set 9 (stop 33): residual nets without any normalization layer
RESIDUAL_OTHERS = {"tcn": (_TCN, "lstm"), "resmlp-plain": (lambda: _PlainResNet(conv=False), "mlp"),
                   "rescnn-plain": (lambda: _PlainResNet(conv=True), "cnn"), "fixup": (_Fixup, "cnn")}

# others set 8 (stop 33): hand-written models whose gates are torch.sigmoid / torch.tanh calls
GATED_OTHERS = {"lstm-cell": (lambda: _LSTMCellNet(), "lstm"), "gru-cell": (lambda: _LSTMCellNet(gru=True), "lstm"),
                "wavenet": (_WaveNet, "lstm"), "highway": (_Highway, "mlp")}


class _TableEncoder(torch.nn.Module):
    """A BERT-style classifier written from torch's layers (set 90): a token table and a position
    code summed into a LayerNorm, torch's post-norm ``TransformerEncoderLayer`` x 4, a head on the
    first token. The positions are a learned table (``positions="learned"``, looked up by position
    ids) or a fixed sinusoid buffer added to the tokens (``"sinusoid"``). Its default init is
    torch's, with the tables drawn at N(0, 0.02) as BERT draws them; ``torch-default`` leaves
    nn.Embedding's N(0, 1)."""

    def __init__(self, positions: str, d: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(zoo.VOCAB, d)
        # "typed": learned positions and a token-type table (2 rows), looked up with 0 for every token
        # as BERT's in a plain batch (set 92)
        self.token_type_embeddings = torch.nn.Embedding(2, d) if positions == "typed" else None
        positions = "learned" if positions == "typed" else positions
        self.positions = positions
        if positions == "learned":
            self.pos = torch.nn.Embedding(zoo.SEQ, d)
        else:
            angle = torch.arange(zoo.SEQ, dtype=torch.float32)[:, None] / 10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
            self.register_buffer("pos", torch.cat([angle.sin(), angle.cos()], dim=-1), persistent=False)
        self.norm = torch.nn.LayerNorm(d)
        layer = torch.nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.head = torch.nn.Linear(d, zoo.CLASSES)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, torch.nn.Embedding):
                    m.weight.normal_(0, 0.02)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embed

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = torch.arange(input_ids.shape[1], device=input_ids.device)
        p = self.pos(t) if self.positions == "learned" else self.pos[: input_ids.shape[1]]
        if self.token_type_embeddings is not None:
            p = p + self.token_type_embeddings(torch.zeros_like(input_ids))
        return self.head(self.encoder(self.norm(self.embed(input_ids) + p))[:, 0])


def _set90_classifier(name: str) -> torch.nn.Module:
    """Set 90's encoders by name: ``table-<learned|sinusoid|typed>-w<width>`` (:class:`_TableEncoder`),
    ``deberta-v3-w<width>`` (DeBERTa v2's classes configured as DeBERTa v3 ships: relative
    attention over a relative-position matrix, no absolute position table, no token types),
    ``funnel-w<width>`` (two blocks of 2 layers, relative positions from a sinusoid)."""
    import transformers as t

    kind, width = name.rsplit("-w", 1)
    d = int(width)
    if kind.startswith("table-"):
        return _TableEncoder(kind.split("-", 1)[1], d)
    if kind == "deberta-v3":
        return t.DebertaV2ForSequenceClassification(t.DebertaV2Config(
            vocab_size=zoo.VOCAB, hidden_size=d, num_hidden_layers=4, num_attention_heads=4, intermediate_size=4 * d,
            max_position_embeddings=130, relative_attention=True, position_biased_input=False, pos_att_type=["p2c", "c2p"],
            max_relative_positions=-1, position_buckets=64, norm_rel_ebd="layer_norm", share_att_key=True, type_vocab_size=0,
            num_labels=zoo.CLASSES))
    if kind == "funnel":
        return t.FunnelForSequenceClassification(t.FunnelConfig(
            vocab_size=zoo.VOCAB, block_sizes=[2, 2], block_repeats=[1, 1], d_model=d, n_head=4, d_head=d // 4, d_inner=4 * d,
            num_labels=zoo.CLASSES))
    raise ValueError(f"set 90: no encoder named {name}")


# stop 68: for set 90, where the table rule's reading of the positions is tested beyond set 89:
# torch-written BERT-style encoders with learned or sinusoid positions at widths 64 and 128, DeBERTa
# v3's relative positions and Funnel's, and library encoders with learned tables no set held at 80
SET90_ENCODERS = ("table-learned-w64", "table-sinusoid-w64", "table-learned-w128", "table-sinusoid-w128", "deberta-v3-w80",
                  "funnel-w80", "mpnet-w80", "fnet-w80", "camembert-w80", "tapas-w80", "rembert-w80", "data2vec-text-w80")


def _sinusoid_classifier(name: str) -> torch.nn.Module:
    """Set 91's library classifiers with sinusoid positions, by name "<distilbert|xlm|flaubert>-sin-w<width>":
    the config's own switch (DistilBERT's ``sinusoidal_pos_embds``, XLM's and FlauBERT's
    ``sinusoidal_embeddings``), 4 blocks of 4 heads; the table is drawn as a sinusoid (std ~0.62) and
    the tokens at the library's scale (~0.02)."""
    import transformers as t

    kind, width = name.rsplit("-sin-w", 1)
    d, v = int(width), zoo.VOCAB
    if kind == "distilbert":
        return t.DistilBertForSequenceClassification(t.DistilBertConfig(
            vocab_size=v, dim=d, n_layers=4, n_heads=4, hidden_dim=4 * d, max_position_embeddings=130, sinusoidal_pos_embds=True,
            num_labels=zoo.CLASSES))
    cls, cfg = {"xlm": (t.XLMForSequenceClassification, t.XLMConfig),
                "flaubert": (t.FlaubertForSequenceClassification, t.FlaubertConfig)}[kind]
    return cls(cfg(vocab_size=v, emb_dim=d, n_layers=4, n_heads=4, max_position_embeddings=130, sinusoidal_embeddings=True,
                   num_labels=zoo.CLASSES))


# stop 68: for sets 92 and 93, where the table rule's constant lookup (token types) is tested:
# encoders without token types (learned positions: DistilBERT, MPNet, XLM, FlauBERT, the torch-written
# one) and the torch-written one with types, at widths no set held them (92); library encoders with
# token types at width 112, at torch's own init with and without their type table put back at 0.02 (93)
SET92_ENCODERS = ("distilbert-w96", "mpnet-w96", "xlm-w96", "table-learned-w96", "table-typed-w64", "table-typed-w96")
SET93_ENCODERS = ("roberta-w112", "electra-w112", "ernie-w112", "albert-w112", "convbert-w112", "xlm-roberta-w112")
# ... and for set 94, sinusoid classifiers at widths no set held them, for the classifier reading of
# "same output for every sequence" at TABLE_RATIO_MIN (5)
SET94_ENCODERS = ("distilbert-sin-w96", "xlm-sin-w96", "flaubert-sin-w80", "table-sinusoid-w80")
# ... and for set 95: encoders whose inputs feed other constant lookups beside token types
# (LayoutLM's box tables, MarkupLM's xpath tables, fed only zeros by a plain batch; TAPAS's seven type
# tables; CANINE's hashed characters), for the constant-lookup condition
SET95_ENCODERS = ("layoutlm-w80", "markuplm-w80", "tapas-w96", "canine-w80")
# ... and for sets 96 and 97 (stop 69), for the classifier reading of "same output for every
# sequence" on the position code alone (POSITION_RATIO_MIN, 3): sinusoid classifiers at widths no set
# held them, tokens at 0.2 and 0.25 (96); encoders with a learned position table drawn at N(0, s),
# s = 0.05, 0.1, 0.2 beside tokens at 0.02 (97: ratios ~2.5, ~5, ~10)
SET96_ENCODERS = ("distilbert-sin-w112", "xlm-sin-w80", "flaubert-sin-w112", "table-sinusoid-w112")
SET97_ENCODERS = ("roberta-w88", "electra-w88", "distilbert-w88", "table-learned-w88")
# ... and for sets 98 and 99, after the classifier reading was split in two (a smooth position code
# at POSITION_RATIO_MIN, 2.5; a constant lookup at TABLE_RATIO_MIN, 5; a random learned code not
# read): encoders with token types at width 104, their position table alone at N(0, 0.4) (~20x) or
# their type table alone at N(0, 0.1) / N(0, 0.3) (~5x, ~15x) (98); sinusoid classifiers at widths no
# set held them, tokens at 0.22 and 0.27 (99)
SET98_ENCODERS = ("ernie-w104", "convbert-w104", "albert-w104", "xlm-roberta-w104")
SET99_ENCODERS = ("distilbert-sin-w72", "xlm-sin-w120", "flaubert-sin-w72", "table-sinusoid-w72")
# ... and for set 100, after the classifier reading got a bar per kind (DROWNING_RATIO_MIN: a random
# learned position code at 15x, a constant vector at 4x): encoders with token types at width 120, their
# position table alone at N(0, 0.25) / N(0, 0.6) (~12x, ~30x) or their type table alone at N(0, 0.07) /
# N(0, 0.12) (~3.5x, ~6x)
SET100_ENCODERS = ("bert-w120", "electra-w120", "ernie-w120", "roberta-w120")
# ... and for set 101: designs no set held so drawn (the torch-written typed encoder, LayoutLM, BigBird,
# Nystromformer) at width 112, position table alone at N(0, 0.3) / N(0, 0.5) (~15x, ~25x) or type
# table alone at N(0, 0.09) (~4.5x)
SET101_ENCODERS = ("table-typed-w112", "layoutlm-w112", "big_bird-w112", "nystromformer-w112")
# ... and for set 102: more library designs with token types at width 96 (Data2Vec-text, RemBERT,
# SqueezeBERT, and pre-norm Megatron-BERT, whose embeddings no norm follows: the reading does not apply),
# position table alone at N(0, 0.15) / N(0, 0.4) (~7.5x, ~20x) or type table alone at N(0, 0.06) /
# N(0, 0.1) (~3x, ~5x)
SET102_ENCODERS = ("data2vec-text-w96", "rembert-w96", "squeezebert-w96", "megatron-bert-w96")
# ... and for set 103: encoders with learned positions and no token types at width 104 (MPNet, XLM,
# DistilBERT, DeBERTa v2 with its absolute positions), position table alone at N(0, 0.15) / N(0, 0.4)
SET103_ENCODERS = ("mpnet-w104", "xlm-w104", "distilbert-w104", "deberta-v2-w104")


# stop 68: for set 91, where a classifier's tokens drowned by what is added to them (the classifier
# reading of "same output for every sequence", first at a ratio of 10) is tested: library
# classifiers with their sinusoid switch on, and set 90's torch-written sinusoid encoder at width 96
SET91_ENCODERS = ("distilbert-sin-w64", "distilbert-sin-w128", "xlm-sin-w64", "xlm-sin-w128", "flaubert-sin-w96",
                  "table-sinusoid-w96")


class _RNNClassifier(torch.nn.Module):
    """The zoo's LSTM classifier with a GRU or a tanh RNN in its place (torch's default init)."""

    def __init__(self, kind: str, d: int = 64) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(zoo.VOCAB, d)
        self.rnn = {"gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](d, d, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(d, zoo.CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(ids))[0][:, -1])


# others sets 12-15 (stop 36): the cases that stop's rules were set on (in sample): a GRU's update
# gate, a tanh RNN's recurrent gain, Marian and Pegasus at their config default and with
# scale_embedding, ProphetNet and RoC-BERT (logits nearly the same for every sequence) at theirs
RECURRENT_OTHERS = {"gru": (lambda: _RNNClassifier("gru"), "lstm"), "rnn-tanh": (lambda: _RNNClassifier("rnn"), "lstm")}
SEQUENCE_LMS = ("marian", "pegasus", "prophetnet", "roc_bert")
# library defaults stop 39's first-attention defect flags (benchmarks/library_defaults.py clm)
FLAGGED_DEFAULT_LMS = ("bitnet", "diffllama")
FLAGGED_DEFAULT_CLASSIFIERS = ("mobilebert",)  # ... and its post-norm eps bar (library_defaults.py seq)
# stop 66: transformers' sequence classifiers no set held (``library_defaults.small_config``; Longformer
# left out: it pads the zoo's 32 tokens to its 512-token window), for set 82
LIBRARY_ENCODERS = ("big_bird", "mra", "yoso", "data2vec-text", "camembert", "rembert", "xlm", "flaubert", "canine", "luke",
                    "markuplm", "fnet", "tapas", "layoutlm", "modernbert", "squeezebert", "megatron-bert", "ibert",
                    "xlm-roberta-xl")
# stop 67: library encoders at width 128 (4 blocks, 4 heads of 32; ``_wide_classifier``), for set 85
# (not DeBERTa v2: so built it draws the same weights as DistilBERT and reads the same, pair by pair)
WIDE_ENCODERS = ("roberta-w128", "electra-w128", "distilbert-w128", "nomic_bert-w128", "albert-w128", "roformer-w128",
                 "eurobert-w128", "megatron-bert-w128")
# ... and at width 96, for set 86: set 83's and 84's designs that set 85 did not hold
WIDE96_ENCODERS = ("ernie-w96", "convbert-w96", "gte-w96", "jina_embeddings_v3-w96", "roberta-prelayernorm-w96", "data2vec-text-w96",
                   "camembert-w96", "ultrabert-w96")


# ... and at width 64 with 8 blocks, for set 87
DEEP_ENCODERS = ("roberta-w64d8", "electra-w64d8", "ernie-w64d8", "gte-w64d8", "nomic_bert-w64d8", "albert-w64d8", "roformer-w64d8",
                 "megatron-bert-w64d8")


# ... and for set 88: encoders with rotary positions and with learned position tables, at widths no
# set held them
POSITION_ENCODERS = ("gte-w128", "jina_embeddings_v3-w128", "nomic_bert-w96", "modernbert-w96", "roformer-w96", "ernie-w128",
                     "convbert-w128", "xlm-roberta-w128", "nystromformer-w96", "big_bird-w96")
# ... and for set 89 (stop 68): at width 80, no set's, encoders with learned position tables and with
# rotary positions (RoFormer's from a frozen sinusoid table), to test the table rule that reads them
SET89_ENCODERS = ("roberta-w80", "electra-w80", "ernie-w80", "convbert-w80", "distilbert-w80", "xlm-roberta-w80", "albert-w80",
                  "big_bird-w80", "roformer-w80", "gte-w80", "nomic_bert-w80", "modernbert-w80", "jina_embeddings_v3-w80")


def _wide(width: int, depth: int = 4) -> dict[str, int]:
    """The config fields ``_wide_classifier`` sets: width, depth blocks, 4 heads, feed-forward 4 x width."""
    return dict(hidden_size=width, d_model=width, dim=width, embedding_size=width, intermediate_size=4 * width, hidden_dim=4 * width,
                num_hidden_layers=depth, n_layers=depth, num_attention_heads=4, n_heads=4, num_key_value_heads=4, head_dim=width // 4,
                pooler_hidden_size=width)


def _wide_classifier(name: str) -> torch.nn.Module:
    """A ``transformers`` sequence classifier named "<model type>-w<width>[d<blocks>]" (WIDE_ENCODERS,
    WIDE96_ENCODERS, DEEP_ENCODERS): ``library_defaults.small_config`` for the type, then that width
    and depth (4 blocks unless named; :func:`_wide`)."""
    model_type, size = name.rsplit("-w", 1)
    width, _, depth = size.partition("d")
    return _library_classifier(model_type, **_wide(int(width), int(depth or 4)))


# stop 67: sequence classifiers no scored set held (the first six trained only by ``tablefix``, at
# the library's and torch's own init), for set 84; pre-norm ones among them (EuroBERT, RoBERTa-PreLN,
# UltraBERT). Left out: LiLT, DeBERTa (v1) and ESM reject small_config's batch, X-MOD wants a
# language, Reformer's axial positions do not fit width 64, Perceiver is 270 M parameters
SET84_ENCODERS = ("albert", "convbert", "ernie", "roformer", "nystromformer", "xlm-roberta", "eurobert", "gte",
                  "jina_embeddings_v3", "nomic_bert", "roberta-prelayernorm", "ultrabert", "xlnet")


def _others() -> dict[str, tuple[object, object]]:
    """``transformers`` families the zoo does not hold, built small from config: (factory, batch)."""
    import transformers as t

    v = zoo.VOCAB
    ids = {"input_ids": torch.randint(0, v, (8, 32), generator=torch.Generator().manual_seed(0))}
    img = {"pixel_values": torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))}
    small = dict(vocab_size=v, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=172,
                 max_position_embeddings=128)
    enc = {**small, "intermediate_size": 256, "max_position_embeddings": 130}
    return {
        "mistral": (lambda: t.MistralForCausalLM(t.MistralConfig(**small, num_key_value_heads=2)), ids),
        "qwen2": (lambda: t.Qwen2ForCausalLM(t.Qwen2Config(**small, num_key_value_heads=2)), ids),
        "phi": (lambda: t.PhiForCausalLM(t.PhiConfig(**small)), ids),
        "gemma": (lambda: t.GemmaForCausalLM(t.GemmaConfig(**small, num_key_value_heads=2, head_dim=16)), ids),
        "opt": (lambda: t.OPTForCausalLM(t.OPTConfig(vocab_size=v, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                      ffn_dim=256, max_position_embeddings=128, word_embed_proj_dim=64)), ids),
        "bloom": (lambda: t.BloomForCausalLM(t.BloomConfig(vocab_size=v, hidden_size=64, n_layer=4, n_head=4)), ids),
        "falcon": (lambda: t.FalconForCausalLM(t.FalconConfig(vocab_size=v, hidden_size=64, num_hidden_layers=4, num_attention_heads=4)), ids),
        "gpt-j": (lambda: t.GPTJForCausalLM(t.GPTJConfig(vocab_size=v, n_embd=64, n_layer=4, n_head=4, rotary_dim=8, n_positions=128)), ids),
        "roberta": (lambda: t.RobertaForSequenceClassification(t.RobertaConfig(**enc, num_labels=10)), ids),
        "distilbert": (lambda: t.DistilBertForSequenceClassification(t.DistilBertConfig(
            vocab_size=v, dim=64, n_layers=4, n_heads=4, hidden_dim=256, max_position_embeddings=128, num_labels=10)), ids),
        "electra": (lambda: t.ElectraForSequenceClassification(t.ElectraConfig(
            vocab_size=v, embedding_size=64, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
            max_position_embeddings=128, num_labels=10)), ids),
        "bert (no head)": (lambda: t.BertModel(t.BertConfig(**enc)), ids),
        "t5 encoder": (lambda: t.T5EncoderModel(t.T5Config(vocab_size=v, d_model=64, d_kv=16, d_ff=256, num_layers=4, num_heads=4)), ids),
        "convnext": (lambda: t.ConvNextForImageClassification(t.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1],
                                                                               num_labels=10)), img),
        "swin": (lambda: t.SwinForImageClassification(t.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1],
                                                                   num_heads=[2, 2], window_size=4, num_labels=10)), img),
        "deit": (lambda: t.DeiTForImageClassification(t.DeiTConfig(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=4,
                                                                   num_attention_heads=4, intermediate_size=256, num_labels=10)), img),
        "resnet (transformers)": (lambda: t.ResNetForImageClassification(t.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32],
                                                                                       depths=[1, 1], num_labels=10)), img),
        **{name: (lambda name=name: _library_lm(name), ids) for name in (*LIBRARY_LMS, *SEQUENCE_LMS, *FLAGGED_DEFAULT_LMS)},
        **{name: (lambda name=name: _library_classifier(name), ids) for name in (*FLAGGED_DEFAULT_CLASSIFIERS, *LIBRARY_ENCODERS, *SET84_ENCODERS)},
        **{name: (lambda name=name: _wide_classifier(name), ids) for name in (*WIDE_ENCODERS, *WIDE96_ENCODERS, *DEEP_ENCODERS, *POSITION_ENCODERS, *SET89_ENCODERS)},
        **{name: ((lambda name=name: _set90_classifier(name)) if name.split("-")[0] in ("table", "deberta", "funnel")
                  else (lambda name=name: _wide_classifier(name)), ids)
           for name in SET90_ENCODERS},
        **{name: ((lambda name=name: _sinusoid_classifier(name)) if "-sin-" in name else (lambda name=name: _set90_classifier(name)), ids)
           for name in (*SET91_ENCODERS, *SET94_ENCODERS, *SET96_ENCODERS, *SET99_ENCODERS)},
        **{name: ((lambda name=name: _set90_classifier(name)) if name.startswith("table-") else (lambda name=name: _wide_classifier(name)), ids)
           for name in (*SET92_ENCODERS, *SET93_ENCODERS, *SET95_ENCODERS, *SET97_ENCODERS, *SET98_ENCODERS, *SET100_ENCODERS, *SET101_ENCODERS, *SET102_ENCODERS, *SET103_ENCODERS)},
        **{name: (build, zoo.task_data(fam, 8, seed=0)[0])
           for name, (build, fam) in {**GATED_OTHERS, **RESIDUAL_OTHERS, **RECURRENT_OTHERS}.items()},
        **{name: (build, zoo.task_data("bert", 8, seed=0)[0]) for name, build in CLS_OTHERS.items()},
        **{name: (lambda fam=fam: zoo.build(fam), zoo.task_data(fam, 8, seed=0)[0]) for name, fam in LORA_OTHERS.items()},
        # others sets 19-22 (stops 40-42): decoders at width 256 and 6 blocks
        **{name: (lambda name=name: _wide_decoder(name), ids) for names in WIDE_DECODER_SETS.values() for name in names},
        # others set 7 (stop 32): encoders outside the zoo and sets 1-6
        "mpnet": (lambda: t.MPNetForSequenceClassification(t.MPNetConfig(**enc, num_labels=10)), ids),
        "deberta-v2": (lambda: t.DebertaV2ForSequenceClassification(t.DebertaV2Config(**enc, num_labels=10)), ids),
        # others set 5 (stop 31): vision transformers outside the zoo and sets 1-4
        "beit": (lambda: t.BeitForImageClassification(t.BeitConfig(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=4,
                                                                   num_attention_heads=4, intermediate_size=256, num_labels=10)), img),
        "dinov2": (lambda: t.Dinov2ForImageClassification(t.Dinov2Config(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=4,
                                                                         num_attention_heads=4, mlp_ratio=4, num_labels=10)), img),
        "vit-msn": (lambda: t.ViTMSNForImageClassification(t.ViTMSNConfig(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=4,
                                                                          num_attention_heads=4, intermediate_size=256, num_labels=10)), img),
        "swinv2": (lambda: t.Swinv2ForImageClassification(t.Swinv2Config(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1],
                                                                         num_heads=[2, 2], window_size=4, num_labels=10)), img),
        "pvt-v2": (lambda: t.PvtV2ForImageClassification(t.PvtV2Config(image_size=32, hidden_sizes=[16, 32], depths=[1, 1],
                                                                        num_attention_heads=[1, 2], sr_ratios=[2, 1], patch_sizes=[3, 3],
                                                                        strides=[2, 2], mlp_ratios=[4, 4], num_encoder_blocks=2,
                                                                        num_labels=10)), img),
    }


# decoders at width 256 and 6 blocks, by the others set that trains them: does a bar read against
# the library's init hold at 4x the width it was set at? Set 19: the zoo's GPT-2 and LLaMA. Set 20:
# Gemma (rotary, its embeddings x sqrt(width), GeGLU, a tied head) and OPT (learned positions
# beside a tied token table, as GPT-2's). Set 21: GPT-BigCode (GPT-2's learned positions and tied
# head, one key/value head) and OLMo (rotary, LayerNorm without parameters, no biases). Set 22:
# Mistral, Phi-3 (fused qkv and gate/up projections) and GPT-Neo (learned positions and a tied
# head, alternating global and local attention, no 1/sqrt(head dim) on its attention logits).
# Mistral differs from LLaMA only by its sliding window (4096, far past the zoo's 32 tokens): at
# this config its weights and losses are the zoo LLaMA's, bit for bit, so its pairs at set 19's
# inits (default, Kaiming, Xavier, N(0, 0.1)) repeat set 19 and are not new evidence. Set 23:
# StarCoder2 (LayerNorm with biases, a GELU MLP, a tied head, rotary, a sliding window of 16 that
# does act on the zoo's 32 tokens), Nemotron (squared-ReLU MLP, LayerNorm1p, half-rotary, its
# library range 0.0134), Granite at Granite 3.0's multipliers (embeddings x12, branches x0.22,
# attention logits x1/64, logits /8) and OLMo 2 (RMSNorm on each branch's output, QK-norm). Set
# 24: Arcee (LLaMA's block with a squared-ReLU MLP, not gated) and SmolLM3 (LLaMA's block, a tied
# head, no rotary in every fourth layer).
# designs trained at several sets' inits, named once
_RECURRENT_SET = ("mamba2-w256", "rwkv-w256", "recurrentgemma-w256", "mimov2flash-w256", "graniteswa-w256")  # sets 60, 67
_SET61 = ("neoxjapanese-w256", "hunyuan-w256", "minicpm5moe-w256", "granitemoeswa-w256", "aria-w256")  # sets 61, 62 (65 without HunYuan)
_SET63 = ("dbrx-w256", "lfm2moe-w256", "emu3-w256", "qwen2-w256", "ministral-w256")  # sets 63, 64, 66
WIDE_DECODER_SETS: dict[str, tuple[str, ...]] = {"19": ("gpt2-w256", "llama-w256"), "20": ("gemma-w256", "opt-w256"),
                                                 "21": ("bigcode-w256", "olmo-w256"),
                                                 "22": ("mistral-w256", "phi3-w256", "gptneo-w256"),
                                                 "23": ("starcoder2-w256", "nemotron-w256", "granite-w256", "olmo2-w256"),
                                                 "24": ("arcee-w256", "smollm3-w256"),
                                                 "25": ("helium-w256", "ernie4_5-w256", "qwen3-w256", "neox-seq-w256", "falcon-seq-w256",
                                                        "persimmon-w256"),
                                                 "26": ("imagegpt-w256", "biogpt-w256"),
                                                 "27": ("xlmr-xl-w256", "megatron-w256", "trocr-w256", "openai-gpt-w256"),
                                                 "28": ("mbart-w256", "blenderbot-w256", "whisper-w256"),
                                                 "29": ("bart-w256", "torch-post-w256", "torch-pre-w256"),
                                                 "30": ("marian-w256", "xglm-w256", "mixtral-w256", "cohere-w256", "codegen-w256",
                                                        "bloom-w256"),
                                                 "31": ("marian-w256",),
                                                 "32": ("neox-w256", "gptj-w256", "phi-w256", "falcon-w256", "stablelm-par-w256"),
                                                 "33": ("neox-w256", "gptj-w256", "phi-w256", "falcon-w256", "stablelm-par-w256"),
                                                 "34": ("mpt-w256", "ctrl-w256", "lfm2-w256", "hunyuan-w256", "qwen2moe-w256"),
                                                 "35": ("neox-seq-w256", "falcon-seq-w256", "persimmon-w256", "helium-w256", "qwen3-w256"),
                                                 "36": ("gemma2-w256", "glm4-w256", "minicpm3-w256", "diffllama-w256", "apertus-w256",
                                                        "bitnet-w256"),
                                                 "37": ("cohere2-w256", "doge-w256", "modernbert-dec-w256", "exaone4-w256", "gemma3-w256",
                                                        "seed-oss-w256"),
                                                 "38": ("jais2-w256", "hyperclovax-w256", "youtu-w256", "glm-w256", "nanochat-w256",
                                                        "gpt-oss-w256"),
                                                 "39": ("jais2-w256", "hyperclovax-w256", "youtu-w256", "glm-w256", "nanochat-w256",
                                                        "gemma3-w256"),
                                                 "40": ("gemma2-w256", "olmo2-w256", "exaone4-w256", "glm4-w256", "olmo3-w256"),
                                                 "41": ("qwen3moe-w256", "olmoe-w256", "granitemoe-w256", "phimoe-w256",
                                                        "deepseekv3-w256"),
                                                 "42": ("glm4moe-w256", "ernie4_5moe-w256", "jetmoe-w256", "flexolmo-w256",
                                                        "minimaxm2-w256"),
                                                 "43": ("gemma2-w256", "gemma3-w256", "glm4-w256", "hyperclovax-w256"),
                                                 "44": ("jais2-w256", "nanochat-w256", "cohere2-w256", "seed-oss-w256", "apertus-w256",
                                                        "hyperclovax-w256"),
                                                 "45": ("cohere-w256", "gpt2-w256", "gemma-w256", "bloom-w256", "starcoder2-w256",
                                                        "smollm3-w256"),
                                                 "46": ("dots1-w256", "deepseekv2-w256", "granitemoeshared-w256", "exaonemoe-w256",
                                                        "qwen3moe-w256", "olmoe-w256"),
                                                 "47": ("cwm-w256", "vaultgemma-w256", "lfm3-w256", "mellum-w256", "laguna-w256",
                                                        "flint-w256"),
                                                 "48": ("kolibri1-w256", "hyv3-w256", "afmoe-w256", "llama4-w256", "cohere2moe-w256",
                                                        "apertus1p5-w256"),
                                                 "49": ("gpt2-w256", "opt-w256", "bloom-w256", "neox-w256", "phi-w256", "olmo-w256",
                                                        "mpt-w256"),
                                                 "50": ("falcon-rw-w256", "gemma-w256", "smollm3-w256", "starcoder2-w256",
                                                        "bigcode-w256"),
                                                 "51": ("gpt2-w256", "bloom-w256", "mpt-w256"),
                                                 "52": ("gemma2-w256", "gemma3-w256", "vaultgemma-w256", "ctrl-w256"),
                                                 "53": ("mpt-w256", "bloom-w256"),
                                                 "54": ("gemma-w256", "vaultgemma-w256", "granite-tied-w256"),
                                                 "55": ("llama-w256", "helium-w256", "qwen3-w256", "neox-w256", "bitnet-w256",
                                                        "gemma2-w256", "smollm3-w256", "cohere-w256", "olmo2-w256", "glm4-w256"),
                                                 "56": ("olmo3-w256", "exaone4-w256", "hyperclovax-w256", "glm4-w256", "gemma3-w256"),
                                                 "57": ("xglm-w256",),
                                                 "58": ("mamba2-w256", "rwkv-w256", "recurrentgemma-w256", "falconh1-w256",
                                                        "qwen3next-w256"),
                                                 "59": ("minimax-w256", "olmohybrid-w256", "mimov2flash-w256", "graniteswa-w256",
                                                        "solaropen-w256"),
                                                 "60": _RECURRENT_SET, "61": _SET61, "62": _SET61, "63": _SET63, "64": _SET63,
                                                 "65": tuple(n for n in _SET61 if n != "hunyuan-w256"), "66": _SET63,
                                                 "67": _RECURRENT_SET, "68": ("qwen3next-w256", "solaropen-w256", "minimax-w256"),
                                                 "69": ("beam-w256", "laramini-w256", "hunyuanmoe-w256"),
                                                 "70": ("lfm2conv-w256", "nemotronh-w256", "bamba-w256", "dory-w256"),
                                                 "71": ("beam-w256", "hunyuanmoe-w256", "lfm2conv-w256", "nemotronh-w256",
                                                        "bamba-w256", "dory-w256"),
                                                 "72": ("laramini-w256", "olmohybrid-w256", "recurrentgemma-w256", "lfm2conv-w256",
                                                        "nemotronh-w256", "bamba-w256"),
                                                 "73": ("dory-w256", "kolibri1-w256", "glm4-w256", "gpt-oss-w256"),
                                                 "74": ("beam-w256", "minimax-w256"), "75": ("kolibri1-w256",),
                                                 "76": ("llama-d12-w128", "llama-d20-w128", "llama-d24-w128", "llama-d32-w128"),
                                                 "77": ("qwen3-d24-w128", "mistral-d24-w128", "gemma-d24-w128", "olmo2-d24-w128",
                                                        "phi3-d24-w128", "qwen2-d24-w128"),
                                                 "79": ("gemma2-w256", "vaultgemma-w256", "gemma2-nocap-w256")}


class _TorchCausalLM(torch.nn.Module):
    """A causal LM of torch's own layers at torch's own init (set 29): token and learned position
    tables (nn.Embedding's N(0, 1)), nn.TransformerEncoder with a causal mask, post-norm
    (``norm_first=False``, torch's default) or pre-norm, and a linear head (untied). Kept apart from
    ``zoo.TokenEncoder`` (the zoo's classifier: positions N(0, 0.02), dropout, mean-pooled head), whose
    ground truth was trained on that exact construction, as set 29's was on this one."""

    def __init__(self, vocab: int, width: int = 256, blocks: int = 6, heads: int = 4, norm_first: bool = False):
        super().__init__()
        self.tokens = torch.nn.Embedding(vocab, width)
        self.positions = torch.nn.Embedding(128, width)
        layer = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=norm_first)
        self.blocks = torch.nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(width) if norm_first else torch.nn.Identity()
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        h = self.tokens(input_ids) + self.positions(torch.arange(t, device=input_ids.device))
        mask = torch.nn.Transformer.generate_square_subsequent_mask(t, device=input_ids.device)
        return self.head(self.norm(self.blocks(h, mask=mask, is_causal=True)))


def _wide_decoder(name: str) -> torch.nn.Module:
    """One of WIDE_DECODER_SETS' decoders, built from config (width 256, 6 blocks, 4 heads)."""
    import transformers as t

    v = zoo.VOCAB
    rotary = dict(vocab_size=v, hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=4,
                  max_position_embeddings=128)
    bert_decoder = dict(vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, intermediate_size=1024,
                        max_position_embeddings=130, is_decoder=True)
    bart_decoder = dict(vocab_size=v, d_model=256, decoder_layers=6, decoder_attention_heads=4, decoder_ffn_dim=1024,
                        encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=1024, max_position_embeddings=128,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, use_cache=False)
    ids0 = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)  # the library's special ids lie past the zoo's vocabulary
    build = {
        "gpt2-w256": lambda: zoo.gpt2_model(n_embd=256, n_layer=6),
        "llama-w256": lambda: zoo.llama_model(hidden_size=256, intermediate_size=688, num_hidden_layers=6),
        "gemma-w256": lambda: t.GemmaForCausalLM(t.GemmaConfig(**rotary, num_key_value_heads=2, head_dim=64)),
        "opt-w256": lambda: t.OPTForCausalLM(t.OPTConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, ffn_dim=1024,
            max_position_embeddings=128, word_embed_proj_dim=256)),
        "bigcode-w256": lambda: t.GPTBigCodeForCausalLM(t.GPTBigCodeConfig(
            vocab_size=v, n_embd=256, n_layer=6, n_head=4, n_positions=128, multi_query=True)),
        "olmo-w256": lambda: t.OlmoForCausalLM(t.OlmoConfig(**rotary)),
        "mistral-w256": lambda: t.MistralForCausalLM(t.MistralConfig(**rotary, num_key_value_heads=2)),
        "phi3-w256": lambda: t.Phi3ForCausalLM(t.Phi3Config(
            **rotary, num_key_value_heads=4, pad_token_id=0, bos_token_id=1, eos_token_id=2)),
        "gptneo-w256": lambda: t.GPTNeoForCausalLM(t.GPTNeoConfig(
            vocab_size=v, hidden_size=256, num_layers=6, num_heads=4, max_position_embeddings=128,
            attention_types=[[["global", "local"], 3]], window_size=128, bos_token_id=0, eos_token_id=0)),
        "starcoder2-w256": lambda: t.Starcoder2ForCausalLM(t.Starcoder2Config(
            vocab_size=v, hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, sliding_window=16, bos_token_id=0, eos_token_id=0)),
        "nemotron-w256": lambda: t.NemotronForCausalLM(t.NemotronConfig(
            vocab_size=v, hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, bos_token_id=0, eos_token_id=0)),
        "granite-w256": lambda: t.GraniteForCausalLM(t.GraniteConfig(
            **rotary, num_key_value_heads=2, embedding_multiplier=12.0, residual_multiplier=0.22,
            attention_multiplier=1 / 64, logits_scaling=8.0)),
        # set 54: the same Granite with its head tied to the token table (the tokens x12 on input)
        "granite-tied-w256": lambda: t.GraniteForCausalLM(t.GraniteConfig(
            **rotary, num_key_value_heads=2, embedding_multiplier=12.0, residual_multiplier=0.22,
            attention_multiplier=1 / 64, logits_scaling=8.0, tie_word_embeddings=True)),
        "olmo2-w256": lambda: t.Olmo2ForCausalLM(t.Olmo2Config(**rotary)),
        "arcee-w256": lambda: t.ArceeForCausalLM(t.ArceeConfig(**rotary, num_key_value_heads=2)),
        "smollm3-w256": lambda: t.SmolLM3ForCausalLM(t.SmolLM3Config(
            **rotary, num_key_value_heads=2, pad_token_id=0, bos_token_id=0, eos_token_id=0)),
        # set 25: gated MLPs (Helium, ERNIE 4.5, Qwen3 with QK-norm) and sequential blocks with a plain one
        # (GPT-NeoX and Falcon built sequential, Persimmon: squared ReLU, QK LayerNorm)
        "helium-w256": lambda: t.HeliumForCausalLM(t.HeliumConfig(
            **rotary, num_key_value_heads=2, head_dim=64, pad_token_id=0, bos_token_id=0, eos_token_id=0)),
        "ernie4_5-w256": lambda: t.Ernie4_5ForCausalLM(t.Ernie4_5Config(
            **rotary, num_key_value_heads=2, head_dim=64, pad_token_id=0, bos_token_id=0, eos_token_id=0)),
        "qwen3-w256": lambda: t.Qwen3ForCausalLM(t.Qwen3Config(**rotary, num_key_value_heads=2, head_dim=64)),
        "neox-seq-w256": lambda: t.GPTNeoXForCausalLM(t.GPTNeoXConfig(
            vocab_size=v, hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4,
            max_position_embeddings=128, use_parallel_residual=False, bos_token_id=0, eos_token_id=0)),
        "falcon-seq-w256": lambda: t.FalconForCausalLM(t.FalconConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, parallel_attn=False,
            new_decoder_architecture=False, multi_query=False, alibi=False, bias=False, max_position_embeddings=128,
            bos_token_id=0, eos_token_id=0)),
        # set 26: learned position tables (ImageGPT: GPT-2's block with RMS-style norms and an untied
        # head, on the zoo's ids as its "pixels"; BioGPT: embeddings x sqrt(width))
        "imagegpt-w256": lambda: t.ImageGPTForCausalImageModeling(t.ImageGPTConfig(
            vocab_size=v + 1, n_embd=256, n_layer=6, n_head=4, n_positions=128)),
        "biogpt-w256": lambda: t.BioGptForCausalLM(t.BioGptConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, intermediate_size=1024,
            max_position_embeddings=128, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
        # set 27: learned position tables again. XLM-RoBERTa-XL and Megatron-BERT built as causal LMs
        # (pre-norm, GELU MLP, tied head, BERT's module names: judged since stop 45); TrOCR's decoder
        # (post-norm, a LayerNorm on its embeddings) and OpenAI GPT (post-norm, no norm on its embeddings)
        "xlmr-xl-w256": lambda: t.XLMRobertaXLForCausalLM(t.XLMRobertaXLConfig(**bert_decoder)),
        "megatron-w256": lambda: t.MegatronBertForCausalLM(t.MegatronBertConfig(**bert_decoder)),
        "trocr-w256": lambda: t.TrOCRForCausalLM(t.TrOCRConfig(
            vocab_size=v, d_model=256, decoder_layers=6, decoder_attention_heads=4, decoder_ffn_dim=1024,
            max_position_embeddings=128, use_learned_position_embeddings=True, layernorm_embedding=True,
            scale_embedding=False, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
        "openai-gpt-w256": lambda: t.OpenAIGPTLMHeadModel(t.OpenAIGPTConfig(vocab_size=v, n_embd=256, n_layer=6, n_head=4,
                                                                            n_positions=128)),
        # set 28: pre-norm decoders of encoder-decoder models, each with a learned position table and a tied
        # head, a plain GELU MLP (mBART: a LayerNorm on its embeddings; Blenderbot: none; Whisper's text
        # decoder). use_cache=False: BART's family sizes its cache by the encoder's layers (an IndexError)
        "mbart-w256": lambda: t.MBartForCausalLM(t.MBartConfig(**bart_decoder)),
        "blenderbot-w256": lambda: t.BlenderbotForCausalLM(t.BlenderbotConfig(**bart_decoder)),
        "whisper-w256": lambda: t.WhisperForCausalLM(t.WhisperConfig(
            vocab_size=v, d_model=256, decoder_layers=6, decoder_attention_heads=4, decoder_ffn_dim=1024, encoder_layers=1,
            encoder_attention_heads=4, encoder_ffn_dim=1024, max_target_positions=128, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, decoder_start_token_id=0, suppress_tokens=None, begin_suppress_tokens=None, use_cache=False)),
        # set 29: post-norm decoders (BART's, a LayerNorm on its embeddings; torch's TransformerEncoder at
        # torch's init, causal, no norm on its embeddings) and the same torch stack pre-norm, as a contrast
        "bart-w256": lambda: t.BartForCausalLM(t.BartConfig(**bart_decoder)),
        "torch-post-w256": lambda: _TorchCausalLM(v),
        "torch-pre-w256": lambda: _TorchCausalLM(v, norm_first=True),
        # set 30: Marian's decoder (post-norm, sinusoidal positions, unscaled embeddings), XGLM (pre-norm,
        # sinusoidal positions, embeddings x sqrt(width)), Mixtral (LLaMA's block with a mixture of 4
        # experts, 2 per token), Cohere and CodeGen (parallel attention and MLP on one LayerNorm), BLOOM
        # (ALiBi, a LayerNorm on its embeddings, the residual added inside its attention module)
        "marian-w256": lambda: t.MarianForCausalLM(t.MarianConfig(**bart_decoder, decoder_vocab_size=v)),
        "xglm-w256": lambda: t.XGLMForCausalLM(t.XGLMConfig(
            vocab_size=v, d_model=256, num_layers=6, attention_heads=4, ffn_dim=1024, max_position_embeddings=128,
            pad_token_id=1, bos_token_id=0, eos_token_id=2)),
        "mixtral-w256": lambda: t.MixtralForCausalLM(t.MixtralConfig(**rotary, num_key_value_heads=2, num_local_experts=4,
                                                                     num_experts_per_tok=2)),
        "cohere-w256": lambda: t.CohereForCausalLM(t.CohereConfig(**rotary, num_key_value_heads=2, pad_token_id=0, bos_token_id=0,
                                                                  eos_token_id=0)),
        "codegen-w256": lambda: t.CodeGenForCausalLM(t.CodeGenConfig(
            vocab_size=v, n_embd=256, n_layer=6, n_head=4, n_positions=128, rotary_dim=32, bos_token_id=0, eos_token_id=0)),
        "bloom-w256": lambda: t.BloomForCausalLM(t.BloomConfig(vocab_size=v, hidden_size=256, n_layer=6, n_head=4, bos_token_id=0,
                                                               eos_token_id=0)),
        # set 32: parallel blocks (attention and MLP on one normed stream, one addition)
        "neox-w256": lambda: t.GPTNeoXForCausalLM(t.GPTNeoXConfig(
            vocab_size=v, hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4,
            max_position_embeddings=128, use_parallel_residual=True, bos_token_id=0, eos_token_id=0)),
        "gptj-w256": lambda: t.GPTJForCausalLM(t.GPTJConfig(
            vocab_size=v, n_embd=256, n_layer=6, n_head=4, n_positions=128, rotary_dim=32, bos_token_id=0, eos_token_id=0)),
        "phi-w256": lambda: t.PhiForCausalLM(t.PhiConfig(
            vocab_size=v, hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4,
            max_position_embeddings=128, bos_token_id=0, eos_token_id=0)),
        "falcon-w256": lambda: t.FalconForCausalLM(t.FalconConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, parallel_attn=True,
            new_decoder_architecture=False, multi_query=False, alibi=False, bias=False, max_position_embeddings=128,
            bos_token_id=0, eos_token_id=0)),
        # set 50: Falcon-RW's design (ALiBi, sequential blocks with biases, a tied head)
        "falcon-rw-w256": lambda: t.FalconForCausalLM(t.FalconConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, parallel_attn=False,
            new_decoder_architecture=False, multi_query=False, alibi=True, bias=True, max_position_embeddings=128,
            bos_token_id=0, eos_token_id=0)),
        "stablelm-par-w256": lambda: t.StableLmForCausalLM(t.StableLmConfig(
            **rotary, num_key_value_heads=4, use_parallel_residual=True, bos_token_id=0, eos_token_id=0)),
        # set 34: MPT (ALiBi, LayerNorms without bias), CTRL (sinusoidal positions, the tokens x sqrt(width)),
        # LFM2 (short convolutions in most blocks, attention in a few), HunYuan (QK-norm, gated MLP),
        # Qwen2-MoE (4 experts, 2 per token, a gated shared expert; its experts are fused 3-D tensors)
        "mpt-w256": lambda: t.MptForCausalLM(t.MptConfig(vocab_size=v, d_model=256, n_layers=6, n_heads=4, max_seq_len=128)),
        "ctrl-w256": lambda: t.CTRLLMHeadModel(t.CTRLConfig(vocab_size=v, n_embd=256, n_layer=6, n_head=4, dff=1024,
                                                             n_positions=128)),
        "lfm2-w256": lambda: t.Lfm2ForCausalLM(t.Lfm2Config(
            vocab_size=v, hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=128)),
        "hunyuan-w256": lambda: t.HunYuanDenseV1ForCausalLM(t.HunYuanDenseV1Config(**rotary, num_key_value_heads=2, head_dim=64)),
        "qwen2moe-w256": lambda: t.Qwen2MoeForCausalLM(t.Qwen2MoeConfig(
            **rotary, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            shared_expert_intermediate_size=688)),
        "persimmon-w256": lambda: t.PersimmonForCausalLM(t.PersimmonConfig(
            vocab_size=v, hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4,
            max_position_embeddings=128, pad_token_id=0, bos_token_id=0, eos_token_id=0)),
        # set 36: Gemma 2 (attention and logit soft-capping, a norm after each branch as before it),
        # GLM-4 (the same sandwich norms, half-rotary, fused gate/up), MiniCPM3 (latent attention,
        # embeddings x12, branches x1.4/sqrt(depth), logits over width/256, its library range 0.1),
        # DiffLlama (differential attention), Apertus (xIELU MLP, QK-norm) and BitNet (squared-ReLU
        # MLP, a norm inside each branch before its output projection)
        "gemma2-w256": lambda: t.Gemma2ForCausalLM(t.Gemma2Config(**rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        # set 79: the same Gemma 2 without its logits' soft cap (final_logit_softcapping 30 -> None)
        "gemma2-nocap-w256": lambda: t.Gemma2ForCausalLM(t.Gemma2Config(**rotary, **ids0, num_key_value_heads=2, head_dim=64,
                                                                        final_logit_softcapping=None)),
        "glm4-w256": lambda: t.Glm4ForCausalLM(t.Glm4Config(**rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        "minicpm3-w256": lambda: t.MiniCPM3ForCausalLM(t.MiniCPM3Config(**rotary, **ids0, num_key_value_heads=4, q_lora_rank=128,
                                                                       kv_lora_rank=64)),
        "diffllama-w256": lambda: t.DiffLlamaForCausalLM(t.DiffLlamaConfig(**rotary, **ids0, num_key_value_heads=2)),
        "apertus-w256": lambda: t.ApertusForCausalLM(t.ApertusConfig(
            **rotary, **ids0, num_key_value_heads=2, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
        "bitnet-w256": lambda: t.BitNetForCausalLM(t.BitNetConfig(**rotary, **ids0, num_key_value_heads=2)),
        # set 37: Cohere 2 (parallel blocks, LayerNorm, logits x1/16, a window of 16 in most layers),
        # Doge (dynamic-mask attention, QK-norm), ModernBERT's decoder (no norm before its first
        # attention, a norm on the embeddings, GeGLU), EXAONE 4 (a norm after each branch and none
        # before it, QK-norm), Gemma 3 (sandwich norms, QK-norm, windows) and Seed-OSS (LLaMA's block
        # with biases on its query, key and value)
        "cohere2-w256": lambda: t.Cohere2ForCausalLM(t.Cohere2Config(**rotary, **ids0, num_key_value_heads=2, sliding_window=16)),
        "doge-w256": lambda: t.DogeForCausalLM(t.DogeConfig(**rotary, **ids0, num_key_value_heads=2)),
        "modernbert-dec-w256": lambda: t.ModernBertDecoderForCausalLM(t.ModernBertDecoderConfig(
            vocab_size=v, hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=4,
            max_position_embeddings=128, **ids0, cls_token_id=0, sep_token_id=0)),
        "exaone4-w256": lambda: t.Exaone4ForCausalLM(t.Exaone4Config(**rotary, **ids0, num_key_value_heads=2, sliding_window=16)),
        "gemma3-w256": lambda: t.Gemma3ForCausalLM(t.Gemma3TextConfig(**rotary, **ids0, num_key_value_heads=2, head_dim=64,
                                                                      sliding_window=16)),
        "seed-oss-w256": lambda: t.SeedOssForCausalLM(t.SeedOssConfig(**rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        # set 38: Jais 2 (LayerNorm, a plain squared-ReLU MLP, biases everywhere), HyperCLOVA X (a norm
        # before and after each branch), Youtu (DeepSeek's latent attention, embeddings at twice the
        # init's std, tied), GLM (partial rotary, query-key-value biases), nanochat (squared ReLU,
        # logits soft-capped at 15) and gpt-oss (attention sinks, experts, windows in every other layer)
        "jais2-w256": lambda: t.Jais2ForCausalLM(t.Jais2Config(**rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        "hyperclovax-w256": lambda: t.HyperCLOVAXForCausalLM(t.HyperCLOVAXConfig(**rotary, **ids0, num_key_value_heads=2,
                                                                                 head_dim=64)),
        "youtu-w256": lambda: t.YoutuForCausalLM(t.YoutuConfig(**rotary, **ids0, num_key_value_heads=4, q_lora_rank=128,
                                                               kv_lora_rank=64, qk_rope_head_dim=32, qk_nope_head_dim=32,
                                                               v_head_dim=64)),
        "glm-w256": lambda: t.GlmForCausalLM(t.GlmConfig(**rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        "nanochat-w256": lambda: t.NanoChatForCausalLM(t.NanoChatConfig(**rotary, **ids0)),
        "gpt-oss-w256": lambda: t.GptOssForCausalLM(t.GptOssConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, num_local_experts=4, num_experts_per_tok=2, sliding_window=16,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
        # set 40: OLMo 3 (OLMo 2's norm after each branch and none before it, QK-norm, windows in
        # most layers), beside set 36's and 37's designs with a norm after each branch
        "olmo3-w256": lambda: t.Olmo3ForCausalLM(t.Olmo3Config(**rotary, **ids0, num_key_value_heads=2, sliding_window=16)),
        # set 41: mixtures of experts, 4 experts of width 344, 2 per token: Qwen3-MoE (QK-norm), OLMoE
        # (QK-norm over the whole width), Granite-MoE (its multipliers on the embeddings, branches and
        # logits), PhiMoE (LayerNorm, sparsemixer routing) and DeepSeek-V3 (latent attention, a dense
        # first block, a shared expert, sigmoid routing)
        "qwen3moe-w256": lambda: t.Qwen3MoeForCausalLM(t.Qwen3MoeConfig(
            **rotary, **ids0, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344)),
        "olmoe-w256": lambda: t.OlmoeForCausalLM(t.OlmoeConfig(**{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2,
                                                               num_experts=4, num_experts_per_tok=2)),
        "granitemoe-w256": lambda: t.GraniteMoeForCausalLM(t.GraniteMoeConfig(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)),
        "phimoe-w256": lambda: t.PhimoeForCausalLM(t.PhimoeConfig(**{**rotary, "intermediate_size": 344}, **ids0,
                                                                  num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)),
        "deepseekv3-w256": lambda: t.DeepseekV3ForCausalLM(t.DeepseekV3Config(
            **rotary, **ids0, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            first_k_dense_replace=1, q_lora_rank=128, kv_lora_rank=64, qk_rope_head_dim=32, qk_nope_head_dim=32, v_head_dim=64,
            n_group=1, topk_group=1)),
        # set 42: five more mixtures of experts (4 experts of width 344, 2 per token): GLM-4.5's
        # (sigmoid routing, a shared expert, a dense first block), ERNIE 4.5's (a dense first block,
        # biased routing), JetMoE (experts in the attention too: a mixture of attention heads),
        # FlexOLMo (OLMo 2's norm after each branch and none before it, QK-norm) and MiniMax-M2
        # (QK-norm over the whole width)
        "glm4moe-w256": lambda: t.Glm4MoeForCausalLM(t.Glm4MoeConfig(
            **rotary, **ids0, num_key_value_heads=2, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            first_k_dense_replace=1, n_shared_experts=1, n_group=1, topk_group=1)),
        "ernie4_5moe-w256": lambda: t.Ernie4_5_MoeForCausalLM(t.Ernie4_5_MoeConfig(
            **rotary, **ids0, num_key_value_heads=2, moe_num_experts=4, moe_k=2, moe_intermediate_size=344, moe_layer_start_index=1)),
        "jetmoe-w256": lambda: t.JetMoeForCausalLM(t.JetMoeConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_key_value_heads=2, kv_channels=64, intermediate_size=344,
            num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=128, **ids0)),
        "flexolmo-w256": lambda: t.FlexOlmoForCausalLM(t.FlexOlmoConfig(**{**rotary, "intermediate_size": 344}, **ids0,
                                                                        num_key_value_heads=2, num_experts=4, num_experts_per_tok=2)),
        "minimaxm2-w256": lambda: t.MiniMaxM2ForCausalLM(t.MiniMaxM2Config(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
            head_dim=64)),
        # set 46: four more mixtures of experts (4 experts of width 344, 2 per token): dots.llm1
        # (QK-norm, a shared expert, routed from the first block), DeepSeek-V2 (latent attention
        # without a query compression, routed from the first block), Granite-MoE-Shared (Granite's
        # multipliers, a shared expert) and EXAONE-MoE (QK-norm, a dense first block)
        "dots1-w256": lambda: t.Dots1ForCausalLM(t.Dots1Config(
            **rotary, **ids0, num_key_value_heads=2, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            first_k_dense_replace=0, n_shared_experts=1, n_group=1, topk_group=1)),
        "deepseekv2-w256": lambda: t.DeepseekV2ForCausalLM(t.DeepseekV2Config(
            **rotary, **ids0, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            first_k_dense_replace=0, q_lora_rank=None, kv_lora_rank=64, qk_rope_head_dim=32, qk_nope_head_dim=32, v_head_dim=64,
            n_group=1, topk_group=1)),
        "granitemoeshared-w256": lambda: t.GraniteMoeSharedForCausalLM(t.GraniteMoeSharedConfig(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
            shared_intermediate_size=344)),
        "exaonemoe-w256": lambda: t.ExaoneMoeForCausalLM(t.ExaoneMoeConfig(
            **rotary, **ids0, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344)),
        # set 47: six designs outside every set: CWM (LLaMA's block, sliding windows on 3 of 4 layers),
        # VaultGemma (Gemma 2's soft caps, a tied head, norms before each branch only), LFM3 (short
        # convolutions in 4 of 6 blocks, sandwich norms, a gated attention), Mellum (QK-norm, routed
        # experts from the first block), Laguna (QK-norm, a gated attention, a dense first block,
        # then routed and shared experts) and Flint (attention sinks, QK-norm, two dense blocks first)
        "cwm-w256": lambda: t.CwmForCausalLM(t.CwmConfig(**rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16)),
        "vaultgemma-w256": lambda: t.VaultGemmaForCausalLM(t.VaultGemmaConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16)),
        "lfm3-w256": lambda: t.Lfm3ForCausalLM(t.Lfm3Config(**rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16)),
        "mellum-w256": lambda: t.MellumForCausalLM(t.MellumConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, num_local_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344)),
        "laguna-w256": lambda: t.LagunaForCausalLM(t.LagunaConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344, shared_expert_intermediate_size=344)),
        "flint-w256": lambda: t.FlintForCausalLM(t.FlintConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344, shared_expert_intermediate_size=344)),
        # set 48: five more mixtures of experts and a dense design, none in any set: Kolibri 1 (norms
        # before and after each branch, QK-norm, routed and shared experts from the first block), HY-V3
        # (its library range 0.006, QK-norm, a dense first block), AFMoE (sandwich norms, a gated
        # attention, QK-norm, a dense first block), Llama 4 (a weightless QK-norm, no rotary in every
        # fourth layer, routed and shared experts in every block), Cohere 2 MoE (one norm before a
        # parallel attention and MoE, a tied head under a logit scale) and Apertus 1.5 (xIELU MLP,
        # QK-norm)
        "kolibri1-w256": lambda: t.Kolibri1ForCausalLM(t.Kolibri1Config(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, num_local_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344, shared_expert_intermediate_size=344)),
        "hyv3-w256": lambda: t.HYV3ForCausalLM(t.HYV3Config(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344)),
        "afmoe-w256": lambda: t.AfmoeForCausalLM(t.AfmoeConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344, num_shared_experts=1)),
        "llama4-w256": lambda: t.Llama4ForCausalLM(t.Llama4TextConfig(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, head_dim=64, num_local_experts=4,
            num_experts_per_tok=2)),
        "cohere2moe-w256": lambda: t.Cohere2MoeForCausalLM(t.Cohere2MoeConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344)),
        "apertus1p5-w256": lambda: t.Apertus1p5TextForCausalLM(t.Apertus1p5TextConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        # set 58: language models with no attention in most or all blocks: Mamba 2 (a selective state
        # space in every block, 8 heads of 64), RWKV (time- and channel-mixing, LayerNorms, a LayerNorm on
        # the embeddings), RecurrentGemma (two RG-LRU blocks to one local attention, the tokens x
        # sqrt(width), soft-capped logits), Falcon-H1 (a Mamba 2 mixer beside the attention in every
        # block, its own multipliers) and Qwen3-Next (gated delta-rule linear attention in 3 of 4
        # blocks, a gated attention in the 4th, routed and shared experts)
        "mamba2-w256": lambda: t.Mamba2ForCausalLM(t.Mamba2Config(
            vocab_size=v, hidden_size=256, state_size=16, num_hidden_layers=6, expand=2, num_heads=8, head_dim=64, n_groups=1,
            chunk_size=64, **ids0)),
        "rwkv-w256": lambda: t.RwkvForCausalLM(t.RwkvConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, context_length=128, attention_hidden_size=256,
            intermediate_size=1024, **ids0)),
        "recurrentgemma-w256": lambda: t.RecurrentGemmaForCausalLM(t.RecurrentGemmaConfig(
            vocab_size=v, hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=1,
            lru_width=256, attention_window_size=64, **ids0)),
        "falconh1-w256": lambda: t.FalconH1ForCausalLM(t.FalconH1Config(
            **rotary, **ids0, num_key_value_heads=2, mamba_d_ssm=256, mamba_n_heads=8, mamba_d_head=32, mamba_d_state=16,
            mamba_chunk_size=64)),
        "qwen3next-w256": lambda: t.Qwen3NextForCausalLM(t.Qwen3NextConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, linear_num_value_heads=4, linear_num_key_heads=2,
            linear_key_head_dim=64, linear_value_head_dim=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            shared_expert_intermediate_size=344)),
        # set 59: five designs outside every set: MiniMax (lightning linear attention in every other
        # block, 4 experts), OLMo-Hybrid (gated delta-rule linear attention in 5 of 6 blocks), MiMo-V2-Flash
        # (sliding windows in 4 of 6 blocks, values wider than keys and scaled by 0.707, a dense first
        # block then experts), Granite-SWA (sliding windows, a tied head) and Solar-Open (routed and shared
        # experts from the first block)
        "minimax-w256": lambda: t.MiniMaxForCausalLM(t.MiniMaxConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, num_local_experts=4, num_experts_per_tok=2)),
        "olmohybrid-w256": lambda: t.OlmoHybridForCausalLM(t.OlmoHybridConfig(**rotary, **ids0, num_key_value_heads=2)),
        "mimov2flash-w256": lambda: t.MiMoV2FlashForCausalLM(t.MiMoV2FlashConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16, n_routed_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344)),
        "graniteswa-w256": lambda: t.GraniteSWAForCausalLM(t.GraniteSWAConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16)),
        "solaropen-w256": lambda: t.SolarOpenForCausalLM(t.SolarOpenConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, n_routed_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344, n_shared_experts=1, n_group=1, topk_group=1)),
        # set 61: four designs outside every set and set 34's HunYuan dense (``hunyuan-w256``, first
        # built again here under another name: its default pair repeats set 34's, to the same losses):
        # GPT-NeoX-Japanese (sequential, a bias added after each branch's last matmul, attention dropout
        # 0.1, a tied head), MiniCPM 5 MoE (a dense first block, then routed and shared experts scaled by 3.66),
        # GraniteMoE-SWA (sliding windows in 5 of 6 blocks, experts) and Aria's text model (experts
        # beside shared ones in every block)
        "neoxjapanese-w256": lambda: t.GPTNeoXJapaneseForCausalLM(t.GPTNeoXJapaneseConfig(
            vocab_size=v, hidden_size=256, num_hidden_layers=6, num_attention_heads=4, max_position_embeddings=128, **ids0)),
        "minicpm5moe-w256": lambda: t.MiniCPM5MoeForCausalLM(t.MiniCPM5MoeConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, n_routed_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=344, n_shared_experts=1, mlp_layer_types=["dense"] + ["sparse"] * 5)),
        "granitemoeswa-w256": lambda: t.GraniteMoeSWAForCausalLM(t.GraniteMoeSWAConfig(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, sliding_window=16, num_local_experts=4,
            num_experts_per_tok=2, layer_types=["full_attention"] + ["sliding_attention"] * 5)),
        "aria-w256": lambda: t.AriaTextForCausalLM(t.AriaTextConfig(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, head_dim=64, moe_num_experts=4, moe_topk=2,
            moe_num_shared_experts=1)),
        # set 63: five designs outside every set: DBRX (experts, LayerNorms without bias, q, k and v
        # clipped at 8), LFM2-MoE (short convolutions in 4 of 6 blocks, a dense first block then
        # experts, a tied head), Emu3's text model (LLaMA's block, attention dropout 0.1), Qwen2 (biases
        # on q, k and v) and Ministral (sliding windows of 16 in every block)
        "dbrx-w256": lambda: t.DbrxForCausalLM(t.DbrxConfig(
            d_model=256, n_heads=4, n_layers=6, max_seq_len=128, vocab_size=v, **ids0,
            attn_config=dict(kv_n_heads=2, rope_theta=10000.0, clip_qkv=8.0),
            ffn_config=dict(ffn_hidden_size=344, moe_num_experts=4, moe_top_k=2))),
        "lfm2moe-w256": lambda: t.Lfm2MoeForCausalLM(t.Lfm2MoeConfig(
            **rotary, **ids0, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            num_dense_layers=1, layer_types=["conv", "conv", "full_attention", "conv", "conv", "full_attention"])),
        "emu3-w256": lambda: t.Emu3ForCausalLM(t.Emu3TextConfig(**rotary, **ids0, num_key_value_heads=2)),
        "qwen2-w256": lambda: t.Qwen2ForCausalLM(t.Qwen2Config(**rotary, **ids0, num_key_value_heads=2)),
        "ministral-w256": lambda: t.MinistralForCausalLM(t.MinistralConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, sliding_window=16)),
        # set 69: three mixtures of experts outside every set: Beam (an output gate on attention, q/k
        # norms, a norm before and after each MLP, windows of 16, routed experts in every other block
        # from the first), LaraMini (gated delta-net linear attention in blocks 1, 3 and 6, windowed and
        # full attention between, routed experts and a shared one in every block, a tied head) and
        # HunYuan-MoE (set 34's HunYuan block with routed experts and a shared one)
        "beam-w256": lambda: t.BeamForCausalLM(t.BeamConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            n_group=1, topk_group=1, sliding_window=16, layer_types=["sliding_attention"] * 5 + ["full_attention"],
            mlp_layer_types=["sparse", "dense"] * 3)),
        "laramini-w256": lambda: t.LaraMiniForCausalLM(t.LaraMiniConfig(
            **rotary, **ids0, num_key_value_heads=2, head_dim=64, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=344,
            shared_expert_intermediate_size=344, sliding_window=16, linear_num_value_heads=4, linear_num_key_heads=2,
            linear_key_head_dim=64, linear_value_head_dim=64)),
        "hunyuanmoe-w256": lambda: t.HunYuanMoEV1ForCausalLM(t.HunYuanMoEV1Config(
            **{**rotary, "intermediate_size": 344}, **ids0, num_key_value_heads=2, head_dim=64, num_experts=4, moe_topk=2)),
        # set 70: four designs outside every set: LFM2 with its short-convolution blocks (set 34's LFM2
        # had attention in every block; here LFM2-MoE's pattern, dense), NemotronH (every block one
        # mixer: Mamba 2, attention or an MLP), Bamba (Mamba 2 blocks with attention in blocks 3 and 6,
        # an MLP in each) and Dory (a normalized transformer: learned per-channel step sizes lambda_1
        # and lambda_2 on the residual updates, scaled q and k, an output gate on attention)
        "lfm2conv-w256": lambda: t.Lfm2ForCausalLM(t.Lfm2Config(
            **rotary, **ids0, num_key_value_heads=2, layer_types=["conv", "conv", "full_attention", "conv", "conv", "full_attention"])),
        "nemotronh-w256": lambda: t.NemotronHForCausalLM(t.NemotronHConfig(
            vocab_size=v, hidden_size=256, intermediate_size=688, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
            head_dim=64, hybrid_override_pattern="M-M*M-", mamba_num_heads=8, mamba_head_dim=64, ssm_state_size=16, n_groups=1,
            chunk_size=64, **ids0)),
        "bamba-w256": lambda: t.BambaForCausalLM(t.BambaConfig(
            **rotary, **ids0, num_key_value_heads=2, attn_layer_indices=[2, 5], mamba_n_heads=8, mamba_d_head=64,
            mamba_d_state=16, mamba_n_groups=1, mamba_chunk_size=64)),
        "dory-w256": lambda: t.DoryForCausalLM(t.DoryConfig(**rotary, **ids0, num_key_value_heads=2, head_dim=64)),
        # set 76 (stop 64): LLaMA deeper and narrower, its padding row zeroed by the library's init
        # (pad_token_id 0): the zero state's gradient grows block by block, and the probe goes
        # from finite to not between 12 and 32 blocks
        **{f"llama-d{d}-w128": lambda d=d: t.LlamaForCausalLM(t.LlamaConfig(
            vocab_size=v, hidden_size=128, intermediate_size=344, num_hidden_layers=d, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, **ids0)) for d in (12, 20, 24, 32)},
        # set 77 (stop 64): six more designs at set 76's depth 24 and width 128, each with its padding row zero
        **{f"{n}-d24-w128": lambda n=n, cls=cls, extra=extra: getattr(t, cls + "ForCausalLM")(getattr(t, cls + "Config")(
            vocab_size=v, hidden_size=128, intermediate_size=344, num_hidden_layers=24, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, **ids0, **extra))
           for n, cls, extra in (("qwen3", "Qwen3", {"head_dim": 32}), ("mistral", "Mistral", {}), ("gemma", "Gemma", {"head_dim": 32}),
                                 ("olmo2", "Olmo2", {}), ("phi3", "Phi3", {}), ("qwen2", "Qwen2", {}))},
    }
    return build[name]()


# causal LMs whose every parameter x10 benchmarks/library_defaults.py --fix-x10 does not flag
# (stop 30), at that sweep's small sizes (2 blocks, width 64), trained as others set 4 to see
# whether inspect was right; their own loss is the next-token loss (XLM's and XLNet's LM heads
# score the unshifted ids, HRM-text and Zaya run 15-50x slower, and RWKV's own code fails on
# the zoo's batch of 16 with a shape error: left out)
LIBRARY_LMS = ("gemma2", "nanochat", "olmo", "vaultgemma")


def _library_classifier(model_type: str, **sizes: int) -> torch.nn.Module:
    """transformers' sequence classifier of ``model_type`` from ``library_defaults.small_config``,
    with ``sizes`` set where the config has the field (:func:`_wide`)."""
    import transformers as t
    from transformers.models.auto import modeling_auto as ma

    from library_defaults import small_config

    cfg = small_config(model_type)
    for k, v in sizes.items():
        if hasattr(cfg, k):
            setattr(cfg, k, v)
    return getattr(t, ma.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES[model_type])(cfg)


def _library_lm(model_type: str) -> torch.nn.Module:
    import transformers as t
    from transformers.models.auto import modeling_auto as ma

    from library_defaults import small_config

    return getattr(t, ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type])(small_config(model_type))


# the zoo task each family outside it is trained on (``others --train``); bare encoders have no loss
OTHER_TASKS = {"mistral": "gpt2", "qwen2": "gpt2", "phi": "gpt2", "gemma": "gpt2", "opt": "gpt2", "bloom": "gpt2", "falcon": "gpt2",
               "gpt-j": "gpt2", "roberta": "bert", "distilbert": "bert", "electra": "bert", "convnext": "vit", "swin": "vit",
               "deit": "vit", "resnet (transformers)": "vit", **{name: "gpt2" for name in LIBRARY_LMS}}
VISION_OTHERS = ("beit", "dinov2", "vit-msn", "swinv2", "pvt-v2")
NEW_ENCODERS = ("mpnet", "deberta-v2")
FIRST_OTHERS = tuple(n for n in OTHER_TASKS if n not in LIBRARY_LMS)  # the 15 families of sets 1-3
OTHER_TASKS.update({name: "vit" for name in VISION_OTHERS})
OTHER_TASKS.update({name: "bert" for name in NEW_ENCODERS})
OTHER_TASKS.update({name: fam for name, (_, fam) in {**GATED_OTHERS, **RESIDUAL_OTHERS, **RECURRENT_OTHERS}.items()})
OTHER_TASKS.update({name: "gpt2" for name in (*SEQUENCE_LMS, *FLAGGED_DEFAULT_LMS)})
OTHER_TASKS.update({name: "bert" for name in (*FLAGGED_DEFAULT_CLASSIFIERS, *LIBRARY_ENCODERS, *SET84_ENCODERS, *WIDE_ENCODERS, *WIDE96_ENCODERS, *DEEP_ENCODERS, *POSITION_ENCODERS, *SET89_ENCODERS, *SET90_ENCODERS, *SET91_ENCODERS, *SET92_ENCODERS, *SET93_ENCODERS, *SET94_ENCODERS, *SET95_ENCODERS, *SET96_ENCODERS, *SET97_ENCODERS, *SET98_ENCODERS, *SET99_ENCODERS, *SET100_ENCODERS, *SET101_ENCODERS, *SET102_ENCODERS, *SET103_ENCODERS)})
OTHER_TASKS.update({name: "bert" for name in CLS_OTHERS})
OTHER_TASKS.update(LORA_OTHERS)
OTHER_TASKS.update({name: "gpt2" for names in WIDE_DECODER_SETS.values() for name in names})
OTHER_INITS = ("default", "x3", "x10")
OTHERS = HOLDOUT.with_name("verdicts_others.json")
# sets of inits the families outside the zoo are trained at: set 1 (stop 28) at their default,
# x3 and x10; set 2 (stop 29, committed before its training, no rule set after it) at the
# re-draws and the small scale of the zoo's holdout sets. Each pair is labelled against its
# family's best init over both sets.
OTHER_SETS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "1": (OTHERS, OTHER_INITS),
    "2": (HOLDOUT.with_name("verdicts_others2.json"), ("xavier", "kaiming", "x0.3", "normal-0.05")),
    "3": (HOLDOUT.with_name("verdicts_others3.json"), HOLDOUT_SETS["4"][1]),
    # set 4 (stop 30, committed before its training; no rule moved since stop 28): the library's
    # causal LMs inspect does not flag at x10 (LIBRARY_LMS), at their default, x3 and x10
    "4": (HOLDOUT.with_name("verdicts_others4.json"), OTHER_INITS),
    # set 5 (stop 31, committed with the "flat attention" rule and before its training): vision
    # transformers none of whose pairs set a threshold, at their default, the small scales that
    # rule reads (x0.3, x0.5) and two that train elsewhere (x3, Xavier)
    "5": (HOLDOUT.with_name("verdicts_others5.json"), ("default", "x0.3", "x0.5", "x3", "xavier")),
    # set 6 (stop 32, committed with the zero-embeddings exception to "vanishing stream" and before
    # its training): every embedding table zeroed on the token families of sets 1-3
    "6": (HOLDOUT.with_name("verdicts_others6.json"), ("zero-embeddings",)),
    # set 7 (stop 32, committed with "flat attention" for token models whose loss reads one
    # position, and before its training): the encoders of set 2 and two new ones (MPNet,
    # DeBERTa v2) at their default and around that rule's bar. It refuted the rule, which went
    "7": (HOLDOUT.with_name("verdicts_others7.json"), ("default", "x0.4", "x0.6", "normal-0.005", "normal-0.01")),
    # set 8 (stop 33, committed with the reading of functional sigmoid / tanh gates and before its
    # training): hand-written LSTM and GRU cells, WaveNet's gated units and a highway network,
    # whose gates no module holds, at their default, x3, x10 and x0.3
    "8": (HOLDOUT.with_name("verdicts_others8.json"), ("default", "x3", "x10", "x0.3")),
    # set 9 (stop 33, committed with the scale rules extended to residual nets without any norm,
    # and before its training): a TCN, residual MLP and CNN without norms, a Fixup ResNet, at
    # their default, x3, x10, x0.1 and x0.01
    "9": (HOLDOUT.with_name("verdicts_others9.json"), ("default", "x3", "x10", "x0.1", "x0.01")),
    # set 10 (stop 34, committed with "zero head on a shared feature" and before its training):
    # BERT, RoBERTa, ELECTRA and DistilBERT classifiers given a [CLS] token first (BERT at 4 and
    # 12 layers), at their default and with the head at 0
    "10": (HOLDOUT.with_name("verdicts_others10.json"), ("default", "zero-head")),
    # set 11 (stop 34, committed with "stuck at zero" and before its training; first defined as
    # holdout set 13, moved here before its results were read: against the zoo's fully trained
    # best, a frozen random base could only read broken): the zoo's families frozen, with LoRA
    "11": (HOLDOUT.with_name("verdicts_others11.json"), ("lora", "lora-zero", "lora-random-b")),
    # sets 12-15 (stop 36): the cases that stop's rules were set on, in sample (RECURRENT_OTHERS, SEQUENCE_LMS)
    "12": (HOLDOUT.with_name("verdicts_others12.json"), ("default", "gate-update-5", "gate-update+5")),
    "13": (HOLDOUT.with_name("verdicts_others13.json"), ("default", "hh-orthogonal-1", "hh-orthogonal-2", "hh-orthogonal-3")),
    "14": (HOLDOUT.with_name("verdicts_others14.json"), ("default", "scale-embedding")),
    "15": (HOLDOUT.with_name("verdicts_others15.json"), ("default",)),
    # set 16 (stop 39, committed with that stop's rules and before its training): decoders and
    # post-norm encoders outside the zoo between the scales those rules were set on
    "16": (HOLDOUT.with_name("verdicts_others16.json"), ("x3.5", "x0.35", "normal-0.07")),
    # set 17 (stop 39): the library defaults that stop's first-attention defect flags, trained to
    # see whether they are false alarms (added after the flags were seen, before the training)
    "17": (HOLDOUT.with_name("verdicts_others17.json"), ("default", "x0.5", "x0.3")),
    # set 18: the same for the classifier its post-norm eps bar flags (library_defaults.py seq)
    "18": (HOLDOUT.with_name("verdicts_others18.json"), ("default", "x3", "x0.5")),
    # set 19 (stop 40, committed with the first-attention defect read against the library's init
    # and before its training): GPT-2 and LLaMA at width 256, where the old absolute bar and that
    # rule disagree (LLaMA N(0, 0.1), GPT-2 N(0, 0.07)) and around the new bar
    "19": (HOLDOUT.with_name("verdicts_others19.json"),
           ("default", "x2", "x3", "kaiming", "xavier", "normal-0.05", "normal-0.07", "normal-0.1")),
    # set 20 (stop 41, committed with inspect's predictions for it and before its training): the
    # same test on two other decoders at width 256, Gemma and OPT, stop 40's rules unchanged
    "20": (HOLDOUT.with_name("verdicts_others20.json"),
           ("default", "x2", "x3", "kaiming", "xavier", "normal-0.05", "normal-0.1")),
    # set 21 (stop 41, committed with the sharp first-attention rule, which sets 19 and 20 set,
    # and inspect's predictions, before training): two more decoders at width 256
    "21": (HOLDOUT.with_name("verdicts_others21.json"),
           ("default", "x2.5", "kaiming", "xavier", "normal-0.08", "normal-0.1")),
    # set 22 (stop 42, committed with inspect's predictions and before training, rules unchanged
    # since stop 41): three decoder families no test or set holds, at width 256, around the
    # sharp first-attention rule's bar (Kaiming is N(0, 0.088) here)
    "22": (HOLDOUT.with_name("verdicts_others22.json"),
           ("default", "x2.5", "kaiming", "xavier", "normal-0.08", "normal-0.1", "normal-0.12")),
    # set 23 (stop 43, committed with inspect's predictions and before training, rules unchanged
    # since stop 41): four more decoder designs at width 256, around the 11x factor and the sharp
    # first-attention rule (which set 22 left with two false alarms out of sample and no catch)
    "23": (HOLDOUT.with_name("verdicts_others23.json"),
           ("default", "x2.5", "kaiming", "normal-0.06", "normal-0.08", "normal-0.1")),
    # set 24 (stop 43, committed with inspect's predictions and before training, after stop 43's
    # two rule changes: the sharp first attention and mild causal saturation as warnings): two
    # decoders the first-attention factor judges, where those warnings may fire
    "24": (HOLDOUT.with_name("verdicts_others24.json"), ("default", "x2.5", "kaiming", "normal-0.1")),
    # set 25 (stop 44, committed with inspect's predictions under the gated-MLP rule and before its
    # results were read): three decoders with a gated MLP and three sequential ones with a plain MLP
    # at their default and the two inits where that rule and the sharp warning part ways
    "25": (HOLDOUT.with_name("verdicts_others25.json"), ("default", "kaiming", "normal-0.1")),
    # set 26 (stop 44, committed with inspect's predictions after the learned-position rule was set
    # on OPT, before training): two decoders with a learned position table outside every set
    "26": (HOLDOUT.with_name("verdicts_others26.json"), ("default", "kaiming", "normal-0.1")),
    # set 27 (stop 45, committed with inspect's predictions after BERT-named decoders became judged,
    # before training): the learned-position rule's first test, on two pre-norm decoders with learned
    # positions and a plain MLP, and two post-norm ones, around that rule's reading and the 11x factor
    "27": (HOLDOUT.with_name("verdicts_others27.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 28 (stop 45, committed with inspect's predictions before training): set 27's BERT-headed
    # decoders did not learn the zoo's task from any init; three more pre-norm decoders with a learned
    # position table and a plain MLP, checked to learn before their inits were chosen
    "28": (HOLDOUT.with_name("verdicts_others28.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 29 (stop 45, committed with inspect's predictions under the post-norm rule set on set 27,
    # before training): two post-norm decoders outside every set and one pre-norm twin
    "29": (HOLDOUT.with_name("verdicts_others29.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 30 (stop 46, committed with inspect's predictions before training, rules unchanged since
    # stop 45): six decoder designs outside every set, among them a mixture of experts, two parallel
    # blocks, a post-norm stack whose default the "same output" rule flags, and sinusoidal positions
    "30": (HOLDOUT.with_name("verdicts_others30.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 31 (stop 46, committed with its prediction before training, after set 30's first Marian pairs
    # sat at chance): Marian's decoder with its embeddings x sqrt(width), the init that made it learn
    # at width 64 (set 14), so that set 30's Marian pairs have a best to be labelled against
    "31": (HOLDOUT.with_name("verdicts_others31.json"), ("scale-embedding",)),
    # set 32 (stop 47, committed with inspect's predictions before training, under the parallel-block
    # rules set on set 30's CodeGen and holdout sets 3 and 16's GPT-NeoX): five parallel-block decoders
    # outside every set, at width 256, from the inits that took the sequential decoders past the bars
    "32": (HOLDOUT.with_name("verdicts_others32.json"), ("default", "kaiming", "normal-0.1", "x2.5", "x3.5")),
    # set 33 (stop 47, committed with inspect's predictions before training, after set 32 moved the
    # parallel-block bar to 144 in-sample): the same five decoders past x3.5, around that bar
    "33": (HOLDOUT.with_name("verdicts_others33.json"), ("x4", "x4.5", "x5")),
    # set 34 (stop 48, committed with inspect's predictions before training, after the parallel bar was
    # read against the library init): five decoders outside every set, at the inits of sets 30 and 32
    "34": (HOLDOUT.with_name("verdicts_others34.json"), ("default", "kaiming", "normal-0.1", "x2.5", "x3.5")),
    # set 35 (stop 48, committed with inspect's predictions before training, after the plain-MLP reading
    # of the first attention was set on the replay and set 34): set 25's sequential decoders, three with a
    # plain MLP and two gated, at x2.5 and x3 (12-14x and about 22x their library's first attention)
    "35": (HOLDOUT.with_name("verdicts_others35.json"), ("x2.5", "x3")),
    # set 36 (stop 49, committed with inspect's predictions before training, rules unchanged since
    # stop 48): six decoder designs outside every set, at the inits of sets 30 and 34
    "36": (HOLDOUT.with_name("verdicts_others36.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 37 (stop 49, committed with inspect's predictions before training, with set 36's and before
    # either was trained): six more decoder designs outside every set, at the same inits
    "37": (HOLDOUT.with_name("verdicts_others37.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 38 (stop 50, committed with inspect's predictions before training, after the recording
    # followed the stream through a gain; verdict rules unchanged since stop 48): six more decoder
    # designs outside every set, at the same inits
    "38": (HOLDOUT.with_name("verdicts_others38.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 39 (stop 50, committed with inspect's predictions before training, rules unchanged since
    # stop 48): the issue's own kinds of init (a small one, zero-initialized residual branches,
    # constant weights, orthogonal) on five of set 38's designs and Gemma 3, none trained at them
    "39": (HOLDOUT.with_name("verdicts_others39.json"), ("x0.1", "zero-residual", "constant", "orthogonal")),
    # set 40 (stop 51, committed with inspect's predictions before training, rules unchanged since
    # stop 48): set 39 missed x0.1 on the two designs with a norm after each branch; the other five
    # such designs (four trained in sets 23, 36 and 37, OLMo 3 new) at small inits and the zero and
    # orthogonal ones that trained everywhere in set 39
    "40": (HOLDOUT.with_name("verdicts_others40.json"), ("x0.1", "x0.3", "zero-residual", "orthogonal")),
    # set 41 (stop 51, committed with set 40's predictions before either was trained): mixtures of
    # experts, where Mixtral and gpt-oss learned at Kaiming though flagged, at sets 19-38's inits
    "41": (HOLDOUT.with_name("verdicts_others41.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 42 (stop 52, committed with inspect's predictions before training, after the gated clause
    # was made to read whether the MLP speaks, GATED_MLP_SPEAKS): five more mixtures of experts at
    # set 41's inits
    "42": (HOLDOUT.with_name("verdicts_others42.json"), ("default", "kaiming", "normal-0.1", "x2.5")),
    # set 43 (stop 52, committed with set 42): the four designs with a norm after each branch and one
    # before it, on either side of the small-behind-norms rule's bars (x0.1 and x0.3 set them)
    "43": (HOLDOUT.with_name("verdicts_others43.json"), ("x0.2", "x0.4")),
    # set 44 (stop 53, committed with inspect's predictions before training, rules unchanged since
    # stop 52): inits a user reaches for by hand, none tried at width 256 on these designs (each
    # trained at its default in sets 36-38): the token table at nn.Embedding's own N(0, 1), torch's
    # Transformer convention (Glorot), and LeCun uniform
    "44": (HOLDOUT.with_name("verdicts_others44.json"), ("embed-1", "xavier", "lecun-uniform")),
    # set 45 (stop 53, committed with inspect's predictions before training, after the copying clause
    # was set on set 44's Cohere 2): six decoders whose head is their token table, the table drawn
    # large (N(0, 0.3) and nn.Embedding's N(0, 1)): Cohere (a logit scale, as Cohere 2), GPT-2, Gemma
    # (the tokens x sqrt(width)), BLOOM (a norm on the embeddings), StarCoder2, SmolLM3
    "45": (HOLDOUT.with_name("verdicts_others45.json"), ("embed-0.3", "embed-1")),
    # set 46 (stop 54, committed with inspect's predictions before training, after the routed-experts
    # clause was set on sets 41-42's QK-normed MoEs at N(0, 0.1)): four new mixtures of experts and two
    # of those at inits that put the first attention on either side of that clause's bar (Glorot
    # ~5x the library's, N(0, 0.06) ~3x) and a token table 5x under the library's (the same ratio,
    # reached from the embeddings' side)
    "46": (HOLDOUT.with_name("verdicts_others46.json"), ("default", "xavier", "normal-0.06", "embed-0.004")),
    # set 47 (stop 54, committed with inspect's predictions before training): six designs outside
    # every set at the library's init and at the issue's own kinds (every weight x10 and x0.1,
    # orthogonal) and Glorot
    "47": (HOLDOUT.with_name("verdicts_others47.json"), ("default", "x10", "x0.1", "orthogonal", "xavier")),
    # set 48 (stop 55, committed with inspect's predictions before training, rules unchanged since
    # stop 54): six designs outside every set, five of them mixtures of experts, at the library's init,
    # at kinds of init no MoE has been tried at (every weight x3 and x0.01, constant weights) and at
    # the config change a user makes (initializer_range x10)
    "48": (HOLDOUT.with_name("verdicts_others48.json"), ("default", "x3", "x0.01", "constant", "range-x10")),
    # set 49 (stop 55, committed with inspect's predictions before training, after the eps rule was
    # made a warning in causal LMs on a residual stream, set on sets 40, 47, 48): seven designs of
    # earlier sets (tied and untied heads, LayerNorm and RMS-style norms, parallel and sequential
    # blocks, learned, rotary and ALiBi positions) at small inits none was trained at: every weight
    # x0.01 and x0.1 (norm gains with them) and every matrix re-drawn at N(0, 0.002) (norms kept)
    "49": (HOLDOUT.with_name("verdicts_others49.json"), ("x0.01", "x0.1", "normal-0.002")),
    # sets 50 and 51 (stop 56, committed with inspect's predictions before training, after a tied table
    # too small was made a warning where the first attention already tells positions apart, set on
    # set 49's BLOOM and MPT): tied heads behind ALiBi (Falcon-RW's design, BLOOM, MPT), learned
    # positions (GPT-2, GPT-BigCode) and rotary (Gemma, SmolLM3, StarCoder2), at every weight x0.01
    # and x0.003 and at the token table alone at N(0, 2e-4) (the rest at the library's init); set 51
    # holds the three designs set 49 trained at x0.01, at the two new inits only
    "50": (HOLDOUT.with_name("verdicts_others50.json"), ("x0.01", "x0.003", "embed-0.0002")),
    "51": (HOLDOUT.with_name("verdicts_others51.json"), ("x0.003", "embed-0.0002")),
    # set 52 (stop 58, committed with inspect's predictions before training, after a tied table too
    # small was made a warning where the model multiplies its tokens on input, set on set 50's Gemma):
    # the Gemma designs that multiply their tokens by sqrt(width) (Gemma 2, Gemma 3, VaultGemma) at
    # every weight x0.01 and x0.001 (the tokens then reach the first block under the rule's bar) and
    # at the token table alone at N(0, 2e-4); CTRL (the tokens x sqrt(width) too, but a sinusoidal
    # table added to them, so the rule does not apply) at the same three
    "52": (HOLDOUT.with_name("verdicts_others52.json"), ("x0.01", "x0.001", "embed-0.0002")),
    # set 53 (stop 58, committed with inspect's predictions before training, after the ALiBi exception
    # was made to hold only where the first attention does not outweigh the tokens, set on set 51's
    # MPT embed-0.0002): the two ALiBi designs whose first attention tells positions apart, with the
    # token table alone at N(0, 5e-4) and N(0, 1e-4) (MPT's first attention then 5x and 24x its
    # tokens: defects; BLOOM's embeddings' LayerNorm keeps its under 1x: warnings) and every weight x0.03
    "53": (HOLDOUT.with_name("verdicts_others53.json"), ("embed-0.0005", "embed-0.0001", "x0.03")),
    # set 54 (stop 58, committed with inspect's predictions before training, after the tokens-in
    # exception was made to rest on the multiplier alone, set on set 52's VaultGemma x0.001): tied tables
    # far under every earlier one, read x16 (Gemma, VaultGemma: sqrt(width)) or x12 (Granite 3.0's
    # embedding multiplier, its head tied here): every weight x0.0005 and the token table alone at N(0, 2e-5)
    "54": (HOLDOUT.with_name("verdicts_others54.json"), ("x0.0005", "embed-0.00002")),
    # set 55 (stop 58, committed with inspect's predictions before training, after branches over a token
    # table under its library's scale were made a warning by that shortfall, set on set 54's Gemma and
    # VaultGemma): ten decoders of earlier sets with the token table alone at N(0, 2e-5), 1000x under
    # the library's; five untied ones whose branches read over 35x the stream (LLaMA, Helium, Qwen3,
    # GPT-NeoX, BitNet: warned by the new clause), Gemma 2 (tied, x16 on input), two tied ones read as
    # drawn (SmolLM3, Cohere) and two with normed branches (OLMo 2, GLM-4)
    "55": (HOLDOUT.with_name("verdicts_others55.json"), ("embed-0.00002",)),
    # set 56 (stop 58, committed with inspect's predictions before training, after stop 51's rule was
    # made to need a branch small by itself, not only through its tokens, set on set 55's OLMo 2 and
    # GLM-4): five designs with a norm after each branch, with the token table alone at N(0, 2e-3) and
    # N(0, 5e-4) (10x and 40x under the library's)
    "56": (HOLDOUT.with_name("verdicts_others56.json"), ("embed-0.002", "embed-0.0005")),
    # set 57 (stop 58, committed with inspect's predictions before training): XGLM, whose tokens are
    # multiplied by sqrt(width) on input as Gemma's are but with a sinusoidal table added to them (the
    # tokens-in exception does not apply, as in CTRL), its head tied, at every weight x0.01 and x0.001
    # and with the token table alone at N(0, 2e-4)
    "57": (HOLDOUT.with_name("verdicts_others57.json"), ("x0.01", "x0.001", "embed-0.0002")),
    # set 58 (stop 59, committed with inspect's predictions before training, rules unchanged since
    # stop 58): five language models with recurrent or state-space blocks in place of most or all
    # attention (no rule was set on any such design), at the library's init and at the issue's own
    # scales (every parameter x10, x0.1, x0.01)
    "58": (HOLDOUT.with_name("verdicts_others58.json"), ("default", "x10", "x0.1", "x0.01")),
    # set 59 (stop 59, committed with inspect's predictions before training): five designs outside
    # every set (linear-attention hybrids, windows, experts) at the library's init, every parameter
    # x10 and x0.1, and Glorot
    "59": (HOLDOUT.with_name("verdicts_others59.json"), ("default", "x10", "x0.1", "xavier")),
    # set 60 (stop 59, committed with inspect's predictions before training): five of sets 58's and
    # 59's designs (the faster to train: Mamba 2, RWKV, RecurrentGemma, MiMo-V2-Flash, Granite-SWA) at
    # the issue's two other kinds of init, every matrix orthogonal (gain 1) and constant
    "60": (HOLDOUT.with_name("verdicts_others60.json"), ("orthogonal", "constant")),
    # set 61 (stop 60, committed with inspect's predictions before training, rules unchanged since
    # stop 58): four designs outside every set and set 34's HunYuan dense at the library's init,
    # every parameter x10 and x0.01, and every matrix orthogonal
    "61": (HOLDOUT.with_name("verdicts_others61.json"), ("default", "x10", "x0.01", "orthogonal")),
    # set 62 (stop 60, committed with inspect's predictions before training, after set 61 held every
    # prediction): set 61's five designs at Glorot, constant weights and every parameter x0.1
    "62": (HOLDOUT.with_name("verdicts_others62.json"), ("xavier", "constant", "x0.1")),
    # set 63 (stop 60, committed with inspect's predictions before training): five designs outside
    # every set at the library's init, every parameter x10 and x0.1, and Glorot
    "63": (HOLDOUT.with_name("verdicts_others63.json"), ("default", "x10", "x0.1", "xavier")),
    # set 64 (stop 60, committed with inspect's predictions before training, after set 63 held every
    # prediction): set 63's five designs at every matrix orthogonal, constant weights and every
    # parameter x0.01
    "64": (HOLDOUT.with_name("verdicts_others64.json"), ("orthogonal", "constant", "x0.01")),
    # sets 65 and 66 (stop 61, committed with inspect's predictions before training, rules unchanged
    # since stop 58): the designs new in sets 61 and 63 (HunYuan left out: set 34 trained it at these)
    # at the inits between the issue's kinds, where earlier misses sat: He normal, every matrix at
    # N(0, 0.1), every parameter x2.5, and the config change a user makes (initializer_range x10)
    "65": (HOLDOUT.with_name("verdicts_others65.json"), ("kaiming", "normal-0.1", "x2.5", "range-x10")),
    "66": (HOLDOUT.with_name("verdicts_others66.json"), ("kaiming", "normal-0.1", "x2.5", "range-x10")),
    # set 67 (stop 61, committed with inspect's predictions before training): set 60's five designs
    # (recurrent, state-space, windowed and expert blocks) at the same inits between the issue's kinds
    # but the config change (RWKV's config has no initializer_range)
    "67": (HOLDOUT.with_name("verdicts_others67.json"), ("kaiming", "normal-0.1", "x2.5")),
    # set 68 (stop 61, committed with inspect's predictions before training): three of sets 58's and
    # 59's designs (linear-attention hybrids, experts) at the two inits set 67 got wrong on
    # recurrent designs, He normal and every parameter x2.5
    "68": (HOLDOUT.with_name("verdicts_others68.json"), ("kaiming", "x2.5")),
    # sets 69 and 70 (stop 62, committed with inspect's predictions before training, after stop 62's
    # rules: DBRX's 2-D experts read as gated, the mixture clause's 10x bar, short convolutions over the
    # swamping bar a warning): seven designs outside every set at the library's init and at inits
    # around those rules. Set 69, three mixtures of experts, at He normal, N(0, 0.1), Glorot and
    # orthogonal (where the mixture clause false-alarmed on DBRX); set 70, LFM2 with its short
    # convolutions and three other designs, at He normal, N(0, 0.1), x2.5 and initializer_range x10
    # (where the swamping rule false-alarmed on LFM2-MoE)
    "69": (HOLDOUT.with_name("verdicts_others69.json"), ("default", "kaiming", "normal-0.1", "xavier", "orthogonal")),
    "70": (HOLDOUT.with_name("verdicts_others70.json"), ("default", "kaiming", "normal-0.1", "x2.5", "range-x10")),
    # set 71 (stop 62, committed with inspect's predictions before training, after set 69 held every
    # prediction): six of sets 69's and 70's designs (LaraMini, the slowest to train, left out) at the
    # issue's own kinds of init: every parameter x10 and x0.01, and constant weights
    "71": (HOLDOUT.with_name("verdicts_others71.json"), ("x10", "x0.01", "constant")),
    # set 72 (stop 62, committed with inspect's predictions before training, after saturated attention
    # behind other token mixers was made a warning between a third of the bar and the bar, set on
    # five hybrids at x2.5): six designs whose first block mixes tokens without attention, at every
    # parameter x2 and x3, where their attention reads in and under that band
    "72": (HOLDOUT.with_name("verdicts_others72.json"), ("x2", "x3")),
    # set 73 (stop 63, committed with inspect's predictions before training, after a zero token row
    # whose sequences overflow the step-0 gradient was made a defect, set on Dory alone): Dory, whose
    # padding row overflows at every init that keeps it; Kolibri1, whose row overflowed at
    # initializer_range x10 only; GLM4 and gpt-oss, whose probes read 1e31 and 1e27 short of the
    # overflow at their library init and x2.5: each at every parameter x0.5 and x2, and
    # initializer_range x5
    "73": (HOLDOUT.with_name("verdicts_others73.json"), ("x0.5", "x2", "range-x5")),
    # sets 74 and 75 (stop 63, committed with inspect's predictions before training, after the
    # zero-row rule was made to need the overflow to outlast one Adam step): designs without
    # biases whose zero row overflowed at set 48's and 59's inits, where the probe goes from finite
    # to not: Beam and MiniMax at every parameter x4, x5 and x7; Kolibri1 at initializer_range x8
    # and x9 (finite at step 0 and x8; not at x9)
    "74": (HOLDOUT.with_name("verdicts_others74.json"), ("x4", "x5", "x7")),
    "75": (HOLDOUT.with_name("verdicts_others75.json"), ("range-x8", "range-x9")),
    # set 76 (stop 64, committed with inspect's predictions before training, after the zero-row probe
    # was made to read the table's output first, its readings unchanged on the replay): the rule on a
    # design none of its sets held, and at depth, where its reading is the batch's: LLaMA at width
    # 128 with 12, 20, 24 and 32 blocks and its padding row zero, at the library's init, x0.5 and x2
    "76": (HOLDOUT.with_name("verdicts_others76.json"), ("default", "x0.5", "x2")),
    # set 77 (stop 64, committed with inspect's predictions before training, after set 76 held all 8
    # labelled pairs): six other designs at set 76's depth 24 and width 128, their padding row zero,
    # at the library's init and x0.5
    "77": (HOLDOUT.with_name("verdicts_others77.json"), ("default", "x0.5")),
    # set 78 (stop 65, committed with inspect's predictions before training, no rule changed since
    # set 77): torch's own init (``torch-default``: every module's reset_parameters, nn.Embedding's
    # N(0, 1)), the init of a model written from torch's layers or re-drawn by a loop over them, on
    # the designs people build most (decoders tied and untied, encoders, vision transformers,
    # recurrent and hybrid LMs)
    "78": (HOLDOUT.with_name("verdicts_others78.json"), ("torch-default",)),
    # set 79 (stop 65, committed with inspect's predictions before training, after an overconfident
    # output under a soft cap on the logits was made a warning, set on set 78's RecurrentGemma): the
    # other designs with a cap (Gemma 2, VaultGemma, cap 30) and Gemma 2 without it, at torch's own
    # init and with only the tied token table at N(0, 1) and N(0, 9) (the last past the cap's slope)
    "79": (HOLDOUT.with_name("verdicts_others79.json"), ("torch-default", "embed-1", "embed-3")),
    # set 80 (stop 65, committed with inspect's predictions before training, after the cap rule and
    # the table warning): torch's own init on 18 more designs (a logit scale, multipliers, mixtures of
    # experts, sinks, hybrids, tied and untied)
    "80": (HOLDOUT.with_name("verdicts_others80.json"), ("torch-default",)),
    # set 81 (stop 66, committed with inspect's predictions before training; no rule that flags has
    # changed since set 79): one module group x10 and the rest as built (:func:`_role_scale`), the
    # slip an engineer debugging one layer makes: the query and key projections (attention logits
    # x100), the output layer, every norm's scale; on decoders, encoders and vision transformers
    "81": (HOLDOUT.with_name("verdicts_others81.json"), ("qk-x10", "head-x10", "norm-x10")),
    # set 82 (stop 66, committed with inspect's predictions before training, after "table too large
    # for the optimizer" became a defect): torch's own init on transformers' sequence classifiers no
    # set held, their library init trained beside as the reference
    "82": (HOLDOUT.with_name("verdicts_others82.json"), ("torch-default",)),
    # set 83 (stop 66, committed with inspect's predictions before training, rules as for set 82): set
    # 81's module groups x10 on set 82's encoders (without FNet and ModernBERT, which have no query
    # and key projections by name, MRA, whose library init learned little, and FlauBERT, XLM's design)
    "83": (HOLDOUT.with_name("verdicts_others83.json"), ("qk-x10", "head-x10", "norm-x10")),
    # set 84 (stop 67, committed with inspect's predictions before training, after "norm gain too
    # large" was set on sets 81 and 83): 13 library encoders no scored set held, at their library
    # init, with every norm's scale x4 (under the rule's bar), x8 and x20 (over it), and set 81's
    # query and key x10 and output layer x10
    "84": (HOLDOUT.with_name("verdicts_others84.json"), ("default", "norm-x4", "norm-x8", "norm-x20", "qk-x10", "head-x10")),
    # set 85 (stop 67, committed with inspect's predictions before training, after the norm-gain bar
    # moved to 9 on set 84): library encoders at width 128, 4 blocks (the table rule was set at width
    # 64, and a torch-written encoder at 256 trained from its N(0, 1) tables; at 256 post-norm ELECTRA
    # and RoBERTa learned nothing at their library init in 300 steps at lr 1e-3), at their library and
    # torch's own init, and every norm's scale x6 and x12 (either side of the bar)
    "85": (HOLDOUT.with_name("verdicts_others85.json"), ("default", "torch-default", "norm-x6", "norm-x12")),
    # set 86 (stop 67, committed with inspect's predictions before training, after the norm-gain bar
    # was made to read the width on set 85): other library encoders at width 96, 4 blocks, at their
    # library and torch's own init and every norm's scale x5 and x8 (the bar, 8.2 / sqrt(1.5) = 6.7 in
    # the gain there, between them)
    "86": (HOLDOUT.with_name("verdicts_others86.json"), ("default", "torch-default", "norm-x5", "norm-x8")),
    # set 87 (stop 67, committed with inspect's predictions before training, rules as for set 86):
    # library encoders at width 64 and 8 blocks (the norm-gain bar reads the width, not the depth),
    # at their library and torch's own init and every norm's scale x6 and x10 (the bar at width 64: 8.2)
    "87": (HOLDOUT.with_name("verdicts_others87.json"), ("default", "torch-default", "norm-x6", "norm-x10")),
    # set 88 (stop 67, committed with inspect's predictions before training, rules as for set 86, and
    # beside them the table rule as stop 67's lead would have it: flagged only with a learned position
    # table): torch's own init on encoders with rotary positions (GTE, Jina v3, NomicBERT, ModernBERT,
    # RoFormer) and with learned position tables (ERNIE, ConvBERT, XLM-RoBERTa, Nystromformer, BigBird)
    "88": (HOLDOUT.with_name("verdicts_others88.json"), ("default", "torch-default")),
    # set 89 (stop 68, committed with inspect's predictions before training, after the table rule
    # was made to read the positions: a learned position table among the large tables, or a frozen
    # random one): encoders at width 80 at their library and torch's own init, and with only the token
    # table at nn.Embedding's N(0, 1) (``embed-1``; the positions, where learned, stay at the
    # library's 0.02), which the rule no longer flags and stop 67's rule did
    "89": (HOLDOUT.with_name("verdicts_others89.json"), ("default", "torch-default", "embed-1")),
    # set 90 (stop 68, committed with inspect's predictions before training, rules as for set 89):
    # the same three inits on encoders whose positions are read other ways (SET90_ENCODERS)
    "90": (HOLDOUT.with_name("verdicts_others90.json"), ("default", "torch-default", "embed-1")),
    # set 91 (stop 68, committed with inspect's predictions before training, after the classifier
    # reading of "same output for every sequence" was set on set 90): classifiers with sinusoid
    # positions (~0.62) at their library init (tokens ~0.02) and with the token table at N(0, s)
    # for s = 0.05, 0.1, 0.5 (the ratio ~12, ~6, ~1.2 against the bar of 10)
    "91": (HOLDOUT.with_name("verdicts_others91.json"), ("default", "embed-0.05", "embed-0.1", "embed-0.5")),
    # sets 92 and 93 (stop 68, committed with inspect's predictions before training, after the table
    # rule was made to need a constant lookup, token types, among its large tables): encoders without
    # token types and torch-written ones with them at their own and torch's init (92); library encoders
    # with token types at torch's own init, and so with the type table alone put back at 0.02 (93)
    "92": (HOLDOUT.with_name("verdicts_others92.json"), ("default", "torch-default")),
    "93": (HOLDOUT.with_name("verdicts_others93.json"), ("default", "torch-default", "torch-default-types-0.02")),
    # set 94 (stop 68, committed with inspect's predictions before training, after the classifier
    # reading of "same output" came down to a ratio of 5 on set 91): sinusoid classifiers with the
    # token table at N(0, s), s = 0.08, 0.15, 0.3, 1 (ratios ~7.5, ~4, ~2, ~0.6)
    "94": (HOLDOUT.with_name("verdicts_others94.json"), ("embed-0.08", "embed-0.15", "embed-0.3", "embed-1")),
    # set 95 (stop 68, committed with inspect's predictions before training, rules as at the stop's end):
    # set 93's three inits on encoders with other constant lookups (SET95_ENCODERS)
    "95": (HOLDOUT.with_name("verdicts_others95.json"), ("default", "torch-default", "torch-default-types-0.02")),
    # sets 96 and 97 (stop 69, committed with inspect's predictions before training, after the classifier
    # reading of "same output" was given the position code's own bar, POSITION_RATIO_MIN): sinusoid
    # classifiers, tokens at 0.2 and 0.25 (ratios ~3.5 and ~2.8 in the library ones, ~2.9 and ~2.3 in
    # the torch-written one) and 1 (96); learned position tables at N(0, 0.05 / 0.1 / 0.2) beside
    # tokens at 0.02 (97)
    "96": (HOLDOUT.with_name("verdicts_others96.json"), ("embed-0.2", "embed-0.25", "embed-1")),
    "97": (HOLDOUT.with_name("verdicts_others97.json"), ("default", "positions-0.05", "positions-0.1", "positions-0.2")),
    # sets 98 and 99 (stop 69, committed with inspect's predictions before training, after the classifier
    # reading was split: smooth position codes at 2.5x, constant lookups at 5x, random learned codes
    # not read): SET98_ENCODERS, SET99_ENCODERS
    "98": (HOLDOUT.with_name("verdicts_others98.json"), ("default", "positions-0.4", "types-0.1", "types-0.3")),
    "99": (HOLDOUT.with_name("verdicts_others99.json"), ("embed-0.22", "embed-0.27", "embed-1")),
    # set 100 (stop 69, committed with inspect's predictions before training, after the classifier
    # reading got a bar per kind): SET100_ENCODERS
    "100": (HOLDOUT.with_name("verdicts_others100.json"), ("default", "positions-0.25", "positions-0.6", "types-0.07", "types-0.12")),
    # set 101 (stop 69, committed with inspect's predictions before training, rules as for set 100)
    "101": (HOLDOUT.with_name("verdicts_others101.json"), ("default", "positions-0.3", "positions-0.5", "types-0.09")),
    # set 102 (stop 69, committed with inspect's predictions before training, rules as at f250aa4)
    "102": (HOLDOUT.with_name("verdicts_others102.json"),
            ("default", "positions-0.15", "positions-0.4", "types-0.06", "types-0.1")),
    # set 103 (stop 69, committed with inspect's predictions before training, rules as at 5dfdf54)
    "103": (HOLDOUT.with_name("verdicts_others103.json"), ("default", "positions-0.15", "positions-0.4")),
}
# the families each set is trained on (set 3: the decoders, for holdout set 4's test)
OTHER_SET_FAMILIES: dict[str, tuple[str, ...]] = {"1": FIRST_OTHERS, "2": FIRST_OTHERS,
                                                  "3": tuple(n for n in FIRST_OTHERS if OTHER_TASKS[n] == "gpt2"), "4": LIBRARY_LMS,
                                                  "5": VISION_OTHERS, "6": tuple(n for n in FIRST_OTHERS if OTHER_TASKS[n] != "vit"),
                                                  "7": ("roberta", "distilbert", "electra", *NEW_ENCODERS), "8": tuple(GATED_OTHERS),
                                                  "9": tuple(RESIDUAL_OTHERS), "10": tuple(CLS_OTHERS),
                                                  "11": tuple(LORA_OTHERS), "12": ("gru",), "13": ("rnn-tanh",),
                                                  "14": ("marian", "pegasus"), "15": ("prophetnet", "roc_bert"),
                                                  "16": ("mistral", "opt", "roberta", "electra", "distilbert", "deberta-v2"),
                                                  "17": FLAGGED_DEFAULT_LMS, "18": FLAGGED_DEFAULT_CLASSIFIERS,
                                                  **WIDE_DECODER_SETS,
                                                  "78": ("gpt2-w256", "llama-w256", "mistral-w256", "qwen2-w256", "qwen3-w256",
                                                         "gemma-w256", "opt-w256", "phi3-w256", "olmo2-w256", "neox-w256",
                                                         "phi-w256", "bloom-w256", "starcoder2-w256", "smollm3-w256",
                                                         "helium-w256", "bigcode-w256", "roberta", "distilbert", "electra",
                                                         "deberta-v2", "mpnet", "beit", "dinov2", "vit-msn", "swinv2", "pvt-v2",
                                                         "mamba2-w256", "rwkv-w256", "recurrentgemma-w256", "falconh1-w256",
                                                         "qwen3next-w256"),
                                                  "80": ("cohere-w256", "granite-w256", "mixtral-w256", "olmoe-w256", "deepseekv3-w256",
                                                         "gpt-oss-w256", "exaone4-w256", "glm4-w256", "minicpm3-w256", "bitnet-w256",
                                                         "doge-w256", "seed-oss-w256", "hunyuan-w256", "nanochat-w256", "lfm2-w256",
                                                         "jetmoe-w256", "ernie4_5-w256", "cohere2-w256"),
                                                  "81": ("gpt2-w256", "llama-w256", "qwen3-w256", "olmo2-w256", "phi-w256", "opt-w256",
                                                         "neox-w256", "bloom-w256", "roberta", "distilbert", "electra", "deberta-v2",
                                                         "mpnet", "beit", "dinov2", "vit-msn", "swinv2", "pvt-v2", "deit"),
                                                  "82": (*LIBRARY_ENCODERS, "mobilebert"),
                                                  "83": tuple(n for n in (*LIBRARY_ENCODERS, "mobilebert")
                                                              if n not in ("fnet", "modernbert", "mra", "flaubert")),
                                                  "84": SET84_ENCODERS, "85": WIDE_ENCODERS, "86": WIDE96_ENCODERS,
                                                  "87": DEEP_ENCODERS, "88": POSITION_ENCODERS, "89": SET89_ENCODERS,
                                                  "90": SET90_ENCODERS, "91": SET91_ENCODERS,
                                                  "92": SET92_ENCODERS, "93": SET93_ENCODERS, "94": SET94_ENCODERS,
                                                  "95": SET95_ENCODERS, "96": SET96_ENCODERS, "97": SET97_ENCODERS,
                                                  "98": SET98_ENCODERS, "99": SET99_ENCODERS, "100": SET100_ENCODERS,
                                                  "101": SET101_ENCODERS, "102": SET102_ENCODERS,
                                                  "103": SET103_ENCODERS}


def _other_model(name: str, init: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return apply_init(_others()[name][0](), init)


def _other_job(job: tuple[str, str, int, dict]) -> tuple[str, str, int, float]:
    torch.set_num_threads(1)
    name, init, seed, protocol = job
    return name, init, seed, run_training(OTHER_TASKS[name], init, seed, protocol, model=_other_model(name, init, seed))


def _other_losses(protocol: dict) -> dict[tuple[str, str], dict[int, float]]:
    """Every trained others set's losses (same recipe), keyed (family, init)."""
    losses: dict[tuple[str, str], dict[int, float]] = {}
    for path, _ in OTHER_SETS.values():
        if path.exists():
            saved = json.loads(path.read_text())
            if protocol_of(saved) == protocol:
                for k, by in saved["losses"].items():
                    losses.setdefault(tuple(k.split("|")), {}).update({int(s): v for s, v in by.items()})
    return losses


def _other_fix_job(job: tuple[str, str, int, dict]) -> tuple[str, str, int, float]:
    from initscope.inspect.fixes import fix_model

    torch.set_num_threads(1)
    name, init, seed, protocol = job
    model = _other_model(name, init, seed)
    x, _ = zoo.task_data(OTHER_TASKS[name], 16, seed=12345)
    fix_model(model, x, "auto", seed=seed)
    return name, init, seed, run_training(OTHER_TASKS[name], init, seed, protocol, model=model)


def cmd_other_fixes(rows: list[tuple[str, str, str, float, object]], losses: dict, protocol: dict, jobs: int) -> None:
    """Every flagged pair of an others set fixed with --fix auto and trained again (2 seeds),
    labelled against its family's best as before the fix."""
    flagged = [(n, i, lab, prog) for n, i, lab, prog, res in rows if res.issues and lab != "left out"]
    fixed = _train_fixed([(n, i) for n, i, _, _ in flagged], _other_fix_job, protocol, jobs)
    print("\nfixes (--fix auto) on flagged pairs, trained again (2 seeds):")
    broken = trained = 0
    worse = []
    for n, i, lab, prog in flagged:
        c = chance(OTHER_TASKS[n])
        best = min(sum(by.values()) / len(by) for (m, _), by in losses.items() if m == n and len(by) == len(SEEDS))
        new = (c - sum(fixed[(n, i)].values()) / len(SEEDS)) / (c - best)
        before = [losses[(n, i)][s] for s in SEEDS]
        broken += lab == "broken"
        trained += lab == "broken" and new >= TRAINS
        if lab == "trains" and new < prog - max(abs(before[0] - before[1]) / (c - best), 0.05):
            worse.append(f"{n} {i}")
        print(f"  {n:22s} {i:14s} {lab:8s} progress {prog:5.2f} -> {new:5.2f} ({label(new)})")
    print(f"\nbroken pairs that train after the fix: {trained} of {broken}; trained pairs made worse: {worse or 'none'}")


def cmd_others_trained(jobs: int, protocol: dict, which: str = "1", fixes: bool = False, trial_steps: int = 0) -> None:
    """Families outside the zoo at one set of inits (OTHER_SETS), trained on the zoo task of their
    kind (saved) and labelled against their own best init over every set trained so far; inspect
    judged on the same batch as the zoo's."""
    path, inits = OTHER_SETS[which]
    names = OTHER_SET_FAMILIES[which]
    # a family no set has trained at the library's init gets it here, unscored: its best init is the
    # reference every label is read against, and a set of only bad inits would label the least bad
    # one "trains" (stop 56: Falcon-RW's design at x0.01, x0.003, embed-0.0002 read 1.00, 0.94, 0.71
    # against each other, at losses near chance)
    refs = [(n, "default") for n in names if "default" not in inits and (n, "default") not in _other_losses(protocol)]
    if refs:
        print(f"reference (the library's init, trained unscored): {', '.join(n for n, _ in refs)}", file=sys.stderr)
    _train_saved(path, protocol, [(n, i) for n in names for i in inits] + refs, _other_job, jobs)
    losses = _other_losses(protocol)  # this set, just saved, and every other one trained the same way
    rows = []
    for name, fam in OTHER_TASKS.items():
        if name not in names:
            continue
        c = chance(fam)
        means = {i: sum(by.values()) / len(by) for (n, i), by in losses.items() if n == name and len(by) == len(SEEDS)}
        # a family none of whose inits kept a finite loss learned nothing to read a label against: left out
        # (set 76's 32-block LLaMA diverged at all three)
        best = min((m for m in means.values() if math.isfinite(m)), default=c)
        for init in inits:
            prog = (c - means[init]) / (c - best) if math.isfinite(means[init]) else -math.inf
            x, _ = zoo.task_data(fam, 16, seed=12345)
            res = inspect(_other_model(name, init, 0), x)
            lab = label(prog) if c - best >= 0.1 * c else "left out"
            rows.append((name, init, lab, prog, res))
    print(f"\nfamilies outside the zoo, set {which} ({', '.join(inits)}), trained with {protocol}, against their own best init:")
    _print_judged(rows, 22)
    if trial_steps:  # the second signal on the pairs step 0 judged wrong: would `inspect --trial` have said it?
        torch.set_num_threads(1)
        wrong = [r for r in rows if judged_wrong(r[2], bool(r[4].issues))]
        print(f"\nthe trial ({trial_steps} AdamW steps on inspect's batch) on the pairs judged wrong:" + ("" if wrong else " none"))
        for name, init, lab, _, res in wrong:
            tr = trial_pair(OTHER_TASKS[name], init, res, trial_steps, build=lambda n=name, i=init: _other_model(n, i, 0))
            print(f"  {name:22s} {init:10s} {lab:8s} share {tr['share']:6.2f} against its {tr['reference']}: "
                  f"the trial says {trial_call(float(tr['share']))}", flush=True)
    if fixes:
        cmd_other_fixes(rows, losses, protocol, jobs)


def cmd_others_predict(which: str) -> None:
    """inspect's predictions for one others set, before it is trained: per pair the first block's
    attention branch over the token embeddings, that over the library init's, the first
    attention's entropy (share of its maximum), the zero-row probe's largest gradient (inf: not
    finite; NaN: no zero token row) and the defects and warnings (the tables
    RESULTS commits before a set's training)."""
    from initscope.inspect.verdicts import _entropy_of

    print("| pair | first attention / embeddings | / library | entropy | zero-row probe, max abs gradient | predicted |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for name in OTHER_SET_FAMILIES[which]:
        x, _ = zoo.task_data(OTHER_TASKS[name], 16, seed=12345)
        for init in OTHER_SETS[which][1]:
            res = inspect(_other_model(name, init, 0), x)
            br = res.branches
            first = br[(br.block_index == 0) & (br.role == "attention")] if not br.empty else br
            ratio = float(first.iloc[0].ratio) if len(first) else math.nan
            ent = _entropy_of(res.attention, str(first.iloc[0].module)) if len(first) else math.nan
            defects = [f.kind + (" (low)" if f.confidence == "low" else "") for f in res.findings if f.severity == "defect"]
            warned = [f.kind for f in res.findings if f.severity == "warning"]
            probe = res.gradients.zero_row_grad_max if res.gradients is not None else math.nan
            print(f"| {name} {init} | {ratio:.3g} | {ratio / res.output.first_attention_library:.3g} | {ent:.2f} | {probe:.3g} | "
                  f"{', '.join(defects) or 'ok'}{' (warned: ' + ', '.join(warned) + ')' if warned else ''} |", flush=True)


def cmd_others() -> None:
    """Families outside the zoo, untrained: a library default should not be flagged; every
    parameter x10 is printed with what inspect says (training decides whether it breaks)."""
    false_alarms = 0
    cases = _others()
    for name, (factory, batch) in cases.items():
        torch.manual_seed(0)
        model = factory()
        for init in ("default", "x10"):
            res = inspect(apply_init(model, init), batch)
            kinds = sorted({f.kind for f in res.findings if f.severity == "defect"})
            false_alarms += init == "default" and bool(kinds)
            print(f"  {name:22s} {init:8s} loss {res.output.loss:6.3g} (chance {res.output.chance_loss:.3g}) "
                  + (f"FLAG {', '.join(kinds)}" if kinds else "ok"))
    print(f"\nlibrary defaults flagged: {false_alarms} of {len(cases)}")


def trained_pairs(truth: dict) -> list[dict[str, object]]:
    """Every pair trained so far: the zoo, holdout sets (against the zoo's best) and others sets
    (against their family's best over all sets), each with its losses per seed and progress."""
    protocol = protocol_of(truth)
    out: list[dict[str, object]] = []
    for key, p in truth["pairs"].items():
        fam, init = key.split("|")
        out.append({"where": "zoo", "name": fam, "init": init, "task": fam, "losses": list(p["losses"]), "progress": p["progress"],
                    "chance": p["chance"], "best": p["best"]})
    for which, (path, inits) in HOLDOUT_SETS.items():
        if not path.exists():
            continue
        saved = json.loads(path.read_text())
        for k, by in saved["losses"].items():
            fam, init = k.split("|")
            if len(by) == len(SEEDS) and f"{fam}|default" in truth["pairs"]:
                ls = [by[str(s)] for s in SEEDS]
                ref = truth["pairs"][f"{fam}|default"]
                out.append({"where": f"holdout{which}", "name": fam, "init": init, "task": fam, "losses": ls,
                            "progress": progress_against(truth, fam, sum(ls) / len(ls)), "chance": ref["chance"], "best": ref["best"]})
    others = _other_losses(protocol)
    for name, fam in OTHER_TASKS.items():
        means = {i: sum(by.values()) / len(by) for (n, i), by in others.items() if n == name and len(by) == len(SEEDS)}
        if not means:
            continue
        c = chance(fam)
        best = min((m for m in means.values() if math.isfinite(m)), default=c)  # none finite: left out, as above
        for init, m in means.items():
            out.append({"where": "others", "name": name, "init": init, "task": fam, "losses": [others[(name, init)][s] for s in SEEDS],
                        "progress": (c - m) / (c - best) if math.isfinite(m) else -math.inf, "chance": c, "best": best})
    return out


def build_pair(where: str, name: str, init: str, seed: int) -> torch.nn.Module:
    if where == "zoo":
        return zoo.build(name, init, seed=seed)
    return _other_model(name, init, seed) if where == "others" else _holdout_model(name, init, seed)


WARNED = HOLDOUT.with_name("verdicts_warned.json")


def _warned_job(job: tuple[str, str, int, dict]) -> tuple[str, str, int, float]:
    from initscope.inspect.fixes import fix_model

    torch.set_num_threads(1)
    where_name, init, seed, protocol = job
    where, name = where_name.split(":")
    task = OTHER_TASKS.get(name, name) if where == "others" else name
    model = build_pair(where, name, init, seed)
    x, _ = zoo.task_data(task, 16, seed=12345)
    fix_model(model, x, "auto", seed=seed)  # the fix's own draws (LSUV) vary with the training seed
    return where_name, init, seed, run_training(task, init, seed, protocol, model=model)


# the defects stop 39 made or moved (benchmarks/RESULTS.md): `warned` retrains their fixes
STOP39_KINDS = ("attention swamps the token embeddings", "stream outgrows the tied embeddings", "gradients below the optimizer's eps")


def cmd_warned(truth: dict, jobs: int, kinds: tuple[str, ...] = STOP39_KINDS) -> None:
    """Every trained pair flagged with one of ``kinds`` (up to stop 39: not flagged, but warned
    "attention swamps the token embeddings", which --fix auto acted on), fixed with --fix auto
    and trained again (saved in verdicts_warned.json, which later runs reuse): how many broken
    ones then train, and none that trained made worse."""
    from initscope.inspect.fixes import ACTED_ON_WARNINGS

    rows = []
    for p in trained_pairs(truth):
        torch.manual_seed(0)
        x, _ = zoo.task_data(str(p["task"]), 16, seed=12345)
        res = inspect(build_pair(str(p["where"]), str(p["name"]), str(p["init"]), 0), x)
        acted = not res.issues and any(f.severity == "warning" and f.kind in ACTED_ON_WARNINGS for f in res.findings)
        if acted or any(f.severity == "defect" and f.kind in kinds for f in res.findings):
            rows.append(p)
    protocol = protocol_of(truth)
    key = lambda p: f"{p['where'] if p['where'] == 'others' else 'zoo' if p['where'] == 'zoo' else 'holdout'}:{p['name']}"  # noqa: E731
    losses = _train_saved(WARNED, protocol, [(key(p), str(p["init"])) for p in rows], _warned_job, jobs)
    print(f"\npairs flagged ({'; '.join(kinds)}), --fix auto, trained again ({len(SEEDS)} seeds):")
    fixed = broken = 0
    worse = []
    for p in rows:
        ls = [losses[(key(p), str(p["init"]))][s] for s in SEEDS]
        c, best = float(p["chance"]), float(p["best"])
        prog, before = float(p["progress"]), list(p["losses"])
        new = (c - sum(ls) / len(ls)) / (c - best)
        lab = label(prog)
        broken += lab == "broken"
        fixed += lab == "broken" and new >= TRAINS
        spread = abs(before[0] - before[1]) / (c - best)
        if lab == "trains" and new < prog - max(spread, 0.05):
            worse.append(f"{p['name']} {p['init']}")
        print(f"  {p['where']:9s} {p['name']:10s} {p['init']:14s} {lab:8s} progress {prog:5.2f} -> {new:5.2f} ({label(new)})")
    print(f"\nbroken pairs among them that train after the fix: {fixed} of {broken}; trained pairs made worse: {worse or 'none'}")


# stop 66: encoders no set holds, from transformers' library (`library_defaults.small_config`), with
# set 78's RoBERTa-style five (built the same way here)
TABLE_FIX_ENCODERS = ("albert", "roformer", "convbert", "nystromformer", "ernie", "xlm-roberta", "funnel", "bert")


def cmd_table_fix(names: tuple[str, ...] = TABLE_FIX_ENCODERS) -> None:
    """The defect "table too large for the optimizer" and --fix auto's answer to it (scale the
    tables before the norm down by one factor), on library encoders at torch's own init: inspect's
    call on each first, then each trained (2 seeds, the zoo's classification task) at the library's
    init, at torch's own and at torch's own fixed, progress against the best of the three."""
    from initscope.inspect.fixes import auto_fix

    torch.set_num_threads(1)
    protocol = {**PROTOCOL}
    x, _ = zoo.task_data("bert", 16, seed=12345)

    def build(name: str, init: str, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return apply_init(_library_classifier(name), init)

    for name in names:
        res = inspect(build(name, "torch-default", 0), x)
        found = any(f.kind == "table too large for the optimizer" for f in res.findings)
        print(f"{name:14s} torch-default: the table finding: {'yes' if found else 'no'}; issues {res.issues or 'none'}", flush=True)
    c = chance("bert")
    print("\ntrained (2 seeds), progress against the best of the three:")
    for name in names:
        got = {}
        for init in ("default", "torch-default", "fixed"):
            ls = []
            for seed in SEEDS:
                model = build(name, "torch-default" if init == "fixed" else init, seed)
                if init == "fixed":
                    auto_fix(model, x, seed=seed)
                ls.append(run_training("bert", init, seed, protocol, model=model))
            got[init] = sum(ls) / len(ls)
        best = min(got.values())
        print(f"  {name:14s} " + "  ".join(f"{k} {v:.3f} ({(c - v) / (c - best):.2f})" for k, v in got.items()), flush=True)


REPLAY = Path(__file__).with_name(".verdicts_replay.pkl")  # not committed (.gitignore): a cache of inspect's measurements


def replay_rows(truth: dict) -> list[dict[str, object]]:
    """Every labelled pair of the holdout and others sets as scored set by set (a pair in two sets
    counts twice, as the per-set agreements add up), and the zoo's: :func:`trained_pairs` with a
    set and a label."""
    rows: list[dict[str, object]] = []
    pairs = trained_pairs(truth)
    for p in pairs:
        if p["where"] == "zoo":
            rows.append({**p, "set": "zoo", "label": truth["pairs"][f"{p['name']}|{p['init']}"]["label"]})
        elif p["where"] != "others":
            rows.append({**p, "set": "h" + str(p["where"])[len("holdout"):], "where": "holdout", "label": label(float(p["progress"]))})
    others = {(p["name"], p["init"]): p for p in pairs if p["where"] == "others"}
    for which, (_, inits) in OTHER_SETS.items():
        for name in OTHER_SET_FAMILIES[which]:
            if any((name, i) not in others for i in inits):
                continue
            for init in inits:
                p = others[(name, init)]
                c, best = float(p["chance"]), float(p["best"])
                rows.append({**p, "set": f"o{which}", "label": label(float(p["progress"])) if c - best >= 0.1 * c else "left out"})
    return rows


def cmd_replay(truth: dict, record: bool, missing: bool = False) -> None:
    """Re-score every trained pair (zoo, holdout and others sets) from inspect's saved measurements:
    ``--record`` runs inspect on each once (~10 min) and keeps what ``diagnose`` reads in
    ``benchmarks/.verdicts_replay.pkl``; without it, the verdicts are recomputed from that cache in
    seconds. Valid for changes to ``inspect.verdicts`` only: a change to what is measured needs
    ``--record`` again. ``--missing`` records only the pairs the cache lacks (a set just trained)."""
    import pickle

    import initscope.inspect.verdicts as V

    rows = [r for r in replay_rows(truth) if r["label"] != "left out"]
    keys = list(dict.fromkeys((str(r["where"]), str(r["name"]), str(r["init"])) for r in rows))
    cache: dict = pickle.loads(REPLAY.read_bytes()) if REPLAY.exists() else {}
    if record or missing:
        cache = {} if record else cache
        diagnose = V.diagnose
        todo = [k for k in keys if k not in cache]
        try:
            for n, (where, name, init) in enumerate(todo):
                got: dict = {}

                def keep(*args, **kw):
                    got["args"], got["kw"] = args, kw
                    return diagnose(*args, **kw)

                V.diagnose = keep
                task = OTHER_TASKS.get(name, name) if where == "others" else name
                torch.manual_seed(0)
                x, _ = zoo.task_data(task, 16, seed=12345)
                res = inspect(build_pair(where, name, init, 0), x)
                cache[(where, name, init)] = (got["args"], got["kw"], bool(res.issues))
                print(f"[{n + 1}/{len(todo)}] {where} {name} {init}: {'flagged' if res.issues else 'ok'}", file=sys.stderr, flush=True)
        finally:
            V.diagnose = diagnose
        REPLAY.write_bytes(pickle.dumps(cache))
    missing = [k for k in keys if k not in cache]
    if missing:
        sys.exit(f"replay: {len(missing)} pairs have no saved measurements (first {missing[0]}): run `verdicts.py replay --record`")
    flags: dict = {}
    for k in keys:
        args, kw, _ = cache[k]
        findings, _ = V.diagnose(*args, **kw)
        flags[k] = sorted({f.kind for f in findings if f.severity == "defect"})
    for part, keep_row in (("zoo", lambda r: r["set"] == "zoo"), ("outside the zoo (holdout and others sets)", lambda r: r["set"] != "zoo")):
        sel = [r for r in rows if keep_row(r)]
        print(f"\n{part}:")
        confusion([(str(r["label"]), bool(flags[(str(r["where"]), str(r["name"]), str(r["init"]))])) for r in sel])
    print("\nwrong outside the zoo (set, pair, label, progress, verdict):")
    for r in rows:
        f = flags[(str(r["where"]), str(r["name"]), str(r["init"]))]
        if r["set"] != "zoo" and judged_wrong(str(r["label"]), bool(f)):
            print(f"  {r['set']:4s} {r['name']:22s} {r['init']:16s} {r['label']:7s} {float(r['progress']):6.2f}  {','.join(f) or 'ok'}")
    print("\nwrong in the zoo:")
    for r in rows:
        f = flags[(str(r["where"]), str(r["name"]), str(r["init"]))]
        if r["set"] == "zoo" and judged_wrong(str(r["label"]), bool(f)):
            print(f"  {r['name']:22s} {r['init']:16s} {r['label']:7s} {float(r['progress']):6.2f}  {','.join(f) or 'ok'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["all", "train", "score", "fixes", "features", "others", "trial",
                                                                  "ablations", "holdout", "warned", "replay", "tablefix"])
    ap.add_argument("--families", default=",".join(zoo.FAMILIES))
    ap.add_argument("--inits", default=",".join(zoo.INITS))
    ap.add_argument("--jobs", type=int, default=2, help="training processes (one thread each)")
    ap.add_argument("--set", default="1", choices=sorted(set(HOLDOUT_SETS) | set(OTHER_SETS)),
                    help="holdout / others --train-others: which set of inits")
    ap.add_argument("--train-others", action="store_true", help="others: train them (default, x3, x10) and score against that")
    ap.add_argument("--predict", action="store_true", help="others: print inspect's predictions for --set, untrained")
    ap.add_argument("--fixes", action="store_true", help="holdout, others --train-others: also --fix auto every flagged pair and train it again")
    ap.add_argument("--record", action="store_true", help="replay: run inspect on every trained pair and save what the verdicts read")
    ap.add_argument("--missing", action="store_true", help="replay: record only the trained pairs the saved measurements lack")
    ap.add_argument("--steps", type=int, default=60, help="trial: AdamW steps on the pair's batch")
    ap.add_argument("--trial-wrong", action="store_true",
                    help="others --train-others: also run the trial (--steps) on every pair inspect's step 0 judged wrong")
    ap.add_argument("--truth", type=Path, default=TRUTH, help="the saved ground truth to train into or score against")
    ap.add_argument("--train-steps", type=int, default=PROTOCOL["steps"], help="train: AdamW steps per pair")
    ap.add_argument("--lr", type=float, default=PROTOCOL["lr"], help="train: AdamW learning rate")
    ap.add_argument("--warmup", type=int, default=PROTOCOL["warmup"], help="train: linear warmup steps")
    a = ap.parse_args()
    families, inits = a.families.split(","), a.inits.split(",")
    if a.what == "tablefix":
        cmd_table_fix()
        return
    if a.what == "others":
        if a.train_others:
            if a.set not in OTHER_SETS:
                sys.exit(f"others --train-others: --set must be one of {', '.join(sorted(OTHER_SETS))}, got {a.set}")
            cmd_others_trained(a.jobs, {**PROTOCOL, "steps": a.train_steps, "lr": a.lr, "warmup": a.warmup}, a.set, a.fixes,
                               a.steps if a.trial_wrong else 0)
        elif a.predict:
            if a.set not in OTHER_SETS:
                sys.exit(f"others --predict: --set must be one of {', '.join(sorted(OTHER_SETS))}, got {a.set}")
            cmd_others_predict(a.set)
        else:
            cmd_others()
        return
    if a.what == "train" or (a.what == "all" and not a.truth.exists()):
        protocol = {**PROTOCOL, "steps": a.train_steps, "lr": a.lr, "warmup": a.warmup}
        truth = cmd_train(families, inits, a.jobs, a.truth, protocol)
    else:
        if not a.truth.exists():
            sys.exit(f"no saved truth at {a.truth}: run `python benchmarks/verdicts.py train` first")
        truth = json.loads(a.truth.read_text())
        print(f"truth: {a.truth.name}, trained with {protocol_of(truth)}")
        truth["pairs"] = {k: v for k, v in truth["pairs"].items() if len(v.get("losses", [])) == len(SEEDS)}
        truth = add_labels(truth)
        truth["pairs"] = {k: v for k, v in truth["pairs"].items() if k.split("|")[0] in families and k.split("|")[1] in inits}
    if a.what == "train":
        for k, v in truth["pairs"].items():
            print(f"{k:28s} {v['label']:9s} progress {v['progress']:6.2f}  losses {v['losses']}")
        return
    if a.what == "features":
        cmd_features(truth)
        return
    if a.what == "trial":
        cmd_trial(truth, a.steps)
        return
    if a.what == "ablations":
        cmd_ablations(truth, a.jobs)
        return
    if a.what == "holdout":
        if a.set not in HOLDOUT_SETS:
            sys.exit(f"holdout: --set must be one of {', '.join(sorted(HOLDOUT_SETS))}, got {a.set}")
        cmd_holdout(truth, a.jobs, a.set, a.fixes)
        return
    if a.what == "replay":
        cmd_replay(truth, a.record, a.missing)
        return
    if a.what == "warned":
        cmd_warned(truth, a.jobs)
        return
    score = cmd_score(truth)
    if a.what in ("all", "fixes"):
        cmd_fixes(truth, score, a.jobs)


if __name__ == "__main__":
    main()
