"""Orchestration of `sinkscope reproduce`: per model, load, scan (+ greedy generation, NLL),
de-duplicate (`stats.distinct_sinks`), run the causal check (`causal.causal_check`), save the scan
and interventions folders and the figures, summarise (`stats.summarize_model`); then write
reproduction/results.json and REPRODUCTION.md (`render.render_markdown`)."""

from __future__ import annotations

import gc
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinkscope.analysis import AnalysisConfig
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable, write_file_atomic, write_json
from sinkscope.core.version import __version__
from sinkscope.workflows.reproduce.causal import causal_check
from sinkscope.workflows.reproduce.figures import write_model_figures
from sinkscope.workflows.reproduce.long_render import document, read_results
from sinkscope.workflows.reproduce.plans import (
    CATALOG_DECODERS,
    Plan,
    choose_threads,
    resolve_plans,
    select_prompts,
)
from sinkscope.workflows.reproduce.rules import RULES, verdicts
from sinkscope.workflows.reproduce.stats import distinct_sinks, summarize_model

if TYPE_CHECKING:
    from sinkscope.analysis import DetectConfig
    from sinkscope.models.base import LoadedModel
    from sinkscope.workflows.scan import ScanResult

ProgressFn = Callable[[str, str, int, int], None]  # (model, stage, done, total)
LogFn = Callable[[str], None]


def _safe(name: str) -> str:
    """A folder name for a model name or path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name) or "model"


def _params_label(name: str) -> str | None:
    """The catalog's parameter count label ('135M'), None outside the catalog."""
    from sinkscope.models.catalog import get_spec

    try:
        return get_spec(name).params_label
    except Exception:  # noqa: BLE001 - not a catalog name: no params label
        return None


@dataclass
class _ModelRun:
    """One model's run: what `run_model` was given, and the loaded model."""

    lm: LoadedModel
    name: str
    plan: Plan
    out: Path
    work: Path
    progress: ProgressFn | None
    log: LogFn


def run_model(
    name: str,
    plan: Plan,
    *,
    out: Path,
    work: Path,
    config: DetectConfig | None = None,
    progress: ProgressFn | None = None,
    log: LogFn = print,
) -> list[dict[str, Any]]:
    """Scan (+ generate) and intervene on one model; save its scan folder and figures; return its
    entries of the run dict: one, plus a centred-cosine re-analysis entry when that detector keeps
    fewer than half the distinct secondary sinks (`RULES['centred_variant_below']`)."""
    from sinkscope.models import load_model  # imports torch: only when a model runs

    cfg = config or AnalysisConfig()
    params = _params_label(name)
    entry: dict[str, Any] = {"name": name, "label": name, "status": "ok", "reason": None,
                             "params": params if params is not None else "–"}
    t0 = time.perf_counter()
    try:
        lm = load_model(name)
    except Exception as e:  # noqa: BLE001 - any load failure makes the model "not testable here"
        entry.update(status="not run", reason=f"could not load: {str(e).splitlines()[0][:200]}")
        log(f"[{name}] not run: {entry['reason']}")
        return [entry]
    t_load = time.perf_counter() - t0
    try:
        return _run_loaded(_ModelRun(lm, name, plan, out, work, progress, log), cfg, entry, t0, t_load)
    finally:
        del lm
        gc.collect()


def _analyse(r: _ModelRun, res: ScanResult, key: str, n_centred: int | None) -> tuple[dict[str, Any], float, float]:
    """Distinct sinks, causal check, saved folders and figures of one scan (raw or a re-analysis):
    (its part of the entry, causal-check seconds, saving + figures seconds)."""
    d = distinct_sinks(res)
    t2 = time.perf_counter()

    def on_auto(done: int, total: int) -> None:
        if r.progress is not None:
            r.progress(key, "intervene", done, total)

    auto_res = causal_check(r.lm, d, r.plan, on_auto)
    t_auto = time.perf_counter() - t2
    t3 = time.perf_counter()
    mdir = r.work / _safe(key)
    scan_dir = res.save(mdir / "scan", overwrite=True)
    if auto_res is not None:
        auto_res.save(mdir / "interventions", overwrite=True)
    figs = write_model_figures(d.res, r.out / "reproduction" / _safe(key), rel_to=r.out)
    part = summarize_model(d, auto_res, n_centred=n_centred)
    part.update(
        figures=figs,
        scan_dir=str(scan_dir),
        interventions_dir=str(mdir / "interventions") if auto_res is not None else None,
        config=res.config.to_dict(),
    )
    return part, t_auto, time.perf_counter() - t3


def _setup(r: _ModelRun, rows: list[dict[str, Any]], chat: bool, res: ScanResult) -> dict[str, Any]:
    """The setup block of an entry: prompts, categories, token counts, architecture."""
    n_prompt = [int(m.get("n_prompt_tokens", 0)) for m in res.manifest["prompts"]]
    n_total = [p.n_tokens for p in res.prompts]
    return {
        "n_prompts": len(rows),
        "prompt_ids": [str(x.get("id")) for x in rows],
        "categories": dict(Counter(str(x.get("category")) for x in rows)),
        "chat": chat,
        "generate": r.plan.generate,
        "prompt_tokens": {"min": min(n_prompt), "max": max(n_prompt), "median": float(np.median(n_prompt)),
                          "total": sum(n_prompt)},
        "generated_tokens": int(sum(n_total) - sum(n_prompt)),
        "tokens_total": int(sum(n_total)),
        "n_layers": r.lm.info.n_layers,
        "architecture": r.lm.info.architecture,
    }


def _run_loaded(r: _ModelRun, cfg: DetectConfig, entry: dict[str, Any], t0: float, t_load: float) -> list[dict[str, Any]]:
    from sinkscope.capture.inputs import tokenize  # imports torch
    from sinkscope.workflows.scan import scan

    name, plan, log = r.name, r.plan, r.log
    chat = bool(getattr(r.lm.tokenizer, "chat_template", None))
    rows = select_prompts(plan.prompts)
    pairs = [(x["text"], f"bundled:prompts.jsonl:{x.get('id', i)}") for i, x in enumerate(rows)]
    lens = [len(tokenize(r.lm, t, chat=chat)) for t, _ in pairs]
    log(
        f"[{name}] loaded in {t_load:.1f} s: {r.lm.info.n_layers} blocks; {len(pairs)} prompts, "
        f"{min(lens)}-{max(lens)} tokens (median {int(np.median(lens))}) + {plan.generate} generated, "
        f"chat template: {'yes' if chat else 'no (base model)'}"
    )

    def on_scan(stage: str, done: int, total: int) -> None:
        if r.progress is not None:
            r.progress(name, "generate" if stage == "prepare" and plan.generate else stage, done, total)

    t1 = time.perf_counter()
    res = scan(r.lm, pairs, config=cfg, chat=chat, generate=plan.generate, with_nll=True, progress=on_scan)
    t_scan = time.perf_counter() - t1
    res_c = res.reanalyze(cosine="centred")
    n_c = len(distinct_sinks(res_c).res.findings.secondary)
    part, t_auto, t_fig = _analyse(r, res, name, n_centred=n_c)
    entry.update(part)
    entry["setup"] = _setup(r, rows, chat, res)
    entries = [entry]
    n_raw = entry["existence"]["n_secondary"]
    if n_raw and n_c < RULES["centred_variant_below"] * n_raw:
        key = f"{name}-centred"
        log(f"[{name}] the centred cosine keeps {n_c} of {n_raw} distinct secondary sinks: adding a '{key}' re-analysis")
        vpart, v_auto, v_fig = _analyse(r, res_c, key, n_centred=n_c)
        t_auto += v_auto
        t_fig += v_fig
        entries.append({
            "name": key, "label": f"{name} (centred cos)", "status": "ok", "reason": None,
            "params": entry.get("params"), "variant_of": name, **vpart,
            "setup": entry["setup"], "timings": {"total_s": v_auto + v_fig},
        })
    entry["timings"] = {
        "load_s": t_load,
        "scan_s": t_scan,
        "interventions_s": t_auto,
        "figures_s": t_fig,
        "total_s": time.perf_counter() - t0,
    }
    return entries


def run_environment(threads: int) -> dict[str, Any]:
    import torch
    import transformers

    return {
        "cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sinkscope": __version__,
    }


def _log_plans(plans: dict[str, Plan], log: LogFn) -> None:
    """One line per model (prompts by category, characters, generation, causal cap), then the order."""
    order = select_prompts(max(p.prompts for p in plans.values()))
    for m, p in plans.items():
        sel = order[: p.prompts]
        cats = Counter(str(x.get("category")) for x in sel)
        chars = [len(x["text"]) for x in sel]
        log(
            f"  {m}: {p.prompts} prompts ({', '.join(f'{k} {v}' for k, v in cats.items())}; "
            f"{min(chars)}-{max(chars)} chars), generate {p.generate} tokens each, causal check on "
            f"<= {p.intervene_prompts} prompts x {p.max_sinks} sinks"
        )
    log("  prompt order: " + ", ".join(str(x.get("id")) for x in order))


def _with_missing(entries: list[dict[str, Any]], quick: bool) -> list[dict[str, Any]]:
    """Every catalog decoder (then any other model run) in order, a 'not run' entry for those skipped."""
    names = [e["name"] for e in entries if not e.get("variant_of")]
    full: list[dict[str, Any]] = []
    for n in list(CATALOG_DECODERS) + [n for n in names if n not in CATALOG_DECODERS]:
        hits = [e for e in entries if e["name"] == n or e.get("variant_of") == n]
        if not hits:
            why = "not run in quick mode" if quick else "not selected with --models"
            hit: dict[str, Any] = {"name": n, "label": n, "status": "not run", "reason": why}
            params = _params_label(n)
            if params is not None:
                hit["params"] = params
            hits = [hit]
        full += hits
    return full


def reproduce(
    *,
    out: str | Path = "docs",
    work: str | Path = "reproduce-runs",
    models: Sequence[str] | None = None,
    quick: bool = False,
    prompts: int | None = None,
    generate: int | None = None,
    threads: int | None = None,
    progress: ProgressFn | None = None,
    log: LogFn = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Run the reproduction and write out/REPRODUCTION.md, out/reproduction/results.json and the
    figures out/reproduction/<model>/{normlaw,weakening,levels}.png. Scan folders go to
    work/<model>/scan (work gets a `.gitignore` of `*`). Returns the run dict.

    In quick mode only SmolLM2 runs, but every catalog decoder gets a row ("not run in quick mode").
    """
    import torch

    out, work = Path(out), Path(work)
    plans = resolve_plans(models, quick, prompts, generate)
    n_threads = choose_threads(threads)
    torch.set_num_threads(n_threads)
    for d in (out, work):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create '{d}' ({e.strerror}); choose a writable folder.") from e
    gi = work / ".gitignore"
    if not gi.exists():
        gi.write_text("# sinkscope reproduce work folder: scan outputs, not committed\n*\n")

    mode = "quick" if quick else "full"
    log(f"sinkscope reproduce ({mode}): {len(plans)} model(s), torch threads {n_threads}, out {out}, work {work}")
    _log_plans(plans, log)
    cfg = AnalysisConfig()
    t0 = time.perf_counter()
    entries = []
    for m, p in plans.items():
        tm = time.perf_counter()
        got = run_model(m, p, out=out, work=work, config=cfg, progress=progress, log=log)
        entries += got
        for e in got:
            if e["status"] == "ok":
                ex = e["existence"]
                log(
                    f"[{e['label']}] done ({time.perf_counter() - tm:.0f} s so far): {ex['n_secondary']} distinct "
                    f"secondary sinks ({ex['n_secondary_records']} records) in {ex['n_tokens']} tokens; verdicts: "
                    + ", ".join(f"{c}: {v['verdict']}" for c, v in verdicts(e).items())
                )
    run = {
        "mode": mode,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command or "sinkscope reproduce" + (" --quick" if quick else ""),
        "environment": run_environment(n_threads),
        "config": cfg.to_dict(),
        "rules": dict(RULES),
        "plans": {m: asdict(p) for m, p in plans.items()},
        "models": _with_missing(entries, quick),
        "timings": {"total_s": time.perf_counter() - t0,
                    **{e["name"]: (e.get("timings") or {}).get("total_s") for e in entries if not e.get("variant_of")}},
    }
    write_outputs(run, out)
    log(f"wrote {out / 'REPRODUCTION.md'} and {out / 'reproduction'}/ in {run['timings']['total_s'] / 60:.1f} min")
    return run


def write_outputs(run: dict[str, Any], out: str | Path) -> Path:
    """out/reproduction/results.json (the run + its verdicts, 1-space indent) and out/REPRODUCTION.md,
    each written atomically (`core.fileio`); the document keeps the long-protocol section when
    out/reproduction/long/long_results.json exists (`long_render.document`). Returns its path."""
    out = Path(out)
    stored = dict(run)
    stored["verdicts"] = {m.get("name"): {str(c): v for c, v in verdicts(m).items()} for m in run.get("models") or []}
    write_json(out / "reproduction" / "results.json", stored, indent=1)
    return write_file_atomic(out / "REPRODUCTION.md", document(jsonable(run), read_results(out)[1]))
