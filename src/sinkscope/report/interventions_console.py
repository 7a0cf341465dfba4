"""Terminal output of the `sinkscope intervene` command (rich tables, docs/method.md §4).

The results live in a higher layer (`sinkscope.workflows.interventions`); this module names only
what it reads, as Protocols (`InterventionLike`, `AutoLike`, `DoseLike`), and never imports them.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from sinkscope.analysis.columns import column
from sinkscope.report.console import token_label

POS = column("position").label  # the header of a token position (the column registry)


class NllLike(Protocol):
    """`interventions.NllDelta`: Delta next-token NLL over the `n` tokens after the edit."""

    @property
    def n(self) -> int: ...
    @property
    def mean(self) -> float: ...
    @property
    def max(self) -> float: ...
    @property
    def clean_mean(self) -> float: ...


class InterventionLike(Protocol):
    """`interventions.InterventionResult`, as the tables read it."""

    @property
    def mode(self) -> str: ...
    @property
    def layer(self) -> int: ...
    @property
    def primary(self) -> int: ...
    @property
    def direction_norm(self) -> float: ...
    @property
    def targets(self) -> pd.DataFrame: ...
    @property
    def nll(self) -> NllLike: ...
    def intervention_summary(self) -> dict[str, Any]: ...


class AutoLike(Protocol):
    """`interventions.AutoResult`: `table` (AUTO_COLUMNS) and its per-mode `summary()`."""

    @property
    def table(self) -> pd.DataFrame: ...
    def summary(self) -> dict[str, Any]: ...


class DoseLike(Protocol):
    """`interventions.DoseResult`, as the dose table reads it."""

    @property
    def mode(self) -> str: ...
    @property
    def layer(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def token(self) -> str: ...
    @property
    def clean_kind(self) -> str: ...
    @property
    def clean_score(self) -> float: ...
    @property
    def clean_lifetime(self) -> int: ...
    @property
    def table(self) -> pd.DataFrame: ...
    def monotone(self, column: str = "score", tol: float = 0.0) -> bool: ...


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _signed(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(v) else f"{v:+.{digits}g}"


def _pct(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if not math.isfinite(v) else f"{v:+.0%}"


def _arrow(a: Any, b: Any, digits: int = 3) -> str:
    return f"{_f(a, digits)} -> {_f(b, digits)}"


def _tok(t: Any) -> str:
    return repr(token_label(str(t)))


def outcome_label(r: Any) -> str:
    """A row's outcome (docs/method.md §4 "Outcomes"), with ", promoted" when the edit made the
    token primary-like."""
    return f"{r['outcome']}, promoted" if bool(r["promoted"]) else str(r["outcome"])


def outcome_counts_text(counts: dict[str, Any]) -> str:
    """'removed 1, weakened 0, unchanged 0, strengthened 2 (promoted 1)'."""
    return (f"removed {counts['removed']}, weakened {counts['weakened']}, unchanged {counts['unchanged']}, "
            f"strengthened {counts['strengthened']} (promoted {counts['promoted']})")


def intervention_table(res: InterventionLike) -> Table:
    t = Table(
        title=(
            f"{res.mode} at block {res.layer} (primary p={res.primary}, ||h_p^b|| = {_f(res.direction_norm)}; "
            "before -> after, docs/method.md §4)"
        )
    )
    for col in (POS, "token", "outcome", "class", "lifetime", "mean s (l>=b)", "change", "l>=b: sink-like (ratio)",
                column("mlp_norm").label, "m.u", "primary s"):
        t.add_column(col, justify="left" if col in ("token", "outcome", "class") else "right",
                     no_wrap=col in ("mode", "outcome", "class"))
    for _, r in res.targets.iterrows():
        t.add_row(
            str(int(r["position"])),
            _tok(r["token"]),
            outcome_label(r),
            f"{r['kind_before']} -> {r['kind_after']}",
            f"{int(r['lifetime_before'])} -> {int(r['lifetime_after'])}",
            _arrow(r["score_before"], r["score_after"]),
            _pct(r["score_change"]),
            f"{int(r['sink_layers_before'])} ({_f(r['ratio_before'])}) -> {int(r['sink_layers_after'])} ({_f(r['ratio_after'])})",
            _arrow(r["mlp_norm_before"], r["mlp_norm_after"]),
            _arrow(r["mlp_proj_before"], r["mlp_proj_after"]),
            _arrow(r["primary_score_before"], r["primary_score_after"]),
        )
    return t


def print_intervention(res: InterventionLike, console: Console) -> None:
    console.print(intervention_table(res))
    kinds = set(res.targets["kind_before"].astype(str)) if len(res.targets) else set()
    if kinds and kinds <= {"none", "noise"} and not str(res.mode).startswith("induce"):
        console.print(
            f"[yellow]note[/]: no edited token is a sink in the clean run (class {', '.join(sorted(kinds))}), so "
            "there is no sink to remove; `sinkscope scan` lists the secondary sinks (position, birth block).",
            highlight=False,
        )
    s = res.intervention_summary()
    console.print(f"outcomes of the edited tokens (docs/method.md §4): {outcome_counts_text(s['outcomes'])}",
                  highlight=False)
    console.print(
        f"secondary sinks in the text: {s['n_secondary_before']} -> {s['n_secondary_after']}; "
        f"Delta next-token NLL on the {res.nll.n} following tokens: mean {_signed(res.nll.mean)}, "
        f"max {_signed(res.nll.max)} (clean mean {_f(res.nll.clean_mean)})"
    )


def auto_table(a: AutoLike, top: int = 40) -> Table:
    t = Table(title=f"every secondary sink, edited at its birth block (before -> after; first {top} rows)")
    if len(a.table) > top:
        t.caption = f"{len(a.table) - top} more not shown (all in auto.parquet with --out)"
    for col in ("prompt", POS, "token", "block", "mode", "outcome", "class", "lifetime", "mean s (l>=b)", "change",
                "primary s", "dNLL mean", "dNLL max"):
        t.add_column(col, justify="left" if col in ("token", "mode", "outcome", "class") else "right",
                     no_wrap=col in ("mode", "outcome", "class"))
    for _, r in a.table.head(top).iterrows():
        t.add_row(
            str(int(r["prompt"])),
            str(int(r["position"])),
            _tok(r["token"]),
            str(int(r["layer"])),
            str(r["mode"]),
            outcome_label(r),
            f"{r['kind_before']} -> {r['kind_after']}",
            f"{int(r['lifetime_before'])} -> {int(r['lifetime_after'])}",
            _arrow(r["score_before"], r["score_after"]),
            _pct(r["score_change"]),
            _signed(r["delta_primary_score"]),
            _signed(r["delta_nll_mean"]),
            _signed(r["delta_nll_max"]),
        )
    return t


def auto_summary_table(a: AutoLike) -> Table:
    s = a.summary()
    t = Table(title=f"summary over {s['n_sinks']} secondary sink(s) in {s['n_prompts']} prompt(s)")
    t.caption = ("outcomes (docs/method.md §4): removed = no longer a sink from the birth block on, score not higher; "
                 "weakened / strengthened = mean score there down / up by more than the margin; "
                 "promoted (part of strengthened) = made primary-like")
    for col in ("mode", "removed", "share", "weakened", "unchanged", "strengthened", "promoted", "lifetime",
                "mean s (l>=b)", "d primary s", "dNLL mean", "dNLL max"):
        t.add_column(col, justify="left" if col == "mode" else "right")
    for mode, m in s["modes"].items():
        c = m["outcomes"]
        t.add_row(
            mode,
            f"{m['n_removed']}/{m['n_sinks']}",
            "-" if m["n_sinks"] == 0 else f"{m['share_removed']:.0%}",
            str(c["weakened"]),
            str(c["unchanged"]),
            str(c["strengthened"]),
            str(c["promoted"]),
            _arrow(m["mean_lifetime_before"], m["mean_lifetime_after"]),
            _arrow(m["mean_score_from_birth_before"], m["mean_score_from_birth_after"]),
            _signed(m["mean_delta_primary_score"]),
            _signed(m["mean_delta_nll_mean"]),
            _signed(m["max_delta_nll_max"]),
        )
    return t


def print_auto(a: AutoLike, console: Console, top: int = 40) -> None:
    if a.table.empty:
        console.print("no secondary sinks found: nothing to intervene on (try a longer text or --generate).")
        return
    console.print(auto_table(a, top=top))
    console.print(auto_summary_table(a))


def dose_table(d: DoseLike) -> Table:
    what = "ALPHA" if d.mode == "induce" else "NORM"
    t = Table(
        title=(
            f"dose-response: {d.mode} at block {d.layer}, token {d.position} {_tok(d.token)} "
            f"(clean: class {d.clean_kind}, score {_f(d.clean_score)}, lifetime {d.clean_lifetime})"
        )
    )
    for col in (what, "score (l>=b)", "lifetime", "class", "outcome", "||m'||", "m'.u", "dNLL mean", "dNLL max"):
        t.add_column(col, justify="left" if col in ("class", "outcome") else "right")
    for _, r in d.table.iterrows():
        t.add_row(
            _f(r["value"], 6),
            _f(r["score"]),
            str(int(r["lifetime"])),
            str(r["kind"]),
            outcome_label(r),
            _f(r["mlp_norm"]),
            _f(r["mlp_proj"]),
            _signed(r["delta_nll_mean"]),
            _signed(r["delta_nll_max"]),
        )
    return t


def print_dose(d: DoseLike, console: Console) -> None:
    console.print(dose_table(d))
    console.print(
        f"score non-decreasing in {('ALPHA' if d.mode == 'induce' else 'NORM')}: {'yes' if d.monotone('score') else 'no'}; "
        f"lifetime non-decreasing: {'yes' if d.monotone('lifetime') else 'no'}"
    )


__all__ = [
    "AutoLike",
    "DoseLike",
    "InterventionLike",
    "NllLike",
    "auto_summary_table",
    "auto_table",
    "dose_table",
    "intervention_table",
    "outcome_counts_text",
    "outcome_label",
    "print_auto",
    "print_dose",
    "print_intervention",
]
