import json

import pytest

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.analysis.summary import Summary
from sinkscope.core.errors import InputError

from .synth import make_trace, spec18, spec24


@pytest.fixture(scope="module")
def findings():
    prompts = [make_trace(spec24()), make_trace(spec24(seed=1, p=1))]
    return analyze(prompts, DetectConfig(), n_boot=500)


def test_pooled_tables(findings):
    f = findings
    assert f.n_prompts == 2 and f.n_layers == 24
    assert f.sinks.columns[0] == "prompt"
    assert f.secondary.groupby("prompt").size().tolist() == [5, 5]
    assert "mlp_norm" in f.sinks.columns
    assert [d.p for d in f.detections] == [0, 1]
    assert len(f.layers) == 48 and set(f.layers["prompt"]) == {0, 1}
    assert len(f.layers_pooled) == 24
    assert f.massive["prompt"].nunique() == 2
    assert len(f.weakening_per_prompt) == 2


def test_summary(findings):
    typed = findings.summary()
    s = typed.to_dict()  # findings.json's "summary": the same keys as ever
    json.dumps(s)  # JSON-safe
    assert Summary.from_dict(s) == typed and findings.to_dict()["summary"] == s
    assert typed.n_secondary == 10 and typed.median("birth") == s["median_birth"] == 7.0
    assert typed.median("mlp_cos_primary") == s["median_mlp_cos"]
    assert [lv.level for lv in typed.levels] == [x["level"] for x in s["levels"]]
    with pytest.raises(KeyError, match="no median of 'token'"):
        typed.median("token")
    assert s["n_secondary"] == 10
    assert s["n_primary_like"] == 2  # position 3 in each prompt
    assert s["n_unclassified"] == 2
    assert s["median_birth"] == 7.0
    assert s["median_rel_birth"] == pytest.approx(7 / 23)  # birth / (L - 1)
    assert s["median_lifetime"] == 6.0
    assert s["median_mlp_cos_oriented"] == pytest.approx(0.98, rel=1e-6)
    assert s["spearman_norm_score"] == pytest.approx(1.0)
    lo, hi = s["spearman_norm_score_ci"]
    assert lo <= 1.0 <= hi + 1e-12
    assert s["dip_layer"] == 11 and s["weakened"] is True
    assert s["dip_ratio"] == pytest.approx(0.25, rel=1e-4)
    assert s["primary_positions"] == [0, 1]
    assert s["n_levels"] >= 1
    assert s["n_massive_layers"] == 17


def test_errors():
    with pytest.raises(InputError):
        analyze([])
    with pytest.raises(InputError, match="different numbers of layers"):
        analyze([make_trace(spec24()), make_trace(spec18())])


def test_paper_mode_runs_and_handles_no_secondaries():
    f = analyze([make_trace(spec18())], DetectConfig(mode="paper"), n_boot=100)
    s = f.summary()
    assert s.n_secondary == 0 and s.median("birth") is None
    assert s.spearman_norm_score is None and s.norm_law_reason
    assert s.n_levels == 0


def test_to_dict_is_json_after_nan_mapping(findings):
    import math

    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x

    d = findings.to_dict()
    text = json.dumps(clean(d), allow_nan=False)
    assert '"levels"' in text
    assert d["prompts"][1]["p"] == 1 and d["prompts"][0]["window_blocks"] == [3, 19]
    assert d["config"]["mode"] == "general"


def test_tables_write_to_parquet(findings, tmp_path):
    import pandas as pd

    for name in ("sinks", "layers", "layers_pooled", "massive", "act"):
        df = getattr(findings, name)
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        assert back.shape == df.shape
