"""Outcome of an edit on a sink (docs/method.md §4 "Outcomes"), on planted traces."""

from __future__ import annotations

import numpy as np
import pytest

from sinkscope.analysis import (
    EDIT_OUTCOMES,
    AnalysisConfig,
    SinkState,
    detect,
    edit_outcome,
    outcome_counts,
    sink_state,
)
from sinkscope.analysis.config import ConfigError
from tests.analysis.synth import edit_pair

CFG = AnalysisConfig()


@pytest.fixture(scope="module")
def pair():
    clean, edited, b, expect = edit_pair()
    return detect(clean, CFG), detect(edited, CFG), b, expect


def test_planted_classes_are_what_the_outcomes_start_from(pair):
    before, after, b, _ = pair
    kinds = lambda det: dict(zip(det.records["position"], det.records["kind"]))  # noqa: E731
    kb, ka = kinds(before), kinds(after)
    assert all(kb[t] == "secondary" for t in (20, 30, 40, 50, 60, 70, 80, 100)) and 90 not in kb
    assert 20 not in ka and ka[30] == "noise" and ka[70] == "primary" and 80 not in ka and 100 not in ka
    assert ka[40] == ka[50] == ka[60] == "secondary"


def test_sink_state_reads_the_layers_from_b_on(pair):
    before, after, b, _ = pair
    s = sink_state(before, 40, b)
    assert s.kind == "secondary" and s.layers == 6 and s.is_sink
    assert s.ratio == pytest.approx(14.0, rel=1e-5)  # 0.14 / 0.01
    assert s.score == pytest.approx((6 * 0.14 + 12 * 0.01) / 18, rel=1e-5)
    gone = sink_state(after, 20, b)
    assert gone == SinkState("none", 0, gone.ratio, gone.score, False) and np.isnan(gone.ratio)
    weak = sink_state(after, 30, b)  # sink-like, but the attention is 1.2 x the baseline < k = 3
    assert weak.layers == 6 and weak.ratio == pytest.approx(1.2, rel=1e-4) and not weak.is_sink
    # from a later block on, the first layers of S are not counted
    assert sink_state(before, 40, b + 2).layers == 4
    # paper mode has no k rule: 30 stays a sink there
    paper = detect(edit_pair()[1], AnalysisConfig(mode="paper"))
    assert sink_state(paper, 30, b).is_sink


def test_each_planted_outcome(pair):
    before, after, b, expect = pair
    for t, (outcome, promoted) in expect.items():
        o = edit_outcome(sink_state(before, t, b), sink_state(after, t, b), CFG.outcome_margin)
        assert (o.outcome, o.promoted) == (outcome, promoted), t
    # the promotion's score went down by more than the margin: still strengthened, not weakened
    o70 = edit_outcome(sink_state(before, 70, b), sink_state(after, 70, b))
    assert o70.score_change < -CFG.outcome_margin
    # 80's score doubled while its sink-likeness went: never "removed"
    o80 = edit_outcome(sink_state(before, 80, b), sink_state(after, 80, b))
    assert o80.score_change == pytest.approx(6 * 0.10 / (6 * 0.10 + 12 * 0.01), rel=1e-4)  # +83%
    # 100 is no longer sink-like and its score rose by less than the margin: "unchanged", never
    # "removed" (the rule before issue 27's follow-up called it removed)
    s0, s1 = sink_state(before, 100, b), sink_state(after, 100, b)
    assert s0.is_sink and not s1.is_sink and s1.layers == 0
    o100 = edit_outcome(s0, s1, CFG.outcome_margin)
    assert o100.score_change == pytest.approx(6 * 0.006 / (6 * 0.10 + 12 * 0.01), rel=1e-4)  # +5%
    assert 0 < o100.score_change < CFG.outcome_margin and o100.outcome == "unchanged"


def test_margin_decides_weakened_against_unchanged(pair):
    before, after, b, _ = pair
    s0, s1 = sink_state(before, 50, b), sink_state(after, 50, b)  # +2%
    assert edit_outcome(s0, s1, 0.1).outcome == "unchanged"
    assert edit_outcome(s0, s1, 0.0).outcome == "strengthened"
    s0, s1 = sink_state(before, 40, b), sink_state(after, 40, b)  # -44%
    assert edit_outcome(s0, s1, 0.5).outcome == "unchanged" and edit_outcome(s0, s1, 0.4).outcome == "weakened"


def test_removed_never_has_a_promotion_or_a_higher_score():
    sink = SinkState("secondary", 6, 10.0, 0.05, True)
    gone = SinkState("none", 0, float("nan"), 0.04, False)
    assert edit_outcome(sink, gone).outcome == "removed"
    # gone with the same score: removed; gone with any higher score: never removed
    assert edit_outcome(sink, SinkState("none", 0, float("nan"), 0.05, False)).outcome == "removed"
    assert edit_outcome(sink, SinkState("none", 0, float("nan"), 0.0501, False)).outcome == "unchanged"
    assert edit_outcome(sink, SinkState("noise", 6, 1.2, 0.053, False)).outcome == "unchanged"
    assert edit_outcome(sink, SinkState("none", 0, float("nan"), 0.08, False)).outcome == "strengthened"
    assert edit_outcome(sink, SinkState("primary", 20, 1.0, 0.01, False)).outcome == "strengthened"
    # a token that was no sink is never removed
    assert edit_outcome(gone, gone).outcome == "unchanged"
    assert edit_outcome(SinkState("none", 0, float("nan"), 0.0, False), SinkState("none", 0, float("nan"), 0.0, False)).outcome == "unchanged"


def test_outcome_counts():
    c = outcome_counts(["removed", "removed", "weakened", "strengthened"], [False, False, False, True])
    assert c == {"removed": 2, "weakened": 1, "unchanged": 0, "strengthened": 1, "promoted": 1}
    assert tuple(c)[:4] == EDIT_OUTCOMES


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_outcome_margin_is_validated(bad):
    with pytest.raises(ConfigError, match="outcome_margin"):
        AnalysisConfig(outcome_margin=bad)
