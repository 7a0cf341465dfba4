"""Pooling several result folders of one model (`sinkscope levels RUN...`): their sink records
through the one pooled aggregation (`analysis.pooled.pool`) with the runs' own `AnalysisConfig`
and the layers that have attention probabilities (docs/method.md §7, §11)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sinkscope.analysis import AnalysisConfig
from sinkscope.analysis.config import DEFAULTS
from sinkscope.analysis.pooled import Pooled, pool
from sinkscope.core.errors import InputError


def pool_runs(runs: Sequence[str | Path], *, min_share: float | None = None, tol: int | None = None) -> Pooled:
    """The secondary sinks of `runs` (scan output folders of one model) pooled (`pool`).

    The config is the runs' own (`ScanResult.config`) when they all have the same, else the
    documented defaults, with `levels_min_share` / `levels_tol` the runs' own when they agree on
    them (else the defaults) unless `min_share` / `tol` are given. With one run and its own
    settings the result equals that run's findings (levels, norm law, medians). The attention
    layers are the runs' (`Findings.attention_layers`); runs of different depths or different
    attention layers are refused.
    """
    from sinkscope.workflows.scan import ScanResult

    frames, n_layers, configs, att = [], set(), [], []
    for r in runs:
        res = ScanResult.load(r)
        n_layers.add(res.manifest["model"]["n_layers"])
        configs.append(res.config)
        att.append(tuple(bool(x) for x in res.findings.attention_layers))
        df = res.sinks.copy()
        df["run"] = str(r)
        frames.append(df)
    if not frames:
        raise InputError("levels: give at least one scan output folder.")
    if len(n_layers) > 1:
        raise InputError(f"the runs come from models with different depths {sorted(n_layers)}; levels are per model.")
    if len(set(att)) > 1:
        raise InputError("the runs come from models with different layers of attention (hybrids of another layout); "
                         "levels are per model.")
    base = configs[0] if all(c == configs[0] for c in configs) else AnalysisConfig()
    own = {(c.levels_min_share, c.levels_tol) for c in configs}
    share0, tol0 = own.pop() if len(own) == 1 else (DEFAULTS.levels_min_share, DEFAULTS.levels_tol)
    cfg = AnalysisConfig.coerce(base, levels_min_share=share0 if min_share is None else min_share,
                                levels_tol=tol0 if tol is None else tol)
    return pool(pd.concat(frames, ignore_index=True), n_layers.pop(), cfg, attention_layers=np.asarray(att[0]))
