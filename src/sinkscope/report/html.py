"""The HTML report: one self-contained file that opens anywhere, offline, and stays small at long T.

    write_report(res, "run")           -> run/report.html (+ run/figures/*.png|svg)
    build_html(res)                    -> the report as a string
    notebook_html(res)                 -> the compact summary behind `ScanResult._repr_html_`
                                          (sinkscope.report.notebook)

Where things are: the page is assets/report.html.j2 with assets/report.css and assets/report.js
inlined into it (package data, `sinkscope.report.templates`); the data it draws are the typed
payload of `sinkscope.report.payload` (one JSON document + binary blobs); this module builds the
`ReportPage` the template renders, and writes the files.

What makes it self-contained: inline CSS, one inline vanilla-JS script, charts drawn as inline SVG
and the heatmap on a <canvas>; no CDN, no web font, no network request (a Content-Security-Policy
meta tag forbids any fetch, so a regression shows up as a console error in the browser tests).
What keeps it small: see `sinkscope.report.payload` (float16 / log-uint8 blobs, max-pooling past
a cell budget). At T = 8192 on a 30-layer, 9-head model the whole report is about 4.5 MB and
renders in well under a second.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sinkscope.analysis.summary import Summary
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable, write_file_atomic
from sinkscope.core.version import __version__
from sinkscope.report.anatomy_html import Cell, Row, TableView, properties_html
from sinkscope.report.console import self_check_text
from sinkscope.report.figures import write_figures
from sinkscope.report.notebook import notebook_html
from sinkscope.report.payload import build_payload
from sinkscope.report.templates import asset_text, fmt, num, render, safe_utf8, script_json
from sinkscope.report.types import ScanLike

KNOWN_TABLES = frozenset({"sinks.parquet", "layers.parquet", "massive.parquet"})
THRESHOLD_KEYS = ("mode", "tau", "cosine", "k", "min_lifetime", "min_queries", "eps", "baseline")
NAV = (("tokens", "Tokens"), ("heatmap", "Heatmap"), ("sinks", "Sinks"), ("weakening", "Weakening"),
       ("normlaw", "Norm law"), ("levels", "Levels"), ("properties", "Properties"))


# ---- the page model ---------------------------------------------------------------------------
@dataclass
class NavLink:
    anchor: str
    label: str


@dataclass
class Card:
    """One headline number of the summary: label, value, hint (plain text)."""

    label: str
    value: str
    hint: str


@dataclass
class ReportPage:
    """What assets/report.html.j2 renders. Text fields are plain text (the template escapes them);
    `properties`, `data_json`, `css` and `js` are markup / script the template inlines as they are."""

    title: str
    model: str
    model_line: str
    thresholds: str
    created: str
    version: str
    nav: list[NavLink]
    cards: list[Card]
    has_extra: bool
    properties: str  # the docs/method.md §8 <section id="properties"> fragment
    gates: str  # the docs/method.md §12-§13 <section id="gates"> fragment ("" without gates / sink logits)
    manifest: str  # pretty JSON
    data_json: str  # `script_json` of the payload's data
    blobs: dict[str, str]  # element id -> base64
    css: str
    js: str


def _cards(res: ScanLike) -> list[Card]:
    s = res.summary()
    n_tokens = sum(p.n_tokens for p in res.prompts)
    ci = s.spearman_norm_score_ci or [None, None]
    wk_txt, wk_hint = "–", "no middle layer after the plateau"
    if s.dip_ratio is not None:
        wk_txt = f"{s.dip_ratio:.2f}×"
        wk_hint = f"of the plateau, at layer {s.dip_layer} · " + ("weakened" if s.weakened else "not weakened")
    rho = s.spearman_norm_score
    no_att = s.no_attention_layers  # a hybrid's non-softmax layers, docs/method.md §11
    by_region = s.n_secondary_by_region  # prompts with a response (docs/method.md §3)
    rel_birth = s.median("rel_birth")
    return [
        Card("secondary sinks", fmt(s.n_secondary),
             (f"{fmt(s.n_primary_like)} primary-like · {fmt(s.n_noise)} noise · "
              f"{fmt(s.n_unclassified)} unclassified")),
        Card("median birth", fmt(s.median("birth")),
             f"relative depth {fmt(rel_birth, 2)}" if rel_birth is not None else "layer"),
        Card("median lifetime", fmt(s.median("lifetime")), "layers"),
        Card("MLP alignment", fmt(s.median("mlp_cos_primary")), "median cos(m, h_p) at birth"),
        Card("norm law ρ", f"{rho:.2f}" if rho is not None else "–",
             f"Spearman ‖m‖ vs score, 95% CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci[0] is not None
             else (s.norm_law_reason or "Spearman ‖m‖ vs score")),
        Card("primary dip", wk_txt, wk_hint),
        Card("sink levels", fmt(s.n_levels), "clusters of (birth, lifetime)"),
        Card("tokens", fmt(n_tokens), f"{len(res.prompts)} prompt{'s' if len(res.prompts) != 1 else ''}"),
        Card("self-check", *self_check_text(((res.manifest or {}).get("capture") or {}).get("self_check"))),
    ] + _gate_cards(s) + ([Card("in the response", fmt(by_region["generated"]),
               " · ".join(f"{r} {by_region[r]}" for r in by_region) + " secondary sinks by region (docs/method.md §3)")]
         if by_region else []) + ([Card("attention layers", f"{res.findings.n_layers - len(no_att)} / {res.findings.n_layers}",
               f"no attention probabilities: layer(s) {', '.join(map(str, no_att))} (hatched)")] if no_att else [])


def _gate_cards(s: Summary) -> list[Card]:
    """Cards for gated attention (docs/method.md §12) and learned sink logits (§13), when present."""
    cards = []
    if s.gate_primary is not None:
        cards.append(Card("output gate", fmt(s.gate_primary),
                          f"mean sigmoid(gate) at the primary · secondary {fmt(s.gate_secondary)} · "
                          f"ordinary {fmt(s.gate_ordinary)}"))
    if s.learned_sink_sink_mass is not None:
        cards.append(Card("learned sink", fmt(s.learned_sink_sink_mass),
                          f"mean 1 − Σ_j A_ij · primary score {fmt(s.learned_sink_primary_score)}"))
    return cards


GATE_TABLE_ROWS = 48  # rows per table on the page; every row is in findings.json


def gates_section(res: ScanLike) -> str:
    """docs/method.md §12-§13 as the page's <section id="gates"> (empty string for a model with neither
    output gates nor learned sink logits): the findings' per layer and head tables."""
    f = res.findings
    gates = getattr(f, "gates", None)
    learned = getattr(f, "learned_sink", None)
    if (gates is None or gates.empty) and (learned is None or learned.empty):
        return ""

    def view(df: pd.DataFrame | None, cols: list[tuple[str, str]]) -> TableView | None:
        if df is None or df.empty:
            return None
        rows = [Row([Cell(str(int(r[c])) if c in ("layer", "head") else num(r[c])) for c, _ in cols])
                for _, r in df.head(GATE_TABLE_ROWS).iterrows()]
        return TableView([lab for _, lab in cols], rows)

    v = {
        "gates": view(gates, [("layer", "layer"), ("head", "head"), ("gate_primary", "gate at primary"),
                              ("gate_secondary", "at secondary sinks"), ("gate_ordinary", "at ordinary tokens")]),
        "gates_more": max(0, len(gates) - GATE_TABLE_ROWS) if gates is not None else 0,
        "learned": view(learned, [("layer", "layer"), ("head", "head"), ("sink_mass", "learned sink mass"),
                                  ("primary_score", "primary score")]),
        "learned_more": max(0, len(learned) - GATE_TABLE_ROWS) if learned is not None else 0,
    }
    return render("gates.html.j2", v=v)


def _model_line(model: dict[str, Any], dtype: Any) -> str:
    return " · ".join(
        x for x in (
            f"{model.get('architecture')}" if model.get("architecture") else "",
            f"{model.get('n_layers')} layers" if model.get("n_layers") else "",
            f"{model.get('n_heads')} heads / {model.get('n_kv_heads')} KV" if model.get("n_heads") else "",
            f"{dtype}" if dtype else "",
        ) if x
    )


def properties_section(res: ScanLike) -> str:
    """docs/method.md §8 (residual / key / value norms of sinks vs non-sinks) as the page's
    <section id="properties">, from the properties the findings carry."""
    frag = properties_html(res)
    return frag.replace("<section", '<section id="properties"', 1) if 'id="properties"' not in frag else frag


def build_html(res: ScanLike, *, extra_tables: dict[str, pd.DataFrame] | None = None, title: str | None = None) -> str:
    """The whole report as one HTML string (see the module docstring)."""
    payload = build_payload(res, extra_tables)
    d = payload.data
    model = d.model.get("ref") or "model"
    n_prompts = len(d.prompts)
    nav = [NavLink(a, b) for a, b in NAV]
    if d.extra:
        nav.append(NavLink("interventions", "Interventions"))
    nav.append(NavLink("manifest", "Manifest"))
    cfg = res.config.to_dict()
    page = ReportPage(
        title=title or f"sinkscope · {model} · {n_prompts} prompt{'s' if n_prompts != 1 else ''}",
        model=str(model),
        model_line=_model_line(d.model, res.manifest.get("dtype")),
        thresholds=" · ".join(f"{k} {cfg[k]}" for k in THRESHOLD_KEYS if k in cfg),
        created=str(res.manifest.get("created") or d.generated),
        version=__version__,
        nav=nav,
        cards=_cards(res),
        has_extra=bool(d.extra),
        properties=properties_section(res),
        gates=gates_section(res),
        manifest=json.dumps(jsonable(res.manifest), indent=2, ensure_ascii=False, default=str),
        data_json=script_json(d),
        blobs=payload.blobs,
        css=asset_text("report.css"),
        js=asset_text("report.js"),
    )
    return safe_utf8(render("report.html.j2", page=page))


# ---- files ------------------------------------------------------------------------------------
KNOWN_JSON = frozenset({"manifest.json", "findings.json"})


def resolve_run(path: str | Path) -> tuple[Path, Path]:
    """(scan folder, run folder) of a folder given to `sinkscope report`: a scan folder is both;
    an intervention folder (`intervene`, `auto`, `dose` outputs: tables + json at the top, the
    clean scan in clean/) reports its clean scan with its own tables."""
    d = Path(path)
    if not (d / "manifest.json").exists() and (d / "clean" / "manifest.json").exists():
        return d / "clean", d
    return d, d


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, (list, tuple)):
        return [(prefix, ", ".join(str(jsonable(v)) for v in obj))]
    return [(prefix, obj)]


def _summary_value(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return v
    return str(v)


def find_extra_tables(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """What a run folder holds besides the scan's own files, by file stem: every `*.parquet`
    other than sinks, layers and massive (intervention results: targets, nll, auto, dose, ...),
    and the "summary" of every other `*.json` that has one, as a (key, value) table."""
    d = Path(run_dir)
    out: dict[str, pd.DataFrame] = {}
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.json")):
        if f.name in KNOWN_JSON:
            continue
        try:
            obj = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(obj, dict) and isinstance(obj.get("summary"), dict):
            rows = _flatten(obj["summary"])
            out[f"{f.stem} summary"] = pd.DataFrame(
                {"key": [k for k, _ in rows], "value": [_summary_value(v) for _, v in rows]}
            )
    for f in sorted(d.glob("*.parquet")):
        if f.name in KNOWN_TABLES:
            continue
        try:
            out[f.stem] = pd.read_parquet(f)
        except Exception as e:  # noqa: BLE001 - an unreadable extra table must not cost the whole report
            print(f"sinkscope: skipping unreadable table {f.name} ({e})", file=sys.stderr)
    return out


@dataclass
class ReportFiles:
    """What `write_report` wrote: the page (None when it failed with strict=False), the figures,
    the page's size, and the error text of a non-strict failure."""

    html: Path | None
    figures: list[Path] = field(default_factory=list)
    size_bytes: int = 0
    error: str | None = None


def write_report(
    res: ScanLike,
    dest: str | Path,
    *,
    figures: bool = True,
    run_dir: str | Path | None = None,
    extra_tables: dict[str, pd.DataFrame] | None = None,
    strict: bool = True,
) -> ReportFiles:
    """Write the HTML report (atomically: temporary file + os.replace) and the paper figures.

    dest     a run folder (-> dest/report.html) or an .html file.
    run_dir  where extra tables are looked up (default: dest when it is a folder) and where
             figures go (run_dir/figures; default: next to the HTML file).
    strict   False: a failure is reported on stderr and in the result instead of raised (used by
             `scan`, whose data are already safely written when the report is made).
    """
    dest = Path(dest)
    try:
        if dest.suffix.lower() in (".html", ".htm"):
            out = dest
        else:
            out = dest / "report.html"
            run_dir = run_dir if run_dir is not None else dest
        if extra_tables is None and run_dir is not None:
            extra_tables = find_extra_tables(run_dir)
        text = build_html(res, extra_tables=extra_tables)
        try:
            write_file_atomic(out, lambda fh: fh.write(text), mode="w")
        except OSError as e:
            raise InputError(f"cannot write the report to '{out}' ({e.strerror or e}); choose a writable --out.") from e
        written: list[Path] = []
        if figures:
            fig_dir = (Path(run_dir) if run_dir is not None else out.parent) / "figures"
            try:
                written = write_figures(res, fig_dir)
            except OSError as e:
                raise InputError(f"cannot write figures to '{fig_dir}' ({e.strerror or e}).") from e
        return ReportFiles(out, written, out.stat().st_size)
    except Exception as e:
        if strict:
            raise
        print(f"sinkscope: warning: the report was not written ({e})", file=sys.stderr)
        return ReportFiles(None, [], 0, str(e))


__all__ = [
    "Card", "NavLink", "ReportFiles", "ReportPage", "build_html", "find_extra_tables", "notebook_html",
    "properties_section", "resolve_run", "write_report",
]
