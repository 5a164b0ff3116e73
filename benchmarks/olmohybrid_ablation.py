"""Others set 59's OLMo-Hybrid at Glorot (broken, progress 0.13, not flagged), re-trained with one
group of parameters kept at the library's init (or only one group at Glorot) per variant, by
verdicts.py's recipe and seeds, to find what breaks it (stop 60; numbers in RESULTS.md).

    python benchmarks/olmohybrid_ablation.py   # about 10 minutes on 2 cores
"""
import json
import multiprocessing as mp
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

# each variant: the parameters (by name) kept at the library's init, the rest at Glorot (_redraw)
GROUPS = {
    "keep embeddings+head": lambda n: n.endswith("embed_tokens.weight") or n == "lm_head.weight",
    "keep linear_attn": lambda n: ".linear_attn." in n,
    "keep conv1d": lambda n: n.endswith("conv1d.weight"),
    "keep a_proj+b_proj": lambda n: n.endswith(("a_proj.weight", "b_proj.weight")),
    "xavier on linear_attn only": lambda n: ".linear_attn." not in n,
    "keep mlp": lambda n: ".mlp." in n,
}


def build(variant: str, seed: int) -> torch.nn.Module:
    """The set's model as its pair is built (seed, then Glorot from verdicts' fixed generator), with
    ``variant``'s group put back at the library's init."""
    import verdicts as v

    return v._redraw_where(v._other_model("olmohybrid-w256", "default", seed), "xavier", GROUPS[variant], False)


def job(a: tuple[str, int]) -> tuple[str, int, float]:
    torch.set_num_threads(1)
    import verdicts as v

    variant, seed = a
    return variant, seed, v.run_training(v.OTHER_TASKS["olmohybrid-w256"], "ablation", seed, v.PROTOCOL, model=build(variant, seed))


if __name__ == "__main__":
    import verdicts as v

    todo = [(g, s) for g in GROUPS for s in v.SEEDS]
    out = {}
    with mp.get_context("spawn").Pool(2) as pool:
        for variant, seed, loss in pool.imap_unordered(job, todo):
            out.setdefault(variant, {})[seed] = loss
            print(variant, seed, loss, flush=True)
    saved = json.loads(v.OTHER_SETS["59"][0].read_text())["losses"]
    c = v.chance(v.OTHER_TASKS["olmohybrid-w256"])
    best = min(sum(by.values()) / len(by) for k, by in saved.items() if k.startswith("olmohybrid-w256|"))
    for g, by in out.items():
        m = sum(by.values()) / len(by)
        print(f"{g:30s} loss {m:.3f} progress {(c - m) / (c - best):.2f}")
