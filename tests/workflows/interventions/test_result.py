"""`InterventionResult` IS a `ScanResult` of the intervened run (subclass), with the clean run, the
per-target table and the NLL comparison attached; its folder round-trips through `load`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sinkscope.capture.trace import ARRAY_FIELDS
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.interventions import InterventionResult, InterventionSpec, NllDelta, intervene
from sinkscope.workflows.scan import ScanResult
from tests.capture.archs import ToyTokenizer, build
from tests.workflows.interventions.planted import outcome_table

TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps in the sun all day"
LAYER = 1


@pytest.fixture(scope="module")
def lm():
    return LoadedModel.from_pair(build("llama"), ToyTokenizer(), ref="random-llama")


@pytest.fixture(scope="module")
def res(lm):
    return intervene(lm, TEXT, layer=LAYER, position=[6, 11], mode="zero")


def test_is_a_scan_result_of_the_intervened_run(res):
    assert isinstance(res, ScanResult) and isinstance(res, InterventionResult)
    plain = res.intervened
    assert type(plain) is ScanResult and plain.trace is res.trace and plain.findings is res.findings
    # the scan API describes the edited run, not the clean one
    pd.testing.assert_frame_equal(res.sinks, res.findings.sinks)
    pd.testing.assert_frame_equal(res.layers, res.findings.layers)
    assert res.scores(0) is res.prompts[0].scores and res.tokens(0) == res.clean.tokens(0)
    assert res.prompts[0].mlp_norm[LAYER, 6] == 0.0 < res.clean.prompts[0].mlp_norm[LAYER, 6]
    assert not np.allclose(res.scores(0)[LAYER + 1 :], res.clean.scores(0)[LAYER + 1 :])
    assert np.array_equal(res.scores(0)[: LAYER + 1], res.clean.scores(0)[: LAYER + 1])  # attention of blocks <= b runs before the edit
    assert res.summary() == res.findings.summary() and res.summary().mode == "general"
    assert res.norm_law() is res.findings.norm_law and res.levels() is res.findings.levels
    assert res.manifest["intervention"]["mode"] == "zero" and res.manifest["intervention"]["layer"] == LAYER
    again = res.reanalyze(tau=0.8)
    assert type(again) is ScanResult and again.config.tau == 0.8 and again.trace is res.trace
    # the attached comparison
    s = res.intervention_summary()
    assert s["mode"] == "zero" and s["positions"] == [6, 11]
    assert s["n_secondary_before"] == res.clean.summary().n_secondary
    assert s["n_secondary_after"] == res.summary().n_secondary
    assert isinstance(res.nll, NllDelta) and res.nll.start == 6
    assert res.targets["mlp_norm_after"].tolist() == [0.0, 0.0]


def test_save_writes_the_intervention_folder_and_load_reads_it_back(res, tmp_path):
    dest = res.save(tmp_path / "iv")
    assert sorted(p.name for p in dest.iterdir()) == ["clean", "intervened", "intervention.json", "nll.parquet", "targets.parquet"]
    info = json.loads((dest / "intervention.json").read_text())
    assert info["summary"] == json.loads(json.dumps(res.intervention_summary()))
    assert info["spec"] == {"kind": "zero", "value": None}
    back = InterventionResult.load(dest)
    assert isinstance(back, ScanResult)
    assert back.spec == InterventionSpec("zero") and back.layer == LAYER and back.positions == [6, 11]
    assert back.primary == res.primary and back.direction_norm == pytest.approx(res.direction_norm)
    assert back.nll.to_dict() == pytest.approx(res.nll.to_dict(), nan_ok=True)
    pd.testing.assert_frame_equal(back.targets, res.targets)
    pd.testing.assert_frame_equal(back.sinks, res.sinks)
    for a, b in ((back, res), (back.clean, res.clean)):
        for name in ARRAY_FIELDS:
            x, y = getattr(a.prompts[0], name), getattr(b.prompts[0], name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert back.manifest["intervention"] == json.loads(json.dumps(res.manifest["intervention"]))
    # the plain scan layout of the intervened run, for `ScanResult.load`
    plain = res.intervened.save(tmp_path / "plain")
    assert (plain / "manifest.json").exists() and not (plain / "intervention.json").exists()
    with pytest.raises(InputError, match="not a sinkscope intervention folder"):
        InterventionResult.load(plain)


def test_effects_give_each_planted_outcome_with_its_numbers():
    """docs/method.md §4 "Outcomes" on planted traces (tests/analysis/synth.py `edit_pair`): every
    outcome, the promoted flag, and the numbers behind them."""
    t, expect = outcome_table()
    got = {int(r.position): (r.outcome, bool(r.promoted)) for r in t.itertuples()}
    assert got == expect
    assert (t["removed"] == (t["outcome"] == "removed")).all()
    removed = t[t["removed"]]
    assert removed["position"].tolist() == [20, 30]
    assert not removed["promoted"].any() and (removed["score_after"] < removed["score_before"]).all()
    assert removed["kind_before"].eq("secondary").all() and removed["kind_after"].tolist() == ["none", "noise"]
    r = t.set_index("position")
    assert r.loc[20, "sink_layers_after"] == 0 and r.loc[30, "sink_layers_after"] == 6
    assert r.loc[30, "ratio_after"] == pytest.approx(1.2, rel=1e-4)  # < k = 3
    assert r.loc[70, "kind_after"] == "primary" and r.loc[70, "score_change"] < -0.1  # promoted, score down
    assert r.loc[80, "score_change"] > 0.5 and r.loc[80, "sink_layers_after"] == 0  # gone but stronger
    assert 0 < r.loc[100, "score_change"] < 0.1 and r.loc[100, "sink_layers_after"] == 0  # gone, score up < margin
    assert r.loc[100, "outcome"] == "unchanged"
    assert r.loc[40, "score_change"] == pytest.approx(
        (6 * 0.07 + 12 * 0.01) / (6 * 0.14 + 12 * 0.01) - 1, rel=1e-4)


def test_load_recomputes_the_outcomes_of_a_folder_written_before_them(res, tmp_path):
    dest = res.save(tmp_path / "old")
    old = pd.read_parquet(dest / "targets.parquet").drop(
        columns=["outcome", "promoted", "score_change", "sink_layers_before", "sink_layers_after", "ratio_before", "ratio_after"])
    old.to_parquet(dest / "targets.parquet", index=False)
    back = InterventionResult.load(dest)
    pd.testing.assert_frame_equal(back.targets, res.targets)
    assert back.intervention_summary()["outcomes"] == res.intervention_summary()["outcomes"]
