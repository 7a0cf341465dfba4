"""`auto` (docs/method.md §4 on every secondary sink) on a tiny model with a planted secondary sink
(see planted.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import sinkscope
from sinkscope.core.errors import InputError
from sinkscope.workflows.interventions import AUTO_COLUMNS, AutoResult, auto, parse_mode
from tests.workflows.interventions.planted import BIRTH, CFG, TEXT, outcome_table, planted_model


@pytest.fixture(scope="module")
def planted():
    lm, pos, handle = planted_model()
    yield lm, pos
    handle.remove()


def test_planted_sink_is_found(planted):
    lm, pos = planted
    res = sinkscope.scan(lm, TEXT, config=CFG)
    sec = res.findings.secondary
    assert sec["position"].tolist() == [pos]
    assert int(sec["birth"].iloc[0]) == BIRTH
    assert float(sec["mlp_cos_primary"].iloc[0]) > 0.99  # formed along the primary direction


def test_auto_removes_the_planted_sink(planted, tmp_path):
    lm, pos = planted
    a = auto(lm, TEXT, config=CFG)
    t = a.table
    assert list(t.columns) == list(AUTO_COLUMNS)
    assert t["mode"].tolist() == ["project-out", "zero"]
    assert (t["position"] == pos).all() and (t["layer"] == BIRTH).all()
    assert (t["kind_before"] == "secondary").all()
    assert (t["kind_after"] != "secondary").all() and t["removed"].all()
    assert (t["lifetime_after"] == 0).all() and (t["delta_lifetime"] == -t["lifetime_before"]).all()
    po = t[t["mode"] == "project-out"].iloc[0]
    assert po["mlp_proj_before"] > 19.0 and abs(po["mlp_proj_after"]) < 1e-3
    z = t[t["mode"] == "zero"].iloc[0]
    assert z["mlp_norm_after"] == 0.0
    # each row is the summary of a full intervened ScanResult
    assert len(a.runs) == 2
    for row, run in zip(t.itertuples(), a.runs):
        assert run.intervened.summary().n_secondary == row.n_secondary_after == 0
        assert row.delta_nll_mean == run.nll.mean and row.nll_tokens == run.nll.n
        assert run.intervened.manifest["intervention"]["layer"] == BIRTH
    s = a.summary()
    assert s["n_sinks"] == 1
    assert s["modes"]["project-out"]["share_removed"] == 1.0 == a.share_removed("project-out")
    assert s["modes"]["zero"]["n_removed"] == 1
    # saved atomically, readable
    dest = a.save(tmp_path / "auto")
    back = pd.read_parquet(dest / "auto.parquet")
    assert back["removed"].all() and len(back) == 2
    assert json.loads((dest / "auto.json").read_text())["summary"]["modes"]["project-out"]["share_removed"] == 1.0
    assert (dest / "clean" / "manifest.json").exists()


def test_auto_batched_matches_one_at_a_time(planted):
    lm, _ = planted
    one = auto(lm, TEXT, config=CFG, modes=["project-out", "zero", "rescale:5"])
    two = auto(lm, TEXT, config=CFG, modes=["project-out", "zero", "rescale:5"], batch_size=2)
    num = ["lifetime_after", "score_after", "mlp_norm_after", "primary_score_after", "delta_nll_mean"]
    assert one.table["kind_after"].tolist() == two.table["kind_after"].tolist()
    assert np.allclose(one.table[num].to_numpy(float), two.table[num].to_numpy(float), atol=1e-5, equal_nan=True)
    assert one.table["mode"].tolist() == ["project-out", "zero", "rescale:5"]


def test_auto_without_sinks_and_bad_modes(planted):
    lm, _ = planted
    none = auto(lm, TEXT[:40], config=CFG)
    assert none.table.empty and list(none.table.columns) == list(AUTO_COLUMNS)
    assert none.summary()["n_sinks"] == 0
    with pytest.raises(InputError, match="allowed"):
        auto(lm, TEXT, modes=["erase"])
    with pytest.raises(InputError, match="at least one mode"):
        auto(lm, TEXT, modes=[])


def test_summary_counts_each_planted_outcome():
    """`AutoResult.summary` on one row per planted outcome (planted.py `outcome_table`): removed
    counts only the outcome 'removed', never the promotion, the strengthened sinks or a sink that
    vanished while its score rose (100)."""
    table, expect = outcome_table()
    a = AutoResult(clean=SimpleNamespace(prompts=[None]), modes=[parse_mode("project-out")], table=table)
    m = a.summary()["modes"]["project-out"]
    assert m["outcomes"] == {"removed": 2, "weakened": 1, "unchanged": 3, "strengthened": 3, "promoted": 1}
    assert sum(m["outcomes"][o] for o in ("removed", "weakened", "unchanged", "strengthened")) == m["n_sinks"] == len(expect)
    assert m["n_removed"] == 2 and m["share_removed"] == pytest.approx(2 / 9)
    # the old rule (no longer classified secondary) would have counted 20, 30, 70, 80 and 100
    old = (table["kind_before"] == "secondary") & (table["kind_after"] != "secondary")
    assert table.loc[old, "position"].tolist() == [20, 30, 70, 80, 100]
