"""Figures and the HTML page of a KV-eviction run (`sinkscope kv`, docs/method.md §10).

    fig_kv_delta(table)      delta NLL vs budget (keys, log axis), one line per policy, 95% CI band
    fig_kv_dropped(dropped)  dropped full-cache attention mass per layer, one panel per budget
    write_kv_figures(...)    both as DIR/NAME.(png|svg) (report.figures.write_figure_set)
    kv_html(...)             the self-contained page (assets/kv.html.j2): tables, figures, settings

Inputs are the result's tables (pandas), so this layer needs no workflow type. A budget is two
numeric columns (`budget_columns`): `budget`, the kept keys when given as a count (nullable
integer), and `budget_fraction`, the share of each text's tokens when given as a fraction (NaN
otherwise); `budget_label` prints either ("64", "0.25").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sinkscope.core.version import __version__
from sinkscope.report.figures import new_figure, write_figure_set
from sinkscope.report.templates import asset_text, render

# one colour per policy (Okabe-Ito), full in grey
POLICY_COLOURS = {"full": "#777777", "recent": "#E69F00", "streaming": "#56B4E9", "streaming+secondary": "#0072B2",
                  "heavy-hitter": "#D55E00", "snap": "#009E73"}


def budget_columns(budget: int | float) -> dict[str, Any]:
    """The two budget columns of a row: {"budget": K or None, "budget_fraction": f or NaN}."""
    if isinstance(budget, float):
        return {"budget": None, "budget_fraction": float(budget)}
    return {"budget": int(budget), "budget_fraction": float("nan")}


def budget_label(budget: Any, fraction: Any) -> str:
    """"64" for a count, "0.25" for a fraction (the way --budget was given)."""
    return str(int(budget)) if budget is not None and not pd.isna(budget) else f"{float(fraction):g}"


def budget_labels(df: pd.DataFrame) -> pd.Series:
    """`budget_label` of every row of a table with the budget columns."""
    return pd.Series([budget_label(b, f) for b, f in zip(df["budget"], df["budget_fraction"])], index=df.index,
                     dtype=object)


def numeric_budgets(df: pd.DataFrame) -> pd.DataFrame:
    """A table with the budget columns: tables written before budgets were numbers hold `budget` as a
    string ("64", "0.25"), converted here; others are returned as they are (budget as nullable Int64)."""
    if "budget_fraction" in df.columns:
        out = df.copy()
    else:
        parts = [budget_columns(float(b) if "." in str(b) else int(b)) for b in df["budget"]]
        out = df.copy()
        at = list(out.columns).index("budget")
        out["budget"] = [x["budget"] for x in parts]
        out.insert(at + 1, "budget_fraction", [x["budget_fraction"] for x in parts])
    out["budget"] = pd.array(out["budget"], dtype="Int64")
    out["budget_fraction"] = out["budget_fraction"].astype("float64")
    return out


def _by_keys(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("mean_keys", kind="stable")


def fig_kv_delta(table: pd.DataFrame):
    """Mean delta NLL (policy - full, nats per token) against the budget in keys, per policy."""
    fig = new_figure(6.2, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for policy, g in table.groupby("policy", sort=False):
        g = _by_keys(g)
        c = POLICY_COLOURS.get(str(policy), "#000000")
        ax.plot(g["mean_keys"], g["delta_nll"], marker="o", ms=3, lw=1.2, color=c, label=str(policy))
        ax.fill_between(g["mean_keys"], g["ci_lo"], g["ci_hi"], color=c, alpha=0.15, lw=0)
    ax.axhline(0.0, color="#bbbbbb", lw=0.8)
    if len(table) and table["mean_keys"].min() > 0:
        ax.set_xscale("log", base=2)
        ticks = sorted({round(float(k)) for k in table.loc[table["policy"] != "full", "mean_keys"]})
        if ticks:  # the budgets themselves, in plain numbers (not 2^6, 2^7, ...)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
    ax.set_xlabel("KV budget (kept keys per query)")
    ax.set_ylabel("Δ NLL vs full cache (nats/token)")
    ax.set_title(f"{table['model'].iloc[0] if len(table) else ''}: loss under KV eviction")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def fig_kv_dropped(dropped: pd.DataFrame, table: pd.DataFrame):
    """Dropped full-cache attention mass per layer (mean over texts, queries, heads); one panel per budget."""
    t = numeric_budgets(table).assign(_label=budget_labels(numeric_budgets(table))) if len(table) else table.assign(_label=[])
    d = (numeric_budgets(dropped).assign(_label=budget_labels(numeric_budgets(dropped))) if len(dropped)
         else dropped.assign(_label=[]))
    budgets = list(_by_keys(t.drop_duplicates("_label"))["_label"]) if len(t) else []
    budgets = [b for b in budgets if (d["_label"] == b).any()] or [None]
    fig = new_figure(2.4 * len(budgets) + 1.8, 2.6)
    axes = fig.subplots(1, len(budgets), sharey=True, squeeze=False)[0]
    for ax, budget in zip(axes, budgets):
        sub = d[d["_label"] == budget] if budget is not None else d.iloc[:0]
        for policy, g in sub.groupby("policy", sort=False):
            ax.plot(g["layer"], g["dropped_mass"], lw=1.1, color=POLICY_COLOURS.get(str(policy), "#000"), label=str(policy))
        ax.set_title(f"budget {budget}")
        ax.set_xlabel("layer")
    axes[0].set_ylabel("dropped attention mass")
    if len(dropped):
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def write_kv_figures(table: pd.DataFrame, dropped: pd.DataFrame, out_dir: str | Path,
                     formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """kv_delta and kv_dropped as out_dir/NAME.FMT (atomic writes, the STYLE of every figure)."""
    return write_figure_set({"kv_delta": lambda: fig_kv_delta(table),
                             "kv_dropped": lambda: fig_kv_dropped(dropped, table)}, out_dir, formats)


def kv_html(table: pd.DataFrame, dropped: pd.DataFrame, manifest: Mapping[str, Any],
            svgs: Mapping[str, str] | None = None, paired: pd.DataFrame | None = None) -> str:
    """The standalone report page: the policy x budget table, `paired` (rows of
    PAIRED_COLUMNS: policy minus baseline per budget over the same texts, when given), the figures
    (inline SVG, written by sinkscope itself) and the run's settings."""
    table = numeric_budgets(table)
    rows = table.assign(budget_label=budget_labels(table)).to_dict("records")
    rows.sort(key=lambda r: (r["mean_keys"], list(POLICY_COLOURS).index(r["policy"]) if r["policy"] in POLICY_COLOURS else 99))
    params = manifest.get("parameters", {})
    return render("kv.html.j2", css=asset_text("report.css"), version=__version__, rows=rows,
                  model=(manifest.get("model") or {}).get("ref", ""), params=params,
                  n_texts=len(manifest.get("texts", [])), svgs=dict(svgs or {}),
                  colours=POLICY_COLOURS, paired=[] if paired is None or not len(paired)
                  else paired.assign(budget_label=budget_labels(numeric_budgets(paired))).to_dict("records"))


__all__ = ["budget_columns", "budget_label", "budget_labels", "numeric_budgets", "fig_kv_delta", "fig_kv_dropped", "write_kv_figures", "kv_html", "POLICY_COLOURS"]
