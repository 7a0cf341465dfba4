"""`InterventionResult`: the intervened run, a `ScanResult`, with the comparison to the clean run.

`InterventionResult` is a SUBCLASS of `ScanResult` (not a wrapper): its trace, findings, config and
manifest are those of the intervened run, so everything a scan offers (`sinks`, `layers`,
`scores(i)`, `tokens(i)`, `norm_law()`, `levels()`, `properties()`, `reanalyze()`, `summary()`,
the report) describes the edited run. Attached (docs/method.md §4 "Causal check"):

    clean       the un-intervened run, a plain `ScanResult` (bit-identical to `sinkscope.scan`)
    targets     one row per edited token, before -> after (`EFFECT_COLUMNS`, see `effects`)
    nll         the next-token NLL comparison on the rest of the text (`NllDelta`)
    spec, layer, positions, primary, direction_norm   what was edited, and u's reference

Two methods differ from a plain scan: `save(DIR)` writes the intervention folder (what
`sinkscope intervene --out` writes, read by `sinkscope report DIR` and `InterventionResult.load`),
and `intervention_summary()` is the intervention's headline (the "summary" of intervention.json);
`summary()` stays the scan summary of the intervened run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.analysis import Detection, edit_outcome, outcome_counts, sink_state
from sinkscope.analysis.config import DEFAULTS
from sinkscope.capture.trace import PromptTrace
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import write_dir_atomic, write_json
from sinkscope.workflows.interventions.spec import InterventionSpec
from sinkscope.workflows.scan import ScanResult

NAN = float("nan")

# Columns of `InterventionResult.targets` / the per-sink part of `AutoResult.table`.
EFFECT_COLUMNS = (
    "position",
    "token",
    "layer",
    "kind_before",
    "kind_after",
    "outcome",
    "promoted",
    "removed",
    "birth_before",
    "birth_after",
    "lifetime_before",
    "lifetime_after",
    "delta_lifetime",
    "mean_score_before",
    "mean_score_after",
    "score_before",
    "score_after",
    "score_change",
    "sink_layers_before",
    "sink_layers_after",
    "ratio_before",
    "ratio_after",
    "primary_score_before",
    "primary_score_after",
    "delta_primary_score",
    "mlp_norm_before",
    "mlp_norm_after",
    "mlp_proj_before",
    "mlp_proj_after",
)


# ---- comparisons -----------------------------------------------------------------------------
@dataclass
class NllDelta:
    """Next-token NLL on the rest of the text (docs/method.md §4 "Delta next-token NLL").

    nll[t] = -log P(x_{t+1} | x_{<=t}). The edit at the first edited position t0 can only change
    nll[t] for t >= t0 (causal), i.e. the losses of the tokens after it, x_{t0+1}..x_{T-1}:
        delta_t = nll'[t] - nll[t],  t = t0..T-2;   mean = mean_t delta_t,  max = max_t delta_t.
    `n` = T - 1 - t0 such tokens (0 -> NaN statistics). `max_before` = max |delta_t| over t < t0,
    which is 0 by causality (a check, reported).
    """

    start: int
    n: int
    mean: float
    max: float
    clean_mean: float
    intervened_mean: float
    max_before: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NllDelta:
        """The inverse of `to_dict` after a JSON round trip (None -> NaN)."""
        num = {k: NAN if d.get(k) is None else float(d[k]) for k in ("mean", "max", "clean_mean", "intervened_mean", "max_before")}
        return cls(start=int(d["start"]), n=int(d["n"]), **num)


def nll_delta(clean: np.ndarray | None, edited: np.ndarray | None, start: int) -> NllDelta:
    """The delta next-token NLL of an edit from position `start` on (docs/method.md §4 "Delta next-token NLL").

    delta_t = nll'[t] - nll[t] for t >= start (`NllDelta`); NaN statistics when either NLL is None.

    Shapes:
        clean, edited: [T - 1] next-token NLL without and with the edit, or None.
    """
    if clean is None or edited is None:
        return NllDelta(start, 0, NAN, NAN, NAN, NAN, NAN)
    c = np.asarray(clean, dtype=np.float64)
    e = np.asarray(edited, dtype=np.float64)
    d = e - c
    rest = d[start:]
    before = float(np.abs(d[:start]).max()) if start > 0 and d[:start].size else 0.0
    if rest.size == 0:
        return NllDelta(start, 0, NAN, NAN, NAN, NAN, before)
    return NllDelta(
        start=int(start),
        n=int(rest.size),
        mean=float(rest.mean()),
        max=float(rest.max()),
        clean_mean=float(c[start:].mean()),
        intervened_mean=float(e[start:].mean()),
        max_before=before,
    )


def _record(det: Detection, t: int) -> dict[str, Any] | None:
    rec = det.records
    row = rec[rec["position"] == t]
    return None if row.empty else row.iloc[0].to_dict()


def _proj(pt: PromptTrace, layer: int, p: int, t: int) -> float:
    """m_t^b . h_p^b / ||h_p^b|| = cos(m_t^b, h_p^b) ||m_t^b||."""
    return float(pt.mlp_cos_resid[layer, p, t]) * float(pt.mlp_norm[layer, t])


def effects(
    clean_pt: PromptTrace,
    clean_det: Detection,
    ed_pt: PromptTrace,
    ed_det: Detection,
    positions: Sequence[int],
    layer: int,
    margin: float = DEFAULTS.outcome_margin,
) -> pd.DataFrame:
    """Per edited position t, the token before and after the edit (columns `EFFECT_COLUMNS`).

    kind / birth / lifetime / mean_score: the token's sink record (docs/method.md §3) in each run; a token
      with no record (sink-like nowhere) has kind 'none', lifetime 0 and NaN birth / mean score.
    outcome / promoted: `analysis.edit_outcome` (docs/method.md §4 "Outcomes"): removed / weakened /
      unchanged / strengthened, with `margin` (`AnalysisConfig.outcome_margin`); promoted = the
      token became primary-like. removed = (outcome == 'removed').
    score_before / score_after: mean of s_t^l over l >= b (defined whether or not t is a sink);
      score_change = (after - before) / before.
    sink_layers_* / ratio_*: |S| and the score ratio over S = the token's sink-like layers >= b
      (`analysis.sink_state`); the token is a sink from b on when S is non-empty and ratio >= k.
    primary_score_*: mean of s_p^l (the primary's layer score, p from the clean run) over the
      token's clean lifetime layers S_t, or over l >= b when t has no clean record.
    mlp_norm_*: ||m_t^b||;  mlp_proj_*: m_t^b . h_p^b / ||h_p^b|| (each run's own h_p^b).
    """
    p = clean_det.p
    n_layers = clean_det.n_layers
    rows = []
    for t in positions:
        before, after = _record(clean_det, t), _record(ed_det, t)
        ref = np.flatnonzero(clean_det.scanned[:, t]) if before is not None and t != p else np.arange(layer, n_layers)
        if ref.size == 0:
            ref = np.arange(layer, n_layers)
        ps_b = float(clean_det.layer_scores[ref, p].mean())
        ps_a = float(ed_det.layer_scores[ref, p].mean())
        life_b = int(before["lifetime"]) if before else 0
        life_a = int(after["lifetime"]) if after else 0
        kind_b = str(before["kind"]) if before else "none"
        kind_a = str(after["kind"]) if after else "none"
        st_b, st_a = sink_state(clean_det, t, layer), sink_state(ed_det, t, layer)
        oc = edit_outcome(st_b, st_a, margin)

        rows.append(
            {
                "position": int(t),
                "token": str(clean_pt.tokens[t]),
                "layer": int(layer),
                "kind_before": kind_b,
                "kind_after": kind_a,
                "outcome": oc.outcome,
                "promoted": oc.promoted,
                "removed": oc.outcome == "removed",
                "birth_before": float(before["birth"]) if before else NAN,
                "birth_after": float(after["birth"]) if after else NAN,
                "lifetime_before": life_b,
                "lifetime_after": life_a,
                "delta_lifetime": life_a - life_b,
                "mean_score_before": float(before["mean_score"]) if before else NAN,
                "mean_score_after": float(after["mean_score"]) if after else NAN,
                "score_before": st_b.score,
                "score_after": st_a.score,
                "score_change": oc.score_change,
                "sink_layers_before": st_b.layers,
                "sink_layers_after": st_a.layers,
                "ratio_before": st_b.ratio,
                "ratio_after": st_a.ratio,
                "primary_score_before": ps_b,
                "primary_score_after": ps_a,
                "delta_primary_score": ps_a - ps_b,
                "mlp_norm_before": float(clean_pt.mlp_norm[layer, t]),
                "mlp_norm_after": float(ed_pt.mlp_norm[layer, t]),
                "mlp_proj_before": _proj(clean_pt, layer, p, t),
                "mlp_proj_after": _proj(ed_pt, layer, p, t),
            }
        )
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


# ---- the result ------------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class InterventionResult(ScanResult):
    """One intervention (docs/method.md §4): a `ScanResult` of the intervened run (subclass; its
    trace / findings / config / manifest are the edited run's, `manifest["intervention"]` names
    the edit) with the comparison to the clean run attached.

    spec          the parsed mode (`InterventionSpec`).
    layer         b, the block whose MLP output was edited;  positions  the edited tokens.
    primary       p, the primary position of the clean run;  direction_norm  ||h_p^b||.
    clean         the un-intervened run, a full `ScanResult` (identical to `sinkscope.scan`).
    nll           `NllDelta` over the tokens after the first edited position.
    targets       DataFrame, one row per edited position (`EFFECT_COLUMNS`, see `effects`).
    intervened    the edited run as a plain `ScanResult` (the same arrays and findings as self).

    `summary()` is the scan summary of the intervened run; `intervention_summary()` the
    before -> after headline. `save(DIR)` writes the intervention folder (see `save`), which
    `InterventionResult.load(DIR)` reads back; `reanalyze()` returns a plain `ScanResult`.
    """

    spec: InterventionSpec
    layer: int
    positions: list[int]
    primary: int
    direction_norm: float
    clean: ScanResult
    nll: NllDelta
    targets: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        """A one-line summary: the edit, then the intervened run's `ScanResult` summary."""
        return (f"InterventionResult(mode={self.mode!r}, layer={self.layer}, positions={self.positions}, "
                f"{self._repr_fields()})")

    @property
    def intervened(self) -> ScanResult:
        """The intervened run as a plain `ScanResult` (shares trace, findings and manifest)."""
        return ScanResult(self.trace, self.findings, self.manifest)

    @property
    def mode(self) -> str:
        return str(self.spec)

    def delta_nll(self) -> np.ndarray:
        """Per-position delta NLL nll'[t] - nll[t] of prompt 0 (docs/method.md §4 "Delta next-token NLL").

        Shapes:
            returns: [T - 1] float64, NaN when NLL was not captured.
        """
        c, e = self.clean.prompts[0].nll, self.prompts[0].nll
        if c is None or e is None:
            return np.full(max(self.clean.prompts[0].n_tokens - 1, 0), np.nan)
        return np.asarray(e, dtype=np.float64) - np.asarray(c, dtype=np.float64)

    def nll_table(self) -> pd.DataFrame:
        """Per position t: the next token x_{t+1}, nll before / after and the difference."""
        pt = self.clean.prompts[0]
        n = max(pt.n_tokens - 1, 0)
        nan = np.full(n, np.nan)
        return pd.DataFrame(
            {
                "position": np.arange(n),
                "next_token": [str(x) for x in pt.tokens[1:]],
                "nll_clean": pt.nll if pt.nll is not None else nan,
                "nll_intervened": self.prompts[0].nll if self.prompts[0].nll is not None else nan,
                "delta": self.delta_nll(),
            }
        )

    def intervention_summary(self) -> dict[str, Any]:
        """The headline: what was edited, secondary sinks before -> after, the targets' outcomes
        (`outcomes`: removed / weakened / unchanged / strengthened / promoted counts, docs/method.md
        §4 "Outcomes"; `n_removed` = outcomes["removed"]), mean change of lifetime, and the NLL
        change (the "summary" of intervention.json)."""
        cs, es = self.clean.summary(), self.summary()
        t = self.targets
        return {
            "mode": self.mode,
            "layer": self.layer,
            "positions": list(self.positions),
            "tokens": [str(x) for x in t["token"]],
            "primary": self.primary,
            "direction_norm": self.direction_norm,
            "n_secondary_before": cs.n_secondary,
            "n_secondary_after": es.n_secondary,
            "n_targets_secondary": int((t["kind_before"] == "secondary").sum()),
            "n_removed": int((t["outcome"] == "removed").sum()),
            "outcomes": outcome_counts(t["outcome"].to_numpy(), t["promoted"].to_numpy()),
            "delta_lifetime_mean": float(t["delta_lifetime"].mean()) if len(t) else NAN,
            "delta_nll_mean": self.nll.mean,
            "delta_nll_max": self.nll.max,
            "nll_tokens": self.nll.n,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.intervention_summary(),
            "spec": {"kind": self.spec.kind, "value": self.spec.value},
            "nll": self.nll.to_dict(),
            "targets": self.targets.to_dict(orient="records"),
            **self.extra,
        }

    # ---- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write DIR/intervention.json, targets.parquet, nll.parquet, clean/ and intervened/ (each a
        `ScanResult` folder that `ScanResult.load` reads), atomically. (Not the plain scan layout:
        `self.intervened.save(DIR)` writes that.)"""

        def write(d: Path) -> None:
            write_json(d / "intervention.json", self.to_dict())
            self.targets.to_parquet(d / "targets.parquet", index=False)
            self.nll_table().to_parquet(d / "nll.parquet", index=False)
            self.clean.write_into(d / "clean")
            self.intervened.write_into(d / "intervened")

        return write_dir_atomic(path, write, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> InterventionResult:
        """Read a folder written by `save` (both runs re-analysed from their stored arrays)."""
        d = Path(path)
        info_path = d / "intervention.json"
        if not info_path.exists():
            raise InputError(f"'{d}' is not a sinkscope intervention folder (no intervention.json).")
        info = json.loads(info_path.read_text())
        s, spec = info["summary"], info["spec"]
        run = ScanResult.load(d / "intervened")
        clean = ScanResult.load(d / "clean")
        layer, positions = int(s["layer"]), [int(x) for x in s["positions"]]
        targets = pd.read_parquet(d / "targets.parquet")
        if set(EFFECT_COLUMNS) - set(targets.columns):
            # a folder written before a column existed (e.g. `outcome`): recompute the table from
            # the two stored runs rather than show a partial one
            targets = effects(clean.prompts[0], clean.findings.detections[0], run.prompts[0],
                              run.findings.detections[0], positions, layer, run.config.outcome_margin)
        return cls(
            run.trace,
            run.findings,
            run.manifest,
            spec=InterventionSpec(spec["kind"], spec["value"]),
            layer=layer,
            positions=positions,
            primary=int(s["primary"]),
            direction_norm=NAN if s["direction_norm"] is None else float(s["direction_norm"]),
            clean=clean,
            nll=NllDelta.from_dict(info["nll"]),
            targets=targets,
            extra={k: v for k, v in info.items() if k not in ("summary", "spec", "nll", "targets")},
        )


__all__ = ["EFFECT_COLUMNS", "InterventionResult", "NllDelta", "effects", "nll_delta"]
