"""reproduce.causal: which sinks the causal check edits, and the prompt subset it runs on (the
edit itself runs in tests/workflows/reproduce/test_run.py on SmolLM2)."""

from __future__ import annotations

from sinkscope.workflows.reproduce import Plan, distinct_sinks, pick_causal_targets
from sinkscope.workflows.reproduce.causal import subset_scan
from tests.workflows.reproduce.numbers import two_prompt_scan


def test_causal_targets_are_distinct_and_capped():
    d = distinct_sinks(two_prompt_scan(change_at=100))  # every sink of prompt 1 repeats prompt 0's
    picks = pick_causal_targets(d, Plan(1, 0, intervene_prompts=2, max_sinks=3))
    # prompt 0: its 3 strongest (scores 0.26, 0.22, 0.18); prompt 1: the other two, not the repeats
    assert [(i, t) for i, t, _ in picks] == [(0, 70), (0, 64), (0, 35), (1, 50), (1, 20)]
    assert [b for _, _, b in picks] == [0, 7, 8, 10, 6]
    assert len(pick_causal_targets(d, Plan(1, 0, intervene_prompts=1, max_sinks=2))) == 2


def test_subset_scan_keeps_the_chosen_prompts_reanalysed():
    res = two_prompt_scan(change_at=30)
    sub = subset_scan(res, [1])
    assert sub.findings.n_prompts == 1 and sub.prompts[0] is res.prompts[1]
    assert sub.manifest["prompts"] == [res.manifest["prompts"][1]]
    assert len(sub.findings.secondary) == 5 and set(sub.sinks["prompt"]) == {0}
    assert sub.config == res.config and res.findings.n_prompts == 2
