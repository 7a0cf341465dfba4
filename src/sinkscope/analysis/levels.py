"""Sink levels (docs/method.md §7): discrete clusters of (birth, lifetime) pairs of secondary sinks."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sinkscope.analysis.config import DEFAULTS
from sinkscope.core.errors import InputError


@dataclass(frozen=True)
class Level:
    """One sink level: a connected cluster of (birth, lifetime) cells.

    birth_range, lifetime_range  (min, max), inclusive.
    count, share                 sinks in the cluster and their share of all secondary sinks.
    top_tokens                   up to 5 (token, count), most common first (ties by token).
    cells                        ((birth, lifetime, count), ...) sorted by birth, lifetime.
    """

    birth_range: tuple[int, int]
    lifetime_range: tuple[int, int]
    count: int
    share: float
    top_tokens: tuple[tuple[str, int], ...]
    cells: tuple[tuple[int, int, int], ...]

    def to_dict(self) -> dict:
        return {
            "birth_range": list(self.birth_range),
            "lifetime_range": list(self.lifetime_range),
            "count": self.count,
            "share": self.share,
            "top_tokens": [list(t) for t in self.top_tokens],
            "cells": [list(c) for c in self.cells],
        }


@dataclass(frozen=True)
class Levels:
    """docs/method.md §7 over a set of secondary sinks.

    counts      C[birth, lifetime], int [n_layers, n_layers + 1].
    levels      clusters holding >= min_share of the sinks, ordered by (min birth, min lifetime);
                a level's id is its index (0, 1, ...), the same in `to_frame`, `to_dict`, the
                findings summary, `sinkscope levels` and the figures ("L0").
    n_clusters  all connected clusters, levels or not; n_sinks the number of secondary sinks.
    """

    n_sinks: int
    n_layers: int
    min_share: float
    tol: int
    counts: np.ndarray = field(repr=False, compare=False)
    levels: tuple[Level, ...] = ()
    n_clusters: int = 0

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def to_frame(self) -> pd.DataFrame:
        """One row per level: level, birth_min/max, lifetime_min/max, count, share, top_tokens."""
        return pd.DataFrame(
            [
                {
                    "level": i,
                    "birth_min": lv.birth_range[0],
                    "birth_max": lv.birth_range[1],
                    "lifetime_min": lv.lifetime_range[0],
                    "lifetime_max": lv.lifetime_range[1],
                    "count": lv.count,
                    "share": lv.share,
                    "top_tokens": ", ".join(f"{tok!r}x{c}" for tok, c in lv.top_tokens),
                }
                for i, lv in enumerate(self.levels)
            ],
            columns=[
                "level",
                "birth_min",
                "birth_max",
                "lifetime_min",
                "lifetime_max",
                "count",
                "share",
                "top_tokens",
            ],
        )

    def to_dict(self) -> dict:
        return {
            "n_sinks": self.n_sinks,
            "n_layers": self.n_layers,
            "min_share": self.min_share,
            "tol": self.tol,
            "n_clusters": self.n_clusters,
            "n_levels": self.n_levels,
            "levels": [{"level": i, **lv.to_dict()} for i, lv in enumerate(self.levels)],
        }


def label_cells(mask: np.ndarray, tol: int) -> tuple[np.ndarray, int]:
    """Connected components of the True cells of a 2-D mask, with a Chebyshev neighbourhood.

    Cells (i, j) and (i', j') are adjacent when |i - i'| <= tol and |j - j'| <= tol (tol = 1 is
    8-connectivity, the same as scipy.ndimage.label with a 3 x 3 structure); used by `levels`
    (docs/method.md §7).

    Shapes:
        mask: [R, K] bool, with R = rows, K = columns (the birth x lifetime grid in `levels`).
        returns: ([R, K] int64 labels, n): labels 1..n in row-major order of each component's first
            cell, 0 outside the mask.
    """
    labels = np.zeros(mask.shape, dtype=np.int64)
    n = 0
    rows, cols = mask.shape
    for i0, j0 in zip(*np.nonzero(mask)):
        if labels[i0, j0]:
            continue
        n += 1
        labels[i0, j0] = n
        queue = deque([(i0, j0)])
        while queue:
            i, j = queue.popleft()
            for a in range(max(0, i - tol), min(rows, i + tol + 1)):
                for b in range(max(0, j - tol), min(cols, j + tol + 1)):
                    if mask[a, b] and not labels[a, b]:
                        labels[a, b] = n
                        queue.append((a, b))
    return labels, n


def levels(
    records_df: pd.DataFrame,
    n_layers: int,
    min_share: float = DEFAULTS.levels_min_share,
    tol: int = DEFAULTS.levels_tol,
    *,
    kinds: Sequence[str] = ("secondary",),
    attention_layers: np.ndarray | None = None,
) -> Levels:
    """Sink levels: clusters of (birth, lifetime) cells that hold a minimum share of the sinks.

    docs/method.md §7. Over the records whose kind is in `kinds` (all rows if there is no `kind`
    column), over all prompts: C[b, m] = #{sinks with birth b and lifetime m}. Non-zero cells are
    clustered with `label_cells(C > 0, tol)` (cells within +/-tol in both birth and lifetime are
    connected). A level is a cluster with count / n_sinks >= min_share. Levels are ordered by (min
    birth, min lifetime). tol = 1 is the scipy.ndimage.label 3 x 3 structure; larger tol is supported
    by the own labelling (ndimage only accepts 3 x 3).

    Args:
        records_df: sink records with `birth`, `lifetime` (and `kind`, `token`) columns.
        n_layers: L, the model's number of layers.
        min_share: the share of all counted sinks a cluster needs to be a level.
        tol: the adjacency distance in birth and lifetime.
        kinds: the record kinds counted.
        attention_layers: hybrids (docs/method.md §11): births can only fall on those layers;
            adjacency in birth is then counted in their sub-sequence (two consecutive attention
            layers are neighbours across a Mamba / convolution block), births reported with
            original indices.

    Shapes:
        attention_layers: [L] bool, or None (every layer has attention probabilities).

    Returns:
        The `Levels`, with the count matrix C of shape [L, L + 1].

    Raises:
        InputError: a bad min_share / tol / n_layers, or a record born outside [0, L - 1] or at
            a layer without attention probabilities.
    """
    if not 0.0 <= min_share <= 1.0:
        raise InputError(f"levels: min_share={min_share} must be in [0, 1].")
    if not (isinstance(tol, int) and tol >= 0):
        raise InputError(f"levels: tol={tol!r} must be an integer >= 0.")
    if n_layers < 1:
        raise InputError(f"levels: n_layers={n_layers} must be >= 1.")
    sub = records_df[records_df["kind"].isin(list(kinds))] if "kind" in records_df.columns else records_df
    births = sub["birth"].to_numpy(dtype=int)
    lifes = sub["lifetime"].to_numpy(dtype=int)
    if births.size and (
        births.min() < 0 or births.max() >= n_layers or lifes.min() < 0 or lifes.max() > n_layers
    ):
        raise InputError(
            f"levels: a record has birth outside [0, {n_layers - 1}] or lifetime outside [0, {n_layers}]; "
            "are all records from a model with n_layers layers?"
        )
    counts = np.zeros((n_layers, n_layers + 1), dtype=np.int64)
    np.add.at(counts, (births, lifes), 1)
    n_sinks = int(births.size)
    if n_sinks == 0:
        return Levels(0, n_layers, min_share, tol, counts, (), 0)
    if attention_layers is None:
        labels, n_clusters = label_cells(counts > 0, tol)
    else:
        att = np.flatnonzero(np.asarray(attention_layers, dtype=bool))
        if np.setdiff1d(births, att).size:
            raise InputError("levels: a record is born at a layer without attention probabilities.")
        labels = np.zeros(counts.shape, dtype=np.int64)
        labels[att], n_clusters = label_cells(counts[att] > 0, tol)
    tokens = sub["token"].astype(str).to_numpy() if "token" in sub.columns else np.full(n_sinks, "")
    rec_label = labels[births, lifes]
    found = []
    for lab in range(1, n_clusters + 1):
        cells_b, cells_m = np.nonzero(labels == lab)
        count = int(counts[cells_b, cells_m].sum())
        share = count / n_sinks
        if share + 1e-12 < min_share:
            continue
        tok_counts = Counter(tokens[rec_label == lab].tolist())
        top = tuple(sorted(tok_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        cells = tuple(sorted((int(b), int(m), int(counts[b, m])) for b, m in zip(cells_b, cells_m)))
        found.append(
            Level(
                birth_range=(int(cells_b.min()), int(cells_b.max())),
                lifetime_range=(int(cells_m.min()), int(cells_m.max())),
                count=count,
                share=float(share),
                top_tokens=top,
                cells=cells,
            )
        )
    found.sort(key=lambda lv: (lv.birth_range[0], lv.lifetime_range[0]))
    return Levels(n_sinks, n_layers, min_share, tol, counts, tuple(found), n_clusters)
