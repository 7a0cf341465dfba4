import numpy as np
import pytest

from sinkscope.analysis import DetectConfig, detect, formation_columns
from sinkscope.analysis.formation import FORMATION_COLUMNS

from . import synth
from .synth import make_trace, spec24


@pytest.fixture(scope="module")
def formed():
    spec = spec24()
    pt = make_trace(spec)
    det = detect(pt, DetectConfig())
    return spec, pt, det, formation_columns(det.records, pt, det.p)


def test_columns_added_and_input_untouched(formed):
    _, _, det, df = formed
    for col in FORMATION_COLUMNS:
        assert col in df.columns
    assert "mlp_norm" not in det.records.columns
    assert len(df) == len(det.records)


def test_values_at_birth(formed):
    spec, _, _, df = formed
    rec = df.set_index("position")
    for pl in spec.plants:
        if pl.expect != "secondary":
            continue
        r = rec.loc[pl.position]
        sign = -1.0 if pl.anti else 1.0
        assert r["mlp_norm"] == pytest.approx(synth.MLP_PER_SCORE * pl.score, rel=1e-6)
        assert r["attn_norm"] == pytest.approx(synth.ATTN_NORM_AT_BIRTH)
        assert r["mlp_cos_primary"] == pytest.approx(synth.MLP_COS_AT_BIRTH * sign, rel=1e-6)
        assert r["mlp_cos_oriented"] == pytest.approx(synth.MLP_COS_AT_BIRTH, rel=1e-6)
        assert r["mlp_cos_primary_mlp"] == pytest.approx(0.9 * sign, rel=1e-6)
        assert r["attn_cos_primary"] == pytest.approx(synth.ATTN_COS_AT_BIRTH * sign, rel=1e-6)
        pm = synth.MLP_COS_AT_BIRTH * synth.MLP_PER_SCORE * pl.score
        pa = synth.ATTN_COS_AT_BIRTH * synth.ATTN_NORM_AT_BIRTH
        assert r["mlp_share"] == pytest.approx(pm / (pm + pa), rel=1e-5)
        # ||h^b|| - ||h^{b-1}|| (embed_norm for b = 0): the planted jump
        assert r["jump_norm"] == pytest.approx(synth.MLP_PER_SCORE * pl.score, rel=1e-5)
    assert rec.loc[70, "birth"] == 0  # the b = 0 case used embed_norm


def test_mlp_share_nan_when_projections_cancel(formed):
    _, _, det, _ = formed
    rec = det.records[det.records["position"] == 20].copy()
    b = int(rec["birth"].iloc[0])
    pt2 = make_trace(spec24())
    pt2.mlp_norm[b, 20] = 10.0
    pt2.mlp_cos_resid[b, 0, 20] = 0.5
    pt2.attn_norm[b, 20] = 10.0
    pt2.attn_cos_resid[b, 0, 20] = -0.5
    out = formation_columns(rec, pt2, 0)
    assert np.isnan(out["mlp_share"].iloc[0])
    pt2.attn_cos_resid[b, 0, 20] = 0.0
    pt2.mlp_cos_resid[b, 0, 20] = 0.0
    assert np.isnan(formation_columns(rec, pt2, 0)["mlp_share"].iloc[0])


def test_empty_records(formed):
    _, pt, det, _ = formed
    out = formation_columns(det.records.iloc[:0], pt, 0)
    assert len(out) == 0 and "mlp_norm" in out.columns
