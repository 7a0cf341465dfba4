"""Anatomy of formation: which MLP-input directions make block b's MLP write the sink direction
(METHOD.md §9).

At a birth layer b, with x_t = the input the MLP of block b reads at token t (the normed residual)
and f = that block's MLP alone (x -> m, `capture.probe.LayerMlp`):

    S = {x_t : t a secondary sink born at b},   N = {x_t : same token ids, never sink-like}
    d = mean(S) - mean(N)                                     the sink-vs-non-sink difference
    x_p = MLP input at the primary position p;  m_p = m_p^b (the primary's MLP output, mlp_cand)

Contrast
    cos_diff_primary    = cos(d, x_p)                         (the primary direction in input space)
    cos_mlp_shift       = cos(f(mean S) - f(mean N), m_p)     (the difference pushed through f)
    cos_mlp_of_diff     = cos(f(d), m_p)                      (d alone through f)
Linear probe
    L2-regularised, class-balanced logistic regression on z-scored inputs (scipy L-BFGS; no
    scikit-learn), held-out accuracy from stratified k-fold CV, or leave-one-out when the smaller
    class has fewer than k members; seeded.
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
    ("largest"). The paper (METHOD §9) finds 15 such signed directions at layer 22 of
    DeepSeek-R1-Distill-Qwen-14B, e.g. +PC1: norm 8.8, cos +0.992.

`anatomy_core` is the model-free part (arrays and a callable f), `anatomy` gathers the inputs from
a scan's prompts through the probe hooks and calls it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable, write_dir_atomic

AlphaUnit = Literal["input_norm", "pc_std", "absolute"]
EffectiveAt = Literal["any", "largest"]
Contrast = Literal["never_sink_like", "not_secondary"]
Base = Literal["pooled", "non_sink"]

MlpFn = Callable[[np.ndarray], np.ndarray]

_EPS = 1e-12
LOO_MAX = 300  # leave-one-out above this many samples would mean too many fits


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


@dataclass(frozen=True)
class AnatomyConfig:
    """Options of §9 (all written to anatomy.json).

    n_pcs         top principal components analysed (clipped to the data's rank).
    alphas        the alpha grid (non-negative; each signed direction uses +alpha and -alpha).
    alpha_unit    what alpha multiplies: "input_norm" (median ||x|| of the pooled inputs, default),
                  "pc_std" (sqrt of the component's variance) or "absolute".
    base          the point the directions are added to: "pooled" mean (the PCA centre, default)
                  or the "non_sink" mean.
    threshold     |cos(f(.), m_p)| above which a signed direction is effective (0.98).
    effective_at  "any" alpha > 0 of the grid (default) or only the "largest".
    probe_folds   k of the stratified k-fold probe CV; leave-one-out below k per class.
    probe_l2      L2 penalty of the logistic regression (on z-scored inputs): loss =
                  sum_i w_i logloss_i / sum_i w_i + probe_l2 / 2 * ||beta||^2 / n.
    seed          fold assignment seed (and of the contrast subsample).
    max_non_sink  at most this many contrast inputs (a seeded random subset; None: all).
    contrast      "never_sink_like" (default: same token ids never sink-like at any layer) or
                  "not_secondary" (same token ids that are not secondary sinks).
    """

    n_pcs: int = 10
    alphas: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    alpha_unit: AlphaUnit = "input_norm"
    base: Base = "pooled"
    threshold: float = 0.98
    effective_at: EffectiveAt = "any"
    probe_folds: int = 5
    probe_l2: float = 1.0
    seed: int = 0
    contrast: Contrast = "never_sink_like"
    max_non_sink: int | None = 2000

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> InputError:
            return InputError(f"AnatomyConfig.{name}={getattr(self, name)!r} is invalid: {name} must be {allowed}.")

        if not (isinstance(self.n_pcs, int) and not isinstance(self.n_pcs, bool) and self.n_pcs >= 1):
            raise bad("n_pcs", "an integer >= 1")
        alphas = tuple(float(a) for a in self.alphas)
        if not alphas or any(not math.isfinite(a) or a < 0 for a in alphas) or not any(a > 0 for a in alphas):
            raise bad("alphas", "a non-empty list of finite numbers >= 0 with at least one > 0")
        object.__setattr__(self, "alphas", tuple(sorted(set(alphas))))
        if self.alpha_unit not in ("input_norm", "pc_std", "absolute"):
            raise bad("alpha_unit", "one of 'input_norm', 'pc_std', 'absolute'")
        if self.base not in ("pooled", "non_sink"):
            raise bad("base", "one of 'pooled', 'non_sink'")
        if not (0.0 < float(self.threshold) <= 1.0):
            raise bad("threshold", "a number in (0, 1]")
        if self.effective_at not in ("any", "largest"):
            raise bad("effective_at", "one of 'any', 'largest'")
        if not (isinstance(self.probe_folds, int) and self.probe_folds >= 2):
            raise bad("probe_folds", "an integer >= 2")
        if not (math.isfinite(float(self.probe_l2)) and self.probe_l2 >= 0):
            raise bad("probe_l2", "a number >= 0")
        if self.contrast not in ("never_sink_like", "not_secondary"):
            raise bad("contrast", "one of 'never_sink_like', 'not_secondary'")
        if self.max_non_sink is not None and not (isinstance(self.max_non_sink, int) and self.max_non_sink >= 1):
            raise bad("max_non_sink", "None or an integer >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alphas"] = list(self.alphas)
        return d


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
    method: str
    n_folds: int
    n_sink: int
    n_non_sink: int
    cos_primary_input: float
    cos_diff: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fit_logistic(X: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Class-balanced L2 logistic regression on z-scored X. Returns (beta, bias, mean, std)."""
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    Z = (X - mu) / sd
    n, D = Z.shape
    n1 = max(int(y.sum()), 1)
    n0 = max(n - int(y.sum()), 1)
    w = np.where(y == 1, n / (2.0 * n1), n / (2.0 * n0))
    wsum = w.sum()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, b = theta[:D], theta[D]
        z = Z @ beta + b
        # log(1 + exp(-s z)) with s = 2y - 1, stable
        s = 2.0 * y - 1.0
        m = -s * z
        ll = np.logaddexp(0.0, m)
        sig = np.exp(m - ll)  # sigmoid(m)
        val = float((w * ll).sum() / wsum + 0.5 * l2 * (beta @ beta) / n)
        g = -(w * s * sig) / wsum
        grad = np.concatenate([Z.T @ g + l2 * beta / n, [g.sum()]])
        return val, grad

    res = minimize(loss, np.zeros(D + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:D], float(res.x[D]), mu, sd


def _predict(model: tuple[np.ndarray, float, np.ndarray, np.ndarray], X: np.ndarray) -> np.ndarray:
    beta, b, mu, sd = model
    return (((X - mu) / sd) @ beta + b > 0).astype(int)


def linear_probe(
    x_sink: np.ndarray,
    x_non: np.ndarray,
    *,
    folds: int = 5,
    l2: float = 1.0,
    seed: int = 0,
    x_primary: np.ndarray | None = None,
) -> ProbeResult | None:
    """Held-out probe accuracy (see `ProbeResult`); None when a class has fewer than 2 samples.

    Stratified k-fold (k = `folds`) when both classes have at least k members, else leave-one-out
    (n fits) when there are at most `LOO_MAX` samples, else stratified k-fold with k = the smaller
    class's size. Folds are assigned by a seeded permutation within each class.
    """
    xs = np.asarray(x_sink, dtype=np.float64)
    xn = np.asarray(x_non, dtype=np.float64)
    n1, n0 = len(xs), len(xn)
    if min(n1, n0) < 2:
        return None
    X = np.concatenate([xs, xn])
    y = np.concatenate([np.ones(n1, int), np.zeros(n0, int)])
    n = len(y)
    rng = np.random.default_rng(seed)
    if min(n1, n0) >= folds or n > LOO_MAX:
        k = min(folds, n1, n0)  # a small class with many samples overall: k = its size (>= 2)
        fold = np.empty(n, dtype=int)
        for cls in (0, 1):
            idx = np.flatnonzero(y == cls)
            idx = idx[rng.permutation(idx.size)]
            fold[idx] = np.arange(idx.size) % k
        method = "stratified-k-fold"
    else:
        fold = np.arange(n)
        method, k = "leave-one-out", n
    pred = np.empty(n, dtype=int)
    for f in range(k):
        test = fold == f
        model = _fit_logistic(X[~test], y[~test], l2)
        pred[test] = _predict(model, X[test])
    acc = float((pred == y).mean())
    recalls = [float((pred[y == c] == c).mean()) for c in (0, 1)]
    beta, _, _, sd = _fit_logistic(X, y, l2)
    direction = beta / sd
    d = xs.mean(axis=0) - xn.mean(axis=0)
    return ProbeResult(
        accuracy=acc,
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
    """METHOD.md §9 at one birth layer.

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
    samples      one row per gathered input (group "sink" / "non-sink"; with the model: prompt,
                 position, token, token_id, mlp_norm, mlp_cos_primary = cos(f(x_t), m_p)).
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

    def save(self, path: str | Path, overwrite: bool = False, extra: Callable[[Path], None] | None = None) -> Path:
        """Write DIR/anatomy.json, pcs.parquet, curves.parquet, directions.parquet, samples.parquet
        atomically (a temporary sibling folder renamed into place). `extra(tmp_dir)` may add files
        (the CLI adds the HTML fragment and the figures) before the rename."""
        def write(tmp: Path) -> None:
            (tmp / "anatomy.json").write_text(json.dumps(self.to_dict(), indent=2))
            self.pcs.to_parquet(tmp / "pcs.parquet", index=False)
            self.curves.to_parquet(tmp / "curves.parquet", index=False)
            self.directions.to_parquet(tmp / "directions.parquet", index=False)
            self.samples.to_parquet(tmp / "samples.parquet", index=False)
            if extra is not None:
                extra(tmp)

        return write_dir_atomic(path, write, overwrite=overwrite)


# ---- the model-free core ----------------------------------------------------------------------------
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
    """§9 on bare arrays: x_sink [Ns, D], x_non [Nn, D] (MLP inputs), `mlp` the block's MLP alone
    (numpy [N, D] -> [N, D]), x_primary [D] (the primary's MLP input), m_primary [D] (its MLP
    output m_p^b). Formulas in the module docstring."""
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
    mean_s, mean_n = xs.mean(axis=0), xn.mean(axis=0)
    d = mean_s - mean_n
    base = mu if cfg.base == "pooled" else mean_n
    input_norm = float(np.median(np.linalg.norm(X, axis=1)))

    # contrast (one batched call through the MLP)
    probe_pts = np.stack([mean_s, mean_n, d, base])
    fs, fn, fd, fb = f(probe_pts)
    f_all = f(X)
    cos_all = _cos_rows(f_all, mp)
    norm_all = np.linalg.norm(f_all, axis=1)
    contrast = ContrastStats(
        diff_norm=float(np.linalg.norm(d)),
        cos_diff_primary=_cos(d, xp),
        cos_mlp_shift=_cos(fs - fn, mp),
        cos_mlp_of_diff=_cos(fd, mp),
        sink_mlp_cos=float(np.nanmean(cos_all[: len(xs)])),
        non_sink_mlp_cos=float(np.nanmean(cos_all[len(xs):])),
        sink_mlp_norm=float(norm_all[: len(xs)].mean()),
        non_sink_mlp_norm=float(norm_all[len(xs):].mean()),
        base_norm=float(np.linalg.norm(fb)),
        base_cos=_cos(fb, mp),
        input_norm=input_norm,
    )

    probe = linear_probe(xs, xn, folds=cfg.probe_folds, l2=cfg.probe_l2, seed=cfg.seed, x_primary=xp)
    probe_reason = None if probe is not None else (
        f"a linear probe needs at least 2 samples per class (got {len(xs)} sinks, {len(xn)} non-sinks)."
    )

    # PCA of the mean-centred pooled inputs
    Xc = X - mu
    _, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    var = S**2 / max(len(X) - 1, 1)
    total = float(var.sum())
    rank = int((S > S.max(initial=0.0) * 1e-9).sum()) if S.size else 0
    k = min(cfg.n_pcs, rank)
    dn = np.linalg.norm(d)
    pc_rows, curve_rows, dir_rows = [], [], []
    grid = np.asarray(cfg.alphas, dtype=np.float64)
    for j in range(k):
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
            name = f"{'+' if sign > 0 else '-'}PC{j + 1}"
            steps = sign * grid * unit
            Y = f(base[None, :] + steps[:, None] * u[None, :])
            cosy = _cos_rows(Y, mp)
            normy = np.linalg.norm(Y, axis=1)
            delta = Y - fb[None, :]
            for a, st, yn, yc, dl, dc in zip(grid, steps, normy, cosy, np.linalg.norm(delta, axis=1), _cos_rows(delta, mp)):
                curve_rows.append({
                    "direction": name, "pc": j + 1, "sign": sign, "alpha": float(a), "step": float(abs(st)),
                    "out_norm": float(yn), "cos_primary_mlp": float(yc), "delta_norm": float(dl),
                    "cos_delta": float(dc) if a > 0 else float("nan"),
                })
            pos = grid > 0
            abs_cos = np.where(np.isfinite(cosy), np.abs(cosy), -1.0)
            if cfg.effective_at == "largest":
                i = int(np.flatnonzero(pos)[-1])
            else:
                cand = np.flatnonzero(pos)
                i = int(cand[np.argmax(abs_cos[cand])])
            last = int(np.flatnonzero(pos)[-1])
            dir_rows.append({
                "direction": name, "pc": j + 1, "sign": sign,
                "effective": bool(abs_cos[i] > cfg.threshold),
                "alpha": float(grid[i]), "out_norm": float(normy[i]), "cos_primary_mlp": float(cosy[i]),
                "max_abs_cos": float(abs_cos[pos].max()) if pos.any() else float("nan"),
                "cos_at_largest": float(cosy[last]), "norm_at_largest": float(normy[last]),
                "diff_cos": sign * diff_cos, "diff_share": diff_cos**2 if math.isfinite(diff_cos) else float("nan"),
            })

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


# ---- on a scan ---------------------------------------------------------------------------------------
def birth_layer_counts(sinks: pd.DataFrame) -> dict[int, int]:
    """{birth layer: number of secondary sinks born there} of a sinks table."""
    sec = sinks[sinks["kind"] == "secondary"]
    return {int(k): int(v) for k, v in sec["birth"].value_counts().sort_index().items()}


def resolve_layer(res: Any, layer: int | None) -> int:
    """The birth layer to dissect: `layer` checked against the run (InputError when out of range or
    when no secondary sink is born there, naming the birth layers that exist), or, when None, the
    birth layer with the most secondary sinks (ties: the earliest)."""
    n_layers = int(res.findings.n_layers)
    counts = birth_layer_counts(res.sinks)
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


def _load(res_or_run_dir: Any):
    from sinkscope.workflows.scan import ScanResult

    if isinstance(res_or_run_dir, (str, Path)):
        d = Path(res_or_run_dir)
        if not d.exists():
            raise InputError(f"run folder '{d}' not found; pass a folder written by `sinkscope scan --out`.")
        if not d.is_dir():
            raise InputError(f"'{d}' is not a folder; pass a folder written by `sinkscope scan --out`.")
        return ScanResult.load(d), str(d)
    return res_or_run_dir, None


def anatomy(
    lm: Any,
    res_or_run_dir: Any,
    layer: int | None = None,
    *,
    config: AnatomyConfig | None = None,
    **options: Any,
) -> AnatomyResult:
    """§9 on a scan: `anatomy(lm, res_or_run_dir, layer=b)`.

    `res_or_run_dir` is a `ScanResult` or a scan output folder. `layer` is the birth layer b
    (default: the birth layer with the most secondary sinks). Options are `AnatomyConfig` fields
    (or pass `config`). Only the prompts that hold a secondary sink born at b are re-run, each up to
    block b (`capture.probe.gather_mlp_io`), gathering x_t at:
      sinks      secondary sinks born at b;
      contrast   positions of the same token ids (pooled over those sinks) in the same prompts that
                 are never sink-like (config.contrast "never_sink_like") or not secondary sinks
                 ("not_secondary"); the primary position is always excluded;
      primary    the primary position p of each prompt: x_p = mean over prompts of x_p;
                 m_p = mean over prompts of mlp_cand[b, p] from the scan.
    The MLP contributions the probe reads are checked against the scan's ||m_t^b|| (mlp_norm):
    a relative difference above 5% means the run came from another model or dtype (InputError).
    """
    from sinkscope.capture.probe import LayerMlp, gather_mlp_io

    if config is not None and options:
        raise InputError("anatomy: pass either `config` or option keywords, not both.")
    known = set(AnatomyConfig.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"anatomy: unknown option(s) {unknown}; known options are {sorted(known)}.")
    cfg = config or AnatomyConfig(**options)
    res, run_dir = _load(res_or_run_dir)
    n_layers = int(res.findings.n_layers)
    b = resolve_layer(res, layer)
    counts = birth_layer_counts(res.sinks)

    info = lm.info  # checked after the run-only errors, so those need no model
    mf = res.manifest.get("model", {}) if isinstance(res.manifest, dict) else {}
    if info.n_layers != n_layers or (mf.get("hidden_size") not in (None, info.hidden_size)):
        raise InputError(
            f"the run was made with a model of {n_layers} blocks (hidden size {mf.get('hidden_size')}, "
            f"'{mf.get('ref')}'), but {info.ref} has {info.n_layers} blocks (hidden size {info.hidden_size}); "
            "pass the model the run was made with."
        )

    sinks = res.sinks
    born = sinks[(sinks["kind"] == "secondary") & (sinks["birth"] == b)]
    token_set = {int(t) for t in born["token_id"].unique()}
    prompt_ids = sorted(int(i) for i in born["prompt"].unique())
    ids_list: list[list[int]] = []
    sink_pos_all: list[list[int]] = []
    non_pos_all: list[list[int]] = []
    x_primary_parts, m_primary_parts, primaries = [], [], []
    for i in prompt_ids:
        pt = res.prompts[i]
        det = res.findings.detections[i]
        p = int(det.p)
        sink_pos = sorted(int(t) for t in born.loc[born["prompt"] == i, "position"])
        tid = np.asarray(pt.token_ids)
        same = np.isin(tid, list(token_set))
        if cfg.contrast == "never_sink_like":
            excluded = np.asarray(det.sink_like, dtype=bool).any(axis=0)
        else:
            sec = sinks[(sinks["prompt"] == i) & (sinks["kind"] == "secondary")]["position"].to_numpy(dtype=int)
            excluded = np.zeros(len(tid), dtype=bool)
            excluded[sec] = True
        excluded[sink_pos] = True
        excluded[p] = True
        non_pos_all.append([int(t) for t in np.flatnonzero(same & ~excluded)])
        ids_list.append([int(t) for t in tid])
        sink_pos_all.append(sink_pos)
        primaries.append(p)
        if pt.mlp_cand is not None and p < np.asarray(pt.mlp_cand).shape[1] and np.isfinite(pt.mlp_cand[b, p]).all():
            m_primary_parts.append(np.asarray(pt.mlp_cand[b, p], dtype=np.float64))

    # the contrast set, subsampled (seeded) to at most max_non_sink inputs
    n_available = sum(len(v) for v in non_pos_all)
    if n_available == 0:
        raise InputError(
            f"no contrast tokens: the token ids of the sinks born at block {b} "
            f"({sorted(token_set)}) occur nowhere else in their prompts except as sinks; "
            "scan longer or more texts, or use contrast='not_secondary'."
        )
    if cfg.max_non_sink is not None and n_available > cfg.max_non_sink:
        flat = [(k, t) for k, v in enumerate(non_pos_all) for t in v]
        pick = np.sort(np.random.default_rng(cfg.seed).choice(len(flat), cfg.max_non_sink, replace=False))
        non_pos_all = [[] for _ in non_pos_all]
        for j in pick:
            non_pos_all[flat[j][0]].append(flat[j][1])
    pos_list, groups = [], []
    for sink_pos, non_pos, p in zip(sink_pos_all, non_pos_all, primaries):
        pos_list.append(sink_pos + non_pos + [p])
        groups.append(["sink"] * len(sink_pos) + ["non-sink"] * len(non_pos) + ["primary"])
    got = gather_mlp_io(lm, ids_list, b, pos_list)
    grp = np.concatenate([np.asarray(g) for g in groups])
    # consistency: the probe's ||m_t^b|| against the scan's
    ref = np.array([res.prompts[int(i)].mlp_norm[b, int(t)] for i, t in zip(got.prompt, got.position)], dtype=np.float64)
    mine = np.linalg.norm(got.m.astype(np.float64), axis=1)
    ok = np.isfinite(ref) & (ref > 0)
    rel_err = float(np.max(np.abs(mine[ok] - ref[ok]) / ref[ok])) if ok.any() else float("nan")
    if ok.any() and rel_err > 0.05:
        raise InputError(
            f"the MLP outputs at block {b} differ from the scan's by up to {rel_err:.0%}: the run was made "
            f"with another model or dtype than {info.ref} ({info.dtype}); pass the model the run was made with."
        )
    for i in prompt_ids:
        sel = (got.prompt == prompt_ids.index(i)) & (grp == "primary")
        x_primary_parts.append(got.x[sel][0].astype(np.float64))
    x_primary = np.mean(x_primary_parts, axis=0)
    if m_primary_parts:
        m_primary = np.mean(m_primary_parts, axis=0)
        m_source = "scan mlp_cand"
    else:
        m_primary = got.m[grp == "primary"].astype(np.float64).mean(axis=0)
        m_source = "probe"
    xs, xn = got.x[grp == "sink"], got.x[grp == "non-sink"]
    out = anatomy_core(xs, xn, LayerMlp(lm, b), x_primary, m_primary, cfg, layer=b)

    # samples with provenance, in the core's order (sinks, then non-sinks)
    order = np.concatenate([np.flatnonzero(grp == "sink"), np.flatnonzero(grp == "non-sink")])
    rows = []
    for r, j in enumerate(order):
        i = prompt_ids[int(got.prompt[j])]
        t = int(got.position[j])
        pt = res.prompts[i]
        rows.append({
            "prompt": i, "position": t, "token": str(pt.tokens[t]), "token_id": int(pt.token_ids[t]),
            "group": grp[j], "mlp_norm": float(out.samples["mlp_norm"].iloc[r]),
            "mlp_cos_primary": float(out.samples["mlp_cos_primary"].iloc[r]),
            "scan_mlp_norm": float(pt.mlp_norm[b, t]),
        })
    out.samples = pd.DataFrame(rows)
    out.meta = jsonable({
        "model": info.ref,
        "model_type": info.model_type,
        "dtype": info.dtype,
        "run_dir": run_dir,
        "layer": b,
        "n_layers": n_layers,
        "birth_layers": counts,
        "prompts": prompt_ids,
        "primary_positions": primaries,
        "token_ids": sorted(token_set),
        "tokens": sorted({str(res.prompts[i].tokens[t]) for i, t in zip(born["prompt"], born["position"])}),
        "m_primary_source": m_source,
        "m_primary_norm": float(np.linalg.norm(m_primary)),
        "x_primary_norm": float(np.linalg.norm(x_primary)),
        "max_rel_mlp_norm_error": rel_err,
        "n_non_sink_available": n_available,
    })
    return out


__all__ = [
    "CURVE_COLUMNS",
    "DIRECTION_COLUMNS",
    "PC_COLUMNS",
    "AnatomyConfig",
    "AnatomyResult",
    "ContrastStats",
    "ProbeResult",
    "anatomy",
    "anatomy_core",
    "birth_layer_counts",
    "linear_probe",
    "resolve_layer",
]
