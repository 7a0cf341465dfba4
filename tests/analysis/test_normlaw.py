import numpy as np
import pandas as pd
import pytest

from sinkscope.analysis import DetectConfig, detect, formation_columns, isotonic_fit, norm_law
from sinkscope.core.errors import InputError

from .synth import make_trace, spec24


def _df(x, s, life, kind="secondary"):
    return pd.DataFrame({"mlp_norm": x, "mean_score": s, "lifetime": life, "kind": kind})


def test_planted_monotone_law():
    x = np.arange(1.0, 21.0)
    df = _df(x, 0.01 * x**2, np.floor(x / 2) + 5)
    nl = norm_law(df)
    assert nl.n == 20 and nl.reason is None
    assert nl.score.spearman == pytest.approx(1.0)
    assert nl.score.spearman_ci == pytest.approx((1.0, 1.0))
    assert 0.9 < nl.score.pearson < 1.0
    lo, hi = nl.score.pearson_ci
    assert lo <= nl.score.pearson <= hi <= 1.0 and lo > 0.8
    assert 0.9 < nl.lifetime.spearman <= 1.0
    lo, hi = nl.lifetime.spearman_ci
    assert lo <= nl.lifetime.spearman <= hi
    # the isotonic fit of a monotone law is exact, the log-log slope recovers the exponent 2
    assert nl.fit_score.r2 == pytest.approx(1.0)
    assert nl.fit_score.loglog_slope == pytest.approx(2.0)
    assert nl.fit_score.predict(4.0) == pytest.approx(0.16)


def test_deterministic_and_seeded():
    rng = np.random.default_rng(0)
    x = rng.random(30)
    df = _df(x, x + rng.normal(0, 0.3, 30), rng.integers(5, 10, 30))
    a, b = norm_law(df), norm_law(df)
    assert a == b
    c = norm_law(df, seed=1)
    assert c.score.pearson == a.score.pearson
    assert c.score.pearson_ci != a.score.pearson_ci


def test_only_secondaries_used():
    df = pd.concat(
        [
            _df([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [5, 6, 7, 8]),
            _df([10.0, 20.0], [0.0, -5.0], [1, 1], kind="noise"),
        ]
    )
    nl = norm_law(df)
    assert nl.n == 4 and nl.score.spearman == pytest.approx(1.0)


def test_too_few_and_constant():
    nl = norm_law(_df([1.0, 2.0], [1.0, 2.0], [5, 6]))
    assert nl.n == 2 and np.isnan(nl.score.spearman) and np.isnan(nl.score.pearson_ci[0])
    assert "at least 3" in nl.reason
    nl = norm_law(_df([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5, 5, 5]))
    assert np.isnan(nl.lifetime.spearman) and nl.lifetime.reason == "all 3 lifetime values are equal"
    assert nl.score.spearman == pytest.approx(1.0)
    # three points on a line: every resample ranks them the same way, so the interval collapses
    assert nl.score.spearman_ci == (1.0, 1.0) and nl.score.ci_note.startswith("n = 3, interval not informative")
    with pytest.raises(InputError, match="formation_columns"):
        norm_law(pd.DataFrame({"mean_score": [1.0], "lifetime": [1]}))


def test_isotonic_pav():
    x = np.array([1, 2, 3, 4, 5, 6], float)
    y = np.array([1, 3, 2, 4, 4, 3], float)
    xs, fit = isotonic_fit(x, y)
    np.testing.assert_allclose(fit, [1, 2.5, 2.5, 11 / 3, 11 / 3, 11 / 3])
    # ties in x are pooled
    xs, fit = isotonic_fit(np.array([2.0, 1.0, 1.0]), np.array([5.0, 0.0, 2.0]))
    np.testing.assert_allclose(xs, [1, 1, 2])
    np.testing.assert_allclose(fit, [1, 1, 5])


def test_on_detected_synthetic_trace():
    pt = make_trace(spec24())
    det = detect(pt, DetectConfig())
    nl = norm_law(formation_columns(det.records, pt, det.p))
    assert nl.n == 5
    assert nl.score.spearman == pytest.approx(1.0)
    assert nl.score.pearson == pytest.approx(1.0, abs=1e-6)
