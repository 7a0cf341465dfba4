"""workflows/kv/result.py: the paired comparison of two policies over the same texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sinkscope.core.errors import InputError
from sinkscope.report.kv import budget_columns, budget_labels
from sinkscope.workflows.kv.result import KVResult, bootstrap_mean_ci, paired


def _per_text(diffs: dict[int | float, list[float]]) -> pd.DataFrame:
    rows = []
    for budget, ds in diffs.items():
        for i, d in enumerate(ds):
            base = 1.0 + 0.1 * i
            b = budget_columns(budget)
            rows += [dict(model="m", text=f"t{i}", policy="streaming", **b, nll=base),
                     dict(model="m", text=f"t{i}", policy="streaming+secondary", **b, nll=base + d)]
    return pd.DataFrame(rows)


def test_paired_difference_per_budget_in_numeric_order():
    diffs = {128: [0.02, -0.01, 0.03, 0.0], 64: [-0.05, -0.02, 0.01, -0.04], 0.5: [0.1, 0.2, 0.3, 0.4]}
    out = paired(_per_text(diffs), "streaming+secondary")
    assert list(budget_labels(out)) == ["0.5", "64", "128"]
    assert list(out["budget"].iloc[1:]) == [64, 128] and pd.isna(out["budget"].iloc[0])
    assert out["budget_fraction"].iloc[0] == 0.5 and out["budget_fraction"].iloc[1:].isna().all()
    for _, row in out.iterrows():
        d = np.array(diffs[row["budget_fraction"] if pd.isna(row["budget"]) else int(row["budget"])])
        assert row["mean_diff"] == pytest.approx(d.mean()) and row["n_texts"] == 4
        assert row["n_better"] == int((d < 0).sum())
        assert (row["ci_lo"], row["ci_hi"]) == pytest.approx(bootstrap_mean_ci(d, 2000, 0))
        assert row["ci_lo"] <= row["mean_diff"] <= row["ci_hi"]


def test_paired_pairs_by_text_not_by_row_order():
    df = _per_text({64: [0.1, 0.2, -0.3]})
    shuffled = df.sample(frac=1.0, random_state=3)
    assert paired(shuffled, "streaming+secondary")["mean_diff"].iloc[0] == pytest.approx(0.0)


def test_paired_names_a_missing_policy():
    with pytest.raises(InputError, match="'heavy-hitter' is not in this kv result"):
        paired(_per_text({64: [0.1]}), "heavy-hitter")


def _result(policies: list[str]) -> KVResult:
    rows = []
    for i in range(3):
        for b in (128, 64):
            for j, p in enumerate(policies):
                rows.append(dict(model="m", text=f"t{i}", policy=p, **budget_columns(b), nll=1.0 + 0.1 * i + 0.01 * j * (i - 1)))
    per_text = pd.DataFrame(rows)
    return KVResult(table=pd.DataFrame(), per_text=per_text, dropped=pd.DataFrame(),
                    manifest={"parameters": {"n_boot": 500, "seed": 3}})


def test_comparisons_pair_every_evicting_policy_with_streaming_using_the_runs_bootstrap():
    res = _result(["full", "recent", "streaming", "streaming+secondary", "heavy-hitter"])
    out = res.comparisons()
    assert list(dict.fromkeys(out["policy"])) == ["recent", "streaming+secondary", "heavy-hitter"]
    assert set(out["baseline"]) == {"streaming"} and list(out["budget"][:2]) == [64, 128]
    expect = paired(res.per_text, "heavy-hitter", "streaming", 500, 3)
    got = out[out["policy"] == "heavy-hitter"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expect)


def test_comparisons_are_empty_without_streaming():
    assert len(_result(["full", "recent", "heavy-hitter"]).comparisons()) == 0


def test_tables_written_with_string_budgets_read_as_numbers():
    """kv.parquet written before budgets were numbers ("64", "0.25") loads with the numeric columns."""
    from sinkscope.report.kv import numeric_budgets

    old = pd.DataFrame({"policy": ["full", "recent"], "budget": ["64", "0.25"], "nll": [1.0, 2.0]})
    new = numeric_budgets(old)
    assert list(new.columns) == ["policy", "budget", "budget_fraction", "nll"]
    assert new["budget"].iloc[0] == 64 and pd.isna(new["budget"].iloc[1])
    assert pd.isna(new["budget_fraction"].iloc[0]) and new["budget_fraction"].iloc[1] == 0.25
    assert len(new[new.budget == 64]) == 1


def test_committed_kv_folders_render_the_same_tables(tmp_path):
    """docs/kv/<model> (written when budgets were strings) loads with numeric budgets and re-renders
    the committed report.html's tables unchanged."""
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs" / "kv"
    folders = sorted(p for p in docs.iterdir() if (p / "kv.parquet").is_file())
    assert folders

    def tables(html: str) -> str:  # the page without its figures
        html = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
        return re.sub(r'<section id="kv_(delta|dropped)">.*?</section>\n?', "", html, flags=re.S)

    for folder in folders:
        res = KVResult.load(folder)
        assert str(res.table["budget"].dtype) == "Int64" and len(res.table[res.table.budget == 64]) > 0
        res.write_into(tmp_path / folder.name, figures=False)
        assert tables((tmp_path / folder.name / "report.html").read_text()) == tables((folder / "report.html").read_text())
