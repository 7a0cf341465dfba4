"""Issue 13 point 8: results print as a one-line summary, not as their arrays (random-init model)."""

from __future__ import annotations

import re

import pytest

import sinkscope
from sinkscope.workflows.interventions import intervene
from tests.capture.archs import ToyTokenizer, build

TEXT = "abcdefghijklmnopqrstuvwxyz" * 3


@pytest.fixture(scope="module")
def lm():
    return sinkscope.LoadedModel.from_pair(build("llama"), ToyTokenizer(), ref="toy-llama")


def test_scan_result_repr_is_a_summary(lm):
    res = sinkscope.scan(lm, [TEXT, TEXT[:40]])
    text = repr(res)
    assert len(text) < 300 and "\n" not in text and "array" not in text
    assert text.startswith("ScanResult(model='toy-llama', mode='general', prompts=2, tokens=")
    n_tokens = sum(p.n_tokens for p in res.prompts)
    assert f"tokens={n_tokens}, layers=3" in text
    kinds = res.sinks.loc[~res.sinks["is_primary_position"], "kind"]
    assert f"secondary={int((kinds == 'secondary').sum())}" in text and re.search(r"unclassified=\d+\)$", text)
    assert str(res) == text
    assert repr(res.findings).startswith("Findings(mode='general', prompts=2, layers=3, records=")
    assert len(repr(res.findings)) < 200


def test_intervention_result_repr_is_a_summary(lm):
    r = intervene(lm, TEXT, layer=1, position=5, mode="project-out")
    text = repr(r)
    assert len(text) < 400 and "array" not in text
    assert text.startswith("InterventionResult(mode='project-out', layer=1, positions=[5], model='toy-llama'")


def test_sweep_report_repr_is_a_summary(tmp_path):
    from sinkscope.workflows.sweep.units import SweepReport

    rep = SweepReport(out=tmp_path, executor="local", models=["a"], n_prompts=2, n_units=2, n_ran=1,
                      skipped=["x" * 10_000], bad_lines=["p.jsonl:3"] * 1000)
    text = repr(rep)
    assert len(text) < 300 and "xxxx" not in text and "units=2, ran=1" in text
