"""A tiny random-init model with a PLANTED secondary sink (shared by the auto / dose tests).

Random-init models have no secondary sinks, so one is built the way the paper says real ones
form (docs/method.md §4): a permanent forward hook on block 1's MLP adds 20 * unit(h_p^1) at every
occurrence of one token. The hook belongs to the model, so both the clean and the intervened
passes see it, and the intervention edits the MLP output the model (with its planted feature)
produced.
"""

from __future__ import annotations

import torch

from sinkscope.analysis import DetectConfig
from sinkscope.capture.engine import find_blocks, mlp_modules
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build

TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps in the sun all day"
BIRTH = 1
SINK_CHAR = "q"
# Small model, short text: every layer counts, every key is classifiable.
CFG = DetectConfig(tau=0.9, k=1.0, min_lifetime=1, min_queries=1)


def planted_model():
    """(LoadedModel, position of the planted sink, hook handle)."""
    model = build("llama")
    tok = ToyTokenizer()
    lm = LoadedModel.from_pair(model, tok, ref="random-llama-planted")
    ids = torch.tensor(tok(TEXT)["input_ids"])
    store = {}
    h = find_blocks(lm)[BIRTH].register_forward_hook(
        lambda mod, a, o: store.__setitem__("h", (o[0] if isinstance(o, tuple) else o)[0, 0].detach().clone())
    )
    with torch.no_grad():
        model(ids[None])
    h.remove()
    u = store["h"] / store["h"].norm()
    target = ids == tok(SINK_CHAR)["input_ids"][0]

    def plant(mod, args, out):
        out = out.clone()
        if out.shape[1] == target.shape[0]:
            out[:, target] = out[:, target] + 20.0 * u
        return out

    handle = mlp_modules(lm)[BIRTH].register_forward_hook(plant)
    return lm, int(torch.nonzero(target)[0, 0]), handle


def outcome_table(mode: str = "project-out"):
    """(AUTO_COLUMNS table, expected {position: (outcome, promoted)}): one row per planted outcome of
    `tests.analysis.synth.edit_pair` (a clean and an "edited" synthetic trace, docs/method.md §4
    "Outcomes"), the comparison made by `interventions.effects` exactly as after a real edit."""
    import numpy as np
    import pandas as pd

    from sinkscope.analysis import AnalysisConfig, detect
    from sinkscope.workflows.interventions import AUTO_COLUMNS, effects
    from tests.analysis.synth import edit_pair

    clean, edited, b, expect = edit_pair()
    cfg = AnalysisConfig()
    t = effects(clean, detect(clean, cfg), edited, detect(edited, cfg), sorted(expect), b, cfg.outcome_margin)
    n = len(t)
    t.insert(0, "mode", mode)
    t.insert(0, "prompt", 0)
    t["n_secondary_after"] = 0
    t["delta_nll_mean"] = np.linspace(0.0, 0.7, n)
    t["delta_nll_max"] = np.linspace(1.0, 1.7, n)
    t["nll_tokens"] = 10
    return pd.DataFrame(t, columns=list(AUTO_COLUMNS)), expect
