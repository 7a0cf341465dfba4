"""workflows/kv/result.py: the paired comparison of two policies over the same texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sinkscope.core.errors import InputError
from sinkscope.workflows.kv.result import bootstrap_mean_ci, paired


def _per_text(diffs: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for budget, ds in diffs.items():
        for i, d in enumerate(ds):
            base = 1.0 + 0.1 * i
            rows += [dict(model="m", text=f"t{i}", policy="streaming", budget=budget, nll=base),
                     dict(model="m", text=f"t{i}", policy="streaming+secondary", budget=budget, nll=base + d)]
    return pd.DataFrame(rows)


def test_paired_difference_per_budget_in_numeric_order():
    diffs = {"128": [0.02, -0.01, 0.03, 0.0], "64": [-0.05, -0.02, 0.01, -0.04], "0.5": [0.1, 0.2, 0.3, 0.4]}
    out = paired(_per_text(diffs), "streaming+secondary")
    assert list(out["budget"]) == ["0.5", "64", "128"]
    for _, row in out.iterrows():
        d = np.array(diffs[row["budget"]])
        assert row["mean_diff"] == pytest.approx(d.mean()) and row["n_texts"] == 4
        assert row["n_better"] == int((d < 0).sum())
        assert (row["ci_lo"], row["ci_hi"]) == pytest.approx(bootstrap_mean_ci(d, 2000, 0))
        assert row["ci_lo"] <= row["mean_diff"] <= row["ci_hi"]


def test_paired_pairs_by_text_not_by_row_order():
    df = _per_text({"64": [0.1, 0.2, -0.3]})
    shuffled = df.sample(frac=1.0, random_state=3)
    assert paired(shuffled, "streaming+secondary")["mean_diff"].iloc[0] == pytest.approx(0.0)


def test_paired_names_a_missing_policy():
    with pytest.raises(InputError, match="'heavy-hitter' is not in this kv result"):
        paired(_per_text({"64": [0.1]}), "heavy-hitter")
