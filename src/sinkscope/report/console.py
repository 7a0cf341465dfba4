"""Terminal output: the scan summary table and the "findings" block (rich)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(x)


def token_label(tok: str) -> str:
    """A token as it should be shown: whitespace made visible."""
    return repr(tok)[1:-1] if tok.strip() != tok or not tok else tok


def prompts_table(res) -> Table:
    t = Table(title=f"sinks per prompt ({res.manifest['model']['ref']}, {res.config.mode} mode)")
    for col in ("prompt", "tokens", "primary", "window", "secondary", "primary-like", "noise", "unclassified"):
        t.add_column(col, justify="right" if col not in ("primary", "window") else "left")
    sinks = res.sinks
    for i, p in enumerate(res.prompts):
        det = res.findings.detections[i]
        rows = sinks[sinks["prompt"] == i]
        counts = rows[~rows["is_primary_position"]]["kind"].value_counts()
        n_like = int(rows[(~rows["is_primary_position"]) & rows["kind"].eq("primary")].shape[0])
        t.add_row(
            str(i),
            str(p.n_tokens),
            f"{det.p} {token_label(p.tokens[det.p])!r}",
            f"blocks {det.window[0]}-{det.window[1] - 1}",
            str(int(counts.get("secondary", 0))),
            str(n_like),
            str(int(counts.get("noise", 0))),
            str(int(counts.get("unclassified", 0))),
        )
    return t


def sinks_table(sinks: pd.DataFrame, top: int = 20) -> Table:
    """The strongest non-noise sink records, by mean score."""
    cols = [
        ("prompt", "prompt"), ("position", "pos"), ("token", "token"), ("kind", "kind"),
        ("birth", "birth"), ("death", "death"), ("lifetime", "life"), ("mean_score", "mean s"),
        ("peak_score", "peak s"), ("score_ratio", "x base"), ("mlp_cos_primary", "cos(m,h_p)"),
        ("mlp_norm", "||m||"), ("mlp_share", "MLP share"),
    ]
    cols = [(c, h) for c, h in cols if c in sinks.columns]
    t = Table(title=f"sink records (top {top} non-noise by mean score)")
    for _, h in cols:
        t.add_column(h, justify="left" if h in ("token", "kind") else "right")
    keep = sinks[sinks["kind"].isin(["primary", "secondary"])].sort_values("mean_score", ascending=False).head(top)
    for _, r in keep.iterrows():
        vals = []
        for c, _ in cols:
            v = r[c]
            vals.append(repr(token_label(str(v))) if c == "token" else _fmt(v.item() if hasattr(v, "item") else v))
        t.add_row(*vals)
    return t


def findings_block(summary: dict[str, Any]) -> Table:
    t = Table(title="findings", show_header=False, box=None)
    t.add_column("what", style="bold")
    t.add_column("value")
    for key, val in summary.items():
        t.add_row(key.replace("_", " "), _fmt(val) if not isinstance(val, (list, tuple)) else ", ".join(_fmt(v) for v in val))
    return t


def print_scan(res, console: Console, top: int = 20) -> None:
    console.print(prompts_table(res))
    console.print(sinks_table(res.sinks, top=top))
    console.print(findings_block(res.summary()))


def print_levels(levels, console: Console) -> None:
    t = Table(title=f"sink levels ({len(levels.levels)} found over {levels.n_sinks} secondary sinks)")
    for col in ("level", "births", "lifetimes", "share", "count", "top tokens"):
        t.add_column(col)
    for i, lv in enumerate(levels.levels):
        t.add_row(
            str(i),
            f"{lv.birth_range[0]}-{lv.birth_range[1]}",
            f"{lv.lifetime_range[0]}-{lv.lifetime_range[1]}",
            f"{lv.share:.0%}",
            str(lv.count),
            ", ".join(f"{token_label(str(tok))!r} ({n})" for tok, n in lv.top_tokens),
        )
    console.print(t)
