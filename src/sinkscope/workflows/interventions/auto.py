"""`auto`: the causal check of docs/method.md §4 applied to every secondary sink a scan finds.

For each prompt and each secondary sink t (born at b = its birth layer) and each mode (default
project-out and zero), block b's MLP output at t is edited in a separate run of that prompt, and
the sink's record in the edited run is compared with the clean one (`core.effects`):

  lifetime_before / _after   |S_t| (0 when the token is no longer sink-like anywhere)
  mean_score_before / _after mean s_t^l over S_t in each run (NaN when it vanished)
  kind_before / _after       class (docs/method.md §3); 'none' when the token has no record any more
  outcome, promoted          removed / weakened / unchanged / strengthened, and whether the edit made
                             the sink primary-like (docs/method.md §4 "Outcomes", `analysis.edit_outcome`);
                             removed = (outcome == 'removed'): no longer a sink from b on, never a
                             promotion or a higher score
  score_before / _after      mean s_t^l over l >= b; score_change = relative change
  delta_primary_score        mean over the clean lifetime layers S_t of s_p^l, after - before
                             (does the primary take back the attention the sink held? §6)
  delta_nll_mean / _max      next-token NLL on the rest of the text, after - before (`NllDelta`)

`AutoResult.summary()` gives, per mode, the count of each outcome, the share removed and the mean
changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.analysis import DetectConfig, outcome_counts
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import write_dir_atomic, write_json
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.interventions.core import Target, apply_plans, clean_run, prompt_of, single
from sinkscope.workflows.interventions.result import EFFECT_COLUMNS, InterventionResult
from sinkscope.workflows.interventions.spec import InterventionSpec, parse_mode
from sinkscope.workflows.scan import ScanResult

AUTO_COLUMNS = ("prompt", "mode", *EFFECT_COLUMNS, "n_secondary_after", "delta_nll_mean", "delta_nll_max", "nll_tokens")
DEFAULT_MODES = ("project-out", "zero")


def _mean(s: pd.Series) -> float:
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


@dataclass(eq=False)
class AutoResult:
    """Every secondary sink of a scan, intervened on at its birth layer.

    clean   the clean scan (all prompts);  modes  the modes applied;
    table   DataFrame, one row per (sink, mode), columns `AUTO_COLUMNS` (see module docstring);
    runs    the `InterventionResult` of each row (same order as `table`), each with the full
            intervened `ScanResult`.
    """

    clean: ScanResult
    modes: list[InterventionSpec]
    table: pd.DataFrame
    runs: list[InterventionResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Per mode: n_sinks, `outcomes` (count of each outcome and of promotions, docs/method.md §4
        "Outcomes"), n_removed and share_removed (outcome 'removed'), mean and
        median change of lifetime, mean record score before and after (sinks that survive), mean
        score over layers >= b before / after (all sinks), mean change of the primary's
        score over the sinks' lifetime layers, mean of the per-sink mean Delta NLL and the largest
        per-sink max Delta NLL."""
        out: dict[str, Any] = {"n_prompts": len(self.clean.prompts), "n_sinks": int(self.table.drop_duplicates(["prompt", "position"]).shape[0]) if len(self.table) else 0, "modes": {}}
        for spec in self.modes:
            t = self.table[self.table["mode"] == str(spec)]
            n = len(t)
            out["modes"][str(spec)] = {
                "n_sinks": n,
                "outcomes": outcome_counts(t["outcome"].to_numpy(), t["promoted"].to_numpy()),
                "n_removed": int((t["outcome"] == "removed").sum()),
                "share_removed": float((t["outcome"] == "removed").mean()) if n else float("nan"),
                "mean_lifetime_before": _mean(t["lifetime_before"]),
                "mean_lifetime_after": _mean(t["lifetime_after"]),
                "median_delta_lifetime": float(t["delta_lifetime"].median()) if n else float("nan"),
                "mean_score_before": _mean(t["mean_score_before"]),
                "mean_score_after_surviving": _mean(t["mean_score_after"]),
                "mean_score_from_birth_before": _mean(t["score_before"]),
                "mean_score_from_birth_after": _mean(t["score_after"]),
                "mean_delta_primary_score": _mean(t["delta_primary_score"]),
                "mean_delta_nll_mean": _mean(t["delta_nll_mean"]),
                "max_delta_nll_max": float(np.nanmax(t["delta_nll_max"].to_numpy(dtype=np.float64))) if n and np.isfinite(t["delta_nll_max"].to_numpy(dtype=np.float64)).any() else float("nan"),
            }
        return out

    def share_removed(self, mode: str = "project-out") -> float:
        return self.summary()["modes"][str(parse_mode(mode))]["share_removed"]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "sinks": self.table.to_dict(orient="records")}

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """DIR/auto.parquet, DIR/auto.json (summary + rows), DIR/clean/ (the clean scan), atomically."""

        def write(d: Path) -> None:
            self.table.to_parquet(d / "auto.parquet", index=False)
            write_json(d / "auto.json", self.to_dict())
            self.clean.write_into(d / "clean")

        return write_dir_atomic(path, write, overwrite=overwrite)


def auto_row(prompt: int, res: InterventionResult) -> dict[str, Any]:
    """One row of `AutoResult.table` (`AUTO_COLUMNS`) for a one-token intervention on prompt `prompt`."""
    return {
        "prompt": prompt,
        "mode": res.mode,
        **res.targets.iloc[0].to_dict(),
        "n_secondary_after": res.summary().n_secondary,
        "delta_nll_mean": res.nll.mean,
        "delta_nll_max": res.nll.max,
        "nll_tokens": res.nll.n,
    }


def auto(
    lm: LoadedModel,
    texts: str | Sequence[str] | Sequence[tuple[str, str]] | None = None,
    *,
    modes: Sequence[str | InterventionSpec] = DEFAULT_MODES,
    config: DetectConfig | None = None,
    chat: bool = False,
    generate: int = 0,
    clean: ScanResult | None = None,
    max_sinks: int | None = None,
    batch_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
    **thresholds: Any,
) -> AutoResult:
    """For every secondary sink of every prompt, apply each mode at its birth layer (docs/method.md §4).

    texts: one text or several (strings or (text, source) pairs); or pass `clean`, a scan (with
    NLL, else NLL columns are NaN) of the same model. `max_sinks`: per prompt, only the strongest
    (by clean mean score). `batch_size` edited copies run per forward pass. `progress(done, total)`
    counts intervened runs.
    """
    specs = [parse_mode(m) for m in modes]
    if not specs:
        raise InputError("auto: give at least one mode (allowed: project-out, zero, rescale:NORM, induce:ALPHA).")
    if max_sinks is not None and max_sinks < 1:
        raise InputError(f"max_sinks must be >= 1 (got {max_sinks}).")
    if clean is None:
        if texts is None:
            raise InputError("auto: give texts (or clean=, a scan of them).")
        items = [texts] if isinstance(texts, (str, tuple)) else list(texts)
        clean, _ = clean_run(lm, items, config or DetectConfig(**thresholds), chat=chat, generate=generate)
    jobs = []
    for i in range(len(clean.prompts)):
        sec = clean.findings.detections[i].secondary
        if max_sinks is not None:
            sec = sec.sort_values("mean_score", ascending=False, kind="stable").head(max_sinks)
        sec = sec.sort_values("position", kind="stable")
        if len(sec):
            jobs.append((i, sec))
    total = sum(len(sec) for _, sec in jobs) * len(specs)
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], total)

    targets: list[Target] = []
    prompt_index: list[int] = []
    for i, sec in jobs:
        one, prompt = single(clean, i), prompt_of(clean, i)
        for _, r in sec.iterrows():
            for spec in specs:
                targets.append(Target(one, prompt, int(r["birth"]), (int(r["position"]),), spec))
                prompt_index.append(i)
    # one capture for all prompts: batches may mix prompts of different lengths (edits are keyed
    # by prompt index, never by batch row)
    runs = apply_plans(lm, targets, batch_size=batch_size, progress=tick)
    rows = [auto_row(i, res) for i, res in zip(prompt_index, runs)]
    table = pd.DataFrame(rows, columns=list(AUTO_COLUMNS))
    return AutoResult(clean=clean, modes=specs, table=table, runs=runs)


__all__ = ["AUTO_COLUMNS", "DEFAULT_MODES", "AutoResult", "auto", "auto_row"]
