"""report/kv.py: the delta-NLL figure's budget axis and lines, the page's paired table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd

from sinkscope.report.kv import budget_columns, fig_kv_delta, kv_html


def _table(budgets: list[int]) -> pd.DataFrame:
    rows = []
    for policy in ("full", "streaming", "heavy-hitter"):
        for i, b in enumerate(budgets):
            d = 0.0 if policy == "full" else 1.0 / (i + 1)
            rows.append({"model": "m", "policy": policy, **budget_columns(b), "mean_keys": float(b),
                         "delta_nll": d, "ci_lo": d - 0.1, "ci_hi": d + 0.1})
    return pd.DataFrame(rows)


def test_delta_figure_ticks_are_the_budgets_in_plain_numbers():
    fig = fig_kv_delta(_table([64, 128, 256, 512]))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [64, 128, 256, 512]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["64", "128", "256", "512"]


def test_delta_figure_plots_one_line_per_policy_in_budget_order():
    fig = fig_kv_delta(_table([256, 64, 128]).sample(frac=1.0, random_state=0))
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    assert set(lines) == {"full", "streaming", "heavy-hitter"}
    assert list(lines["streaming"].get_xdata()) == [64.0, 128.0, 256.0]


def test_page_shows_the_paired_table_only_when_given():
    table = _table([64, 128])
    table["n_texts"], table["mean_nll"], table["ppl"], table["dropped_mass"] = 4, 2.0, 7.389, 0.25
    manifest = {"model": {"ref": "m"}, "texts": [{}] * 4, "parameters": dict(block=32, n_sink=4, max_secondary=8, tau=0.9,
                                                                       recent_frac=0.5, obs_window=32)}
    paired = pd.DataFrame([dict(model="m", **budget_columns(64), policy="heavy-hitter", baseline="streaming", n_texts=4,
                                mean_diff=-0.0427, ci_lo=-0.0811, ci_hi=-0.0102, n_better=3)])
    page = kv_html(table, pd.DataFrame(columns=["policy", "budget", "budget_fraction", "layer", "dropped_mass"]),
                   manifest, paired=paired)
    assert 'id="kv-paired"' in page and "Paired against streaming" in page
    assert "-0.0427" in page and "[-0.0811, -0.0102]" in page and "3 of 4" in page
    assert 'id="kv-paired"' not in kv_html(table, pd.DataFrame(), manifest)


def test_page_prints_budgets_as_given():
    """A count prints as "64", a fraction as "0.25" (budget and budget_fraction columns)."""
    table = pd.concat([_table([64]), pd.DataFrame([{"model": "m", "policy": "streaming", **budget_columns(0.25),
                                                    "mean_keys": 100.0, "delta_nll": 0.5, "ci_lo": 0.4,
                                                    "ci_hi": 0.6}])], ignore_index=True)
    table["n_texts"], table["mean_nll"], table["ppl"], table["dropped_mass"] = 4, 2.0, 7.389, 0.25
    params = dict(block=32, n_sink=4, max_secondary=8, tau=0.9, recent_frac=0.5, obs_window=32)
    page = kv_html(table, pd.DataFrame(), {"model": {"ref": "m"}, "texts": [{}] * 4, "parameters": params})
    assert "<tr><td>64</td>" in page and "<tr><td>0.25</td>" in page
