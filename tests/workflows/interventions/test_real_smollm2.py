"""Causal check on real weights (docs/method.md §4): SmolLM2-135M's secondary sinks are made by the
block-2 MLP writing along the primary-sink direction.

Text: the first two bundled math prompts (572 tokens). Measured on this project's 2-core machine
(`python tests/workflows/interventions/measure_smollm2.py`, all 10 secondary sinks, all born at block 2),
outcomes of docs/method.md §4 "Outcomes":
  project-out at the birth block: removed 8/10, strengthened 2 (positions 6 and 25: no sink-like
  layer is left, the cosine to the primary drops below tau, but their mean score over layers >= 2
  rises, 0.060 -> 0.147 and 0.048 -> 0.094); lifetime 6.8 -> 0, m.u -> ~1e-5;
  zero: removed 5/10, weakened 5 (positions 6, 25, 154, 161, 530 keep 3-6 sink-like layers at a
  lower score);
  this test edits the 4 strongest (positions 6, 25, 39, 154): 2 removed, 2 strengthened.
  induce at block 2, token 50 (' time', not a sink): score over layers >= 2 for
  ALPHA = 0 (clean) / 100 / 200 / 400 is 0.00089 / 0.0039 / 0.0074 / 0.0098, lifetime
  0 / 0 / 7 / 7 (secondary from ALPHA = 200), primary-like at ALPHA = 800 (lifetime 23).
Promotion (the lighthouse text of issue 27): project-out of the primary direction at block 1 turns
the secondary sink ' the' (position 4) primary-like, lifetime 8 -> 24, mean score over layers >= 1
0.071 -> 0.365: outcome strengthened, promoted, not removed.
The bounds below sit well under those numbers. 8 forward passes of 572 tokens in all (the clean
one is shared; two edited copies per batch): about a minute on 2 idle cores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sinkscope.capture.inputs import bundled_path
from sinkscope.workflows.interventions import auto, dose_response

pytestmark = pytest.mark.realmodel

MAX_SINKS = 4  # the strongest ones: keeps the module to about a minute on 2 cores


@pytest.fixture(scope="module")
def text():
    rows = [json.loads(x) for x in bundled_path("prompts.jsonl").read_text().splitlines() if x.strip()]
    return "\n\n".join([r["text"] for r in rows if r["category"] == "math"][:2])


@pytest.fixture(scope="module")
def auto_po(smollm2, text):
    return auto(smollm2, text, modes=("project-out",), max_sinks=MAX_SINKS, batch_size=2)


def test_project_out_at_birth_removes_the_sink_likeness_of_every_sink(auto_po):
    assert auto_po.clean.prompts[0].n_tokens >= 550
    s = auto_po.summary()["modes"]["project-out"]
    t = auto_po.table.set_index("position")
    assert s["n_sinks"] == MAX_SINKS  # the text has 10
    assert t.index.tolist() == [6, 25, 39, 154]
    assert set(t["layer"]) <= {1, 2}  # born at blocks 1-2 (docs/method.md, SmolLM2)
    cols = ["token", "outcome", "kind_after", "sink_layers_after", "score_before", "score_after"]
    # no sink-like layer is left for any of them (measured: lifetime 7 -> 0 for all four) ...
    assert (t["sink_layers_after"] == 0).all() and s["mean_lifetime_after"] < 0.5 * s["mean_lifetime_before"]
    # ... but the two strongest receive MORE attention from block 2 on (measured +147%, +94%):
    # strengthened, not removed (docs/method.md §4 "Outcomes"); the weaker two are removed
    assert t.loc[[6, 25], "outcome"].eq("strengthened").all(), t[cols]
    assert (t.loc[[6, 25], "score_change"] > 0.3).all(), t[cols]
    assert t.loc[[39, 154], "outcome"].eq("removed").all(), t[cols]
    assert s["outcomes"] == {"removed": 2, "weakened": 0, "unchanged": 0, "strengthened": 2, "promoted": 0}
    assert s["n_removed"] == 2 and s["share_removed"] == 0.5
    # the MLP wrote the sink along the primary direction, and nothing is left of it after the edit
    assert (t["mlp_proj_before"] > 0.95 * t["mlp_norm_before"]).all()
    assert (t["mlp_proj_after"].abs() < 1e-3 * t["mlp_proj_before"]).all()
    # the losses of the tokens before each sink are untouched; after it they move a little
    assert all(r.nll.max_before == 0.0 for r in auto_po.runs)
    assert np.isfinite(t["delta_nll_mean"]).all() and (t["nll_tokens"] > 0).all()


def test_induce_score_grows_with_alpha(smollm2, auto_po):
    # ALPHA = 0 is the clean run (bit-identical, tested on the toy model), so it is not re-run
    d = dose_response(smollm2, layer=2, position=50, mode="induce", grid=[100, 200, 400], clean=auto_po.clean, batch_size=2)
    assert d.token == " time" and d.clean_kind == "none" and d.clean_lifetime == 0
    scores = [d.clean_score, *d.table["score"]]
    lifetimes = [d.clean_lifetime, *d.table["lifetime"]]
    assert np.all(np.diff(scores) >= 0), scores  # monotone non-decreasing in ALPHA (measured: increasing)
    assert np.all(np.diff(lifetimes) >= 0), lifetimes
    assert scores[-1] > 3 * d.clean_score
    last = d.table.iloc[-1]
    assert last["lifetime"] >= 5 and last["kind"] == "secondary"  # an induced secondary sink


LIGHTHOUSE = (
    "The lighthouse keeper climbed the stairs, and the ships answered the beam with a horn. The keeper "
    "wrote the weather in the book, and the storm came from the north."
)


@pytest.mark.slow
def test_a_promotion_is_strengthened_not_removed(smollm2):
    """Issue 27's text: project-out at block 1 makes the secondary sink ' the' (position 4)
    primary-like. Measured: lifetime 8 -> 24, mean score over layers >= 1 0.071 -> 0.365; zero at
    the same block removes it (score 0.071 -> 0.019)."""
    a = auto(smollm2, LIGHTHOUSE, modes=("project-out", "zero"))
    t = a.table.set_index("mode")
    assert a.table["position"].tolist() == [4, 4] and (a.table["token"] == " the").all()
    po, z = t.loc["project-out"], t.loc["zero"]
    assert po["layer"] == 1 and po["kind_before"] == "secondary" and po["kind_after"] == "primary"
    assert po["outcome"] == "strengthened" and bool(po["promoted"]) and not bool(po["removed"])
    assert po["lifetime_after"] >= 2 * po["lifetime_before"] and po["score_after"] > 2 * po["score_before"]
    assert z["outcome"] == "removed" and not bool(z["promoted"]) and z["score_after"] < 0.5 * z["score_before"]
    s = a.summary()["modes"]
    assert s["project-out"]["n_removed"] == 0 and s["project-out"]["share_removed"] == 0.0
    assert s["project-out"]["outcomes"]["strengthened"] == s["project-out"]["outcomes"]["promoted"] == 1
    assert s["zero"]["n_removed"] == 1
