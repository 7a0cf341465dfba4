"""Anatomy of formation: which MLP-input directions make block b's MLP write the sink direction
(docs/method.md §9). The model-free part: arrays in, tables out.

At a birth layer b, with x_t = the input the MLP of block b reads at token t (the normed residual)
and f = that block's MLP alone (x -> m; with a model, `capture.probe.LayerMlp`):

    S = {x_t : t a secondary sink born at b},   N = {x_t : same token ids, never sink-like}
    d = mean(S) - mean(N)                                     the sink-vs-non-sink difference
    x_p = MLP input at the primary position p;  m_p = m_p^b (the primary's MLP output, mlp_cand)

Contrast
    cos_diff_primary    = cos(d, x_p)                         (the primary direction in input space)
    cos_mlp_shift       = cos(f(mean S) - f(mean N), m_p)     (the difference pushed through f)
    cos_mlp_of_diff     = cos(f(d), m_p)                      (d alone through f)
Linear probe
    L2-regularised, class-balanced logistic regression on z-scored inputs (scikit-learn:
    `make_pipeline(StandardScaler(), LogisticRegression(C=1/l2, class_weight="balanced"))`),
    held-out accuracy from stratified k-fold CV, or leave-one-out when the smaller class has fewer
    than k members; seeded.
PCA of the mean-centred pooled inputs X = S u N, mu = mean(X), top k components u_1..u_k with
    explained variance lambda_j and ratio lambda_j / sum(lambda). Each u_j is oriented so that
    d . u_j >= 0 (+PCj points from non-sinks towards sinks). How much of d it explains:
    diff_cos_j = d . u_j / ||d||, diff_share_j = diff_cos_j^2 (the shares over all components sum
    to 1, since d lies in the span of the centred data).
Alpha curves: for every signed direction s u_j (s = +/-1) and alpha in the grid,
    y = f(mu + s * alpha * unit_j * u_j),  recorded: ||y||, cos(y, m_p), and for the change
    y - f(mu): its norm and cos with m_p. unit_j = median ||x|| ("input_norm", default),
    sqrt(lambda_j) ("pc_std") or 1 ("absolute").
Effective directions: |cos(y, m_p)| > threshold (0.98, the paper's) at some alpha > 0 of the grid
    ("any", default; the alpha with the largest |cos| is reported) or at the largest alpha
    ("largest"). The paper (docs/method.md §9) finds 15 such signed directions at layer 22 of
    DeepSeek-R1-Distill-Qwen-14B, e.g. +PC1: norm 8.8, cos +0.992.

`anatomy_core` is this module's entry point (arrays and a callable f). Gathering the inputs from
a scan's prompts, building f from the model and saving the result folder is the workflow's job
(`sinkscope.workflows.anatomy`); nothing here loads a model, runs a forward or writes a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sinkscope.analysis.config import AlphaUnit, AnatomyConfig, Base, Contrast, EffectiveAt  # noqa: F401 (re-exported)
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable

ProbeMethod = Literal["stratified-k-fold", "leave-one-out"]

MlpFn = Callable[[np.ndarray], np.ndarray]
"""f: MLP inputs [N, D] -> the block's MLP contributions [N, D] (numpy)."""

_EPS = 1e-12
LOO_MAX = 300  # leave-one-out above this many samples would mean too many fits
PROBE_MAX_ITER = 500  # L-BFGS iterations per fit (as the scipy probe before scikit-learn)
PROBE_TOL = 1e-6  # L-BFGS gradient tolerance (scikit-learn's 1e-4 leaves the weights ~3e-3 off the optimum)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na <= _EPS or nb <= _EPS:
        return float("nan")
    return float(a @ b / (na * nb))


def _cos_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).ravel()
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((na > _EPS) & (nb > _EPS), a @ b / np.maximum(na * nb, _EPS), np.nan)


# ---- linear probe -----------------------------------------------------------------------------
@dataclass
class ProbeResult:
    """Held-out linear probe separating sink inputs from same-token non-sink inputs (§9).

    accuracy            share of held-out predictions that are right.
    balanced_accuracy   mean of the per-class held-out recalls (0.5 = chance whatever the balance).
    chance              share of the larger class (accuracy of always guessing it).
    method              "stratified-k-fold" or "leave-one-out";  n_folds the number of fits.
    cos_primary_input   cos(beta', x_p), beta' = the probe's weights fitted on all samples mapped
                        back to input space (beta / feature std);  cos_diff = cos(beta', d).
    """

    accuracy: float
    balanced_accuracy: float
    chance: float
    method: ProbeMethod
    n_folds: int
    n_sink: int
    n_non_sink: int
    cos_primary_input: float
    cos_diff: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_model(l2: float = 1.0) -> Pipeline:
    """The probe: z-scoring then class-balanced L2 logistic regression (scikit-learn, L-BFGS).

    scikit-learn minimises 1/2 ||beta||^2 + C sum_i w_i logloss_i with the "balanced" class weights
    w_i = n / (2 n_class(i)) (so sum_i w_i = n) and an unpenalised intercept. Dividing by C n gives
    sum_i w_i logloss_i / sum_i w_i + 1 / (2 C) ||beta||^2 / n, which is the objective of
    `AnatomyConfig.probe_l2` (l2 / 2 ||beta||^2 / n) exactly when C = 1 / l2 (l2 = 0: C = inf, no
    penalty). Features with zero variance are left unscaled (StandardScaler's scale 1).
    """
    C = 1.0 / l2 if l2 > 0 else math.inf
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(C=C, class_weight="balanced", max_iter=PROBE_MAX_ITER, tol=PROBE_TOL),
    )


def linear_probe(
    x_sink: np.ndarray,
    x_non: np.ndarray,
    *,
    folds: int = 5,
    l2: float = 1.0,
    seed: int = 0,
    x_primary: np.ndarray | None = None,
) -> ProbeResult | None:
    """Held-out accuracy of a linear probe separating sink from non-sink MLP inputs (docs/method.md §9).

    The model is `probe_model(l2)`. Stratified k-fold (k = `folds`) when both classes have at least k
    members, else leave-one-out (n fits) when there are at most `LOO_MAX` samples, else stratified
    k-fold with k = the smaller class's size. The folds are
    `StratifiedKFold(k, shuffle=True, random_state=seed)`.

    Args:
        folds: k of the k-fold cross-validation; l2: the L2 penalty; seed: the folds' seed.

    Shapes:
        x_sink: [Ns, D] sink inputs, with Ns = number of sinks.
        x_non: [Nn, D] non-sink inputs, with Nn = number of non-sinks.
        x_primary: [D] the primary's MLP input (for `ProbeResult.cos_primary_input`), or None.

    Returns:
        A `ProbeResult`, or None when a class has fewer than 2 samples.
    """
    xs = np.asarray(x_sink, dtype=np.float64)
    xn = np.asarray(x_non, dtype=np.float64)
    n1, n0 = len(xs), len(xn)
    if min(n1, n0) < 2:
        return None
    X = np.concatenate([xs, xn])
    y = np.concatenate([np.ones(n1, int), np.zeros(n0, int)])
    n = len(y)
    method: ProbeMethod
    if min(n1, n0) >= folds or n > LOO_MAX:
        k = min(folds, n1, n0)  # a small class with many samples overall: k = its size (>= 2)
        cv: StratifiedKFold | LeaveOneOut = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        method = "stratified-k-fold"
    else:
        cv, method, k = LeaveOneOut(), "leave-one-out", n
    pred = cross_val_predict(probe_model(l2), X, y, cv=cv)
    recalls = [float((pred[y == c] == c).mean()) for c in (0, 1)]
    full = probe_model(l2).fit(X, y)
    scaler, logit = full[0], full[-1]
    direction = logit.coef_[0] / scaler.scale_
    d = xs.mean(axis=0) - xn.mean(axis=0)
    return ProbeResult(
        accuracy=float((pred == y).mean()),
        balanced_accuracy=float(np.mean(recalls)),
        chance=float(max(n1, n0) / n),
        method=method,
        n_folds=int(k),
        n_sink=n1,
        n_non_sink=n0,
        cos_primary_input=_cos(direction, x_primary) if x_primary is not None else float("nan"),
        cos_diff=_cos(direction, d),
    )


# ---- result -------------------------------------------------------------------------------------
@dataclass
class ContrastStats:
    """Sink vs same-token non-sink inputs at layer b (§9, "Contrast"; formulas in the module doc).

    diff_norm ||d||; cos_diff_primary cos(d, x_p); cos_mlp_shift cos(f(mean S) - f(mean N), m_p);
    cos_mlp_of_diff cos(f(d), m_p); sink_mlp_cos / non_sink_mlp_cos: mean over the samples of
    cos(f(x_t), m_p); sink_mlp_norm / non_sink_mlp_norm: mean ||f(x_t)||; base_norm / base_cos:
    ||f(base)|| and cos(f(base), m_p) for the alpha curves' base point (alpha = 0).
    """

    diff_norm: float
    cos_diff_primary: float
    cos_mlp_shift: float
    cos_mlp_of_diff: float
    sink_mlp_cos: float
    non_sink_mlp_cos: float
    sink_mlp_norm: float
    non_sink_mlp_norm: float
    base_norm: float
    base_cos: float
    input_norm: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PC_COLUMNS = (
    "pc", "explained_variance", "explained_ratio", "cumulative_ratio", "std", "diff_cos", "diff_share",
    "cos_primary_input",
)
CURVE_COLUMNS = (
    "direction", "pc", "sign", "alpha", "step", "out_norm", "cos_primary_mlp", "delta_norm", "cos_delta",
)
DIRECTION_COLUMNS = (
    "direction", "pc", "sign", "effective", "alpha", "out_norm", "cos_primary_mlp", "max_abs_cos",
    "cos_at_largest", "norm_at_largest", "diff_cos", "diff_share",
)


@dataclass(eq=False)
class AnatomyResult:
    """docs/method.md §9 at one birth layer.

    layer        the block b (None for `anatomy_core` on bare arrays).
    config       the AnatomyConfig.
    n_sink, n_non_sink
    contrast     `ContrastStats`.
    probe        `ProbeResult`, or None when a class has fewer than 2 samples (`probe_reason`).
    pcs          one row per component (`PC_COLUMNS`): pc (1-based), explained variance / ratio /
                 cumulative ratio, std = sqrt(variance), diff_cos = d.u/||d||, diff_share = diff_cos^2,
                 cos_primary_input = cos(u, x_p).
    curves       one row per (signed direction, alpha) (`CURVE_COLUMNS`): direction "+PC1", step =
                 alpha * unit (the length added), out_norm ||y||, cos_primary_mlp cos(y, m_p),
                 delta_norm ||y - f(base)||, cos_delta cos(y - f(base), m_p).
    directions   one row per signed direction (`DIRECTION_COLUMNS`): effective flag, the alpha
                 where |cos| is largest (or the largest alpha, `effective_at`) with its norm and
                 cos, and the share of d explained by that component.
    samples      one row per gathered input (group "sink" / "non-sink", mlp_norm = ||f(x_t)||,
                 mlp_cos_primary = cos(f(x_t), m_p); the workflow adds prompt, position, token,
                 token_id and scan_mlp_norm).
    meta         provenance (model, run folder, prompts, primary positions, consistency check).
    """

    layer: int | None
    config: AnatomyConfig
    n_sink: int
    n_non_sink: int
    contrast: ContrastStats
    probe: ProbeResult | None
    pcs: pd.DataFrame
    curves: pd.DataFrame
    directions: pd.DataFrame
    samples: pd.DataFrame
    probe_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def effective(self) -> pd.DataFrame:
        """The effective signed directions (|cos| > threshold), strongest share of d first."""
        eff = self.directions[self.directions["effective"]]
        return eff.sort_values(["diff_share", "pc"], ascending=[False, True], kind="stable")

    def summary(self) -> dict[str, Any]:
        """Headline numbers (JSON-safe)."""
        top = self.pcs.iloc[0] if len(self.pcs) else None
        out = {
            "layer": self.layer,
            "n_sink": self.n_sink,
            "n_non_sink": self.n_non_sink,
            "cos_diff_primary": self.contrast.cos_diff_primary,
            "cos_mlp_shift": self.contrast.cos_mlp_shift,
            "cos_mlp_of_diff": self.contrast.cos_mlp_of_diff,
            "probe_accuracy": self.probe.accuracy if self.probe else None,
            "probe_balanced_accuracy": self.probe.balanced_accuracy if self.probe else None,
            "probe_chance": self.probe.chance if self.probe else None,
            "probe_method": self.probe.method if self.probe else None,
            "probe_reason": self.probe_reason,
            "n_pcs": len(self.pcs),
            "top_pc_explained_ratio": float(top["explained_ratio"]) if top is not None else None,
            "top_pc_diff_share": float(top["diff_share"]) if top is not None else None,
            "n_effective": int(self.directions["effective"].sum()) if len(self.directions) else 0,
            "effective": [
                {"direction": r.direction, "alpha": r.alpha, "norm": r.out_norm, "cos": r.cos_primary_mlp,
                 "diff_share": r.diff_share}
                for r in self.effective.itertuples(index=False)
            ],
            "effective_diff_share": float(
                self.pcs.loc[self.pcs["pc"].isin(self.effective["pc"].unique()), "diff_share"].sum()
            ) if len(self.pcs) else 0.0,
        }
        return jsonable(out)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "layer": self.layer,
            "config": self.config.to_dict(),
            "summary": self.summary(),
            "contrast": self.contrast.to_dict(),
            "probe": self.probe.to_dict() if self.probe else None,
            "meta": self.meta,
        })

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The tables by name (the workflow writes each as NAME.parquet)."""
        return {"pcs": self.pcs, "curves": self.curves, "directions": self.directions, "samples": self.samples}


# ---- the model-free core ----------------------------------------------------------------------------
def _contrast(
    xs: np.ndarray, xn: np.ndarray, f: MlpFn, xp: np.ndarray, mp: np.ndarray, base: np.ndarray, input_norm: float
) -> tuple[ContrastStats, np.ndarray, np.ndarray, np.ndarray]:
    """`ContrastStats`, f(base), and per sample (sinks then non-sinks) ||f(x_t)|| and cos(f(x_t), m_p)."""
    mean_s, mean_n = xs.mean(axis=0), xn.mean(axis=0)
    d = mean_s - mean_n
    fs, fn, fd, fb = f(np.stack([mean_s, mean_n, d, base]))  # one batched call through the MLP
    f_all = f(np.concatenate([xs, xn]))
    cos_all = _cos_rows(f_all, mp)
    norm_all = np.linalg.norm(f_all, axis=1)
    ns = len(xs)
    stats = ContrastStats(
        diff_norm=float(np.linalg.norm(d)),
        cos_diff_primary=_cos(d, xp),
        cos_mlp_shift=_cos(fs - fn, mp),
        cos_mlp_of_diff=_cos(fd, mp),
        sink_mlp_cos=float(np.nanmean(cos_all[:ns])),
        non_sink_mlp_cos=float(np.nanmean(cos_all[ns:])),
        sink_mlp_norm=float(norm_all[:ns].mean()),
        non_sink_mlp_norm=float(norm_all[ns:].mean()),
        base_norm=float(np.linalg.norm(fb)),
        base_cos=_cos(fb, mp),
        input_norm=input_norm,
    )
    return stats, fb, norm_all, cos_all


def _signed_direction(
    f: MlpFn, u: np.ndarray, sign: int, j: int, unit: float, diff_cos: float,
    base: np.ndarray, fb: np.ndarray, mp: np.ndarray, cfg: AnatomyConfig,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The alpha curve rows (`CURVE_COLUMNS`) and the direction row (`DIRECTION_COLUMNS`) of s u_j."""
    name = f"{'+' if sign > 0 else '-'}PC{j + 1}"
    grid = np.asarray(cfg.alphas, dtype=np.float64)
    steps = sign * grid * unit
    Y = f(base[None, :] + steps[:, None] * u[None, :])
    cosy = _cos_rows(Y, mp)
    normy = np.linalg.norm(Y, axis=1)
    delta = Y - fb[None, :]
    curve = [
        {
            "direction": name, "pc": j + 1, "sign": sign, "alpha": float(a), "step": float(abs(st)),
            "out_norm": float(yn), "cos_primary_mlp": float(yc), "delta_norm": float(dl),
            "cos_delta": float(dc) if a > 0 else float("nan"),
        }
        for a, st, yn, yc, dl, dc in zip(grid, steps, normy, cosy, np.linalg.norm(delta, axis=1), _cos_rows(delta, mp))
    ]
    pos = np.flatnonzero(grid > 0)  # never empty (AnatomyConfig)
    abs_cos = np.where(np.isfinite(cosy), np.abs(cosy), -1.0)
    last = int(pos[-1])
    i = last if cfg.effective_at == "largest" else int(pos[np.argmax(abs_cos[pos])])
    share = diff_cos**2 if math.isfinite(diff_cos) else float("nan")
    row = {
        "direction": name, "pc": j + 1, "sign": sign,
        "effective": bool(abs_cos[i] > cfg.threshold),
        "alpha": float(grid[i]), "out_norm": float(normy[i]), "cos_primary_mlp": float(cosy[i]),
        "max_abs_cos": float(abs_cos[pos].max()),
        "cos_at_largest": float(cosy[last]), "norm_at_largest": float(normy[last]),
        "diff_cos": sign * diff_cos, "diff_share": share,
    }
    return curve, row


def anatomy_core(
    x_sink: np.ndarray,
    x_non: np.ndarray,
    mlp: MlpFn,
    x_primary: np.ndarray,
    m_primary: np.ndarray,
    config: AnatomyConfig | None = None,
    *,
    layer: int | None = None,
) -> AnatomyResult:
    """Anatomy of formation at one birth layer, on bare arrays (docs/method.md §9).

    Contrast, linear probe, PCA, alpha curves and effective directions; the formulas are in the
    module docstring.

    Args:
        mlp: the block's MLP alone, numpy [N, D] -> [N, D] (f of the module docstring).
        config: the thresholds and grids (`AnatomyConfig`; None = the defaults).
        layer: the birth layer b, recorded in the result.

    Shapes:
        x_sink: [Ns, D] MLP inputs of the sinks born at b, with Ns = number of sinks.
        x_non: [Nn, D] MLP inputs of the same-token non-sinks, with Nn = number of non-sinks.
        x_primary: [D] the primary's MLP input x_p.
        m_primary: [D] the primary's MLP output m_p^b.

    Returns:
        An `AnatomyResult`.

    Raises:
        InputError: the inputs are not [N, D] with one D, or the primary's vectors are not of length D.
    """
    cfg = config or AnatomyConfig()
    xs = np.asarray(x_sink, dtype=np.float64)
    xn = np.asarray(x_non, dtype=np.float64)
    if xs.ndim != 2 or xn.ndim != 2 or xs.shape[1] != xn.shape[1]:
        raise InputError(f"anatomy: sink inputs {xs.shape} and non-sink inputs {xn.shape} must be [N, D] with one D.")
    if len(xs) < 1 or len(xn) < 1:
        raise InputError(
            f"anatomy needs at least one sink and one non-sink input (got {len(xs)} and {len(xn)})."
        )
    D = xs.shape[1]
    xp = np.asarray(x_primary, dtype=np.float64).ravel()
    mp = np.asarray(m_primary, dtype=np.float64).ravel()
    if xp.shape != (D,) or mp.shape != (D,):
        raise InputError(f"anatomy: x_primary {xp.shape} and m_primary {mp.shape} must have length D={D}.")

    def f(x: np.ndarray) -> np.ndarray:
        return np.asarray(mlp(np.asarray(x, dtype=np.float32)), dtype=np.float64)

    X = np.concatenate([xs, xn])
    mu = X.mean(axis=0)
    d = xs.mean(axis=0) - xn.mean(axis=0)
    base = mu if cfg.base == "pooled" else xn.mean(axis=0)
    input_norm = float(np.median(np.linalg.norm(X, axis=1)))
    contrast, fb, norm_all, cos_all = _contrast(xs, xn, f, xp, mp, base, input_norm)

    probe = linear_probe(xs, xn, folds=cfg.probe_folds, l2=cfg.probe_l2, seed=cfg.seed, x_primary=xp)
    probe_reason = None if probe is not None else (
        f"a linear probe needs at least 2 samples per class (got {len(xs)} sinks, {len(xn)} non-sinks)."
    )

    # PCA of the mean-centred pooled inputs
    _, S, Vt = np.linalg.svd(X - mu, full_matrices=False)
    var = S**2 / max(len(X) - 1, 1)
    total = float(var.sum())
    rank = int((S > S.max(initial=0.0) * 1e-9).sum()) if S.size else 0
    dn = np.linalg.norm(d)
    pc_rows: list[dict[str, Any]] = []
    curve_rows: list[dict[str, Any]] = []
    dir_rows: list[dict[str, Any]] = []
    for j in range(min(cfg.n_pcs, rank)):
        u = Vt[j].astype(np.float64)
        if u @ d < 0:
            u = -u
        std = float(np.sqrt(var[j]))
        diff_cos = float(u @ d / dn) if dn > _EPS else float("nan")
        pc_rows.append({
            "pc": j + 1,
            "explained_variance": float(var[j]),
            "explained_ratio": float(var[j] / total) if total > 0 else float("nan"),
            "cumulative_ratio": float(var[: j + 1].sum() / total) if total > 0 else float("nan"),
            "std": std,
            "diff_cos": diff_cos,
            "diff_share": diff_cos**2 if math.isfinite(diff_cos) else float("nan"),
            "cos_primary_input": _cos(u, xp),
        })
        unit = {"input_norm": input_norm, "pc_std": std, "absolute": 1.0}[cfg.alpha_unit]
        for sign in (1, -1):
            curve, row = _signed_direction(f, u, sign, j, unit, diff_cos, base, fb, mp, cfg)
            curve_rows += curve
            dir_rows.append(row)

    samples = pd.DataFrame({
        "group": ["sink"] * len(xs) + ["non-sink"] * len(xn),
        "mlp_norm": norm_all,
        "mlp_cos_primary": cos_all,
    })
    return AnatomyResult(
        layer=layer,
        config=cfg,
        n_sink=len(xs),
        n_non_sink=len(xn),
        contrast=contrast,
        probe=probe,
        probe_reason=probe_reason,
        pcs=pd.DataFrame(pc_rows, columns=list(PC_COLUMNS)),
        curves=pd.DataFrame(curve_rows, columns=list(CURVE_COLUMNS)),
        directions=pd.DataFrame(dir_rows, columns=list(DIRECTION_COLUMNS)),
        samples=samples,
    )


# ---- birth layers of a sinks table --------------------------------------------------------------------
def birth_layer_counts(sinks: pd.DataFrame) -> dict[int, int]:
    """{birth layer: number of secondary sinks born there} of a sinks table."""
    sec = sinks[sinks["kind"] == "secondary"]
    return {int(k): int(v) for k, v in sec["birth"].value_counts().sort_index().items()}


def resolve_birth_layer(sinks: pd.DataFrame, n_layers: int, layer: int | None) -> int:
    """The birth layer to dissect, from a sinks table of a model with `n_layers` blocks: `layer`
    checked (InputError when out of range or when no secondary sink is born there, naming the birth
    layers that exist), or, when None, the birth layer with the most secondary sinks (ties: the
    earliest)."""
    counts = birth_layer_counts(sinks)
    if layer is None:
        if not counts:
            raise InputError("the run has no secondary sinks at all, so there is no birth layer to dissect.")
        return max(counts, key=lambda b: (counts[b], -b))
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= int(layer) < n_layers:
        raise InputError(f"layer {layer!r} is out of range: the model has blocks 0..{n_layers - 1}.")
    b = int(layer)
    if b not in counts:
        where = ", ".join(f"{k} ({v} sink{'s' if v != 1 else ''})" for k, v in counts.items())
        raise InputError(
            f"no secondary sinks are born at block {b} in this run; "
            + (f"secondary sinks are born at block(s) {where}." if counts else "the run has no secondary sinks at all.")
        )
    return b


__all__ = [
    "CURVE_COLUMNS",
    "DIRECTION_COLUMNS",
    "PC_COLUMNS",
    "AnatomyConfig",
    "AnatomyResult",
    "ContrastStats",
    "MlpFn",
    "ProbeResult",
    "anatomy_core",
    "birth_layer_counts",
    "linear_probe",
    "probe_model",
    "resolve_birth_layer",
]
