"""Terminal output: the scan summary table and the "findings" block (rich)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sinkscope.analysis.columns import column, console_columns, legend
from sinkscope.analysis.levels import Levels
from sinkscope.analysis.regions import REGIONS
from sinkscope.analysis.summary import Summary
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


#: what the abbreviated columns of the sink table mean (printed under it), from the column registry
#: (`sinkscope.analysis.columns`; docs/method.md §1-§4)
SINK_TABLE_LEGEND = legend(console_columns(regions=True)) + ". Block ranges are inclusive."
KIND_LABELS = {"secondary": "secondary", "primary": "primary-like", "unclassified": "unclassified"}
MAX_PROMPT_ROWS = 40


def is_bidirectional(res: ScanLike) -> bool:
    """True for an encoder: the manifest's model.is_causal is False or, in manifests without it,
    every key is seen by every query at every layer (n_queries = T)."""
    flag = (res.manifest.get("model") or {}).get("is_causal")
    if flag is not None:
        return not bool(flag)
    return all(int(pt.n_tokens) > 1 and int(pt.n_queries.min()) >= int(pt.n_tokens) for pt in res.prompts)


def blocks(first: int, last: int) -> str:
    """An inclusive block range as printed everywhere: "blocks 11-27"."""
    return f"blocks {first}-{last}"


def _primary_cell(p: int, tok: str, ratio: float, k: float) -> str:
    cell = f"{p} {token_label(tok)!r}"
    return cell if ratio >= k else f"none (top-norm {cell}: x{_fmt(ratio, 2)} base)"


def prompts_table(res: ScanLike, max_rows: int = MAX_PROMPT_ROWS) -> Table:
    """One row per prompt (the first `max_rows`): tokens, the primary (docs/method.md §2: the early
    token of largest norm; "none" when its score is below k x its baseline, so it is no sink),
    its window (blocks, inclusive), its mean score and x base, and the record counts per class (§3)."""
    t = Table(title=f"sinks per prompt ({res.manifest['model']['ref']}, {res.config.mode} mode)")
    for col in ("prompt", "tokens", "primary", "window", "primary s", column("score_ratio").label, "secondary", "primary-like",
                "noise", "unclassified"):
        t.add_column(col, justify="left" if col in ("primary", "window") else "right")
    sinks = res.sinks
    k = float(getattr(res.config, "k", 1.0))
    n = len(res.prompts)
    for i, p in enumerate(res.prompts[:max_rows]):
        det = res.findings.detections[i]
        rows = sinks[sinks["prompt"] == i]
        own = rows[rows["is_primary_position"]]
        ratio = float(own["score_ratio"].iloc[0]) if len(own) else float("nan")
        counts = rows[~rows["is_primary_position"]]["kind"].value_counts()
        t.add_row(
            str(i),
            str(p.n_tokens),
            _primary_cell(det.p, p.tokens[det.p], ratio, k),
            blocks(det.window[0], det.window[1] - 1),
            _fmt(float(own["mean_score"].iloc[0])) if len(own) else "-",
            _fmt(ratio),
            str(int(counts.get("secondary", 0))),
            str(int(counts.get("primary", 0))),
            str(int(counts.get("noise", 0))),
            str(int(counts.get("unclassified", 0))),
        )
    if n > max_rows:
        t.caption = f"{n - max_rows} more prompts not shown (all in sinks.parquet)"
    return t


def _pick(records: pd.DataFrame, top: int) -> pd.DataFrame:
    """The `top` records to show: each class present keeps its best max(1, top // classes) by mean
    score, the rest of the rows go to the best remaining; shown by mean score."""
    ranked = records.sort_values("mean_score", ascending=False, kind="stable")
    classes = ranked["kind"].unique()
    quota = max(1, top // max(len(classes), 1))
    keep = pd.concat([ranked[ranked["kind"] == c].head(quota) for c in classes]) if len(classes) else ranked.head(0)
    rest = ranked.drop(index=keep.index).head(max(top - len(keep), 0))
    return pd.concat([keep, rest]).sort_values("mean_score", ascending=False, kind="stable").head(top)


def sinks_table(sinks: pd.DataFrame, top: int = 20, regions: bool = False) -> Table:
    """The strongest non-noise records other than the primaries (which `prompts_table` shows, one
    per prompt): secondary, primary-like and unclassified, each class represented (`_pick`), by
    mean score; the caption counts what is not shown. `regions` (prompts with a response) adds
    each record's region (docs/method.md §3)."""
    cols = [(c.name, c.label) for c in console_columns(regions) if c.name in sinks.columns]
    others = sinks[~sinks["is_primary_position"]]
    cand = others[others["kind"].isin(list(KIND_LABELS))]
    shown = _pick(cand, top)
    per_class = ", ".join(f"{KIND_LABELS[c]} {int((cand['kind'] == c).sum())}" for c in KIND_LABELS)
    t = Table(title=f"sink records other than the primaries (top {top} non-noise by mean score; {per_class})")
    for c, h in cols:
        t.add_column(h, justify="left" if c in ("token", "kind", "region") else "right")
    for _, r in shown.iterrows():
        vals = []
        for c, _ in cols:
            v = r[c]
            if c == "token":
                vals.append(repr(token_label(str(v))))
            elif c == "kind":
                vals.append(KIND_LABELS.get(str(v), str(v)))
            elif c == "region":
                vals.append(str(v))
            else:
                vals.append(_fmt(v.item() if hasattr(v, "item") else v))
        t.add_row(*vals)
    n_noise = int((others["kind"] == "noise").sum())
    hidden = len(cand) - len(shown)
    notes = []
    if hidden:
        notes.append(f"{hidden} more not shown (--top N shows more; all in sinks.parquet)")
    if n_noise:
        notes.append(f"{n_noise} noise record(s) not shown")
    if not len(cand):
        notes.append("no record other than the primaries")
    t.caption = "; ".join(notes) or None
    return t


def _ci(ci: Any, note: str | None = None) -> str:
    if note:
        return f"({note})"
    return f"[{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]" if ci and ci[0] is not None else ""


def _corr(label: str, rho: Any, ci: Any, note: str | None, reason: str | None) -> str:
    if rho is None:
        return f"{label} undefined ({reason or 'not computed'})"
    return f"{label} {_fmt(rho, 2)} {_ci(ci, note)}".rstrip()


def _primaries_line(s: Summary, windows: list | None) -> str:
    """A compact summary of the primaries of all prompts (docs/method.md §2)."""
    ratios = [r for r in s.primary_score_ratio if r is not None]
    n, bad = s.n_prompts, s.primary_not_sink
    pos = ", ".join(str(p) for p in s.primary_positions)
    text = f"position {pos}" + (f", {blocks(*_window_span(windows))}" if windows else "")
    if ratios:
        text += f", x{_fmt(min(ratios), 3)}-{_fmt(max(ratios), 3)} base" if len(ratios) > 1 else f", x{_fmt(ratios[0], 3)} base"
    if bad:
        text += (f"; no sink in {len(bad)} of {n} prompt(s) (score below k x baseline: the top-norm token draws "
                 "no excess attention there)")
    return text


def _window_span(windows: list) -> tuple[int, int]:
    firsts = sorted({int(w[0]) for w in windows})
    lasts = sorted({int(w[1]) - 1 for w in windows})
    return firsts[0], lasts[-1]


def self_check_text(check: dict[str, Any] | None) -> tuple[str, str]:
    """(status, detail) of the capture's self-check (`CaptureSettings.self_check`, manifest
    "capture"): h^l - h^{l-1} = a^l + m^l per block on the first batch (docs/method.md "Capture")."""
    if not check:
        return "not recorded", "capture written before the self-check existed"
    status = str(check.get("status", "?"))
    r, tol = check.get("max_residue"), check.get("tolerance")
    if status == "passed" and r is not None:
        return status, f"max relative residue {r:.1e} <= {tol:.1e} ({check.get('family')})"
    if status == "failed":
        return status, f"{check.get('message') or 'decomposition does not hold'}: formation columns disabled"
    return status, str(check.get("message") or "")


def region_text(counts: dict[str, int]) -> str:
    """Secondary sinks per region, e.g. "template 2, prompt 5, generated 11 secondary sink(s)"."""
    return ", ".join(f"{r} {int(counts.get(r, 0))}" for r in REGIONS) + " secondary sink(s) (docs/method.md §3)"


def findings_lines(
    summary: Summary, massive: pd.DataFrame | None = None, windows: list | None = None,
    *, bidirectional: bool = False, self_check: dict[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """The headline findings as (label, text) rows (docs/method.md §3-§7). `windows` are the prompts'
    primary windows [start, end) (printed inclusive); `bidirectional` adds what an encoder's
    numbers mean and which are not defined."""
    s = summary
    rows = []
    if bidirectional:
        rows.append(("attention", "bidirectional (encoder): every key is seen by every query, so a score is the "
                     "mean over all T queries. Defined: scores, the primary and its window, sink-likeness, sink "
                     "records, the norm profile. Not defined: the --min-queries rule (never applies), generation "
                     "and NLL, and the formation columns (MLP output at birth) on post-LN blocks such as BERT's."))
    if s.no_attention_layers:
        rows.append(("attention", f"no attention probabilities in block(s) {s.no_attention_layers} (non-softmax "
                     "mixers of a hybrid: linear attention, Mamba, convolution, or MLP-only blocks); scores, sink "
                     "records, lifetimes, levels and weakening use the other blocks only, with their original "
                     "indices (docs/method.md §11)."))
    if self_check is not None:
        status, detail = self_check_text(self_check)
        rows.append(("self-check", f"{status}: {detail}" if detail else status))
    rows += gate_lines(s)
    rows.append(("primary", _primaries_line(s, windows)))
    rows.append(("secondary sinks", f"{s.n_secondary} over {s.n_prompts} prompt(s)  "
                 f"(primary-like {s.n_primary_like}, noise {s.n_noise}, unclassified {s.n_unclassified})"))
    if s.unclassified_reason:
        rows.append(("unclassified", s.unclassified_reason))
    if s.n_secondary_by_region is not None:
        rows.append(("by region", region_text(s.n_secondary_by_region)))
    if s.n_secondary:
        nl = (_corr("Spearman(||m||, score)", s.spearman_norm_score, s.spearman_norm_score_ci,
                    s.spearman_norm_score_ci_note, s.norm_law_reason)
              + ", " + _corr("(||m||, lifetime)", s.spearman_norm_lifetime, s.spearman_norm_lifetime_ci,
                             s.spearman_norm_lifetime_ci_note, s.norm_law_lifetime_reason)
              + f", n={s.norm_law_n}")
        med = s.median
        rows += [
            ("birth / lifetime", f"median birth block {_fmt(med('birth'))} (relative depth {_fmt(med('rel_birth'), 2)}"
             " = birth / (L - 1)), "
             f"median lifetime {_fmt(med('lifetime'))} blocks"),
            ("forming MLP", f"median cos(m_t^b, h_p^b) {_fmt(med('mlp_cos_primary'))} "
             f"(oriented {_fmt(med('mlp_cos_oriented'))}); median MLP share of the jump {_fmt(med('mlp_share'), 2)}"),
            ("norm law", nl),
        ]
    if s.dip_layer is None:
        dip = f"no dip ({s.weakening_reason or 'undefined'})"
    else:
        dip = f"dip at block {s.dip_layer} (x{_fmt(s.dip_ratio, 2)} of plateau)"
    rows.append(("primary weakening", f"plateau score {_fmt(s.primary_plateau)}, {dip}; weakened: {'yes' if s.weakened else 'no'}"
                 + (f", {blocks(s.weakened_layers[0], s.weakened_layers[-1])}" if s.weakened_layers else "")
                 + (f"; births within weakened blocks: {_fmt(s.dip_coincides_with_births, 2)}"
                    if s.dip_coincides_with_births is not None else "")))
    lv = "; ".join(f"L{x.level}: births {x.birth[0]}-{x.birth[1]}, lifetimes {x.lifetime[0]}-{x.lifetime[1]} ({x.share:.0%})"
                   for x in s.levels)
    rows.append(("sink levels", f"{s.n_levels}" + (f" ({lv})" if lv else "")))
    if massive is not None and len(massive):
        big = massive[massive["over_1000"]] if "over_1000" in massive else massive
        if len(big):
            layers = sorted(big["layer"].unique())
            top = big.sort_values("ratio", ascending=False).iloc[0]
            win = f"; primary window {blocks(windows[0][0], windows[0][1] - 1)}" if windows else ""
            rows.append(("massive activations", f">1000x median in {blocks(layers[0], layers[-1])} "
                         f"(top: dim {int(top['dim'])} at position {int(top['position'])}, {top['ratio']:,.0f}x){win}"))
    return rows


def gate_lines(summary: Summary) -> list[tuple[str, str]]:
    """Rows for gated attention (docs/method.md §12) and learned sink logits (§13), when the model has them:
    the mean over (layer, head) cells of the output gate at the primary / secondary sinks / ordinary
    tokens, and of the learned sink's mass beside the primary's score."""
    s, rows = summary, []
    if s.gate_primary is not None:
        rows.append(("output gate", f"mean sigmoid(gate) at the primary {_fmt(s.gate_primary)}, at secondary sinks "
                     f"{_fmt(s.gate_secondary)}, at ordinary tokens {_fmt(s.gate_ordinary)} "
                     "(gated layers and heads; per layer and head in findings.json \"gates\", docs/method.md §12)"))
    if s.learned_sink_sink_mass is not None:
        rows.append(("learned sink", f"mass of the learned sink logit {_fmt(s.learned_sink_sink_mass)} (mean over "
                     f"queries of 1 - sum_j A_ij), primary score {_fmt(s.learned_sink_primary_score)} (same "
                     "softmax rows; per layer and head in findings.json \"learned_sink\", docs/method.md §13)"))
    return rows


def findings_block(
    summary: Summary, massive: pd.DataFrame | None = None, windows: list | None = None,
    *, bidirectional: bool = False, self_check: dict[str, Any] | None = None,
) -> Table:
    """`findings_lines` as a two-column rich table."""
    t = Table(title="findings", show_header=False, box=None, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value")
    for label, text in findings_lines(summary, massive, windows, bidirectional=bidirectional, self_check=self_check):
        t.add_row(label, text)
    return t


def print_scan(res: ScanLike, console: Console, top: int = 20) -> None:
    """What `sinkscope scan` prints: the prompts table (one primary per prompt), the top other
    sink records with the legend of their columns, and the findings block."""
    console.print(prompts_table(res))
    table = sinks_table(res.sinks, top=top, regions=res.findings.has_response)
    if table.row_count:
        console.print(table)
        console.print(f"[dim]{escape(SINK_TABLE_LEGEND)}[/]", highlight=False)
    else:
        console.print(f"sink records: none other than the primaries ({table.caption})", highlight=False)
    windows = [d.window for d in res.findings.detections]
    check = ((res.manifest or {}).get("capture") or {}).get("self_check") or {}
    console.print(findings_block(res.summary(), res.findings.massive, windows, bidirectional=is_bidirectional(res),
                                 self_check=check))


def print_levels(levels: Levels, console: Console) -> None:
    """The sink levels (docs/method.md §7) as a table."""
    t = Table(title=f"sink levels ({len(levels.levels)} found over {levels.n_sinks} secondary sinks)",
              caption="level ids as in findings.json, the scan's findings and the figures; ranges inclusive")
    for col in ("level", "births", "lifetimes", "share", "count", "top tokens"):
        t.add_column(col)
    for i, lv in enumerate(levels.levels):
        t.add_row(
            f"L{i}",
            f"{lv.birth_range[0]}-{lv.birth_range[1]}",
            f"{lv.lifetime_range[0]}-{lv.lifetime_range[1]}",
            f"{lv.share:.0%}",
            str(lv.count),
            ", ".join(f"{token_label(str(tok))!r} ({n})" for tok, n in lv.top_tokens),
        )
    console.print(t)
