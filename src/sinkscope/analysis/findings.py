"""`analyze`: run every analysis (docs/method.md §1-§7 and prior-work metrics) over a set of prompts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.analysis.config import AnalysisConfig, DetectConfig
from sinkscope.analysis.detection import Detection, detect
from sinkscope.analysis.formation import formation_columns
from sinkscope.analysis.gates import gate_summary, gate_table, learned_sink_summary, learned_sink_table
from sinkscope.analysis.levels import Levels
from sinkscope.analysis.massive import act_heads, massive_activations
from sinkscope.analysis.normlaw import NormLaw
from sinkscope.analysis.pooled import MEDIANS, pool
from sinkscope.analysis.properties import SinkProperties, properties
from sinkscope.analysis.regions import region_counts, region_of
from sinkscope.analysis.summary import Summary
from sinkscope.analysis.weakening import Weakening, layer_table, weakening
from sinkscope.capture.trace import PromptTrace
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable


@dataclass(eq=False)
class Findings:
    """Everything `analyze` computes for one model over its prompts.

    config               the AnalysisConfig used (every threshold, docs/method.md §1-§7).
    n_prompts, n_layers
    detections           per-prompt `Detection`.
    sinks                all sink records (detection + formation columns) with a `prompt` column
                         (prompt index) first.
    layers               per-layer tables of all prompts with a `prompt` column.
    layers_pooled        mean of the per-layer tables (`pooled_layer_table`).
    norm_law             pooled over all secondary sinks (docs/method.md §5).
    levels               sink levels over all secondary sinks (docs/method.md §7).
    weakening            from the pooled layer table; weakening_per_prompt per prompt (§6).
    medians              `analysis.pooled.MEDIANS` over all secondary sinks (the summary's medians).
                         The four pooled quantities come from `analysis.pooled.pool` with `config`
                         and `attention_layers`.
    massive              massive activations (ratio > 100) with a `prompt` column.
    act                  ACT heads (Yu et al.) with a `prompt` column.
    gates                per layer and head, the mean output gate at the primary, the secondary sinks
                         and ordinary tokens (docs/method.md §12; `analysis.gates.gate_table`); empty
                         for models without gated attention.
    learned_sink         per layer and head, the mass learned sink logits take and the primary's
                         score beside it (docs/method.md §13; `analysis.gates.learned_sink_table`);
                         empty for models without sink logits.
    properties(kinds)    docs/method.md §8 sink properties (key / value norms ...), computed from the
                         prompts' arrays on first use and cached per `kinds` (pure analysis: the
                         report reads it, it never recomputes).
    """

    config: AnalysisConfig
    n_prompts: int
    n_layers: int
    detections: list[Detection]
    sinks: pd.DataFrame
    layers: pd.DataFrame
    layers_pooled: pd.DataFrame
    norm_law: NormLaw
    levels: Levels
    weakening: Weakening
    weakening_per_prompt: list[Weakening] = field(default_factory=list)
    medians: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MEDIANS, float("nan")))
    massive: pd.DataFrame = field(default_factory=pd.DataFrame)
    act: pd.DataFrame = field(default_factory=pd.DataFrame)
    gates: pd.DataFrame = field(default_factory=pd.DataFrame)
    learned_sink: pd.DataFrame = field(default_factory=pd.DataFrame)
    prompts: list[PromptTrace] = field(default_factory=list, repr=False)
    _properties: dict[tuple[str, ...], SinkProperties] = field(default_factory=dict, repr=False)

    def properties(self, kinds: tuple[str, ...] = ("secondary",)) -> SinkProperties:
        """docs/method.md §8 over all prompts (`sinkscope.analysis.properties.properties`), cached."""
        key = tuple(kinds)
        if key not in self._properties:
            self._properties[key] = properties(self.prompts, self.detections, kinds=key)
        return self._properties[key]

    @property
    def attention_layers(self) -> np.ndarray:
        """The layers with attention probabilities (docs/method.md §11).

        All but a hybrid's linear-attention / Mamba / convolution / MLP-only blocks.

        Shapes:
            returns: [L] bool.
        """
        det = self.detections[0] if self.detections else None
        if det is None or det.attention_layers is None:
            return np.ones(self.n_layers, dtype=bool)
        return np.asarray(det.attention_layers, dtype=bool)

    def repooled(self, sinks: pd.DataFrame) -> "Findings":
        """These findings with other sink records (e.g. `analysis.pooled.distinct_records`): the
        norm law, levels and medians pooled again over them (`pool`, same config and attention
        layers); the per-layer tables and the weakening stay."""
        p = pool(sinks, self.n_layers, self.config, attention_layers=self.attention_layers)
        return replace(self, sinks=sinks, norm_law=p.norm_law, levels=p.levels, medians=p.medians, _properties={})

    @property
    def no_attention_layers(self) -> list[int]:
        """The layers without attention probabilities (empty for softmax-only models), drawn hatched."""
        return [int(x) for x in np.flatnonzero(~self.attention_layers)]

    def __repr__(self) -> str:
        """A one-line summary, not the per-prompt arrays of `detections`."""
        return (f"Findings(mode={self.config.mode!r}, prompts={self.n_prompts}, layers={self.n_layers}, "
                f"records={len(self.sinks)}, secondary={len(self.secondary)}, levels={self.levels.n_levels})")

    @property
    def has_response(self) -> bool:
        """Whether any prompt has a response (a generated region, docs/method.md §3 "Regions")."""
        return any(pt.n_prompt_tokens is not None and pt.n_prompt_tokens < pt.n_tokens for pt in self.prompts)

    @property
    def secondary(self) -> pd.DataFrame:
        return self.sinks[self.sinks["kind"] == "secondary"]

    def to_dict(self) -> dict[str, Any]:
        """Everything but the big tables, for findings.json (NaN stays float: callers that write
        JSON must map it to null, as `summary()` already does).

        prompts[i]["window_blocks"] is the primary window as [first, last] block, inclusive (the
        way every printed "blocks a-b" reads; `Detection.window` is the half-open [start, end)).
        Levels carry their id "level" (0, 1, ... as `sinkscope levels` prints them, "L0", ...)."""
        return {
            "config": self.config.to_dict(),
            "summary": self.summary().to_dict(),
            "prompts": [
                {"prompt": i, "p": d.p, "window_blocks": [d.window[0], d.window[1] - 1], "n_tokens": d.n_tokens}
                for i, d in enumerate(self.detections)
            ],
            "norm_law": self.norm_law.to_dict(),
            "weakening": self.weakening.to_dict(),
            "weakening_per_prompt": [w.to_dict() for w in self.weakening_per_prompt],
            "levels": self.levels.to_dict(),
            "gates": self.gates.to_dict(orient="records"),
            "learned_sink": self.learned_sink.to_dict(orient="records"),
        }

    def summary(self) -> Summary:
        """The headline numbers, typed (`sinkscope.analysis.summary.Summary`; JSON-safe: NaN -> None),
        for the CLI "findings" block, the report's cards, the notebook and findings.json
        (`Summary.to_dict()`, the keys below).

        Medians are over secondary sinks of all prompts, one per column the registry summarises
        (`sinkscope.analysis.columns`, `Column.summary`: median_birth, median_rel_birth, median_lifetime,
        median_mlp_cos = cos(m_t^b, h_p^b) signed, median_mlp_cos_oriented = oriented to the sink's own
        sign, median_mlp_share, ...).

        Why a number is missing or says little, as text (None when there is nothing to say):
        norm_law_reason / norm_law_lifetime_reason (an undefined correlation, "all 6 lifetime
        values are equal"), spearman_norm_score_ci_note / spearman_norm_lifetime_ci_note (a
        collapsed bootstrap interval, "n = 6, interval not informative ..."), weakening_reason
        (no dip: "no middle layer after the plateau"), unclassified_reason (the `min_queries`
        rule, docs/method.md §3). primary_not_sink lists the prompts whose primary position scores below
        k x its baseline (score_ratio < k or undefined): the largest-norm token is no sink there
        (e.g. encoders); primary_score_ratio holds every prompt's primary score_ratio.
        no_attention_layers lists a hybrid's layers without attention probabilities (docs/method.md §11).
        gate_primary / gate_secondary / gate_ordinary: the mean output gate over the gated (layer, head)
        cells (docs/method.md §12), None without gates; learned_sink_mass / learned_sink_primary_score:
        the mean learned-sink mass and primary score over the heads with sink logits (§13), None without.
        n_secondary_by_region counts the secondary sinks per region (template / prompt / generated,
        docs/method.md §3 "Regions") when a prompt has a response, else None.
        """
        sec = self.secondary
        kinds = self.sinks.loc[~self.sinks["is_primary_position"], "kind"].value_counts()
        nl, wk = self.norm_law, self.weakening
        prim = self.sinks[self.sinks["is_primary_position"]].sort_values("prompt")
        ratios = prim["score_ratio"].to_numpy(dtype=np.float64)
        n_unclassified = int(kinds.get("unclassified", 0))
        out = {
            "mode": self.config.mode,
            "n_prompts": self.n_prompts,
            "n_layers": self.n_layers,
            "n_secondary": len(sec),
            "n_secondary_by_region": region_counts(sec["region"]) if self.has_response else None,
            "n_primary_like": int(kinds.get("primary", 0)),
            "n_noise": int(kinds.get("noise", 0)),
            "n_unclassified": n_unclassified,
            "unclassified_reason": (
                f"{n_unclassified} key(s) seen by fewer than min_queries = {self.config.min_queries} queries "
                "(--min-queries): reported, not classified"
            ) if n_unclassified else None,
            "primary_score_ratio": [float(r) for r in ratios],
            "primary_not_sink": [int(i) for i, r in zip(prim["prompt"], ratios) if not r >= self.config.k],
            "primary_positions": sorted({d.p for d in self.detections}),
            "no_attention_layers": self.no_attention_layers,
            **self.medians,
            "norm_law_n": nl.n,
            "spearman_norm_score": nl.score.spearman,
            "spearman_norm_score_ci": list(nl.score.spearman_ci),
            "pearson_norm_score": nl.score.pearson,
            "spearman_norm_lifetime": nl.lifetime.spearman,
            "spearman_norm_lifetime_ci": list(nl.lifetime.spearman_ci),
            "norm_law_reason": nl.reason or nl.score.reason,
            "norm_law_lifetime_reason": nl.reason or nl.lifetime.reason,
            "spearman_norm_score_ci_note": nl.score.ci_note,
            "spearman_norm_lifetime_ci_note": nl.lifetime.ci_note,
            "primary_plateau": wk.plateau,
            "dip_layer": wk.dip_layer,
            "dip_ratio": wk.dip_ratio,
            "weakened": wk.weakened,
            "weakened_layers": list(wk.weakened_layers),
            "dip_coincides_with_births": wk.coincides_with_births,
            "weakening_reason": wk.reason,
            "n_levels": self.levels.n_levels,
            "levels": [
                {"level": i, "birth": list(lv.birth_range), "lifetime": list(lv.lifetime_range), "share": lv.share}
                for i, lv in enumerate(self.levels.levels)
            ],
            "n_massive_layers": int(self.massive.loc[self.massive["over_1000"], "layer"].nunique())
            if len(self.massive)
            else 0,
            "n_act_heads": int(self.act[["layer", "head"]].drop_duplicates().shape[0])
            if len(self.act)
            else 0,
            **{f"gate_{k}": v for k, v in gate_summary(self.gates).items()},
            **{f"learned_sink_{k}": v for k, v in learned_sink_summary(self.learned_sink).items()},
        }
        return Summary.from_dict(jsonable(out))


def analyze(
    prompts: list[PromptTrace],
    cfg: DetectConfig | None = None,
    *,
    n_boot: int | None = None,
    seed: int | None = None,
) -> Findings:
    """Run detection (§2-3), formation (§4), the norm law (§5), weakening (§6), levels (§7) and the
    prior-work metrics over all prompts of one model. All prompts must have the same number of
    layers. Pooled quantities (norm law, levels, pooled weakening, medians) use all prompts together
    (`analysis.pooled.pool`, with `cfg` and the layers that have attention probabilities).

    Every threshold comes from `cfg` (an `AnalysisConfig`; a plain `DetectConfig` gets the
    documented defaults of the other fields; the levels thresholds are its `levels_min_share` and
    `levels_tol`). The keywords, when given, override `n_boot` and `seed`; `Findings.config`
    records the result.
    """
    given = {"n_boot": n_boot, "seed": seed}
    cfg = AnalysisConfig.coerce(cfg, **{k: v for k, v in given.items() if v is not None})
    if not prompts:
        raise InputError("analyze: no prompts to analyse.")
    n_layers_set = {pt.n_layers for pt in prompts}
    if len(n_layers_set) != 1:
        raise InputError(
            f"analyze: prompts come from models with different numbers of layers {sorted(n_layers_set)}; "
            "analyse one model at a time."
        )
    n_layers = n_layers_set.pop()
    detections: list[Detection] = []
    sink_parts, layer_parts, tables, massive_parts, act_parts = [], [], [], [], []
    for i, pt in enumerate(prompts):
        det = detect(pt, cfg)
        detections.append(det)
        rec = formation_columns(det.records, pt, det.p)
        rec.insert(0, "prompt", i)
        rec["region"] = region_of(rec["position"], pt.n_tokens if pt.n_prompt_tokens is None else pt.n_prompt_tokens,
                                  pt.n_template_tokens)
        sink_parts.append(rec)
        tab = layer_table(pt, det)
        tables.append(tab)
        lt = tab.copy()
        lt.insert(0, "prompt", i)
        layer_parts.append(lt)
        m = massive_activations(pt, min_ratio=cfg.massive_ratio)
        m.insert(0, "prompt", i)
        massive_parts.append(m)
        a = act_heads(pt, threshold=cfg.act_threshold, min_queries=cfg.min_queries)
        a.insert(0, "prompt", i)
        act_parts.append(a)
    sinks = pd.concat(sink_parts, ignore_index=True)
    layers_df = pd.concat(layer_parts, ignore_index=True)
    pooled = pool(sinks, n_layers, cfg, attention_layers=detections[0].attention_layers, layer_tables=tables)
    return Findings(
        config=cfg,
        n_prompts=len(prompts),
        n_layers=n_layers,
        detections=detections,
        sinks=sinks,
        layers=layers_df,
        layers_pooled=pooled.layers_pooled,
        norm_law=pooled.norm_law,
        levels=pooled.levels,
        weakening=pooled.weakening,
        weakening_per_prompt=[weakening(t, weak_frac=cfg.weak_frac, middle=cfg.weak_middle) for t in tables],
        medians=pooled.medians,
        massive=pd.concat(massive_parts, ignore_index=True),
        act=pd.concat(act_parts, ignore_index=True),
        gates=gate_table(prompts, detections),
        learned_sink=learned_sink_table(prompts, detections),
        prompts=list(prompts),
    )
