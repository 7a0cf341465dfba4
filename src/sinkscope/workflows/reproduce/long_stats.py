"""The numbers of the long-trace protocol (issue 15), pure functions over one model's `ScanResult`
(no model, no file access): where the secondary sinks are, how often a sample has one, the
(birth, lifetime) count matrix and levels, and the threshold-sensitivity grid.

Secondary sinks are counted distinct (`stats.distinct_sinks`: a sink repeated in the prefix that
the chat template shares is counted once) and split by region of their position t in a trace of
n_prompt prompt tokens (`analysis.regions`, docs/method.md §3), with the template length the token-id
prefix S common to all the model's traces:

    template   t < S                      (the shared chat-template prefix)
    prompt     S <= t < n_prompt          (the rest of the prompt: the problem statement)
    generated  t >= n_prompt              (the sampled continuation)

Relative depth is the analysis package's rel_birth = birth / (L - 1) (`analysis.detection.detect`;
`relative_depth` states it for the authors' block numbers: block 22 of 48 -> 22 / 47); lifetimes
are also given as lifetime / L.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sinkscope.analysis import AnalysisConfig
from sinkscope.analysis.regions import REGIONS, Region, region_of
from sinkscope.workflows.reproduce.rules import CLAIMS, RULES, verdicts
from sinkscope.workflows.reproduce.stats import (
    Distinct,
    distinct_sinks,
    quantiles,
    summarize_levels,
    summarize_model,
)
from sinkscope.workflows.reproduce.values import as_float

if TYPE_CHECKING:
    from sinkscope.workflows.scan import ScanResult

DEPTH_BINS = np.linspace(0.0, 1.0, 11)  # the relative-depth histogram: ten bins of 0.1


def relative_depth(layer: float, n_layers: int) -> float:
    """layer / (L - 1) (0 for L = 1): the analysis' rel_birth convention, for reference numbers."""
    return float(layer) / (n_layers - 1) if n_layers > 1 else 0.0


# ---- regions -------------------------------------------------------------------------------------
def n_prompt_tokens(res: ScanResult) -> list[int]:
    """Prompt tokens (before the continuation) of every prompt, from the manifest."""
    rows = res.manifest.get("prompts") or []
    if len(rows) != len(res.prompts):
        raise ValueError(f"the manifest lists {len(rows)} prompts, the trace holds {len(res.prompts)}")
    return [int(r["n_prompt_tokens"]) for r in rows]


def secondary_by_region(d: Distinct) -> pd.DataFrame:
    """The distinct secondary records with a `region` column."""
    sec = d.res.findings.secondary.copy()
    npt = np.asarray(n_prompt_tokens(d.res), dtype=int)
    sec["region"] = region_of(sec["position"], npt[sec["prompt"].to_numpy(dtype=int)], d.shared_prefix)
    return sec


def depth_histogram(rel_birth: Any) -> list[int]:
    """Counts of relative birth depths in ten bins [0, 0.1), ..., [0.9, 1.0] (numpy.histogram).

    Shapes:
        rel_birth: [N] relative depths b / (L - 1), with N = number of sinks.

    Returns:
        The ten counts.
    """
    return [int(x) for x in np.histogram(np.asarray(rel_birth, dtype=np.float64), bins=DEPTH_BINS)[0]]


def region_stats(sec: pd.DataFrame, n_layers: int, primary_score: float | None) -> dict[str, Any]:
    """One region's numbers: count, distinct tokens and the most common (token, token id, count),
    rel_birth quantiles, histogram and share in the middle band (RULES middle_lo-middle_hi), lifetime and lifetime / L quantiles, the mean score and its
    ratio to the primary's mean score."""
    n = len(sec)
    life = sec["lifetime"].to_numpy(dtype=np.float64)
    rb = sec["rel_birth"].to_numpy(dtype=np.float64)
    ms = as_float(np.nanmean(sec["mean_score"].to_numpy(dtype=np.float64))) if n else None
    pairs = Counter(zip(sec["token"].astype(str), sec["token_id"].astype(int))).most_common(5)
    return {
        "n": n,
        "n_distinct_tokens": int(sec["token_id"].nunique()) if n else 0,
        "top_tokens": [[t, int(i), int(c)] for (t, i), c in pairs],
        "birth_layers": [int(sec["birth"].min()), int(sec["birth"].max())] if n else None,
        "rel_birth": quantiles(sec["rel_birth"]),
        "rel_birth_hist": depth_histogram(sec["rel_birth"]),
        "share_middle": as_float(((rb >= RULES["middle_lo"]) & (rb <= RULES["middle_hi"])).mean()) if n else None,
        "lifetime": quantiles(life),
        "lifetime_over_L": quantiles(life / max(n_layers, 1)),
        "mean_score": ms,
        "score_ratio": as_float(ms / primary_score) if ms is not None and primary_score else None,
    }


def sample_share(sec: pd.DataFrame, n_samples: int, region: Region = "generated") -> dict[str, Any]:
    """Samples (traces) with >= 1 secondary sink in `region`: count, total and share (the
    authors' "sinks in 163 of 300 samples")."""
    k = int(sec.loc[sec["region"] == region, "prompt"].nunique()) if len(sec) else 0
    return {"n": k, "of": int(n_samples), "share": as_float(k / n_samples) if n_samples else None}


def birth_lifetime_cells(sec: pd.DataFrame) -> list[list[int]]:
    """The non-zero cells of the (birth, lifetime) count matrix: [birth, lifetime, count], sorted."""
    c = Counter(zip(sec["birth"].astype(int), sec["lifetime"].astype(int)))
    return [[int(b), int(m), int(n)] for (b, m), n in sorted(c.items())]


def birth_lifetime_matrix(cells: Sequence[Sequence[int]], n_layers: int) -> np.ndarray:
    """The dense count matrix C[b, m] of `birth_lifetime_cells` (docs/method.md §7).

    Args:
        cells: [birth, lifetime, count] triples.
        n_layers: L.

    Shapes:
        returns: [L, L + 1] int64: at (b, m) the sinks born at b that live m layers.
    """
    out = np.zeros((n_layers, n_layers + 1), dtype=np.int64)
    for b, m, n in cells:
        out[b, m] += n
    return out


def primary_mean_score(res: ScanResult) -> float | None:
    """Mean over prompts of the primary's mean score over its window."""
    prim = res.sinks[res.sinks["is_primary_position"]]
    return as_float(np.nanmean(prim["mean_score"].to_numpy(dtype=np.float64))) if len(prim) else None


def where_summary(res: ScanResult) -> dict[str, Any]:
    """Everything but the grid for one analysis of one model: per-region stats (and 'all'), the
    sample shares, the (birth, lifetime) cells, the levels (`stats.summarize_levels` of the distinct
    scan) and the claim numbers and verdicts (`stats.summarize_model`, `rules.verdicts`; no causal
    check in this protocol, so claim 2 rests on its observational test alone)."""
    d = distinct_sinks(res)
    sec = secondary_by_region(d)
    n_layers = d.res.findings.n_layers
    prim = primary_mean_score(res)
    claims = summarize_model(d)
    return {
        "n_layers": n_layers,
        "n_samples": len(res.prompts),
        "shared_prefix_tokens": d.shared_prefix,
        "n_secondary": len(sec),
        "n_secondary_records": d.n_records,
        "primary_mean_score": prim,
        "regions": {"all": region_stats(sec, n_layers, prim),
                    **{r: region_stats(sec[sec["region"] == r], n_layers, prim) for r in REGIONS}},
        "samples_with_secondary": {r: sample_share(sec, len(res.prompts), r) for r in REGIONS},
        "samples_with_any_secondary": {"n": int(sec["prompt"].nunique()) if len(sec) else 0, "of": len(res.prompts)},
        "birth_lifetime": birth_lifetime_cells(sec),
        "levels": summarize_levels(d.res),
        "claims": claims,
        "verdicts": {str(c): v for c, v in verdicts({"status": "ok", **claims}).items()},
    }


# ---- sensitivity ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """The threshold grid of the sensitivity table (every combination: 4 x 3 x 3 x 2 = 72 cells).
    `n_boot` is the norm-law bootstrap used inside the grid (lower than the main analysis' to keep
    72 re-analyses affordable; recorded)."""

    tau: tuple[float, ...] = (0.8, 0.85, 0.9, 0.95)
    k: tuple[float, ...] = (2.0, 3.0, 5.0)
    min_lifetime: tuple[int, ...] = (3, 5, 7)
    cosine: tuple[str, ...] = ("raw", "centred")
    n_boot: int = 500

    def cells(self) -> list[dict[str, Any]]:
        return [
            {"tau": t, "k": k, "min_lifetime": m, "cosine": c}
            for t, k, m, c in itertools.product(self.tau, self.k, self.min_lifetime, self.cosine)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"tau": list(self.tau), "k": list(self.k), "min_lifetime": list(self.min_lifetime),
                "cosine": list(self.cosine), "n_boot": self.n_boot, "n_cells": len(self.cells())}


# the grid cell the sensitivity tables call "default": the analysis' own defaults (AnalysisConfig)
DEFAULT_CELL: dict[str, Any] = {p: v for p, v in AnalysisConfig().to_dict().items() if p in ("tau", "k", "min_lifetime", "cosine")}


def grid_cell(res: ScanResult, cell: dict[str, Any], n_boot: int) -> dict[str, Any]:
    """One cell: re-analyse the same capture (`ScanResult.reanalyze`, no model run) and record the
    distinct secondary count, those in the generated part and how many of them are born in the
    middle band (RULES middle_lo <= rel_birth <= middle_hi), the generated-part sample share and
    the five verdicts."""
    r = res.reanalyze(**cell, n_boot=n_boot)
    d = distinct_sinks(r)
    sec = secondary_by_region(d)
    claims = summarize_model(d)
    gen = sec[sec["region"] == "generated"]
    rb = gen["rel_birth"].to_numpy(dtype=np.float64)
    return {
        **cell,
        "n_secondary": len(sec),
        "n_generated": len(gen),
        "n_generated_middle": int(((rb >= RULES["middle_lo"]) & (rb <= RULES["middle_hi"])).sum()),
        "share_samples_generated": sample_share(sec, len(r.prompts))["share"],
        "verdicts": {str(c): v["verdict"] for c, v in verdicts({"status": "ok", **claims}).items()},
    }


def sensitivity(res: ScanResult, grid: Grid = Grid()) -> list[dict[str, Any]]:
    """Every cell of `grid` (`grid_cell`)."""
    return [grid_cell(res, c, grid.n_boot) for c in grid.cells()]


def sensitivity_summary(cells: Sequence[dict[str, Any]], default: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per claim: the verdict counts over the cells, stable (one verdict everywhere) or flips, the
    verdict at the default cell (tau 0.9, k 3, min lifetime 5, raw cosine, unless `default`), and
    for a flipping claim the parameters whose change alone flips it somewhere (a pair of cells that
    differ only in that parameter and have different verdicts)."""
    default = default or DEFAULT_CELL
    params = tuple(default)
    out: dict[str, Any] = {}
    for c in (str(x) for x in CLAIMS):
        counts = Counter(x["verdicts"][c] for x in cells)
        at_default = next((x["verdicts"][c] for x in cells if all(x[p] == default[p] for p in params)), None)
        flips_with = [
            p for p in params
            if any(
                a["verdicts"][c] != b["verdicts"][c]
                for a, b in itertools.combinations(cells, 2)
                if a[p] != b[p] and all(a[q] == b[q] for q in params if q != p)
            )
        ]
        out[c] = {"counts": dict(counts.most_common()), "stable": len(counts) == 1, "default": at_default,
                  "flips_with": flips_with}
    return out
