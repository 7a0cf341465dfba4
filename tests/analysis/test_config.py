from dataclasses import FrozenInstanceError

import pytest

from sinkscope.analysis import AnalysisConfig, DetectConfig
from sinkscope.analysis.config import DEFAULTS, DETECT_FIELDS, ConfigError
from sinkscope.core.errors import InputError


def test_defaults_match_method():
    cfg = DetectConfig()
    d = cfg.to_dict()
    assert d == {
        "mode": "general",
        "tau": 0.9,
        "cosine": "raw",
        "n_candidates": 3,
        "min_queries": 16,
        "eps": 0.3,
        "paper_margin": 15,
        "paper_noise_max": 4,
        "min_lifetime": 5,
        "min_lifetime_frac": 0.15,
        "primary_cover": 0.9,
        "k": 3.0,
        "baseline": "matched",
    }
    assert DetectConfig.from_dict(d) == cfg


def test_frozen():
    cfg = DetectConfig()
    with pytest.raises(FrozenInstanceError):
        cfg.tau = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"tau": 0.0}, "tau"),
        ({"tau": 1.1}, "tau"),
        ({"tau": float("nan")}, "tau"),
        ({"eps": 0.0}, "eps"),
        ({"eps": 1.0}, "eps"),
        ({"k": 0}, "k"),
        ({"k": -1.0}, "k"),
        ({"min_lifetime": -1}, "min_lifetime"),
        ({"min_lifetime": 2.5}, "min_lifetime"),
        ({"paper_margin": -3}, "paper_margin"),
        ({"paper_noise_max": -1}, "paper_noise_max"),
        ({"n_candidates": 0}, "n_candidates"),
        ({"n_candidates": True}, "n_candidates"),
        ({"min_queries": 0}, "min_queries"),
        ({"primary_cover": 0.0}, "primary_cover"),
        ({"primary_cover": 1.5}, "primary_cover"),
        ({"min_lifetime_frac": -0.1}, "min_lifetime_frac"),
        ({"min_lifetime_frac": 1.1}, "min_lifetime_frac"),
        ({"mode": "full"}, "mode"),
        ({"cosine": "centered"}, "cosine"),
        ({"baseline": "median"}, "baseline"),
    ],
)
def test_validation_names_parameter(kw, name):
    with pytest.raises(InputError) as err:
        DetectConfig(**kw)
    msg = str(err.value)
    assert f"DetectConfig.{name}=" in msg
    assert "must be" in msg


def test_boundaries_accepted():
    DetectConfig(
        tau=1.0, min_lifetime=0, paper_margin=0, paper_noise_max=0, primary_cover=1.0, min_lifetime_frac=0.0
    )


def test_from_dict_unknown_key():
    with pytest.raises(InputError, match="unknown parameter"):
        DetectConfig.from_dict({"tau": 0.9, "bogus": 1})


def test_min_secondary_lifetime():
    cfg = DetectConfig()
    assert cfg.min_secondary_lifetime(24) == 5
    assert cfg.min_secondary_lifetime(33) == 5  # only L > 33 uses the fraction
    assert cfg.min_secondary_lifetime(40) == 6  # ceil(0.15 * 40) = 6
    assert cfg.min_secondary_lifetime(34) == 6  # ceil(5.1) = 6
    assert cfg.min_secondary_lifetime(80) == 12
    assert DetectConfig(min_lifetime=20).min_secondary_lifetime(80) == 20


# ---- AnalysisConfig: every analysis threshold ---------------------------------------------------


def test_analysis_config_extends_detect_config():
    cfg = AnalysisConfig()
    assert isinstance(cfg, DetectConfig)
    assert cfg.detect == DetectConfig() and cfg.detect_dict() == DetectConfig().to_dict()
    assert cfg.analysis_dict() == {
        "levels_min_share": 0.05, "levels_tol": 1, "n_boot": 2000, "seed": 0, "weak_frac": 0.5,
        "weak_middle": [0.25, 0.75], "massive_ratio": 100.0, "act_threshold": 0.1,
        "outcome_margin": 0.1,
    }
    assert set(cfg.to_dict()) == set(DETECT_FIELDS) | set(cfg.analysis_dict())
    assert AnalysisConfig.from_dict(cfg.to_dict()) == cfg  # JSON lists come back as tuples
    entries = cfg.manifest_entries()
    assert entries["mode"] == "general" and entries["thresholds"] == DetectConfig().to_dict()


def test_function_defaults_are_the_config_defaults():
    import inspect

    from sinkscope.analysis import act_heads, levels, massive_activations, norm_law, weakening

    assert inspect.signature(levels).parameters["min_share"].default == DEFAULTS.levels_min_share
    assert inspect.signature(levels).parameters["tol"].default == DEFAULTS.levels_tol
    assert inspect.signature(norm_law).parameters["n_boot"].default == DEFAULTS.n_boot
    assert inspect.signature(weakening).parameters["middle"].default == DEFAULTS.weak_middle
    assert inspect.signature(massive_activations).parameters["min_ratio"].default == DEFAULTS.massive_ratio
    assert inspect.signature(act_heads).parameters["threshold"].default == DEFAULTS.act_threshold


@pytest.mark.parametrize("kw, name", [
    ({"levels_min_share": 1.5}, "levels_min_share"),
    ({"levels_tol": -1}, "levels_tol"),
    ({"n_boot": 0}, "n_boot"),
    ({"seed": -1}, "seed"),
    ({"weak_frac": 0.0}, "weak_frac"),
    ({"weak_middle": (0.8, 0.2)}, "weak_middle"),
    ({"massive_ratio": 0}, "massive_ratio"),
    ({"act_threshold": 2.0}, "act_threshold"),
    ({"outcome_margin": 1.0}, "outcome_margin"),
    ({"tau": 0}, "tau"),
])
def test_analysis_config_validation_names_field(kw, name):
    with pytest.raises(ConfigError) as err:
        AnalysisConfig(**kw)
    assert err.value.field == name and f"AnalysisConfig.{name}=" in str(err.value)


def test_coerce_completes_a_detect_config_and_rejects_unknown_names():
    cfg = AnalysisConfig.coerce(DetectConfig(tau=0.8), n_boot=50)
    assert cfg.tau == 0.8 and cfg.n_boot == 50 and cfg.levels_tol == 1
    with pytest.raises(InputError, match="unknown parameter"):
        AnalysisConfig.coerce(cfg, bootstraps=3)


def test_from_manifest_records_what_was_defaulted():
    old = {"thresholds": DetectConfig(tau=0.7).to_dict()}  # a manifest written before "analysis"
    cfg, defaulted = AnalysisConfig.from_manifest(old)
    assert cfg.tau == 0.7 and cfg.n_boot == DEFAULTS.n_boot
    assert defaulted == sorted(AnalysisConfig().analysis_dict())
    new = {**old, "analysis": {**AnalysisConfig().analysis_dict(), "n_boot": 99}}
    cfg, defaulted = AnalysisConfig.from_manifest(new)
    assert cfg.n_boot == 99 and defaulted == []
    with pytest.raises(InputError, match="no \"thresholds\""):
        AnalysisConfig.from_manifest({"analysis": {}})
    with pytest.raises(InputError, match="unknown parameter"):
        AnalysisConfig.from_manifest({**old, "analysis": {"bogus": 1}})
