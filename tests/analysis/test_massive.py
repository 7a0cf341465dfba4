import numpy as np

from sinkscope.analysis import act_heads, massive_activations, top_activation_per_layer

from .synth import make_trace, spec24


def test_massive_activations():
    pt = make_trace(spec24())
    m = massive_activations(pt)
    prim = m[m["position"] == 0]
    assert prim["layer"].tolist() == list(range(3, 20))
    assert (prim["dim"] == 7).all() and (prim["ratio"] == 1500).all()
    assert prim["over_1000"].all() and prim["over_100"].all()
    sec = m[m["position"] == 20]
    assert sec["layer"].tolist() == list(range(6, 12))
    assert sec["over_100"].all() and not sec["over_1000"].any()
    assert m["ratio"].min() > 100
    # sorted by layer then ratio descending
    assert m["layer"].is_monotonic_increasing
    top = top_activation_per_layer(pt)
    assert len(top) == 24 and top.loc[5, "position"] == 0 and top.loc[5, "ratio"] == 1500


def test_act_heads():
    pt = make_trace(spec24())
    act = act_heads(pt)
    assert (act["position"] != 0).all()
    assert (act["n_queries"] >= 16).all()
    # position 20 has score 0.10 at layers 6-11: heads 2 (x1.2) and 3 (x1.6) exceed 0.1
    a20 = act[(act["position"] == 20) & (act["layer"] == 6)]
    assert a20["head"].tolist() == [2, 3]
    assert np.allclose(a20["score"], [0.12, 0.16])
    # the late key 124 (n_q = 4, score 0.5) is skipped
    assert 124 not in set(act["position"])
