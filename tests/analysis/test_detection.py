import numpy as np
import pytest

from sinkscope.analysis import DetectConfig, detect, primary_position, primary_window, sink_like
from sinkscope.analysis.detection import RECORD_COLUMNS
from sinkscope.core.errors import InputError

from .synth import make_trace, run, spec18, spec24, spec40


def _by_pos(det):
    return det.records.set_index("position")


# ---------------------------------------------------------------------------- primitives


def test_primary_position_largest_mean_norm_among_candidates():
    rn = np.ones((4, 10))
    rn[:, 1] = 50.0
    rn[:, 5] = 1000.0  # not a candidate
    assert primary_position(rn, 3) == 1
    assert primary_position(rn, 1) == 0
    assert primary_position(rn, 6) == 5
    assert primary_position(rn[:, :2], 3) == 1  # clipped to T


def test_primary_window_letter_of_method():
    n = np.array([10, 12, 900, 950, 940, 300, 310, 305], dtype=float)  # L = 8
    rn = np.stack([n, np.ones(8)], axis=1)
    # d = [2, 888, 50, -10, -640, 10, -5]: start = 1 + 1 = 2; min of d[2:] at l = 4 -> end = 5
    assert primary_window(rn, 0) == (2, 5)


def test_primary_window_guards():
    # largest jump into the last layer: d[start:] is empty -> end = L
    rn = np.array([[1.0], [1.0], [1.0], [500.0]])
    assert primary_window(rn, 0) == (3, 4)
    assert primary_window(np.array([[3.0]]), 0) == (0, 1)
    # norm grows to the end without a drop: end is the minimum of d after start (to the letter)
    rn = np.array([[1.0], [100.0], [110.0], [111.0], [140.0]])
    assert primary_window(rn, 0) == (1, 3)
    with pytest.raises(InputError):
        primary_window(rn, 5)


def test_sink_like_abs_and_nan():
    cos = np.array([[0.95, -0.93, 0.5, np.nan, 0.9]])
    assert sink_like(cos, 0.9).tolist() == [[True, True, False, False, True]]


# ---------------------------------------------------------------------------- general mode


@pytest.fixture(scope="module")
def det24():
    spec = spec24()
    return spec, detect(make_trace(spec), DetectConfig())


def test_general_recovers_planted(det24):
    spec, det = det24
    assert det.p == 0
    assert det.window == (3, 20)
    assert list(det.records.columns[: len(RECORD_COLUMNS)]) == list(RECORD_COLUMNS)
    rec = _by_pos(det)
    planted = {pl.position: pl for pl in spec.plants}
    assert set(rec.index) == set(planted) | {0}
    for pos, pl in planted.items():
        r = rec.loc[pos]
        assert r["kind"] == pl.expect, (pos, r["kind"], pl.expect)
        assert r["birth"] == min(pl.layers)
        assert r["death"] == max(pl.layers)
        assert r["lifetime"] == len(pl.layers)
        assert r["mean_score"] == pytest.approx(pl.score, rel=1e-5)
        assert r["peak_score"] == pytest.approx(pl.score, rel=1e-5)
        assert bool(r["anti_aligned"]) == pl.anti
        assert not r["is_primary_position"]
        assert bool(r["primary_like"]) == (pl.expect == "primary")
        assert r["rel_birth"] == pytest.approx(min(pl.layers) / 23)  # birth / (L - 1)
        assert r["n_queries"] == 128 - pos
    # gap: layers 7-9 and 11-13
    assert rec.loc[64, "longest_run"] == 3 and rec.loc[64, "lifetime"] == 6
    assert rec.loc[20, "longest_run"] == 6
    # scores vs background 0.01
    assert rec.loc[20, "score_ratio"] == pytest.approx(10.0, rel=1e-4)
    assert rec.loc[40, "score_ratio"] == pytest.approx(1.0, rel=1e-4)  # crowd: cosine only
    assert rec.loc[3, "coverage"] == pytest.approx(1.0)
    assert det.secondary["position"].tolist() == [20, 35, 50, 64, 70]
    assert det.secondary["birth"].tolist() == [6, 8, 10, 7, 0]


def test_primary_row(det24):
    _, det = det24
    r = _by_pos(det).loc[0]
    assert r["kind"] == "primary" and r["is_primary_position"] and r["primary_like"]
    assert (r["birth"], r["death"], r["lifetime"], r["longest_run"]) == (3, 19, 17, 17)
    prof = det.layer_scores[3:20, 0]
    assert r["mean_score"] == pytest.approx(prof.mean())
    assert r["peak_score"] == pytest.approx(0.6, rel=1e-5)
    assert not det.sink_like[:, 0].any()


def test_late_key_needs_matched_baseline():
    spec = spec24()
    pt = make_trace(spec)
    matched = _by_pos(detect(pt, DetectConfig(baseline="matched")))
    glob = _by_pos(detect(pt, DetectConfig(baseline="global")))
    assert matched.loc[104, "kind"] == "noise"
    assert matched.loc[104, "score_ratio"] < 1.5
    assert glob.loc[104, "kind"] == "secondary"  # what the position-matched baseline prevents
    assert glob.loc[104, "score_ratio"] == pytest.approx(7.0, rel=1e-3)
    assert matched.loc[124, "kind"] == glob.loc[124, "kind"] == "unclassified"
    # early secondaries are unaffected by the baseline choice
    for pos in (20, 35, 50, 64, 70):
        assert matched.loc[pos, "kind"] == glob.loc[pos, "kind"] == "secondary"


def test_min_queries_controls_unclassified():
    pt = make_trace(spec24())
    rec = _by_pos(detect(pt, DetectConfig(min_queries=30)))
    assert rec.loc[104, "kind"] == "unclassified"  # n_q = 24 < 30
    assert rec.loc[70, "kind"] == "secondary"


def test_k_threshold():
    pt = make_trace(spec24())
    rec = _by_pos(detect(pt, DetectConfig(k=12.0)))
    # ratios are 10, 18, 14, 22, 26 for the five secondaries
    assert rec.loc[20, "kind"] == "noise"
    assert rec.loc[35, "kind"] == "secondary"


def test_centred_cosine_drops_crowd_token():
    pt = make_trace(spec24())
    raw = _by_pos(detect(pt, DetectConfig(cosine="raw")))
    cen = _by_pos(detect(pt, DetectConfig(cosine="centred")))
    assert 40 in raw.index
    assert 40 not in cen.index
    assert (cen.loc[[20, 35, 50, 64, 70], "kind"] == "secondary").all()


def test_primary_at_position_1():
    spec = spec24(p=1)
    det = detect(make_trace(spec), DetectConfig())
    assert det.p == 1
    assert det.window == (3, 20)
    rec = _by_pos(det)
    assert rec.loc[1, "is_primary_position"]
    assert 0 not in rec.index  # the BOS with the small norm is not sink-like
    assert det.secondary["position"].tolist() == [20, 35, 50, 64, 70]
    # with a single candidate the primary would be position 0
    det0 = detect(make_trace(spec), DetectConfig(n_candidates=1))
    assert det0.p == 0


def test_general_L40_min_lifetime_fraction():
    spec = spec40()
    det = detect(make_trace(spec), DetectConfig())
    assert det.window == (4, 34)
    rec = _by_pos(det)
    for pl in spec.plants:
        assert rec.loc[pl.position, "kind"] == pl.expect, pl.position
    assert rec.loc[12, "lifetime"] == 5  # would be secondary with L <= 33


# ---------------------------------------------------------------------------- paper mode


def test_paper_mode_to_the_letter_L24():
    spec = spec24()
    det = detect(make_trace(spec), DetectConfig(mode="paper"))
    rec = _by_pos(det)
    assert det.window == (3, 20)
    # only window layers are scanned
    assert not det.scanned[:3].any() and not det.scanned[20:].any()
    assert (rec.loc[70, "birth"], rec.loc[70, "lifetime"], rec.loc[70, "kind"]) == (3, 3, "noise")
    expected = {
        20: "secondary",
        35: "secondary",
        50: "secondary",
        64: "secondary",
        3: "primary",  # 17 >= L - 15 = 9
        40: "secondary",  # the crowd token: the paper rule has no attention check
        30: "noise",
        45: "noise",
        70: "noise",
        104: "primary",
        124: "primary",  # no min_queries rule in paper mode
        0: "primary",
    }
    assert rec["kind"].to_dict() == expected
    assert bool(rec.loc[104, "primary_like"]) and not rec.loc[104, "is_primary_position"]


def test_paper_mode_L18_never_secondary():
    spec = spec18()
    det = detect(make_trace(spec), DetectConfig(mode="paper"))
    rec = _by_pos(det)
    assert det.window == (2, 14)
    assert (rec["kind"] != "secondary").all()
    # L - 15 = 3: lifetimes 3 and 4 are primary-like (that rule is checked first), 2 is noise
    assert rec.loc[10, "kind"] == "noise"
    for pos in (12, 14, 16, 18):
        assert rec.loc[pos, "kind"] == "primary"
    # general mode does find the planted secondaries
    gen = _by_pos(detect(make_trace(spec), DetectConfig()))
    for pl in spec.plants:
        assert gen.loc[pl.position, "kind"] == pl.expect


def test_paper_mode_L40():
    spec = spec40()
    rec = _by_pos(detect(make_trace(spec), DetectConfig(mode="paper")))
    assert rec.loc[10, "kind"] == "secondary"
    assert rec.loc[12, "kind"] == "secondary"  # 4 < 5 < 25
    assert rec.loc[14, "kind"] == "primary"  # 26 >= 25
    assert rec.loc[16, "kind"] == "noise"  # 4
    assert rec.loc[18, "kind"] == "secondary"


def test_bad_trace_shapes():
    pt = make_trace(spec18())
    pt.resid_norm = pt.resid_norm[:, :10]
    with pytest.raises(InputError, match="resid_norm"):
        detect(pt)


def test_anti_aligned_majority():
    spec = spec18(plants=[run(20, 3, 6, 0.2)])
    pt = make_trace(spec)
    pt.resid_cos[3:6, 0, 20] *= -1  # 3 of 6 negative: not a majority
    rec = _by_pos(detect(pt))
    assert not rec.loc[20, "anti_aligned"]
    pt.resid_cos[6, 0, 20] *= -1  # 4 of 6
    assert _by_pos(detect(pt)).loc[20, "anti_aligned"]


def test_mass_share_is_the_keys_share_of_the_layers_attention():
    """share_t^l = n_t^l s_t^l / sum_j n_j^l s_j^l (docs/method.md §1 "Attention mass")."""
    from sinkscope.analysis.detection import mass_share

    # causal, 4 keys, one head: rows of A sum to 1, so the masses n_t s_t add up to T = 4
    A = np.array([[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0.6, 0.2, 0.2, 0], [0.05, 0.025, 0.025, 0.9]])
    n = np.array([4, 3, 2, 1], dtype=float)
    s = A.sum(axis=0) / n
    ls = np.stack([s, np.full(4, np.nan)])  # layer 1: no attention probabilities
    nq = np.stack([n, n])
    share = mass_share(ls, nq)
    np.testing.assert_allclose(share[0], A.sum(axis=0) / 4.0)
    assert share[0].sum() == pytest.approx(1.0) and np.isnan(share[1]).all()
    # the last key, seen by one query, has the largest mean score s; the first takes the most mass
    assert np.argmax(s) == 3 and np.argmax(share[0]) == 0 and share[0, 3] == pytest.approx(0.9 / 4)


def test_attention_share_is_the_mean_over_the_sink_like_layers():
    from sinkscope.analysis.detection import mass_share

    pt = make_trace(spec24())
    det = detect(pt, DetectConfig())
    share = mass_share(det.layer_scores, np.asarray(pt.n_queries))
    np.testing.assert_allclose(np.nansum(share, axis=1), 1.0)
    for _, r in det.records.iterrows():
        t = int(r["position"])
        layers = np.flatnonzero(det.scanned[:, t]) if t != det.p else np.arange(*det.window)
        assert r["attention_share"] == pytest.approx(share[layers, t].mean())
    sec = det.secondary
    assert len(sec) and (sec["attention_share"] > 0).all() and (sec["attention_share"] < 1).all()
    own = det.records[det.records["is_primary_position"]].iloc[0]
    assert own["attention_share"] > sec["attention_share"].max()  # the primary takes the most
