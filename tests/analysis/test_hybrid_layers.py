"""Analysis of a hybrid's trace (docs/method.md §11): layers without attention probabilities (NaN
scores, n_queries 0, as the capture writes a Mamba / convolution block) are left out. Detection on the
hybrid trace equals detection on the sub-sequence of its attention layers, with original layer indices."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sinkscope.analysis import analyze, detect, layer_table, levels, weakening
from sinkscope.analysis.scores import attention_layers, head_fraction
from sinkscope.core.errors import InputError
from tests.analysis.synth import make_trace, spec24

NON_ATTENTION = [2, 9, 15]  # inside the lifetimes of several planted sinks, not at the dip (11)
LAYER_FIELDS = ("scores", "n_queries", "key_norm", "value_norm", "resid_norm", "resid_cos", "resid_cos_centred",
                "mlp_norm", "attn_norm", "mlp_cos_resid", "mlp_cos_mlp", "attn_cos_resid", "act_max",
                "act_argmax", "act_median")


def hybrid(pt):
    """The same trace with NON_ATTENTION turned into non-softmax layers, as the capture writes them."""
    scores, nq = pt.scores.copy(), pt.n_queries.copy()
    kn, vn = pt.key_norm.copy(), pt.value_norm.copy()
    scores[NON_ATTENTION] = np.nan
    kn[NON_ATTENTION] = vn[NON_ATTENTION] = np.nan
    nq[NON_ATTENTION] = 0
    return replace(pt, scores=scores, n_queries=nq, key_norm=kn, value_norm=vn)


def sub_sequence(pt, keep):
    return replace(pt, **{name: getattr(pt, name)[keep] for name in LAYER_FIELDS})


@pytest.fixture(scope="module")
def traces():
    pt = make_trace(spec24())
    return pt, hybrid(pt)


def test_attention_layers_from_scores(traces):
    _, hy = traces
    att = attention_layers(hy.scores)
    assert att.dtype == bool and (np.flatnonzero(~att) == NON_ATTENTION).all()
    assert np.isnan(head_fraction(hy.scores, 0.05)[NON_ATTENTION]).all()


def test_detection_equals_sub_sequence(traces):
    """lifetime, runs, coverage, classes and baselines are those of the attention layers' sub-sequence;
    births and deaths are reported as original layer indices; no sink is alive at a NaN layer."""
    _, hy = traces
    det = detect(hy)
    keep = np.flatnonzero(det.attention_layers)
    ref = detect(sub_sequence(hy, keep))
    assert not det.scanned[NON_ATTENTION].any()
    a, b = det.records.set_index("position"), ref.records.set_index("position")
    assert list(a.index) == list(b.index)
    for col in ("kind", "lifetime", "longest_run", "coverage", "mean_score", "peak_score", "baseline",
                "score_ratio", "n_queries", "anti_aligned"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    np.testing.assert_array_equal(a["birth"].to_numpy(), keep[b["birth"].to_numpy()])
    np.testing.assert_array_equal(a["death"].to_numpy(), keep[b["death"].to_numpy()])


def test_lifetime_across_a_non_attention_layer(traces):
    """Token 20 is sink-like on layers 6-11 (layer 9 has no attention): lifetime 5, one run of 5."""
    pt, hy = traces
    full = detect(pt).records.set_index("position").loc[20]
    row = detect(hy).records.set_index("position").loc[20]
    assert (full["lifetime"], full["longest_run"]) == (6, 6)
    assert (row["lifetime"], row["longest_run"], row["kind"]) == (5, 5, "secondary")  # n_queries 0 ignored


def test_no_attention_layer_at_all_is_refused(traces):
    pt, _ = traces
    with pytest.raises(InputError, match="no layer of the trace has attention"):
        detect(replace(pt, scores=np.full_like(pt.scores, np.nan)))


def test_weakening_skips_nan_layers(traces):
    _, hy = traces
    det = detect(hy)
    tab = layer_table(hy, det)
    assert (tab["attention"].to_numpy() == det.attention_layers).all()
    for col in ("primary_score", "primary_head_fraction", "secondary_mass"):
        assert np.isnan(tab.loc[NON_ATTENTION, col]).all(), col
    assert np.isfinite(tab.loc[tab["attention"], "secondary_mass"]).all()
    w = weakening(tab)
    assert w.dip_layer == 11 and np.isfinite(w.plateau) and not set(w.weakened_layers) & set(NON_ATTENTION)
    # the reference layers [3, 9) without attention at all: the plateau moves to the next attention layer
    only = tab.assign(primary_score=np.where(np.arange(24) < 10, np.nan, tab["primary_score"]))
    assert weakening(only).plateau_layer == 10


def test_levels_adjacent_across_a_non_attention_layer():
    """Births at layers 8 and 10 (9 without attention) are neighbours in the attention sub-sequence."""
    import pandas as pd

    recs = pd.DataFrame({"kind": ["secondary"] * 4, "birth": [8, 8, 10, 10], "lifetime": [5, 5, 5, 5],
                         "token": ["a", "a", "b", "b"]})
    att = np.ones(24, dtype=bool)
    att[NON_ATTENTION] = False
    assert levels(recs, 24).n_levels == 2
    lv = levels(recs, 24, attention_layers=att)
    assert lv.n_levels == 1 and lv.levels[0].birth_range == (8, 10)
    with pytest.raises(InputError, match="without attention"):
        levels(recs.assign(birth=[9, 9, 10, 10]), 24, attention_layers=att)


def test_analyze_hybrid(traces):
    _, hy = traces
    f = analyze([hy, hy], n_boot=50)
    assert (np.flatnonzero(~f.attention_layers) == NON_ATTENTION).all()
    assert not f.sinks["birth"].isin(NON_ATTENTION).any()
    assert f.layers_pooled["attention"].dtype == bool
    assert np.isfinite(f.norm_law.score.spearman)
