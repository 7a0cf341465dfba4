"""The norm law (docs/method.md §5): ||m_t^b|| sets a secondary sink's score and lifetime.

Across the secondary sinks of a run: Pearson and Spearman correlation of the MLP output norm at
birth with the mean sink score and with the lifetime, each with a seeded percentile-bootstrap 95%
interval, and a monotone (isotonic) fit plus a log-log least-squares slope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sinkscope.analysis.config import DEFAULTS
from sinkscope.core.errors import InputError

NAN = float("nan")


@dataclass(frozen=True)
class Correlation:
    """Correlation of x with y over n points.

    pearson, spearman       point estimates (scipy.stats.pearsonr / spearmanr).
    pearson_ci, spearman_ci percentile bootstrap 95% interval (n_boot resamples of the n pairs
                            with replacement, rng seeded; resamples where a variable is constant
                            are dropped). NaN where undefined; `reason` says why.
    ci_note                 None, or why the Spearman interval says nothing although the point
                            estimate exists: it collapsed to a point (width < 1e-9: few points,
                            tied values, every resample gives the same rank order) or fewer than
                            half of the resamples had a defined correlation ("n = 6, interval not
                            informative (...)").
    """

    x: str
    y: str
    n: int
    pearson: float = NAN
    pearson_ci: tuple[float, float] = (NAN, NAN)
    spearman: float = NAN
    spearman_ci: tuple[float, float] = (NAN, NAN)
    reason: str | None = None
    ci_note: str | None = None

    def to_dict(self) -> dict:
        return {
            "x": self.x,
            "y": self.y,
            "n": self.n,
            "pearson": self.pearson,
            "pearson_ci": list(self.pearson_ci),
            "spearman": self.spearman,
            "spearman_ci": list(self.spearman_ci),
            "reason": self.reason,
            "ci_note": self.ci_note,
        }


@dataclass(frozen=True)
class MonotoneFit:
    """Non-decreasing least-squares fit y ~ f(x) (isotonic regression, pool-adjacent-violators).

    x, y_fit   the sorted x values and the fitted values (same length as the data; ties in x are
               pooled first, so equal x get equal fit).
    r2         1 - SSE / SST of the isotonic fit (NaN if y is constant).
    loglog_slope, loglog_intercept  least squares of log y = a + b log x over points with x, y > 0
               (b is the power-law exponent; NaN with fewer than 3 such points or constant log x).
    """

    x: tuple[float, ...] = ()
    y_fit: tuple[float, ...] = ()
    r2: float = NAN
    loglog_slope: float = NAN
    loglog_intercept: float = NAN

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """The isotonic fit at x: step-wise linear interpolation, clamped at the ends (docs/method.md §5).

        Shapes:
            x: [N] or a scalar, with N = any number of points.
            returns: the shape of x, float64; NaN everywhere when the fit is empty.
        """
        if not self.x:
            return np.full(np.shape(x), np.nan)
        return np.interp(x, np.asarray(self.x), np.asarray(self.y_fit))


@dataclass(frozen=True)
class NormLaw:
    """docs/method.md §5 over n secondary sinks: mlp_norm vs mean_score and vs lifetime."""

    n: int
    score: Correlation
    lifetime: Correlation
    fit_score: MonotoneFit = field(default_factory=MonotoneFit)
    fit_lifetime: MonotoneFit = field(default_factory=MonotoneFit)
    n_boot: int = DEFAULTS.n_boot
    seed: int = DEFAULTS.seed
    reason: str | None = None

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "score": self.score.to_dict(),
            "lifetime": self.lifetime.to_dict(),
            "fit_score": {"r2": self.fit_score.r2, "loglog_slope": self.fit_score.loglog_slope},
            "fit_lifetime": {"r2": self.fit_lifetime.r2, "loglog_slope": self.fit_lifetime.loglog_slope},
            "n_boot": self.n_boot,
            "seed": self.seed,
            "reason": self.reason,
        }


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit by pool-adjacent-violators (docs/method.md §5).

    Sorts by x (stable), pools tied x into their mean first, then merges adjacent blocks while a
    block's mean exceeds the next one's.

    Shapes:
        x, y: [N] with N = number of points.
        returns: (x_sorted [N], fitted [N]) float64.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    if xs.size == 0:
        return xs, ys
    _, first, counts = np.unique(xs, return_index=True, return_counts=True)
    sums = np.add.reduceat(ys, first)
    # blocks: [mean, weight, number of unique-x groups]
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for s, w in zip(sums, counts):
        means.append(float(s / w))
        weights.append(float(w))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            w_new = weights[-2] + weights[-1]
            m_new = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w_new
            sz = sizes[-2] + sizes[-1]
            del means[-1], weights[-1], sizes[-1]
            means[-1], weights[-1], sizes[-1] = m_new, w_new, sz
    group_fit = np.repeat(np.asarray(means), np.asarray(sizes))
    return xs, np.repeat(group_fit, counts)


def _monotone_fit(x: np.ndarray, y: np.ndarray) -> MonotoneFit:
    xs, fit = isotonic_fit(x, y)
    ys = np.asarray(y, dtype=np.float64)[np.argsort(x, kind="stable")]
    sst = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - float(((ys - fit) ** 2).sum()) / sst if sst > 0 else NAN
    pos = (x > 0) & (y > 0)
    slope = intercept = NAN
    if pos.sum() >= 3:
        lx, ly = np.log(x[pos]), np.log(y[pos])
        if np.ptp(lx) > 0:
            slope, intercept = (float(v) for v in np.polyfit(lx, ly, 1))
    return MonotoneFit(
        x=tuple(float(v) for v in xs),
        y_fit=tuple(float(v) for v in fit),
        r2=r2,
        loglog_slope=slope,
        loglog_intercept=intercept,
    )


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair; NaN where a row of a or b is constant."""
    const = (np.ptp(a, axis=1) == 0) | (np.ptp(b, axis=1) == 0)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / den
    r[const] = np.nan
    return np.clip(r, -1.0, 1.0)


def _ci_note(n: int, boot: np.ndarray, ci: tuple[float, float]) -> str | None:
    """Why a bootstrap interval is not informative (see `Correlation.ci_note`), else None."""
    defined = float(np.isfinite(boot).mean()) if boot.size else 0.0
    if defined < 0.5:
        return f"n = {n}, interval not informative (only {defined:.0%} of the resamples have a defined correlation)"
    if np.isfinite(ci[0]) and ci[1] - ci[0] < 1e-9:
        return f"n = {n}, interval not informative (every resample gives {ci[0]:.3g})"
    return None


def _interval(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (NAN, NAN)
    lo, hi = np.percentile(v, [2.5, 97.5])
    return (float(lo), float(hi))


def correlation(
    x: np.ndarray,
    y: np.ndarray,
    *,
    xname: str = "x",
    yname: str = "y",
    n_boot: int = DEFAULTS.n_boot,
    seed: int = DEFAULTS.seed,
) -> Correlation:
    """Pearson and Spearman correlation of two variables with bootstrap intervals (docs/method.md §5).

    Pearson r = cov(x, y) / (sd x sd y) and Spearman rho = Pearson of the ranks (average ranks for
    ties), with percentile bootstrap 95% intervals (deterministic for identical input and seed).
    n < 3 or a constant variable -> NaN with a reason ("all 6 lifetime values are equal"); an
    interval that says nothing gets a `ci_note`.

    Args:
        xname, yname: the variables' names, carried into the result and its reasons.
        n_boot: bootstrap resamples; seed: their generator's seed.

    Shapes:
        x, y: [N] with N = number of points.

    Returns:
        A `Correlation`.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = int(x.size)
    if n < 3:
        return Correlation(xname, yname, n, reason=f"need at least 3 points, have {n}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        which = xname if np.ptp(x) == 0 else yname
        return Correlation(xname, yname, n, reason=f"all {n} {which} values are equal")
    pear = float(stats.pearsonr(x, y)[0])
    spear = float(stats.spearmanr(x, y)[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    bx, by = x[idx], y[idx]
    p_boot = _row_pearson(bx, by)
    s_boot = _row_pearson(stats.rankdata(bx, axis=1), stats.rankdata(by, axis=1))
    s_ci = _interval(s_boot)
    return Correlation(
        xname,
        yname,
        n,
        pearson=pear,
        pearson_ci=_interval(p_boot),
        spearman=spear,
        spearman_ci=s_ci,
        ci_note=_ci_note(n, s_boot, s_ci),
    )


def norm_law(
    df: pd.DataFrame,
    *,
    kinds: Sequence[str] = ("secondary",),
    x: str = "mlp_norm",
    n_boot: int = DEFAULTS.n_boot,
    seed: int = DEFAULTS.seed,
) -> NormLaw:
    """The norm law: how the MLP write norm relates to a sink's score and lifetime (docs/method.md §5).

    Over the records of `df` whose kind is in `kinds` (all rows if `df` has no `kind` column):
    correlations of `x` (||m_t^b||, from `formation_columns`) with `mean_score` and with `lifetime`,
    and isotonic fits of both on x. Rows with a non-finite value are dropped. n < 3 -> NaN
    everywhere with a reason string.

    Args:
        df: sink records with the formation columns.
        kinds: the record kinds used.
        x: the predictor column.
        n_boot, seed: the bootstrap of `correlation`.

    Returns:
        A `NormLaw`.

    Raises:
        InputError: `df` lacks a needed column (run `formation_columns` first).
    """
    need = {x, "mean_score", "lifetime"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise InputError(f"norm_law: records lack column(s) {missing}; run formation_columns first.")
    sub = df[df["kind"].isin(list(kinds))] if "kind" in df.columns else df
    xv = sub[x].to_numpy(dtype=np.float64)
    sv = sub["mean_score"].to_numpy(dtype=np.float64)
    lv = sub["lifetime"].to_numpy(dtype=np.float64)
    keep = np.isfinite(xv) & np.isfinite(sv) & np.isfinite(lv)
    xv, sv, lv = xv[keep], sv[keep], lv[keep]
    n = int(xv.size)
    score = correlation(xv, sv, xname=x, yname="mean_score", n_boot=n_boot, seed=seed)
    life = correlation(xv, lv, xname=x, yname="lifetime", n_boot=n_boot, seed=seed)
    if n < 3:
        return NormLaw(
            n=n,
            score=score,
            lifetime=life,
            n_boot=n_boot,
            seed=seed,
            reason=f"need at least 3 secondary sinks, have {n}",
        )
    return NormLaw(
        n=n,
        score=score,
        lifetime=life,
        fit_score=_monotone_fit(xv, sv),
        fit_lifetime=_monotone_fit(xv, lv),
        n_boot=n_boot,
        seed=seed,
    )
