"""Terminal output: the scan summary table and the "findings" block (rich)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from sinkscope.analysis.levels import Levels
from sinkscope.report.types import ScanLike


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


def prompts_table(res: ScanLike) -> Table:
    """One row per prompt: tokens, the primary and its window, and the record counts per class (METHOD.md §3)."""
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


def _ci(ci: Any) -> str:
    return f"[{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]" if ci and ci[0] is not None else ""


def findings_lines(summary: dict[str, Any], massive: pd.DataFrame | None = None, windows: list | None = None) -> list[tuple[str, str]]:
    """The headline findings as (label, text) rows (METHOD.md §3-§7)."""
    s = summary
    rows = [
        ("secondary sinks", f"{s['n_secondary']} over {s['n_prompts']} prompt(s)  "
         f"(primary-like {s['n_primary_like']}, noise {s['n_noise']}, unclassified {s['n_unclassified']})"),
    ]
    if s["n_secondary"]:
        rows += [
            ("birth / lifetime", f"median birth block {_fmt(s['median_birth'])} (relative depth {_fmt(s['median_rel_birth'], 2)}), "
             f"median lifetime {_fmt(s['median_lifetime'])} blocks"),
            ("forming MLP", f"median cos(m_t^b, h_p^b) {_fmt(s['median_mlp_cos'])} "
             f"(oriented {_fmt(s['median_mlp_cos_oriented'])}); median MLP share of the jump {_fmt(s['median_mlp_share'], 2)}"),
            ("norm law", f"Spearman(||m||, score) {_fmt(s['spearman_norm_score'], 2)} {_ci(s['spearman_norm_score_ci'])}, "
             f"(||m||, lifetime) {_fmt(s['spearman_norm_lifetime'], 2)} {_ci(s['spearman_norm_lifetime_ci'])}, n={s['norm_law_n']}"
             + (f"  ({s['norm_law_reason']})" if s.get("norm_law_reason") else "")),
        ]
    rows.append(("primary weakening", f"plateau score {_fmt(s['primary_plateau'])}, dip at block {_fmt(s['dip_layer'])} "
                 f"(x{_fmt(s['dip_ratio'], 2)} of plateau); weakened: {'yes' if s['weakened'] else 'no'}"
                 + (f", blocks {s['weakened_layers'][0]}-{s['weakened_layers'][-1]}" if s['weakened_layers'] else "")
                 + (f"; births within weakened blocks: {_fmt(s['dip_coincides_with_births'], 2)}"
                    if s.get('dip_coincides_with_births') is not None else "")))
    lv = "; ".join(f"births {x['birth'][0]}-{x['birth'][1]}, lifetimes {x['lifetime'][0]}-{x['lifetime'][1]} ({x['share']:.0%})"
                   for x in s["levels"])
    rows.append(("sink levels", f"{s['n_levels']}" + (f": {lv}" if lv else "")))
    if massive is not None and len(massive):
        big = massive[massive["over_1000"]] if "over_1000" in massive else massive
        if len(big):
            layers = sorted(big["layer"].unique())
            top = big.sort_values("ratio", ascending=False).iloc[0]
            win = f"; primary window blocks {windows[0][0]}-{windows[0][1] - 1}" if windows else ""
            rows.append(("massive activations", f">1000x median in blocks {layers[0]}-{layers[-1]} "
                         f"(top: dim {int(top['dim'])} at position {int(top['position'])}, {top['ratio']:,.0f}x){win}"))
    return rows


def findings_block(summary: dict[str, Any], massive: pd.DataFrame | None = None, windows: list | None = None) -> Table:
    """`findings_lines` as a two-column rich table."""
    t = Table(title="findings", show_header=False, box=None, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value")
    for label, text in findings_lines(summary, massive, windows):
        t.add_row(label, text)
    return t


def print_scan(res: ScanLike, console: Console, top: int = 20) -> None:
    """What `sinkscope scan` prints: the prompts table, the top sink records and the findings block."""
    console.print(prompts_table(res))
    console.print(sinks_table(res.sinks, top=top))
    windows = [d.window for d in res.findings.detections]
    console.print(findings_block(res.summary(), res.findings.massive, windows))


def print_levels(levels: Levels, console: Console) -> None:
    """The sink levels (METHOD.md §7) as a table."""
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
