"""Anatomy of formation, the model-free part (docs/method.md §9): planted directions through toy MLPs,
the scikit-learn probe (against the objective its docstring states), the config, the errors, the
birth layers of a sinks table, and the report fragment of a core result. The workflow on a model is
tests/workflows/test_anatomy.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.analysis.anatomy import (
    CURVE_COLUMNS,
    DIRECTION_COLUMNS,
    PC_COLUMNS,
    AnatomyConfig,
    anatomy_core,
    birth_layer_counts,
    linear_probe,
    probe_model,
    resolve_birth_layer,
)
from sinkscope.core.errors import InputError

from .synth import make_trace, spec24

D = 24
N_SINK, N_NON = 12, 60


def _unit(v):
    return v / np.linalg.norm(v)


def planted_inputs(seed: int = 0, shift: float = 3.0, n_sink: int = N_SINK, n_non: int = N_NON):
    """Non-sink inputs ~ c + 0.1 N(0, I) (||c|| = 0.5); sinks = the same plus `shift` along a planted
    unit direction e."""
    rng = np.random.default_rng(seed)
    e = _unit(rng.normal(size=D))
    c = rng.normal(size=D)
    c = 0.5 * _unit(c - (c @ e) * e)  # the common part has no component along e
    x_non = c + 0.1 * rng.normal(size=(n_non, D))
    x_sink = c + 0.1 * rng.normal(size=(n_sink, D)) + shift * e
    return e, c, x_sink, x_non


def toy_mlp(e: np.ndarray, m_dir: np.ndarray, seed: int = 1):
    """f(x) = 10 relu(x.e - 1.5) m_dir + 0.1 tanh(R x): only the planted input direction e writes the
    primary's output direction m_dir; everything else goes to directions orthogonal to m_dir."""
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(D, D)) / np.sqrt(D)
    P = np.eye(D) - np.outer(m_dir, m_dir)  # outputs of the tanh part are orthogonal to m_dir

    def f(x):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        gate = np.maximum(x @ e - 1.5, 0.0)
        return 10.0 * gate[:, None] * m_dir[None, :] + 0.1 * np.tanh(x @ R.T) @ P

    return f


def planted_case(**kw):
    e, c, xs, xn = planted_inputs(**kw)
    m_dir = _unit(np.random.default_rng(7).normal(size=D))
    f = toy_mlp(e, m_dir)
    x_primary = c + 3.0 * e  # the primary reads the planted direction too
    m_primary = 50.0 * m_dir
    return e, m_dir, f, xs, xn, x_primary, m_primary


def test_planted_direction_is_the_only_effective_one():
    _, _, f, xs, xn, xp, mp = planted_case()
    cfg = AnatomyConfig(n_pcs=5)
    r = anatomy_core(xs, xn, f, xp, mp, cfg, layer=3)
    assert r.layer == 3 and r.n_sink == N_SINK and r.n_non_sink == N_NON
    assert list(r.pcs.columns) == list(PC_COLUMNS)
    assert list(r.curves.columns) == list(CURVE_COLUMNS)
    assert list(r.directions.columns) == list(DIRECTION_COLUMNS)
    assert len(r.pcs) == 5 and len(r.directions) == 10
    assert len(r.curves) == 10 * len(cfg.alphas)
    # PC1 is the planted direction, oriented towards the sinks, and carries the difference
    pc1 = r.pcs.iloc[0]
    assert pc1["diff_cos"] > 0.95 and pc1["diff_share"] > 0.9
    assert (r.pcs["diff_cos"] >= 0).all()
    assert r.pcs["explained_ratio"].is_monotonic_decreasing
    # exactly +PC1 is effective, at |cos| > 0.98 with the primary's MLP output
    eff = r.effective
    assert eff["direction"].tolist() == ["+PC1"]
    assert eff.iloc[0]["cos_primary_mlp"] > 0.98 and eff.iloc[0]["alpha"] > 0
    minus = r.directions.set_index("direction").loc["-PC1"]
    assert not minus["effective"] and minus["max_abs_cos"] < 0.5
    # the contrast points along the primary's input direction and f maps it onto m_p
    assert r.contrast.cos_diff_primary > 0.7
    assert r.contrast.cos_mlp_shift > 0.98
    assert r.contrast.sink_mlp_cos > 0.98 and abs(r.contrast.non_sink_mlp_cos) < 0.2
    # the probe separates the two sets perfectly on held-out folds
    assert r.probe is not None and r.probe.method == "stratified-k-fold" and r.probe.n_folds == 5
    assert r.probe.accuracy == 1.0 and r.probe.balanced_accuracy == 1.0
    assert r.probe.chance == pytest.approx(N_NON / (N_SINK + N_NON))
    assert r.probe.cos_diff > 0.5
    # alpha = 0 is the same base point for every direction
    base = r.curves[r.curves["alpha"] == 0]
    assert base["out_norm"].nunique() == 1 and base["cos_delta"].isna().all()
    s = r.summary()
    assert s["n_effective"] == 1 and s["effective"][0]["direction"] == "+PC1"
    assert s["effective_diff_share"] == pytest.approx(pc1["diff_share"])
    json.dumps(r.to_dict())  # JSON-safe


def test_the_recovered_direction_is_the_planted_one():
    """Effective direction u (PC1) ~ e: pushing +u through f writes m_dir."""
    e, _, f, xs, xn, xp, mp = planted_case(seed=4)
    X = np.concatenate([xs, xn])
    _, _, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=3))
    u = Vt[0] * np.sign(Vt[0] @ (xs.mean(0) - xn.mean(0)))
    assert abs(u @ e) > 0.95
    assert r.pcs.iloc[0]["cos_primary_input"] == pytest.approx(float(u @ xp / np.linalg.norm(xp)), abs=1e-9)


def test_planted_direction_found_behind_a_larger_nuisance_direction():
    """A nuisance direction g (orthogonal to e) with more variance than the sink shift becomes PC1;
    the planted direction is then +PC2, and it alone is effective and explains the difference."""
    e, _, f, xs, xn, xp, mp = planted_case()
    rng = np.random.default_rng(11)
    g = rng.normal(size=D)
    g = _unit(g - (g @ e) * e)
    xs = xs + 4.0 * rng.normal(size=(len(xs), 1)) * g
    xn = xn + 4.0 * rng.normal(size=(len(xn), 1)) * g
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=4))
    assert r.pcs.iloc[0]["explained_ratio"] > r.pcs.iloc[1]["explained_ratio"]
    assert r.effective["direction"].tolist() == ["+PC2"]
    assert r.pcs.set_index("pc").loc[2, "diff_share"] > r.pcs.set_index("pc").loc[1, "diff_share"]


def test_mlp_that_never_writes_the_primary_direction_has_no_effective_direction():
    _, m_dir, _, xs, xn, xp, mp = planted_case()
    rng = np.random.default_rng(3)
    R = rng.normal(size=(D, D))
    P = np.eye(D) - np.outer(m_dir, m_dir)
    r = anatomy_core(xs, xn, lambda x: np.tanh(np.atleast_2d(x) @ R.T) @ P, xp, mp, AnatomyConfig(n_pcs=5))
    assert not r.directions["effective"].any()
    assert r.directions["max_abs_cos"].max() < 0.1
    assert r.summary()["effective"] == []


def test_probe_is_at_chance_without_a_difference():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(20, 8))
    xn = rng.normal(size=(40, 8))
    p = linear_probe(xs, xn, folds=5, seed=0)
    assert p is not None and p.balanced_accuracy < 0.75
    again = linear_probe(xs, xn, folds=5, seed=0)
    assert again.accuracy == p.accuracy  # seeded


def test_probe_small_classes_use_leave_one_out_or_nothing():
    _, _, f, xs, xn, xp, mp = planted_case(n_sink=3)
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=2))
    assert r.probe.method == "leave-one-out" and r.probe.n_folds == 3 + N_NON
    assert r.probe.accuracy == 1.0
    one = anatomy_core(xs[:1], xn, f, xp, mp, AnatomyConfig(n_pcs=2))
    assert one.probe is None and "2 samples per class" in one.probe_reason
    assert one.summary()["probe_accuracy"] is None


def test_effective_at_largest_and_alpha_units():
    _, _, f, xs, xn, xp, mp = planted_case()
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=2, effective_at="largest", alpha_unit="pc_std"))
    top = r.directions.set_index("direction").loc["+PC1"]
    assert top["alpha"] == max(r.config.alphas)
    assert top["cos_primary_mlp"] == top["cos_at_largest"]
    cur = r.curves[(r.curves["direction"] == "+PC1")]
    std = r.pcs.iloc[0]["std"]
    np.testing.assert_allclose(cur["step"], cur["alpha"] * std)
    ab = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=1, alpha_unit="absolute", alphas=(0, 1, 5)))
    np.testing.assert_allclose(ab.curves["step"], ab.curves["alpha"])


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(alphas=(0.0,)), "alphas"),
        (dict(alphas=(-1.0, 1.0)), "alphas"),
        (dict(threshold=1.5), "threshold"),
        (dict(n_pcs=0), "n_pcs"),
        (dict(alpha_unit="sd"), "alpha_unit"),
        (dict(contrast="all"), "contrast"),
        (dict(probe_folds=1), "probe_folds"),
    ],
)
def test_config_validation(kw, match):
    with pytest.raises(InputError, match=match):
        AnatomyConfig(**kw)


def test_core_input_errors():
    _, _, f, xs, xn, xp, mp = planted_case()
    with pytest.raises(InputError, match="at least one sink"):
        anatomy_core(xs[:0], xn, f, xp, mp)
    with pytest.raises(InputError, match="length D"):
        anatomy_core(xs, xn, f, xp[:-1], mp)


def test_probe_objective_is_the_documented_one():
    """probe_model(l2) minimises sum_i w_i logloss_i / sum_i w_i + l2 / 2 ||beta||^2 / n on z-scored
    inputs (w = balanced class weights, intercept unpenalised): the same optimum as a direct
    minimisation of that objective."""
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(size=(15, 6)) + 0.7, rng.normal(size=(45, 6))])
    y = np.concatenate([np.ones(15, int), np.zeros(45, int)])
    Z = (X - X.mean(0)) / X.std(0)
    n = len(y)
    w = np.where(y == 1, n / (2.0 * 15), n / (2.0 * 45))
    s = 2.0 * y - 1.0
    for l2 in (0.3, 1.0, 10.0):

        def loss(theta, l2=l2):
            z = Z @ theta[:-1] + theta[-1]
            return (w * np.logaddexp(0.0, -s * z)).sum() / w.sum() + 0.5 * l2 * theta[:-1] @ theta[:-1] / n

        ref = minimize(loss, np.zeros(7), method="BFGS", options={"gtol": 1e-10}).x
        fit = probe_model(l2).fit(X, y)[-1]
        np.testing.assert_allclose(fit.coef_[0], ref[:-1], atol=2e-3)
        assert fit.intercept_[0] == pytest.approx(ref[-1], abs=2e-3)
    # a stronger penalty shrinks the weights; l2 = 0 is an unpenalised fit
    norms = [np.linalg.norm(probe_model(l2).fit(X, y)[-1].coef_) for l2 in (0.0, 1.0, 100.0)]
    assert norms[0] > norms[1] > norms[2]


def test_probe_folds_and_direction():
    e, _, _, xs, xn, xp, _ = planted_case()
    p = linear_probe(xs, xn, folds=4, seed=3, x_primary=xp)
    assert p.method == "stratified-k-fold" and p.n_folds == 4 and (p.n_sink, p.n_non_sink) == (N_SINK, N_NON)
    # the probe's input-space direction points from non-sinks to sinks (along the planted e)
    assert p.cos_diff > 0.5 and p.cos_primary_input > 0.3
    # a small class with many samples overall: k = its size (no leave-one-out above LOO_MAX)
    rng = np.random.default_rng(1)
    big = linear_probe(rng.normal(size=(3, 5)) + 2.0, rng.normal(size=(400, 5)), folds=5)
    assert big.method == "stratified-k-fold" and big.n_folds == 3
    assert big.chance == pytest.approx(400 / 403)


def test_to_frames_and_to_dict():
    _, _, f, xs, xn, xp, mp = planted_case()
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=3), layer=5)
    frames = r.to_frames()
    assert list(frames) == ["pcs", "curves", "directions", "samples"]
    assert frames["directions"] is r.directions and len(frames["samples"]) == N_SINK + N_NON
    assert r.samples["group"].tolist() == ["sink"] * N_SINK + ["non-sink"] * N_NON
    d = json.loads(json.dumps(r.to_dict()))
    assert d["layer"] == 5 and d["config"]["n_pcs"] == 3 and d["config"]["alphas"] == list(r.config.alphas)
    assert d["summary"]["n_effective"] == 1 and d["probe"]["method"] == "stratified-k-fold"


# ---- birth layers of a sinks table (no model needed) --------------------------------------------------------
def synthetic_sinks():
    return analyze([make_trace(spec24())], DetectConfig(), n_boot=50).sinks


def test_birth_layers_and_their_errors():
    sinks = synthetic_sinks()
    assert birth_layer_counts(sinks) == {0: 1, 6: 1, 7: 1, 8: 1, 10: 1}
    assert resolve_birth_layer(sinks, 24, None) == 0  # all tied: the earliest
    assert resolve_birth_layer(sinks, 24, 7) == 7
    more = sinks[sinks["birth"] != 0]
    assert resolve_birth_layer(pd.concat([more, more[more["birth"] == 8]]), 24, None) == 8  # the most sinks
    with pytest.raises(InputError, match=r"out of range: the model has blocks 0\.\.23"):
        resolve_birth_layer(sinks, 24, 24)
    with pytest.raises(InputError, match="out of range"):
        resolve_birth_layer(sinks, 24, -1)
    with pytest.raises(InputError, match="out of range"):
        resolve_birth_layer(sinks, 24, True)
    with pytest.raises(InputError, match=r"no secondary sinks are born at block 3.*0 \(1 sink\), 6 \(1 sink\), 7 \(1 sink\)"):
        resolve_birth_layer(sinks, 24, 3)
    none = sinks[sinks["kind"] != "secondary"]
    with pytest.raises(InputError, match="no secondary sinks at all"):
        resolve_birth_layer(none, 24, None)
    with pytest.raises(InputError, match="no secondary sinks at all"):
        resolve_birth_layer(none, 24, 2)


def test_html_fragment_and_figures(tmp_path):
    from sinkscope.report.anatomy_figures import write_anatomy_figures
    from sinkscope.report.anatomy_html import anatomy_html

    _, _, f, xs, xn, xp, mp = planted_case()
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=3), layer=3)
    frag = anatomy_html(r)
    assert frag.startswith("<section") and frag.endswith("</section>")
    assert frag.count("<svg") == 2 and "<script" not in frag
    assert "http" not in frag.replace("http://www.w3.org/2000/svg", "")
    assert "+PC1" in frag and "block 3" in frag
    none = anatomy_html(anatomy_core(xs[:1], xn, f, xp, mp, AnatomyConfig(n_pcs=2)))
    assert "2 samples per class" in none
    files = write_anatomy_figures(r, tmp_path)
    assert sorted(p.name for p in files) == ["anatomy.png", "anatomy.svg"]
    assert all(p.stat().st_size > 1000 for p in files)
