"""`intervene`: one causal check of METHOD.md §4 on one text.

Procedure (METHOD.md §4 "Causal check"):
  1. Clean pass: capture the text (next-token NLL included) exactly as `sinkscope.scan` does, and
     analyse it. p = the primary position, u = h_p^b / ||h_p^b|| the unit primary-sink direction
     (`PromptTrace.resid_cand[b, p]`, the primary's residual state after block b).
  2. Intervened pass: the same capture with an edit of m_t^b, what block b's MLP adds at each
     targeted token t (`spec.InterventionSpec` for the formulas: project-out m - (m.u)u, zero,
     rescale:NORM NORM m/||m||, induce:ALPHA m + ALPHA u), made inside the MLP-output hook of
     the capture (`capture.engine.MlpEdit`). Everything the scan reports is recomputed.
  3. Compare: per targeted token its sink record before / after (class, birth, lifetime, mean
     score), its score over the layers >= b, the primary's score over the token's lifetime layers,
     ||m_t^b|| and m_t^b . u before / after, and the next-token NLL on the rest of the text
     (`NllDelta`).

The clean pass is bit-identical to `sinkscope.scan(lm, text, with_nll=True)` (same code path;
tested), and the intervened pass reuses its attention query block, so the two runs differ only
by the edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.analysis import DetectConfig, Detection, analyze
from sinkscope.capture.engine import MlpEdit, capture
from sinkscope.capture.inputs import Prompt, prepare
from sinkscope.capture.trace import CaptureSettings, PromptTrace, Trace
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.interventions.io import write_dir_atomic, write_json, write_scan
from sinkscope.workflows.interventions.spec import EditPlan, InterventionSpec, edit_for, parse_mode, unit
from sinkscope.workflows.scan import ScanResult, build_manifest

NAN = float("nan")

# Columns of `InterventionResult.targets` / the per-sink part of `AutoResult.table`.
EFFECT_COLUMNS = (
    "position",
    "token",
    "layer",
    "kind_before",
    "kind_after",
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
    "primary_score_before",
    "primary_score_after",
    "delta_primary_score",
    "mlp_norm_before",
    "mlp_norm_after",
    "mlp_proj_before",
    "mlp_proj_after",
)


# ---- input checks ----------------------------------------------------------------------------
def check_layer(lm: LoadedModel, layer: Any) -> int:
    """0 <= layer < L, else InputError naming the value and the allowed range."""
    n = lm.info.n_layers
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise InputError(f"layer {layer!r} is not an integer; allowed: 0..{n - 1} (the blocks of '{lm.info.ref}').")
    if not 0 <= int(layer) < n:
        raise InputError(f"layer {layer} is out of range: '{lm.info.ref}' has {n} blocks (allowed: 0..{n - 1}).")
    return int(layer)


def check_positions(position: Any, n_tokens: int) -> list[int]:
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


def run_prompts(
    lm: LoadedModel,
    prompts: list[Prompt],
    cfg: DetectConfig,
    *,
    edit: MlpEdit | None = None,
    query_block: int | None = None,
    with_nll: bool = True,
    extra: dict[str, Any] | None = None,
    split: bool = False,
    prepare_s: float = 0.0,
) -> ScanResult | list[ScanResult]:
    """Capture + analyse already-prepared prompts: the part of `pipeline.scan` after `prepare`.

    All prompts go in ONE batch (`batch_size = len(prompts)`), so that batch row r is prompt r for
    the edit. With `split`, each row becomes its own one-prompt `ScanResult` (used to run several
    differently edited copies of one text in one forward pass); else one `ScanResult` of all.
    """
    t1 = time.perf_counter()
    settings = CaptureSettings(
        n_candidates=cfg.n_candidates,
        dtype=lm.info.dtype,
        query_block=query_block,
        with_nll=with_nll,
        batch_size=len(prompts) if (split or edit is not None) else 1,
    )
    trace = capture(
        lm,
        [p.text for p in prompts],
        [p.token_ids for p in prompts],
        [p.tokens for p in prompts],
        settings,
        edit=edit,
    )
    t2 = time.perf_counter()
    extra = {"generate": 0, "chat": False, **(extra or {})}
    if not split:
        findings = analyze(trace.prompts, cfg)
        t3 = time.perf_counter()
        timings = {"prepare_s": prepare_s, "capture_s": t2 - t1, "analysis_s": t3 - t2, "total_s": prepare_s + t3 - t1}
        trace.timings.update(timings)
        return ScanResult(trace, findings, cfg, build_manifest(lm, cfg, settings, prompts, timings, extra=extra))
    out = []
    for pr, pt in zip(prompts, trace.prompts):
        t3 = time.perf_counter()
        findings = analyze([pt], cfg)
        timings = {
            "prepare_s": 0.0,
            "capture_s": (t2 - t1) / len(prompts),
            "analysis_s": time.perf_counter() - t3,
        }
        timings["total_s"] = sum(timings.values())
        sub = Trace(prompts=[pt], settings=settings, timings=dict(timings))
        out.append(ScanResult(sub, findings, cfg, build_manifest(lm, cfg, settings, [pr], timings, extra=extra)))
    return out


def prompt_of(res: ScanResult, i: int = 0) -> Prompt:
    """The `Prompt` (text, ids, tokens, source) of prompt i of a scan result."""
    pt = res.prompts[i]
    meta = (res.manifest.get("prompts") or [{}] * len(res.prompts))[i]
    return Prompt(
        text=pt.text,
        token_ids=[int(x) for x in pt.token_ids],
        tokens=list(pt.tokens),
        n_prompt_tokens=int(meta.get("n_prompt_tokens", pt.n_tokens)),
        source=str(meta.get("source", f"prompt {i}")),
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
    return ScanResult(trace, analyze([pt], res.config), res.config, manifest)


def primary_direction(pt: PromptTrace, p: int, layer: int) -> tuple[np.ndarray, float]:
    """(u, ||h_p^b||): the unit primary-sink direction at block `layer` and the primary's norm."""
    if pt.resid_cand is None:
        raise InputError("this capture has no resid_cand (primary residual vectors); re-run the scan.")
    h = np.asarray(pt.resid_cand[layer, p], dtype=np.float64)
    return unit(h), float(np.linalg.norm(h))


# ---- comparisons -----------------------------------------------------------------------------
@dataclass
class NllDelta:
    """Next-token NLL on the rest of the text (METHOD.md §4 "Delta next-token NLL").

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


def nll_delta(clean: np.ndarray | None, edited: np.ndarray | None, start: int) -> NllDelta:
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
) -> pd.DataFrame:
    """Per edited position t, the token before and after the edit (columns `EFFECT_COLUMNS`).

    kind / birth / lifetime / mean_score: the token's sink record (METHOD §3) in each run; a token
      with no record (sink-like nowhere) has kind 'none', lifetime 0 and NaN birth / mean score.
    removed: kind_before == 'secondary' and kind_after != 'secondary'.
    score_before / score_after: mean of s_t^l over l >= b (defined whether or not t is a sink).
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

        rows.append(
            {
                "position": int(t),
                "token": str(clean_pt.tokens[t]),
                "layer": int(layer),
                "kind_before": kind_b,
                "kind_after": kind_a,
                "removed": kind_b == "secondary" and kind_a != "secondary",
                "birth_before": float(before["birth"]) if before else NAN,
                "birth_after": float(after["birth"]) if after else NAN,
                "lifetime_before": life_b,
                "lifetime_after": life_a,
                "delta_lifetime": life_a - life_b,
                "mean_score_before": float(before["mean_score"]) if before else NAN,
                "mean_score_after": float(after["mean_score"]) if after else NAN,
                "score_before": float(clean_det.layer_scores[layer:, t].mean()),
                "score_after": float(ed_det.layer_scores[layer:, t].mean()),
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
@dataclass(eq=False)
class InterventionResult:
    """One intervention (METHOD.md §4) and its comparison with the clean run.

    spec          the parsed mode (`InterventionSpec`).
    layer         b, the block whose MLP output was edited;  positions  the edited tokens.
    primary       p, the primary position of the clean run;  direction_norm  ||h_p^b||.
    clean         the un-intervened run, a full `ScanResult` (identical to `sinkscope.scan`).
    intervened    the edited run, a full `ScanResult` (sinks, layers, norm law, ... of that run).
    nll           `NllDelta` over the tokens after the first edited position.
    targets       DataFrame, one row per edited position (`EFFECT_COLUMNS`, see `effects`).
    """

    spec: InterventionSpec
    layer: int
    positions: list[int]
    primary: int
    direction_norm: float
    clean: ScanResult
    intervened: ScanResult
    nll: NllDelta
    targets: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return str(self.spec)

    def delta_nll(self) -> np.ndarray:
        """Per-position nll'[t] - nll[t] (length T-1), NaN when NLL was not captured."""
        c, e = self.clean.prompts[0].nll, self.intervened.prompts[0].nll
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
                "nll_intervened": self.intervened.prompts[0].nll if self.intervened.prompts[0].nll is not None else nan,
                "delta": self.delta_nll(),
            }
        )

    def summary(self) -> dict[str, Any]:
        cs, es = self.clean.summary(), self.intervened.summary()
        t = self.targets
        return {
            "mode": self.mode,
            "layer": self.layer,
            "positions": list(self.positions),
            "tokens": [str(x) for x in t["token"]],
            "primary": self.primary,
            "direction_norm": self.direction_norm,
            "n_secondary_before": cs["n_secondary"],
            "n_secondary_after": es["n_secondary"],
            "n_targets_secondary": int((t["kind_before"] == "secondary").sum()),
            "n_removed": int(t["removed"].sum()),
            "delta_lifetime_mean": float(t["delta_lifetime"].mean()) if len(t) else NAN,
            "delta_nll_mean": self.nll.mean,
            "delta_nll_max": self.nll.max,
            "nll_tokens": self.nll.n,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "spec": {"kind": self.spec.kind, "value": self.spec.value},
            "nll": self.nll.to_dict(),
            "targets": self.targets.to_dict(orient="records"),
            **self.extra,
        }

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write DIR/intervention.json, targets.parquet, nll.parquet, clean/ and intervened/ (each a
        `ScanResult` folder that `ScanResult.load` reads), atomically."""

        def write(d: Path) -> None:
            write_json(d / "intervention.json", self.to_dict())
            self.targets.to_parquet(d / "targets.parquet", index=False)
            self.nll_table().to_parquet(d / "nll.parquet", index=False)
            write_scan(self.clean, d / "clean")
            write_scan(self.intervened, d / "intervened")

        return write_dir_atomic(path, write, overwrite=overwrite)


def _as_pair(text: Any) -> tuple[str, str]:
    if isinstance(text, tuple) and len(text) == 2:
        return str(text[0]), str(text[1])
    if isinstance(text, str):
        return text, "arg 0"
    raise InputError(f"text must be a string (one text) or a (text, source) pair, got {type(text).__name__}.")


def clean_run(
    lm: LoadedModel,
    text: Any,
    cfg: DetectConfig,
    *,
    chat: bool = False,
    generate: int = 0,
    query_block: int | None = None,
) -> tuple[ScanResult, list[Prompt]]:
    """Prepare and scan `text` (a string, (text, source) pair or list of them) with NLL."""
    items = text if isinstance(text, list) else [text]
    pairs = [(t, f"arg {i}") if isinstance(t, str) else _as_pair(t) for i, t in enumerate(items)]
    t0 = time.perf_counter()
    prompts = prepare(lm, pairs, chat=chat, generate_tokens=generate)
    res = run_prompts(
        lm, prompts, cfg, query_block=query_block, with_nll=with_nll_for(lm),
        extra={"generate": generate, "chat": chat}, prepare_s=time.perf_counter() - t0,
    )
    return res, prompts  # type: ignore[return-value]


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
    """Edit what block `layer`'s MLP adds at `position` (one token or several) and re-run (METHOD.md §4).

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
    if clean is not None:
        if clean.manifest.get("model", {}).get("n_layers", lm.info.n_layers) != lm.info.n_layers:
            raise InputError("clean: that scan comes from a model with another depth; pass a scan of this model.")
        clean = single(clean, prompt)
        cfg = config or clean.config
        prompts = [prompt_of(clean, 0)]
        check_positions(position, len(prompts[0].token_ids))
        if clean.prompts[0].nll is None and with_nll_for(lm):
            clean = run_prompts(lm, prompts, cfg, query_block=query_block, extra=_run_extra(clean))  # type: ignore[assignment]
    else:
        if text is None:
            raise InputError("intervene: give a text (or clean=, a scan of it).")
        cfg = config or DetectConfig(**thresholds)
        pair = _as_pair(text)
        t0 = time.perf_counter()
        prompts = prepare(lm, [pair], chat=chat, generate_tokens=generate)
        check_positions(position, len(prompts[0].token_ids))  # before the expensive passes
        clean = run_prompts(  # type: ignore[assignment]
            lm, prompts, cfg, query_block=query_block, with_nll=with_nll_for(lm),
            extra={"generate": generate, "chat": chat}, prepare_s=time.perf_counter() - t0,
        )
    assert clean is not None
    positions = check_positions(position, clean.prompts[0].n_tokens)
    return apply_plans(lm, clean, prompts[0], layer, [(tuple(positions), spec)])[0]


def _run_extra(res: ScanResult) -> dict[str, Any]:
    return {"generate": res.manifest.get("generate", 0), "chat": res.manifest.get("chat", False)}


def apply_plans(
    lm: LoadedModel,
    clean: ScanResult,
    prompt: Prompt,
    layer: int | Sequence[int],
    edits: Sequence[tuple[tuple[int, ...], InterventionSpec]],
    *,
    batch_size: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[InterventionResult]:
    """Run each (positions, spec) edit of a one-prompt `clean` run at block `layer` (one layer for
    all, or one per edit); `batch_size` edited copies of the text go through the model at once.
    Batch rows are independent, so results match one-at-a-time runs to float tolerance (exactly
    when batch_size is 1)."""
    layers = [int(layer)] * len(edits) if isinstance(layer, (int, np.integer)) else [int(x) for x in layer]
    pt, det = clean.prompts[0], clean.findings.detections[0]
    p = det.p
    extra = _run_extra(clean)
    plans: list[tuple[EditPlan, float]] = []
    for b, (positions, spec) in zip(layers, edits):
        u, norm = primary_direction(pt, p, b)
        plans.append((EditPlan(b, tuple(positions), spec, u if spec.needs_direction else None), norm))
    out: list[InterventionResult] = []
    batch_size = max(1, int(batch_size))
    for s in range(0, len(plans), batch_size):
        chunk = plans[s : s + batch_size]
        rows = run_prompts(
            lm,
            [prompt] * len(chunk),
            clean.config,
            edit=edit_for([pl for pl, _ in chunk]),
            query_block=clean.trace.settings.query_block,
            with_nll=pt.nll is not None,
            extra=extra,
            split=True,
        )
        for (plan, norm), res in zip(chunk, rows):  # type: ignore[arg-type]
            res.manifest["intervention"] = _plan_dict(plan, p)
            ept, edet = res.prompts[0], res.findings.detections[0]
            out.append(
                InterventionResult(
                    spec=plan.spec,
                    layer=plan.layer,
                    positions=list(plan.positions),
                    primary=p,
                    direction_norm=norm,
                    clean=clean,
                    intervened=res,
                    nll=nll_delta(pt.nll, ept.nll, min(plan.positions)),
                    targets=effects(pt, det, ept, edet, plan.positions, plan.layer),
                )
            )
        if progress is not None:
            progress(len(chunk))
    return out


def _plan_dict(plan: EditPlan, p: int) -> dict[str, Any]:
    return {
        "mode": str(plan.spec),
        "kind": plan.spec.kind,
        "value": plan.spec.value,
        "layer": plan.layer,
        "positions": list(plan.positions),
        "primary": p,
        "direction": "unit(h_p^b) from the clean pass" if plan.direction is not None else None,
        "method": "METHOD.md §4 causal check",
    }


__all__ = [
    "EFFECT_COLUMNS",
    "InterventionResult",
    "NllDelta",
    "apply_plans",
    "check_layer",
    "check_positions",
    "clean_run",
    "effects",
    "intervene",
    "nll_delta",
    "prompt_of",
    "run_prompts",
    "single",
]
