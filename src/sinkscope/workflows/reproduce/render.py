"""REPRODUCTION.md from a run dict (as stored in reproduction/results.json). Pure: no model, no
file access beyond the package's template and reference data.

The document's prose and layout live in `templates/REPRODUCTION.md.j2` (the verdict rules in
`templates/rules.md.j2`), the paper's facts (title, claims, reference numbers) in
`references.json`; this module builds the typed payload (`Page`): table rows of formatted
numbers, recomputed verdicts (`rules.verdicts`), figure links."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from sinkscope.analysis import AnalysisConfig
from sinkscope.workflows.reproduce.figures import MODEL_FIGURES
from sinkscope.workflows.reproduce.plans import CATEGORY_PATTERN, INTERVENTION_MODE
from sinkscope.workflows.reproduce.rules import CLAIMS, RULES, discrete_levels, verdicts
from sinkscope.workflows.reproduce.values import MISSING, as_float, fmt_duration, fmt_num, fmt_pct

PACKAGE = "sinkscope.workflows.reproduce"
ANALYSIS_KEYS = ("levels_min_share", "levels_tol", "n_boot", "seed")  # printed beside the detector


@cache
def references() -> dict[str, Any]:
    """references.json: the paper (title, authors, reference numbers) and its five claims."""
    return json.loads(resources.files(PACKAGE).joinpath("references.json").read_text(encoding="utf-8"))


# ---- cells ---------------------------------------------------------------------------------------
def _ranges(layers: Sequence[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'; [] -> 'none'."""
    if not layers:
        return "none"
    xs = sorted(int(x) for x in layers)
    parts, a, b = [], xs[0], xs[0]
    for x in xs[1:]:
        if x == b + 1:
            b = x
            continue
        parts.append(f"{a}" if a == b else f"{a}-{b}")
        a = b = x
    parts.append(f"{a}" if a == b else f"{a}-{b}")
    return ", ".join(parts)


def _cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _tok(t: str) -> str:
    return "`" + repr(str(t))[1:-1].replace("`", "'") + "`"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; row cells are escaped ('|' -> '\\|', newlines -> spaces). A row whose
    second cell is None (`ClaimRow.cells` of a model not run) is padded with "–" to the header."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        if isinstance(row, ClaimRow):
            row = row.padded(len(header))
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(out)


def _q(d: dict[str, Any] | None, d_: int = 2, integer: bool = False) -> tuple[str, str, str]:
    """median, [q1, q3], min-max as strings."""
    d = d or {}
    if d.get("median") is None:
        return MISSING, MISSING, MISSING
    if integer:
        return (f"{d['median']:g}", f"[{d['q1']:g}, {d['q3']:g}]", f"{d['min']:g}-{d['max']:g}")
    return (fmt_num(d["median"], d_), f"[{fmt_num(d['q1'], d_)}, {fmt_num(d['q3'], d_)}]",
            f"{fmt_num(d['min'], d_)}-{fmt_num(d['max'], d_)}")


def _ci_txt(v: Any, ci: Any) -> str:
    if as_float(v) is None:
        return MISSING
    ci = ci or [None, None]
    return f"{fmt_num(v)} [{fmt_num(ci[0])}, {fmt_num(ci[1])}]"


def _label(m: dict[str, Any]) -> str:
    return str(m.get("label") or m.get("name"))


# ---- claim tables --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimRow:
    """One model's row of a claim table: label, the claim's cells (None: not run), verdict."""

    label: str
    cells: list[Any] | None
    verdict: str
    reason: str

    def padded(self, n_columns: int) -> list[Any]:
        cells = self.cells if self.cells is not None else [MISSING] * (n_columns - 3)
        return [self.label, *cells, f"**{self.verdict}**", self.reason]


def _existence_cells(e: dict[str, Any]) -> list[Any]:
    rb = _q(e.get("rel_birth"))
    lt = _q(e.get("lifetime"), integer=True)
    ps = _q(e.get("position"), integer=True)
    bl = e.get("birth_layers")
    return [
        e.get("n_layers"), f"{e.get('n_tokens')} ({e.get('n_tokens_distinct')})",
        f"{e.get('n_secondary')} ({e.get('n_secondary_records')})",
        fmt_num(e.get("per_1k_tokens"), 1), fmt_pct(e.get("share_in_generated")),
        f"{fmt_pct(e.get('share_in_shared_prefix'))} of {e.get('shared_prefix_tokens')} tok",
        f"{ps[0]} ({ps[2]})",
        f"{bl[0]}-{bl[1]}" if bl else MISSING, f"{rb[0]} {rb[1]}",
        f"{fmt_pct(e.get('share_early'))} / {fmt_pct(e.get('share_middle'))} / {fmt_pct(e.get('share_late'))}",
        f"{lt[0]} {lt[1]} ({lt[2]})",
        f"{fmt_num(e.get('mean_score_secondary'), 3)} / {fmt_num(e.get('mean_score_primary'), 3)} "
        f"({fmt_num(e.get('score_ratio'))})",
        ", ".join(f"{_tok(t)}x{c}" for t, c in (e.get("top_tokens") or [])[:3]) or MISSING,
        e.get("n_secondary_centred") if e.get("n_secondary_centred") is not None else MISSING,
    ]


def _formation_cells(fm: dict[str, Any]) -> list[Any]:
    c = fm.get("causal") or {}
    tested = bool(c.get("n_sinks"))
    observed = [
        fm.get("n"), fmt_num(fm.get("median_cos")), fmt_pct(fm.get("share_abs_cos_09")),
        fmt_num(fm.get("median_cos_primary_mlp")), fmt_num(fm.get("median_mlp_share")),
        fmt_num(fm.get("median_mlp_norm"), 1),
    ]
    if not tested:
        return [*observed, "not run", MISSING, MISSING, MISSING, MISSING, MISSING]
    oc = c.get("outcomes")
    others = (f"{oc['weakened']} / {oc['unchanged']} / {oc['strengthened']} ({oc['promoted']})"
              if oc else MISSING)
    return [
        *observed,
        f"{c.get('n_sinks')} ({c.get('n_prompts')})",
        f"{c.get('n_removed')}/{c.get('n_sinks')} ({fmt_pct(c.get('share_removed'))})",
        others,
        f"{fmt_num(c.get('mean_delta_score'), 4)} (from {fmt_num(c.get('mean_score_before'), 4)})",
        fmt_num(c.get("mean_delta_lifetime"), 1),
        f"{fmt_num(c.get('mean_delta_nll'), 4)} ({fmt_num(c.get('max_delta_nll'))})",
    ]


def _norm_law_cells(nl: dict[str, Any]) -> list[Any]:
    return [
        nl.get("n"),
        *(_ci_txt(nl.get(k), nl.get(f"{k}_ci"))
          for k in ("spearman_score", "pearson_score", "spearman_lifetime", "pearson_lifetime")),
    ]


def _weakening_cells(wk: dict[str, Any]) -> list[Any]:
    w = wk.get("window")
    return [
        wk.get("n_layers"), f"{w[0]}-{w[1]}" if w else MISSING,
        f"{fmt_num(wk.get('plateau'), 3)} ({wk.get('plateau_layer')})",
        f"{wk.get('dip_layer')} ({fmt_num(wk.get('dip_rel_depth'))})" if wk.get("dip_layer") is not None else MISSING,
        fmt_num(wk.get("dip_score"), 3), fmt_num(wk.get("dip_ratio")), _ranges(wk.get("weakened_layers") or []),
        fmt_pct(wk.get("coincides_with_births")), fmt_pct(wk.get("share_prompts_weakened")),
    ]


def _levels_cells(lv: dict[str, Any]) -> list[Any]:
    disc = discrete_levels(lv) if lv else []
    desc = "; ".join(
        f"b {x['birth'][0]}-{x['birth'][1]} × life {x['lifetime'][0]}-{x['lifetime'][1]} ({fmt_pct(x['share'])})"
        for x in lv.get("levels") or []
    ) or "none"
    return [lv.get("n_sinks"), f"{lv.get('n_levels')} ({len(disc)})", desc, lv.get("n_clusters")]


# claim -> (the model entry's key, the cells of that claim's table after the label)
CLAIM_CELLS = {
    1: ("existence", _existence_cells),
    2: ("formation", _formation_cells),
    3: ("norm_law", _norm_law_cells),
    4: ("weakening", _weakening_cells),
    5: ("levels", _levels_cells),
}


def claim_rows(models: list[dict[str, Any]], claim: int) -> list[ClaimRow]:
    """The rows of claim `claim`'s table, one per model entry (cells None when not run)."""
    key, cells = CLAIM_CELLS[claim]
    rows = []
    for m in models:
        v = verdicts(m)[claim]
        ok = m.get("status") == "ok"
        rows.append(ClaimRow(_label(m), cells(m.get(key) or {}) if ok else None, v["verdict"], v["reason"]))
    return rows


def setup_rows(models: list[dict[str, Any]], plans: dict[str, Any]) -> list[list[Any]]:
    """The setup table: one row per model run (re-analysis entries share their model's row)."""
    rows: list[list[Any]] = []
    for m in models:
        s, t = m.get("setup") or {}, m.get("timings") or {}
        p = plans.get(m.get("name")) or {}
        if m.get("variant_of"):
            continue  # a re-analysis of the model above: same prompts, no extra model time
        if m.get("status") != "ok":
            rows.append([_label(m), m.get("params", MISSING), p.get("prompts", MISSING), MISSING,
                         p.get("generate", MISSING), MISSING, MISSING, MISSING, f"not run: {m.get('reason')}"])
            continue
        pt = s.get("prompt_tokens") or {}
        cats = ", ".join(f"{k} {v}" for k, v in (s.get("categories") or {}).items())
        rows.append([
            _label(m), m.get("params", MISSING), f"{s.get('n_prompts')} ({cats})",
            f"{pt.get('min')}-{pt.get('max')} (median {fmt_num(pt.get('median'), 0)})",
            f"{s.get('generate')} ({s.get('generated_tokens')} in all)", "yes" if s.get("chat") else "no",
            f"{p.get('intervene_prompts', MISSING)} prompts x <= {p.get('max_sinks', MISSING)} sinks",
            f"{fmt_num(t.get('total_s', 0) / 60, 1)} min",
            f"load {fmt_num(t.get('load_s'), 0)} s, generate + capture {fmt_num(t.get('scan_s'), 0)} s, "
            f"causal {fmt_num(t.get('interventions_s'), 0)} s, figures {fmt_num(t.get('figures_s'), 0)} s",
        ])
    return rows


# ---- the page ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    label: str
    path: str


@dataclass(frozen=True)
class FigureSection:
    label: str
    paths: list[tuple[str, str]]  # (figure name, path relative to the document)


@dataclass(frozen=True)
class Page:
    """Everything REPRODUCTION.md.j2 reads besides references.json and RULES."""

    mode: str
    command: str
    created: str
    minutes: float
    env: dict[str, Any]  # cpus, threads, python, torch, transformers, sinkscope ('?' when unknown)
    config: dict[str, Any]  # the run's detector config (empty: no Detector line)
    analysis: dict[str, Any]  # ANALYSIS_KEYS from the config, AnalysisConfig defaults where absent
    category_pattern: tuple[str, ...]
    intervention_mode: str
    verdict_rows: list[list[str]]
    setup_rows: list[list[Any]]
    claim_rows: dict[int, list[ClaimRow]]
    figure_links: dict[str, list[Link]]  # figure name -> one link per model with that figure
    models: list[dict[str, Any]]  # the entries (the differences section)
    figure_sections: list[FigureSection]
    scan_dirs: list[str]
    rules_md: str


def build_page(run: dict[str, Any]) -> Page:
    """The payload of the document from a run dict."""
    models = list(run.get("models") or [])
    env = run.get("environment") or {}
    cfg = run.get("config") or {}
    defaults = AnalysisConfig().to_dict()
    figs = [(m, m.get("figures") or {}) for m in models]
    return Page(
        mode=run.get("mode", "full"),
        command=run.get("command") or "sinkscope reproduce",
        created=run.get("created", "?"),
        minutes=(run.get("timings") or {}).get("total_s", 0) / 60,
        env={k: env.get(k, "?") for k in ("cpus", "threads", "python", "torch", "transformers", "sinkscope")},
        config=cfg,
        analysis={k: cfg.get(k, defaults[k]) for k in ANALYSIS_KEYS},
        category_pattern=CATEGORY_PATTERN,
        intervention_mode=INTERVENTION_MODE,
        verdict_rows=[[_label(m)] + [v["verdict"] for v in verdicts(m).values()] for m in models],
        setup_rows=setup_rows(models, run.get("plans") or {}),
        claim_rows={c: claim_rows(models, c) for c in CLAIMS},
        figure_links={k: [Link(_label(m), f[k]) for m, f in figs if f.get(k)] for k in MODEL_FIGURES},
        models=models,
        figure_sections=[
            FigureSection(_label(m), [(k, f[k]) for k in MODEL_FIGURES if f.get(k)]) for m, f in figs if f
        ],
        scan_dirs=[str(m["scan_dir"]) for m in models if m.get("scan_dir")],
        rules_md=rules_markdown(run.get("rules") or RULES),
    )


@cache
def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(PACKAGE, "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(num=fmt_num, pct=fmt_pct, duration=fmt_duration, g=lambda x: f"{x:g}", label=_label)
    env.globals.update(table=table)
    return env


def rules_markdown(r: dict[str, float] = RULES) -> str:
    """The verdict rules as a Markdown list (the same constants the code uses)."""
    return template_environment().get_template("rules.md.j2").render(r=r)


def render_markdown(run: dict[str, Any]) -> str:
    """REPRODUCTION.md from a run dict (as written to reproduction/results.json). Pure: no model;
    the verdicts are recomputed from the numbers with `RULES`."""
    page = build_page(run)
    ctx = {f.name: getattr(page, f.name) for f in fields(page)}
    return template_environment().get_template("REPRODUCTION.md.j2").render(**ctx, **references(), rules=RULES)
