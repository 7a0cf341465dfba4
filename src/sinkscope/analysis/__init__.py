"""Pure analyses over captured arrays (numpy in, dataclasses / pandas out; no torch, no model).

Sections refer to METHOD.md: scores (§1), detection (§2-3), formation (§4), norm law (§5),
weakening (§6), levels (§7), prior-work metrics (massive activations, ACT), and `analyze`, which
runs them all over a set of prompts.
"""

from sinkscope.analysis.config import DetectConfig
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
from sinkscope.analysis.levels import Level, Levels, label_cells, levels
from sinkscope.analysis.massive import (
    act_heads,
    activation_ratio,
    massive_activations,
    top_activation_per_layer,
)
from sinkscope.analysis.normlaw import Correlation, MonotoneFit, NormLaw, correlation, isotonic_fit, norm_law
from sinkscope.analysis.scores import baseline_scores, classifiable, head_fraction, layer_scores
from sinkscope.analysis.weakening import (
    LAYER_COLUMNS,
    Weakening,
    layer_table,
    pooled_layer_table,
    weakening,
)

__all__ = [
    "FORMATION_COLUMNS",
    "KINDS",
    "LAYER_COLUMNS",
    "RECORD_COLUMNS",
    "Correlation",
    "DetectConfig",
    "Detection",
    "Findings",
    "Level",
    "Levels",
    "MonotoneFit",
    "NormLaw",
    "Weakening",
    "act_heads",
    "activation_ratio",
    "analyze",
    "baseline_scores",
    "classifiable",
    "correlation",
    "detect",
    "formation_columns",
    "head_fraction",
    "isotonic_fit",
    "label_cells",
    "layer_scores",
    "layer_table",
    "levels",
    "massive_activations",
    "norm_law",
    "pooled_layer_table",
    "primary_position",
    "primary_window",
    "sink_like",
    "top_activation_per_layer",
    "weakening",
]
