"""`ScanResult.load` / `reanalyze` keep every analysis threshold (AnalysisConfig), not the defaults."""

from __future__ import annotations

import json

import pytest

from sinkscope.analysis import AnalysisConfig, analyze
from sinkscope.workflows.scan import ScanResult
from tests.report.reportsynth import synthetic_result


def _custom(res: ScanResult) -> ScanResult:
    return res.reanalyze(levels_min_share=0.3, levels_tol=2, n_boot=37, seed=5, weak_frac=0.8, tau=0.85)


def test_reanalyze_applies_and_records_non_default_thresholds():
    res = synthetic_result((400,))
    assert res.config.n_boot == 200  # the config the findings were computed with
    out = _custom(res)
    cfg = out.config
    assert (cfg.levels_min_share, cfg.levels_tol, cfg.n_boot, cfg.seed, cfg.weak_frac, cfg.tau) == (0.3, 2, 37, 5, 0.8, 0.85)
    assert out.findings.config == cfg
    assert out.levels().min_share == 0.3 and out.levels().tol == 2
    assert out.norm_law().n_boot == 37 and out.norm_law().seed == 5
    assert out.findings.weakening.weak_frac == 0.8
    assert out.manifest["analysis"]["n_boot"] == 37 and out.manifest["thresholds"]["tau"] == 0.85
    # a second reanalyze keeps what the first one set (not the defaults)
    again = out.reanalyze(k=2.0)
    assert again.config.n_boot == 37 and again.config.levels_min_share == 0.3 and again.config.k == 2.0


def test_load_keeps_non_default_levels_and_bootstrap(tmp_path):
    out = _custom(synthetic_result((400,)))
    back = ScanResult.load(out.save(tmp_path / "run"))
    assert back.config == out.config
    assert back.levels().min_share == 0.3 and back.norm_law().n_boot == 37
    assert back.summary() == out.summary()
    assert "analysis_defaulted" not in back.manifest


def test_old_manifest_gets_documented_defaults_and_says_so(tmp_path):
    d = synthetic_result((300,)).save(tmp_path / "old")
    man = json.loads((d / "manifest.json").read_text())
    man.pop("analysis", None)  # a manifest from before the "analysis" key
    (d / "manifest.json").write_text(json.dumps(man))
    back = ScanResult.load(d)
    assert back.config.n_boot == AnalysisConfig().n_boot
    assert back.manifest["analysis_defaulted"] == sorted(AnalysisConfig().analysis_dict())


def test_analyze_keywords_override_and_are_recorded():
    res = synthetic_result((300,))
    f = analyze(res.prompts, AnalysisConfig.coerce(res.config, levels_min_share=0.5), n_boot=11)
    assert f.config.n_boot == 11 and f.config.levels_min_share == 0.5 and f.norm_law.n_boot == 11


def test_analyze_takes_the_levels_thresholds_from_the_config_only():
    """One source per setting: the levels thresholds are `AnalysisConfig` fields, not analyze() keywords."""
    res = synthetic_result((300,))
    with pytest.raises(TypeError):
        analyze(res.prompts, res.config, min_share=0.5)  # type: ignore[call-arg]
