"""Anatomy on a scan (`sinkscope.workflows.anatomy`, docs/method.md §9): the run-only errors, the
workflow end to end on random-init models (gathering through the probe hooks, the consistency
check, the contrast subsample, saving), and SmolLM2 with the CLI (`realmodel`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sinkscope
from sinkscope.analysis import DetectConfig, analyze
from sinkscope.analysis.anatomy import AnatomyConfig, AnatomyResult, anatomy_core, birth_layer_counts
from sinkscope.capture.trace import CaptureSettings, Trace
from sinkscope.core.errors import InputError
from sinkscope.workflows.anatomy import AnatomyRun, anatomy, resolve_layer, save_anatomy
from sinkscope.workflows.scan import ScanResult
from tests.analysis.synth import make_trace, spec24
from tests.analysis.test_anatomy import planted_case
from tests.analysis.test_properties import smol_long_scan


def test_package_root_points_at_the_workflow():
    assert sinkscope.anatomy is anatomy


# ---- the wrapper: errors on a synthetic run (no model needed) ---------------------------------------------
def synthetic_run():
    pt = make_trace(spec24())
    cfg = DetectConfig()
    return ScanResult(Trace([pt], CaptureSettings()), analyze([pt], cfg, n_boot=50),
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


def test_save_writes_tables_atomically(tmp_path):
    _, _, f, xs, xn, xp, mp = planted_case()
    r = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=3))
    out = save_anatomy(r, tmp_path / "a", extra=lambda d: (d / "extra.txt").write_text("x"))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["anatomy.json", "curves.parquet", "directions.parquet", "extra.txt", "pcs.parquet", "samples.parquet"]
    js = json.loads((out / "anatomy.json").read_text())
    assert js["summary"]["n_effective"] == 1 and js["config"]["n_pcs"] == 3
    assert js == json.loads(json.dumps(r.to_dict()))
    for name, frame in r.to_frames().items():
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), frame)
    with pytest.raises(InputError, match="already exists"):
        save_anatomy(r, out)

    def boom(d):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        save_anatomy(r, tmp_path / "b", extra=boom)
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.tmp-*"))


def test_run_result_saves_with_provenance(tmp_path):
    lm, res, chosen, _ = _toy_run("llama")
    r = anatomy(lm, res, layer=1, n_pcs=2, probe_folds=2)
    assert isinstance(r, AnatomyRun) and isinstance(r, AnatomyResult)
    out = r.save(tmp_path / "a")
    js = json.loads((out / "anatomy.json").read_text())
    assert js["layer"] == 1 and js["meta"]["model"] == "random-llama" and js["meta"]["prompts"] == [0]
    smp = pd.read_parquet(out / "samples.parquet")
    assert list(smp.columns) == [
        "prompt", "position", "token", "token_id", "group", "mlp_norm", "mlp_cos_primary", "scan_mlp_norm",
    ]
    assert smp.loc[smp["group"] == "sink", "position"].tolist() == chosen
    r.save(out, overwrite=True)
    with pytest.raises(InputError, match="already exists"):
        r.save(out)


def test_run_folder_is_loaded_and_config_or_options(tmp_path):
    lm, res, _, _ = _toy_run("llama")
    # the saved run is re-read from disk: its findings are the scan's (a random model has no
    # secondary sinks; the two declared in `_toy_run` are an in-memory edit)
    run = sinkscope.scan(lm, "xyz a bcd a efg a hij a", min_queries=1).save(tmp_path / "run")
    assert resolve_layer(res, None) == 1
    with pytest.raises(InputError, match="no secondary sinks at all"):
        anatomy(lm, run)
    with pytest.raises(InputError, match="either `config` or option keywords"):
        anatomy(lm, res, layer=1, config=AnatomyConfig(), n_pcs=2)
    cfg = AnatomyConfig(n_pcs=2, probe_folds=2, alphas=(0, 1))
    r = anatomy(lm, res, config=cfg)  # layer None: the birth layer with the most sinks
    assert r.layer == 1 and r.config is cfg and r.meta["run_dir"] is None
    assert set(r.curves["alpha"]) == {0.0, 1.0}


# ---- real weights -------------------------------------------------------------------------------------
@pytest.mark.realmodel
def test_smollm2_anatomy_at_the_birth_layer(smollm2, long_text, tmp_path):
    res = smol_long_scan(smollm2, long_text)
    counts = birth_layer_counts(res.sinks)
    b = resolve_layer(res, None)
    assert b == 2  # SmolLM2's secondary sinks are born at block 2 (docs/method.md reference numbers)
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


