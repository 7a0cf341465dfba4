"""Pure analyses over captured arrays (numpy in, dataclasses / pandas out; no torch, no model).

The per-sink columns are declared once in `columns` (SINK_COLUMNS, docs/method.md §3-§4) and the
headline numbers are the typed `Summary`. Sections refer to docs/method.md: scores (§1), detection
(§2-3), formation (§4), norm law (§5), weakening (§6), levels (§7), their pooling over prompts or runs
(`pooled`), the outcome of an edit (§4, `outcomes`), output gates (§12) and learned
sink logits (§13), prior-work metrics (massive activations, ACT), and `analyze`, which runs them all
over a set of prompts.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

# Lazy (PEP 562): `import sinkscope.analysis.config` (the CLI reads its option defaults from it)
# must not pull in pandas and scipy; each name below loads its module on first use.
_NAMES = {
    "Column": "columns",
    "SINK_COLUMNS": "columns",
    "AnalysisConfig": "config",
    "DetectConfig": "config",
    "KINDS": "detection",
    "RECORD_COLUMNS": "detection",
    "Detection": "detection",
    "detect": "detection",
    "primary_position": "detection",
    "primary_window": "detection",
    "sink_like": "detection",
    "Findings": "findings",
    "analyze": "findings",
    "FORMATION_COLUMNS": "formation",
    "formation_columns": "formation",
    "GATE_COLUMNS": "gates",
    "LEARNED_SINK_COLUMNS": "gates",
    "gate_table": "gates",
    "learned_sink_table": "gates",
    "Level": "levels",
    "Levels": "levels",
    "label_cells": "levels",
    "levels": "levels",
    "act_heads": "massive",
    "activation_ratio": "massive",
    "massive_activations": "massive",
    "top_activation_per_layer": "massive",
    "Pooled": "pooled",
    "distinct_records": "pooled",
    "pool": "pooled",
    "prefix_keys": "pooled",
    "Correlation": "normlaw",
    "MonotoneFit": "normlaw",
    "NormLaw": "normlaw",
    "correlation": "normlaw",
    "isotonic_fit": "normlaw",
    "norm_law": "normlaw",
    "EDIT_OUTCOMES": "outcomes",
    "EditOutcome": "outcomes",
    "Outcome": "outcomes",
    "SinkState": "outcomes",
    "edit_outcome": "outcomes",
    "outcome_counts": "outcomes",
    "sink_state": "outcomes",
    "baseline_scores": "scores",
    "classifiable": "scores",
    "head_fraction": "scores",
    "layer_scores": "scores",
    "LAYER_COLUMNS": "weakening",
    "Weakening": "weakening",
    "layer_table": "weakening",
    "pooled_layer_table": "weakening",
    "weakening": "weakening",
    "LevelRange": "summary",
    "Summary": "summary",
}

if TYPE_CHECKING:
    from sinkscope.analysis.columns import SINK_COLUMNS, Column
    from sinkscope.analysis.config import AnalysisConfig, DetectConfig
    from sinkscope.analysis.detection import (
        KINDS,
        RECORD_COLUMNS,
        Detection,
        detect,
        primary_position,
        primary_window,
        sink_like,
    )
    from sinkscope.analysis.findings import Findings, analyze
    from sinkscope.analysis.formation import FORMATION_COLUMNS, formation_columns
    from sinkscope.analysis.gates import GATE_COLUMNS, LEARNED_SINK_COLUMNS, gate_table, learned_sink_table
    from sinkscope.analysis.levels import Level, Levels, label_cells, levels
    from sinkscope.analysis.massive import (
        act_heads,
        activation_ratio,
        massive_activations,
        top_activation_per_layer,
    )
    from sinkscope.analysis.normlaw import (
        Correlation,
        MonotoneFit,
        NormLaw,
        correlation,
        isotonic_fit,
        norm_law,
    )
    from sinkscope.analysis.outcomes import (
        EDIT_OUTCOMES,
        EditOutcome,
        Outcome,
        SinkState,
        edit_outcome,
        outcome_counts,
        sink_state,
    )
    from sinkscope.analysis.pooled import Pooled, distinct_records, pool, prefix_keys
    from sinkscope.analysis.scores import baseline_scores, classifiable, head_fraction, layer_scores
    from sinkscope.analysis.summary import LevelRange, Summary
    from sinkscope.analysis.weakening import (
        LAYER_COLUMNS,
        Weakening,
        layer_table,
        pooled_layer_table,
        weakening,
    )


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        # Importing submodule `levels` / `weakening` binds it on this package; those names are the
        # exported functions (as when this package imported them eagerly), so keep them so.
        if name in _NAMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f"sinkscope.analysis.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sinkscope.analysis' has no attribute '{name}'")


__all__ = [
    "EDIT_OUTCOMES",
    "FORMATION_COLUMNS",
    "GATE_COLUMNS",
    "LEARNED_SINK_COLUMNS",
    "KINDS",
    "LAYER_COLUMNS",
    "RECORD_COLUMNS",
    "SINK_COLUMNS",
    "AnalysisConfig",
    "Column",
    "Correlation",
    "DetectConfig",
    "Detection",
    "EditOutcome",
    "Findings",
    "Level",
    "LevelRange",
    "Levels",
    "MonotoneFit",
    "NormLaw",
    "Outcome",
    "Pooled",
    "SinkState",
    "Summary",
    "Weakening",
    "act_heads",
    "activation_ratio",
    "analyze",
    "baseline_scores",
    "classifiable",
    "correlation",
    "detect",
    "distinct_records",
    "edit_outcome",
    "formation_columns",
    "gate_table",
    "head_fraction",
    "isotonic_fit",
    "label_cells",
    "layer_scores",
    "layer_table",
    "learned_sink_table",
    "levels",
    "massive_activations",
    "norm_law",
    "outcome_counts",
    "pool",
    "pooled_layer_table",
    "prefix_keys",
    "primary_position",
    "primary_window",
    "sink_like",
    "sink_state",
    "top_activation_per_layer",
    "weakening",
]
