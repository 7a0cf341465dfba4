"""Output gates and learned sink logits per layer and head (docs/method.md §12, §13).

Pure functions over the captured arrays (`PromptTrace.output_gate`, `PromptTrace.sink_logit_mass`,
`PromptTrace.scores`) and the detections (primary position, sink records); no model.

Token groups of one prompt (the same for every layer and head):
  primary    the primary position p (docs/method.md §2);
  secondary  the positions of records of kind "secondary" (§3);
  ordinary   every other token: not p and no sink record of any kind (secondary, primary-like,
             noise, unclassified).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sinkscope.analysis.detection import Detection
from sinkscope.capture.trace import PromptTrace

GATE_COLUMNS = ("layer", "head", "gate_primary", "gate_secondary", "gate_ordinary", "n_primary", "n_secondary", "n_ordinary")
LEARNED_SINK_COLUMNS = ("layer", "head", "sink_mass", "primary_score", "n_queries")


def token_groups(det: Detection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The token groups of one prompt: primary, secondary, ordinary (docs/method.md §12, module docstring).

    Shapes:
        returns: (primary [T], secondary [T], ordinary [T]) bool masks.
    """
    T = det.n_tokens
    rec = det.records
    prim = np.zeros(T, dtype=bool)
    prim[det.p] = True
    sec = np.zeros(T, dtype=bool)
    sec[rec.loc[rec["kind"] == "secondary", "position"].to_numpy(dtype=np.int64)] = True
    sec &= ~prim
    any_rec = np.zeros(T, dtype=bool)
    any_rec[rec["position"].to_numpy(dtype=np.int64)] = True
    return prim, sec, ~(prim | any_rec)


def gate_table(prompts: Sequence[PromptTrace], detections: Sequence[Detection]) -> pd.DataFrame:
    """Mean output gate per layer, head and token group, pooled over prompts (docs/method.md §12).

    gate_G^{l,h} = (1 / |G|) sum_{(prompt, t) in G} g_t^{l,h}, with g_t^{l,h} the captured gate
    (`PromptTrace.output_gate`: mean over the head's gate logits of sigmoid(gate), the factor on the
    head's attention output at query t before o_proj) and G the primary, secondary and ordinary
    tokens (`token_groups`). Only layers with a gate (finite values); n_* count the (prompt, token)
    pairs of each group.

    Returns:
        One row per (layer, head); empty (the columns only) for a model without output gates.
    """
    sums: dict[str, np.ndarray] = {}
    counts = dict.fromkeys(("primary", "secondary", "ordinary"), 0)
    for pt, det in zip(prompts, detections):
        g = pt.output_gate
        if g is None:
            continue
        for name, mask in zip(("primary", "secondary", "ordinary"), token_groups(det)):
            part = g[:, :, mask].astype(np.float64).sum(axis=-1)  # [L, H]
            sums[name] = sums[name] + part if name in sums else part
            counts[name] += int(mask.sum())
    if not sums:
        return pd.DataFrame(columns=list(GATE_COLUMNS))
    L, H = sums["primary"].shape
    gated = np.isfinite(sums["primary"]).all(axis=1)
    rows = []
    for layer in np.flatnonzero(gated):
        for head in range(H):
            rows.append((int(layer), head, *(
                sums[n][layer, head] / counts[n] if counts[n] else np.nan for n in ("primary", "secondary", "ordinary")),
                counts["primary"], counts["secondary"], counts["ordinary"]))
    return pd.DataFrame(rows, columns=list(GATE_COLUMNS))


def learned_sink_table(prompts: Sequence[PromptTrace], detections: Sequence[Detection]) -> pd.DataFrame:
    """Attention mass taken by learned sink logits per layer and head (docs/method.md §13).

      sink_mass      (1 / N) sum over the N real queries i of all prompts of (1 - sum_j A_ij^{l,h}),
                     the probability the sink logit takes (`PromptTrace.sink_logit_mass`);
      primary_score  mean over prompts of s_p^{l,h} (§1; its A has the sink logit in the denominator,
                     so it is comparable with sink_mass: both are shares of the same softmax rows).

    Returns:
        One row per (layer, head) with learned sink logits; empty (the columns only) for a model
        without them.
    """
    total: np.ndarray | None = None
    n = 0
    prim: list[np.ndarray] = []
    for pt, det in zip(prompts, detections):
        m = pt.sink_logit_mass
        if m is None:
            continue
        part = m.astype(np.float64).sum(axis=-1)
        total = part if total is None else total + part
        n += m.shape[-1]
        prim.append(pt.scores[:, :, det.p].astype(np.float64))
    if total is None:
        return pd.DataFrame(columns=list(LEARNED_SINK_COLUMNS))
    mass = total / n
    score = np.mean(prim, axis=0)
    rows = [(int(layer), head, mass[layer, head], score[layer, head], n)
            for layer in np.flatnonzero(np.isfinite(mass).all(axis=1)) for head in range(mass.shape[1])]
    return pd.DataFrame(rows, columns=list(LEARNED_SINK_COLUMNS))


def gate_summary(table: pd.DataFrame) -> dict[str, float | None]:
    """Means over the table's (layer, head) cells of gate_primary / gate_secondary / gate_ordinary (§12).

    Returns:
        The console and report headline; None for an empty table or a group with no token.
    """
    def mean(col: str) -> float | None:
        v = table[col].to_numpy(dtype=np.float64) if len(table) else np.array([])
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else None

    return {"primary": mean("gate_primary"), "secondary": mean("gate_secondary"), "ordinary": mean("gate_ordinary")}


def learned_sink_summary(table: pd.DataFrame) -> dict[str, float | None]:
    """Means over the table's (layer, head) cells of sink_mass and primary_score (docs/method.md §13).

    Returns:
        {"sink_mass": .., "primary_score": ..}; None values when the table is empty.
    """
    if not len(table):
        return {"sink_mass": None, "primary_score": None}
    return {"sink_mass": float(table["sink_mass"].mean()), "primary_score": float(table["primary_score"].mean())}


__all__ = ["GATE_COLUMNS", "LEARNED_SINK_COLUMNS", "gate_summary", "gate_table", "learned_sink_summary",
           "learned_sink_table", "token_groups"]
