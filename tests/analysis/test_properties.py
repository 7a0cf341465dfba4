"""Sink properties (docs/method.md §8): residual / key / value norms and the value a sink returns.

Synthetic traces with planted key and value norms (exact expectations), and SmolLM2 on the long
bundled math text (`realmodel`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sinkscope.analysis import DetectConfig, analyze, detect
from sinkscope.analysis.properties import (
    HEAD_COLUMNS,
    KV_COLUMNS,
    LAYER_COLUMNS,
    NON_SINK,
    SUMMARY_COLUMNS,
    kv_of_head,
    non_sink_mask,
    prompt_properties,
    properties,
)
from sinkscope.capture.trace import CaptureSettings, Trace
from sinkscope.core.errors import InputError

from .synth import make_trace, spec24

BG_KEY, SINK_KEY = 10.0, 4.0
BG_VALUE = (2.0, 4.0)  # per KV head, so the head -> KV head mapping matters
SINK_VALUE = 0.5


def planted():
    """spec24 with key / value norms planted: every sink-like token has key norm 4 and value norm
    0.5 (both KV heads) on its sink-like layers; everything else has key 10 and value 2 / 4."""
    spec = spec24()
    pt = make_trace(spec)
    pt.key_norm[:] = BG_KEY
    pt.value_norm[:, 0, :] = BG_VALUE[0]
    pt.value_norm[:, 1, :] = BG_VALUE[1]
    for pl in spec.plants:
        pt.key_norm[list(pl.layers), :, pl.position] = SINK_KEY
        pt.value_norm[list(pl.layers), :, pl.position] = SINK_VALUE
    return spec, pt


def test_kv_of_head():
    assert kv_of_head(4, 2).tolist() == [0, 0, 1, 1]
    assert kv_of_head(9, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert kv_of_head(4, 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(InputError, match="KV must divide H"):
        kv_of_head(6, 4)


def test_non_sink_mask_excludes_sinks_primary_and_late_keys():
    spec, pt = planted()
    det = detect(pt, DetectConfig())
    mask = non_sink_mask(det)
    T = pt.n_tokens
    expect = np.ones(T, dtype=bool)
    expect[spec.p] = False
    expect[[pl.position for pl in spec.plants]] = False
    expect[T - np.arange(T) < DetectConfig().min_queries] = False  # late keys: too few queries
    assert mask.tolist() == expect.tolist()


def test_tables_have_the_expected_rows_and_columns():
    spec, pt = planted()
    det = detect(pt, DetectConfig())
    props = prompt_properties(pt, det)
    L, H, _ = pt.scores.shape
    KV = pt.key_norm.shape[1]
    n_sec = int((det.records["kind"] == "secondary").sum())
    assert n_sec == sum(pl.expect == "secondary" for pl in spec.plants)
    n_ent = 1 + n_sec + 1  # primary, secondaries, non-sink mean
    assert list(props.layers.columns) == list(LAYER_COLUMNS)
    assert list(props.kv_heads.columns) == list(KV_COLUMNS)
    assert list(props.heads.columns) == list(HEAD_COLUMNS)
    assert list(props.summary.columns) == list(SUMMARY_COLUMNS)
    assert len(props.layers) == n_ent * L
    assert len(props.kv_heads) == n_ent * L * KV
    assert len(props.heads) == n_ent * L * H
    assert len(props.summary) == n_ent - 1
    assert props.layers.groupby("group")["position"].nunique().to_dict() == {
        "primary": 1, "secondary": n_sec, NON_SINK: 1,
    }
    assert set(props.summary["group"]) == {"primary", "secondary"}
    # other record kinds on request
    more = prompt_properties(pt, det, kinds=("secondary", "noise", "primary"))
    assert set(more.summary["group"]) == {"primary", "primary-like", "secondary", "noise"}


def test_planted_norms_and_ratios():
    spec, pt = planted()
    det = detect(pt, DetectConfig())
    props = prompt_properties(pt, det)
    lay = props.layers
    ns = lay[lay["group"] == NON_SINK].set_index("layer")
    assert (ns["n_tokens"] == int(non_sink_mask(det).sum())).all()
    np.testing.assert_allclose(ns["key_norm"], BG_KEY)
    np.testing.assert_allclose(ns["value_norm"], np.mean(BG_VALUE))
    np.testing.assert_allclose(ns["value_ratio"], 1.0)
    for pl in spec.plants:
        if pl.expect != "secondary":
            continue
        rows = lay[(lay["group"] == "secondary") & (lay["position"] == pl.position)].set_index("layer")
        life = list(pl.layers)
        assert rows["alive"].to_numpy().nonzero()[0].tolist() == life
        np.testing.assert_allclose(rows.loc[life, "value_ratio"], SINK_VALUE / np.mean(BG_VALUE))
        np.testing.assert_allclose(rows.loc[life, "key_ratio"], SINK_KEY / BG_KEY)
        off = [l for l in range(pt.n_layers) if l not in life]
        np.testing.assert_allclose(rows.loc[off, "value_ratio"], 1.0)
        np.testing.assert_allclose(rows["resid_norm"], pt.resid_norm[:, pl.position], rtol=1e-6)
        kv = props.kv_heads[(props.kv_heads["position"] == pl.position) & (props.kv_heads["layer"] == life[0])]
        np.testing.assert_allclose(kv.sort_values("kv_head")["value_ratio"], [SINK_VALUE / v for v in BG_VALUE])
        s = props.summary[props.summary["position"] == pl.position].iloc[0]
        assert s["birth"] == pl.birth and s["lifetime"] == len(life)
        assert s["value_ratio_life"] == pytest.approx(SINK_VALUE / np.mean(BG_VALUE))
        assert s["key_ratio_life"] == pytest.approx(SINK_KEY / BG_KEY)
        if pl.birth > 0:
            assert s["value_ratio_before"] == pytest.approx(1.0)
            prev = pt.resid_norm[pl.birth - 1, pl.position]
        else:
            assert np.isnan(s["value_ratio_before"])
            prev = pt.embed_norm[pl.position]
        assert s["resid_jump"] == pytest.approx(pt.resid_norm[pl.birth, pl.position] / prev, rel=1e-6)


def test_attention_weighted_value_is_colsum_times_value_norm():
    """w_t^{l,h} = sum_i A_{i,t} ||v_t|| = s * n_queries * ||v of kv(h)||, checked by brute force."""
    _, pt = planted()
    det = detect(pt, DetectConfig())
    props = prompt_properties(pt, det)
    H = pt.scores.shape[1]
    KV = pt.key_norm.shape[1]
    heads = props.heads
    for t in (20, 35):  # two secondary sinks
        got = heads[heads["position"] == t].set_index(["layer", "head"])
        for l in (0, 7, 9, 15):
            for h in range(H):
                kvh = h * KV // H
                colsum = pt.scores[l, h, t] * pt.n_queries[l, t]
                assert got.loc[(l, h), "kv_head"] == kvh
                assert got.loc[(l, h), "colsum"] == pytest.approx(colsum, rel=1e-6)
                assert got.loc[(l, h), "attn_value"] == pytest.approx(colsum * pt.value_norm[l, kvh, t], rel=1e-6)
        lay = props.layers[props.layers["position"] == t].set_index("layer")
        expect = np.mean([pt.scores[:, h, t] * pt.n_queries[:, t] * pt.value_norm[:, h * KV // H, t] for h in range(H)], axis=0)
        np.testing.assert_allclose(lay["attn_value"], expect, rtol=1e-6)
    # the non-sink mean is the mean of the per-token values over the non-sink tokens
    ns = non_sink_mask(det)
    w = pt.scores * pt.n_queries[:, None, :] * pt.value_norm[:, [h * KV // H for h in range(H)], :]
    got = props.layers[props.layers["group"] == NON_SINK].set_index("layer")["attn_value"]
    np.testing.assert_allclose(got, w.mean(axis=1)[:, ns].mean(axis=1), rtol=1e-6)


def test_properties_over_prompts_and_scan_result():
    from sinkscope.workflows.scan import ScanResult

    _, a = planted()
    b = make_trace(spec24(seed=3))
    cfg = DetectConfig()
    findings = analyze([a, b], cfg, n_boot=50)
    res = ScanResult(Trace([a, b], CaptureSettings()), findings, {})
    props = res.properties()
    assert sorted(props.layers["prompt"].unique()) == [0, 1]
    one = prompt_properties(b, findings.detections[1], prompt=1)
    pd.testing.assert_frame_equal(
        props.summary[props.summary["prompt"] == 1].reset_index(drop=True), one.summary.reset_index(drop=True)
    )
    same = properties([a, b], findings.detections)
    pd.testing.assert_frame_equal(same.layers, props.layers)
    wide = props.ratio_table("value_ratio")
    assert wide.shape[1] == a.n_layers and len(wide) == int((props.summary["group"] == "secondary").sum())
    with pytest.raises(InputError, match="detections"):
        properties([a, b], findings.detections[:1])


def test_shape_mismatch_is_an_input_error():
    _, pt = planted()
    det = detect(pt, DetectConfig())
    pt.value_norm = pt.value_norm[:, :, :-1]
    with pytest.raises(InputError, match="value_norm"):
        prompt_properties(pt, det)


# ---- real weights --------------------------------------------------------------------------------------
_SCANS: dict = {}


def smol_long_scan(lm, text):
    """One SmolLM2 scan of the long bundled text per test session (shared with test_anatomy)."""
    import sinkscope

    key = (id(lm.model), text)
    if key not in _SCANS:
        _SCANS[key] = sinkscope.scan(lm, text)
    return _SCANS[key]


@pytest.mark.realmodel
def test_smollm2_secondary_sinks_return_little_value(smollm2, long_text):
    res = smol_long_scan(smollm2, long_text)
    sec = res.sinks[res.sinks["kind"] == "secondary"]
    assert len(sec) > 0
    props = res.properties()
    L = res.findings.n_layers
    s = props.summary
    ssec = s[s["group"] == "secondary"]
    assert sorted(ssec["position"]) == sorted(sec["position"])
    assert len(props.layers) == (len(sec) + 2) * L  # + primary + non-sink mean, one prompt
    cols = ["value_ratio_life", "key_ratio_life", "resid_ratio_life", "attn_value_ratio_life", "value_ratio_before"]
    assert np.isfinite(ssec[cols].to_numpy()).all()
    # seen on SmolLM2: every secondary sink's value norm drops below the non-sink mean over its
    # lifetime (like the primary's in its window), from about the non-sink level before birth
    assert (ssec["value_ratio_life"] < 1).all()
    assert (ssec["value_ratio_life"] < ssec["value_ratio_before"]).all()
    assert (ssec["resid_ratio_life"] > 1).all()
    prim = s[s["group"] == "primary"].iloc[0]
    assert prim["value_ratio_life"] < 1 and prim["resid_ratio_life"] > 1
    print("\nSmolLM2 §8 (secondary sinks):")
    print(ssec[["position", "token", "birth", "lifetime"] + cols].to_string(index=False))
    print("primary:", prim[cols].to_dict())


def test_html_fragment_and_figures(tmp_path):
    from sinkscope.report.anatomy_figures import write_properties_figures
    from sinkscope.report.anatomy_html import properties_html
    from sinkscope.workflows.scan import ScanResult

    _, pt = planted()
    cfg = DetectConfig()
    res = ScanResult(Trace([pt], CaptureSettings()), analyze([pt], cfg, n_boot=50), {})
    frag = properties_html(res)
    assert frag.startswith("<section") and frag.endswith("</section>")
    assert frag.count("<svg") == 3 and "<script" not in frag
    assert "http" not in frag.replace("http://www.w3.org/2000/svg", "")
    n_sec = int((res.sinks["kind"] == "secondary").sum())
    assert frag.count(">secondary</td>") == n_sec
    files = write_properties_figures(res, tmp_path)
    assert sorted(p.name for p in files) == ["properties.png", "properties.svg"]
    # a run with no secondary sinks still renders
    quiet = make_trace(spec24(plants=[]))
    res0 = ScanResult(Trace([quiet], CaptureSettings()), analyze([quiet], cfg, n_boot=50), {})
    assert "<svg" in properties_html(res0)
    write_properties_figures(res0, tmp_path / "quiet")
