"""`sinkscope reproduce --protocol long`: the paper's protocol on long sampled reasoning traces
(issue 15). Two stages, each resumable:

    generate  per model, the traces not yet in TRACES/<model>.jsonl (`traces.generate_traces`)
    analyse   per model, one capture over the stored token ids (the scan pipeline,
              `scan.run_pipeline`, on prepared prompts; general mode, no NLL), cached as WORK/<model>/long-scan and
              reused while its "traces_sha256" matches the trace file's (`traces.traces_hash`);
              then the numbers of `long_stats` in general mode and in paper mode (the same capture
              re-analysed with the published rule, `ScanResult.reanalyze(mode="paper")`), and the
              sensitivity grid (72 re-analyses, no model run); the model's finished entry is
              cached as WORK/<model>/long-entry.json and reused while the traces' hash, the
              analysis config, the grid and the sinkscope version are the same (`cached_entry`),
              so re-running the stage after adding one model only analyses that model; every
              entry carries that key into long_results.json, so on a machine without the work
              folder (a fresh clone) an entry of the committed results is reused the same way

Outputs: OUT/reproduction/long/long_results.json (the run dict), the figures
OUT/reproduction/long/<model>/{depth,birth_lifetime}.png, and the long-protocol section of
OUT/REPRODUCTION.md (after the short protocol's part, `long_render.document`).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from sinkscope.analysis import AnalysisConfig
from sinkscope.capture.inputs import InputFields
from sinkscope.core.errors import (
    CorruptWeightsError,
    InputError,
    ModelNotFoundError,
    PullError,
    UnsupportedArchitectureError,
)
from sinkscope.core.fileio import jsonable, write_file_atomic, write_json
from sinkscope.workflows.reproduce.long_figures import write_long_figures
from sinkscope.workflows.reproduce.long_render import LONG_RESULTS, document, read_results
from sinkscope.workflows.reproduce.long_stats import Grid, sensitivity, sensitivity_summary, where_summary
from sinkscope.workflows.reproduce.plans import choose_threads
from sinkscope.workflows.reproduce.run import run_environment
from sinkscope.workflows.reproduce.traces import (
    Sampling,
    TraceRecord,
    TraceStore,
    generate_traces,
    math_problems,
    read_store,
)

if TYPE_CHECKING:
    from sinkscope.capture.inputs import Prompt
    from sinkscope.models.base import LoadedModel
    from sinkscope.workflows.scan import ScanResult

Stage = Literal["generate", "analyse"]
STAGES: tuple[str, ...] = get_args(Stage)
LogFn = Callable[[str], None]
Loader = Callable[[str], "LoadedModel"]

# Traces per model (x LONG_TOKENS generated tokens): the budgets, >= 40k generated tokens
# for SmolLM2-135M and Qwen2.5-Coder-0.5B, >= 20k for Gemma3-270M, >= 15k for Qwen2.5-Coder-1.5B.
LONG_PLANS: dict[str, int] = {"smollm2-135m": 42, "gemma3-270m": 20, "qwen2.5-coder-0.5b": 42, "qwen2.5-coder-1.5b": 15}
LONG_TOKENS = 1024
SCAN_DIR = "long-scan"
ENTRY_FILE = "long-entry.json"
# Bumped when an entry gains or changes numbers, so that cached entries without them are re-analysed
# (2: tokens_per_trace, and n_generated_middle in every grid cell; 3: paper mode on the published
# code's states, HF's hidden_states[1:], docs/method.md §3).
ENTRY_FORMAT = 3


def trace_prompts(lm: LoadedModel, records: Sequence[TraceRecord]) -> list[Prompt]:
    """`Prompt`s over the stored token ids (checked against the model's vocabulary; text and tokens
    decoded with the model's tokenizer); their template region is the prefix all traces share
    (`long_stats`, docs/method.md §3 "Regions")."""
    from sinkscope.capture.inputs import Prompt, check_ids, common_prefix

    dec = lm.tokenizer.decode
    for r in records:
        check_ids(lm, r.token_ids, f"trace {r.id!r}")
    shared = common_prefix([r.token_ids for r in records])
    return [
        Prompt(text=dec(r.token_ids), token_ids=list(r.token_ids), tokens=[dec([t]) for t in r.token_ids],
               n_prompt_tokens=r.n_prompt_tokens, source=f"long:{r.model}:{r.id}",
               n_template_tokens=min(shared, r.n_prompt_tokens), form="token_ids", chat=r.chat)
        for r in records
    ]


def capture_traces(
    lm: LoadedModel, records: Sequence[TraceRecord], cfg: AnalysisConfig, *, sha256: str,
    progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """One capture over every trace and its general-mode analysis; the manifest records the
    protocol, the trace ids and seeds and the trace file's sha256."""
    from sinkscope.workflows.scan import Progress, run_pipeline

    class Captured(Progress):  # `progress(k)`: k more traces captured
        n = 0

        def advance(self, stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress(done - self.n)
            self.n = done

    t0 = time.perf_counter()
    prompts = trace_prompts(lm, records)
    extra = {"protocol": "long", "traces_sha256": sha256, "trace_ids": [r.id for r in records],
             "seeds": [r.seed for r in records]}
    return run_pipeline(lm, cfg, prompts=prompts, progress=Captured(), extra=extra, prepare_s=time.perf_counter() - t0)


def cached_scan(work: Path, sha256: str) -> ScanResult | None:
    """The cached capture WORK/long-scan when its manifest's traces_sha256 is `sha256` and it holds
    what paper mode reads (the last hidden state, `PromptTrace.final_norm`; captures made before it
    was recorded are captured again), else None."""
    from sinkscope.workflows.scan import ScanResult

    mf = work / SCAN_DIR / "manifest.json"
    if not mf.exists() or json.loads(mf.read_text(encoding="utf-8")).get("traces_sha256") != sha256:
        return None
    res = ScanResult.load(work / SCAN_DIR)
    return res if all(p.final_norm is not None for p in res.prompts) else None


def model_entry(name: str, res: ScanResult, records: Sequence[TraceRecord], grid: Grid,
                timings: dict[str, float], log: LogFn = print) -> dict[str, Any]:
    """One model's entry of the long run: setup, general- and paper-mode numbers, the grid."""
    t0 = time.perf_counter()
    general = where_summary(res)
    paper = where_summary(res.reanalyze(mode="paper"))
    t1 = time.perf_counter()
    cells = sensitivity(res, grid)
    t_grid = time.perf_counter() - t1
    log(f"[{name}] analysis {t1 - t0:.0f} s, sensitivity grid ({len(cells)} cells) {t_grid:.0f} s")
    n_prompt = [r.n_prompt_tokens for r in records]
    return {
        "name": name,
        "status": "ok",
        "setup": {
            "n_traces": len(records),
            "trace_ids": [r.id for r in records],
            "seeds": sorted({r.seed for r in records}),
            "chat": bool(records[0].chat),
            "sampling": records[0].sampling,
            "eos_suppressed_until": records[0].eos_suppressed_until,
            "prompt_tokens": {"min": min(n_prompt), "max": max(n_prompt), "total": sum(n_prompt)},
            "generated_tokens": sum(r.n_generated for r in records),
            "tokens_per_trace": sorted({r.n_generated for r in records}),
            "tokens_total": sum(len(r.token_ids) for r in records),
            "n_layers": general["n_layers"],
        },
        "general": general,
        "paper": paper,
        "sensitivity": {"cells": cells, "summary": sensitivity_summary(cells)},
        "timings": {
            **timings,
            "generate_s": sum(r.generate_s for r in records),
            "analysis_s": t1 - t0,
            "grid_s": t_grid,
        },
    }


def _entry_key(sha: str, cfg: AnalysisConfig, grid: Grid) -> dict[str, Any]:
    """What a cached model entry depends on (`cached_entry`)."""
    from sinkscope.core.version import __version__

    return jsonable({"traces_sha256": sha, "config": cfg.to_dict(), "grid": grid.to_dict(), "sinkscope": __version__,
                     "entry_format": ENTRY_FORMAT})


def cached_entry(mwork: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The model entry cached in WORK/<model>/long-entry.json when it was made with `key`, else None."""
    f = mwork / ENTRY_FILE
    if not f.exists():
        return None
    stored = json.loads(f.read_text(encoding="utf-8"))
    return stored["entry"] if stored.get("key") == key else None


def analyse_model(name: str, traces_path: Path, work: Path, cfg: AnalysisConfig, grid: Grid, *,
                  load: Loader, log: LogFn = print, previous: dict[str, Any] | None = None,
                  fields: InputFields | None = None) -> dict[str, Any]:
    """The analysis stage of one model (resumes from the cached entry or capture, see module
    docstring). `previous`: this model's entry in the long_results.json being replaced, reused
    when its "key" equals this run's (same traces, config, grid and sinkscope version). Traces
    made elsewhere are read with `fields` (`traces.read_store`)."""
    records, sha = read_store(traces_path, fields, model=name)
    if not records:
        return {"name": name, "status": "not run", "reason": f"no traces in {traces_path}"}
    mwork = work / Path(name).name
    key = _entry_key(sha, cfg, grid)
    entry = cached_entry(mwork, key)
    if entry is not None:
        log(f"[{name}] cached analysis of {len(records)} traces (sha256 {sha[:12]}) in {mwork / ENTRY_FILE}")
        return {**entry, "key": key}
    if previous is not None and previous.get("status") == "ok" and previous.get("key") == key:
        log(f"[{name}] analysis of {len(records)} traces (sha256 {sha[:12]}) reused from the previous {LONG_RESULTS.name}")
        return previous
    t0 = time.perf_counter()
    res = cached_scan(mwork, sha)
    timings: dict[str, float] = {}
    if res is not None:
        log(f"[{name}] cached capture of {len(records)} traces (sha256 {sha[:12]}) in {mwork / SCAN_DIR}")
        timings["capture_s"] = float(res.manifest.get("timings", {}).get("capture_s", 0.0))
    else:
        try:
            lm = load(name)
        except (ModelNotFoundError, CorruptWeightsError, PullError, UnsupportedArchitectureError, MemoryError) as e:
            log(f"[{name}] not run: the model did not load ({e})")
            return {"name": name, "status": "not run", "reason": f"the model did not load: {e}"}
        try:
            log(f"[{name}] capturing {len(records)} traces ({sum(len(r.token_ids) for r in records)} tokens)")
            res = capture_traces(lm, records, cfg, sha256=sha)
            timings["capture_s"] = float(res.trace.timings.get("capture_s", time.perf_counter() - t0))
        finally:
            del lm
            gc.collect()
        res.save(mwork / SCAN_DIR, overwrite=True)
    entry = jsonable(model_entry(name, res, records, grid, timings, log))
    write_json(mwork / ENTRY_FILE, {"key": key, "entry": entry}, indent=1)
    return {**entry, "key": key}


def _default_loader(name: str) -> LoadedModel:
    from sinkscope.models import load_model

    return load_model(name)


def reproduce_long(
    *,
    out: str | Path = "docs",
    work: str | Path = "reproduce-runs/long",
    traces: str | Path = "docs/reproduction/long/traces",
    models: Sequence[str] | None = None,
    stages: Sequence[str] = STAGES,
    plans: dict[str, int] | None = None,
    n_tokens: int = LONG_TOKENS,
    threads: int | None = None,
    grid: Grid = Grid(),
    sampling: Sampling = Sampling(),
    load: Loader = _default_loader,
    log: LogFn = print,
    command: str | None = None,
    fields: InputFields | None = None,
) -> dict[str, Any]:
    """Run the long protocol's `stages` (module docstring) on `models` (default: the catalog
    decoders of `LONG_PLANS`; `plans` gives traces per model) and, after the analysis stage, write
    the results, figures and document. Returns the run dict (empty "models" without analysis).
    TRACES/<model>.jsonl may hold traces made elsewhere (vLLM output, token ids with
    n_prompt_tokens, prompt + response; `fields` names their fields): the analysis reads them as
    they are (`traces.external_records`)."""
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        raise InputError(f"--stages must be a subset of {', '.join(STAGES)} (got {', '.join(stages) or 'nothing'}).")
    plans = dict(plans or LONG_PLANS)
    names = [m.strip() for m in (models or list(plans)) if m and m.strip()]
    unknown = [m for m in names if m not in plans]
    if unknown:
        raise InputError(f"no long-protocol plan for {', '.join(unknown)}; use {', '.join(plans)}.")
    n_problems = len(math_problems())
    bad_plan = {m: n for m, n in plans.items() if m in names and not 1 <= n <= n_problems}
    if bad_plan:
        raise InputError(f"--prompts (traces per model) must be 1-{n_problems}, the bundled math problems "
                         f"(got {', '.join(f'{m}: {n}' for m, n in bad_plan.items())}).")
    if n_tokens < 1:
        raise InputError(f"--generate (tokens per trace) must be >= 1 (got {n_tokens}).")
    import torch

    out, work, traces = Path(out), Path(work), Path(traces)
    n_threads = choose_threads(threads)
    torch.set_num_threads(n_threads)
    cfg = AnalysisConfig()
    log(f"sinkscope reproduce --protocol long: {', '.join(names)}; stages {', '.join(stages)}; "
        f"traces {traces}; torch threads {n_threads}")
    t0 = time.perf_counter()
    if "generate" in stages:
        for m in names:
            store = TraceStore.for_model(traces, m)
            have = {r.id for r in store.recover()}
            todo = [p for p in math_problems(plans[m]) if p[0] not in have]
            if not todo:
                log(f"[{m}] {plans[m]} traces in {store.path}: nothing to generate")
                continue
            lm = load(m)
            try:
                generate_traces(lm, store, todo, n_tokens, sampling, model=m, log=log)
            finally:
                del lm
                gc.collect()
    run: dict[str, Any] = {"protocol": "long", "models": []}
    if "analyse" not in stages:
        return run
    work.mkdir(parents=True, exist_ok=True)
    if not (work / ".gitignore").exists():
        (work / ".gitignore").write_text("# sinkscope reproduce --protocol long work folder: captures, not committed\n*\n")
    before = out / LONG_RESULTS
    previous = {e.get("name"): e for e in (json.loads(before.read_text(encoding="utf-8")).get("models") or [])} if before.exists() else {}
    entries = [analyse_model(m, TraceStore.for_model(traces, m).path, work, cfg, grid, load=load, log=log,
                             previous=previous.get(m), fields=fields) for m in names]
    run = {
        "protocol": "long",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command or "sinkscope reproduce --protocol long",
        "traces": str(traces),
        **({"trace_fields": fields.to_dict()} if fields is not None and fields.named else {}),
        "n_tokens": trace_lengths(entries) or [n_tokens],
        "threads": n_threads,
        "environment": run_environment(n_threads),
        "config": cfg.to_dict(),
        "grid": grid.to_dict(),
        "models": entries,
        "timings": {"total_s": time.perf_counter() - t0},
    }
    write_long_outputs(run, out)
    log(f"wrote {out / LONG_RESULTS}, the figures and {out / 'REPRODUCTION.md'}")
    return run


def trace_lengths(entries: Sequence[dict[str, Any]]) -> list[int]:
    """The distinct generated tokens per trace over the analysed models' entries (entries written
    before "tokens_per_trace" existed: generated tokens / traces, exact for one store's one length)."""
    ok = [e["setup"] for e in entries if e.get("status") == "ok"]
    return sorted({int(t) for s in ok for t in (s.get("tokens_per_trace") or [s["generated_tokens"] // max(s["n_traces"], 1)])})


def write_long_outputs(run: dict[str, Any], out: str | Path) -> Path:
    """OUT/reproduction/long/long_results.json, the figures of every model (their paths go into
    the entry's "figures") and OUT/REPRODUCTION.md (the short part from
    OUT/reproduction/results.json when it exists, then the long section). Returns the document."""
    out = Path(out)
    for e in run.get("models") or []:
        if e.get("status") == "ok":
            e["figures"] = write_long_figures(e, out / LONG_RESULTS.parent / Path(e["name"]).name, rel_to=out)
    write_json(out / LONG_RESULTS, jsonable(run), indent=1)
    short, _ = read_results(out)
    return write_file_atomic(out / "REPRODUCTION.md", document(short, jsonable(run)))
