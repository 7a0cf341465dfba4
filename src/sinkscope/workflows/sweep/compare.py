"""Reading a sweep back and comparing its models.

    sinks, layers, summary = sinkscope.workflows.sweep.load("runs/sweep")
    table = sinkscope.workflows.sweep.compare("runs/sweep")      # also writes compare.csv and compare.md

Only completed (model, prompt) units are read (see `store`). The per-model summary pools each
model's prompts through the one pooled aggregation (`analysis.pooled.pool`) with the sweep's
`AnalysisConfig` (sweep.json) and the model's layers with attention probabilities: the norm law
(docs/method.md §5) over all its secondary sinks, weakening (§6) over the mean of its per-prompt layer
tables, sink levels (§7) and the medians over all its secondary sinks, as `analyze` computes them over
the same prompts.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from sinkscope.analysis.columns import summarised
from sinkscope.analysis.regions import REGIONS, region_counts
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import write_file_atomic
from sinkscope.workflows.sweep.store import SweepStore, read_tables

#: the format of a median, by the column's unit
_FORMATS = {"layer": ".1f", "layers": ".1f", "ratio": ".2f", "share": ".2f", "cosine": ".3f", "score": ".3g",
            "norm": ".1f", "count": ".1f", "position": ".1f", "": "s"}

# (column, label for the printed / markdown table, format)
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("ref", "model reference", "s"),
    ("n_layers", "layers", "d"),
    ("n_prompts", "prompts scanned", "d"),
    ("n_skipped", "prompts skipped", "d"),
    ("n_tokens", "tokens", "d"),
    ("primary_positions", "primary position(s)", "s"),
    ("primary_window", "primary window (blocks, inclusive)", "s"),
    ("window_share", "prompts with that window", "%"),
    ("n_secondary", "secondary sinks", "d"),
    ("secondary_per_1k_tokens", "secondary sinks / 1k tokens", ".2f"),
    *((f"n_secondary_{r}", f"secondary sinks in the {r} region", "d") for r in REGIONS),  # REGION_COLUMNS
    # the medians over secondary sinks of the columns the registry summarises (sinkscope.analysis.columns)
    *((c.summary.key, c.summary.label, _FORMATS[c.unit]) for c in summarised() if c.summary is not None),
    ("norm_law_n", "norm law: sinks", "d"),
    ("spearman_norm_score", "norm law: Spearman(||m||, score)", ".2f"),
    ("spearman_norm_lifetime", "norm law: Spearman(||m||, lifetime)", ".2f"),
    ("primary_plateau", "primary score plateau", ".3f"),
    ("dip_layer", "weakening: dip block", "d"),
    ("dip_ratio", "weakening: dip / plateau", ".2f"),
    ("weakened", "weakened (dip < 0.5 plateau)", "s"),
    ("n_levels", "sink levels", "d"),
)

#: the per-region counts (docs/method.md §3), in the summary only when a prompt has a response
REGION_COLUMNS: tuple[str, ...] = tuple(f"n_secondary_{r}" for r in REGIONS)


def summarize(
    sinks: pd.DataFrame, layers: pd.DataFrame, records: pd.DataFrame, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    """One row per model (index: model label) with the columns of `SUMMARY_COLUMNS`; the per-region
    counts (docs/method.md §3) only when a prompt has a response (n_prompt_tokens < n_tokens).
    Pooled numbers come from `analysis.pooled.pool` with the config `params` (sweep.json) records
    (`AnalysisConfig.from_manifest`; the documented defaults without one)."""
    from sinkscope.analysis import AnalysisConfig, pool
    from sinkscope.analysis.pooled import MEDIANS

    cfg = AnalysisConfig.from_manifest(params)[0] if isinstance((params or {}).get("thresholds"), dict) else AnalysisConfig()
    order = [m["label"] for m in (params or {}).get("models", [])] or list(dict.fromkeys(records["model"]))
    refs = {m["label"]: m["ref"] for m in (params or {}).get("models", [])}
    rows = []
    for model in order:
        rec = records[records["model"] == model]
        ok = rec[rec["status"] == "done"]
        row: dict[str, Any] = {
            "model": model,
            "ref": refs.get(model, rec["ref"].iloc[0] if len(rec) else None),
            "n_layers": int(ok["n_layers"].iloc[0]) if len(ok) else None,
            "n_prompts": len(ok),
            "n_skipped": int((rec["status"] == "skipped").sum()),
            "n_tokens": int(ok["n_tokens"].sum()) if len(ok) else 0,
        }
        if len(ok):
            row["primary_positions"] = ",".join(str(int(p)) for p in sorted(set(ok["primary_position"])))
            windows = Counter(zip(ok["window_start"].astype(int), ok["window_end"].astype(int)))
            (w0, w1), count = min(windows.items(), key=lambda kv: (-kv[1], kv[0]))
            row["primary_window"] = f"{w0}-{w1 - 1}"  # inclusive, as every printed block range
            row["window_share"] = count / len(ok)
        else:
            row.update(primary_positions=None, primary_window=None, window_share=float("nan"))
        sk = sinks[sinks["model"] == model] if len(sinks) else sinks
        sec = sk[sk["kind"] == "secondary"] if len(sk) else sk
        n_sec = len(sec)
        row["n_secondary"] = n_sec
        row["secondary_per_1k_tokens"] = 1000.0 * n_sec / row["n_tokens"] if row["n_tokens"] else float("nan")
        if "region" in sec.columns:
            row.update({f"n_secondary_{r}": n for r, n in region_counts(sec["region"]).items()})
        ly = layers[layers["model"] == model] if len(layers) else layers
        tables = [g.reset_index(drop=True) for _, g in ly.groupby("prompt_key", sort=True)] if len(ly) else []
        pooled = pool(sk, row["n_layers"], cfg, layer_tables=tables) if (len(sk) and row["n_layers"]) else None
        for key in MEDIANS:  # the registry's summarised columns (`analysis.columns`), pooled like `analyze`
            row[key] = pooled.medians[key] if (pooled is not None and n_sec) else float("nan")
        if pooled is not None:
            nl = pooled.norm_law
            row.update(norm_law_n=nl.n, spearman_norm_score=nl.score.spearman,
                       spearman_norm_lifetime=nl.lifetime.spearman)
        else:
            row.update(norm_law_n=0, spearman_norm_score=float("nan"), spearman_norm_lifetime=float("nan"))
        wk = pooled.weakening if pooled is not None else None
        if wk is not None:
            row.update(primary_plateau=wk.plateau, dip_layer=wk.dip_layer, dip_ratio=wk.dip_ratio,
                       weakened=wk.weakened)
        else:
            row.update(primary_plateau=float("nan"), dip_layer=None, dip_ratio=float("nan"), weakened=None)
        row["n_levels"] = pooled.levels.n_levels if pooled is not None else 0
        rows.append(row)
    done = records[records["status"] == "done"] if len(records) else records
    has_response = ("region" in sinks.columns and "n_prompt_tokens" in done.columns
                    and bool((pd.to_numeric(done["n_prompt_tokens"]) < pd.to_numeric(done["n_tokens"])).any()))
    cols = ["model"] + [c for c, _, _ in SUMMARY_COLUMNS if has_response or c not in REGION_COLUMNS]
    return pd.DataFrame(rows, columns=cols).set_index("model")


def load(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(sinks, layers, summary) of a sweep folder, from its completed units only.

    sinks    one row per sink record: model, prompt (index in the prompt list), prompt_key,
             source ("file.jsonl:12"), then the `sinkscope.scan` sink columns (docs/method.md §3-§4).
    layers   per model x prompt x layer (docs/method.md §6), same leading columns.
    summary  per model (`summarize`): what `sinkscope compare` prints.
    """
    sinks, layers, records, params = read_tables(path)
    return sinks, layers, summarize(sinks, layers, records, params)


def load_records(path: str | Path) -> pd.DataFrame:
    """One row per completed (model, prompt): status (done / skipped), tokens, primary, window."""
    return read_tables(path)[2]


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    try:
        if pd.isna(value):
            return "-"
    except (TypeError, ValueError):
        pass
    if fmt == "s":
        return str(value)
    if fmt == "d":
        return str(int(value))
    if fmt == "%":
        return f"{100 * float(value):.0f}%"
    return format(float(value), fmt)


def display_rows(summary: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(label, formatted value per model) for each summary column: metrics as rows, models as columns."""
    return [(label, [_fmt(summary.at[m, col], fmt) for m in summary.index]) for col, label, fmt in SUMMARY_COLUMNS
            if col in summary.columns]


def to_markdown(summary: pd.DataFrame, title: str | None = None) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [f"# {title}", ""] if title else []
    lines.append("| metric | " + " | ".join(esc(str(m)) for m in summary.index) + " |")
    lines.append("|---|" + "---|" * len(summary.index))
    for label, values in display_rows(summary):
        lines.append(f"| {esc(label)} | " + " | ".join(esc(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def compare(path: str | Path, write: bool = True) -> pd.DataFrame:
    """The per-model summary of a sweep; with `write`, also DIR/compare.csv (one row per model,
    raw numbers) and DIR/compare.md (metrics x models), each written atomically."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"'{root}' is not a folder; pass a sweep folder (see `sinkscope sweep --out`).")
    sinks, layers, records, params = read_tables(root)
    if not (records["status"] == "done").any():
        raise InputError(
            f"'{root}' holds no completed (model, prompt) pair yet; run (or resume) `sinkscope sweep --out {root}` first."
        )
    summary = summarize(sinks, layers, records, params)
    if write:
        store = SweepStore(root)
        n_units = len(params.get("models", [])) * int(params.get("prompts", {}).get("n_prompts", 0))
        note = f"{len(records)} of {n_units} (model, prompt) pairs complete" if n_units else ""
        src = params.get("prompts", {}).get("file") or "prompt list"
        title = f"sinkscope sweep: {src} ({note}; mode {params.get('mode')})"
        try:
            write_file_atomic(store.root / "compare.csv", lambda p: summary.to_csv(p), mode="path")
            write_file_atomic(store.root / "compare.md", to_markdown(summary, title))
        except OSError as e:
            raise InputError(f"cannot write compare.csv / compare.md into '{root}' ({e.strerror or e}).") from None
    return summary
