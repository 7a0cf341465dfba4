"""The long-protocol section of REPRODUCTION.md from a long run dict (long_results.json), and the
whole document (the short protocol's part, unchanged, then this section). Pure: no model; the
prose lives in `templates/REPRODUCTION_long.md.j2`, the authors' reference points in
references.json ("long_references")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sinkscope.workflows.reproduce.long_stats import DEFAULT_CELL, REGIONS, relative_depth
from sinkscope.workflows.reproduce.render import references, render_markdown, template_environment
from sinkscope.workflows.reproduce.rules import CLAIMS, RULES
from sinkscope.workflows.reproduce.values import MISSING, as_float, fmt_duration, fmt_num, fmt_pct

LONG_RESULTS = Path("reproduction") / "long" / "long_results.json"
SHORT_RESULTS = Path("reproduction") / "results.json"


def read_results(out: str | Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(short run, long run) as stored under `out` (None where the file does not exist)."""
    out = Path(out)
    return tuple(  # type: ignore[return-value]
        json.loads((out / p).read_text(encoding="utf-8")) if (out / p).exists() else None
        for p in (SHORT_RESULTS, LONG_RESULTS)
    )


def document(short_run: dict[str, Any] | None, long_run: dict[str, Any] | None) -> str:
    """REPRODUCTION.md: `render.render_markdown(short_run)` (byte for byte what the short protocol
    alone writes), then, after a blank line, the long section; a final newline."""
    parts = [render_markdown(short_run)] if short_run is not None else []
    if long_run is not None and long_run.get("models"):
        parts.append(render_long_markdown(long_run))
    return "\n\n".join(parts) + "\n"


# ---- cells ---------------------------------------------------------------------------------------
def _q(d: dict[str, Any] | None, digits: int = 2) -> str:
    """'median [q1, q3]' or MISSING."""
    d = d or {}
    if d.get("median") is None:
        return MISSING
    return f"{fmt_num(d['median'], digits)} [{fmt_num(d['q1'], digits)}, {fmt_num(d['q3'], digits)}]"


def _share(s: dict[str, Any] | None) -> str:
    s = s or {}
    return f"{s.get('n', 0)}/{s.get('of', 0)} ({fmt_pct(s.get('share'))})" if s.get("of") else MISSING


def _tokens(top: list[list[Any]]) -> str:
    return ", ".join(f"`{repr(str(t))[1:-1]}` ({i}) x{c}" for t, i, c in top[:3]) or MISSING


def _as_list(v: Any) -> list[Any]:
    """A run's "n_tokens": a list of lengths (an int in runs written before several were allowed)."""
    return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]


def _ok(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in run.get("models") or [] if m.get("status") == "ok"]


def setup_rows(run: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for m in run.get("models") or []:
        if m.get("status") != "ok":
            rows.append([m["name"], *[MISSING] * 7, f"not run: {m.get('reason')}"])
            continue
        s, t = m["setup"], m["timings"]
        pt = s["prompt_tokens"]
        rows.append([
            m["name"], s["n_layers"], s["n_traces"], f"{pt['min']}-{pt['max']}", s["generated_tokens"],
            m["general"]["shared_prefix_tokens"], fmt_num(t.get("generate_s", 0) / 3600, 2),
            fmt_num(t.get("capture_s", 0) / 60, 1),
            f"analysis {fmt_duration(t.get('analysis_s', 0))}, grid {fmt_duration(t.get('grid_s', 0))}",
        ])
    return rows


def region_rows(run: dict[str, Any], mode: str = "general") -> list[list[Any]]:
    rows = []
    for m in _ok(run):
        g = m[mode]
        for r in ("all", *REGIONS):
            x = g["regions"][r]
            bl = x.get("birth_layers")
            rows.append([
                m["name"], r, x["n"], x["n_distinct_tokens"], _tokens(x["top_tokens"]),
                f"{bl[0]}-{bl[1]}" if bl else MISSING, _q(x["rel_birth"]), fmt_pct(x.get("share_middle")),
                _q(x["lifetime"], 0),
                _q(x["lifetime_over_L"]), fmt_num(x.get("score_ratio")),
            ])
    return rows


def _ref_range(r: dict[str, Any], key: str) -> str:
    """A reference birth (relative depth, `relative_depth`) or lifetime (/ L) range with its blocks."""
    v, n = r.get(key), r.get("n_layers")
    if not v or not n:
        return MISSING
    lo, hi = ((relative_depth(v[0], n), relative_depth(v[1], n)) if key == "birth" else (v[0] / n, v[1] / n))
    txt = f"{v[0]}/{n}" if v[0] == v[1] else f"{v[0]}-{v[1]}/{n}"
    return f"{fmt_num(lo)}" + (f"-{fmt_num(hi)}" if hi != lo else "") + f" ({txt})"


def reference_rows(run: dict[str, Any]) -> list[list[Any]]:
    """The authors' reference points, then ours (general mode, every region pooled; the share of
    samples counts sinks in the generated part), in the same units."""
    rows = []
    for r in references().get("long_references", []):
        s = r.get("samples")
        rows.append([
            f"{r['model']} (authors)", r.get("n_layers") or MISSING, _ref_range(r, "birth"), _ref_range(r, "lifetime"),
            f"{s[0]}/{s[1]} ({fmt_pct(s[0] / s[1])})" if s else MISSING,
            r["n_sinks"] if r.get("n_sinks") is not None else MISSING,
            r["levels"] if r.get("levels") is not None else MISSING,
            r["top_token_id"] if r.get("top_token_id") is not None else MISSING, r["source"],
        ])
    for m in _ok(run):
        g = m["general"]
        a = g["regions"]["all"]
        top = a["top_tokens"]
        rows.append([
            f"{m['name']} (ours)", g["n_layers"], _q(a["rel_birth"]), _q(a["lifetime_over_L"]),
            _share(g["samples_with_secondary"]["generated"]), g["n_secondary"], g["levels"]["n_levels"],
            f"{top[0][1]} (`{repr(str(top[0][0]))[1:-1]}`)" if top else MISSING,
            f"{m['setup']['n_traces']} sampled traces of {m['setup']['eos_suppressed_until']} tokens",
        ])
    return rows


def sample_rows(run: dict[str, Any]) -> list[list[Any]]:
    return [
        [m["name"], *(_share(m[mode]["samples_with_secondary"][r]) for mode in ("general", "paper") for r in REGIONS)]
        for m in _ok(run)
    ]


def levels_rows(run: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for m in _ok(run):
        for mode in ("general", "paper"):
            lv, v = m[mode]["levels"], m[mode]["verdicts"]["5"]
            desc = "; ".join(
                f"b {x['birth'][0]}-{x['birth'][1]} × life {x['lifetime'][0]}-{x['lifetime'][1]} ({fmt_pct(x['share'])})"
                for x in lv["levels"]
            ) or "none"
            rows.append([m["name"], mode, lv["n_sinks"], lv["n_levels"], desc, f"**{v['verdict']}**", v["reason"]])
    return rows


def verdict_rows(run: dict[str, Any]) -> list[list[Any]]:
    return [
        [f"{m['name']} ({mode})", *(m[mode]["verdicts"][str(c)]["verdict"] for c in CLAIMS)]
        for m in _ok(run) for mode in ("general", "paper")
    ]


def sensitivity_rows(run: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for m in _ok(run):
        for c, s in m["sensitivity"]["summary"].items():
            counts = ", ".join(f"{v} {n}" for v, n in s["counts"].items())
            rows.append([m["name"], c, s["default"], "stable" if s["stable"] else "flips", counts,
                         ", ".join(s["flips_with"]) or MISSING])
    return rows


def _over_grid(cells: Sequence[dict[str, Any]], key: str, default: Any, pct: bool = False) -> str:
    """'value at the default cell (min-max over the grid)' of one cell number; '–' when the cells
    predate it."""
    vals = [c.get(key) for c in cells]
    if not vals or any(v is None for v in vals):
        return MISSING
    show = fmt_pct if pct else str
    lo, hi = min(vals), max(vals)
    span = show(lo) if lo == hi else f"{show(lo)}-{show(hi)}"
    return f"{show(default) if default is not None else MISSING} ({span})"


def grid_count_rows(run: dict[str, Any]) -> list[list[Any]]:
    """Per model: secondary sinks in the generated part, those born in the middle band, and the
    share of samples with one, at the default cell and over the whole grid; then the cell with the
    most middle-born sinks in the generated part."""
    rows = []
    for m in _ok(run):
        cells = m["sensitivity"]["cells"]
        d = next((c for c in cells if all(c.get(p) == v for p, v in DEFAULT_CELL.items())), {})
        row = [m["name"], *(_over_grid(cells, k, d.get(k), k.startswith("share")) for k in
                            ("n_secondary", "n_generated", "n_generated_middle", "share_samples_generated"))]
        top = max(cells, key=lambda c: c.get("n_generated_middle") or 0, default={})
        row.append(f"{top['n_generated_middle']} at tau {top['tau']:g}, k {top['k']:g}, min lifetime "
                   f"{top['min_lifetime']}, {top['cosine']}" if top.get("n_generated_middle") else MISSING)
        rows.append(row)
    return rows


def answers(run: dict[str, Any]) -> list[str]:
    """One plain sentence per model: do secondary sinks form in the middle layers of the generated
    part, and do levels appear."""
    lo, hi = RULES["middle_lo"], RULES["middle_hi"]
    out = []
    for m in _ok(run):
        g = m["general"]
        gen = g["regions"]["generated"]
        med = as_float((gen["rel_birth"] or {}).get("median"))
        if not gen["n"]:
            where = "no secondary sink in the generated part"
        else:
            band = "middle" if lo <= (med or 0) <= hi else ("early" if (med or 0) < lo else "late")
            where = (f"{gen['n']} distinct secondary sinks in the generated part, born at relative depth "
                     f"{_q(gen['rel_birth'])} (median [IQR]: {band} layers; {fmt_pct(gen.get('share_middle'))} "
                     f"in the middle band {lo:g}-{hi:g})")
        lv = g["levels"]
        # paper mode's own window: it reads the published code's states (docs/method.md §3), so its
        # window can end elsewhere than general mode's
        win = (m["paper"]["claims"].get("weakening") or {}).get("window")
        paper_scope = f"; it scans only the primary window, blocks {win[0]}-{win[1]}" if win else ""
        out.append(
            f"**{m['name']}** ({m['setup']['n_traces']} traces, {m['setup']['generated_tokens']} generated tokens): "
            f"{where}; {_share(g['samples_with_secondary']['generated'])} of the samples hold one; "
            f"{lv['n_levels']} level(s) over {lv['n_sinks']} sinks, verdict *{g['verdicts']['5']['verdict']}*; "
            f"paper mode finds {m['paper']['n_secondary']} secondary sinks "
            f"({m['paper']['regions']['generated']['n']} in the generated part){paper_scope}."
        )
    return out


@dataclass(frozen=True)
class LongPage:
    """Everything REPRODUCTION_long.md.j2 reads besides references.json."""

    command: str
    created: str
    minutes: float  # capture + analysis + grid, summed over the models (cached entries included)
    run_minutes: float  # this run's own wall time (small when it reused cached entries)
    n_tokens: str  # tokens generated per trace: "1024", or "1024 or 2048" when the models' stores differ
    env: dict[str, Any]  # cpus, threads, python, torch, transformers, sinkscope ('?' when unknown)
    sampling: dict[str, Any]
    grid: dict[str, Any]
    answers: list[str]
    setup_rows: list[list[Any]]
    region_rows: list[list[Any]]
    paper_region_rows: list[list[Any]]
    sample_rows: list[list[Any]]
    reference_rows: list[list[Any]]
    levels_rows: list[list[Any]]
    verdict_rows: list[list[Any]]
    sensitivity_rows: list[list[Any]]
    grid_count_rows: list[list[Any]]
    figures: list[tuple[str, list[tuple[str, str]]]]
    totals: dict[str, Any]


def build_long_page(run: dict[str, Any]) -> LongPage:
    ok = _ok(run)
    return LongPage(
        command=run.get("command") or "sinkscope reproduce --protocol long",
        created=run.get("created", "?"),
        minutes=sum(m["timings"].get(k, 0) for m in ok for k in ("capture_s", "analysis_s", "grid_s")) / 60,
        run_minutes=(run.get("timings") or {}).get("total_s", 0) / 60,
        n_tokens=" or ".join(str(n) for n in _as_list(run.get("n_tokens"))) or "?",
        env={k: (run.get("environment") or {}).get(k, "?")
             for k in ("cpus", "threads", "python", "torch", "transformers", "sinkscope")},
        sampling=ok[0]["setup"]["sampling"] if ok else {},
        grid=run.get("grid") or {},
        answers=answers(run),
        setup_rows=setup_rows(run),
        region_rows=region_rows(run),
        paper_region_rows=region_rows(run, "paper"),
        sample_rows=sample_rows(run),
        reference_rows=reference_rows(run),
        levels_rows=levels_rows(run),
        verdict_rows=verdict_rows(run),
        sensitivity_rows=sensitivity_rows(run),
        grid_count_rows=grid_count_rows(run),
        figures=[(m["name"], list((m.get("figures") or {}).items())) for m in ok],
        totals={
            "traces": sum(m["setup"]["n_traces"] for m in ok),
            "generated": sum(m["setup"]["generated_tokens"] for m in ok),
            "generate_h": sum(m["timings"].get("generate_s", 0) for m in ok) / 3600,
        },
    )


def render_long_markdown(run: dict[str, Any]) -> str:
    """The long-protocol section (Markdown, no trailing newline) of a long run dict."""
    page = build_long_page(run)
    ctx = {f.name: getattr(page, f.name) for f in fields(page)}
    return template_environment().get_template("REPRODUCTION_long.md.j2").render(**ctx, **references(), rules=RULES).rstrip("\n")
