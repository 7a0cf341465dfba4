"""`dose_response` (docs/method.md §4 (c) rescale, (d) induce) on a tiny model with a planted
secondary sink (see planted.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sinkscope.core.errors import InputError
from sinkscope.workflows.interventions import DOSE_COLUMNS, dose_response
from tests.workflows.interventions.planted import BIRTH, CFG, TEXT, planted_model


@pytest.fixture(scope="module")
def planted():
    lm, pos, handle = planted_model()
    yield lm, pos
    handle.remove()


def test_induce_dose_response(planted, tmp_path):
    lm, pos = planted
    t = pos + 6  # an ordinary token
    d = dose_response(lm, TEXT, layer=BIRTH, position=t, mode="induce", grid="0,5,20,80", config=CFG, out=tmp_path / "dose")
    tab = d.table
    assert list(tab.columns) == list(DOSE_COLUMNS) and tab["value"].tolist() == [0, 5, 20, 80]
    assert d.clean_kind == "none" and d.clean_lifetime == 0
    # ALPHA = 0 is the clean run exactly
    assert tab["score"].iloc[0] == d.clean_score and tab["lifetime"].iloc[0] == d.clean_lifetime
    # m'.u = m.u + ALPHA (u is a unit vector)
    proj0 = float(d.runs[0].targets["mlp_proj_before"].iloc[0])
    assert np.allclose(tab["mlp_proj"], proj0 + tab["value"], atol=1e-3)
    # a strong enough push along the primary direction makes the token sink-like where it was pushed
    assert tab["lifetime"].iloc[-1] >= 1
    assert d.runs[-1].intervened.findings.detections[0].scanned[BIRTH, t]
    for name in ("dose.parquet", "dose.json", "dose.png", "dose.svg", "clean/manifest.json"):
        assert (tmp_path / "dose" / name).exists(), name
    assert (tmp_path / "dose" / "dose.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "dose" / "dose.svg").read_text()[:2000]
    with pytest.raises(InputError, match="already exists"):
        dose_response(lm, TEXT, layer=BIRTH, position=t, grid=[0], config=CFG, out=tmp_path / "dose")


def test_rescale_dose_response_at_the_sink(planted):
    lm, pos = planted
    d = dose_response(lm, TEXT, layer=BIRTH, position=pos, mode="rescale", grid=[0, 2, 20], config=CFG)
    assert d.clean_kind == "secondary"
    assert np.allclose(d.table["mlp_norm"], [0, 2, 20], atol=1e-4)
    assert d.table["lifetime"].iloc[0] == 0  # norm 0: no sink
    assert d.table["lifetime"].iloc[-1] >= 1  # its own norm (~20): the sink is back
    assert d.monotone("lifetime")


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"mode": "steer"}, "allowed: induce, rescale"),
        ({"grid": "1,x"}, "not a comma-separated list of numbers"),
        ({"grid": []}, "grid is empty"),
        ({"mode": "rescale", "grid": [-1]}, "NORM must be >= 0"),
        ({"position": [1, 2]}, "one position"),
        ({"position": 999}, "position 999 is out of range"),
        ({"layer": 7}, "allowed: 0..2"),
    ],
)
def test_dose_bad_input(planted, kwargs, needle):
    lm, _ = planted
    with pytest.raises(InputError) as e:
        dose_response(lm, TEXT, **{"layer": BIRTH, "position": 3, "grid": [0, 1], **kwargs})
    assert needle in str(e.value)
