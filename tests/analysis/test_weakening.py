import numpy as np
import pandas as pd
import pytest

from sinkscope.analysis import DetectConfig, detect, layer_table, pooled_layer_table, weakening
from sinkscope.analysis.weakening import LAYER_COLUMNS
from sinkscope.core.errors import InputError

from .synth import make_trace, primary_profile, run, spec24, spec40


@pytest.fixture(scope="module")
def table24():
    spec = spec24()
    pt = make_trace(spec)
    det = detect(pt, DetectConfig())
    return spec, det, layer_table(pt, det)


def test_layer_table(table24):
    spec, _, tab = table24
    assert list(tab.columns) == [*LAYER_COLUMNS, "attention"]  # docs/method.md §11
    assert len(tab) == 24
    np.testing.assert_allclose(tab["primary_score"], primary_profile(spec), rtol=1e-5)
    # head factors 0.4, 0.8, 1.2, 1.6 x 0.6 -> 0.48, 0.72, 0.96 > 0.3 -> 3 of 4 (0.24 no)
    assert tab.loc[5, "primary_head_fraction"] == pytest.approx(0.75)
    assert tab["primary_norm"].tolist()[2:4] == [60.0, 2000.0]
    assert tab["in_window"].tolist() == [3 <= l < 20 for l in range(24)]
    # secondary births: 6, 8, 10, 7, 0
    births = np.zeros(24, int)
    births[[0, 6, 7, 8, 10]] = 1
    assert tab["births"].tolist() == births.tolist()
    # layer 8: alive 20 (6-11), 35 (8-15), 64 (7-9,11-13) -> 0.10 + 0.18 + 0.22
    assert tab.loc[8, "n_secondary_alive"] == 3
    assert tab.loc[8, "secondary_mass"] == pytest.approx(0.50, rel=1e-5)
    # layer 10: 20, 35, 50 (64 has its gap there)
    assert tab.loc[10, "n_secondary_alive"] == 3
    assert tab.loc[10, "secondary_mass"] == pytest.approx(0.10 + 0.18 + 0.14, rel=1e-5)


def test_weakening_dip_at_planted_layer(table24):
    _, _, tab = table24
    w = weakening(tab)
    assert w.reference_layers == (3, 9)  # first third of the 17-layer window: ceil(17/3) = 6
    assert w.plateau == pytest.approx(0.6, rel=1e-5) and w.plateau_layer == 3
    assert w.dip_layer == 11
    assert w.dip_ratio == pytest.approx(0.25, rel=1e-4)
    assert w.weakened and w.weakened_layers == (10, 11, 12)
    # births 0, 6, 7, 8, 10: only 10 lies within layers 9..13
    assert w.n_births == 5
    assert w.coincides_with_births == pytest.approx(0.2)
    assert w.reason is None


def test_births_at_dip_coincide():
    spec = spec24(plants=[run(20, 10, 6, 0.1), run(22, 11, 6, 0.1), run(24, 12, 5, 0.1)])
    pt = make_trace(spec)
    det = detect(pt)
    w = weakening(layer_table(pt, det))
    assert w.coincides_with_births == pytest.approx(1.0)


def test_no_dip():
    spec = spec40(dip_layer=None)
    pt = make_trace(spec)
    w = weakening(layer_table(pt, detect(pt)))
    assert w.dip_ratio == pytest.approx(1.0)
    assert not w.weakened and w.weakened_layers == ()
    assert w.coincides_with_births == 0.0


def test_no_window_information_uses_first_third():
    tab = pd.DataFrame(
        {
            "layer": np.arange(12),
            "primary_score": [0.5, 0.6, 0.5, 0.5, 0.5, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            "births": [0] * 5 + [2] + [0] * 6,
            "in_window": [False] * 12,
        }
    )
    w = weakening(tab)
    assert w.reference_layers == (0, 4)
    assert w.plateau_layer == 1 and w.dip_layer == 5
    assert w.weakened_layers == (5,) and w.coincides_with_births == 1.0


def test_pooled_table():
    t1 = make_trace(spec24())
    t2 = make_trace(spec24(dip_layer=13, seed=1))
    tabs = [layer_table(t, detect(t)) for t in (t1, t2)]
    pooled = pooled_layer_table(tabs)
    assert len(pooled) == 24 and (pooled["n_prompts"] == 2).all()
    np.testing.assert_allclose(
        pooled["primary_score"], (tabs[0]["primary_score"] + tabs[1]["primary_score"]) / 2
    )
    assert pooled["births_total"].sum() == 10
    w = weakening(pooled)
    assert w.dip_layer in (11, 12, 13)
    assert w.plateau == pytest.approx(0.6, rel=1e-5)
    with pytest.raises(InputError):
        pooled_layer_table([tabs[0], tabs[0].iloc[:10]])
    with pytest.raises(InputError):
        pooled_layer_table([])
