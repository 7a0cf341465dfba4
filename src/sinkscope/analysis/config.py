"""`DetectConfig`: every threshold the detector uses (METHOD.md §1-§3), validated and recorded.

All values are configurable defaults; `to_dict()` is what goes into a run's manifest so that every
table can be traced back to the exact rule that produced it ("the manifest says which produced a
table", METHOD.md §3).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from sinkscope.core.errors import InputError

Mode = Literal["general", "paper"]
CosineKind = Literal["raw", "centred"]
BaselineKind = Literal["matched", "global"]

_MODES = ("general", "paper")
_COSINES = ("raw", "centred")
_BASELINES = ("matched", "global")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


@dataclass(frozen=True)
class DetectConfig:
    """Thresholds of the sink detector.

    mode              "general" (default; scale-free, attention-confirmed, METHOD §3) or "paper"
                      (the published lifetime rule, to the letter).
    tau               |cos(h_t^l, h_p^l)| >= tau makes t sink-like at l (METHOD §2). Range (0, 1].
    cosine            "raw" uses `resid_cos`, "centred" uses `resid_cos_centred` (METHOD pitfalls).
    n_candidates      leading positions that can be the primary (METHOD §2). >= 1.
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
    baseline          "matched" (median over keys with a similar number of queries, METHOD pitfall
                      "Late keys look like sinks") or "global" (median over all keys of the layer).
    """

    mode: Mode = "general"
    tau: float = 0.9
    cosine: CosineKind = "raw"
    n_candidates: int = 3
    min_queries: int = 16
    eps: float = 0.3
    paper_margin: int = 15
    paper_noise_max: int = 4
    min_lifetime: int = 5
    min_lifetime_frac: float = 0.15
    primary_cover: float = 0.9
    k: float = 3.0
    baseline: BaselineKind = "matched"

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> InputError:
            return InputError(
                f"DetectConfig.{name}={getattr(self, name)!r} is invalid: {name} must be {allowed}."
            )

        if self.mode not in _MODES:
            raise bad("mode", "one of " + ", ".join(repr(m) for m in _MODES))
        if self.cosine not in _COSINES:
            raise bad("cosine", "one of " + ", ".join(repr(m) for m in _COSINES))
        if self.baseline not in _BASELINES:
            raise bad("baseline", "one of " + ", ".join(repr(m) for m in _BASELINES))
        if not (_is_real(self.tau) and 0.0 < self.tau <= 1.0):
            raise bad("tau", "a number in (0, 1]")
        if not (_is_real(self.eps) and 0.0 < self.eps < 1.0):
            raise bad("eps", "a number in (0, 1)")
        if not (_is_real(self.primary_cover) and 0.0 < self.primary_cover <= 1.0):
            raise bad("primary_cover", "a number in (0, 1]")
        if not (_is_real(self.min_lifetime_frac) and 0.0 <= self.min_lifetime_frac <= 1.0):
            raise bad("min_lifetime_frac", "a number in [0, 1]")
        if not (_is_real(self.k) and self.k > 0.0):
            raise bad("k", "a finite number > 0")
        if not (_is_int(self.n_candidates) and self.n_candidates >= 1):
            raise bad("n_candidates", "an integer >= 1")
        if not (_is_int(self.min_queries) and self.min_queries >= 1):
            raise bad("min_queries", "an integer >= 1")
        for name in ("paper_margin", "paper_noise_max", "min_lifetime"):
            value = getattr(self, name)
            if not (_is_int(value) and value >= 0):
                raise bad(name, "an integer >= 0 (a number of layers)")

    def min_secondary_lifetime(self, n_layers: int) -> int:
        """General-mode minimal lifetime (METHOD §3): min_lifetime, or for L > 33
        max(min_lifetime, ceil(min_lifetime_frac * L))."""
        if n_layers > 33:
            return max(self.min_lifetime, math.ceil(self.min_lifetime_frac * n_layers - 1e-9))
        return self.min_lifetime

    def to_dict(self) -> dict[str, Any]:
        """All thresholds as plain JSON-able values (for the manifest)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectConfig:
        """Inverse of `to_dict`; unknown keys raise `InputError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(
                f"DetectConfig: unknown parameter(s) {unknown}; known parameters are {sorted(known)}."
            )
        return cls(**d)
