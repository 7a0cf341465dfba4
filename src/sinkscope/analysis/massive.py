"""Prior-work metrics: massive activations (Sun et al. 2024) and ACT sink heads (Yu et al. 2024).

See docs/method.md "Prior-work metrics worth exposing".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sinkscope.analysis.config import DEFAULTS
from sinkscope.capture.trace import PromptTrace

MASSIVE_COLUMNS = ("layer", "position", "token", "dim", "value", "ratio", "over_100", "over_1000")
ACT_COLUMNS = ("layer", "head", "position", "token", "score", "n_queries")


def activation_ratio(pt: PromptTrace) -> np.ndarray:
    """Massive-activation ratio of every (layer, token) (Sun et al.).

    docs/method.md "Prior-work metrics worth exposing":
    ratio[l, t] = max_d |h_{t,d}^l| / median_{t', d} |h_{t',d}^l|: inf where the layer median is 0
    and the max is not; NaN where both are 0.

    Shapes:
        returns: [L, T] float64.
    """
    amax = np.asarray(pt.act_max, dtype=np.float64)
    med = np.asarray(pt.act_median, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return amax / med


def massive_activations(pt: PromptTrace, min_ratio: float = DEFAULTS.massive_ratio) -> pd.DataFrame:
    """Massive activations: every (layer, token) whose top |activation| exceeds `min_ratio` x the
    layer's median |activation| (Sun et al. 2024).

    Columns: layer, position, token, dim (where the max is reached), value = max_d |h_{t,d}^l|,
    ratio = value / median, over_100 (ratio > 100), over_1000 (ratio > 1000). Sorted by layer,
    then ratio descending.
    """
    ratio = activation_ratio(pt)
    ls, ts = np.nonzero(ratio > min_ratio)
    amax = np.asarray(pt.act_max, dtype=np.float64)
    arg = np.asarray(pt.act_argmax)
    df = pd.DataFrame(
        {
            "layer": ls.astype(np.int64),
            "position": ts.astype(np.int64),
            "token": [str(pt.tokens[t]) for t in ts],
            "dim": arg[ls, ts].astype(np.int64),
            "value": amax[ls, ts],
            "ratio": ratio[ls, ts],
        },
        columns=list(MASSIVE_COLUMNS[:6]),
    )
    df["over_100"] = df["ratio"] > 100.0
    df["over_1000"] = df["ratio"] > 1000.0
    return df.sort_values(["layer", "ratio"], ascending=[True, False], kind="stable").reset_index(drop=True)


def top_activation_per_layer(pt: PromptTrace) -> pd.DataFrame:
    """Per layer the single largest |activation| (Sun et al.; see `activation_ratio`).

    Returns:
        One row per layer: layer, position, token, dim, value, ratio, over_100, over_1000.
    """
    ratio = activation_ratio(pt)
    amax = np.asarray(pt.act_max, dtype=np.float64)
    arg = np.asarray(pt.act_argmax)
    ts = np.argmax(amax, axis=1)
    ls = np.arange(amax.shape[0])
    df = pd.DataFrame(
        {
            "layer": ls,
            "position": ts.astype(np.int64),
            "token": [str(pt.tokens[t]) for t in ts],
            "dim": arg[ls, ts].astype(np.int64),
            "value": amax[ls, ts],
            "ratio": ratio[ls, ts],
        }
    )
    df["over_100"] = df["ratio"] > 100.0
    df["over_1000"] = df["ratio"] > 1000.0
    return df


def act_heads(
    pt: PromptTrace, threshold: float = DEFAULTS.act_threshold, min_queries: int = DEFAULTS.min_queries
) -> pd.DataFrame:
    """ACT (Yu et al. 2024): per head, the non-first keys j >= 1 whose column-mean attention
    s_j^{l,h} (docs/method.md §1) exceeds `threshold`.

    Keys seen by fewer than `min_queries` queries at that layer are skipped: their mean is over a
    handful of queries and is trivially large (docs/method.md pitfall "Late keys look like sinks").
    Columns: layer, head, position, token, score, n_queries; sorted by layer, head, position.
    """
    scores = np.asarray(pt.scores, dtype=np.float64)
    nq = np.asarray(pt.n_queries)
    hit = scores > threshold
    hit[:, :, 0] = False
    hit &= (nq >= min_queries)[:, None, :]
    ls, hs, ts = np.nonzero(hit)
    return pd.DataFrame(
        {
            "layer": ls.astype(np.int64),
            "head": hs.astype(np.int64),
            "position": ts.astype(np.int64),
            "token": [str(pt.tokens[t]) for t in ts],
            "score": scores[ls, hs, ts],
            "n_queries": nq[ls, ts].astype(np.int64),
        },
        columns=list(ACT_COLUMNS),
    )
