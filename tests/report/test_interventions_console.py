"""The `sinkscope intervene` tables (report/interventions_console.py) on real results from a tiny
model with a planted secondary sink (tests/workflows/interventions/planted.py)."""

from __future__ import annotations

import pytest
from rich.console import Console

from sinkscope.report.interventions_console import print_auto, print_dose, print_intervention
from sinkscope.workflows.interventions import auto, dose_response, intervene
from tests.workflows.interventions.planted import BIRTH, CFG, TEXT, planted_model


@pytest.fixture(scope="module")
def planted():
    lm, pos, handle = planted_model()
    yield lm, pos
    handle.remove()


def _text(fn, res) -> str:
    con = Console(record=True, width=220)
    fn(res, con)
    return con.export_text()


def test_intervention_table_and_summary_line(planted):
    lm, pos = planted
    res = intervene(lm, TEXT, layer=BIRTH, position=pos, mode="project-out", config=CFG)
    out = _text(print_intervention, res)
    assert f"project-out at block {BIRTH} (primary p={res.primary}" in out
    assert "secondary -> none" in out  # the planted sink is removed
    row = res.targets.iloc[0]
    assert row["outcome"] == "removed" and f"{row['score_change']:+.0%}" in out
    assert "outcomes of the edited tokens (docs/method.md §4): removed 1, weakened 0, unchanged 0, strengthened 0 (promoted 0)" in out
    life = int(res.targets["lifetime_before"].iloc[0])
    assert f"{life} -> 0" in out
    s = res.intervention_summary()
    assert f"secondary sinks in the text: {s['n_secondary_before']} -> {s['n_secondary_after']}" in out
    assert f"Delta next-token NLL on the {res.nll.n} following tokens" in out
    assert "no edited token is a sink" not in out
    # editing an ordinary token says so instead of printing a silent no-op
    miss = intervene(lm, TEXT, layer=BIRTH, position=pos + 6, mode="project-out", config=CFG)
    out = _text(print_intervention, miss)
    assert "none -> none" in out and "no edited token is a sink in the clean run (class none)" in out


def test_auto_and_dose_tables(planted):
    lm, pos = planted
    a = auto(lm, TEXT, config=CFG, modes=["zero"])
    out = _text(print_auto, a)
    assert "every secondary sink, edited at its birth block" in out and "summary over 1 secondary sink(s) in 1 prompt(s)" in out
    assert "1/1" in out and "100%" in out
    assert "│ zero │ removed │" in out  # the row's outcome
    header = next(x for x in out.splitlines() if x.startswith("┃ mode"))  # the summary table's
    cols = [c.strip() for c in header.split("┃")[1:-1]]
    assert cols[:7] == ["mode", "removed", "share", "weakened", "unchanged", "strengthened", "promoted"]
    none = auto(lm, TEXT[:40], config=CFG)
    assert "no secondary sinks found" in _text(print_auto, none)
    d = dose_response(lm, TEXT, layer=BIRTH, position=pos + 6, mode="induce", grid=[0, 80], config=CFG)
    out = _text(print_dose, d)
    assert f"dose-response: induce at block {BIRTH}, token {pos + 6}" in out and "clean: class none" in out
    assert d.table["outcome"].iloc[0] == "unchanged"  # ALPHA = 0 is the clean run
    assert all(o in out for o in d.table["outcome"])
    assert "score non-decreasing in ALPHA: " + ("yes" if d.monotone("score") else "no") in out
