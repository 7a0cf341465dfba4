"""`sinkscope reproduce`: check the paper's five claims on every real decoder we can install.

Reproduces "On the Existence and Behaviour of Secondary Attention Sinks" (Wong et al., arXiv
2512.22213; METHOD.md "The claims to reproduce") on the catalog decoders (SmolLM2-135M,
Gemma3-270M, Qwen2.5-Coder-0.5B, Qwen2.5-Coder-1.5B):

    run = reproduce(out="docs", work="reproduce-runs")          # the full run (~20-50 min, 2 cores)
    run = reproduce(out=tmp, work=tmp / "w", quick=True)        # CI: SmolLM2 only, ~1-2 min

For each model: a fixed, deterministic subset of the bundled prompts (`select_prompts`), chat
template where the tokenizer has one, a greedy continuation of G tokens, one `scan` (with NLL).
Secondary sinks repeated in a prefix that several prompts share (the chat template's system
prompt) are counted once (`distinct_sinks`). Then the causal check (`causal_check`: project-out
at the birth block of distinct secondary sinks of the first few prompts, capped; the edit
`interventions.auto` makes, collected into an `AutoResult`). When the centred cosine keeps
fewer than half of the distinct sinks (Gemma3's shared direction, METHOD.md pitfalls), a second
entry re-analyses the same capture with it. Each model's scan folder (and its interventions
folder) is saved under `work/` so `sinkscope report` works on it.

The document is a PURE function of the results: `summarize_model` turns a de-duplicated scan (+
the causal check) into a JSON-able dict of numbers, `verdict_*` turn those numbers into a verdict by the
explicit rules in `RULES` (also printed into the document), and `render_markdown(run)` writes
REPRODUCTION.md from the run dict alone (`run` is also saved as reproduction/results.json, so
`render_markdown(json.load(...))` rebuilds the document without a model).
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sinkscope.core.errors import InputError

# ---- what is run -------------------------------------------------------------------------------
CATALOG_DECODERS = ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")

# Paper-side facts used for comparison in the document (METHOD.md; arXiv 2512.22213).
PAPER = {
    1: "Besides the primary sink (first token: early, persistent, large attention mass) there are "
    "secondary sinks: other tokens that become sinks mainly in middle layers, persist for a "
    "variable number of layers and draw a smaller but significant attention mass.",
    2: "Secondary sinks are formed by specific middle-layer MLPs: the MLP output at the token "
    "points along the direction of that layer's primary sink.",
    3: "The l2 norm of that MLP output sets the secondary sink's score and how many layers it lasts.",
    4: "The primary sink weakens in the middle layers, when the secondary sinks appear.",
    5: "In larger models the (birth layer, lifetime) pairs fall into a few discrete sink levels "
    "(3 levels in QwQ-32B, 6 in Qwen3-14B).",
}
CLAIM_TITLES = {
    1: "Existence: secondary sinks besides the primary",
    2: "Formation: a middle-layer MLP writes the primary-sink direction",
    3: "Norm law: the MLP output norm sets score and lifetime",
    4: "Weakening: the primary sink weakens where secondaries are born",
    5: "Sink levels: discrete (birth, lifetime) clusters",
}
CLAIM_SHORT = {1: "1 existence", 2: "2 formation", 3: "3 norm law", 4: "4 weakening", 5: "5 levels"}

VERDICTS = ("reproduced", "partly", "not reproduced", "not testable here")


@dataclass(frozen=True)
class Plan:
    """Per-model workload: prompts from `select_prompts`, tokens generated per prompt, and the cap
    on the causal check (the first `intervene_prompts` prompts with a secondary sink, at most
    `max_sinks` of each, the strongest by mean score)."""

    prompts: int
    generate: int
    intervene_prompts: int = 3
    max_sinks: int = 3


# Chosen by measurement on the project's 2-core machine (shared with other work, 1 torch thread).
# Greedy generation costs ~0.05-0.1 s/token (SmolLM2, Gemma3), ~0.1-0.4 s/token (Qwen-0.5B) and
# ~0.5-1.2 s/token (Qwen-1.5B), light vs heavy load; a capture of ~450 tokens ~2-3, 3, 4-7 and
# 8-16 s. A first full run (32/32/16/8 prompts x 128/128/64/48 tokens) took 3.6 + 6.5 + 3.3 +
# 5.5 = 19 min under light load, and showed that every Qwen secondary sink sits in the chat
# template's system prompt (shared by all prompts), so the Qwen plans trade prompts for longer
# continuations (the paper's sinks come from long generated reasoning): ~25 min light load,
# ~50 min heavy.
FULL_PLANS: dict[str, Plan] = {
    "smollm2-135m": Plan(prompts=32, generate=128),
    "gemma3-270m": Plan(prompts=32, generate=128),
    "qwen2.5-coder-0.5b": Plan(prompts=12, generate=192),
    "qwen2.5-coder-1.5b": Plan(prompts=6, generate=128),
}
DEFAULT_PLAN = Plan(prompts=8, generate=48)  # a model outside the catalog
QUICK_MODELS = ("smollm2-135m",)
QUICK_PLAN = Plan(prompts=6, generate=48, intervene_prompts=2, max_sinks=2)
INTERVENTION_MODE = "project-out"

# Deterministic prompt order: categories interleaved with math first and twice as often (the
# paper analysed reasoning traces); within a category, file order of prompts.jsonl.
CATEGORY_PATTERN = ("math", "code", "math", "prose", "math", "chat")

# ---- verdict rules (every number the verdicts use; rendered into the document) -----------------
RULES: dict[str, float] = {
    "existence_min_n": 5,  # at least this many secondary sinks ...
    "existence_min_share_middle": 0.5,  # ... at least this share born at relative depth 0.25-0.75
    "middle_lo": 0.25,
    "middle_hi": 0.75,
    "formation_min_cos": 0.9,  # median oriented cos(m_t^b, h_p^b)
    "formation_min_share_aligned": 0.5,  # share of sinks with |cos| > 0.9
    "formation_min_mlp_share": 0.5,  # median MLP share of the jump along the primary direction
    "causal_min_removed": 0.5,  # project-out removes at least this share of the sinks
    "normlaw_min_n": 10,  # fewer distinct secondary sinks: intervals too wide to judge
    "normlaw_min_lifetimes": 3,  # the lifetime test needs this many distinct lifetimes
    "weak_ratio": 0.5,  # dip / plateau below this = weakened
    "weak_mild_ratio": 0.8,  # below this (but >= weak_ratio) = a mild dip
    "weak_min_coincide": 0.5,  # share of births within +/-1 layer of a weakened layer
    "levels_min_n": 10,
    "levels_max_span": 0.25,  # a level is discrete when its birth and lifetime spans are <= 25% of L
    "levels_cover": 0.8,  # discrete levels must hold this share of the sinks (reproduced) ...
    "levels_cover_partly": 0.5,  # ... or this share (partly)
    # not a verdict rule: add a centred-cosine re-analysis row when that detector keeps fewer than
    # this share of the distinct secondary sinks (METHOD.md pitfalls: a shared dominant direction)
    "centred_variant_below": 0.5,
}


def rules_markdown(r: dict[str, float] = RULES) -> str:
    """The verdict rules as a Markdown list (the same constants the code uses)."""
    mid = f"{r['middle_lo']:g}-{r['middle_hi']:g}"
    return "\n".join(
        [
            "Relative depth of layer l is l / (L - 1) (0 = first block, 1 = last). A claim is "
            "*not testable here* when the model was not run or the quantity it needs does not exist "
            "(too few secondary sinks, no middle layer after the plateau).",
            "",
            f"1. **Existence.** *not reproduced*: no secondary sink. *reproduced*: >= {r['existence_min_n']:g} "
            f"secondary sinks, >= {r['existence_min_share_middle']:.0%} of them born at relative depth {mid}, "
            "and their mean score below the primary's (smaller but, by the detector's rule, >= k x the "
            "baseline). *partly*: secondary sinks exist but one of these fails.",
            f"2. **Formation.** *not testable*: no secondary sink. Observational test O: median oriented "
            f"cos(m_t^b, h_p^b) >= {r['formation_min_cos']:g}, >= {r['formation_min_share_aligned']:.0%} of the "
            f"sinks with |cos| > 0.9, and median MLP share of the jump >= {r['formation_min_mlp_share']:g}. "
            f"Causal test C: project-out at the birth block removes >= {r['causal_min_removed']:.0%} of the "
            "intervened sinks. *reproduced*: O and C; *partly*: exactly one of them (or O with no "
            "causal check run); *not reproduced*: neither. Where the MLPs sit (middle or early) is "
            "judged under claim 1.",
            f"3. **Norm law.** *not testable*: fewer than {r['normlaw_min_n']:g} distinct secondary sinks or "
            "an undefined correlation with the score. S: the bootstrap 95% interval of Spearman(||m||, score) "
            "lies above 0; T: the same for Spearman(||m||, lifetime), with at least "
            f"{r['normlaw_min_lifetimes']:g} distinct lifetimes (with fewer, one odd sink decides the rank "
            "correlation). *reproduced*: S and T; *partly*: one of them; *not reproduced*: neither.",
            f"4. **Weakening.** *not testable*: no dip defined. W: dip / plateau < {r['weak_ratio']:g} in the "
            f"middle layers; B: >= {r['weak_min_coincide']:.0%} of the secondary births lie within +/-1 layer "
            "of a weakened layer. *reproduced*: W and B; *partly*: W without B, or a mild dip "
            f"({r['weak_ratio']:g} <= ratio < {r['weak_mild_ratio']:g}); *not reproduced*: ratio >= "
            f"{r['weak_mild_ratio']:g}.",
            f"5. **Levels.** *not testable*: fewer than {r['levels_min_n']:g} secondary sinks. A level "
            "(METHOD.md §7: a connected cluster of (birth, lifetime) cells holding >= 5% of the sinks) is "
            f"*discrete* when its birth and lifetime ranges each span <= {r['levels_max_span']:.0%} of the "
            f"layers. *reproduced*: >= 2 discrete levels holding >= {r['levels_cover']:.0%} of the sinks "
            f"together; *partly*: discrete levels holding >= {r['levels_cover_partly']:.0%} (e.g. one "
            "level: discrete but not multi-level; the paper sees several levels only in its larger "
            "models); *not reproduced*: otherwise.",
        ]
    )


# ---- prompts -----------------------------------------------------------------------------------
def bundled_prompts() -> list[dict[str, Any]]:
    from sinkscope.capture.inputs import bundled_path

    path = bundled_path("prompts.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def select_prompts(n: int, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The first n prompts of the fixed reproduction order: walk `CATEGORY_PATTERN` cyclically
    (math, code, math, prose, math, chat, ...), taking the next unused prompt of that category in
    file order; exhausted categories are skipped. Deterministic, and the subset for n is a prefix
    of the subset for any larger n (so bigger models see a subset of the smaller models' texts)."""
    rows = bundled_prompts() if rows is None else rows
    if n < 1:
        raise InputError(f"--prompts must be >= 1 (got {n}).")
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cat.setdefault(str(r.get("category", "other")), []).append(r)
    pattern = [c for c in CATEGORY_PATTERN if c in by_cat]
    pattern += [c for c in sorted(by_cat) if c not in pattern]  # categories outside the pattern last
    idx = {c: 0 for c in by_cat}
    out: list[dict[str, Any]] = []
    n = min(n, len(rows))
    while len(out) < n:
        progressed = False
        for c in pattern:
            if len(out) >= n:
                break
            if idx[c] < len(by_cat[c]):
                out.append(by_cat[c][idx[c]])
                idx[c] += 1
                progressed = True
        if not progressed:
            break
    return out


def choose_threads(requested: int | None = None) -> int:
    """torch intra-op threads. On a shared 2-core machine two spinning OpenMP threads slow a forward
    down up to ~10-16x when other processes hold the cores (measured), so `None` (auto) takes all
    cores only when the 1-minute load average is below 0.5, else 1."""
    if requested is not None:
        if requested < 1:
            raise InputError(f"--threads must be >= 1 (got {requested}).")
        return int(requested)
    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux / macOS
        load = 0.0
    return n if load < 0.5 else 1


# ---- numbers -----------------------------------------------------------------------------------
def _f(x: Any) -> float | None:
    """JSON-safe float (NaN / inf / None -> None)."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _finite(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def _quantiles(values: Any) -> dict[str, float | None]:
    v = _finite(values)
    if not v.size:
        return {"median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(v.min()), "max": float(v.max())}


def _ci(pair: Any) -> list[float | None]:
    return [_f(pair[0]), _f(pair[1])] if pair is not None else [None, None]


# ---- distinct sinks ------------------------------------------------------------------------------
def prefix_keys(token_ids: Sequence[int]) -> list[int]:
    """key[t] identifies the prefix token_ids[:t + 1] (a hash chain). Two positions with the same
    key have the same prefix, so a causal model computes the same states there."""
    keys, h = [], 0
    for tok in token_ids:
        h = hash((h, int(tok)))
        keys.append(h)
    return keys


def _common_prefix(ids: list[Sequence[int]]) -> int:
    if len(ids) < 2:
        return 0
    first = ids[0]
    n = min(len(x) for x in ids)
    for t in range(n):
        if any(int(x[t]) != int(first[t]) for x in ids[1:]):
            return t
    return n


@dataclass
class Distinct:
    """A scan whose repeated secondary sinks are counted once (see `distinct_sinks`)."""

    res: Any  # ScanResult with de-duplicated secondary records, norm law and levels
    keys: list[list[int]]  # prefix_keys of every prompt
    n_records: int  # secondary records before de-duplication
    n_tokens_distinct: int  # distinct prefixes over all prompts
    shared_prefix: int  # length of the token prefix common to all prompts (0 for one prompt)


def distinct_sinks(res) -> Distinct:
    """Count each secondary sink once. A chat template puts the same system prompt before every
    text, and a causal model computes identical residual states over an identical prefix, so a
    sink there (birth, lifetime, ||m||) repeats in every prompt: counting it once per prompt would
    inflate the count, the norm-law n (and narrow its intervals) and the level shares. Records of
    secondary sinks whose prefix (token ids up to and including the sink) already appeared are
    dropped, keeping the first occurrence in prompt order; the norm law and levels are recomputed
    on what is left (`analysis.norm_law`, `analysis.levels`, same defaults). The weakening (per-layer
    means over prompts) is unchanged."""
    from dataclasses import replace

    from sinkscope.analysis import levels as levels_fn
    from sinkscope.analysis import norm_law as norm_law_fn
    from sinkscope.workflows.scan import ScanResult

    keys = [prefix_keys(p.token_ids) for p in res.prompts]
    sinks = res.sinks
    sec = sinks[sinks["kind"] == "secondary"]
    k = [keys[int(i)][int(t)] for i, t in zip(sec["prompt"], sec["position"])]
    dup = sec.index[np.asarray(_seen_before(k), dtype=bool)]
    kept = sinks.drop(index=dup).reset_index(drop=True)
    f = res.findings
    nf = replace(f, sinks=kept, norm_law=norm_law_fn(kept), levels=levels_fn(kept, f.n_layers))
    distinct = len({x for ks in keys for x in ks})
    shared = _common_prefix([p.token_ids for p in res.prompts])
    return Distinct(ScanResult(res.trace, nf, res.config, res.manifest), keys, len(sec), distinct, shared)


def _seen_before(values: Sequence[Any]) -> list[bool]:
    seen: set = set()
    out = []
    for v in values:
        out.append(v in seen)
        seen.add(v)
    return out


def summarize_existence(d: Distinct, n_centred: int | None = None) -> dict[str, Any]:
    """Claim 1 numbers of a de-duplicated scan (`distinct_sinks`), pooled over prompts."""
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
    ms_sec = _f(np.nanmean(sec["mean_score"].to_numpy(dtype=np.float64))) if n else None
    ms_prim = _f(np.nanmean(prim["mean_score"].to_numpy(dtype=np.float64))) if len(prim) else None
    top = Counter(sec["token"].astype(str).tolist()).most_common(5) if n else []
    births = sec["birth"].to_numpy(dtype=int)
    return {
        "n_layers": n_layers,
        "n_prompts": f.n_prompts,
        "n_tokens": n_tokens,
        "n_tokens_distinct": d.n_tokens_distinct,
        "n_secondary": n,
        "n_secondary_records": d.n_records,
        "per_1k_tokens": _f(1000.0 * n / d.n_tokens_distinct) if d.n_tokens_distinct else None,
        "n_prompts_with_secondary": int(sec["prompt"].nunique()) if n else 0,
        "share_in_generated": _f(in_gen / n) if n else None,
        "shared_prefix_tokens": d.shared_prefix,
        "share_in_shared_prefix": _f((pos < d.shared_prefix).mean()) if n else None,
        "position": _quantiles(pos),
        "n_primary_like": int(((sinks["kind"] == "primary") & ~sinks["is_primary_position"]).sum()),
        "birth_layers": [int(births.min()), int(births.max())] if n else None,
        "rel_birth": _quantiles(depth),
        "share_early": _f((depth < lo).mean()) if n else None,
        "share_middle": _f(((depth >= lo) & (depth <= hi)).mean()) if n else None,
        "share_late": _f((depth > hi).mean()) if n else None,
        "lifetime": _quantiles(sec["lifetime"].to_numpy(dtype=np.float64)),
        "mean_score_secondary": ms_sec,
        "mean_score_primary": ms_prim,
        "score_ratio": _f(ms_sec / ms_prim) if ms_sec is not None and ms_prim else None,
        "top_tokens": [[str(t), int(c)] for t, c in top],
        "n_secondary_centred": n_centred,
    }


def summarize_formation(res, auto_result=None) -> dict[str, Any]:
    """Claim 2 numbers: observational (formation columns at birth) and causal (auto, project-out)."""
    sec = res.findings.secondary
    n = len(sec)
    cos = sec["mlp_cos_oriented"].to_numpy(dtype=np.float64) if n else np.array([])
    cos_f = cos[np.isfinite(cos)]
    out: dict[str, Any] = {
        "n": n,
        "median_cos": _f(np.median(cos_f)) if cos_f.size else None,
        "median_cos_primary_mlp": _f(np.nanmedian(sec["mlp_cos_primary_mlp"].to_numpy(dtype=np.float64))) if n else None,
        "share_abs_cos_09": _f((np.abs(cos_f) > 0.9).mean()) if cos_f.size else None,
        "median_mlp_share": _f(np.nanmedian(sec["mlp_share"].to_numpy(dtype=np.float64))) if n else None,
        "median_mlp_norm": _f(np.nanmedian(sec["mlp_norm"].to_numpy(dtype=np.float64))) if n else None,
        "causal": summarize_causal(auto_result) if auto_result is not None else None,
    }
    return out


def summarize_causal(auto_result, mode: str = INTERVENTION_MODE) -> dict[str, Any]:
    """The causal check's numbers for one mode of an `AutoResult`."""
    t = auto_result.table
    t = t[t["mode"] == mode] if len(t) else t
    n = len(t)

    def mean(col_a: str, col_b: str | None = None) -> float | None:
        if not n:
            return None
        a = t[col_a].to_numpy(dtype=np.float64)
        v = a - t[col_b].to_numpy(dtype=np.float64) if col_b else a
        v = v[np.isfinite(v)]
        return _f(v.mean()) if v.size else None

    mx = t["delta_nll_max"].to_numpy(dtype=np.float64) if n else np.array([])
    mx = mx[np.isfinite(mx)]
    return {
        "mode": mode,
        "n_prompts": int(t["prompt"].nunique()) if n else 0,
        "n_sinks": n,
        "n_removed": int(t["removed"].sum()) if n else 0,
        "share_removed": _f(t["removed"].mean()) if n else None,
        "mean_delta_score": mean("score_after", "score_before"),
        "mean_score_before": mean("score_before"),
        "mean_delta_lifetime": mean("delta_lifetime"),
        "mean_delta_primary_score": mean("delta_primary_score"),
        "mean_delta_nll": mean("delta_nll_mean"),
        "max_delta_nll": _f(mx.max()) if mx.size else None,
    }


def summarize_norm_law(res) -> dict[str, Any]:
    nl = res.findings.norm_law
    sec = res.findings.secondary
    ok = np.isfinite(sec[["mlp_norm", "mean_score", "lifetime"]].to_numpy(dtype=np.float64)).all(axis=1)
    return {
        "n": nl.n,
        "n_distinct_lifetimes": int(sec.loc[ok, "lifetime"].nunique()),
        "spearman_score": _f(nl.score.spearman),
        "spearman_score_ci": _ci(nl.score.spearman_ci),
        "pearson_score": _f(nl.score.pearson),
        "pearson_score_ci": _ci(nl.score.pearson_ci),
        "spearman_lifetime": _f(nl.lifetime.spearman),
        "spearman_lifetime_ci": _ci(nl.lifetime.spearman_ci),
        "pearson_lifetime": _f(nl.lifetime.pearson),
        "pearson_lifetime_ci": _ci(nl.lifetime.pearson_ci),
        "reason_score": nl.score.reason or nl.reason,
        "reason_lifetime": nl.lifetime.reason or nl.reason,
        "n_boot": nl.n_boot,
    }


def summarize_weakening(res) -> dict[str, Any]:
    f = res.findings
    wk = f.weakening
    n_layers = f.n_layers
    per = [w.weakened for w in f.weakening_per_prompt]
    pooled = f.layers_pooled
    win = pooled.loc[pooled["in_window"].to_numpy(dtype=np.float64) >= 0.5, "layer"].to_numpy(dtype=int)
    return {
        "n_layers": n_layers,
        "window": [int(win.min()), int(win.max())] if win.size else None,
        "plateau": _f(wk.plateau),
        "plateau_layer": wk.plateau_layer,
        "dip_layer": wk.dip_layer,
        "dip_rel_depth": _f(wk.dip_layer / max(n_layers - 1, 1)) if wk.dip_layer is not None else None,
        "dip_score": _f(wk.dip_score),
        "dip_ratio": _f(wk.dip_ratio),
        "weakened_layers": [int(x) for x in wk.weakened_layers],
        "n_births": _f(wk.n_births),
        "coincides_with_births": _f(wk.coincides_with_births),
        "share_prompts_weakened": _f(float(np.mean(per))) if per else None,
        "reason": wk.reason,
    }


def summarize_levels(res) -> dict[str, Any]:
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
                "share": _f(x.share),
                "top_tokens": [[str(t), int(c)] for t, c in x.top_tokens[:3]],
            }
            for x in lv.levels
        ],
    }


def summarize_model(d: Distinct, auto_result=None, *, n_centred: int | None = None) -> dict[str, Any]:
    """All claim numbers of one model (JSON-able; the input of the verdicts and the document).
    `d` is the de-duplicated scan (`distinct_sinks`)."""
    return {
        "existence": summarize_existence(d, n_centred),
        "formation": summarize_formation(d.res, auto_result),
        "norm_law": summarize_norm_law(d.res),
        "weakening": summarize_weakening(d.res),
        "levels": summarize_levels(d.res),
    }


# ---- verdicts (pure) ---------------------------------------------------------------------------
def _v(verdict: str, reason: str) -> dict[str, str]:
    assert verdict in VERDICTS, verdict
    return {"verdict": verdict, "reason": reason}


def _num(x: Any, d: int = 2) -> str:
    v = _f(x)
    if v is None:
        return "–"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 10 ** (-d)):
        return f"{v:.{max(d - 1, 1)}e}"
    return f"{v:.{d}f}"


def _pct(x: Any) -> str:
    v = _f(x)
    return "–" if v is None else f"{v:.0%}"


def verdict_existence(e: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    if not e or not e.get("n_tokens"):
        return _v("not testable here", "model not run")
    n = int(e.get("n_secondary") or 0)
    if n == 0:
        return _v("not reproduced", f"no secondary sink in {e['n_tokens']} tokens")
    sm = _f(e.get("share_middle")) or 0.0
    ratio = _f(e.get("score_ratio"))
    rb = (e.get("rel_birth") or {}).get("median")
    fails = []
    if n < r["existence_min_n"]:
        fails.append(f"only {n} sinks (< {r['existence_min_n']:g})")
    if sm < r["existence_min_share_middle"]:
        fails.append(f"{sm:.0%} born in middle layers (median relative depth {_num(rb)})")
    if ratio is None or not 0 < ratio < 1:
        fails.append(f"score ratio to the primary {_num(ratio)} (not below 1)")
    base = f"{n} distinct sinks ({_num(e.get('per_1k_tokens'), 1)}/1k tokens)"
    if not fails:
        return _v("reproduced", f"{base}, {sm:.0%} born in middle layers, score {_num(ratio)} x the primary's")
    return _v("partly", f"{base}, but " + "; ".join(fails))


def verdict_formation(fm: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    if not fm or not fm.get("n"):
        return _v("not testable here", "no secondary sink to explain")
    cos, share, mlp = _f(fm.get("median_cos")), _f(fm.get("share_abs_cos_09")), _f(fm.get("median_mlp_share"))
    obs = (
        cos is not None and cos >= r["formation_min_cos"]
        and share is not None and share >= r["formation_min_share_aligned"]
        and mlp is not None and mlp >= r["formation_min_mlp_share"]
    )
    obs_txt = f"median cos {_num(cos)}, {_pct(share)} with |cos|>0.9, MLP share {_num(mlp)}"
    c = fm.get("causal") or {}
    tested = bool(c.get("n_sinks"))
    removed = _f(c.get("share_removed"))
    causal = tested and removed is not None and removed >= r["causal_min_removed"]
    c_txt = (
        f"project-out removes {c.get('n_removed', 0)}/{c.get('n_sinks', 0)} ({_pct(removed)})"
        if tested else "no causal check run"
    )
    txt = f"{obs_txt}; {c_txt}"
    if obs and causal:
        return _v("reproduced", txt)
    if obs or causal:
        return _v("partly", txt)
    return _v("not reproduced", txt)


def verdict_norm_law(nl: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    if not nl or (nl.get("n") or 0) < r["normlaw_min_n"]:
        n = (nl or {}).get("n") or 0
        return _v("not testable here", f"{n} distinct secondary sinks (< {r['normlaw_min_n']:g})")
    if _f(nl.get("spearman_score")) is None:
        return _v("not testable here", f"correlation with the score undefined ({nl.get('reason_score')})")

    def above(key: str) -> bool:
        lo = (nl.get(key) or [None, None])[0]
        return _f(lo) is not None and _f(lo) > 0

    n_life = nl.get("n_distinct_lifetimes")
    few = n_life is not None and n_life < r["normlaw_min_lifetimes"]
    s, t = above("spearman_score_ci"), above("spearman_lifetime_ci") and not few
    s_ci, t_ci = nl.get("spearman_score_ci") or [None, None], nl.get("spearman_lifetime_ci") or [None, None]
    s_txt = f"rho(norm, score) {_num(nl.get('spearman_score'))} [{_num(s_ci[0])}, {_num(s_ci[1])}]"
    if _f(nl.get("spearman_lifetime")) is None:
        t_txt = f"rho(norm, lifetime) undefined ({nl.get('reason_lifetime')})"
    elif few:
        t_txt = f"rho(norm, lifetime) not judged: only {n_life} distinct lifetimes"
    else:
        t_txt = f"rho(norm, lifetime) {_num(nl.get('spearman_lifetime'))} [{_num(t_ci[0])}, {_num(t_ci[1])}]"
    txt = f"{s_txt}; {t_txt}; n = {nl.get('n')}"
    if s and t:
        return _v("reproduced", txt)
    if s or t:
        return _v("partly", txt)
    return _v("not reproduced", txt)


def verdict_weakening(wk: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    ratio = _f((wk or {}).get("dip_ratio"))
    if not wk or ratio is None:
        return _v("not testable here", f"no dip defined ({(wk or {}).get('reason') or 'model not run'})")
    coin = _f(wk.get("coincides_with_births"))
    w = ratio < r["weak_ratio"]
    b = coin is not None and coin >= r["weak_min_coincide"]
    dip = f"dip to {ratio:.2f} x plateau at layer {wk.get('dip_layer')}"
    if coin is None:
        births = "no secondary births"
    elif not wk.get("weakened_layers"):
        births = f"no layer below {r['weak_ratio']:g} x plateau, so no birth coincides"
    else:
        births = f"{coin:.0%} of births within +/-1 of a weakened layer"
    txt = f"{dip}; {births}"
    if w and b:
        return _v("reproduced", txt)
    if w or ratio < r["weak_mild_ratio"]:
        return _v("partly", txt + ("" if w else " (mild dip)"))
    return _v("not reproduced", txt)


def discrete_levels(lv: dict[str, Any], r: dict[str, float] = RULES) -> list[dict[str, Any]]:
    """The levels whose birth and lifetime ranges each span <= levels_max_span x L layers."""
    L = max(int(lv.get("n_layers") or 1), 1)
    span = r["levels_max_span"] * L
    return [
        x for x in lv.get("levels") or []
        if (x["birth"][1] - x["birth"][0] + 1) <= span and (x["lifetime"][1] - x["lifetime"][0] + 1) <= span
    ]


def verdict_levels(lv: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    n = int((lv or {}).get("n_sinks") or 0)
    if not lv or n < r["levels_min_n"]:
        return _v("not testable here", f"{n} secondary sinks (< {r['levels_min_n']:g})")
    disc = discrete_levels(lv, r)
    cover = sum(_f(x.get("share")) or 0.0 for x in disc)
    txt = f"{lv.get('n_levels', 0)} level(s), {len(disc)} discrete, holding {cover:.0%} of {n} sinks"
    if len(disc) >= 2 and cover >= r["levels_cover"]:
        return _v("reproduced", txt)
    if disc and cover >= r["levels_cover_partly"]:
        return _v("partly", txt + (" (a single level)" if len(disc) == 1 else ""))
    return _v("not reproduced", txt)


def verdicts(model: dict[str, Any]) -> dict[int, dict[str, str]]:
    """The five verdicts of one model entry of a run (status != 'ok' -> all not testable)."""
    if model.get("status") != "ok":
        why = model.get("reason") or "model not run"
        return {c: _v("not testable here", why) for c in range(1, 6)}
    return {
        1: verdict_existence(model.get("existence")),
        2: verdict_formation(model.get("formation")),
        3: verdict_norm_law(model.get("norm_law")),
        4: verdict_weakening(model.get("weakening")),
        5: verdict_levels(model.get("levels")),
    }


# ---- the document (pure) -----------------------------------------------------------------------
def _ranges(layers: Sequence[int]) -> str:
    if not layers:
        return "none"
    xs = sorted(int(x) for x in layers)
    parts, a, b = [], xs[0], xs[0]
    for x in xs[1:]:
        if x == b + 1:
            b = x
            continue
        parts.append(f"{a}" if a == b else f"{a}-{b}")
        a = b = x
    parts.append(f"{a}" if a == b else f"{a}-{b}")
    return ", ".join(parts)


def _cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _tok(t: str) -> str:
    return "`" + repr(str(t))[1:-1].replace("`", "'") + "`"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _q(d: dict[str, Any] | None, d_: int = 2, integer: bool = False) -> tuple[str, str, str]:
    """median, [q1, q3], min-max as strings."""
    d = d or {}
    if d.get("median") is None:
        return "–", "–", "–"
    if integer:
        return (f"{d['median']:g}", f"[{d['q1']:g}, {d['q3']:g}]", f"{d['min']:g}-{d['max']:g}")
    return (_num(d["median"], d_), f"[{_num(d['q1'], d_)}, {_num(d['q3'], d_)}]", f"{_num(d['min'], d_)}-{_num(d['max'], d_)}")


def _ci_txt(v: Any, ci: Any) -> str:
    if _f(v) is None:
        return "–"
    ci = ci or [None, None]
    return f"{_num(v)} [{_num(ci[0])}, {_num(ci[1])}]"


def _label(m: dict[str, Any]) -> str:
    return str(m.get("label") or m.get("name"))


def _claim_rows(models: list[dict[str, Any]], claim: int) -> tuple[list[str], list[list[Any]]]:
    rows: list[list[Any]] = []
    if claim == 1:
        header = ["model", "L", "tokens (distinct)", "secondary sinks: distinct (records)", "per 1k distinct tok",
                  "in generated part", "in shared prefix", "position median (range)", "birth layers", "birth rel. depth median [IQR]", "born early / middle / late",
                  "lifetime median [IQR] (range)", "mean score sec. / primary (ratio)",
                  "most common tokens", "n (centred cos)", "verdict", "reason"]
        for m in models:
            v = verdicts(m)[1]
            e = m.get("existence") or {}
            if m.get("status") != "ok":
                rows.append([_label(m)] + ["–"] * 14 + [f"**{v['verdict']}**", v["reason"]])
                continue
            rb = _q(e.get("rel_birth"))
            lt = _q(e.get("lifetime"), integer=True)
            ps = _q(e.get("position"), integer=True)
            bl = e.get("birth_layers")
            rows.append([
                _label(m), e.get("n_layers"), f"{e.get('n_tokens')} ({e.get('n_tokens_distinct')})",
                f"{e.get('n_secondary')} ({e.get('n_secondary_records')})",
                _num(e.get("per_1k_tokens"), 1), _pct(e.get("share_in_generated")),
                f"{_pct(e.get('share_in_shared_prefix'))} of {e.get('shared_prefix_tokens')} tok",
                f"{ps[0]} ({ps[2]})",
                f"{bl[0]}-{bl[1]}" if bl else "–", f"{rb[0]} {rb[1]}",
                f"{_pct(e.get('share_early'))} / {_pct(e.get('share_middle'))} / {_pct(e.get('share_late'))}",
                f"{lt[0]} {lt[1]} ({lt[2]})",
                f"{_num(e.get('mean_score_secondary'), 3)} / {_num(e.get('mean_score_primary'), 3)} ({_num(e.get('score_ratio'))})",
                ", ".join(f"{_tok(t)}x{c}" for t, c in (e.get("top_tokens") or [])[:3]) or "–",
                e.get("n_secondary_centred") if e.get("n_secondary_centred") is not None else "–",
                f"**{v['verdict']}**", v["reason"],
            ])
        return header, rows
    if claim == 2:
        header = ["model", "sinks", "median cos(m, h_p) (oriented)", "share |cos|>0.9",
                  "median cos(m, m_p)", "median MLP share of jump", "median ||m||",
                  "causal: sinks (prompts)", "removed by project-out", "mean Δ score (l >= b)",
                  "mean Δ lifetime", "mean Δ NLL (max)", "verdict", "reason"]
        for m in models:
            v = verdicts(m)[2]
            fm = m.get("formation") or {}
            if m.get("status") != "ok":
                rows.append([_label(m)] + ["–"] * 11 + [f"**{v['verdict']}**", v["reason"]])
                continue
            c = fm.get("causal") or {}
            tested = bool(c.get("n_sinks"))
            rows.append([
                _label(m), fm.get("n"), _num(fm.get("median_cos")), _pct(fm.get("share_abs_cos_09")),
                _num(fm.get("median_cos_primary_mlp")), _num(fm.get("median_mlp_share")),
                _num(fm.get("median_mlp_norm"), 1),
                f"{c.get('n_sinks')} ({c.get('n_prompts')})" if tested else "not run",
                f"{c.get('n_removed')}/{c.get('n_sinks')} ({_pct(c.get('share_removed'))})" if tested else "–",
                (f"{_num(c.get('mean_delta_score'), 4)} (from {_num(c.get('mean_score_before'), 4)})" if tested else "–"),
                _num(c.get("mean_delta_lifetime"), 1) if tested else "–",
                f"{_num(c.get('mean_delta_nll'), 4)} ({_num(c.get('max_delta_nll'))})" if tested else "–",
                f"**{v['verdict']}**", v["reason"],
            ])
        return header, rows
    if claim == 3:
        header = ["model", "n", "Spearman(‖m‖, score) [95% CI]", "Pearson(‖m‖, score) [95% CI]",
                  "Spearman(‖m‖, lifetime) [95% CI]", "Pearson(‖m‖, lifetime) [95% CI]", "verdict", "reason"]
        for m in models:
            v = verdicts(m)[3]
            nl = m.get("norm_law") or {}
            if m.get("status") != "ok":
                rows.append([_label(m)] + ["–"] * 5 + [f"**{v['verdict']}**", v["reason"]])
                continue
            rows.append([
                _label(m), nl.get("n"),
                _ci_txt(nl.get("spearman_score"), nl.get("spearman_score_ci")),
                _ci_txt(nl.get("pearson_score"), nl.get("pearson_score_ci")),
                _ci_txt(nl.get("spearman_lifetime"), nl.get("spearman_lifetime_ci")),
                _ci_txt(nl.get("pearson_lifetime"), nl.get("pearson_lifetime_ci")),
                f"**{v['verdict']}**", v["reason"],
            ])
        return header, rows
    if claim == 4:
        header = ["model", "L", "primary window", "plateau (layer)", "dip layer (rel. depth)", "dip score", "dip / plateau",
                  "weakened layers (< 0.5 x plateau)", "births near weakened layers",
                  "prompts weakened", "verdict", "reason"]
        for m in models:
            v = verdicts(m)[4]
            wk = m.get("weakening") or {}
            if m.get("status") != "ok":
                rows.append([_label(m)] + ["–"] * 9 + [f"**{v['verdict']}**", v["reason"]])
                continue
            w = wk.get("window")
            rows.append([
                _label(m), wk.get("n_layers"), f"{w[0]}-{w[1]}" if w else "–",
                f"{_num(wk.get('plateau'), 3)} ({wk.get('plateau_layer')})",
                f"{wk.get('dip_layer')} ({_num(wk.get('dip_rel_depth'))})" if wk.get("dip_layer") is not None else "–",
                _num(wk.get("dip_score"), 3), _num(wk.get("dip_ratio")), _ranges(wk.get("weakened_layers") or []),
                _pct(wk.get("coincides_with_births")), _pct(wk.get("share_prompts_weakened")),
                f"**{v['verdict']}**", v["reason"],
            ])
        return header, rows
    header = ["model", "sinks", "levels (discrete)", "levels: birth range × lifetime range (share)",
              "clusters", "verdict", "reason"]
    for m in models:
        v = verdicts(m)[5]
        lv = m.get("levels") or {}
        if m.get("status") != "ok":
            rows.append([_label(m)] + ["–"] * 4 + [f"**{v['verdict']}**", v["reason"]])
            continue
        disc = discrete_levels(lv) if lv else []
        desc = "; ".join(
            f"b {x['birth'][0]}-{x['birth'][1]} × life {x['lifetime'][0]}-{x['lifetime'][1]} ({_pct(x['share'])})"
            for x in lv.get("levels") or []
        ) or "none"
        rows.append([
            _label(m), lv.get("n_sinks"), f"{lv.get('n_levels')} ({len(disc)})", desc, lv.get("n_clusters"),
            f"**{v['verdict']}**", v["reason"],
        ])
    return header, rows


def _differences(models: list[dict[str, Any]]) -> list[str]:
    """Numbers-based notes on how the small models differ from the paper's (generated)."""
    out = [
        "The paper studies 14B-32B reasoning models (e.g. DeepSeek-R1-Distill-Qwen-14B, 48 blocks, whose "
        "secondary sinks are born around block 22, relative depth ~0.47, with residual norms jumping from ~80 "
        "to 1e3-4e3) on long generated reasoning traces. Ours are 135M-1.5B models on short bundled "
        "texts plus a short greedy continuation, so differences are expected; here they are, measured:",
        "",
    ]
    for m in models:
        if m.get("status") != "ok":
            out.append(f"- **{_label(m)}**: not run here ({m.get('reason')}).")
            continue
        e, wk, lv, fm = m.get("existence") or {}, m.get("weakening") or {}, m.get("levels") or {}, m.get("formation") or {}
        s = m.get("setup") or {}
        parts = [f"{e.get('n_layers')} blocks, {s.get('n_prompts')} prompts, {e.get('n_tokens')} tokens"]
        if e.get("n_secondary"):
            rb = (e.get("rel_birth") or {}).get("median")
            bl = e.get("birth_layers") or ["?", "?"]
            where = "early" if (rb or 0) < RULES["middle_lo"] else "late" if (rb or 0) > RULES["middle_hi"] else "middle"
            parts.append(
                f"{e['n_secondary']} secondary sinks born at blocks {bl[0]}-{bl[1]} (median relative depth "
                f"{_num(rb)}, {where} rather than the paper's middle layers; {_pct(e.get('share_middle'))} "
                f"in 0.25-0.75)"
            )
            w = wk.get("window")
            if w and bl[1] != "?" and bl[1] < w[0]:
                parts.append(
                    f"all born before the primary window (blocks {w[0]}-{w[1]}, where the first token carries "
                    f"its massive norm), so they cannot be read off the paper's window-only scan"
                )
            parts.append(
                f"lifetime median {_num((e.get('lifetime') or {}).get('median'), 0)} of {e.get('n_layers')} blocks"
            )
            parts.append(
                f"{_pct(e.get('share_in_generated'))} of them in the generated continuation"
            )
            if (e.get("share_in_shared_prefix") or 0) >= 0.25:
                parts.append(
                    f"{_pct(e.get('share_in_shared_prefix'))} sit in the {e.get('shared_prefix_tokens')}-token "
                    f"prefix every prompt shares (the chat template's system prompt; "
                    f"{e.get('n_secondary_records')} records before de-duplication)"
                )
            nc = None if m.get("variant_of") else e.get("n_secondary_centred")
            if nc is not None and nc < 0.5 * e["n_secondary"]:
                parts.append(
                    f"with the centred cosine (METHOD.md pitfalls) the detector finds only {nc}, so most of the "
                    f"raw count is tokens sharing a dominant residual direction with the primary, not sinks "
                    f"by the paper's picture"
                )
            elif nc is not None:
                parts.append(f"the centred-cosine re-analysis finds {nc} (robust to a shared residual direction)")
            if fm.get("median_cos") is not None and (fm.get("median_cos") or 0) < RULES["formation_min_cos"]:
                parts.append(f"their MLP outputs are not aligned with the primary (median cos {_num(fm.get('median_cos'))})")
        else:
            parts.append("no secondary sink found")
        if wk.get("dip_ratio") is not None:
            parts.append(f"the primary dips to {_num(wk.get('dip_ratio'))} x its plateau at block {wk.get('dip_layer')}")
        if lv.get("n_sinks"):
            parts.append(f"{lv.get('n_levels')} sink level(s) (paper: 3 in QwQ-32B, 6 in Qwen3-14B)")
        if m.get("variant_of"):
            parts.insert(0, f"the same capture as {m['variant_of']}, analysed with the centred cosine")
        out.append(f"- **{_label(m)}**: " + "; ".join(parts) + ".")
    return out


def render_markdown(run: dict[str, Any]) -> str:
    """REPRODUCTION.md from a run dict (as written to reproduction/results.json). Pure: no model,
    no file access; the verdicts are recomputed from the numbers with `RULES`."""
    models = list(run.get("models") or [])
    mode = run.get("mode", "full")
    L: list[str] = []
    L.append('# Reproduction: "On the Existence and Behaviour of Secondary Attention Sinks"')
    L.append("")
    L.append(
        f"> **Mode: {mode.upper()}**"
        + (" (a CI smoke run: few prompts, short generation, SmolLM2 only; the committed document comes "
           "from the full run)." if mode == "quick" else " (the full run over every catalog decoder).")
        + f" Generated by `{run.get('command') or 'sinkscope reproduce'}` on {run.get('created', '?')}"
        + f" in {_num((run.get('timings') or {}).get('total_s', 0) / 60, 1)} min."
    )
    L.append("")
    L.append(
        "This document is regenerated by `sinkscope reproduce` (see the end) from the numbers in "
        "[reproduction/results.json](reproduction/results.json); every verdict follows from them by the "
        "rules in [Verdict rules](#verdict-rules). Paper: Wong et al., arXiv 2512.22213; "
        "quantities as specified in METHOD.md (general mode, attention-confirmed detector)."
    )
    L.append("")
    L.append("## Verdicts")
    L.append("")
    header = ["model"] + [CLAIM_SHORT[c] for c in range(1, 6)]
    rows = []
    for m in models:
        vs = verdicts(m)
        rows.append([_label(m)] + [vs[c]["verdict"] for c in range(1, 6)])
    L += _table(header, rows)
    L.append("")
    env = run.get("environment") or {}
    L.append("## Setup")
    L.append("")
    L.append(
        f"- Machine: {env.get('cpus', '?')} CPU cores (shared with other work), torch threads "
        f"{env.get('threads', '?')}, Python {env.get('python', '?')}, torch {env.get('torch', '?')}, "
        f"transformers {env.get('transformers', '?')}, sinkscope {env.get('sinkscope', '?')}; float32."
    )
    cfg = run.get("config") or {}
    if cfg:
        L.append(
            "- Detector (METHOD.md §2-3): "
            + ", ".join(f"{k}={v}" for k, v in cfg.items() if k in ("mode", "tau", "cosine", "k", "min_lifetime", "min_queries", "n_candidates", "baseline"))
            + ". Levels: min share 5%, tolerance +/-1 layer. Bootstrap: 2000 resamples, seed 0."
        )
    L.append(
        "- Prompts: the bundled set (113 texts: math with worked solutions, code, prose, chat), taken in a "
        "fixed order (categories interleaved as " + ", ".join(CATEGORY_PATTERN) + ", ... - math first and "
        "three times in six, as the paper analysed reasoning; within a category in file order). A model "
        "with N prompts uses the first N of this order, so smaller plans are prefixes of larger ones. "
        "Instruct models get the chat template (the text is the user turn) and every prompt is extended "
        "by a greedy continuation of G tokens (the paper analyses model responses); Gemma3-270M is a "
        "base model without a chat template, so its texts are used plainly."
    )
    causal = run.get("plans") or {}
    L.append(
        f"- Causal check (METHOD.md §4): mode {INTERVENTION_MODE} (m' = m - (m.u)u at the sink's birth block "
        "b, u = unit(h_p^b)) on distinct secondary sinks: prompts in order, in each the strongest sinks not "
        "already edited in an identical prefix, capped (table below); one `interventions.intervene` run "
        "per sink, the same edit `interventions.auto` makes (auto would pick the same system-prompt sink "
        "in every prompt). Δ = intervened - clean; Δ NLL is the mean change of next-token NLL on the "
        "text after the edited token. Greedy generation stops early at the model's end-of-turn token, "
        "so a model can generate fewer than N x G tokens in all (the setup table gives the real total)."
    )
    L.append(
        f"- Centred-cosine rows: when the centred cosine (METHOD.md pitfalls: subtract the layer's mean "
        f"residual first) keeps fewer than {RULES['centred_variant_below']:.0%} of a model's distinct secondary "
        "sinks, a second row *model (centred cos)* re-analyses the same capture with that detector (its "
        "own causal check included), since then most raw-cosine sinks are tokens that merely share a "
        "dominant residual direction with the first token."
    )
    L.append("")
    srows = []
    for m in models:
        s, t = m.get("setup") or {}, m.get("timings") or {}
        p = causal.get(m.get("name")) or {}
        if m.get("variant_of"):
            continue  # a re-analysis of the model above: same prompts, no extra model time
        if m.get("status") != "ok":
            srows.append([_label(m), m.get("params", "–"), p.get("prompts", "–"), "–", p.get("generate", "–"), "–", "–", "–", f"not run: {m.get('reason')}"])
            continue
        pt = s.get("prompt_tokens") or {}
        cats = ", ".join(f"{k} {v}" for k, v in (s.get("categories") or {}).items())
        srows.append([
            _label(m), m.get("params", "–"), f"{s.get('n_prompts')} ({cats})",
            f"{pt.get('min')}-{pt.get('max')} (median {_num(pt.get('median'), 0)})",
            f"{s.get('generate')} ({s.get('generated_tokens')} in all)", "yes" if s.get("chat") else "no",
            f"{p.get('intervene_prompts', '–')} prompts x <= {p.get('max_sinks', '–')} sinks",
            f"{_num(t.get('total_s', 0) / 60, 1)} min",
            f"load {_num(t.get('load_s'), 0)} s, generate + capture {_num(t.get('scan_s'), 0)} s, "
            f"causal {_num(t.get('interventions_s'), 0)} s, figures {_num(t.get('figures_s'), 0)} s",
        ])
    L += _table(["model", "params", "prompts (categories)", "prompt tokens", "generated / prompt",
                 "chat template", "causal check cap", "time", "time split"], srows)
    L.append("")
    for c in range(1, 6):
        L.append(f"## Claim {c}. {CLAIM_TITLES[c]}")
        L.append("")
        L.append(f"*Paper:* {PAPER[c]}")
        L.append("")
        header, rows = _claim_rows(models, c)
        L += _table(header, rows)
        L.append("")
        if c == 1:
            L.append(
                "**Distinct sinks.** A chat template puts the same system prompt before every text and a "
                "causal model computes identical states over an identical prefix, so a sink there repeats "
                "in every prompt. All statistics here and below count such a sink once (records whose "
                "prefix, token ids up to the sink, was already seen are dropped; the first occurrence in "
                "prompt order is kept); *records* is the count before that. *In shared prefix*: share of "
                "the distinct sinks inside the prefix common to all prompts (the template's system prompt)."
            )
            L.append("")
            L.append(
                "Relative depth = birth / (L - 1); early < 0.25 <= middle <= 0.75 < late. Scores are "
                "METHOD.md §1 sink scores (mean attention a key receives), the secondary's averaged over "
                "its lifetime, the primary's over its window. *n (centred cos)*: secondary sinks when "
                "the cosine to the primary is taken after removing the layer's mean residual (a "
                "re-analysis of the same capture), a robustness check against a shared dominant "
                "direction (METHOD.md pitfalls, Gemma3)."
            )
        elif c == 2:
            L.append(
                "Causal check: distinct sinks (the strongest of each prompt not already edited in an identical "
                "prefix), one `interventions.intervene` run each with project-out at the birth block - the "
                "edit `interventions.auto` makes; `auto` itself would edit the same system-prompt sink in "
                "every prompt. "
                "cos(m, h_p): cosine of the birth block's MLP output at the sink with the primary's "
                "residual state at that block, oriented to the sink's own sign; MLP share = MLP "
                "projection / (MLP + attention projection) on the primary direction. Causal columns "
                "come from the project-out runs (removed = no longer classified secondary)."
            )
        elif c == 4:
            L.append(
                "Pooled over prompts (mean per-layer primary score). Plateau: the max over the first "
                "third of the primary window; dip: the min over middle layers (relative depth "
                "0.25-0.75) after the plateau (METHOD.md §6, `analysis.weakening`)."
            )
        fig_key = {3: "normlaw", 4: "weakening", 5: "levels"}.get(c)
        if fig_key:
            links = [
                f"[{_label(m)}]({(m.get('figures') or {}).get(fig_key)})"
                for m in models if (m.get("figures") or {}).get(fig_key)
            ]
            if links:
                L.append("")
                L.append(f"Figures ({fig_key}): " + ", ".join(links) + ".")
        L.append("")
    L.append("## How these small models differ from the paper")
    L.append("")
    L += _differences(models)
    L.append("")
    L.append("## Figures")
    L.append("")
    for m in models:
        figs = m.get("figures") or {}
        if not figs:
            continue
        L.append(f"### {_label(m)}")
        L.append("")
        for key in ("normlaw", "weakening", "levels"):
            if figs.get(key):
                L.append(f"![{_label(m)} {key}]({figs[key]})")
                L.append("")
    L.append("## Verdict rules")
    L.append("")
    L.append(rules_markdown(run.get("rules") or RULES))
    L.append("")
    L.append("## Reproduce")
    L.append("")
    L.append("```bash")
    L.append("sinkscope reproduce                 # full run: every catalog decoder, writes docs/REPRODUCTION.md (~20-50 min on 2 shared cores)")
    L.append("sinkscope reproduce --quick --out /tmp/repro   # CI smoke run (SmolLM2 only, ~1-2 min)")
    for m in models:
        if m.get("scan_dir"):
            L.append(f"sinkscope report {m['scan_dir']}")
            break
    L.append("```")
    L.append("")
    dirs = [f"`{m['scan_dir']}`" for m in models if m.get("scan_dir")]
    if dirs:
        L.append(
            "Each model's scan folder (and its `interventions/` folder) was written under the work "
            "directory (not committed): " + ", ".join(dirs) + "; `sinkscope report DIR` renders any of them."
        )
        L.append("")
    return "\n".join(L)


# ---- running -----------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name) or "model"


def _save_png(fig, path: Path, dpi: int = 130) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    os.replace(tmp, path)


def write_model_figures(res, out_dir: Path, rel_to: Path) -> dict[str, str]:
    """normlaw.png, weakening.png, levels.png (report.figures) under out_dir; returns name ->
    path relative to `rel_to` (the document's folder)."""
    import matplotlib

    matplotlib.use("Agg")
    from sinkscope.report import figures as F

    out_dir.mkdir(parents=True, exist_ok=True)
    makers = {"normlaw": F.fig_normlaw, "weakening": F.fig_weakening, "levels": F.fig_levels}
    got: dict[str, str] = {}
    with matplotlib.rc_context(F._STYLE):
        for key, make in makers.items():
            fig = make(res)
            path = out_dir / f"{key}.png"
            _save_png(fig, path)
            got[key] = os.path.relpath(path, rel_to).replace(os.sep, "/")
    return got


ProgressFn = Callable[[str, str, int, int], None]  # (model, stage, done, total)
LogFn = Callable[[str], None]


def _subset_scan(res, idx: list[int]):
    """A ScanResult holding prompts `idx` of `res` (same capture, re-analysed)."""
    from sinkscope.analysis import analyze
    from sinkscope.capture.trace import Trace
    from sinkscope.workflows.scan import ScanResult

    prompts = [res.prompts[i] for i in idx]
    manifest = dict(res.manifest)
    manifest["prompts"] = [res.manifest["prompts"][i] for i in idx]
    trace = Trace(prompts=prompts, settings=res.trace.settings, timings={})
    return ScanResult(trace, analyze(prompts, res.config), res.config, manifest)


def pick_causal_targets(d: Distinct, plan: Plan) -> list[tuple[int, int, int]]:
    """(prompt, position, birth) of the sinks the causal check edits: prompts in order, in each
    the strongest secondary sinks (by mean score) not already picked in an identical prefix, at
    most `plan.max_sinks` per prompt, until `plan.intervene_prompts` prompts contributed.
    (`interventions.auto` picks the strongest sinks of every prompt, which with a chat template
    is the same system-prompt sink in every prompt; this picks distinct ones.)"""
    res = d.res
    raw = res.findings.detections
    picks: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    used = 0
    for i, det in enumerate(raw):
        if used >= plan.intervene_prompts:
            break
        sec = det.secondary.sort_values(["mean_score", "position"], ascending=[False, True], kind="stable")
        took = 0
        for pos, birth in zip(sec["position"].to_numpy(dtype=int), sec["birth"].to_numpy(dtype=int)):
            if took >= plan.max_sinks:
                break
            key = d.keys[i][int(pos)]
            if key in seen:
                continue
            seen.add(key)
            picks.append((i, int(pos), int(birth)))
            took += 1
        used += bool(took)
    return picks


def causal_check(lm, d: Distinct, plan: Plan, progress: Callable[[int, int], None] | None = None):
    """METHOD.md §4 causal check on distinct secondary sinks (`pick_causal_targets`): one
    `interventions.intervene` run each, mode project-out at the sink's birth block (the edit
    `interventions.auto` makes), collected into an `AutoResult` (table columns AUTO_COLUMNS, plus
    `scan_prompt`, the prompt's index in the model's scan). None when there is no secondary sink."""
    import pandas as pd

    from sinkscope.workflows.interventions import AUTO_COLUMNS, AutoResult, intervene, parse_mode

    picks = pick_causal_targets(d, plan)
    if not picks or plan.intervene_prompts < 1 or plan.max_sinks < 1:
        return None
    used = sorted({i for i, _, _ in picks})
    local = {p: j for j, p in enumerate(used)}
    sub = _subset_scan(d.res, used)
    rows, runs = [], []
    for n, (i, pos, birth) in enumerate(picks):
        r = intervene(lm, clean=sub, prompt=local[i], layer=birth, position=pos, mode=INTERVENTION_MODE)
        rows.append(
            {
                "prompt": local[i],
                "mode": r.mode,
                **r.targets.iloc[0].to_dict(),
                "n_secondary_after": int(r.intervened.summary()["n_secondary"]),
                "delta_nll_mean": r.nll.mean,
                "delta_nll_max": r.nll.max,
                "nll_tokens": r.nll.n,
            }
        )
        runs.append(r)
        if progress is not None:
            progress(n + 1, len(picks))
    table = pd.DataFrame(rows, columns=list(AUTO_COLUMNS))
    table["scan_prompt"] = [i for i, _, _ in picks]
    return AutoResult(clean=sub, modes=[parse_mode(INTERVENTION_MODE)], table=table, runs=runs)


def run_model(
    name: str,
    plan: Plan,
    *,
    out: Path,
    work: Path,
    config=None,
    progress: ProgressFn | None = None,
    log: LogFn = print,
) -> list[dict[str, Any]]:
    """Scan (+ generate) and intervene on one model; save its scan folder and figures; return its
    entries of the run dict: one, plus a centred-cosine re-analysis entry when that detector keeps
    fewer than half the distinct secondary sinks (`RULES['centred_variant_below']`)."""
    import sinkscope
    from sinkscope.analysis import DetectConfig

    cfg = config or DetectConfig()
    entry: dict[str, Any] = {"name": name, "label": name, "status": "ok", "reason": None}
    try:
        from sinkscope.models.catalog import get_spec

        entry["params"] = get_spec(name).params_label
    except Exception:  # noqa: BLE001 - not a catalog name: no params label
        entry["params"] = "–"
    t0 = time.perf_counter()
    try:
        lm = sinkscope.load_model(name)
    except Exception as e:  # noqa: BLE001 - any load failure makes the model "not testable here"
        entry.update(status="not run", reason=f"could not load: {str(e).splitlines()[0][:200]}")
        log(f"[{name}] not run: {entry['reason']}")
        return [entry]
    t_load = time.perf_counter() - t0
    try:
        return _run_loaded(lm, name, plan, cfg, entry, t0, t_load, out, work, progress, log)
    finally:
        del lm
        gc.collect()


def _analyse(lm, res, name: str, key: str, plan: Plan, out: Path, work: Path, progress, n_centred=None):
    """Distinct sinks, causal check, saved folders and figures of one scan (raw or a re-analysis)."""
    d = distinct_sinks(res)
    t2 = time.perf_counter()

    def on_auto(done: int, total: int) -> None:
        if progress is not None:
            progress(key, "intervene", done, total)

    auto_res = causal_check(lm, d, plan, on_auto)
    t_auto = time.perf_counter() - t2
    t3 = time.perf_counter()
    mdir = work / _safe(key)
    scan_dir = res.save(mdir / "scan", overwrite=True)
    if auto_res is not None:
        auto_res.save(mdir / "interventions", overwrite=True)
    figs = write_model_figures(d.res, out / "reproduction" / _safe(key), rel_to=out)
    part = summarize_model(d, auto_res, n_centred=n_centred)
    part.update(
        figures=figs,
        scan_dir=str(scan_dir),
        interventions_dir=str(mdir / "interventions") if auto_res is not None else None,
        config=res.config.to_dict(),
    )
    return part, t_auto, time.perf_counter() - t3


def _run_loaded(lm, name, plan, cfg, entry, t0, t_load, out, work, progress, log) -> list[dict[str, Any]]:
    import sinkscope
    from sinkscope.capture.inputs import tokenize

    chat = bool(getattr(lm.tokenizer, "chat_template", None))
    rows = select_prompts(plan.prompts)
    pairs = [(r["text"], f"bundled:prompts.jsonl:{r.get('id', i)}") for i, r in enumerate(rows)]
    lens = [len(tokenize(lm, t, chat=chat)) for t, _ in pairs]
    log(
        f"[{name}] loaded in {t_load:.1f} s: {lm.info.n_layers} blocks; {len(pairs)} prompts, "
        f"{min(lens)}-{max(lens)} tokens (median {int(np.median(lens))}) + {plan.generate} generated, "
        f"chat template: {'yes' if chat else 'no (base model)'}"
    )

    def on_scan(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(name, "generate" if stage == "prepare" and plan.generate else stage, done, total)

    t1 = time.perf_counter()
    res = sinkscope.scan(lm, pairs, config=cfg, chat=chat, generate=plan.generate, with_nll=True, progress=on_scan)
    t_scan = time.perf_counter() - t1
    res_c = res.reanalyze(cosine="centred")
    n_c = len(distinct_sinks(res_c).res.findings.secondary)
    part, t_auto, t_fig = _analyse(lm, res, name, name, plan, out, work, progress, n_centred=n_c)
    entry.update(part)

    n_prompt = [int(m.get("n_prompt_tokens", 0)) for m in res.manifest["prompts"]]
    n_total = [p.n_tokens for p in res.prompts]
    entry["setup"] = {
        "n_prompts": len(pairs),
        "prompt_ids": [str(r.get("id")) for r in rows],
        "categories": dict(Counter(str(r.get("category")) for r in rows)),
        "chat": chat,
        "generate": plan.generate,
        "prompt_tokens": {"min": min(n_prompt), "max": max(n_prompt), "median": float(np.median(n_prompt)), "total": sum(n_prompt)},
        "generated_tokens": int(sum(n_total) - sum(n_prompt)),
        "tokens_total": int(sum(n_total)),
        "n_layers": lm.info.n_layers,
        "architecture": lm.info.architecture,
    }
    entries = [entry]
    n_raw = entry["existence"]["n_secondary"]
    if n_raw and n_c < RULES["centred_variant_below"] * n_raw:
        key = f"{name}-centred"
        log(f"[{name}] the centred cosine keeps {n_c} of {n_raw} distinct secondary sinks: adding a '{key}' re-analysis")
        vpart, v_auto, v_fig = _analyse(lm, res_c, name, key, plan, out, work, progress, n_centred=n_c)
        t_auto += v_auto
        t_fig += v_fig
        variant = {
            "name": key, "label": f"{name} (centred cos)", "status": "ok", "reason": None,
            "params": entry.get("params"), "variant_of": name, **vpart,
            "setup": entry["setup"], "timings": {"total_s": v_auto + v_fig},
        }
        entries.append(variant)
    entry["timings"] = {
        "load_s": t_load,
        "scan_s": t_scan,
        "interventions_s": t_auto,
        "figures_s": t_fig,
        "total_s": time.perf_counter() - t0,
    }
    return entries


def resolve_plans(
    models: Sequence[str] | None,
    quick: bool,
    prompts: int | None = None,
    generate: int | None = None,
) -> dict[str, Plan]:
    """Model -> Plan: the full plans (or the quick plan on SmolLM2), overridden by --prompts /
    --generate for every model."""
    if models is None:
        names = list(QUICK_MODELS if quick else CATALOG_DECODERS)
    else:
        names = [m.strip() for m in models if m and m.strip()]
        if not names:
            raise InputError("--models is empty; give catalog names, e.g. smollm2-135m,gemma3-270m.")
        for m in names:
            if m not in CATALOG_DECODERS and not Path(m).exists():
                raise InputError(
                    f"unknown model '{m}' for reproduce; use catalog decoders ({', '.join(CATALOG_DECODERS)}) "
                    "or a local model folder / .gguf file."
                )
    if prompts is not None and prompts < 1:
        raise InputError(f"--prompts must be >= 1 (got {prompts}).")
    if generate is not None and generate < 0:
        raise InputError(f"--generate must be >= 0 (got {generate}).")
    plans = {}
    for m in names:
        base = QUICK_PLAN if quick else FULL_PLANS.get(m, DEFAULT_PLAN)
        plans[m] = Plan(
            prompts=prompts if prompts is not None else base.prompts,
            generate=generate if generate is not None else base.generate,
            intervene_prompts=base.intervene_prompts,
            max_sinks=base.max_sinks,
        )
    return plans


def _environment(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    from sinkscope.core.version import __version__

    return {
        "cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sinkscope": __version__,
    }


def reproduce(
    *,
    out: str | Path = "docs",
    work: str | Path = "reproduce-runs",
    models: Sequence[str] | None = None,
    quick: bool = False,
    prompts: int | None = None,
    generate: int | None = None,
    threads: int | None = None,
    progress: ProgressFn | None = None,
    log: LogFn = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Run the reproduction and write out/REPRODUCTION.md, out/reproduction/results.json and the
    figures out/reproduction/<model>/{normlaw,weakening,levels}.png. Scan folders go to
    work/<model>/scan (work gets a `.gitignore` of `*`). Returns the run dict.

    In quick mode only SmolLM2 runs, but every catalog decoder gets a row ("not run in quick mode").
    """
    import torch

    from sinkscope.analysis import DetectConfig

    out, work = Path(out), Path(work)
    plans = resolve_plans(models, quick, prompts, generate)
    n_threads = choose_threads(threads)
    torch.set_num_threads(n_threads)
    for d in (out, work):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create '{d}' ({e.strerror}); choose a writable folder.") from e
    gi = work / ".gitignore"
    if not gi.exists():
        gi.write_text("# sinkscope reproduce work folder: scan outputs, not committed\n*\n")

    mode = "quick" if quick else "full"
    log(f"sinkscope reproduce ({mode}): {len(plans)} model(s), torch threads {n_threads}, out {out}, work {work}")
    order = select_prompts(max(p.prompts for p in plans.values()))
    for m, p in plans.items():
        sel = order[: p.prompts]
        cats = Counter(str(r.get("category")) for r in sel)
        chars = [len(r["text"]) for r in sel]
        log(
            f"  {m}: {p.prompts} prompts ({', '.join(f'{k} {v}' for k, v in cats.items())}; "
            f"{min(chars)}-{max(chars)} chars), generate {p.generate} tokens each, causal check on "
            f"<= {p.intervene_prompts} prompts x {p.max_sinks} sinks"
        )
    log("  prompt order: " + ", ".join(str(r.get("id")) for r in order))
    cfg = DetectConfig()
    t0 = time.perf_counter()
    entries = []
    for m, p in plans.items():
        tm = time.perf_counter()
        got = run_model(m, p, out=out, work=work, config=cfg, progress=progress, log=log)
        entries += got
        for e in got:
            if e["status"] == "ok":
                ex = e["existence"]
                log(
                    f"[{e['label']}] done ({time.perf_counter() - tm:.0f} s so far): {ex['n_secondary']} distinct "
                    f"secondary sinks ({ex['n_secondary_records']} records) in {ex['n_tokens']} tokens; verdicts: "
                    + ", ".join(f"{c}: {v['verdict']}" for c, v in verdicts(e).items())
                )
    names = [e["name"] for e in entries if not e.get("variant_of")]
    all_names = list(CATALOG_DECODERS) + [n for n in names if n not in CATALOG_DECODERS]
    full: list[dict[str, Any]] = []
    for n in all_names:
        hits = [e for e in entries if e["name"] == n or e.get("variant_of") == n]
        if not hits:
            why = "not run in quick mode" if quick else "not selected with --models"
            hit = {"name": n, "label": n, "status": "not run", "reason": why}
            try:
                from sinkscope.models.catalog import get_spec

                hit["params"] = get_spec(n).params_label
            except Exception:  # noqa: BLE001
                pass
            hits = [hit]
        full += hits
    run = {
        "mode": mode,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command or "sinkscope reproduce" + (" --quick" if quick else ""),
        "environment": _environment(n_threads),
        "config": cfg.to_dict(),
        "rules": dict(RULES),
        "plans": {m: asdict(p) for m, p in plans.items()},
        "models": full,
        "timings": {"total_s": time.perf_counter() - t0, **{e["name"]: (e.get("timings") or {}).get("total_s") for e in entries if not e.get("variant_of")}},
    }
    write_outputs(run, out)
    log(f"wrote {out / 'REPRODUCTION.md'} and {out / 'reproduction'}/ in {run['timings']['total_s'] / 60:.1f} min")
    return run


def write_outputs(run: dict[str, Any], out: str | Path) -> Path:
    """out/reproduction/results.json and out/REPRODUCTION.md (each written atomically)."""
    out = Path(out)
    (out / "reproduction").mkdir(parents=True, exist_ok=True)
    res_path = out / "reproduction" / "results.json"
    tmp = res_path.with_name(".results.json.tmp")
    stored = dict(run)
    stored["verdicts"] = {m.get("name"): {str(c): v for c, v in verdicts(m).items()} for m in run.get("models") or []}
    tmp.write_text(json.dumps(_jsonable(stored), indent=1))
    os.replace(tmp, res_path)
    doc = out / "REPRODUCTION.md"
    tmp = doc.with_name(".REPRODUCTION.md.tmp")
    tmp.write_text(render_markdown(_jsonable(run)) + "\n")
    os.replace(tmp, doc)
    return doc


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return _f(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


__all__ = [
    "CATALOG_DECODERS",
    "FULL_PLANS",
    "Plan",
    "QUICK_PLAN",
    "RULES",
    "choose_threads",
    "render_markdown",
    "reproduce",
    "resolve_plans",
    "rules_markdown",
    "select_prompts",
    "summarize_model",
    "verdict_existence",
    "verdict_formation",
    "verdict_levels",
    "verdict_norm_law",
    "verdict_weakening",
    "verdicts",
    "write_outputs",
]
