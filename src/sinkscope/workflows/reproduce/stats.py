"""The claim numbers of one model: distinct secondary sinks (a sink repeated in a shared prefix
counted once) and the JSON-able summaries the verdicts (`rules`) and the document (`render`)
read. Pure: no model, no file access."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sinkscope.analysis import outcome_counts
from sinkscope.analysis.pooled import distinct_records, prefix_keys
from sinkscope.capture.inputs import common_prefix
from sinkscope.workflows.reproduce.plans import INTERVENTION_MODE
from sinkscope.workflows.reproduce.rules import RULES
from sinkscope.workflows.reproduce.values import as_float

if TYPE_CHECKING:
    from sinkscope.workflows.interventions import AutoResult
    from sinkscope.workflows.scan import ScanResult


def finite(values: Any) -> np.ndarray:
    """The finite entries of `values`, flattened, as float64.

    Shapes:
        values: any shape, or a sequence of numbers.
        returns: [N] float64, with N = number of finite entries.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def quantiles(values: Any) -> dict[str, float | None]:
    """median, q1, q3 (numpy linear percentiles), min and max of the finite values (all None if none)."""
    v = finite(values)
    if not v.size:
        return {"median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(v.min()), "max": float(v.max())}


def _ci(pair: Any) -> list[float | None]:
    return [as_float(pair[0]), as_float(pair[1])] if pair is not None else [None, None]


# ---- distinct sinks ------------------------------------------------------------------------------
@dataclass
class Distinct:
    """A scan whose repeated secondary sinks are counted once (see `distinct_sinks`)."""

    res: ScanResult  # de-duplicated secondary records, norm law and levels recomputed
    keys: list[list[int]]  # prefix_keys of every prompt
    n_records: int  # secondary records before de-duplication
    n_tokens_distinct: int  # distinct prefixes over all prompts
    shared_prefix: int  # length of the token prefix common to all prompts (0 for one prompt)


def distinct_sinks(res: ScanResult) -> Distinct:
    """Count each secondary sink once. A chat template puts the same system prompt before every
    text, and a causal model computes identical residual states over an identical prefix, so a
    sink there (birth, lifetime, ||m||) repeats in every prompt: counting it once per prompt would
    inflate the count, the norm-law n (and narrow its intervals) and the level shares. Records of
    secondary sinks whose prefix (token ids up to and including the sink) already appeared are
    dropped, keeping the first occurrence in prompt order (`analysis.pooled.distinct_records`); the
    norm law, levels and medians are pooled again on what is left with the scan's own config and
    attention layers (`Findings.repooled`, `analysis.pooled.pool`). The weakening (per-layer means
    over prompts) is unchanged."""
    keys = [prefix_keys(p.token_ids) for p in res.prompts]
    sec = res.sinks[res.sinks["kind"] == "secondary"]
    nf = res.findings.repooled(distinct_records(res.sinks, keys))
    distinct = len({x for ks in keys for x in ks})
    shared = common_prefix([p.token_ids for p in res.prompts])
    return Distinct(replace(res, findings=nf), keys, len(sec), distinct, shared)


# ---- summaries (JSON-able) -----------------------------------------------------------------------
def summarize_existence(d: Distinct, n_centred: int | None = None) -> dict[str, Any]:
    """Claim 1 numbers of a de-duplicated scan (`distinct_sinks`), pooled over prompts. Relative
    depth = birth / (L - 1); early < middle_lo <= middle <= middle_hi < late (`RULES`)."""
    res = d.res
    f = res.findings
    sinks = res.sinks
    sec = f.secondary
    n_layers = f.n_layers
    n_tokens = int(sum(p.n_tokens for p in res.prompts))
    n_prompt_tok = [int(m.get("n_prompt_tokens", 0)) for m in res.manifest.get("prompts", [])]
    depth = sec["birth"].to_numpy(dtype=np.float64) / max(n_layers - 1, 1)
    lo, hi = RULES["middle_lo"], RULES["middle_hi"]
    n = len(sec)
    prim = sinks[sinks["is_primary_position"]]
    pos = sec["position"].to_numpy(dtype=int)
    in_gen = 0
    if n and len(n_prompt_tok) == f.n_prompts:
        starts = np.asarray(n_prompt_tok)[sec["prompt"].to_numpy(dtype=int)]
        in_gen = int((pos >= starts).sum())
    ms_sec = as_float(np.nanmean(sec["mean_score"].to_numpy(dtype=np.float64))) if n else None
    ms_prim = as_float(np.nanmean(prim["mean_score"].to_numpy(dtype=np.float64))) if len(prim) else None
    top = Counter(sec["token"].astype(str).tolist()).most_common(5) if n else []
    births = sec["birth"].to_numpy(dtype=int)
    return {
        "n_layers": n_layers,
        "n_prompts": f.n_prompts,
        "n_tokens": n_tokens,
        "n_tokens_distinct": d.n_tokens_distinct,
        "n_secondary": n,
        "n_secondary_records": d.n_records,
        "per_1k_tokens": as_float(1000.0 * n / d.n_tokens_distinct) if d.n_tokens_distinct else None,
        "n_prompts_with_secondary": int(sec["prompt"].nunique()) if n else 0,
        "share_in_generated": as_float(in_gen / n) if n else None,
        "shared_prefix_tokens": d.shared_prefix,
        "share_in_shared_prefix": as_float((pos < d.shared_prefix).mean()) if n else None,
        "position": quantiles(pos),
        "n_primary_like": int(((sinks["kind"] == "primary") & ~sinks["is_primary_position"]).sum()),
        "birth_layers": [int(births.min()), int(births.max())] if n else None,
        "rel_birth": quantiles(depth),
        "share_early": as_float((depth < lo).mean()) if n else None,
        "share_middle": as_float(((depth >= lo) & (depth <= hi)).mean()) if n else None,
        "share_late": as_float((depth > hi).mean()) if n else None,
        "lifetime": quantiles(sec["lifetime"].to_numpy(dtype=np.float64)),
        "mean_score_secondary": ms_sec,
        "mean_score_primary": ms_prim,
        "score_ratio": as_float(ms_sec / ms_prim) if ms_sec is not None and ms_prim else None,
        "top_tokens": [[str(t), int(c)] for t, c in top],
        "n_secondary_centred": n_centred,
    }


def _median(sec: Any, col: str) -> float | None:
    return as_float(np.nanmedian(sec[col].to_numpy(dtype=np.float64))) if len(sec) else None


def summarize_formation(res: ScanResult, auto_result: AutoResult | None = None) -> dict[str, Any]:
    """Claim 2 numbers: observational (docs/method.md §4 formation columns at birth) and causal
    (the project-out runs of `causal.causal_check`)."""
    sec = res.findings.secondary
    n = len(sec)
    cos_f = finite(sec["mlp_cos_oriented"]) if n else np.array([])
    medians = res.findings.medians  # the pooled medians (`analysis.pooled.pool`) of these records
    return {
        "n": n,
        "median_cos": as_float(medians["median_mlp_cos_oriented"]),
        "median_cos_primary_mlp": _median(sec, "mlp_cos_primary_mlp"),
        "share_abs_cos_09": as_float((np.abs(cos_f) > 0.9).mean()) if cos_f.size else None,
        "median_mlp_share": as_float(medians["median_mlp_share"]),
        "median_mlp_norm": _median(sec, "mlp_norm"),
        "causal": summarize_causal(auto_result) if auto_result is not None else None,
    }


def summarize_causal(auto_result: AutoResult, mode: str = INTERVENTION_MODE) -> dict[str, Any]:
    """The causal check's numbers for one mode of an `AutoResult` (Δ = intervened - clean).
    `outcomes`: count of each outcome of docs/method.md §4 "Outcomes" (and of promotions);
    n_removed / share_removed: outcome 'removed' (no longer a sink from the birth block on; never
    a promotion or a higher score)."""
    t = auto_result.table
    t = t[t["mode"] == mode] if len(t) else t
    n = len(t)

    def mean(col_a: str, col_b: str | None = None) -> float | None:
        if not n:
            return None
        a = t[col_a].to_numpy(dtype=np.float64)
        v = finite(a - t[col_b].to_numpy(dtype=np.float64) if col_b else a)
        return as_float(v.mean()) if v.size else None

    mx = finite(t["delta_nll_max"]) if n else np.array([])
    return {
        "mode": mode,
        "n_prompts": int(t["prompt"].nunique()) if n else 0,
        "n_sinks": n,
        "outcomes": outcome_counts(t["outcome"].to_numpy(), t["promoted"].to_numpy()),
        "n_removed": int((t["outcome"] == "removed").sum()) if n else 0,
        "share_removed": as_float((t["outcome"] == "removed").mean()) if n else None,
        "mean_delta_score": mean("score_after", "score_before"),
        "mean_score_before": mean("score_before"),
        "mean_delta_lifetime": mean("delta_lifetime"),
        "mean_delta_primary_score": mean("delta_primary_score"),
        "mean_delta_nll": mean("delta_nll_mean"),
        "max_delta_nll": as_float(mx.max()) if mx.size else None,
    }


def summarize_norm_law(res: ScanResult) -> dict[str, Any]:
    """Claim 3 numbers (docs/method.md §5): correlations of ||m|| with score and lifetime, bootstrap CIs."""
    nl = res.findings.norm_law
    sec = res.findings.secondary
    ok = np.isfinite(sec[["mlp_norm", "mean_score", "lifetime"]].to_numpy(dtype=np.float64)).all(axis=1)
    return {
        "n": nl.n,
        "n_distinct_lifetimes": int(sec.loc[ok, "lifetime"].nunique()),
        "spearman_score": as_float(nl.score.spearman),
        "spearman_score_ci": _ci(nl.score.spearman_ci),
        "pearson_score": as_float(nl.score.pearson),
        "pearson_score_ci": _ci(nl.score.pearson_ci),
        "spearman_lifetime": as_float(nl.lifetime.spearman),
        "spearman_lifetime_ci": _ci(nl.lifetime.spearman_ci),
        "pearson_lifetime": as_float(nl.lifetime.pearson),
        "pearson_lifetime_ci": _ci(nl.lifetime.pearson_ci),
        "reason_score": nl.score.reason or nl.reason,
        "reason_lifetime": nl.lifetime.reason or nl.reason,
        "n_boot": nl.n_boot,
    }


def summarize_weakening(res: ScanResult) -> dict[str, Any]:
    """Claim 4 numbers (docs/method.md §6): pooled plateau, dip and its ratio, weakened layers."""
    f = res.findings
    wk = f.weakening
    n_layers = f.n_layers
    per = [w.weakened for w in f.weakening_per_prompt]
    pooled = f.layers_pooled
    win = pooled.loc[pooled["in_window"].to_numpy(dtype=np.float64) >= 0.5, "layer"].to_numpy(dtype=int)
    return {
        "n_layers": n_layers,
        "window": [int(win.min()), int(win.max())] if win.size else None,
        "plateau": as_float(wk.plateau),
        "plateau_layer": wk.plateau_layer,
        "dip_layer": wk.dip_layer,
        "dip_rel_depth": as_float(wk.dip_layer / max(n_layers - 1, 1)) if wk.dip_layer is not None else None,
        "dip_score": as_float(wk.dip_score),
        "dip_ratio": as_float(wk.dip_ratio),
        "weakened_layers": [int(x) for x in wk.weakened_layers],
        "n_births": as_float(wk.n_births),
        "coincides_with_births": as_float(wk.coincides_with_births),
        "share_prompts_weakened": as_float(float(np.mean(per))) if per else None,
        "reason": wk.reason,
    }


def summarize_levels(res: ScanResult) -> dict[str, Any]:
    """Claim 5 numbers (docs/method.md §7): the levels' birth and lifetime ranges, counts and shares."""
    lv = res.findings.levels
    return {
        "n_layers": lv.n_layers,
        "n_sinks": lv.n_sinks,
        "n_levels": lv.n_levels,
        "n_clusters": lv.n_clusters,
        "levels": [
            {
                "birth": list(x.birth_range),
                "lifetime": list(x.lifetime_range),
                "count": x.count,
                "share": as_float(x.share),
                "top_tokens": [[str(t), int(c)] for t, c in x.top_tokens[:3]],
            }
            for x in lv.levels
        ],
    }


def summarize_model(d: Distinct, auto_result: AutoResult | None = None, *, n_centred: int | None = None) -> dict[str, Any]:
    """All claim numbers of one model (JSON-able; the input of the verdicts and the document).
    `d` is the de-duplicated scan (`distinct_sinks`)."""
    return {
        "existence": summarize_existence(d, n_centred),
        "formation": summarize_formation(d.res, auto_result),
        "norm_law": summarize_norm_law(d.res),
        "weakening": summarize_weakening(d.res),
        "levels": summarize_levels(d.res),
    }
