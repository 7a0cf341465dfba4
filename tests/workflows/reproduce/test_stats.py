"""reproduce.stats: distinct sinks (a shared prefix counted once) and the claim summaries."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from sinkscope.core.fileio import jsonable
from sinkscope.workflows.reproduce import distinct_sinks, prefix_keys, summarize_model
from sinkscope.workflows.reproduce.stats import quantiles, summarize_causal
from tests.workflows.interventions.planted import outcome_table
from tests.workflows.reproduce.numbers import two_prompt_scan


def test_prefix_keys():
    a, b = prefix_keys([1, 2, 3, 4]), prefix_keys([1, 2, 9, 4])
    assert a[:2] == b[:2] and a[2] != b[2] and a[3] != b[3]  # same token after a different prefix differs


def test_quantiles():
    q = quantiles([4.0, 1.0, np.nan, 3.0, 2.0, np.inf])
    assert q == {"median": 2.5, "q1": 1.75, "q3": 3.25, "min": 1.0, "max": 4.0}
    assert quantiles([]) == quantiles([np.nan]) == {k: None for k in ("median", "q1", "q3", "min", "max")}


def test_distinct_sinks_counts_a_sink_in_a_shared_prefix_once():
    res = two_prompt_scan(change_at=30)
    assert len(res.findings.secondary) == 10
    d = distinct_sinks(res)
    sec = d.res.findings.secondary
    # the sink at position 20 lies in the shared prefix [0, 30): kept once (prompt 0)
    assert d.n_records == 10 and len(sec) == 9
    assert sorted(sec.loc[sec["position"] == 20, "prompt"]) == [0]
    assert d.shared_prefix == 30 and d.n_tokens_distinct == 128 + 98
    assert d.res.findings.norm_law.n == 9 and d.res.findings.levels.n_sinks == 9
    assert len(res.findings.secondary) == 10  # the input scan is left as it was
    e = summarize_model(d)["existence"]
    assert e["n_secondary"] == 9 and e["n_secondary_records"] == 10
    assert e["share_in_shared_prefix"] == pytest.approx(1 / 9)
    assert e["per_1k_tokens"] == pytest.approx(1000 * 9 / 226)
    assert e["birth_layers"] == [0, 10] and e["share_in_generated"] == 0.0
    # nothing shared: nothing dropped
    assert len(distinct_sinks(two_prompt_scan(change_at=0)).res.findings.secondary) == 10


def test_summarize_model_is_json_safe_and_matches_the_findings():
    d = distinct_sinks(two_prompt_scan(change_at=30))
    s = summarize_model(d, n_centred=4)
    assert set(s) == {"existence", "formation", "norm_law", "weakening", "levels"}
    assert json.loads(json.dumps(jsonable(s))) == jsonable(s)
    sec = d.res.findings.secondary
    assert s["formation"]["n"] == len(sec) and s["formation"]["causal"] is None
    assert s["formation"]["median_mlp_norm"] == pytest.approx(float(np.nanmedian(sec["mlp_norm"])))
    assert s["existence"]["n_secondary_centred"] == 4
    assert s["norm_law"]["n"] == 9 and s["levels"]["n_sinks"] == 9
    assert sum(x["count"] for x in s["levels"]["levels"]) <= 9
    assert s["weakening"]["n_layers"] == d.res.findings.n_layers


def test_summarize_causal_counts_the_outcomes_not_the_class_change():
    """Claim 2's causal numbers on one row per planted outcome (docs/method.md §4 "Outcomes"):
    'removed' is the outcome, never the promotion or the strengthened sinks that the old rule
    ("no longer classified secondary") counted."""
    table, expect = outcome_table()
    c = summarize_causal(SimpleNamespace(table=table))
    assert c["n_sinks"] == len(expect) == 9 and c["n_prompts"] == 1
    assert c["outcomes"] == {"removed": 2, "weakened": 1, "unchanged": 3, "strengthened": 3, "promoted": 1}
    assert c["n_removed"] == 2 and c["share_removed"] == pytest.approx(2 / 9)
    assert json.loads(json.dumps(jsonable(c))) == jsonable(c)
