"""`intervene`: one causal check of docs/method.md §4 on one text.

Procedure (docs/method.md §4 "Causal check"):
  1. Clean pass: capture the text (next-token NLL included) exactly as `sinkscope.scan` does, and
     analyse it. p = the primary position, u = h_p^b / ||h_p^b|| the unit primary-sink direction
     (`PromptTrace.resid_cand[b, p]`, the primary's residual state after block b).
  2. Intervened pass: the same capture with an edit of m_t^b, what block b's MLP adds at each
     targeted token t (`spec.InterventionSpec` for the formulas: project-out m - (m.u)u, zero,
     rescale:NORM NORM m/||m||, induce:ALPHA m + ALPHA u), made inside the MLP-output hook of
     the capture (`spec.EditPlan.edit`, a `capture.engine.PromptEdit` keyed by the prompt's
     index, so the capture's length-sorted batch order never mixes prompts). Everything the
     scan reports is recomputed.
  3. Compare: per targeted token its sink record before / after (class, birth, lifetime, mean
     score), its score over the layers >= b, the primary's score over the token's lifetime layers,
     ||m_t^b|| and m_t^b . u before / after, and the next-token NLL on the rest of the text
     (`NllDelta`).

Both passes run the scan pipeline itself: the clean pass is `workflows.scan.run_pipeline`, the one
entry `sinkscope.scan` uses (bit-identical to `sinkscope.scan(lm, text, with_nll=True)`, tested); the
edited runs of `apply_plans` go through it too, one capture for all of them and each analysed on its
own (`run_pipeline(analyse=...)`), reusing the clean pass' attention query block, so the two runs
differ only by the edit. The result
(`result.InterventionResult`) IS a `ScanResult` of the intervened run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.capture.engine import PromptEdit
from sinkscope.capture.inputs import Prompt
from sinkscope.capture.trace import PromptTrace, Trace
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.interventions.result import InterventionResult, effects, nll_delta
from sinkscope.workflows.interventions.spec import EditPlan, InterventionSpec, edit_for, parse_mode, unit
from sinkscope.workflows.scan import Progress, ScanResult, run_pipeline, scan_result


# ---- input checks ----------------------------------------------------------------------------
def check_layer(lm: LoadedModel, layer: object) -> int:
    """0 <= layer < L, else InputError naming the value and the allowed range."""
    n = lm.info.n_layers
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise InputError(f"layer {layer!r} is not an integer; allowed: 0..{n - 1} (the blocks of '{lm.info.ref}').")
    if not 0 <= int(layer) < n:
        raise InputError(f"layer {layer} is out of range: '{lm.info.ref}' has {n} blocks (allowed: 0..{n - 1}).")
    return int(layer)


def check_positions(position: object, n_tokens: int) -> list[int]:
    """An int or a list of ints, each 0 <= t < T; returns the sorted distinct positions."""
    items = [position] if isinstance(position, (int, np.integer)) and not isinstance(position, bool) else position
    try:
        items = list(items)
    except TypeError:
        raise InputError(f"position {position!r} is not an integer or a list of integers.") from None
    if not items:
        raise InputError(f"position is empty; give at least one token position in 0..{n_tokens - 1}.")
    out = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise InputError(f"position {t!r} is not an integer; allowed: 0..{n_tokens - 1}.")
        if not 0 <= int(t) < n_tokens:
            raise InputError(
                f"position {t} is out of range: the text has {n_tokens} tokens (allowed: 0..{n_tokens - 1})."
            )
        out.append(int(t))
    return sorted(set(out))


# ---- runs ------------------------------------------------------------------------------------
def with_nll_for(lm: LoadedModel) -> bool:
    """NLL is captured whenever the model has an LM head."""
    try:
        return lm.model.get_output_embeddings() is not None
    except (AttributeError, NotImplementedError):
        return False


def _run_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The manifest keys a scan adds after the standard ones: generate, chat (as in `extra`)."""
    extra = extra or {}
    return {"generate": extra.get("generate", 0), "chat": extra.get("chat", False)}


def run_prompts(
    lm: LoadedModel,
    prompts: list[Prompt],
    cfg: DetectConfig,
    *,
    edits: Mapping[int, PromptEdit] | None = None,
    query_block: int | None = None,
    with_nll: bool = True,
    extra: Mapping[str, Any] | None = None,
    prepare_s: float = 0.0,
) -> ScanResult:
    """Capture + analyse already-prepared prompts: the scan pipeline (`scan.run_pipeline`, batch
    size 1) after its prepare stage, so a clean run is exactly a scan. `edits` (prompt index ->
    `PromptEdit`) edit MLP outputs in flight."""
    return run_pipeline(lm, cfg, prompts=prompts, query_block=query_block, with_nll=with_nll, edits=edits,
                        extra=_run_extra(extra), prepare_s=prepare_s)


def prompt_of(res: ScanResult, i: int = 0) -> Prompt:
    """The `Prompt` (text, ids, tokens, source) of prompt i of a scan result."""
    pt = res.prompts[i]
    meta = (res.manifest.get("prompts") or [{}] * len(res.prompts))[i]
    return Prompt(
        text=pt.text,
        token_ids=[int(x) for x in pt.token_ids],
        tokens=list(pt.tokens),
        n_prompt_tokens=int(meta.get("n_prompt_tokens", pt.n_tokens)),
        n_template_tokens=int(pt.n_template_tokens),
        source=str(meta.get("source", f"prompt {i}")),
        form=meta.get("form", "text"),
        chat=pt.chat,
    )


def single(res: ScanResult, i: int) -> ScanResult:
    """Prompt i of a scan result as a one-prompt `ScanResult` (detection is per prompt, so its
    records equal those of the full result; pooled quantities are recomputed for this prompt)."""
    if not 0 <= i < len(res.prompts):
        raise InputError(f"prompt {i} does not exist: the scan holds {len(res.prompts)} prompt(s) (allowed: 0..{len(res.prompts) - 1}).")
    if len(res.prompts) == 1:
        return res
    pt = res.prompts[i]
    manifest = dict(res.manifest)
    manifest["prompts"] = [(res.manifest.get("prompts") or [{}] * len(res.prompts))[i]]
    trace = Trace(prompts=[pt], settings=res.trace.settings, timings=dict(res.trace.timings))
    return ScanResult(trace, analyze([pt], res.config), manifest)


def primary_direction(pt: PromptTrace, p: int, layer: int) -> tuple[np.ndarray, float]:
    """The unit primary-sink direction u = h_p^b / ||h_p^b|| at block `layer`, and ||h_p^b||.

    h_p^b is the block output at the primary position p (`PromptTrace.resid_cand`), docs/method.md
    §4 "Causal check".

    Shapes:
        returns: (u [D] float64, norm float).

    Raises:
        InputError: the capture has no `resid_cand`, or h_p^b is zero or not finite.
    """
    if pt.resid_cand is None:
        raise InputError("this capture has no resid_cand (primary residual vectors); re-run the scan.")
    h = np.asarray(pt.resid_cand[layer, p], dtype=np.float64)
    return unit(h), float(np.linalg.norm(h))


def _as_pair(text: object) -> tuple[str, str]:
    if isinstance(text, tuple) and len(text) == 2:
        return str(text[0]), str(text[1])
    if isinstance(text, str):
        return text, "arg 0"
    raise InputError(f"text must be a string (one text) or a (text, source) pair, got {type(text).__name__}.")


def clean_run(
    lm: LoadedModel,
    text: str | tuple[str, str] | Sequence[str | tuple[str, str]],
    cfg: DetectConfig,
    *,
    chat: bool = False,
    generate: int = 0,
    query_block: int | None = None,
) -> tuple[ScanResult, list[Prompt]]:
    """Prepare and scan `text` (a string, (text, source) pair or list of them) with NLL."""
    items = text if isinstance(text, list) else [text]
    pairs = [(t, f"arg {i}") if isinstance(t, str) else _as_pair(t) for i, t in enumerate(items)]
    prepared: list[Prompt] = []
    res = run_pipeline(lm, cfg, inputs=pairs, chat=chat, generate=generate, query_block=query_block,
                       with_nll=with_nll_for(lm), check=prepared.extend, extra={"generate": generate, "chat": chat})
    return res, prepared


def intervene(
    lm: LoadedModel,
    text: str | tuple[str, str] | None = None,
    *,
    layer: int,
    position: int | Sequence[int],
    mode: str | InterventionSpec = "project-out",
    config: DetectConfig | None = None,
    chat: bool = False,
    generate: int = 0,
    clean: ScanResult | None = None,
    prompt: int = 0,
    query_block: int | None = None,
    **thresholds: Any,
) -> InterventionResult:
    """Edit what block `layer`'s MLP adds at `position` (one token or several) and re-run (docs/method.md §4).

    mode: "project-out" (m' = m - (m.u)u, u = unit(h_p^b) from the clean pass), "zero" (m' = 0),
    "rescale:NORM" (m' = NORM m / ||m||), "induce:ALPHA" (m' = m + ALPHA u); or an
    `InterventionSpec`. Thresholds (tau, k, ...) go to `DetectConfig`, or pass `config`.
    `clean`: reuse a scan of the text made with the same model (prompt index `prompt`) instead of
    running the clean pass again (it is re-run if that scan has no NLL).

    Returns an `InterventionResult`: the intervened run and the clean run as full `ScanResult`s,
    the per-target before/after table and the NLL comparison on the rest of the text.
    """
    spec = parse_mode(mode)
    layer = check_layer(lm, layer)
    clean, pr, positions = clean_for(
        lm, text, position, config=config, thresholds=thresholds, clean=clean, prompt=prompt,
        chat=chat, generate=generate, query_block=query_block, caller="intervene",
    )
    return apply_plans(lm, [Target(clean, pr, layer, tuple(positions), spec)])[0]


def clean_for(
    lm: LoadedModel,
    text: str | tuple[str, str] | None,
    position: int | Sequence[int],
    *,
    config: DetectConfig | None,
    thresholds: Mapping[str, Any],
    clean: ScanResult | None,
    prompt: int,
    chat: bool,
    generate: int,
    query_block: int | None,
    caller: str,
) -> tuple[ScanResult, Prompt, list[int]]:
    """The one-prompt clean run (with NLL when the model has an LM head), its `Prompt` and the
    checked positions: prompt `prompt` of a given `clean` scan of this model (re-run when it has no
    NLL), or a fresh scan of `text` (positions checked before the expensive pass)."""
    if clean is not None:
        if clean.manifest.get("model", {}).get("n_layers", lm.info.n_layers) != lm.info.n_layers:
            raise InputError("clean: that scan comes from a model with another depth; pass a scan of this model.")
        clean = single(clean, prompt)
        pr = prompt_of(clean, 0)
        positions = check_positions(position, len(pr.token_ids))
        if clean.prompts[0].nll is None and with_nll_for(lm):
            clean = run_prompts(lm, [pr], config or clean.config, query_block=query_block, extra=clean.manifest)
        return clean, pr, positions
    if text is None:
        raise InputError(f"{caller}: give a text (or clean=, a scan of it).")
    cfg = config or DetectConfig(**thresholds)
    got: list[tuple[Prompt, list[int]]] = []

    def check(prompts: list[Prompt]) -> None:  # the positions, before the expensive passes
        got.append((prompts[0], check_positions(position, len(prompts[0].token_ids))))

    clean = run_pipeline(lm, cfg, inputs=[_as_pair(text)], chat=chat, generate=generate, query_block=query_block,
                         with_nll=with_nll_for(lm), check=check, extra={"generate": generate, "chat": chat})
    pr, positions = got[0]
    return clean, pr, positions


@dataclass(frozen=True)
class Target:
    """One edited run to make: `spec` at block `layer`, tokens `positions`, of `prompt`, whose
    one-prompt clean run is `clean` (u = unit(h_p^b) and the comparison come from it)."""

    clean: ScanResult
    prompt: Prompt
    layer: int
    positions: tuple[int, ...]
    spec: InterventionSpec


def apply_plans(
    lm: LoadedModel,
    targets: Sequence[Target],
    *,
    batch_size: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[InterventionResult]:
    """Make every `Target`'s edited run in ONE capture, `batch_size` prompts per forward pass
    (prompts of different lengths may share a padded batch: each edit is keyed by its prompt's
    index, `capture(edits=...)`), and compare each with its clean run. Batch rows are independent,
    so results match one-at-a-time runs to float tolerance (exactly when batch_size is 1).
    Targets must come from one scan (same thresholds; capture settings from the first one).
    `progress(k)` is called after each batch of k runs."""
    if not targets:
        return []
    first = targets[0].clean
    if any(t.clean.config != first.config for t in targets):
        raise InputError("apply_plans: all targets must come from scans with the same thresholds.")
    plans: list[EditPlan] = []
    norms: list[float] = []
    for t in targets:
        u, norm = primary_direction(t.clean.prompts[0], t.clean.findings.detections[0].p, t.layer)
        plans.append(EditPlan(t.layer, tuple(t.positions), t.spec, u if t.spec.needs_direction else None))
        norms.append(norm)

    def analyse_each(prompts: list[Prompt], trace: Trace, timings: dict[str, float]) -> list[InterventionResult]:
        capture_s = timings["capture_s"] / len(targets)
        out: list[InterventionResult] = []
        for t, plan, norm, ept in zip(targets, plans, norms, trace.prompts):
            pt, det = t.clean.prompts[0], t.clean.findings.detections[0]
            res = scan_result(
                lm,
                [t.prompt],
                Trace(prompts=[ept], settings=trace.settings, timings={}),
                t.clean.config,
                {"prepare_s": 0.0, "capture_s": capture_s},
                extra={**_run_extra(t.clean.manifest), "intervention": _plan_dict(plan, det.p)},
            )
            out.append(
                InterventionResult(
                    res.trace,
                    res.findings,
                    res.manifest,
                    spec=plan.spec,
                    layer=plan.layer,
                    positions=list(plan.positions),
                    primary=det.p,
                    direction_norm=norm,
                    clean=t.clean,
                    nll=nll_delta(pt.nll, ept.nll, min(plan.positions)),
                    targets=effects(pt, det, ept, res.findings.detections[0], plan.positions, plan.layer,
                                    res.config.outcome_margin),
                )
            )
        return out

    class Batches(Progress):  # `progress(k)`: k more edited runs captured
        n = 0

        def advance(self, stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress(done - self.n)
            self.n = done

    return run_pipeline(
        lm,
        first.config,
        prompts=[t.prompt for t in targets],
        batch_size=max(1, int(batch_size)),
        query_block=first.trace.settings.query_block,
        with_nll=first.prompts[0].nll is not None,
        edits=edit_for(plans),
        progress=Batches(),
        analyse=analyse_each,
    )


def _plan_dict(plan: EditPlan, p: int) -> dict[str, Any]:
    return {
        "mode": str(plan.spec),
        "kind": plan.spec.kind,
        "value": plan.spec.value,
        "layer": plan.layer,
        "positions": list(plan.positions),
        "primary": p,
        "direction": "unit(h_p^b) from the clean pass" if plan.direction is not None else None,
        "method": "docs/method.md §4 causal check",
    }


__all__ = [
    "Target",
    "apply_plans",
    "check_layer",
    "check_positions",
    "clean_for",
    "clean_run",
    "intervene",
    "prompt_of",
    "run_prompts",
    "single",
    "with_nll_for",
]
