"""analysis/gates.py: output gates (docs/method.md §12) and learned sink mass (§13) per layer and head,
checked against hand computations on captures of random-init Qwen3-Next (gated attention) and gpt-oss
(learned sink logits), and on planted arrays."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sinkscope.analysis import analyze
from sinkscope.analysis.gates import gate_summary, gate_table, learned_sink_table, token_groups
from sinkscope.capture.engine import capture
from sinkscope.capture.trace import CaptureSettings
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build, random_ids
from tests.capture.test_hybrid import build_hybrid

LENGTHS = [23, 40, 31]


def _trace(model):
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random")
    ids = [random_ids(n, seed=i) for i, n in enumerate(LENGTHS)]
    return capture(lm, [f"p{i}" for i in range(len(ids))], ids, [["t"] * len(x) for x in ids],
                   CaptureSettings(batch_size=len(ids), query_block=7))


@pytest.fixture(scope="module")
def qwen3_next():
    trace = _trace(build_hybrid("qwen3_next"))
    return trace, analyze(trace.prompts)


def test_gate_means_by_hand(qwen3_next):
    """gate_G^{l,h} = sum over (prompt, t) in G of g_t^{l,h} / |G|, G = primary, secondary sinks, ordinary
    tokens (no record of any kind), pooled over prompts: computed by hand from the records."""
    trace, f = qwen3_next
    tab = f.gates
    assert f.no_attention_layers == [0, 2]  # the linear-attention blocks stay "no attention probabilities"
    assert f.summary().no_attention_layers == [0, 2]
    assert sorted(tab["layer"].unique()) == [1]  # the one gated (softmax) layer
    H = trace.prompts[0].output_gate.shape[1]
    for head in range(H):
        vals = {"primary": [], "secondary": [], "ordinary": []}
        for pt, det in zip(trace.prompts, f.detections):
            sec = set(det.records.loc[det.records["kind"] == "secondary", "position"]) - {det.p}
            rec = set(det.records["position"])
            for t in range(pt.n_tokens):
                g = float(pt.output_gate[1, head, t])
                group = "primary" if t == det.p else "secondary" if t in sec else None if t in rec else "ordinary"
                if group:
                    vals[group].append(g)
        row = tab[(tab["layer"] == 1) & (tab["head"] == head)].iloc[0]
        assert row["gate_primary"] == pytest.approx(np.mean(vals["primary"]), abs=1e-6)
        assert row["gate_ordinary"] == pytest.approx(np.mean(vals["ordinary"]), abs=1e-6)
        assert row["n_primary"] == len(vals["primary"]) == len(trace.prompts)
        if vals["secondary"]:
            assert row["gate_secondary"] == pytest.approx(np.mean(vals["secondary"]), abs=1e-6)
        else:
            assert np.isnan(row["gate_secondary"])
    s = f.summary()
    assert s.gate_primary == pytest.approx(tab["gate_primary"].mean())
    assert s.learned_sink_sink_mass is None and f.learned_sink.empty
    assert f.to_dict()["gates"][0]["layer"] == 1


def test_learned_sink_mass_and_primary_score_by_hand():
    """sink_mass^{l,h} = mean over every real query of every prompt of 1 - sum_j A_ij (the captured
    per-query mass), primary_score^{l,h} = mean over prompts of s_p^{l,h} (§1, same softmax rows)."""
    trace = _trace(build("gpt_oss"))
    f = analyze(trace.prompts)
    tab = f.learned_sink
    L, H = trace.prompts[0].scores.shape[:2]
    assert len(tab) == L * H
    for _, row in tab.iterrows():
        layer, head = int(row["layer"]), int(row["head"])
        masses = np.concatenate([pt.sink_logit_mass[layer, head] for pt in trace.prompts])
        assert row["sink_mass"] == pytest.approx(masses.mean(), abs=1e-6)
        assert row["n_queries"] == sum(LENGTHS)
        prim = [pt.scores[layer, head, det.p] for pt, det in zip(trace.prompts, f.detections)]
        assert row["primary_score"] == pytest.approx(np.mean(prim), abs=1e-6)
    assert f.gates.empty and f.summary().gate_primary is None
    assert f.summary().learned_sink_sink_mass == pytest.approx(tab["sink_mass"].mean())


def test_groups_partition_and_planted_gates(qwen3_next):
    """The three groups never overlap; planted gates (1 at the primary, 0.5 at secondaries, 0 elsewhere)
    come back exactly; a model without gates gives the empty table."""
    trace, f = qwen3_next
    prompts = [copy.copy(pt) for pt in trace.prompts]  # the fixture's arrays stay as captured
    for pt, det in zip(prompts, f.detections):
        prim, sec, ordinary = token_groups(det)
        assert not (prim & sec).any() and not (prim & ordinary).any() and not (sec & ordinary).any()
        assert prim.sum() == 1 and prim[det.p]
        planted = np.zeros_like(pt.output_gate)
        planted[:, :, prim] = 1.0
        planted[:, :, sec] = 0.5
        planted[[0, 2]] = np.nan
        pt.output_gate = planted
    tab = gate_table(prompts, f.detections)
    assert (tab["gate_primary"] == 1.0).all() and (tab["gate_ordinary"] == 0.0).all()
    assert tab["gate_secondary"].isna().all() or (tab["gate_secondary"] == 0.5).all()
    assert gate_summary(tab)["primary"] == 1.0
    for pt in prompts:
        pt.output_gate = None
    assert gate_table(prompts, f.detections).empty
    assert learned_sink_table(prompts, f.detections).empty
