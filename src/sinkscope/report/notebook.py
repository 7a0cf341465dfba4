"""The compact notebook summary behind `ScanResult._repr_html_`: static HTML + SVG, no script.

    notebook_html(res)      headline numbers, the heatmap of one prompt, the strongest sinks
    heatmap_svg(res, i)     the layer x position heatmap of s_j^l (docs/method.md §1, mean over heads)
                            as an SVG holding a PNG (log colour scale, sink records marked above)

Markup lives in assets/notebook.html.j2 and assets/heatmap.svg.j2; this module computes what
they show. The PNG is encoded here (zlib) so a notebook needs no matplotlib figure.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from sinkscope.analysis.columns import COLUMNS as REGISTRY
from sinkscope.report.figures import (
    CMAP,
    KIND_COLOURS,
    clip_from,
    colour_lut,
    colourise,
    maxpool,
    prompt_records,
    record_labels,
    score_range,
)
from sinkscope.report.templates import fmt, render
from sinkscope.report.types import ScanLike

#: (column, header) of the sink table: the column registry's `notebook` columns (`sinkscope.analysis.columns`)
NOTEBOOK_COLUMNS = tuple((c.name, c.display) for c in REGISTRY if c.notebook)
LEGEND_KINDS = ("primary", "primary-like", "secondary", "unclassified")


def png_rgb(rgb: np.ndarray) -> bytes:
    """A minimal PNG (8-bit RGB, no filter) of an image.

    Shapes:
        rgb: [h, w, 3] uint8, h = image rows, w = image columns.

    Returns:
        The PNG file's bytes.
    """
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + np.ascontiguousarray(rgb[y]).tobytes() for y in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def nice_ticks(lo: float, hi: float, n: int = 6) -> list[int]:
    """Integer ticks in [lo, hi] at a 1-2-5 step giving at most about n ticks."""
    span = max(hi - lo, 1)
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (m * step) <= n:
            step *= m
            break
    step = max(1, int(step))
    return list(range(int(math.ceil(lo / step) * step), int(hi) + 1, step))


@dataclass
class HeatmapView:
    """What assets/heatmap.svg.j2 draws (pixel coordinates already formatted)."""

    prompt: int
    width: int
    height: int
    ml: int
    mt: int
    pw: int
    ph: int
    uri: str
    xticks: list[tuple[str, int]]  # (x, position)
    yticks: list[tuple[str, str, int]]  # (y, label y, layer)
    markers: list[tuple[str, str]]  # (path, colour) of the sink records above the map
    x_label: str
    x_label_x: str
    y_label_y: str


def heatmap_svg(res: ScanLike, prompt: int = 0, *, width: int = 720, height: int = 240, max_cols: int = 720) -> str:
    """Static SVG of the layer x position heatmap (PNG image inside, SVG axes), no script."""
    pt = res.prompts[prompt]
    det = res.findings.detections[prompt]
    ls = np.asarray(det.layer_scores, dtype=np.float64)
    n_layers, t = ls.shape
    vmin, vmax = score_range(ls, clip_from(pt.n_queries, res.config.min_queries))
    k = max(1, -(-t // max_cols))
    rgb = colourise(maxpool(ls, k)[::-1], vmin, vmax, colour_lut(CMAP))
    ml, mr, mt, mb = 40, 10, 14, 30
    pw, ph = width - ml - mr, height - mt - mb
    xticks = [(f"{ml + (j + 0.5) / t * pw:.1f}", j) for j in nice_ticks(0, t - 1, 8)]
    yticks = []
    for l in nice_ticks(0, n_layers - 1, 5):
        y = mt + (n_layers - 1 - l + 0.5) / n_layers * ph
        yticks.append((f"{y:.1f}", f"{y + 3.5:.1f}", l))
    rec = prompt_records(res, prompt)
    markers = []
    for lab, pos in zip(record_labels(rec), rec["position"].to_numpy() if len(rec) else []):
        if lab == "noise":
            continue
        x = ml + (int(pos) + 0.5) / t * pw
        markers.append((f"M{x - 3.5:.1f},{mt - 9} L{x + 3.5:.1f},{mt - 9} L{x:.1f},{mt - 2} Z", KIND_COLOURS.get(lab, "#999")))
    view = HeatmapView(
        prompt=prompt, width=width, height=height, ml=ml, mt=mt, pw=pw, ph=ph,
        uri="data:image/png;base64," + base64.b64encode(png_rgb(rgb)).decode("ascii"),
        xticks=xticks, yticks=yticks, markers=markers,
        x_label="token position" + (f" (max over {k} per column)" if k > 1 else ""),
        x_label_x=f"{ml + pw / 2:.0f}", y_label_y=f"{mt + ph / 2:.0f}",
    )
    return render("heatmap.svg.j2", v=view)


@dataclass
class Cell:
    text: str
    colour: str | None = None  # a class name in its colour
    code: bool = False  # monospace (tokens)


@dataclass
class NotebookView:
    """What assets/notebook.html.j2 shows."""

    model: str
    mode: str
    n_prompts: int
    n_secondary: int | None
    prompt: int
    n_tokens: int
    stats: list[tuple[str, str]]
    heatmap: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)


def notebook_html(res: ScanLike, prompt: int = 0, top: int = 8) -> str:
    """Compact notebook summary: headline numbers, the heatmap of one prompt and the strongest
    sinks (primary and secondary records by mean score, at most `top`)."""
    s = res.summary()
    stats = [
        ("median birth", fmt(s.median("birth"))),
        ("median lifetime", fmt(s.median("lifetime"))),
        ("median cos(m, h_p)", fmt(s.median("mlp_cos_primary"))),
        ("Spearman ‖m‖ vs score", f"{s.spearman_norm_score:.2f}" if s.spearman_norm_score is not None else "–"),
        ("primary dip", f"{fmt(s.dip_ratio, 2)}× at layer {fmt(s.dip_layer)}"),
        ("levels", fmt(s.n_levels)),
    ]
    sinks = res.sinks
    keep = sinks[sinks["kind"].isin(["primary", "secondary"])].sort_values("mean_score", ascending=False).head(top)
    cols = [(c, h) for c, h in NOTEBOOK_COLUMNS if c in keep.columns]
    rows = []
    for lab, (_, r) in zip(record_labels(keep) if len(keep) else [], keep.iterrows()):
        cells = []
        for c, _ in cols:
            v = r[c]
            if c == "kind":
                cells.append(Cell(lab, colour=KIND_COLOURS.get(lab, "#333")))
            elif c == "token":
                cells.append(Cell(repr(str(v)), code=True))
            else:
                cells.append(Cell(fmt(v.item() if hasattr(v, "item") else v)))
        rows.append(cells)
    view = NotebookView(
        model=str(res.manifest.get("model", {}).get("ref", "model")),
        mode=res.config.mode,
        n_prompts=len(res.prompts),
        n_secondary=s.n_secondary,
        prompt=prompt,
        n_tokens=res.prompts[prompt].n_tokens,
        stats=stats,
        heatmap=heatmap_svg(res, prompt),
        headers=[h for _, h in cols],
        rows=rows,
        legend=[(kind, KIND_COLOURS[kind]) for kind in LEGEND_KINDS],
    )
    return render("notebook.html.j2", nb=view)


__all__ = ["heatmap_svg", "nice_ticks", "notebook_html", "png_rgb"]
