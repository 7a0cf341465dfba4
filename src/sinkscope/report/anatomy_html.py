"""Self-contained HTML fragments for sink properties (docs/method.md §8) and anatomy (§9).

    properties_html(res) -> str     norms per layer (inline SVG, log scale) and the ratio table
    anatomy_html(result) -> str     contrast, probe, PCA table and alpha curves (inline SVG)
    svg_lines(series)    -> str     the small inline-SVG line chart both use

Fragments only (one <section> each, inline styles, inline SVG): no scripts, no external resources,
so they can be dropped into the report page or a notebook as they are. The markup is in
assets/properties.html.j2, assets/anatomy.html.j2, assets/lines.svg.j2 (shared pieces:
assets/fragments.j2); this module computes what they show. The §8 numbers are the ones the
findings carry (`res.findings.properties()`), never recomputed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sinkscope.analysis.columns import column
from sinkscope.analysis.properties import SinkProperties
from sinkscope.report.anatomy_figures import (
    NON_SINK_COLOUR,
    PRIMARY_COLOUR,
    SECONDARY_COLOUR,
    busiest_prompt,
    sink_properties,
)
from sinkscope.report.templates import num, render
from sinkscope.report.types import ScanLike

if TYPE_CHECKING:
    from sinkscope.analysis.anatomy import AnatomyResult

# The anatomy curves' colours on a white page: anatomy_figures' cycle with a darker yellow last.
DIRECTION_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#B59B00")
OTHER_DIRECTION = "#b8b8b8"
PROPERTY_COLUMNS = (
    ("group", "class"), *((c, column(c).display) for c in ("position", "token", "birth", "lifetime")),
    ("resid_jump", "‖h‖ jump at birth"), ("resid_ratio_life", "‖h‖ ratio"), ("key_ratio_life", "‖k‖ ratio"),
    ("value_ratio_life", "‖v‖ ratio"), ("value_ratio_before", "‖v‖ ratio before"),
    ("attn_value_ratio_life", "Σ A‖v‖ ratio"), ("score_life", "score"),
)
PC_HEADERS = ("", "var. ratio", "d·u/‖d‖", "share of ‖d‖²", "cos(u, x_p)", "+PC cos", "+PC ‖f‖", "α",
              "−PC cos", "−PC ‖f‖", "α")


def show_token(tok: Any) -> str:
    """A whitespace-only token made visible (␣ ↵ ⇥; ∅ for the empty token)."""
    t = str(tok)
    if t.strip() == "":
        return t.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅"
    return t


# ---- a tiny SVG line chart ------------------------------------------------------------------------
def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    v = math.ceil(lo / step) * step
    out = []
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


@dataclass
class Tick:
    pos: str  # pixel coordinate along the axis
    text_pos: str  # pixel coordinate of the label
    label: str


@dataclass
class Polyline:
    points: str
    colour: str
    width: float = 1.2
    opacity: float = 1
    dash: str | None = None
    label: str | None = None


@dataclass
class LinesView:
    """What assets/lines.svg.j2 draws (pixel coordinates already formatted)."""

    width: int
    height: int
    empty: bool = False
    title: str = ""
    xlabel: str = ""
    ml: int = 44
    mt: int = 18
    pw: int = 0
    ph: int = 0
    xlabel_x: str = ""
    mark_colour: str = SECONDARY_COLOUR
    yticks: list[Tick] = field(default_factory=list)
    xticks: list[Tick] = field(default_factory=list)
    hlines: list[str] = field(default_factory=list)
    vlines: list[Tick] = field(default_factory=list)
    lines: list[Polyline] = field(default_factory=list)


def svg_lines(
    series: Sequence[dict[str, Any]],
    *,
    width: int = 300,
    height: int = 190,
    log_y: bool = False,
    title: str = "",
    xlabel: str = "",
    ylim: tuple[float, float] | None = None,
    vlines: Sequence[tuple[float, str]] = (),
    hlines: Sequence[float] = (),
) -> str:
    """Inline SVG of line series: each series a dict(x, y, colour, width=1.2, dash=None, label=None,
    opacity=1). log_y plots log10(y) with power-of-ten ticks (non-positive values are dropped)."""
    ml, mr, mt, mb = 44, 8, 18, 30
    pw, ph = width - ml - mr, height - mt - mb
    prepared = []
    for s in series:
        x = np.asarray(s["x"], dtype=float)
        y = np.asarray(s["y"], dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if log_y:
            ok &= y > 0
            y = np.where(ok, np.log10(np.where(y > 0, y, 1.0)), np.nan)
        prepared.append((s, x[ok], y[ok]))
    xa = np.concatenate([x for _, x, _ in prepared]) if prepared else np.zeros(0)
    ya = np.concatenate([y for _, _, y in prepared]) if prepared else np.zeros(0)
    if xa.size == 0:
        return render("lines.svg.j2", v=LinesView(width, height, empty=True))
    x0, x1 = float(xa.min()), float(xa.max())
    if x1 <= x0:
        x1 = x0 + 1
    if ylim is not None:
        y0, y1 = ylim
    else:
        y0, y1 = float(ya.min()), float(ya.max())
        if log_y:
            y0, y1 = math.floor(y0 * 2) / 2, math.ceil(y1 * 2) / 2
        pad = (y1 - y0) * 0.05 or 0.5
        if not log_y:
            y0, y1 = y0 - pad, y1 + pad
        if y1 <= y0:
            y1 = y0 + 1

    def px(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return mt + (1 - (v - y0) / (y1 - y0)) * ph

    if log_y:
        yt = [float(v) for v in range(math.ceil(y0), math.floor(y1) + 1)]
        if len(yt) < 3:  # less than ~2 decades: add 2x and 5x ticks
            yt = sorted(v + math.log10(m) for v in range(math.floor(y0), math.ceil(y1) + 1) for m in (1, 2, 5)
                        if y0 <= v + math.log10(m) <= y1)
        ylab = [f"1e{round(v)}" if abs(v) > 2.5 and abs(v - round(v)) < 1e-9 else num(10**v, 2) for v in yt]
    else:
        yt = _ticks(y0, y1, 4)
        ylab = [num(v, 2) for v in yt]
    view = LinesView(width, height, title=title, xlabel=xlabel, ml=ml, mt=mt, pw=pw, ph=ph,
                     xlabel_x=f"{ml + pw / 2:.1f}")
    view.yticks = [Tick(f"{py(v):.1f}", f"{py(v) + 3:.1f}", lab) for v, lab in zip(yt, ylab)]
    view.xticks = [Tick(f"{px(v):.1f}", str(mt + ph + 12), num(v, 3)) for v in _ticks(x0, x1, 5)]
    for v in hlines:
        vv = math.log10(v) if log_y and v > 0 else v
        if y0 <= vv <= y1:
            view.hlines.append(f"{py(vv):.1f}")
    view.vlines = [Tick(f"{px(v):.1f}", f"{px(v) + 3:.1f}", lab) for v, lab in vlines if x0 <= v <= x1]
    for s, x, y in prepared:
        if x.size:
            pts = " ".join(f"{px(a):.1f},{py(min(max(b, y0), y1)):.1f}" for a, b in zip(x, y))
            view.lines.append(Polyline(pts, s["colour"], s.get("width", 1.2), s.get("opacity", 1), s.get("dash"),
                                       s.get("label")))
    return render("lines.svg.j2", v=view)


# ---- tables -------------------------------------------------------------------------------------
@dataclass
class Cell:
    text: str
    bold: bool = False  # an effective direction


@dataclass
class Row:
    cells: list[Cell]
    highlight: bool = False


@dataclass
class TableView:
    headers: list[str]
    rows: list[Row]


def _table(df: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> TableView:
    rows = [Row([Cell(show_token(r[c]) if c == "token" else num(r[c])) for c, _ in columns])
            for _, r in df.iterrows()]
    return TableView([lab for _, lab in columns], rows)


# ---- §8 -------------------------------------------------------------------------------------------------
@dataclass
class PooledRatios:
    """Medians over every secondary sink of the run (ratios to the non-sink mean)."""

    n: int
    value_life: float
    value_before: float
    key_life: float
    resid_life: float
    attn_value_life: float


@dataclass
class PropertiesView:
    prompt: int
    n_non_sink: int
    legend: list[tuple[str, str, str | None]]
    charts: list[str]
    pooled: PooledRatios | None
    table: TableView
    more: int


def _property_charts(lay: pd.DataFrame, births: list[int]) -> list[str]:
    charts = []
    for col, title in (("resid_norm", "‖h‖ residual"), ("key_norm", "‖k‖ key (mean over KV heads)"),
                       ("value_norm", "‖v‖ value (mean over KV heads)")):
        series = []
        for (grp, pos), df in lay.groupby(["group", "position"], sort=False):
            df = df.sort_values("layer")
            base = dict(x=df["layer"].to_numpy(), y=df[col].to_numpy())
            if grp == "primary":
                series.append({**base, "colour": PRIMARY_COLOUR, "width": 2.0, "label": "primary"})
            elif grp == "non-sink":
                series.append({**base, "colour": NON_SINK_COLOUR, "width": 1.6, "dash": "5 3", "label": "non-sink mean"})
            elif grp == "secondary":
                series.append({**base, "colour": SECONDARY_COLOUR, "width": 1.0, "opacity": 0.7,
                               "label": f"secondary @{pos} {show_token(df['token'].iloc[0])}"})
        # draw secondaries first so the primary and the mean stay on top
        series.sort(key=lambda s: 0 if s["colour"] == SECONDARY_COLOUR else 1)
        charts.append(svg_lines(series, log_y=True, title=title, xlabel="layer",
                                vlines=[(b, f"birth {b}") for b in births[:1]] + [(b, "") for b in births[1:]]))
    return charts


def properties_html(res: ScanLike | None = None, *, prompt: int | None = None, props: SinkProperties | None = None,
                    max_rows: int = 20) -> str:
    """HTML fragment for docs/method.md §8 of a scan (its findings' cached properties) or of `props`.

    Shows, for `prompt` (default: the one with the most secondary sinks), ||h||, mean ||k|| and mean
    ||v|| per layer (log scale) of the primary, each secondary sink and the non-sink mean, with the
    birth layers marked; then the per-sink table of ratios to the non-sink mean over the lifetime.
    """
    if props is None and res is None:
        raise TypeError("properties_html needs a scan result or `props`")
    props = sink_properties(props if props is not None else res)
    prompt = busiest_prompt(props) if prompt is None else int(prompt)
    lay = props.layers[props.layers["prompt"] == prompt]
    summ_all = props.summary
    summ = summ_all[summ_all["prompt"] == prompt]
    births = sorted(int(b) for b in summ.loc[summ["group"] == "secondary", "birth"].unique())
    sec_all = summ_all[summ_all["group"] == "secondary"]
    pooled = None
    if len(sec_all):
        pooled = PooledRatios(len(sec_all), *(float(sec_all[c].median()) for c in (
            "value_ratio_life", "value_ratio_before", "key_ratio_life", "resid_ratio_life", "attn_value_ratio_life")))
    view = PropertiesView(
        prompt=prompt,
        n_non_sink=int(summ["n_non_sink"].iloc[0]) if len(summ) else 0,
        legend=[("primary", PRIMARY_COLOUR, None), ("secondary sinks", SECONDARY_COLOUR, None),
                ("non-sink mean", NON_SINK_COLOUR, "d")],
        charts=_property_charts(lay, births),
        pooled=pooled,
        table=_table(summ.head(max_rows), PROPERTY_COLUMNS),
        more=max(0, len(summ) - max_rows),
    )
    return render("properties.html.j2", v=view).strip()


# ---- §9 -------------------------------------------------------------------------------------------------
@dataclass
class AnatomyView:
    layer: str
    facts: list[tuple[str, str]]
    alphas: str
    shown_at: str
    pcs: TableView
    legend: list[tuple[str, str, str | None]]
    charts: list[str]


def _facts(result: AnatomyResult) -> list[tuple[str, str]]:
    c, p, cfg = result.contrast, result.probe, result.config
    toks = ", ".join(show_token(t) for t in (result.meta or {}).get("tokens", []))
    kv = [
        ("samples", f"{result.n_sink} sinks · {result.n_non_sink} same-token non-sinks" + (f" (tokens {toks})" if toks else "")),
        ("cos(mean diff, primary input x_p)", num(c.cos_diff_primary)),
        ("cos(f(mean sink) − f(mean non-sink), m_p)", num(c.cos_mlp_shift)),
        ("cos(f(mean diff), m_p)", num(c.cos_mlp_of_diff)),
        ("mean cos(f(x), m_p): sinks / non-sinks", f"{num(c.sink_mlp_cos)} / {num(c.non_sink_mlp_cos)}"),
        ("mean ‖f(x)‖: sinks / non-sinks", f"{num(c.sink_mlp_norm)} / {num(c.non_sink_mlp_norm)}"),
    ]
    if p is not None:
        kv.append(("linear probe (held-out)", (f"accuracy {num(p.accuracy)} · balanced {num(p.balanced_accuracy)} · "
                                               f"chance {num(p.chance)} · {p.method} ({p.n_folds} fits)")))
    else:
        kv.append(("linear probe", str(result.probe_reason or "not run")))
    eff = result.effective
    share = float(result.pcs.loc[result.pcs["pc"].isin(eff["pc"].unique()), "diff_share"].sum()) if len(result.pcs) else 0.0
    kv.append(("effective directions", (f"{len(eff)} of {len(result.directions)} signed PCs (|cos| > {cfg.threshold:g}); "
                                        f"their PCs explain {num(share)} of ‖d‖²")))
    return kv


def _pc_table(result: AnatomyResult, max_pcs: int) -> TableView:
    """One row per PC with both signs: cos to m_p, ||f||, alpha (bold where effective)."""
    d = result.directions.set_index("direction")
    rows = []
    for r in result.pcs.head(max_pcs).itertuples(index=False):
        cells = [Cell(f"PC{r.pc}"), Cell(num(r.explained_ratio)), Cell(num(r.diff_cos)), Cell(num(r.diff_share)),
                 Cell(num(r.cos_primary_input))]
        for sign in "+-":
            row = d.loc[f"{sign}PC{r.pc}"]
            bold = bool(row["effective"])
            cells += [Cell(num(row[k]), bold) for k in ("cos_primary_mlp", "out_norm", "alpha")]
        rows.append(Row(cells))
    return TableView(list(PC_HEADERS), rows)


def anatomy_html(result: AnatomyResult, *, max_pcs: int = 10) -> str:
    """HTML fragment for docs/method.md §9 of an `AnatomyResult`."""
    cfg = result.config
    eff = result.effective
    effset = list(eff.sort_values("pc")["direction"]) if len(eff) else []
    colour = {n: DIRECTION_COLOURS[i % len(DIRECTION_COLOURS)] for i, n in enumerate(effset)}
    cos_series, norm_series = [], []
    for name, df in result.curves.groupby("direction", sort=False):
        df = df.sort_values("alpha")
        is_eff = name in colour
        st = dict(x=df["alpha"].to_numpy(), colour=colour.get(name, OTHER_DIRECTION), width=1.8 if is_eff else 0.8,
                  opacity=1 if is_eff else 0.7, dash=None if name.startswith("+") else "4 2", label=name)
        cos_series.append({**st, "y": df["cos_primary_mlp"].to_numpy()})
        norm_series.append({**st, "y": df["out_norm"].to_numpy()})
    cos_series.sort(key=lambda s: s["colour"] != OTHER_DIRECTION)
    norm_series.sort(key=lambda s: s["colour"] != OTHER_DIRECTION)
    unit = {"input_norm": "median ‖x‖", "pc_std": "PC std", "absolute": "1"}[cfg.alpha_unit]
    view = AnatomyView(
        layer="" if result.layer is None else f" at block {result.layer}",
        facts=_facts(result),
        alphas=", ".join(num(a) for a in cfg.alphas),
        shown_at=("the cos and norm shown are at the α with the largest |cos|" if cfg.effective_at == "any"
                  else "the cos and norm shown are at the largest α"),
        pcs=_pc_table(result, max_pcs),
        legend=[(n, colour[n], None if n.startswith("+") else "d") for n in effset] + [("other directions", OTHER_DIRECTION, None)],
        charts=[
            svg_lines(cos_series, width=380, height=220, title="cos(f(base + α·u), m_p)", xlabel=f"α (× {unit})",
                      ylim=(-1.05, 1.05), hlines=[cfg.threshold, -cfg.threshold]),
            svg_lines(norm_series, width=380, height=220, log_y=True, title="‖f(base + α·u)‖", xlabel=f"α (× {unit})"),
        ],
    )
    return render("anatomy.html.j2", v=view).strip()


def anatomy_page(result: AnatomyResult, res: ScanLike | None = None, *, props: SinkProperties | None = None) -> str:
    """The self-contained anatomy.html of `sinkscope anatomy`: the run's §8 properties
    (`properties_html`) followed by the §9 anatomy (`anatomy_html`), one page."""
    return render("anatomy_page.html.j2", properties=properties_html(res, props=props), anatomy=anatomy_html(result))


__all__ = ["anatomy_html", "anatomy_page", "properties_html", "show_token", "svg_lines"]
