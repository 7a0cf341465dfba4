"""The one pooled aggregation: the quantities taken over the sink records of several prompts (one
scan) or several runs (`sinkscope levels RUN...`, a sweep model, a reproduction): the norm law
(docs/method.md §5), the pooled weakening (§6), the sink levels (§7) and the medians over the
secondary sinks, each with the thresholds of one `AnalysisConfig` and the layers that have attention
probabilities (§11). `analyze`, `sinkscope levels`, `compare` and `reproduce` all call `pool`, so a
pooled number cannot differ between them for the same records and config.

`distinct_records` counts a secondary sink repeated over an identical token prefix once (the
reproduction's "distinct sinks").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from sinkscope.analysis.columns import summarised
from sinkscope.analysis.config import AnalysisConfig, DetectConfig
from sinkscope.analysis.levels import Levels, levels
from sinkscope.analysis.normlaw import NormLaw, norm_law
from sinkscope.analysis.weakening import ATTENTION_COLUMN, Weakening, pooled_layer_table, weakening
from sinkscope.core.errors import InputError

#: the medians over the pooled secondary sinks: summary key -> sink-record column, one per column the
#: registry summarises (`analysis.columns`, `Column.summary`; median_birth, median_mlp_cos, ...)
MEDIANS: dict[str, str] = {c.summary.key: c.name for c in summarised() if c.summary is not None}


def finite_median(values: pd.Series | np.ndarray) -> float:
    """Median of the finite values (non-numeric entries count as missing); NaN when there is none.

    Shapes:
        values: [N] any numeric column, N = number of records.
    """
    v = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


@dataclass(frozen=True)
class Pooled:
    """What `pool` computes over a set of sink records.

    sinks          the pooled records (all kinds).
    n_layers       blocks of the model (every record comes from one model).
    config         the `AnalysisConfig` every pooled quantity used.
    norm_law       docs/method.md §5 over the secondary sinks (n_boot, seed of the config);
                   computed on first use (its bootstrap is the one costly part).
    levels         docs/method.md §7 over the secondary sinks (levels_min_share, levels_tol;
                   births adjacent across non-attention layers, §11).
    layers_pooled  `pooled_layer_table` of the per-prompt layer tables (None without tables).
    weakening      docs/method.md §6 on `layers_pooled` (weak_frac, weak_middle; None without tables).
    medians        `MEDIANS` over the secondary sinks (finite values only; NaN when none).
    """

    sinks: pd.DataFrame
    n_layers: int
    config: AnalysisConfig
    levels: Levels
    layers_pooled: pd.DataFrame | None
    weakening: Weakening | None
    medians: dict[str, float]

    @cached_property
    def norm_law(self) -> NormLaw:
        return norm_law(self.sinks, n_boot=self.config.n_boot, seed=self.config.seed)


def attention_layers_of(tables: Sequence[pd.DataFrame]) -> np.ndarray | None:
    """Which layers have attention probabilities, from stored per-layer tables.

    Read from the tables' `attention` column (the same in every prompt of one model,
    docs/method.md §11).

    Shapes:
        returns: [L] bool.

    Returns:
        None when the tables predate that column.
    """
    for t in tables:
        if ATTENTION_COLUMN in t.columns and len(t):
            return t.sort_values("layer")[ATTENTION_COLUMN].to_numpy(dtype=bool)
    return None


def pool(
    sinks: pd.DataFrame,
    n_layers: int,
    cfg: DetectConfig | None = None,
    *,
    attention_layers: np.ndarray | Sequence[bool] | None = None,
    layer_tables: Sequence[pd.DataFrame] = (),
) -> Pooled:
    """Pool sink records of one model over prompts or runs (docs/method.md §5-§7, §11).

    norm_law   = norm_law(secondary records; n_boot, seed)
    levels     = levels(records, n_layers; levels_min_share, levels_tol, attention_layers)
    weakening  = weakening(mean over `layer_tables` per layer; weak_frac, weak_middle)
    medians    = median of each `MEDIANS` column over the finite values of the secondary records

    `cfg` is an `AnalysisConfig` (a plain `DetectConfig` gets the documented defaults of the other
    fields, `AnalysisConfig.coerce`). `attention_layers` are the layers with attention
    probabilities; None: all of them, or, when `layer_tables` carry the `attention` column, that
    column.

    Shapes:
        attention_layers: [L] bool, L = n_layers.

    Raises:
        InputError: `attention_layers` does not have one entry per layer.
    """
    cfg = AnalysisConfig.coerce(cfg)
    if attention_layers is None:
        attention_layers = attention_layers_of(layer_tables)
    att = None if attention_layers is None else np.asarray(attention_layers, dtype=bool)
    if att is not None and att.shape != (n_layers,):
        raise InputError(f"pool: attention_layers has {att.size} entries for a model of {n_layers} layers.")
    if att is not None and att.all():
        att = None  # every layer has attention: the plain adjacency, as `levels` without the argument
    sec = sinks[sinks["kind"] == "secondary"] if "kind" in sinks.columns else sinks
    pooled = pooled_layer_table(list(layer_tables)) if len(layer_tables) else None
    return Pooled(
        sinks=sinks,
        n_layers=n_layers,
        config=cfg,
        levels=levels(sinks, n_layers, min_share=cfg.levels_min_share, tol=cfg.levels_tol, attention_layers=att),
        layers_pooled=pooled,
        weakening=weakening(pooled, weak_frac=cfg.weak_frac, middle=cfg.weak_middle) if pooled is not None else None,
        medians={name: finite_median(sec[col]) if len(sec) and col in sec.columns else float("nan")
                 for name, col in MEDIANS.items()},
    )


# ---- distinct sinks ------------------------------------------------------------------------------
def prefix_keys(token_ids: Sequence[int]) -> list[int]:
    """key[t] identifies the prefix token_ids[:t + 1] (a hash chain). Two positions with the same
    key have the same prefix, so a causal model computes the same states there."""
    keys, h = [], 0
    for tok in token_ids:
        h = hash((h, int(tok)))
        keys.append(h)
    return keys


def distinct_records(sinks: pd.DataFrame, keys: Sequence[Sequence[int]]) -> pd.DataFrame:
    """`sinks` without the secondary records whose prefix (token ids up to and including the sink,
    `keys[prompt][position]` from `prefix_keys`) already appeared in an earlier record, in prompt
    order: a sink inside a prefix several prompts share (a chat template's system prompt) is counted
    once. Other kinds are kept as they are; the index is reset."""
    sec = sinks[sinks["kind"] == "secondary"]
    seen: set[int] = set()
    dup = []
    for idx, i, t in zip(sec.index, sec["prompt"], sec["position"]):
        k = keys[int(i)][int(t)]
        if k in seen:
            dup.append(idx)
        seen.add(k)
    return sinks.drop(index=dup).reset_index(drop=True)
