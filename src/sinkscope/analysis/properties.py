"""Sink properties: residual, key and value norms, and the value a sink returns (docs/method.md §8).

A pure function of what the capture pass already keeps (`PromptTrace`) and of the detector's
output (`Detection`): no extra forward pass. For every layer l it reports, for the primary p,
for each secondary sink t (other record kinds on request) and for the mean of the non-sink
tokens:

    ||h_t^l||                       resid_norm[l, t]
    ||k_t^{l,k}||, ||v_t^{l,k}||    key_norm[l, k, t] (after RoPE), value_norm[l, k, t], per KV head k
                                    and their mean over KV heads
    s_t^{l,h}                       scores[l, h, t] (docs/method.md §1) and its mean over heads
    c_t^{l,h} = sum_i A_{i,t}^{l,h} = s_t^{l,h} * n_queries[l, t]      (the column sum)
    w_t^{l,h} = sum_i A_{i,t}^{l,h} ||v_t^{l,kv(h)}|| = c_t^{l,h} * ||v_t^{l,kv(h)}||

where kv(h) = h // (H / KV) is the KV head that query head h reads (grouped-query attention:
HF's `repeat_kv` order). w is "the attention-weighted value contribution that the sink actually
returns" of §8: since every query reads the same v_t, w = ||sum_i A_{i,t} v_t|| exactly, the norm
of everything key t hands to the queries of head h (before the output projection).

Layer indexing: ||k|| and ||v|| at layer l are what block l's attention reads, i.e. projections of the
normed residual after block l - 1, while ||h_t^l|| is after block l. A sink written by block b's MLP
therefore shows its residual jump at l = b and its small key / value norms from l = b + 1 on.

Ratios are sink / non-sink mean at the same layer (same prompt): the paper's first figure shows
sinks drawing attention while their value norms sit far below the other tokens' (a "no-op").

Non-sink tokens (the contrast of every ratio): t != p, never sink-like at any layer
(|cos(h_t^l, h_p^l)| < tau everywhere, `Detection.sink_like`), and classifiable (seen by at least
`min_queries` queries at every layer, so that late keys with few queries do not enter the mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sinkscope.analysis.detection import Detection
from sinkscope.capture.trace import PromptTrace
from sinkscope.core.errors import InputError

NON_SINK = "non-sink"

# Per-entity, per-layer columns (tidy: one row per prompt x entity x layer).
LAYER_COLUMNS = (
    "prompt",
    "group",
    "position",
    "token",
    "layer",
    "alive",
    "n_tokens",
    "resid_norm",
    "key_norm",
    "value_norm",
    "score",
    "attn_value",
    "resid_ratio",
    "key_ratio",
    "value_ratio",
    "attn_value_ratio",
)
KV_COLUMNS = (
    "prompt",
    "group",
    "position",
    "token",
    "layer",
    "kv_head",
    "alive",
    "key_norm",
    "value_norm",
    "key_ratio",
    "value_ratio",
)
HEAD_COLUMNS = (
    "prompt",
    "group",
    "position",
    "token",
    "layer",
    "head",
    "kv_head",
    "alive",
    "score",
    "colsum",
    "value_norm",
    "attn_value",
    "attn_value_ratio",
)
SUMMARY_COLUMNS = (
    "prompt",
    "group",
    "position",
    "token",
    "birth",
    "death",
    "lifetime",
    "resid_jump",
    "resid_ratio_life",
    "key_ratio_life",
    "value_ratio_life",
    "value_ratio_before",
    "attn_value_ratio_life",
    "score_life",
    "n_non_sink",
)


def kv_of_head(n_heads: int, n_kv: int) -> np.ndarray:
    """The KV head each query head reads: kv(h) = h // (H / KV) (grouped-query attention, docs/method.md §8).

    Shapes:
        returns: [H] int, kv(h) in 0..KV-1.

    Raises:
        InputError: KV does not divide H.
    """
    if n_kv < 1 or n_heads % n_kv:
        raise InputError(f"{n_heads} query heads cannot share {n_kv} KV heads (KV must divide H).")
    return np.arange(n_heads) // (n_heads // n_kv)


def non_sink_mask(det: Detection) -> np.ndarray:
    """The non-sink tokens of one prompt, the contrast of every ratio of docs/method.md §8.

    t != p, never sink-like at any layer (`Detection.sink_like`), and classifiable (module docstring).

    Shapes:
        returns: [T] bool.
    """
    mask = ~np.asarray(det.sink_like, dtype=bool).any(axis=0)
    mask &= np.asarray(det.classifiable, dtype=bool)
    mask[det.p] = False
    return mask


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _group_of(kind: str, is_primary_position: bool) -> str:
    if is_primary_position:
        return "primary"
    return "primary-like" if kind == "primary" else str(kind)


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


@dataclass(eq=False)
class SinkProperties:
    """Tidy tables of docs/method.md §8 (one model; all prompts stacked, `prompt` column first).

    layers    one row per (prompt, entity, layer); entity = the primary, each selected sink
              record, and the non-sink mean (group "non-sink", position -1, n_tokens = how many
              tokens were averaged). Columns `LAYER_COLUMNS`:
                resid_norm  ||h_t^l||;  key_norm / value_norm  mean over KV heads of ||k||, ||v||;
                score       s_t^l (mean over query heads);
                attn_value  mean over query heads of w_t^{l,h} = s_t^{l,h} n_queries[l,t] ||v_t^{l,kv(h)}||;
                *_ratio     the entity's value / the non-sink mean at the same layer;
                alive       l in S_t (the sink's sink-like layers; the primary: its window).
    kv_heads  one row per (prompt, entity, layer, KV head): key_norm, value_norm and their ratios.
    heads     one row per (prompt, entity, layer, query head): score s, colsum c = s * n_queries,
              value_norm of kv(h), attn_value w = c ||v||, and w / non-sink mean w.
    summary   one row per sink entity (no non-sink row): means over the lifetime layers S_t of
              the per-layer ratios (`*_ratio_life`), value_ratio_before (mean over l < birth),
              resid_jump = ||h_t^b|| / ||h_t^{b-1}|| at birth b (||h^{-1}|| = embedding norm),
              score_life (mean s_t^l over S_t), n_non_sink (size of the contrast).
    """

    layers: pd.DataFrame
    kv_heads: pd.DataFrame
    heads: pd.DataFrame
    summary: pd.DataFrame

    def ratio_table(self, value: str = "value_ratio", group: str | None = "secondary") -> pd.DataFrame:
        """Wide view: rows = entities (prompt, position, token), columns = layers, cells = `value`."""
        df = self.layers
        df = df[df["group"] != NON_SINK] if group is None else df[df["group"] == group]
        return df.pivot_table(index=["prompt", "position", "token"], columns="layer", values=value)


def prompt_properties(
    pt: PromptTrace,
    det: Detection,
    *,
    kinds: Sequence[str] = ("secondary",),
    prompt: int = 0,
) -> SinkProperties:
    """Sink properties of one prompt: residual, key and value norms of the sinks (docs/method.md §8).

    The primary, every record whose kind is in `kinds` (record kinds: "secondary", "primary"
    (= primary-like tokens), "noise", "unclassified") and the non-sink mean; formulas in the module
    docstring. Pure: reads `pt.resid_norm`, `pt.key_norm`, `pt.value_norm`, `pt.scores`,
    `pt.n_queries`, `pt.embed_norm` and `det` (p, window, sink_like, scanned, classifiable, records).

    Args:
        prompt: the prompt index written into the tables.

    Returns:
        A `SinkProperties`.

    Raises:
        InputError: key / value norms that do not match the scores' [L, KV, T], or a `det` made
            from another trace.
    """
    scores = np.asarray(pt.scores, dtype=np.float64)
    L, H, T = scores.shape
    kn = np.asarray(pt.key_norm, dtype=np.float64)
    vn = np.asarray(pt.value_norm, dtype=np.float64)
    if kn.ndim != 3 or kn.shape[0] != L or kn.shape[2] != T or vn.shape != kn.shape:
        raise InputError(
            f"key_norm {kn.shape} / value_norm {vn.shape} do not match scores {scores.shape} ([L, KV, T])."
        )
    if det.n_layers != L or det.n_tokens != T:
        raise InputError("prompt_properties: the Detection was made from another trace (shape mismatch).")
    KV = kn.shape[1]
    kvh = kv_of_head(H, KV)
    rn = np.asarray(pt.resid_norm, dtype=np.float64)
    nq = np.asarray(pt.n_queries, dtype=np.float64)
    colsum = scores * nq[:, None, :]  # [L, H, T]
    w = colsum * vn[:, kvh, :]  # [L, H, T]: sum_i A_{i,t} ||v_t||

    ns = non_sink_mask(det)
    n_ns = int(ns.sum())

    def ns_mean(a: np.ndarray) -> np.ndarray:  # mean over non-sink tokens (last axis)
        if n_ns == 0:
            return np.full(a.shape[:-1], np.nan)
        return a[..., ns].mean(axis=-1)

    base = {
        "resid": ns_mean(rn),  # [L]
        "key_kv": ns_mean(kn),  # [L, KV]
        "val_kv": ns_mean(vn),
        "key": ns_mean(kn.mean(axis=1)),  # [L]
        "val": ns_mean(vn.mean(axis=1)),
        "score_h": ns_mean(scores),  # [L, H]
        "colsum_h": ns_mean(colsum),
        "w_h": ns_mean(w),  # [L, H]
        "w": ns_mean(w.mean(axis=1)),  # [L]
    }

    rec = det.records
    keep = rec["is_primary_position"].to_numpy(dtype=bool) | rec["kind"].isin(list(kinds)).to_numpy()
    rec = rec[keep]
    entities: list[dict] = []
    in_window = np.zeros(L, dtype=bool)
    in_window[det.window[0] : det.window[1]] = True
    for r in rec.itertuples(index=False):
        t = int(r.position)
        alive = in_window if bool(r.is_primary_position) else np.asarray(det.scanned[:, t], dtype=bool)
        entities.append(
            dict(group=_group_of(str(r.kind), bool(r.is_primary_position)), position=t, token=str(r.token),
                 alive=alive, birth=int(r.birth), death=int(r.death), lifetime=int(r.lifetime))
        )

    layer_rows: list[pd.DataFrame] = []
    kv_rows: list[pd.DataFrame] = []
    head_rows: list[pd.DataFrame] = []
    summary_rows: list[dict] = []
    lay = np.arange(L)
    lay_kv = np.repeat(lay, KV)
    kv_idx = np.tile(np.arange(KV), L)
    lay_h = np.repeat(lay, H)
    h_idx = np.tile(np.arange(H), L)

    def add(group: str, position: int, token: str, alive: np.ndarray, n_tok: int, vals: dict) -> None:
        layer_rows.append(pd.DataFrame({
            "prompt": prompt, "group": group, "position": position, "token": token, "layer": lay,
            "alive": alive, "n_tokens": n_tok,
            "resid_norm": vals["resid"], "key_norm": vals["key"], "value_norm": vals["val"],
            "score": vals["score_h"].mean(axis=1), "attn_value": vals["w"],
            "resid_ratio": _ratio(vals["resid"], base["resid"]),
            "key_ratio": _ratio(vals["key"], base["key"]),
            "value_ratio": _ratio(vals["val"], base["val"]),
            "attn_value_ratio": _ratio(vals["w"], base["w"]),
        }))
        kv_rows.append(pd.DataFrame({
            "prompt": prompt, "group": group, "position": position, "token": token, "layer": lay_kv,
            "kv_head": kv_idx, "alive": np.repeat(alive, KV),
            "key_norm": vals["key_kv"].ravel(), "value_norm": vals["val_kv"].ravel(),
            "key_ratio": _ratio(vals["key_kv"], base["key_kv"]).ravel(),
            "value_ratio": _ratio(vals["val_kv"], base["val_kv"]).ravel(),
        }))
        head_rows.append(pd.DataFrame({
            "prompt": prompt, "group": group, "position": position, "token": token, "layer": lay_h,
            "head": h_idx, "kv_head": kvh[h_idx], "alive": np.repeat(alive, H),
            "score": vals["score_h"].ravel(), "colsum": vals["colsum_h"].ravel(),
            "value_norm": vals["val_kv"][:, kvh].ravel(), "attn_value": vals["w_h"].ravel(),
            "attn_value_ratio": _ratio(vals["w_h"], base["w_h"]).ravel(),
        }))

    add(NON_SINK, -1, "", np.zeros(L, dtype=bool), n_ns, base)
    embed = np.asarray(pt.embed_norm, dtype=np.float64) if pt.embed_norm is not None else np.full(T, np.nan)
    for e in entities:
        t = e["position"]
        vals = {
            "resid": rn[:, t], "key_kv": kn[:, :, t], "val_kv": vn[:, :, t],
            "key": kn[:, :, t].mean(axis=1), "val": vn[:, :, t].mean(axis=1),
            "score_h": scores[:, :, t], "colsum_h": colsum[:, :, t], "w_h": w[:, :, t],
            "w": w[:, :, t].mean(axis=1),
        }
        add(e["group"], t, e["token"], e["alive"], 1, vals)
        life = e["alive"]
        b = e["birth"]
        prev = rn[b - 1, t] if b > 0 else embed[t]
        summary_rows.append({
            "prompt": prompt, "group": e["group"], "position": t, "token": e["token"],
            "birth": b, "death": e["death"], "lifetime": e["lifetime"],
            "resid_jump": float(_ratio(rn[b, t], prev)),
            "resid_ratio_life": _nanmean(_ratio(rn[life, t], base["resid"][life])),
            "key_ratio_life": _nanmean(_ratio(vals["key"][life], base["key"][life])),
            "value_ratio_life": _nanmean(_ratio(vals["val"][life], base["val"][life])),
            "value_ratio_before": _nanmean(_ratio(vals["val"][:b], base["val"][:b])) if b > 0 else float("nan"),
            "attn_value_ratio_life": _nanmean(_ratio(vals["w"][life], base["w"][life])),
            "score_life": _nanmean(vals["score_h"].mean(axis=1)[life]),
            "n_non_sink": n_ns,
        })

    return SinkProperties(
        layers=pd.concat(layer_rows, ignore_index=True)[list(LAYER_COLUMNS)],
        kv_heads=pd.concat(kv_rows, ignore_index=True)[list(KV_COLUMNS)],
        heads=pd.concat(head_rows, ignore_index=True)[list(HEAD_COLUMNS)],
        summary=pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS)),
    )


def properties(
    prompts_or_result,
    detections: Sequence[Detection] | None = None,
    *,
    kinds: Sequence[str] = ("secondary",),
) -> SinkProperties:
    """Sink properties over all prompts (docs/method.md §8).

    `properties(res)` for a `ScanResult`, or `properties(prompts, detections)`. Tables of the prompts
    are stacked with their `prompt` index (see `SinkProperties`).

    Returns:
        A `SinkProperties`.

    Raises:
        InputError: no prompts, or numbers of prompts and detections that differ.
    """
    if detections is None:
        res = prompts_or_result
        prompts, detections = res.prompts, res.findings.detections
    else:
        prompts = list(prompts_or_result)
    if len(prompts) != len(detections):
        raise InputError(f"properties: {len(prompts)} prompts but {len(detections)} detections.")
    if not prompts:
        raise InputError("properties: no prompts.")
    parts = [prompt_properties(pt, d, kinds=kinds, prompt=i) for i, (pt, d) in enumerate(zip(prompts, detections))]
    return SinkProperties(
        layers=pd.concat([p.layers for p in parts], ignore_index=True),
        kv_heads=pd.concat([p.kv_heads for p in parts], ignore_index=True),
        heads=pd.concat([p.heads for p in parts], ignore_index=True),
        summary=pd.concat([p.summary for p in parts], ignore_index=True),
    )


__all__ = [
    "HEAD_COLUMNS",
    "KV_COLUMNS",
    "LAYER_COLUMNS",
    "NON_SINK",
    "SUMMARY_COLUMNS",
    "SinkProperties",
    "kv_of_head",
    "non_sink_mask",
    "prompt_properties",
    "properties",
]
