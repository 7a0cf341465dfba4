"""Interventions: the causal check of docs/method.md §4 ("which MLP makes the sink").

    import sinkscope
    lm = sinkscope.load_model("smollm2-135m")
    r = sinkscope.intervene(lm, text, layer=2, position=25, mode="project-out")
    r.sinks, r.scores(0), r.norm_law()  # r IS a ScanResult of the intervened run (subclass)
    r.targets            # the token before / after: class, lifetime, score, ||m||, m.u
    r.nll                # Delta next-token NLL on the rest of the text (mean, max)
    r.clean              # the clean run, a full ScanResult (r.intervened: r as a plain ScanResult)
    r.save("iv/")        # intervention.json, targets.parquet, nll.parquet, clean/, intervened/

    from sinkscope.workflows.interventions import auto, dose_response
    a = auto(lm, text)                        # every secondary sink, project-out and zero at its birth
    a.table, a.summary()["modes"]["project-out"]["share_removed"]
    d = dose_response(lm, text, layer=2, position=30, mode="induce", grid=[0, 50, 100, 200], out="dose/")

Modes, with m = m_t^b (block b's MLP output at token t) and u = h_p^b / ||h_p^b|| (the primary
sink's residual state after block b, from a clean pass):
    project-out   m' = m - (m.u) u        zero        m' = 0
    rescale:NORM  m' = NORM m / ||m||     induce:ALPHA  m' = m + ALPHA u
The edit is made in the capture's own MLP-output hook (`capture(edits={prompt index: PromptEdit})`):
the same hook points as every scan, no per-family patches, keyed by prompt so batching never mixes
prompts. Both runs go through the scan pipeline (`workflows.scan.run_pipeline`; the batched edited
runs share one capture and are analysed one by one, `run_pipeline(analyse=...)`).
"""

from sinkscope.workflows.interventions.auto import AUTO_COLUMNS, AutoResult, auto, auto_row
from sinkscope.workflows.interventions.core import Target, apply_plans, intervene
from sinkscope.workflows.interventions.dose import DOSE_COLUMNS, DOSE_MODES, DoseResult, dose_response
from sinkscope.workflows.interventions.result import (
    EFFECT_COLUMNS,
    InterventionResult,
    NllDelta,
    effects,
    nll_delta,
)
from sinkscope.workflows.interventions.spec import (
    MODE_KINDS,
    EditPlan,
    InterventionSpec,
    edit_for,
    parse_grid,
    parse_mode,
)

__all__ = [
    "AUTO_COLUMNS",
    "DOSE_COLUMNS",
    "DOSE_MODES",
    "EFFECT_COLUMNS",
    "MODE_KINDS",
    "AutoResult",
    "DoseResult",
    "EditPlan",
    "InterventionResult",
    "InterventionSpec",
    "NllDelta",
    "Target",
    "apply_plans",
    "auto",
    "auto_row",
    "dose_response",
    "edit_for",
    "effects",
    "intervene",
    "nll_delta",
    "parse_grid",
    "parse_mode",
]
