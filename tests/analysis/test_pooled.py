"""analysis/pooled.py: the one pooled aggregation equals what `analyze` reports, takes every setting
from the config and adjacency across a hybrid's non-attention layers (docs/method.md §5-§7, §11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sinkscope.analysis import AnalysisConfig, analyze, levels, norm_law
from sinkscope.analysis.pooled import MEDIANS, distinct_records, finite_median, pool, prefix_keys
from tests.analysis.synth import make_trace, spec24
from tests.analysis.test_hybrid_layers import hybrid

CFG = AnalysisConfig(n_boot=50, seed=3, levels_min_share=0.05, levels_tol=2, weak_frac=0.7)


@pytest.fixture(scope="module")
def hybrid_findings():
    return analyze([hybrid(make_trace(spec24()))], CFG)


def test_pool_is_what_analyze_reports(hybrid_findings):
    f = hybrid_findings
    p = pool(f.sinks, f.n_layers, CFG, attention_layers=f.attention_layers,
             layer_tables=[g.drop(columns="prompt").reset_index(drop=True) for _, g in f.layers.groupby("prompt")])
    assert p.levels == f.levels and p.levels.min_share == 0.05 and p.levels.tol == 2
    assert p.norm_law.n == f.norm_law.n and p.norm_law.score.spearman_ci == f.norm_law.score.spearman_ci
    assert p.norm_law.n_boot == 50
    assert p.weakening == f.weakening
    assert p.medians == pytest.approx(f.medians, nan_ok=True)
    assert list(p.medians) == list(MEDIANS) and f.summary().median("birth") == p.medians["median_birth"]


def test_pool_uses_the_hybrids_attention_layers(hybrid_findings):
    """Births 6, 7, 8 and 10 form one cluster only across the non-attention layer 9 (tol 1)."""
    f = hybrid_findings
    cfg = AnalysisConfig(n_boot=20, levels_min_share=0.05, levels_tol=1)
    with_att = pool(f.sinks, f.n_layers, cfg, attention_layers=f.attention_layers).levels
    plain = levels(f.sinks, f.n_layers, min_share=0.05, tol=1)
    assert [lv.birth_range for lv in with_att.levels] == [(0, 0), (6, 10)]
    assert with_att.n_levels < plain.n_levels  # what a pooling that drops attention_layers reports
    # the layer tables' `attention` column is used when the argument is not given
    tables = [g.drop(columns="prompt").reset_index(drop=True) for _, g in f.layers.groupby("prompt")]
    assert pool(f.sinks, f.n_layers, cfg, layer_tables=tables).levels == with_att


def test_pool_takes_the_configs_bootstrap(hybrid_findings):
    f = hybrid_findings
    a = pool(f.sinks, f.n_layers, AnalysisConfig(n_boot=30, seed=1)).norm_law
    assert a.n_boot == 30
    b = norm_law(f.sinks, n_boot=30, seed=1)
    assert a.score.spearman_ci == b.score.spearman_ci


def test_finite_median():
    assert finite_median(pd.Series([1.0, np.nan, 3.0, np.inf])) == 2.0
    assert np.isnan(finite_median(pd.Series([np.nan])))


def test_distinct_records_keeps_the_first_of_a_shared_prefix():
    keys = [prefix_keys([5, 6, 7, 8]), prefix_keys([5, 6, 9, 8])]
    sinks = pd.DataFrame({"prompt": [0, 0, 1, 1, 1], "position": [1, 3, 1, 3, 0],
                          "kind": ["secondary", "secondary", "secondary", "secondary", "primary"]})
    kept = distinct_records(sinks, keys)
    # prompt 1 position 1 repeats prefix [5, 6]; position 3 has another prefix; primaries stay
    assert list(zip(kept["prompt"], kept["position"], kept["kind"])) == [
        (0, 1, "secondary"), (0, 3, "secondary"), (1, 3, "secondary"), (1, 0, "primary")]
