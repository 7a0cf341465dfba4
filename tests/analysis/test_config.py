from dataclasses import FrozenInstanceError

import pytest

from sinkscope.analysis import DetectConfig
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
