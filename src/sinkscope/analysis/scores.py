"""Attention sink scores (docs/method.md §1) and the baselines sinks are compared against.

All functions take the reduced arrays of a `PromptTrace` (numpy, no torch) and return float64
arrays. Shapes: L layers, H query heads, T tokens.
"""

from __future__ import annotations

import bisect
from typing import Literal

import numpy as np

from sinkscope.analysis.config import DEFAULTS
from sinkscope.core.errors import InputError

BaselineHow = Literal["matched", "global"]


def layer_scores(scores: np.ndarray) -> np.ndarray:
    """Per-layer sink score: the mean of the per-head scores over query heads.

    s_j^l = (1/H) sum_h s_j^{l,h} (docs/method.md §1).

    Shapes:
        scores: [L, H, T] per-head scores s_j^{l,h}.
        returns: [L, T] float64.

    Raises:
        InputError: `scores` is not three-dimensional.
    """
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise InputError(f"scores must have shape [L, H, T], got shape {scores.shape}.")
    return scores.astype(np.float64).mean(axis=1)


def attention_layers(scores: np.ndarray) -> np.ndarray:
    """The layers that have attention probabilities (docs/method.md §11).

    A layer with softmax attention always has a finite score for key 0 (query 0 sees it); a hybrid's
    non-softmax layers (Mamba, short convolution) are captured as NaN everywhere.

    Shapes:
        scores: [L, H, T] per-head scores.
        returns: [L] bool, True where layer l has attention probabilities.

    Raises:
        InputError: `scores` is not three-dimensional.
    """
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise InputError(f"scores must have shape [L, H, T], got shape {scores.shape}.")
    return np.isfinite(scores).any(axis=(1, 2))


def head_fraction(scores: np.ndarray, eps: float) -> np.ndarray:
    """Head fraction: the share of query heads whose score on key j exceeds eps.

    F_j^l(eps) = (1/H) #{h : s_j^{l,h} > eps} (docs/method.md §1; Gu et al. "Sink^eps"). The
    inequality is strict.

    Shapes:
        scores: [L, H, T] per-head scores.
        returns: [L, T] float64 in [0, 1]; NaN at a layer without attention probabilities
            (`attention_layers`).

    Raises:
        InputError: `scores` is not three-dimensional.
    """
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise InputError(f"scores must have shape [L, H, T], got shape {scores.shape}.")
    out = (scores > eps).mean(axis=1).astype(np.float64)
    out[~attention_layers(scores)] = np.nan
    return out


def classifiable(n_queries: np.ndarray, min_queries: int) -> np.ndarray:
    """Keys that may be classified (docs/method.md §1): min_l n_queries[l, t] >= min_queries.

    Shapes:
        n_queries: [L, T] number of queries that see key t at layer l (n_t^l).
        returns: [T] bool.

    Raises:
        InputError: `n_queries` is not two-dimensional.
    """
    n_queries = np.asarray(n_queries)
    if n_queries.ndim != 2:
        raise InputError(f"n_queries must have shape [L, T], got shape {n_queries.shape}.")
    return n_queries.min(axis=0) >= min_queries


def _sorted_median(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    if n % 2:
        return values[mid]
    return 0.5 * (values[mid - 1] + values[mid])


def baseline_scores(
    layer_scores: np.ndarray,
    exclude_mask: np.ndarray,
    n_queries: np.ndarray,
    how: BaselineHow = "matched",
    *,
    min_queries: int = DEFAULTS.min_queries,
    min_matched: int = 8,
    factor: float = 2.0,
) -> np.ndarray:
    """Baseline score b^l_t a key is compared against (docs/method.md §3, pitfall "Late keys look like sinks").

    The reference pool at layer l is P_l = {u : classifiable(u) and not exclude_mask[l, u]}, i.e.
    non-sink keys seen by >= `min_queries` queries at every layer.

    - "global":  b^l_t = median_{u in P_l} s_u^l (the same for every t).
    - "matched": b^l_t = median_{u in P_l, n_t^l / factor <= n_u^l <= factor * n_t^l} s_u^l,
      a position-matched baseline (n^l = n_queries[l], both bounds inclusive, factor = 2); where
      fewer than `min_matched` (8) keys match, the global value of the layer is used.

    Where P_l is empty the baseline is NaN (callers treat a NaN ratio as "not confirmed").
    Cost: one sort per layer and a sliding window over distinct n_queries values, never T x T.

    Args:
        how: "matched" (position-matched, default) or "global".
        min_queries: a key enters the pool only when seen by this many queries at every layer.
        min_matched: fewer matched keys than this fall back to the layer's global median.
        factor: the matching band n_t^l / factor <= n_u^l <= factor * n_t^l.

    Shapes:
        layer_scores: [L, T] per-layer scores s_t^l (`layer_scores`).
        exclude_mask: [L, T] bool, True for the keys left out of the pool (the sinks).
        n_queries: [L, T] n_t^l.
        returns: [L, T] float64.

    Raises:
        InputError: the three arrays are not all [L, T], or `how` is not "matched" / "global".
    """
    ls = np.asarray(layer_scores, dtype=np.float64)
    ex = np.asarray(exclude_mask, dtype=bool)
    nq = np.asarray(n_queries)
    if ls.ndim != 2 or ex.shape != ls.shape or nq.shape != ls.shape:
        raise InputError(
            "baseline_scores: layer_scores, exclude_mask and n_queries must all be [L, T]; got "
            f"{ls.shape}, {ex.shape}, {nq.shape}."
        )
    if how not in ("matched", "global"):
        raise InputError(f"baseline how={how!r} is invalid: must be 'matched' or 'global'.")
    n_layers, _ = ls.shape
    ok = classifiable(nq, min_queries)
    out = np.full(ls.shape, np.nan, dtype=np.float64)
    for layer in range(n_layers):
        pool = np.flatnonzero(ok & ~ex[layer])
        if pool.size == 0:
            continue
        global_med = float(np.median(ls[layer, pool]))
        if how == "global":
            out[layer, :] = global_med
            continue
        order = np.argsort(nq[layer, pool], kind="stable")
        nq_sorted = nq[layer, pool][order].astype(np.float64)
        s_sorted = ls[layer, pool][order]
        vals = np.unique(nq[layer]).astype(np.float64)
        lo = np.searchsorted(nq_sorted, vals / factor, side="left")
        hi = np.searchsorted(nq_sorted, vals * factor, side="right")
        window: list[float] = []
        lo_cur = hi_cur = 0
        res = np.empty(vals.size, dtype=np.float64)
        for i in range(vals.size):
            while hi_cur < hi[i]:
                bisect.insort(window, float(s_sorted[hi_cur]))
                hi_cur += 1
            while lo_cur < lo[i]:
                j = bisect.bisect_left(window, float(s_sorted[lo_cur]))
                window.pop(j)
                lo_cur += 1
            res[i] = _sorted_median(window) if len(window) >= min_matched else global_med
        out[layer, :] = res[np.searchsorted(vals, nq[layer].astype(np.float64))]
    return out
