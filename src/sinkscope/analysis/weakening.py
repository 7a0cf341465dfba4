"""Primary-sink weakening (docs/method.md §6): does s_p^l dip in the middle layers when secondaries appear?

`layer_table` gives the per-layer picture of one prompt, `pooled_layer_table` averages several,
and `weakening` reads the dip off a (per-prompt or pooled) table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sinkscope.analysis.config import DEFAULTS
from sinkscope.analysis.detection import Detection
from sinkscope.capture.trace import PromptTrace
from sinkscope.core.errors import InputError

NAN = float("nan")

LAYER_COLUMNS = (
    "layer",
    "rel_depth",
    "primary_score",
    "primary_head_fraction",
    "primary_norm",
    "secondary_mass",
    "n_secondary_alive",
    "births",
    "in_window",
)
# Written by `layer_table` after LAYER_COLUMNS (not in it: tables saved before it lack it), docs/method.md §11.
ATTENTION_COLUMN = "attention"


def layer_table(pt: PromptTrace, det: Detection) -> pd.DataFrame:
    """Per-layer table of one prompt (docs/method.md §6), one row per layer l = 0..L-1:

    layer, rel_depth = l / (L - 1) (0 for L = 1),
    primary_score         s_p^l (layer-mean score of the primary p),
    primary_head_fraction F_p^l(eps) with eps = det.config.eps,
    primary_norm          ||h_p^l||,
    secondary_mass        sum of s_t^l over secondary sinks t alive at l (l in S_t); NaN, like the
                          primary's score and head fraction, at a layer without attention,
    n_secondary_alive     number of those sinks,
    births                number of secondary sinks with birth == l,
    in_window             l in the primary window [start, end),
    attention             l has attention probabilities (False at a hybrid's Mamba / convolution
                          blocks, docs/method.md §11: its score columns are NaN there).
    """
    n_layers = det.n_layers
    p = det.p
    sec = det.records[det.records["kind"] == "secondary"]
    pos = sec["position"].to_numpy(dtype=int)
    alive = det.scanned[:, pos] if pos.size else np.zeros((n_layers, 0), dtype=bool)
    mass = (det.layer_scores[:, pos] * alive).sum(axis=1) if pos.size else np.zeros(n_layers)
    att = det.attention_layers if det.attention_layers is not None else np.ones(n_layers, bool)
    mass = np.where(att, mass, np.nan)  # no attention probabilities: no score mass either
    births = np.bincount(sec["birth"].to_numpy(dtype=int), minlength=n_layers)[:n_layers]
    start, end = det.window
    layers = np.arange(n_layers)
    return pd.DataFrame(
        {
            "layer": layers,
            "rel_depth": layers / (n_layers - 1) if n_layers > 1 else np.zeros(n_layers),
            "primary_score": det.layer_scores[:, p],
            "primary_head_fraction": det.head_fraction[:, p],
            "primary_norm": np.asarray(pt.resid_norm, dtype=np.float64)[:, p],
            "secondary_mass": mass.astype(np.float64),
            "n_secondary_alive": alive.sum(axis=1).astype(np.int64),
            "births": births.astype(np.int64),
            "in_window": (layers >= start) & (layers < end),
            "attention": att,
        },
        columns=[*LAYER_COLUMNS, ATTENTION_COLUMN],
    )


def pooled_layer_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean over prompts of per-layer tables (docs/method.md §6).

    Every column of `LAYER_COLUMNS` is averaged per layer (in_window becomes the share of prompts
    whose window contains the layer); `births_total` is the sum of births and `n_prompts` the
    number of tables.

    Raises:
        InputError: no table, or tables with different numbers of layers.
    """
    if not tables:
        raise InputError("pooled_layer_table: no per-layer tables to pool.")
    sizes = {len(t) for t in tables}
    if len(sizes) != 1:
        raise InputError(f"pooled_layer_table: tables have different numbers of layers {sorted(sizes)}.")
    cat = pd.concat([t[list(LAYER_COLUMNS)] for t in tables], ignore_index=True)
    cat["in_window"] = cat["in_window"].astype(np.float64)
    pooled = cat.groupby("layer", sort=True).mean().reset_index()
    if all(ATTENTION_COLUMN in t.columns for t in tables):  # the same in every prompt of one model
        pooled[ATTENTION_COLUMN] = tables[0].sort_values("layer")[ATTENTION_COLUMN].to_numpy(dtype=bool)
    pooled["births_total"] = cat.groupby("layer", sort=True)["births"].sum().to_numpy()
    pooled["n_prompts"] = len(tables)
    return pooled


@dataclass(frozen=True)
class Weakening:
    """Dip of the primary's score in the middle layers relative to its early plateau (docs/method.md §6).

    reference_layers  [a, b): first third of the primary window (see `weakening`).
    plateau, plateau_layer  max of s_p^l over the reference layers and where.
    dip_layer, dip_score    argmin / min of s_p^l over the middle layers after the plateau layer.
    dip_ratio         dip_score / plateau (< 1: weaker than the plateau; NaN if plateau <= 0).
    weakened_layers   layers after the plateau layer with s_p^l < weak_frac x plateau.
    n_births          secondary births in the table (sum of `births`).
    coincides_with_births  share of those births at a layer within +/-1 of a weakened layer
                      (NaN without births; 0 when there are births but no weakened layers).
    reason            why some field is NaN, else None.
    """

    reference_layers: tuple[int, int]
    plateau: float
    plateau_layer: int
    dip_layer: int | None
    dip_score: float
    dip_ratio: float
    weakened_layers: tuple[int, ...]
    n_births: float
    coincides_with_births: float
    weak_frac: float = DEFAULTS.weak_frac
    middle: tuple[float, float] = DEFAULTS.weak_middle
    reason: str | None = None

    @property
    def weakened(self) -> bool:
        """True when the dip goes below weak_frac x plateau."""
        return bool(np.isfinite(self.dip_ratio) and self.dip_ratio < self.weak_frac)

    def to_dict(self) -> dict:
        return {
            "reference_layers": list(self.reference_layers),
            "plateau": self.plateau,
            "plateau_layer": self.plateau_layer,
            "dip_layer": self.dip_layer,
            "dip_score": self.dip_score,
            "dip_ratio": self.dip_ratio,
            "weakened_layers": list(self.weakened_layers),
            "n_births": self.n_births,
            "coincides_with_births": self.coincides_with_births,
            "weak_frac": self.weak_frac,
            "middle": list(self.middle),
            "weakened": self.weakened,
            "reason": self.reason,
        }


def weakening(
    table: pd.DataFrame,
    *,
    weak_frac: float = DEFAULTS.weak_frac,
    middle: tuple[float, float] = DEFAULTS.weak_middle,
) -> Weakening:
    """The primary's weakening (docs/method.md §6), read off `layer_table` or `pooled_layer_table`.

    Exact definitions (L layers, s^l = primary_score):
    - Reference layers: the primary window W = {l : in_window >= 0.5} (the layers it spans, from
      its first to its last layer, as [w0, w1)); R = [w0, w0 + ceil(|W| / 3)). Without window
      information (no in_window layer) R = [0, ceil(L / 3)). The window is used, not layer 0,
      because before it the primary has not yet become a sink (docs/method.md pitfalls, SmolLM2: it gets
      almost nothing in blocks 0-11 and the window starts at 11).
    - plateau = max_{l in R} s^l, plateau_layer = its argmax (first on ties).
    - Middle layers M = {l : middle[0] <= l / (L - 1) <= middle[1] and l > plateau_layer} (a dip
      must come after the plateau). dip_layer = argmin_{l in M} s^l, dip_ratio = s^dip / plateau.
    - weakened_layers = {l > plateau_layer : s^l < weak_frac x plateau}.
    - coincides_with_births = (births at layers within +/-1 of a weakened layer) / (all births).
    Layers whose s^l is NaN (no attention probabilities, docs/method.md §11) are left out of the
    plateau, the dip and the weakened layers (reference layers all without: the nearest attention
    layer, the first after them if any, is the plateau layer); "+/-1" stays in model layers.

    Raises:
        InputError: the table lacks a column, is empty, or has no layer with a primary score.
    """
    missing = {"layer", "primary_score", "births", "in_window"} - set(table.columns)
    if missing:
        raise InputError(f"weakening: table lacks column(s) {sorted(missing)}.")
    tab = table.sort_values("layer")
    s = tab["primary_score"].to_numpy(dtype=np.float64)
    births = tab["births"].to_numpy(dtype=np.float64)
    n_layers = s.size
    if n_layers == 0:
        raise InputError("weakening: empty per-layer table.")
    win = np.flatnonzero(tab["in_window"].to_numpy(dtype=np.float64) >= 0.5)
    if win.size:
        w0, w1 = int(win[0]), int(win[-1]) + 1
        ref = (w0, w0 + math.ceil((w1 - w0) / 3))
    else:
        ref = (0, max(1, math.ceil(n_layers / 3)))
    ref_s = s[ref[0] : ref[1]]
    if np.isfinite(ref_s).any():
        plateau_layer = ref[0] + int(np.nanargmax(ref_s))
    else:  # a hybrid whose reference layers have no attention: the nearest attention layer (first after)
        finite = np.flatnonzero(np.isfinite(s))
        if not finite.size:
            raise InputError("weakening: no layer with a primary score (no attention probabilities).")
        after = finite[finite >= ref[0]]
        plateau_layer = int(after[0] if after.size else finite[-1])
    plateau = float(s[plateau_layer])
    layers = np.arange(n_layers)
    depth = layers / (n_layers - 1) if n_layers > 1 else np.zeros(n_layers)
    mid = np.flatnonzero(
        (depth >= middle[0] - 1e-12) & (depth <= middle[1] + 1e-12) & (layers > plateau_layer) & np.isfinite(s)
    )
    reasons = []
    if mid.size:
        dip_layer: int | None = int(mid[np.argmin(s[mid])])
        dip_score = float(s[dip_layer])
    else:
        dip_layer, dip_score = None, NAN
        reasons.append("no middle layer after the plateau")
    if plateau > 0 and np.isfinite(dip_score):
        dip_ratio = dip_score / plateau
    else:
        dip_ratio = NAN
        if plateau <= 0:
            reasons.append("primary score plateau is 0")
    weak = tuple(int(l) for l in np.flatnonzero((s < weak_frac * plateau) & (layers > plateau_layer)))
    n_births = float(births.sum())
    if n_births > 0:
        near = np.zeros(n_layers, dtype=bool)
        for l in weak:
            near[max(0, l - 1) : l + 2] = True
        coincide = float(births[near].sum() / n_births)
    else:
        coincide = NAN
        reasons.append("no secondary births")
    return Weakening(
        reference_layers=ref,
        plateau=plateau,
        plateau_layer=plateau_layer,
        dip_layer=dip_layer,
        dip_score=dip_score,
        dip_ratio=float(dip_ratio),
        weakened_layers=weak,
        n_births=n_births,
        coincides_with_births=coincide,
        weak_frac=weak_frac,
        middle=tuple(middle),
        reason="; ".join(reasons) or None,
    )
