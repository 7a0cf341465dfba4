"""The report page's data: a typed payload built from a scan, which the page script reads.

    build_payload(res, extra_tables) -> Payload(data: ReportData, blobs: {id: base64})

`data` becomes one JSON document (<script type="application/json" id="ss-data">); its field
names are what report.js reads, so renaming one is a change of the page format (`format`).
The per-token arrays travel as base64 binary blobs, not JSON numbers:
- layer-mean score s_j^l (docs/method.md §1) and its ratio to the position-matched baseline: float16 [L, T'];
- per-head scores s_j^{l,h}: uint8 on a log scale (10^-6 .. 1, 254 steps, ~5.6 % per step; 0 = below),
  decoded only when a head view is chosen.
T' = T unless the run's cells exceed MEAN_CELL_BUDGET / HEAD_CELL_BUDGET, in which case
ceil(cells / budget) consecutive positions are max-pooled (a sink stays visible; the caption says so).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.analysis.columns import BY_NAME
from sinkscope.analysis.columns import COLUMNS as REGISTRY
from sinkscope.analysis.normlaw import MonotoneFit
from sinkscope.core.fileio import jsonable
from sinkscope.report.figures import (
    CMAP,
    KIND_COLOURS,
    KIND_ORDER,
    clip_from,
    colour_lut,
    maxpool,
    prompt_records,
    record_labels,
)
from sinkscope.report.types import ScanLike

FORMAT = 1  # version of the JSON document report.js reads
MEAN_CELL_BUDGET = 800_000  # cells of the layer-mean (and ratio) arrays, all prompts together
HEAD_CELL_BUDGET = 2_500_000  # cells of the per-head arrays, all prompts together
HEAD_LOG_LO = -6.0  # per-head quantisation: log10 range [HEAD_LOG_LO, 0]
EXTRA_ROWS_MAX = 2000

# The sink table's columns, headers, descriptions and default visibility come from the column
# registry (`sinkscope.analysis.columns`), in its order; columns it does not know come after them.
# HIDDEN_COLUMNS are identifiers the table leaves out (the prompt is chosen above it).
HIDDEN_COLUMNS = frozenset({"prompt", "token_id", "is_primary_position", "primary_like"})

LAYER_COLUMNS = (
    "layer", "primary_score", "primary_head_fraction", "primary_norm", "secondary_mass",
    "n_secondary_alive", "births", "in_window",
)
SCATTER_COLUMNS = ("prompt", "position", "token", "birth", "lifetime", "mean_score", "mlp_norm")


# ---- the typed payload ------------------------------------------------------------------------
@dataclass
class Table:
    """A DataFrame as the page's tables read it: column names and row lists (JSON cells)."""

    columns: list[str]
    rows: list[list[Any]]
    n_total: int  # rows of the frame
    truncated: bool  # True when only the first rows are carried


@dataclass
class RecordTable(Table):
    """The sink records of one prompt, with their display class ('primary-like' ...)."""

    labels: list[str] = field(default_factory=list)


@dataclass
class ExtraTable(Table):
    """A table found in the run folder (interventions ...); per_prompt: it has a `prompt` column."""

    per_prompt: bool = False


@dataclass
class ColumnMeta:
    """A sink-table column as the page reads it: header `label`, `title` (its description, the glossary
    and the header's tooltip), `shown` by default, and `hover` (a row of the token hover text)."""

    key: str
    label: str
    title: str
    shown: bool
    hover: bool = False


@dataclass
class BlobRef:
    """A binary blob of the page: `id` of its <script> element, `n` columns, `bin` positions per column."""

    id: str
    n: int
    bin: int


@dataclass
class HeadBlobRef(BlobRef):
    log_lo: float = HEAD_LOG_LO


@dataclass
class Heat:
    L: int
    H: int
    clip_from: int  # colour ranges are taken over positions < clip_from (figures.clip_from)
    mean: BlobRef  # float16 [L, n]
    ratio: BlobRef  # float16 [L, n]
    heads: HeadBlobRef  # uint8 [L, H, n], log-quantised


@dataclass
class PromptData:
    index: int
    source: str
    n_tokens: int
    p: int
    window: list[int]
    tokens: list[str]
    records: RecordTable
    layers: dict[str, list[Any]]
    weakening: dict[str, Any] | None
    heat: Heat


@dataclass
class FitCurve:
    """The corners of an isotonic (step) fit, and its summary numbers."""

    x: list[float]
    y: list[float]
    r2: float | None
    loglog_slope: float | None
    loglog_intercept: float | None


@dataclass
class ReportData:
    """The page's JSON document (see the module docstring)."""

    format: int
    generated: str
    model: dict[str, Any]
    mode: str
    config: dict[str, Any]
    summary: dict[str, Any]
    n_layers: int
    kind_colours: dict[str, str]
    kind_order: list[str]
    lut: str  # hex of uint8 [256, 3], the heatmap colour map
    lut_counts: str  # hex of uint8 [256, 3], the levels' count colours
    columns: list[ColumnMeta]
    prompts: list[PromptData]
    secondary: Table
    norm_law: dict[str, Any]
    levels: dict[str, Any]
    weakening: dict[str, Any]
    extra: dict[str, ExtraTable]
    no_attention_layers: list[int] = field(default_factory=list)  # drawn hatched: docs/method.md §11

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN / inf -> None, numpy -> python)."""
        return jsonable(asdict(self))


@dataclass
class Payload:
    """What the page script reads: `data` (one JSON document) and `blobs` (id -> base64)."""

    data: ReportData
    blobs: dict[str, str] = field(default_factory=dict)


# ---- cells and blobs --------------------------------------------------------------------------
def _cell(v: Any) -> Any:
    if isinstance(v, (list, tuple, np.ndarray, dict)):
        return json.dumps(jsonable(v), default=str)
    try:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
    except (TypeError, ValueError):
        pass
    return jsonable(v)


def frame_rows(df: pd.DataFrame, max_rows: int | None = None) -> tuple[list[str], list[list[Any]], int, bool]:
    """(columns, rows, n_total, truncated) of `df`, at most `max_rows` rows, JSON-safe cells
    (containers as JSON text, NaN / NA -> None)."""
    n = len(df)
    sub = df if max_rows is None or n <= max_rows else df.head(max_rows)
    cols = [str(c) for c in sub.columns]
    rows = [[_cell(v) for v in row] for row in sub.itertuples(index=False, name=None)]
    return cols, rows, n, len(sub) < n


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _f16(a: np.ndarray) -> np.ndarray:
    a = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=65000.0, neginf=0.0)
    return np.clip(a, 0.0, 65000.0).astype("<f2")


def quantise_log_u8(a: np.ndarray, lo: float = HEAD_LOG_LO) -> np.ndarray:
    """The uint8 log code of scores in [0, 1].

    q = 0 for s <= 10^lo (or not finite), else clip(1 + round(254 (log10 s - lo) / -lo), 1, 255).

    Shapes:
        a: [...] scores, any shape.
        returns: [...] uint8, a's shape.
    """
    s = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 1.0 + np.round(254.0 * (np.log10(np.maximum(s, 1e-300)) - lo) / -lo)
    q = np.where(np.isfinite(s) & (s > 10.0**lo), np.clip(q, 1, 255), 0)
    return q.astype(np.uint8)


def dequantise_log_u8(q: np.ndarray, lo: float = HEAD_LOG_LO) -> np.ndarray:
    """Inverse of `quantise_log_u8`: 10^(lo + (q - 1) / 254 * -lo) for q > 0, else 0.

    Shapes:
        q: [...] uint8 codes, any shape.
        returns: [...] float64, q's shape.
    """
    q = np.asarray(q, dtype=np.float64)
    return np.where(q > 0, 10.0 ** (lo + (q - 1.0) / 254.0 * -lo), 0.0)


def bin_size(cells: int, budget: int) -> int:
    """Positions pooled per column so that `cells` fit the `budget`: ceil(cells / budget), at least 1."""
    return max(1, math.ceil(cells / budget))


# ---- building ---------------------------------------------------------------------------------
def record_columns(df: pd.DataFrame) -> list[str]:
    """The sink table's columns in display order: the registry's first, then any others (not HIDDEN_COLUMNS)."""
    cols = [c.name for c in REGISTRY if c.name in df.columns and c.name not in HIDDEN_COLUMNS]
    cols += [c for c in df.columns if c not in BY_NAME and c not in HIDDEN_COLUMNS]
    return cols


def _column_meta(cols: list[str], regions: bool = True) -> list[ColumnMeta]:
    """The columns' headers, descriptions (with their docs/method.md section), default visibility (`region`
    only shown with `regions`) and whether the token hover text shows them, from the column registry."""
    out = []
    for c in cols:
        col = BY_NAME.get(c)
        if col is None:
            out.append(ColumnMeta(c, c.replace("_", " "), c, False))
            continue
        title = f"{col.description} (docs/method.md §{col.section})"
        out.append(ColumnMeta(c, col.display, title, col.report and (regions or c != "region"), col.hover))
    return out


def _source(res: ScanLike, i: int) -> str:
    mp = res.manifest.get("prompts") or []
    src = mp[i].get("source") if i < len(mp) and isinstance(mp[i], dict) else None
    return str(src) if src is not None else f"prompt {i}"


def _prompt_data(res: ScanLike, i: int, k_mean: int, k_head: int, blobs: dict[str, str]) -> PromptData:
    pt = res.prompts[i]
    det = res.findings.detections[i]
    ls = np.asarray(det.layer_scores, dtype=np.float64)
    heads = np.asarray(pt.scores, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ls / np.asarray(det.baseline, dtype=np.float64)
    mean_pooled = maxpool(ls, k_mean)
    ratio_pooled = maxpool(np.nan_to_num(ratio, nan=0.0, posinf=65000.0), k_mean)
    head_pooled = maxpool(heads, k_head)
    heat = Heat(
        L=ls.shape[0],
        H=heads.shape[1],
        clip_from=clip_from(pt.n_queries, res.config.min_queries),
        mean=BlobRef(f"ss-b{i}-mean", int(mean_pooled.shape[-1]), k_mean),
        ratio=BlobRef(f"ss-b{i}-ratio", int(ratio_pooled.shape[-1]), k_mean),
        heads=HeadBlobRef(f"ss-b{i}-heads", int(head_pooled.shape[-1]), k_head, HEAD_LOG_LO),
    )
    blobs[heat.mean.id] = _b64(_f16(mean_pooled))
    blobs[heat.ratio.id] = _b64(_f16(ratio_pooled))
    blobs[heat.heads.id] = _b64(quantise_log_u8(head_pooled))
    rec = prompt_records(res, i)
    records = RecordTable(*frame_rows(rec[record_columns(rec)]), labels=record_labels(rec))
    lt = res.layers
    lt = lt[lt["prompt"] == i] if "prompt" in lt.columns else lt
    wpp = res.findings.weakening_per_prompt
    return PromptData(
        index=i,
        source=_source(res, i),
        n_tokens=pt.n_tokens,
        p=int(det.p),
        window=[int(det.window[0]), int(det.window[1])],
        tokens=[str(x) for x in pt.tokens],
        records=records,
        layers={c: jsonable(lt[c].to_numpy()) for c in LAYER_COLUMNS if c in lt.columns},
        weakening=jsonable(wpp[i].to_dict()) if i < len(wpp) else None,
        heat=heat,
    )


def fit_curve(fit: MonotoneFit) -> FitCurve:
    """Only the corners of the step function `fit` (first, last, and where the level changes)."""
    xs, ys = list(fit.x), list(fit.y_fit)
    px, py = [], []
    for j, (x, y) in enumerate(zip(xs, ys)):
        if j == 0 or j == len(xs) - 1 or y != ys[j - 1] or (j + 1 < len(ys) and ys[j + 1] != y):
            px.append(x)
            py.append(y)
    return FitCurve(px, py, fit.r2, fit.loglog_slope, fit.loglog_intercept)


def build_payload(res: ScanLike, extra_tables: dict[str, pd.DataFrame] | None = None) -> Payload:
    """Everything the page shows: the typed `ReportData` plus the binary blobs."""
    f = res.findings
    cells_mean = sum(p.n_layers * p.n_tokens for p in res.prompts)
    cells_head = sum(int(np.prod(p.scores.shape)) for p in res.prompts)
    k_mean = bin_size(cells_mean, MEAN_CELL_BUDGET)
    k_head = bin_size(cells_head, HEAD_CELL_BUDGET)
    blobs: dict[str, str] = {}
    prompts = [_prompt_data(res, i, k_mean, k_head, blobs) for i in range(len(res.prompts))]
    sec = f.secondary
    nl, lv = f.norm_law, f.levels
    data = ReportData(
        format=FORMAT,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=jsonable((res.manifest or {}).get("model", {})),
        mode=res.config.mode,
        config=jsonable(res.config.to_dict()),
        summary=res.summary().to_dict(),
        n_layers=f.n_layers,
        kind_colours=dict(KIND_COLOURS),
        kind_order=list(KIND_ORDER),
        lut=colour_lut(CMAP).tobytes().hex(),
        lut_counts=colour_lut("YlOrBr").tobytes().hex(),
        columns=_column_meta(record_columns(res.sinks), regions=res.findings.has_response),
        prompts=prompts,
        secondary=Table(*frame_rows(sec[[c for c in SCATTER_COLUMNS if c in sec.columns]])),
        norm_law={**jsonable(nl.to_dict()), "fit_score_curve": asdict(fit_curve(nl.fit_score)),
                  "fit_lifetime_curve": asdict(fit_curve(nl.fit_lifetime))},
        levels={**jsonable(lv.to_dict()), "counts": jsonable(np.asarray(lv.counts))},
        weakening=jsonable(f.weakening.to_dict()),
        extra={name: ExtraTable(*frame_rows(df, EXTRA_ROWS_MAX), per_prompt="prompt" in df.columns)
               for name, df in (extra_tables or {}).items()},
        no_attention_layers=f.no_attention_layers,
    )
    return Payload(data, blobs)


__all__ = [
    "EXTRA_ROWS_MAX", "FORMAT", "HEAD_CELL_BUDGET", "HEAD_LOG_LO", "MEAN_CELL_BUDGET",
    "BlobRef", "ColumnMeta", "ExtraTable", "FitCurve", "HeadBlobRef", "Heat", "Payload", "PromptData",
    "RecordTable", "ReportData", "Table", "bin_size", "build_payload", "dequantise_log_u8", "fit_curve",
    "frame_rows", "quantise_log_u8", "record_columns",
]
