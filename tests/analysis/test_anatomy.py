"""Anatomy of formation (METHOD.md §9): planted directions through toy MLPs, the probe, the wrapper on a
random-init model, the errors, and SmolLM2 end to end (`realmodel`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.analysis.anatomy import (
    CURVE_COLUMNS,
    DIRECTION_COLUMNS,
    PC_COLUMNS,
    AnatomyConfig,
    anatomy,
    anatomy_core,
    birth_layer_counts,
    linear_probe,
    resolve_layer,
)
from sinkscope.capture.trace import CaptureSettings, Trace
from sinkscope.core.errors import InputError

from .synth import make_trace, spec24
from .test_properties import smol_long_scan

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


def test_save_writes_tables_atomically(tmp_path):
    _, _, f, xs, xn, xp, mp = planted_case()
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=3))
    out = r.save(tmp_path / "a", extra=lambda d: (d / "extra.txt").write_text("x"))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["anatomy.json", "curves.parquet", "directions.parquet", "extra.txt", "pcs.parquet", "samples.parquet"]
    js = json.loads((out / "anatomy.json").read_text())
    assert js["summary"]["n_effective"] == 1 and js["config"]["n_pcs"] == 3
    pd.testing.assert_frame_equal(pd.read_parquet(out / "directions.parquet"), r.directions)
    with pytest.raises(InputError, match="already exists"):
        r.save(out)

    def boom(d):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        r.save(tmp_path / "b", extra=boom)
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.tmp-*"))


# ---- the wrapper: errors on a synthetic run (no model needed) ---------------------------------------------
def synthetic_run():
    from sinkscope.workflows.scan import ScanResult

    pt = make_trace(spec24())
    cfg = DetectConfig()
    return ScanResult(Trace([pt], CaptureSettings()), analyze([pt], cfg, n_boot=50), cfg,
                      {"model": {"ref": "synthetic", "n_layers": 24, "hidden_size": 64}})


def test_layer_errors_name_the_birth_layers():
    res = synthetic_run()
    counts = birth_layer_counts(res.sinks)
    assert counts == {0: 1, 6: 1, 7: 1, 8: 1, 10: 1}
    with pytest.raises(InputError, match=r"out of range: the model has blocks 0\.\.23"):
        anatomy(None, res, layer=24)
    with pytest.raises(InputError, match="out of range"):
        anatomy(None, res, layer=-1)
    with pytest.raises(InputError, match=r"no secondary sinks are born at block 3.*0 \(1 sink\), 6 \(1 sink\), 7 \(1 sink\)"):
        anatomy(None, res, layer=3)
    assert resolve_layer(res, None) == 0  # all tied: the earliest
    with pytest.raises(InputError, match="unknown option"):
        anatomy(None, res, layer=6, n_pc=3)


def test_run_dir_not_found(tmp_path):
    with pytest.raises(InputError, match="not found"):
        anatomy(None, tmp_path / "nope", layer=2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        anatomy(None, tmp_path / "file", layer=2)


# ---- the wrapper end to end on a random-init model ------------------------------------------------------
def _toy_run(model_type: str = "llama", seed: int = 0):
    """A real capture of a random-init model; two 'a' positions are declared secondary sinks born at
    block 1 (random models have none), so the wrapper can be run end to end."""
    import sinkscope
    from sinkscope.models.base import LoadedModel
    from tests.capture.archs import ToyTokenizer, build

    lm = LoadedModel.from_pair(build(model_type, seed=seed), ToyTokenizer(), ref=f"random-{model_type}")
    text = "xyz a bcd a efg a hij a klm a nop a qrs a tuv a wxy a zab a cde a fgh a " * 2
    res = sinkscope.scan(lm, text, min_queries=1)
    pt = res.prompts[0]
    det = res.findings.detections[0]
    a_id = ToyTokenizer()("a")["input_ids"][0]
    a_pos = [int(t) for t in np.flatnonzero(pt.token_ids == a_id) if not det.sink_like[:, t].any() and t != det.p]
    chosen = a_pos[:2]
    sinks = res.findings.sinks
    rows = []
    for t in chosen:
        row = {c: sinks[c].iloc[0] for c in sinks.columns}
        row.update(prompt=0, position=t, token=pt.tokens[t], token_id=a_id, kind="secondary", birth=1, death=2,
                   lifetime=2, is_primary_position=False)
        rows.append(row)
    res.findings.sinks = pd.concat([sinks, pd.DataFrame(rows)], ignore_index=True)
    return lm, res, chosen, a_pos


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_wrapper_on_a_random_model(model_type):
    lm, res, chosen, a_pos = _toy_run(model_type)
    r = anatomy(lm, res, layer=1, n_pcs=3, probe_folds=2)
    assert r.layer == 1 and r.n_sink == 2
    assert r.n_non_sink == len(a_pos) - 2  # every other never-sink-like "a"
    smp = r.samples
    assert smp.loc[smp["group"] == "sink", "position"].tolist() == chosen
    assert set(smp["token_id"]) == {int(res.prompts[0].token_ids[chosen[0]])}
    # the probe's MLP outputs are the scan's, and f(x) reproduces them
    np.testing.assert_allclose(smp["mlp_norm"], smp["scan_mlp_norm"], rtol=1e-4)
    assert r.meta["max_rel_mlp_norm_error"] < 1e-4
    assert r.meta["m_primary_source"] == "scan mlp_cand"
    assert r.meta["prompts"] == [0] and r.meta["primary_positions"] == [res.findings.detections[0].p]
    assert len(r.pcs) == 3 and len(r.curves) == 6 * len(r.config.alphas)
    assert np.isfinite(r.curves["out_norm"]).all()


def test_wrapper_refuses_another_model():
    _, res, _, _ = _toy_run("llama")
    other, _, _, _ = _toy_run("llama", seed=5)
    with pytest.raises(InputError, match="another model"):
        anatomy(other, res, layer=1)
    gem, _, _, _ = _toy_run("gemma3_text")
    res.manifest["model"]["hidden_size"] = 128
    with pytest.raises(InputError, match="pass the model the run was made with"):
        anatomy(gem, res, layer=1)


# ---- real weights -------------------------------------------------------------------------------------
@pytest.mark.realmodel
def test_smollm2_anatomy_at_the_birth_layer(smollm2, long_text, tmp_path):
    import sinkscope

    res = smol_long_scan(smollm2, long_text)
    counts = birth_layer_counts(res.sinks)
    b = resolve_layer(res, None)
    assert b == 2  # SmolLM2's secondary sinks are born at block 2 (METHOD.md reference numbers)
    r = sinkscope.anatomy(smollm2, res, layer=b)
    assert r.n_sink == counts[b] and r.n_non_sink > r.n_sink
    assert r.meta["max_rel_mlp_norm_error"] < 1e-3
    # seen: the MLP maps the sinks' inputs onto the primary's MLP output, the others' not
    assert r.contrast.sink_mlp_cos > 0.9 > r.contrast.non_sink_mlp_cos
    assert r.contrast.cos_mlp_shift > 0.9
    assert r.probe is not None and r.probe.method == "stratified-k-fold"
    assert 0.5 <= r.probe.balanced_accuracy <= 1.0
    eff = r.effective
    assert len(eff) >= 1 and (eff["sign"] == 1).all()
    assert (eff["cos_primary_mlp"] > r.config.threshold).all()
    print("\nSmolLM2 §9 at block", b, json.dumps(r.summary(), indent=1))
    print(r.pcs.head(5).to_string(index=False))

    # the CLI on the saved run
    from typer.testing import CliRunner

    from sinkscope.cli import app

    run = res.save(tmp_path / "run")
    runner = CliRunner()
    out = runner.invoke(app, ["anatomy", str(run), "--layer", "5"])
    assert out.exit_code == 1 and "no secondary sinks are born at block 5" in out.output
    assert "block(s) 2 (" in out.output
    out = runner.invoke(app, ["anatomy", str(tmp_path / "missing"), "--layer", "2"])
    assert out.exit_code == 1 and "not found" in out.output
    out = runner.invoke(app, ["anatomy", str(run), "--layer", "30"])
    assert out.exit_code == 1 and "out of range" in out.output
    out = runner.invoke(app, ["anatomy", str(run), "--layer", "2", "--pcs", "4", "--alphas", "0,1,2"])
    assert out.exit_code == 0, out.output
    d = run / "anatomy-b2"
    for name in ("anatomy.json", "pcs.parquet", "curves.parquet", "directions.parquet", "samples.parquet",
                 "properties.parquet", "properties_summary.parquet", "anatomy.html", "anatomy.png", "anatomy.svg",
                 "properties.png", "properties.svg"):
        assert (d / name).is_file(), name
    page = (d / "anatomy.html").read_text()
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert json.loads((d / "anatomy.json").read_text())["layer"] == 2


def test_contrast_subsample_and_missing_contrast():
    lm, res, chosen, a_pos = _toy_run("llama")
    r = anatomy(lm, res, layer=1, n_pcs=2, max_non_sink=5, probe_folds=2)
    assert r.n_non_sink == 5 and r.meta["n_non_sink_available"] == len(a_pos) - 2
    again = anatomy(lm, res, layer=1, n_pcs=2, max_non_sink=5, probe_folds=2)
    assert again.samples["position"].tolist() == r.samples["position"].tolist()  # seeded
    # declare every other "a" a sink too: nothing is left to contrast with
    sinks = res.findings.sinks
    extra = sinks[sinks["position"] == chosen[0]].copy()
    rows = []
    for t in a_pos[2:]:
        row = extra.copy()
        row["position"] = t
        rows.append(row)
    res.findings.sinks = pd.concat([sinks, *rows], ignore_index=True)
    with pytest.raises(InputError, match="no contrast tokens"):
        anatomy(lm, res, layer=1)


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
