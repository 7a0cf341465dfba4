"""reproduce.rules: every verdict of every claim reachable from hand-made numbers."""

from __future__ import annotations

import pytest

from sinkscope.workflows.reproduce import (
    RULES,
    VERDICTS,
    discrete_levels,
    verdict_existence,
    verdict_formation,
    verdict_levels,
    verdict_norm_law,
    verdict_weakening,
    verdicts,
)
from sinkscope.workflows.reproduce.rules import verdict
from tests.workflows.reproduce.numbers import causal, existence, formation, levels, model, norm_law, weakening


def test_existence_verdicts():
    assert verdict_existence(existence())["verdict"] == "reproduced"
    early = verdict_existence(existence(share_middle=0.0, share_early=1.0, rel_birth={"median": 0.07}))
    assert early["verdict"] == "partly" and "0% born in middle layers" in early["reason"]
    assert verdict_existence(existence(n_secondary=3))["verdict"] == "partly"
    assert verdict_existence(existence(score_ratio=1.3))["verdict"] == "partly"
    none = verdict_existence(existence(n_secondary=0))
    assert none["verdict"] == "not reproduced" and "2000 tokens" in none["reason"]
    assert verdict_existence(None)["verdict"] == "not testable here"
    assert verdict_existence(existence(n_tokens=0))["verdict"] == "not testable here"


def test_formation_verdicts():
    assert verdict_formation(formation())["verdict"] == "reproduced"
    # observational only: the causal check failed, or was not run
    assert verdict_formation(formation(causal=causal(n_removed=1, share_removed=1 / 9)))["verdict"] == "partly"
    no_c = verdict_formation(formation(causal=None))
    assert no_c["verdict"] == "partly" and "no causal check" in no_c["reason"]
    # causal only
    assert verdict_formation(formation(median_cos=0.1, share_abs_cos_09=0.1))["verdict"] == "partly"
    both_fail = formation(median_cos=0.1, share_abs_cos_09=0.1, causal=causal(n_removed=0, share_removed=0.0))
    assert verdict_formation(both_fail)["verdict"] == "not reproduced"
    assert verdict_formation(formation(median_mlp_share=0.2, causal=None))["verdict"] == "not reproduced"
    assert verdict_formation(formation(n=0))["verdict"] == "not testable here"
    # promotions and strengthened sinks are no removals (docs/method.md §4 "Outcomes")
    promo = causal(n_removed=2, share_removed=2 / 9,
                   outcomes={"removed": 2, "weakened": 1, "unchanged": 0, "strengthened": 6, "promoted": 4})
    v = verdict_formation(formation(causal=promo))
    assert v["verdict"] == "partly"
    assert "removes 2/9 (22%); weakens 1, leaves 0, strengthens 6 (promotes 4)" in v["reason"]


def test_norm_law_verdicts():
    r = verdict_norm_law(norm_law())
    assert r["verdict"] == "reproduced" and "n = 20" in r["reason"]
    assert verdict_norm_law(norm_law(spearman_lifetime_ci=[-0.2, 0.7]))["verdict"] == "partly"
    const = verdict_norm_law(norm_law(spearman_lifetime=None, spearman_lifetime_ci=[None, None],
                                      reason_lifetime="lifetime is constant over the 20 points"))
    assert const["verdict"] == "partly" and "constant" in const["reason"]
    assert verdict_norm_law(norm_law(spearman_score_ci=[-0.1, 0.9], spearman_lifetime_ci=[-0.5, 0.5]))["verdict"] == "not reproduced"
    few = verdict_norm_law(norm_law(n_distinct_lifetimes=2))
    assert few["verdict"] == "partly" and "only 2 distinct lifetimes" in few["reason"]
    assert verdict_norm_law(norm_law(n=9))["verdict"] == "not testable here"
    assert verdict_norm_law(norm_law(spearman_score=None, reason_score="mlp_norm is constant"))["verdict"] == "not testable here"


def test_weakening_verdicts():
    assert verdict_weakening(weakening())["verdict"] == "reproduced"
    assert verdict_weakening(weakening(coincides_with_births=0.1))["verdict"] == "partly"
    assert verdict_weakening(weakening(coincides_with_births=None))["verdict"] == "partly"
    mild = verdict_weakening(weakening(dip_ratio=0.6, weakened_layers=[], coincides_with_births=0.0))
    assert mild["verdict"] == "partly" and "mild" in mild["reason"]
    assert verdict_weakening(weakening(dip_ratio=0.95, weakened_layers=[], coincides_with_births=0.0))["verdict"] == "not reproduced"
    nt = verdict_weakening(weakening(dip_ratio=None, reason="no middle layer after the plateau"))
    assert nt["verdict"] == "not testable here" and "no middle layer" in nt["reason"]


def test_levels_verdicts():
    assert verdict_levels(levels())["verdict"] == "reproduced"
    one = levels(n_levels=1, levels=[{"birth": [2, 2], "lifetime": [6, 8], "count": 20, "share": 1.0, "top_tokens": []}])
    r = verdict_levels(one)
    assert r["verdict"] == "partly" and "single level" in r["reason"]
    # one cluster smeared over most of the network is not discrete
    smear = levels(n_levels=1, levels=[{"birth": [1, 20], "lifetime": [5, 20], "count": 20, "share": 1.0, "top_tokens": []}])
    assert verdict_levels(smear)["verdict"] == "not reproduced"
    assert verdict_levels(levels(n_levels=0, levels=[]))["verdict"] == "not reproduced"
    assert verdict_levels(levels(n_sinks=4))["verdict"] == "not testable here"


def test_discrete_levels_span_is_a_share_of_the_layers():
    # L = 24, levels_max_span 0.25: a range of 6 layers is discrete, 7 is not
    six = {"birth": [0, 5], "lifetime": [5, 5], "share": 0.5}
    seven = {"birth": [0, 6], "lifetime": [5, 5], "share": 0.5}
    assert discrete_levels({"n_layers": 24, "levels": [six, seven]}) == [six]
    assert discrete_levels({"n_layers": 24, "levels": [six, seven]}, dict(RULES, levels_max_span=0.3)) == [six, seven]


def test_rules_are_parameters_of_the_verdicts():
    # the same numbers judged with a stricter rule give another verdict
    assert verdict_weakening(weakening(dip_ratio=0.2), dict(RULES, weak_ratio=0.1))["verdict"] == "partly"
    assert verdict_existence(existence(n_secondary=20), dict(RULES, existence_min_n=50))["verdict"] == "partly"


def test_not_run_model_is_not_testable_everywhere():
    vs = verdicts({"name": "gemma3-270m", "status": "not run", "reason": "not run in quick mode"})
    assert set(vs) == {1, 2, 3, 4, 5}
    assert all(v["verdict"] == "not testable here" and v["reason"] == "not run in quick mode" for v in vs.values())
    assert all(v["verdict"] in VERDICTS for v in verdicts(model()).values())


def test_verdict_rejects_an_unknown_verdict():
    assert verdict("partly", "x") == {"verdict": "partly", "reason": "x"}
    with pytest.raises(AssertionError):
        verdict("maybe", "x")  # type: ignore[arg-type]
