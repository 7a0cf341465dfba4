"""Self-contained HTML fragments for sink properties (METHOD.md §8) and anatomy (§9).

    properties_html(res) -> str     norms per layer (inline SVG, log scale) and the ratio table
    anatomy_html(result) -> str     contrast, probe, PCA table and alpha curves (inline SVG)

Fragments only (one <section> each, inline styles, inline SVG): no scripts, no external resources,
so they can be dropped into the report page or a notebook as they are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

PRIMARY = "#0072B2"
SECONDARY = "#E69F00"
NON_SINK = "#6B6B6B"
DIRECTION_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#B59B00")
_FONT = "font:12px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:#1d2433"
_TABLE = "border-collapse:collapse;font-size:12px;margin:6px 0"
_TH = "text-align:right;padding:2px 8px;border-bottom:1px solid #c9ced8;font-weight:600"
_TD = "text-align:right;padding:2px 8px;border-bottom:1px solid #eceef2"
_CAP = "color:#5b6373;font-size:11.5px;margin:4px 0 10px"


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if not math.isfinite(f):
        return "–"
    if f != 0 and (abs(f) >= 1e4 or abs(f) < 1e-3):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}" if abs(f) >= 1 else f"{f:.{digits}f}".rstrip("0").rstrip(".") or "0"


def _show_token(tok: str) -> str:
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
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


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
    xs_all, ys_all = [], []
    prepared = []
    for s in series:
        x = np.asarray(s["x"], dtype=float)
        y = np.asarray(s["y"], dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if log_y:
            ok &= y > 0
            y = np.where(ok, np.log10(np.where(y > 0, y, 1.0)), np.nan)
        prepared.append((s, x[ok], y[ok]))
        xs_all.append(x[ok])
        ys_all.append(y[ok])
    xa = np.concatenate(xs_all) if xs_all else np.zeros(0)
    ya = np.concatenate(ys_all) if ys_all else np.zeros(0)
    if xa.size == 0:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"><text x="8" y="20">no data</text></svg>'
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

    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
         f'role="img" aria-label="{_e(title)}" style="font:10px system-ui,sans-serif;background:#fff">'),
        f'<text x="{ml}" y="12" font-size="11" font-weight="600" fill="#1d2433">{_e(title)}</text>',
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#c9ced8"/>',
    ]
    if log_y:
        yt = [float(v) for v in range(math.ceil(y0), math.floor(y1) + 1)]
        if len(yt) < 3:  # less than ~2 decades: add 2x and 5x ticks
            yt = sorted(v + math.log10(m) for v in range(math.floor(y0), math.ceil(y1) + 1) for m in (1, 2, 5)
                        if y0 <= v + math.log10(m) <= y1)
        ylab = [f"1e{round(v)}" if abs(v) > 2.5 and abs(v - round(v)) < 1e-9 else _fmt(10**v, 2) for v in yt]
    else:
        yt = _ticks(y0, y1, 4)
        ylab = [_fmt(v, 2) for v in yt]
    for v, lab in zip(yt, ylab):
        y = py(v)
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef0f4"/>')
        parts.append(f'<text x="{ml - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#5b6373">{_e(lab)}</text>')
    for v in _ticks(x0, x1, 5):
        x = px(v)
        parts.append(f'<text x="{x:.1f}" y="{mt + ph + 12}" text-anchor="middle" fill="#5b6373">{_fmt(v, 3)}</text>')
    if xlabel:
        parts.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 4}" text-anchor="middle" fill="#5b6373">{_e(xlabel)}</text>')
    for v in hlines:
        vv = math.log10(v) if log_y and v > 0 else v
        if y0 <= vv <= y1:
            parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{py(vv):.1f}" y2="{py(vv):.1f}" stroke="#444" stroke-dasharray="2 3"/>')
    for v, lab in vlines:
        if x0 <= v <= x1:
            parts.append(f'<line x1="{px(v):.1f}" x2="{px(v):.1f}" y1="{mt}" y2="{mt + ph}" stroke="{SECONDARY}" stroke-dasharray="2 2"/>')
            if lab:
                parts.append(f'<text x="{px(v) + 3:.1f}" y="{mt + 10}" fill="{SECONDARY}">{_e(lab)}</text>')
    for s, x, y in prepared:
        if x.size == 0:
            continue
        pts = " ".join(f"{px(a):.1f},{py(min(max(b, y0), y1)):.1f}" for a, b in zip(x, y))
        dash = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        title_el = f"<title>{_e(s['label'])}</title>" if s.get("label") else ""
        parts.append(
            f'<polyline fill="none" stroke="{s["colour"]}" stroke-width="{s.get("width", 1.2)}" '
            f'stroke-opacity="{s.get("opacity", 1)}"{dash} points="{pts}">{title_el}</polyline>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _legend(items: Sequence[tuple[str, str, str | None]]) -> str:
    out = []
    for label, colour, dash in items:
        style = "dashed" if dash else "solid"
        out.append(
            f'<span style="display:inline-block;margin-right:14px"><span style="display:inline-block;width:18px;'
            f'border-top:2px {style} {colour};vertical-align:middle;margin-right:4px"></span>{_e(label)}</span>'
        )
    return f'<div style="font-size:11.5px;margin:2px 0 4px">{"".join(out)}</div>'


def _table(df: pd.DataFrame, columns: Sequence[tuple[str, str]], highlight: pd.Series | None = None) -> str:
    head = "".join(f'<th style="{_TH}">{_e(lab)}</th>' for _, lab in columns)
    rows = []
    for i, (_, r) in enumerate(df.iterrows()):
        bg = ' style="background:#fff4e0"' if highlight is not None and bool(highlight.iloc[i]) else ""
        cells = "".join(
            f'<td style="{_TD}">{_e(_show_token(r[c])) if c == "token" else _fmt(r[c])}</td>' for c, _ in columns
        )
        rows.append(f"<tr{bg}>{cells}</tr>")
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# ---- §8 -------------------------------------------------------------------------------------------------
def properties_html(res: Any, *, prompt: int | None = None, props: Any = None, max_rows: int = 20) -> str:
    """HTML fragment for METHOD.md §8 of a `ScanResult` (or pass `props`, a `SinkProperties`).

    Shows, for `prompt` (default: the one with the most secondary sinks), ||h||, mean ||k|| and mean
    ||v|| per layer (log scale) of the primary, each secondary sink and the non-sink mean, with the
    birth layers marked; then the per-sink table of ratios to the non-sink mean over the lifetime.
    """
    from sinkscope.analysis.properties import properties
    from sinkscope.report.anatomy_figures import busiest_prompt

    props = props if props is not None else properties(res)
    prompt = busiest_prompt(props) if prompt is None else int(prompt)
    lay = props.layers[props.layers["prompt"] == prompt]
    summ_all = props.summary
    summ = summ_all[summ_all["prompt"] == prompt]
    births = sorted(int(b) for b in summ.loc[summ["group"] == "secondary", "birth"].unique())
    charts = []
    for col, title in (("resid_norm", "‖h‖ residual"), ("key_norm", "‖k‖ key (mean over KV heads)"),
                       ("value_norm", "‖v‖ value (mean over KV heads)")):
        series = []
        for (grp, _pos), df in lay.groupby(["group", "position"], sort=False):
            df = df.sort_values("layer")
            base = dict(x=df["layer"].to_numpy(), y=df[col].to_numpy())
            if grp == "primary":
                series.append({**base, "colour": PRIMARY, "width": 2.0, "label": "primary"})
            elif grp == "non-sink":
                series.append({**base, "colour": NON_SINK, "width": 1.6, "dash": "5 3", "label": "non-sink mean"})
            elif grp == "secondary":
                tok = _show_token(str(df["token"].iloc[0]))
                series.append({**base, "colour": SECONDARY, "width": 1.0, "opacity": 0.7,
                               "label": f"secondary @{_pos} {tok}"})
        # draw secondaries first so the primary and the mean stay on top
        series.sort(key=lambda s: 0 if s["colour"] == SECONDARY else 1)
        charts.append(svg_lines(series, log_y=True, title=title, xlabel="layer",
                                vlines=[(b, f"birth {b}") for b in births[:1]] + [(b, "") for b in births[1:]]))
    n_sec = int((summ_all["group"] == "secondary").sum())
    sec_all = summ_all[summ_all["group"] == "secondary"]
    pooled = ""
    if n_sec:
        pooled = (
            f"<p style=\"margin:4px 0\">Over all {n_sec} secondary sinks of the run (median): value norm "
            f"<b>{_fmt(sec_all['value_ratio_life'].median())}×</b> the non-sink mean over their lifetime "
            f"(before birth {_fmt(sec_all['value_ratio_before'].median())}×), key norm "
            f"{_fmt(sec_all['key_ratio_life'].median())}×, residual norm {_fmt(sec_all['resid_ratio_life'].median())}×, "
            f"attention-weighted value returned {_fmt(sec_all['attn_value_ratio_life'].median())}×.</p>"
        )
    rows = summ.head(max_rows)
    table = _table(rows, [
        ("group", "class"), ("position", "pos"), ("token", "token"), ("birth", "birth"), ("lifetime", "life"),
        ("resid_jump", "‖h‖ jump at birth"), ("resid_ratio_life", "‖h‖ ratio"), ("key_ratio_life", "‖k‖ ratio"),
        ("value_ratio_life", "‖v‖ ratio"), ("value_ratio_before", "‖v‖ ratio before"),
        ("attn_value_ratio_life", "Σ A‖v‖ ratio"), ("score_life", "score"),
    ]) if len(rows) else "<p>No sink records in this prompt.</p>"
    more = f'<p style="{_CAP}">{len(summ) - max_rows} more rows in the properties tables.</p>' if len(summ) > max_rows else ""
    n_ns = int(summ["n_non_sink"].iloc[0]) if len(summ) else 0
    return (
        f'<section class="sinkscope-properties" style="{_FONT};max-width:960px">'
        f'<h3 style="margin:8px 0 2px">Sink properties: residual, key and value norms (METHOD.md §8)</h3>'
        f'<p style="{_CAP}">Prompt {prompt}. Per layer: the primary, each secondary sink and the mean of the '
        f"{n_ns} non-sink tokens (never sink-like, seen by enough queries). Keys (after RoPE) and values at "
        "layer l are those block l's attention reads, i.e. computed from the residual after block l − 1: a sink "
        "born at block b shows its small key and value norms from layer b + 1 on.</p>"
        + _legend([("primary", PRIMARY, None), ("secondary sinks", SECONDARY, None), ("non-sink mean", NON_SINK, "d")])
        + '<div style="display:flex;flex-wrap:wrap;gap:6px">' + "".join(charts) + "</div>"
        + pooled
        + table + more
        + f'<p style="{_CAP}">Ratios are sink / non-sink mean at the same layer, averaged over the sink\'s '
        "lifetime layers (the primary: its window). Σ A‖v‖ = Σ_i A_{i,t} ‖v_t‖ = score × n_queries × ‖v_t‖, the "
        "value mass the sink actually returns, mean over query heads.</p></section>"
    )


# ---- §9 -------------------------------------------------------------------------------------------------
def anatomy_html(result: Any, *, max_pcs: int = 10) -> str:
    """HTML fragment for METHOD.md §9 of an `AnatomyResult`."""
    c = result.contrast
    p = result.probe
    cfg = result.config
    meta = result.meta or {}
    layer = "" if result.layer is None else f" at block {result.layer}"
    toks = ", ".join(_e(_show_token(t)) for t in meta.get("tokens", []))
    kv = [
        ("samples", f"{result.n_sink} sinks · {result.n_non_sink} same-token non-sinks" + (f" (tokens {toks})" if toks else "")),
        ("cos(mean diff, primary input x_p)", _fmt(c.cos_diff_primary)),
        ("cos(f(mean sink) − f(mean non-sink), m_p)", _fmt(c.cos_mlp_shift)),
        ("cos(f(mean diff), m_p)", _fmt(c.cos_mlp_of_diff)),
        ("mean cos(f(x), m_p): sinks / non-sinks", f"{_fmt(c.sink_mlp_cos)} / {_fmt(c.non_sink_mlp_cos)}"),
        ("mean ‖f(x)‖: sinks / non-sinks", f"{_fmt(c.sink_mlp_norm)} / {_fmt(c.non_sink_mlp_norm)}"),
    ]
    if p is not None:
        kv.append(("linear probe (held-out)", (f"accuracy {_fmt(p.accuracy)} · balanced {_fmt(p.balanced_accuracy)} · "
                                               f"chance {_fmt(p.chance)} · {p.method} ({p.n_folds} fits)")))
    else:
        kv.append(("linear probe", _e(result.probe_reason or "not run")))
    eff = result.effective
    share = float(result.pcs.loc[result.pcs["pc"].isin(eff["pc"].unique()), "diff_share"].sum()) if len(result.pcs) else 0.0
    kv.append(("effective directions", (f"{len(eff)} of {len(result.directions)} signed PCs (|cos| > {cfg.threshold:g}); "
                                        f"their PCs explain {_fmt(share)} of ‖d‖²")))
    facts = "".join(
        f'<tr><td style="{_TD};text-align:left;color:#5b6373">{_e(k)}</td><td style="{_TD};text-align:left">{v}</td></tr>'
        for k, v in kv
    )
    # PC table: one row per PC with both signs
    d = result.directions.set_index("direction")
    rows = []
    for r in result.pcs.head(max_pcs).itertuples(index=False):
        plus, minus = d.loc[f"+PC{r.pc}"], d.loc[f"-PC{r.pc}"]

        def cell(row) -> str:
            mark = "font-weight:700;color:#b35900" if bool(row["effective"]) else ""
            return (f'<td style="{_TD};{mark}">{_fmt(row["cos_primary_mlp"])}</td>'
                    f'<td style="{_TD};{mark}">{_fmt(row["out_norm"])}</td><td style="{_TD};{mark}">{_fmt(row["alpha"])}</td>')

        rows.append(
            f'<tr><td style="{_TD}">PC{r.pc}</td><td style="{_TD}">{_fmt(r.explained_ratio)}</td>'
            f'<td style="{_TD}">{_fmt(r.diff_cos)}</td><td style="{_TD}">{_fmt(r.diff_share)}</td>'
            f'<td style="{_TD}">{_fmt(r.cos_primary_input)}</td>{cell(plus)}{cell(minus)}</tr>'
        )
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in (
        "", "var. ratio", "d·u/‖d‖", "share of ‖d‖²", "cos(u, x_p)", "+PC cos", "+PC ‖f‖", "α", "−PC cos", "−PC ‖f‖", "α"))
    pc_table = f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    # alpha curves
    effset = list(eff.sort_values("pc")["direction"]) if len(eff) else []
    colour = {n: DIRECTION_COLOURS[i % len(DIRECTION_COLOURS)] for i, n in enumerate(effset)}
    cos_series, norm_series = [], []
    for name, df in result.curves.groupby("direction", sort=False):
        df = df.sort_values("alpha")
        is_eff = name in colour
        st = dict(x=df["alpha"].to_numpy(), colour=colour.get(name, "#b8b8b8"), width=1.8 if is_eff else 0.8,
                  opacity=1 if is_eff else 0.7, dash=None if name.startswith("+") else "4 2", label=name)
        cos_series.append({**st, "y": df["cos_primary_mlp"].to_numpy()})
        norm_series.append({**st, "y": df["out_norm"].to_numpy()})
    cos_series.sort(key=lambda s: s["colour"] != "#b8b8b8")
    norm_series.sort(key=lambda s: s["colour"] != "#b8b8b8")
    unit = {"input_norm": "median ‖x‖", "pc_std": "PC std", "absolute": "1"}[cfg.alpha_unit]
    charts = (
        svg_lines(cos_series, width=380, height=220, title="cos(f(base + α·u), m_p)", xlabel=f"α (× {unit})",
                  ylim=(-1.05, 1.05), hlines=[cfg.threshold, -cfg.threshold])
        + svg_lines(norm_series, width=380, height=220, log_y=True, title="‖f(base + α·u)‖", xlabel=f"α (× {unit})")
    )
    legend = _legend([(n, colour[n], None if n.startswith("+") else "d") for n in effset] + [("other directions", "#b8b8b8", None)])
    return (
        f'<section class="sinkscope-anatomy" style="{_FONT};max-width:960px">'
        f'<h3 style="margin:8px 0 2px">Anatomy of formation{_e(layer)} (METHOD.md §9)</h3>'
        f'<p style="{_CAP}">MLP inputs x (the normed residual the MLP of the block reads) of the secondary sinks born '
        "here against the same token ids where they did not become sinks; f = the block's MLP alone; x_p, m_p: the "
        "primary's MLP input and output; d = mean(sink x) − mean(non-sink x).</p>"
        f'<table style="{_TABLE}"><tbody>{facts}</tbody></table>'
        f'<p style="{_CAP}">PCA of the mean-centred pooled inputs; each PC is oriented so that +PC points from the '
        f"non-sinks towards the sinks. For each signed PC, f(base + α·u) over α ∈ {{{', '.join(_fmt(a) for a in cfg.alphas)}}}; "
        + ("the cos and norm shown are at the α with the largest |cos|" if cfg.effective_at == "any" else "the cos and norm shown are at the largest α")
        + " (bold: effective).</p>"
        + pc_table + legend + f'<div style="display:flex;flex-wrap:wrap;gap:6px">{charts}</div>'
        + "</section>"
    )


__all__ = ["anatomy_html", "properties_html", "svg_lines"]
