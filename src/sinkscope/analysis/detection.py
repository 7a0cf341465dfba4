"""Primary sink, primary window, sink-likeness and sink records (docs/method.md §2, §3).

`detect(pt, cfg)` turns one `PromptTrace` into a `Detection`: the primary position p, its window,
the sink-like mask, the per-layer scores and baselines, and a DataFrame with one record per token
that is sink-like somewhere (plus one for the primary itself).

General mode reads the residual stream (block outputs h^0..h^{L-1}); paper mode reads the states
the published code reads (`paper_states`: HF's `hidden_states[1:]`, whose last entry is the final
norm's output) and chooses the primary among its candidates (`PAPER_CANDIDATES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sinkscope.analysis.columns import dtypes, names
from sinkscope.analysis.config import DetectConfig
from sinkscope.analysis.scores import (
    attention_layers,
    baseline_scores,
    classifiable,
    head_fraction,
    layer_scores,
)
from sinkscope.capture.trace import PromptTrace
from sinkscope.core.errors import InputError

KINDS = ("primary", "secondary", "noise", "unclassified")

#: the columns `detect` writes, in registry order (`sinkscope.analysis.columns`, source "detection")
RECORD_COLUMNS = names("detection")


# The published code's primary candidates: positions [0, 1, 2] when the prompt was rendered through
# a chat template, [0, 1] otherwise (docs/method.md §3, paper mode); keyed by `PromptTrace.chat`.
PAPER_CANDIDATES: dict[bool, int] = {True: 3, False: 2}


def paper_states(pt: PromptTrace, centred: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The norms and cosines of the states the published code reads, HF's `hidden_states[1:]`.

    Paper mode (docs/method.md §3): h^0 .. h^{L-2} (the block outputs `resid_norm`, `resid_cos`) and,
    at the last layer, f = `last_hidden_state` (final_norm(h^{L-1}); `final_norm`, `final_cos`), not
    h^{L-1}. With `centred`, the centred cosines (`resid_cos_centred`, `final_cos_centred`).

    Shapes:
        returns: (norm [L, T], cos [L, C, T]) float64.

    Raises:
        InputError: the trace was captured without the last hidden state (files written before it
            was recorded), or its final arrays do not match the block arrays.
    """
    final_cos = pt.final_cos_centred if centred else pt.final_cos
    if pt.final_norm is None or final_cos is None:
        raise InputError(
            "paper mode reads the model's last hidden state (HF's hidden_states[-1], the final norm's "
            "output; docs/method.md §3), which this trace does not hold: it was captured by an earlier "
            "sinkscope. Capture it again (re-run the scan) to analyse it in paper mode."
        )
    norm = np.array(pt.resid_norm, dtype=np.float64)
    cos = np.array(pt.resid_cos_centred if centred else pt.resid_cos, dtype=np.float64)
    fn, fc = np.asarray(pt.final_norm), np.asarray(final_cos)
    if fn.shape != norm.shape[1:] or fc.shape != cos.shape[1:]:
        raise InputError(
            f"PromptTrace.final_norm / final_cos have shapes {fn.shape} / {fc.shape}, expected "
            f"{norm.shape[1:]} / {cos.shape[1:]}."
        )
    norm[-1] = fn
    cos[-1] = fc
    return norm, cos


def primary_position(resid_norm: np.ndarray, n_candidates: int) -> int:
    """Primary position p: the candidate with the largest mean residual norm over layers.

    docs/method.md §2: among the first C = `n_candidates` positions,
    p = argmax_{t < C} (1/L) sum_l resid_norm[l, t]. Ties go to the earlier position; C is clipped
    to T.

    Shapes:
        resid_norm: [L, T] ||h_t^l||.

    Raises:
        InputError: `resid_norm` is not [L, T] with T >= 1, or `n_candidates` < 1.
    """
    rn = np.asarray(resid_norm, dtype=np.float64)
    if rn.ndim != 2 or rn.shape[1] == 0:
        raise InputError(f"resid_norm must have shape [L, T] with T >= 1, got {rn.shape}.")
    if n_candidates < 1:
        raise InputError(f"n_candidates={n_candidates} is invalid: must be >= 1.")
    c = min(int(n_candidates), rn.shape[1])
    return int(np.argmax(rn[:, :c].mean(axis=0)))


def primary_window(resid_norm: np.ndarray, p: int) -> tuple[int, int]:
    """Primary window [start, end): the layers where p carries its massive norm (docs/method.md §2).

    n_l = ||h_p^l||, d_l = n_{l+1} - n_l (l = 0..L-2);
    start = argmax_l d_l + 1 (the layer after the largest jump);
    end = (argmin_{l >= start} d_l) + 1, i.e. start + argmin(d[start:]) + 1 (the last layer before
    the largest drop that follows, inclusive, is end - 1). Applied to the letter: no check that the
    minimum is negative.

    Guards: L == 1 -> (0, 1); start == L - 1 (the largest jump is into the last layer, so d[start:]
    is empty) -> end = L. Ties go to the earlier layer. Always 0 <= start < end <= L.

    Shapes:
        resid_norm: [L, T] ||h_t^l||.

    Raises:
        InputError: `resid_norm` is not [L, T], or p is outside the prompt.
    """
    rn = np.asarray(resid_norm, dtype=np.float64)
    if rn.ndim != 2:
        raise InputError(f"resid_norm must have shape [L, T], got {rn.shape}.")
    n_layers = rn.shape[0]
    if not 0 <= p < rn.shape[1]:
        raise InputError(f"primary position p={p} is outside the prompt (T={rn.shape[1]}).")
    if n_layers < 2:
        return 0, n_layers
    n = rn[:, p]
    d = np.diff(n)
    start = int(np.argmax(d)) + 1
    tail = d[start:]
    if tail.size == 0:
        return start, n_layers
    end = start + int(np.argmin(tail)) + 1
    return start, end


def sink_like(cos: np.ndarray, tau: float, strict: bool = False) -> np.ndarray:
    """Sink-likeness: |cos(h_t^l, h_p^l)| >= tau (docs/method.md §2).

    With `strict`, |cos| > tau (the published code's test, paper mode §3). The sign is deliberately
    dropped here; anti-aligned tokens (cos <= -tau) count as sink-like and are flagged from the
    signed cosine (`np.sign(cos)`, see `Detection.cos`). NaN cosines (zero vectors) are never
    sink-like.

    Shapes:
        cos: [L, T] signed cosine to the primary.
        returns: [L, T] bool.
    """
    c = np.asarray(cos, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.abs(c) > tau if strict else np.abs(c) >= tau


def _longest_run(layers: np.ndarray) -> int:
    """Longest run of consecutive entries (callers pass ranks among the attention layers)."""
    if layers.size == 0:
        return 0
    breaks = np.flatnonzero(np.diff(layers) != 1)
    bounds = np.concatenate(([-1], breaks, [layers.size - 1]))
    return int(np.diff(bounds).max())


def _ratio(num: float, den: float) -> float:
    if not np.isfinite(num) or not np.isfinite(den):
        return float("nan")
    if den == 0.0:
        return float("inf") if num > 0 else float("nan")
    return float(num / den)


def mass_share(ls: np.ndarray, n_queries: np.ndarray) -> np.ndarray:
    """Each key's share of its layer's attention mass (docs/method.md §1 "Attention mass").

        M_t^l = n_t^l s_t^l = (1/H) sum_h sum_{i sees t} A_{i,t}^{l,h}    (the mass key t receives)
        share_t^l = M_t^l / sum_j M_j^l

    Shapes:
        ls: [L, T] layer scores s_t^l.
        n_queries: [L, T] the queries n_t^l that see each key.
        returns: [L, T] float64; NaN in a layer without attention probabilities (NaN scores) or
            without mass.
    """
    mass = np.asarray(ls, dtype=np.float64) * np.asarray(n_queries, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = mass.sum(axis=1, keepdims=True)
        return np.where(total > 0, mass / np.where(total > 0, total, 1.0), np.nan)


@dataclass(eq=False)
class Detection:
    """Result of `detect` for one prompt.

    p             primary position.
    window        primary window [start, end) (docs/method.md §2).
    n_layers, n_tokens
    cos           signed cosine to the primary used by the detector, [L, T] (raw or centred; in paper
                  mode its last layer is the last hidden state's, `paper_states`).
    sink_like     |cos| >= tau, [L, T] (all layers; column p is False).
    scanned       sink_like restricted to the scanned layers (window in paper mode, all layers in
                  general mode): S_t = {l : scanned[l, t]}.
    layer_scores  s_t^l, [L, T];  head_fraction  F_t^l(eps), [L, T].
    baseline      b_t^l (see `scores.baseline_scores`), [L, T].
    classifiable  bool [T] (min over attention layers of n_queries >= min_queries).
    attention_layers  bool [L]: layers with attention probabilities (all but a hybrid's Mamba /
                  convolution blocks, docs/method.md §11); the others are never scanned.
    records       DataFrame, one row per token with non-empty S_t plus the primary (columns
                  `RECORD_COLUMNS`, sorted by position).
    config        the DetectConfig that produced it.
    """

    p: int
    window: tuple[int, int]
    n_layers: int
    n_tokens: int
    cos: np.ndarray
    sink_like: np.ndarray
    scanned: np.ndarray
    layer_scores: np.ndarray
    head_fraction: np.ndarray
    baseline: np.ndarray
    classifiable: np.ndarray
    records: pd.DataFrame
    config: DetectConfig = field(default_factory=DetectConfig)
    attention_layers: np.ndarray | None = None

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def secondary(self) -> pd.DataFrame:
        """Records of kind 'secondary'."""
        return self.records[self.records["kind"] == "secondary"]

    def alive(self, positions: np.ndarray | list[int]) -> np.ndarray:
        """Whether each of `positions` is in its S_t at each layer (docs/method.md §3).

        Shapes:
            positions: [N] token positions, N = number of positions.
            returns: [L, N] bool.
        """
        return self.scanned[:, np.asarray(positions, dtype=int)]


def _validate_trace(pt: PromptTrace) -> None:
    L, H, T = np.asarray(pt.scores).shape
    expect = {
        "n_queries": (L, T),
        "resid_norm": (L, T),
    }
    for name, shape in expect.items():
        got = np.asarray(getattr(pt, name)).shape
        if got != shape:
            raise InputError(
                f"PromptTrace.{name} has shape {got}, expected {shape} (from scores {(L, H, T)})."
            )
    for name in ("resid_cos", "resid_cos_centred"):
        got = np.asarray(getattr(pt, name)).shape
        if len(got) != 3 or got[0] != L or got[2] != T or got[1] < 1:
            raise InputError(f"PromptTrace.{name} has shape {got}, expected [{L}, C, {T}] with C >= 1.")
    if len(pt.tokens) != T or np.asarray(pt.token_ids).shape != (T,):
        raise InputError(f"PromptTrace tokens/token_ids must have length T={T}.")


def detect(pt: PromptTrace, cfg: DetectConfig | None = None) -> Detection:
    """Find the primary sink and classify every sink-like token (docs/method.md §2, §3).

    0. States. General mode: the block outputs (n = resid_norm, cosines resid_cos /
       resid_cos_centred). Paper mode: the published code's states, `paper_states` (HF's
       hidden_states[1:], the last layer being the final norm's output).
    1. p = `primary_position(n, C)`; window = `primary_window(n, p)`. General mode:
       C = min(cfg.n_candidates, candidates captured in `resid_cos`). Paper mode: C =
       PAPER_CANDIDATES[pt.chat] (3 with a chat template, 2 without; cfg.n_candidates is not used),
       refused when the capture holds fewer of them.
    2. cos = cosines[:, p, :] (the centred ones when cfg.cosine == "centred"); sink-like where
       |cos| >= tau (paper mode: |cos| > tau, strict, as published). Scanned layers: the window
       (paper mode) or all (general).
    3. For each t != p with S_t = {scanned layers where t is sink-like} non-empty:
       birth = min S_t, death = max S_t, lifetime = |S_t|, longest_run = longest contiguous run,
       coverage = |S_t ∩ window| / |window|, mean_score / peak_score = mean / max of s_t^l over
       S_t, baseline = mean of b_t^l over S_t, score_ratio = mean_score / baseline,
       anti_aligned = (#{l in S_t : cos < 0} > |S_t| / 2), n_queries = min_l n_queries[l, t],
       rel_birth = birth / (L - 1) (0 for L = 1), the relative depth used everywhere (the
       `rel_depth` of layers.parquet, the findings, the reproduction), attention_share = mean over
       S_t of the key's share of its layer's attention mass (`mass_share`).
    4. Classes.
       paper mode (to the letter of the paper): lifetime >= L - paper_margin -> 'primary'
       (primary-like); else paper_noise_max < lifetime -> 'secondary'; else 'noise'. The
       primary-like test comes first, so where the ranges overlap (L - 15 <= 4, e.g. L = 18)
       nothing can be secondary. No min_queries rule (the paper has none).
       general mode: min_l n_queries < min_queries -> 'unclassified'; else 'primary' if
       coverage >= primary_cover AND score_ratio >= k; else 'secondary' if
       lifetime >= cfg.min_secondary_lifetime(L) AND score_ratio >= k; else 'noise'.
       Deviation from the literal §3 text: primary-like also needs score_ratio >= k, because
       cosine to the primary alone is not evidence of a sink (docs/method.md pitfalls, Gemma3: most
       tokens share the primary's direction). A NaN ratio (empty baseline pool) never confirms.
    5. The primary p gets its own row: kind 'primary', is_primary_position True,
       birth/death = window start / end - 1, lifetime = longest_run = window length, scores and
       baseline over the window layers.

    Baseline pool exclusion: keys sink-like at that layer (any layer, scanned or not) and p.

    Hybrids (docs/method.md §11): everything above runs on the sub-sequence of layers that have
    attention probabilities (`scores.attention_layers`), reported with their original indices: S_t
    holds attention layers only, L in the class thresholds is their number, runs are consecutive
    in that sub-sequence, coverage is over the window's attention layers, n_queries and the
    baseline pool are taken over them. The primary window (a residual-norm quantity) and
    rel_birth = birth / (L - 1) keep the model's depth.
    """
    cfg = cfg or DetectConfig()
    _validate_trace(pt)
    ls = layer_scores(pt.scores)
    n_layers, n_tokens = ls.shape
    att = attention_layers(pt.scores)
    n_att = int(att.sum())
    if n_att == 0:
        raise InputError("detect: no layer of the trace has attention probabilities (all scores are NaN).")
    rank = np.cumsum(att) - 1  # position of each attention layer in the sub-sequence
    paper = cfg.mode == "paper"
    if paper:
        norms, cos_all = paper_states(pt, centred=cfg.cosine == "centred")
        n_cand = min(PAPER_CANDIDATES[bool(pt.chat)], n_tokens)
        if cos_all.shape[1] < n_cand:
            raise InputError(
                f"paper mode chooses the primary among the first {n_cand} positions, but the capture holds "
                f"cosines to {cos_all.shape[1]} candidate(s); capture again with n_candidates >= {n_cand}."
            )
    else:
        norms = np.asarray(pt.resid_norm)
        cos_all = np.asarray(pt.resid_cos_centred if cfg.cosine == "centred" else pt.resid_cos)
        n_cand = min(cfg.n_candidates, cos_all.shape[1])
    p = primary_position(norms, n_cand)
    start, end = primary_window(norms, p)
    in_window = np.zeros(n_layers, dtype=bool)
    in_window[start:end] = True

    cos = np.asarray(cos_all, dtype=np.float64)[:, p, :]
    like = sink_like(cos, cfg.tau, strict=paper)
    like[:, p] = False
    scan_layers = (in_window if paper else np.ones(n_layers, dtype=bool)) & att
    scanned = like & scan_layers[:, None]
    window_att = max(int((in_window & att).sum()), 1)

    nq = np.asarray(pt.n_queries)
    ok = classifiable(nq[att], cfg.min_queries)
    nq_min = nq[att].min(axis=0)
    exclude = like.copy()
    exclude[:, p] = True
    base = np.full(ls.shape, np.nan)
    base[att] = baseline_scores(ls[att], exclude[att], nq[att], cfg.baseline, min_queries=cfg.min_queries)
    hf = head_fraction(pt.scores, cfg.eps)
    share = mass_share(ls, nq)
    min_life = cfg.min_secondary_lifetime(n_att)

    rows: list[dict] = []
    token_ids = np.asarray(pt.token_ids)

    def base_row(t: int, layers: np.ndarray) -> dict:
        mean_score = float(ls[layers, t].mean())
        baseline = float(np.nanmean(base[layers, t])) if np.isfinite(base[layers, t]).any() else float("nan")
        return {
            "position": t,
            "token": str(pt.tokens[t]),
            "token_id": int(token_ids[t]),
            "birth": int(layers[0]),
            "death": int(layers[-1]),
            "lifetime": int(layers.size),
            "longest_run": _longest_run(rank[layers]),
            "coverage": float(in_window[layers].sum() / window_att),
            "mean_score": mean_score,
            "peak_score": float(ls[layers, t].max()),
            "baseline": baseline,
            "score_ratio": _ratio(mean_score, baseline),
            "attention_share": float(np.nanmean(share[layers, t])) if np.isfinite(share[layers, t]).any()
            else float("nan"),
            "n_queries": int(nq_min[t]),
            "rel_birth": float(layers[0] / (n_layers - 1)) if n_layers > 1 else 0.0,
        }

    for t in range(n_tokens):
        if t == p:
            win_layers = np.arange(start, end)
            row = base_row(t, win_layers[att[win_layers]] if att[start:end].any() else win_layers)
            row.update(kind="primary", is_primary_position=True, primary_like=True, anti_aligned=False)
            rows.append(row)
            continue
        layers = np.flatnonzero(scanned[:, t])
        if layers.size == 0:
            continue
        row = base_row(t, layers)
        life, ratio = row["lifetime"], row["score_ratio"]
        confirmed = bool(ratio >= cfg.k)  # NaN never confirms; inf (zero baseline) does
        if paper:
            if life >= n_att - cfg.paper_margin:
                kind = "primary"
            elif life > cfg.paper_noise_max:
                kind = "secondary"
            else:
                kind = "noise"
        elif not ok[t]:
            kind = "unclassified"
        elif row["coverage"] >= cfg.primary_cover and confirmed:
            kind = "primary"
        elif life >= min_life and confirmed:
            kind = "secondary"
        else:
            kind = "noise"
        n_neg = int((cos[layers, t] < 0).sum())
        row.update(
            kind=kind,
            is_primary_position=False,
            primary_like=kind == "primary",
            anti_aligned=bool(n_neg * 2 > layers.size),
        )
        rows.append(row)

    records = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    records = records.astype(dtypes("detection"))
    records = records.sort_values("position", kind="stable").reset_index(drop=True)
    return Detection(
        p=p,
        window=(start, end),
        n_layers=n_layers,
        n_tokens=n_tokens,
        cos=cos,
        sink_like=like,
        scanned=scanned,
        layer_scores=ls,
        head_fraction=hf,
        baseline=base,
        classifiable=ok,
        records=records,
        config=cfg,
        attention_layers=att,
    )
