"""The typed payload of the report page (report/payload.py): what the page script reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sinkscope.report import payload as rp
from sinkscope.report.figures import maxpool
from tests.report.reportsynth import plants_for, synthetic_result


@pytest.fixture(scope="module")
def res2():
    return synthetic_result((400, 900))


@pytest.fixture(scope="module")
def pay2(res2):
    return rp.build_payload(res2)


def test_payload_is_typed_and_matches_the_result(res2, pay2):
    d = pay2.data
    assert isinstance(d, rp.ReportData) and d.format == rp.FORMAT
    assert [p.index for p in d.prompts] == [0, 1]
    for i, p in enumerate(d.prompts):
        assert isinstance(p, rp.PromptData) and isinstance(p.records, rp.RecordTable)
        assert p.n_tokens == res2.prompts[i].n_tokens and p.tokens == res2.tokens(i)
        assert p.source == f"synthetic {i}"
        assert p.p == 0 and p.window == [10, 27]  # the planted primary window
        rec = res2.sinks[res2.sinks["prompt"] == i]
        assert p.records.n_total == len(rec) and not p.records.truncated
        assert p.records.columns[:3] == ["position", "token", "kind"]
        assert "prompt" not in p.records.columns  # hidden column
        pos = [r[0] for r in p.records.rows]
        assert pos == sorted(pos)
        planted = {q for q, *_ in plants_for(p.n_tokens, i)}
        labels = dict(zip(pos, p.records.labels))
        assert labels[0] == "primary"
        assert sum(labels.get(q) == "secondary" for q in planted) >= len(planted) - 1
        assert p.heat.L == 30 and p.heat.H == 9 and p.heat.mean.bin == 1
        assert set(pay2.blobs) >= {p.heat.mean.id, p.heat.ratio.id, p.heat.heads.id}
        assert len(p.layers["primary_score"]) == 30
    assert d.secondary.n_total == len(res2.findings.secondary)
    assert [c.key for c in d.columns][:3] == ["position", "token", "kind"]
    assert d.norm_law["score"]["n"] == res2.findings.norm_law.n
    curve = d.norm_law["fit_score_curve"]
    assert len(curve["x"]) == len(curve["y"]) >= 2 and curve["x"] == sorted(curve["x"])


def test_to_dict_is_plain_json(pay2):
    doc = pay2.data.to_dict()
    text = json.dumps(doc, allow_nan=False)  # no NaN, no numpy
    back = json.loads(text)
    assert back["prompts"][0]["heat"]["heads"]["log_lo"] == rp.HEAD_LOG_LO
    assert back["prompts"][1]["records"]["labels"][0] == "primary"
    assert "per_prompt" not in back["secondary"]


def test_blobs_hold_the_pooled_scores(res2, pay2):
    import base64

    p = pay2.data.prompts[1]
    mean = np.frombuffer(base64.b64decode(pay2.blobs[p.heat.mean.id]), dtype="<f2").reshape(30, p.heat.mean.n)
    ref = res2.findings.detections[1].layer_scores.astype(np.float64)
    np.testing.assert_allclose(mean.astype(np.float64), ref, rtol=1e-3, atol=1e-7)


def test_budget_downsamples_long_runs(monkeypatch):
    monkeypatch.setattr(rp, "MEAN_CELL_BUDGET", 30 * 100)
    monkeypatch.setattr(rp, "HEAD_CELL_BUDGET", 30 * 9 * 50)
    res = synthetic_result((1000,))
    pay = rp.build_payload(res)
    hm = pay.data.prompts[0].heat
    assert hm.mean.bin == 10 and hm.mean.n == 100
    assert hm.heads.bin == 20 and hm.heads.n == 50
    heads = np.frombuffer(__import__("base64").b64decode(pay.blobs[hm.heads.id]), dtype=np.uint8)
    assert heads.size == 30 * 9 * 50
    back = rp.dequantise_log_u8(heads.reshape(30, 9, 50))
    ref = maxpool(res.scores(0).astype(np.float64), 20)
    ok = ref > 1e-6
    assert (np.abs(back[ok] - ref[ok]) / ref[ok]).max() < 0.03


def test_bin_size():
    assert rp.bin_size(10, 100) == 1
    assert rp.bin_size(100, 100) == 1
    assert rp.bin_size(101, 100) == 2
    assert rp.bin_size(30_000, 3_000) == 10


def test_quantise_log_u8():
    q = rp.quantise_log_u8(np.array([0.0, 1e-7, 1e-6 * 1.01, 1e-3, 1.0, np.nan]))
    assert q.dtype == np.uint8
    assert q[0] == 0 and q[1] == 0 and q[-2] == 255 and q[-1] == 0
    assert q[3] == 1 + round(254 * 3 / 6)
    assert rp.dequantise_log_u8(q)[-2] == pytest.approx(1.0)
    assert rp.dequantise_log_u8(q)[3] == pytest.approx(1e-3, rel=0.03)


def test_frame_rows_cells_and_truncation():
    df = pd.DataFrame({"a": [1, 2, 3], "b": [np.nan, 0.5, np.inf], "c": [[1, 2], None, {"k": np.float32(1)}],
                       "d": pd.array([pd.NA, "x", "y"])})
    cols, rows, n, trunc = rp.frame_rows(df)
    assert cols == ["a", "b", "c", "d"] and n == 3 and not trunc
    assert rows[0] == [1, None, "[1, 2]", None]
    assert rows[1][1] == 0.5 and rows[1][2] is None and rows[2][1] is None
    assert json.loads(rows[2][2]) == {"k": 1.0}
    json.dumps(rows, allow_nan=False)
    cols, rows, n, trunc = rp.frame_rows(df, max_rows=2)
    assert len(rows) == 2 and n == 3 and trunc


def test_extra_tables_are_typed(res2):
    iv = pd.DataFrame({"prompt": [0, 1], "op": ["zero", "zero"], "delta": [-1.0, np.nan]})
    kv = pd.DataFrame({"key": ["a"], "value": [1]})
    d = rp.build_payload(res2, {"interventions": iv, "x summary": kv}).data
    assert list(d.extra) == ["interventions", "x summary"]
    assert isinstance(d.extra["interventions"], rp.ExtraTable)
    assert d.extra["interventions"].per_prompt and not d.extra["x summary"].per_prompt
    assert d.extra["interventions"].rows[1] == [1, "zero", None]


def test_fit_curve_keeps_the_corners():
    from sinkscope.analysis.normlaw import MonotoneFit

    fit = MonotoneFit(x=[1.0, 2.0, 3.0, 4.0, 5.0], y_fit=[0.1, 0.1, 0.1, 0.4, 0.4], r2=0.9)
    c = rp.fit_curve(fit)
    assert c.x == [1.0, 3.0, 4.0, 5.0] and c.y == [0.1, 0.1, 0.4, 0.4] and c.r2 == 0.9


def test_region_column_shown_only_when_prompts_have_a_response():
    """The sink table's `region` column (docs/method.md §3): in the page always, shown by default
    only when a prompt has a response."""
    from sinkscope.analysis import analyze

    res = synthetic_result((300,))
    meta = {c.key: c for c in rp.build_payload(res).data.columns}
    assert "region" in meta and not meta["region"].shown
    res.prompts[0].n_prompt_tokens = 200
    res.findings = analyze(res.prompts, res.config)
    meta = {c.key: c for c in rp.build_payload(res).data.columns}
    assert meta["region"].shown and list(rp.record_columns(res.sinks)).index("region") == 3  # after pos, token, class


def test_columns_come_from_the_registry(res2, pay2):
    """The sink table's headers, titles, default visibility and hover rows are the column registry's."""
    from sinkscope.analysis.columns import BY_NAME

    meta = {c.key: c for c in pay2.data.columns}
    assert [c.key for c in pay2.data.columns] == rp.record_columns(res2.sinks)
    for key, m in meta.items():
        col = BY_NAME[key]
        assert m.label == col.display and m.title == f"{col.description} (docs/method.md §{col.section})"
        assert m.hover == col.hover and m.shown == (col.report and key != "region")
    assert meta["score_ratio"].label == "× base" and meta["mlp_norm"].label == "‖m‖"
    assert not set(meta) & rp.HIDDEN_COLUMNS
