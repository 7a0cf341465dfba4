"""Every threshold of the analysis, validated and recorded (docs/method.md §1-§7).

`DetectConfig` holds the detector's thresholds (docs/method.md §1-§3); `AnalysisConfig` extends it with
every other analysis threshold (levels §7, the norm-law bootstrap §5, weakening §6, the prior-work
metrics, the outcome margin of an edit §4). `analyze` always runs with an `AnalysisConfig` (a plain
`DetectConfig` is completed with the documented defaults below), and `Findings.config` is the one that was used.

In a run's manifest (`manifest_entries`):

    "thresholds"  the `DetectConfig` fields (unchanged since format 1, so old sweeps still resume)
    "analysis"    the other `AnalysisConfig` fields

Reading a manifest (`from_manifest`): "thresholds" is required; keys missing from "analysis" (a
manifest written before it existed) get the documented defaults, and their names are returned
so the caller records them (`ScanResult.load` writes them to `manifest["analysis_defaulted"]`):
nothing falls back silently. Unknown keys are an error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

from sinkscope.capture.trace import N_CANDIDATES
from sinkscope.core.errors import InputError

Mode = Literal["general", "paper"]
CosineKind = Literal["raw", "centred"]
BaselineKind = Literal["matched", "global"]

_MODES = get_args(Mode)
_COSINES = get_args(CosineKind)
_BASELINES = get_args(BaselineKind)


class ConfigError(InputError):
    """A threshold outside its range. `field` is the parameter's name, `requirement` what it must
    be ("a number in (0, 1]"), `value` what was given; the CLI re-words it with the option name."""

    def __init__(self, owner: str, name: str, value: Any, requirement: str) -> None:
        self.field, self.value, self.requirement = name, value, requirement
        super().__init__(f"{owner}.{name}={value!r} is invalid: {name} must be {requirement}.")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def _unit_interval(x: Any, *, low_open: bool, high_open: bool) -> bool:
    if not _is_real(x):
        return False
    lo_ok = x > 0.0 if low_open else x >= 0.0
    hi_ok = x < 1.0 if high_open else x <= 1.0
    return lo_ok and hi_ok


@dataclass(frozen=True)
class DetectConfig:
    """Thresholds of the sink detector.

    mode              "general" (default; scale-free, attention-confirmed, docs/method.md §3) or "paper"
                      (the published code to the letter, on the states it reads: HF's hidden_states[1:],
                      the last one after the final norm; `detection.paper_states`).
    tau               |cos(h_t^l, h_p^l)| >= tau makes t sink-like at l (docs/method.md §2). Range (0, 1].
    cosine            "raw" uses `resid_cos`, "centred" uses `resid_cos_centred` (docs/method.md pitfalls).
    n_candidates      leading positions that can be the primary (docs/method.md §2), general mode;
                      paper mode uses the published 3 with a chat template, 2 without (§3). >= 1.
    min_queries       keys seen by fewer queries (at some layer) are not classified (§1). >= 1.
    eps               head-fraction threshold F_j^l(eps) (§1). Range (0, 1).
    paper_margin      the "15" of the paper's "L - 15" (§3, paper mode). >= 0.
    paper_noise_max   the "4" of the paper's noise rule "lifetime <= 4" (§3, paper mode). >= 0.
    min_lifetime      general mode: minimal lifetime of a secondary sink (§3). >= 0.
    min_lifetime_frac general mode, L > 33: minimal lifetime = max(min_lifetime, ceil(frac * L)).
                      Range [0, 1].
    primary_cover     general mode: S_t must cover >= this share of the primary window to be
                      primary-like (§3). Range (0, 1].
    k                 general mode: mean score over S_t must be >= k x the baseline (§3). > 0.
    baseline          "matched" (median over keys with a similar number of queries, docs/method.md pitfall
                      "Late keys look like sinks") or "global" (median over all keys of the layer).
    """

    mode: Mode = "general"
    tau: float = 0.9
    cosine: CosineKind = "raw"
    n_candidates: int = N_CANDIDATES  # the capture's C by default (`capture.trace.N_CANDIDATES`)
    min_queries: int = 16
    eps: float = 0.3
    paper_margin: int = 15
    paper_noise_max: int = 4
    min_lifetime: int = 5
    min_lifetime_frac: float = 0.15
    primary_cover: float = 0.9
    k: float = 3.0
    baseline: BaselineKind = "matched"

    def _bad(self, name: str, requirement: str) -> ConfigError:
        return ConfigError(type(self).__name__, name, getattr(self, name), requirement)

    def __post_init__(self) -> None:
        for name, allowed in (("mode", _MODES), ("cosine", _COSINES), ("baseline", _BASELINES)):
            if getattr(self, name) not in allowed:
                raise self._bad(name, "one of " + ", ".join(repr(m) for m in allowed))
        if not _unit_interval(self.tau, low_open=True, high_open=False):
            raise self._bad("tau", "a number in (0, 1]")
        if not _unit_interval(self.eps, low_open=True, high_open=True):
            raise self._bad("eps", "a number in (0, 1)")
        if not _unit_interval(self.primary_cover, low_open=True, high_open=False):
            raise self._bad("primary_cover", "a number in (0, 1]")
        if not _unit_interval(self.min_lifetime_frac, low_open=False, high_open=False):
            raise self._bad("min_lifetime_frac", "a number in [0, 1]")
        if not (_is_real(self.k) and self.k > 0.0):
            raise self._bad("k", "a finite number > 0")
        if not (_is_int(self.n_candidates) and self.n_candidates >= 1):
            raise self._bad("n_candidates", "an integer >= 1")
        if not (_is_int(self.min_queries) and self.min_queries >= 1):
            raise self._bad("min_queries", "an integer >= 1")
        for name in ("paper_margin", "paper_noise_max", "min_lifetime"):
            value = getattr(self, name)
            if not (_is_int(value) and value >= 0):
                raise self._bad(name, "an integer >= 0 (a number of layers)")

    def min_secondary_lifetime(self, n_layers: int) -> int:
        """General-mode minimal lifetime (docs/method.md §3): min_lifetime, or for L > 33
        max(min_lifetime, ceil(min_lifetime_frac * L))."""
        if n_layers > 33:
            return max(self.min_lifetime, math.ceil(self.min_lifetime_frac * n_layers - 1e-9))
        return self.min_lifetime

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of `to_dict`; unknown keys raise `InputError`."""
        known = set(cls.field_names())
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(
                f"{cls.__name__}: unknown parameter(s) {unknown}; known parameters are {sorted(known)}."
            )
        return cls(**d)


DETECT_FIELDS: tuple[str, ...] = DetectConfig.field_names()


@dataclass(frozen=True)
class AnalysisConfig(DetectConfig):
    """Every analysis threshold: the detector's (`DetectConfig`, inherited) and the rest.

    levels_min_share  a sink level holds >= this share of the secondary sinks (docs/method.md §7). [0, 1].
    levels_tol        (birth, lifetime) cells within +/- tol layers are connected (§7). >= 0.
    n_boot            bootstrap resamples of the norm-law intervals (§5). >= 1.
    seed              seed of those resamples (the intervals are deterministic given it). >= 0.
    weak_frac         the primary is weakened where s_p^l < weak_frac x its plateau (§6). (0, 1].
    weak_middle       (lo, hi): the middle layers are lo <= l / (L - 1) <= hi (§6). 0 <= lo <= hi <= 1.
    massive_ratio     massive activation: max_d |h_{t,d}^l| > ratio x the layer median (Sun et
                      al. 2024). > 0.
    act_threshold     ACT sink head: column-mean attention of a non-first key > this (Yu et al.
                      2024). Range (0, 1].
    outcome_margin    outcome of an edit (§4 "Outcomes"): the mean score from the edited block on
                      must move by more than this relative share to count as weakened or
                      strengthened. Range [0, 1).
    """

    levels_min_share: float = 0.05
    levels_tol: int = 1
    n_boot: int = 2000
    seed: int = 0
    weak_frac: float = 0.5
    weak_middle: tuple[float, float] = (0.25, 0.75)
    massive_ratio: float = 100.0
    act_threshold: float = 0.1
    outcome_margin: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.weak_middle, list):  # read back from JSON
            object.__setattr__(self, "weak_middle", tuple(self.weak_middle))
        if not _unit_interval(self.levels_min_share, low_open=False, high_open=False):
            raise self._bad("levels_min_share", "a number in [0, 1]")
        if not (_is_int(self.levels_tol) and self.levels_tol >= 0):
            raise self._bad("levels_tol", "an integer >= 0 (a number of layers)")
        if not (_is_int(self.n_boot) and self.n_boot >= 1):
            raise self._bad("n_boot", "an integer >= 1")
        if not (_is_int(self.seed) and self.seed >= 0):
            raise self._bad("seed", "an integer >= 0")
        if not _unit_interval(self.weak_frac, low_open=True, high_open=False):
            raise self._bad("weak_frac", "a number in (0, 1]")
        mid = self.weak_middle
        if not (
            isinstance(mid, tuple) and len(mid) == 2 and all(_is_real(v) for v in mid)
            and 0.0 <= mid[0] <= mid[1] <= 1.0
        ):
            raise self._bad("weak_middle", "a pair (lo, hi) with 0 <= lo <= hi <= 1")
        if not (_is_real(self.massive_ratio) and self.massive_ratio > 0.0):
            raise self._bad("massive_ratio", "a finite number > 0")
        if not _unit_interval(self.act_threshold, low_open=True, high_open=False):
            raise self._bad("act_threshold", "a number in (0, 1]")
        if not _unit_interval(self.outcome_margin, low_open=False, high_open=True):
            raise self._bad("outcome_margin", "a number in [0, 1)")

    @property
    def detect(self) -> DetectConfig:
        """The detector's part, as a plain `DetectConfig`."""
        return DetectConfig(**{k: getattr(self, k) for k in DETECT_FIELDS})

    def detect_dict(self) -> dict[str, Any]:
        """The `DetectConfig` fields (the manifest's "thresholds")."""
        return {k: v for k, v in self.to_dict().items() if k in DETECT_FIELDS}

    def analysis_dict(self) -> dict[str, Any]:
        """The fields beyond `DetectConfig` (the manifest's "analysis")."""
        return {k: v for k, v in self.to_dict().items() if k not in DETECT_FIELDS}

    def manifest_entries(self) -> dict[str, Any]:
        """{"mode", "thresholds", "analysis"}: what a manifest records of this config."""
        return {"mode": self.mode, "thresholds": self.detect_dict(), "analysis": self.analysis_dict()}

    @classmethod
    def coerce(cls, cfg: DetectConfig | None = None, **overrides: Any) -> AnalysisConfig:
        """`cfg` as an `AnalysisConfig` (a plain `DetectConfig` gets the defaults of the other
        fields), with `overrides` applied (unknown names raise `InputError`)."""
        if cfg is None:
            base = cls()
        elif isinstance(cfg, cls):
            base = cfg
        else:
            base = cls.from_dict(cfg.to_dict())
        if not overrides:
            return base
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise InputError(
                f"{cls.__name__}: unknown parameter(s) {unknown}; known parameters are {sorted(cls.field_names())}."
            )
        return replace(base, **overrides)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> tuple[AnalysisConfig, list[str]]:
        """(config, names of the fields that the manifest lacked and that got their defaults).

        "thresholds" must be present (every sinkscope manifest has it); "analysis" may be missing
        or partial (manifests written before it existed).
        """
        if not isinstance(manifest.get("thresholds"), dict):
            raise InputError("the manifest has no \"thresholds\": it was not written by `sinkscope scan`.")
        stored = manifest.get("analysis") or {}
        if not isinstance(stored, dict):
            raise InputError(f"the manifest's \"analysis\" is not an object (got {type(stored).__name__}).")
        d = {**manifest["thresholds"], **stored}
        defaulted = sorted(set(cls.field_names()) - set(d))
        return cls.from_dict(d), defaulted


DEFAULTS = AnalysisConfig()
"""The documented defaults (the analysis functions' keyword defaults read them from here)."""

# ---- anatomy of formation (docs/method.md §9) ------------------------------------------------------
AlphaUnit = Literal["input_norm", "pc_std", "absolute"]
EffectiveAt = Literal["any", "largest"]
Contrast = Literal["never_sink_like", "not_secondary"]
Base = Literal["pooled", "non_sink"]


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
                  sum_i w_i logloss_i / sum_i w_i + probe_l2 / 2 * ||beta||^2 / n
                  (scikit-learn's C = 1 / probe_l2, see `probe_model`).
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


__all__ = ["DEFAULTS", "AnalysisConfig", "AnatomyConfig", "ConfigError", "DetectConfig", "DETECT_FIELDS", "Mode", "CosineKind",
           "BaselineKind"]
