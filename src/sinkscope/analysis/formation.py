"""Formation: what block b = birth writes into a sink (docs/method.md §4, observational part).

The causal checks of §4 (ablate / rescale / induce) live in `sinkscope.workflows.interventions`; this module
only reads the captured decomposition h_t^b - h_t^{b-1} = a_t^b + m_t^b.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sinkscope.analysis.columns import names
from sinkscope.capture.trace import PromptTrace
from sinkscope.core.errors import InputError

#: the columns `formation_columns` adds, in registry order (`sinkscope.analysis.columns`)
FORMATION_COLUMNS = names("formation")


def formation_columns(records_df: pd.DataFrame, pt: PromptTrace, p: int) -> pd.DataFrame:
    """Return a copy of `records_df` with formation columns, read at each record's birth b.

    For token t born at b (docs/method.md §4), with p the primary position:
      mlp_norm            ||m_t^b||                          (pt.mlp_norm[b, t])
      attn_norm           ||a_t^b||                          (pt.attn_norm[b, t])
      mlp_cos_primary     cos(m_t^b, h_p^b), signed           (pt.mlp_cos_resid[b, p, t])
      mlp_cos_primary_mlp cos(m_t^b, m_p^b), signed           (pt.mlp_cos_mlp[b, p, t])
      attn_cos_primary    cos(a_t^b, h_p^b), signed           (pt.attn_cos_resid[b, p, t])
      mlp_cos_oriented    mlp_cos_primary x (-1 if the record is anti_aligned else +1): the
                          alignment with the direction the sink actually takes (an anti-aligned
                          sink is written along -h_p).
      proj_mlp, proj_attn projections on the unit primary direction: cos x norm.
      mlp_share           proj_mlp / (proj_mlp + proj_attn); NaN when |denominator| <=
                          1e-9 x (|proj_mlp| + |proj_attn|) (or both are 0). Can leave [0, 1]
                          when the two projections have opposite signs.
      jump_norm           ||h_t^b|| - ||h_t^{b-1}||, with ||h_t^{-1}|| = embed_norm[t] for b = 0.

    Computed for every record (noise and unclassified included, so they can serve as contrast);
    the norm law and summaries filter to secondaries. The primary's own row is read at the window
    start. p must index the candidate axis of the cos arrays (candidates are 0..C-1, so it is p).

    Raises:
        InputError: a record's birth or position outside the trace, or p not a candidate position.
    """
    out = records_df.copy()
    n = len(out)
    if n == 0:
        for col in FORMATION_COLUMNS:
            out[col] = pd.Series(dtype="float64")
        return out
    births = out["birth"].to_numpy(dtype=int)
    pos = out["position"].to_numpy(dtype=int)
    n_layers, n_tokens = np.asarray(pt.mlp_norm).shape
    if births.min() < 0 or births.max() >= n_layers or pos.min() < 0 or pos.max() >= n_tokens:
        raise InputError("formation_columns: a record's birth or position lies outside the trace.")
    if not 0 <= p < np.asarray(pt.mlp_cos_resid).shape[1]:
        raise InputError(f"formation_columns: primary p={p} is not a captured candidate position.")

    mlp_norm = np.asarray(pt.mlp_norm, dtype=np.float64)[births, pos]
    attn_norm = np.asarray(pt.attn_norm, dtype=np.float64)[births, pos]
    mlp_cos = np.asarray(pt.mlp_cos_resid, dtype=np.float64)[births, p, pos]
    mlp_cos_mlp = np.asarray(pt.mlp_cos_mlp, dtype=np.float64)[births, p, pos]
    attn_cos = np.asarray(pt.attn_cos_resid, dtype=np.float64)[births, p, pos]
    proj_m = mlp_cos * mlp_norm
    proj_a = attn_cos * attn_norm
    den = proj_m + proj_a
    scale = np.abs(proj_m) + np.abs(proj_a)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where((scale > 0) & (np.abs(den) > 1e-9 * scale), proj_m / den, np.nan)
    rn = np.asarray(pt.resid_norm, dtype=np.float64)
    prev = np.where(
        births > 0,
        rn[np.maximum(births - 1, 0), pos],
        np.asarray(pt.embed_norm, dtype=np.float64)[pos],
    )
    anti = out["anti_aligned"].to_numpy(dtype=bool) if "anti_aligned" in out else np.zeros(n, bool)

    out["mlp_norm"] = mlp_norm
    out["attn_norm"] = attn_norm
    out["mlp_cos_primary"] = mlp_cos
    out["mlp_cos_primary_mlp"] = mlp_cos_mlp
    out["attn_cos_primary"] = attn_cos
    out["mlp_cos_oriented"] = np.where(anti, -mlp_cos, mlp_cos)
    out["proj_mlp"] = proj_m
    out["proj_attn"] = proj_a
    out["mlp_share"] = share
    out["jump_norm"] = rn[births, pos] - prev
    return out
