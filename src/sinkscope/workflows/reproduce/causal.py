"""The causal check of claim 2 (docs/method.md §4): project-out at the birth block of distinct
secondary sinks of the first few prompts, one `interventions.intervene` run each (the edit
`interventions.auto` makes), collected into an `AutoResult`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from sinkscope.analysis import analyze
from sinkscope.workflows.reproduce.plans import INTERVENTION_MODE, Plan
from sinkscope.workflows.reproduce.stats import Distinct

if TYPE_CHECKING:
    from sinkscope.models.base import LoadedModel
    from sinkscope.workflows.interventions import AutoResult
    from sinkscope.workflows.scan import ScanResult


def subset_scan(res: ScanResult, idx: list[int]) -> ScanResult:
    """A ScanResult holding prompts `idx` of `res` (same capture, re-analysed)."""
    prompts = [res.prompts[i] for i in idx]
    manifest = dict(res.manifest)
    manifest["prompts"] = [res.manifest["prompts"][i] for i in idx]
    trace = replace(res.trace, prompts=prompts, timings={})
    return replace(res, trace=trace, findings=analyze(prompts, res.config), manifest=manifest)


def pick_causal_targets(d: Distinct, plan: Plan) -> list[tuple[int, int, int]]:
    """(prompt, position, birth) of the sinks the causal check edits: prompts in order, in each
    the strongest secondary sinks (by mean score) not already picked in an identical prefix, at
    most `plan.max_sinks` per prompt, until `plan.intervene_prompts` prompts contributed.
    (`interventions.auto` picks the strongest sinks of every prompt, which with a chat template
    is the same system-prompt sink in every prompt; this picks distinct ones.)"""
    raw = d.res.findings.detections
    picks: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    used = 0
    for i, det in enumerate(raw):
        if used >= plan.intervene_prompts:
            break
        sec = det.secondary.sort_values(["mean_score", "position"], ascending=[False, True], kind="stable")
        took = 0
        for pos, birth in zip(sec["position"].to_numpy(dtype=int), sec["birth"].to_numpy(dtype=int)):
            if took >= plan.max_sinks:
                break
            key = d.keys[i][int(pos)]
            if key in seen:
                continue
            seen.add(key)
            picks.append((i, int(pos), int(birth)))
            took += 1
        used += bool(took)
    return picks


def causal_check(
    lm: LoadedModel, d: Distinct, plan: Plan, progress: Callable[[int, int], None] | None = None
) -> AutoResult | None:
    """docs/method.md §4 causal check on distinct secondary sinks (`pick_causal_targets`): one
    `interventions.intervene` run each, mode project-out at the sink's birth block (the edit
    `interventions.auto` makes), collected into an `AutoResult` (table columns AUTO_COLUMNS, plus
    `scan_prompt`, the prompt's index in the model's scan). None when there is no secondary sink."""
    import pandas as pd

    # imports torch: only when a model is edited
    from sinkscope.workflows.interventions import AUTO_COLUMNS, AutoResult, intervene, parse_mode

    picks = pick_causal_targets(d, plan)
    if not picks or plan.intervene_prompts < 1 or plan.max_sinks < 1:
        return None
    used = sorted({i for i, _, _ in picks})
    local = {p: j for j, p in enumerate(used)}
    sub = subset_scan(d.res, used)
    rows, runs = [], []
    for n, (i, pos, birth) in enumerate(picks):
        r = intervene(lm, clean=sub, prompt=local[i], layer=birth, position=pos, mode=INTERVENTION_MODE)
        rows.append(
            {
                "prompt": local[i],
                "mode": r.mode,
                **r.targets.iloc[0].to_dict(),
                "n_secondary_after": r.intervened.summary().n_secondary,
                "delta_nll_mean": r.nll.mean,
                "delta_nll_max": r.nll.max,
                "nll_tokens": r.nll.n,
            }
        )
        runs.append(r)
        if progress is not None:
            progress(n + 1, len(picks))
    table = pd.DataFrame(rows, columns=list(AUTO_COLUMNS))
    table["scan_prompt"] = [i for i, _, _ in picks]
    return AutoResult(clean=sub, modes=[parse_mode(INTERVENTION_MODE)], table=table, runs=runs)
