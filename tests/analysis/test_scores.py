import numpy as np
import pytest

from sinkscope.analysis import baseline_scores, classifiable, head_fraction, layer_scores
from sinkscope.core.errors import InputError


def test_layer_scores_and_head_fraction():
    s = np.array([[[0.1, 0.5], [0.3, 0.1], [0.5, 0.3], [0.2, 0.9]]])  # [1, 4, 2]
    np.testing.assert_allclose(layer_scores(s), [[0.275, 0.45]])
    np.testing.assert_allclose(head_fraction(s, 0.3), [[0.25, 0.5]])  # strict >
    with pytest.raises(InputError):
        layer_scores(s[0])


def test_classifiable_uses_min_over_layers():
    nq = np.array([[20, 16, 40], [20, 15, 40]])
    assert classifiable(nq, 16).tolist() == [True, False, True]


def _causal(L, T):
    return np.tile(T - np.arange(T), (L, 1))


def test_global_baseline_excludes_sinks_and_unclassifiable():
    T = 40
    ls = np.full((1, T), 0.01)
    ls[0, 5] = 0.9  # excluded sink
    ls[0, 30:] = 1.0  # n_queries <= 10: not classifiable
    ex = np.zeros((1, T), bool)
    ex[0, 5] = True
    b = baseline_scores(ls, ex, _causal(1, T), "global", min_queries=16)
    np.testing.assert_allclose(b, 0.01)


def test_matched_baseline_and_fallback():
    T = 200
    ls = np.full((1, T), 0.01)
    ls[0, 150:] = 0.05  # late keys: n_queries 50..1
    nq = _causal(1, T)
    ex = np.zeros((1, T), bool)
    b = baseline_scores(ls, ex, nq, "matched", min_queries=16)
    # key 170 (n = 30): matched keys have n in [15, 60], classifiable ones 16..60 -> positions
    # 140..184: 10 at 0.01 and 35 at 0.05 -> median 0.05
    assert b[0, 170] == pytest.approx(0.05)
    # key 10 (n = 190): n in [95, 380] -> positions 0..105, all 0.01
    assert b[0, 10] == pytest.approx(0.01)
    # brute force for every key
    ok = nq[0] >= 16
    g = np.median(ls[0, ok])
    for t in range(T):
        sel = ok & (nq[0] >= nq[0, t] / 2) & (nq[0] <= nq[0, t] * 2)
        want = np.median(ls[0, sel]) if sel.sum() >= 8 else g
        assert b[0, t] == pytest.approx(want), t
    # key 198 (n = 2): no classifiable key within a factor 2 -> global median
    assert b[0, 198] == pytest.approx(g)


def test_matched_baseline_random_matches_bruteforce():
    rng = np.random.default_rng(3)
    L, T = 3, 90
    ls = rng.random((L, T))
    nq = _causal(L, T)
    nq[1] = np.minimum(nq[1], 20)  # a sliding-window layer
    ex = rng.random((L, T)) < 0.2
    b = baseline_scores(ls, ex, nq, "matched", min_queries=4)
    ok = nq.min(0) >= 4
    for layer in range(L):
        pool = ok & ~ex[layer]
        g = np.median(ls[layer, pool])
        for t in range(T):
            n = nq[layer, t]
            sel = pool & (nq[layer] >= n / 2) & (nq[layer] <= 2 * n)
            want = np.median(ls[layer, sel]) if sel.sum() >= 8 else g
            assert b[layer, t] == pytest.approx(want)


def test_empty_pool_is_nan():
    ls = np.ones((2, 5))
    ex = np.zeros((2, 5), bool)
    ex[0] = True
    b = baseline_scores(ls, ex, np.full((2, 5), 100), "global")
    assert np.isnan(b[0]).all() and (b[1] == 1).all()


def test_bad_inputs():
    with pytest.raises(InputError):
        baseline_scores(np.ones((2, 5)), np.zeros((2, 4), bool), np.ones((2, 5)))
    with pytest.raises(InputError):
        baseline_scores(np.ones((2, 5)), np.zeros((2, 5), bool), np.ones((2, 5)), "mean")
