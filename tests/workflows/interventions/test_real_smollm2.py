"""Causal check on real weights (docs/method.md §4): SmolLM2-135M's secondary sinks are made by the
block-2 MLP writing along the primary-sink direction.

Text: the first two bundled math prompts (572 tokens). Measured on this project's 2-core machine
(`python tests/workflows/interventions/measure_smollm2.py`, all 10 secondary sinks, all born at block 2):
  project-out at the birth block removed 10/10 (share 1.00; lifetime 6.8 -> 0, m.u -> ~1e-5);
  zero removed 7/10 (positions 6, 25, 154 stay secondary, lifetime 5-6, lower score);
  this test edits the 4 strongest (positions 6, 25, 39, 154): 4/4 removed.
  induce at block 2, token 50 (' time', not a sink): score over layers >= 2 for
  ALPHA = 0 (clean) / 100 / 200 / 400 is 0.00089 / 0.0039 / 0.0074 / 0.0098, lifetime
  0 / 0 / 7 / 7 (secondary from ALPHA = 200), primary-like at ALPHA = 800 (lifetime 23).
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


def test_project_out_at_birth_removes_most_secondary_sinks(auto_po):
    assert auto_po.clean.prompts[0].n_tokens >= 550
    s = auto_po.summary()["modes"]["project-out"]
    t = auto_po.table
    assert s["n_sinks"] == MAX_SINKS  # the text has 10
    assert t["position"].tolist() == [6, 25, 39, 154]
    assert set(t["layer"]) <= {1, 2}  # born at blocks 1-2 (docs/method.md, SmolLM2)
    # measured: 4/4 removed (10/10 over all sinks); required: at least 3 of 4
    assert s["share_removed"] >= 0.75, t[["position", "token", "kind_after", "lifetime_after"]]
    assert s["mean_lifetime_after"] < 0.5 * s["mean_lifetime_before"]
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
