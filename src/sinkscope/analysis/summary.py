"""`Summary`: the headline numbers of a run, typed (what `Findings.summary()` returns).

The console's findings block, the report's cards, the notebook and the reproduction read its fields;
findings.json's "summary" is `Summary.to_dict()`, with the keys it always had. The medians over the
secondary sinks are one per column the column registry summarises (`sinkscope.analysis.columns`,
`Column.summary`), read with `median(name)`; to_dict() writes each under its registry key
(median_birth, median_mlp_cos, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from sinkscope.analysis.columns import BY_NAME, summarised


@dataclass(frozen=True)
class LevelRange:
    """One sink level (docs/method.md §7) as summarised: its id, birth and lifetime ranges (inclusive),
    and its share of the secondary sinks."""

    level: int
    birth: tuple[int, int]
    lifetime: tuple[int, int]
    share: float


@dataclass(frozen=True)
class Summary:
    """The headline numbers of one analysis (JSON-safe: an undefined number is None, never NaN).

    Counts (docs/method.md §3): n_secondary, n_primary_like, n_noise, n_unclassified (records other than
    the primaries); n_secondary_by_region per region (template / prompt / generated) when a prompt has
    a response, else None; unclassified_reason the `min_queries` rule as text, None when nothing is
    unclassified.
    Primaries (§2): primary_score_ratio every prompt's primary score_ratio; primary_not_sink the
    prompts whose primary scores below k x its baseline (the largest-norm token is no sink there);
    primary_positions the distinct primary positions. no_attention_layers: a hybrid's layers without
    attention probabilities (§11).
    medians: {column name: median over the secondary sinks} for the registry's summarised columns
    (`median(name)`).
    Norm law (§5): norm_law_n, spearman / pearson correlations of ||m|| with score and lifetime, their
    bootstrap intervals, and why one is undefined (norm_law_reason, norm_law_lifetime_reason) or its
    interval says little (*_ci_note).
    Weakening (§6): primary_plateau, dip_layer, dip_ratio, weakened, weakened_layers,
    dip_coincides_with_births, weakening_reason (no dip: why).
    Levels (§7): n_levels, levels. Prior work: n_massive_layers (>1000x), n_act_heads.
    Gates (§12): gate_primary / gate_secondary / gate_ordinary, the mean output gate over the gated
    cells, None without gates. Learned sinks (§13): learned_sink_sink_mass, learned_sink_primary_score,
    None without sink logits.
    """

    mode: str
    n_prompts: int
    n_layers: int
    n_secondary: int
    n_secondary_by_region: dict[str, int] | None
    n_primary_like: int
    n_noise: int
    n_unclassified: int
    unclassified_reason: str | None
    primary_score_ratio: list[float | None]
    primary_not_sink: list[int]
    primary_positions: list[int]
    no_attention_layers: list[int]
    medians: dict[str, float | None]
    norm_law_n: int
    spearman_norm_score: float | None
    spearman_norm_score_ci: list[float | None]
    pearson_norm_score: float | None
    spearman_norm_lifetime: float | None
    spearman_norm_lifetime_ci: list[float | None]
    norm_law_reason: str | None
    norm_law_lifetime_reason: str | None
    spearman_norm_score_ci_note: str | None
    spearman_norm_lifetime_ci_note: str | None
    primary_plateau: float | None
    dip_layer: int | None
    dip_ratio: float | None
    weakened: bool
    weakened_layers: list[int]
    dip_coincides_with_births: float | None
    weakening_reason: str | None
    n_levels: int
    levels: list[LevelRange] = field(default_factory=list)
    n_massive_layers: int = 0
    n_act_heads: int = 0
    gate_primary: float | None = None
    gate_secondary: float | None = None
    gate_ordinary: float | None = None
    learned_sink_sink_mass: float | None = None
    learned_sink_primary_score: float | None = None

    def median(self, column: str) -> float | None:
        """The median over the secondary sinks of registry column `column` (None when undefined)."""
        if column not in self.medians:
            known = ", ".join(self.medians)
            raise KeyError(f"the summary holds no median of {column!r}; it holds: {known}")
        return self.medians[column]

    def to_dict(self) -> dict[str, Any]:
        """findings.json's "summary": every field under its name, but the medians each under its
        registry key (median_birth, ...) where "medians" would be, and the levels as dicts."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "medians":
                out.update({BY_NAME[c].summary.key: m for c, m in v.items()})  # type: ignore[union-attr]
            elif f.name == "levels":
                out["levels"] = [{"level": lv.level, "birth": list(lv.birth), "lifetime": list(lv.lifetime),
                                  "share": lv.share} for lv in v]
            else:
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Summary:
        """The inverse of `to_dict` (a findings.json "summary"); a registry median it lacks is None."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names and k not in ("medians", "levels")}
        kw["medians"] = {c.name: d.get(c.summary.key) for c in summarised() if c.summary is not None}
        kw["levels"] = [LevelRange(int(x["level"]), tuple(x["birth"]), tuple(x["lifetime"]), x["share"])
                        for x in d.get("levels", [])]
        return cls(**kw)


__all__ = ["LevelRange", "Summary"]
