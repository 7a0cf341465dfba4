"""Running a sweep: every model x prompt, appended to one store (see `store`), resumable.

    from sinkscope.workflows.sweep import run_sweep
    rep = run_sweep("runs/sweep", ["smollm2-135m", "gemma3-270m"], "prompts.jsonl", generate=64)

The unit of work is one (model, prompt). A unit is done when its completion record exists; a run
computes only the units that are not done, so re-running the same sweep after a crash, a Ctrl-C
or a SIGKILL continues where it stopped (nothing lost, nothing duplicated, nothing recomputed).

Executors:
- "local" (default): in this process, one model loaded at a time.
- "ray": one Ray task per (model, shard of up to `shard_size` pending prompts), on an existing
  cluster (`ray_address`) or a local one (`ray.init(num_cpus=2)`). Each task loads its model,
  writes its own parts and completion records into the store (which must be on a file system
  every node sees), and returns; the driver only schedules pending work and watches progress.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinkscope.analysis.config import AnalysisConfig
from sinkscope.core.errors import InputError
from sinkscope.core.hashing import sha256_file
from sinkscope.workflows.outputs import result_kind
from sinkscope.workflows.sweep.ray_executor import run_ray
from sinkscope.workflows.sweep.store import (
    STORE_FORMAT,
    STORE_VERSION,
    TMP_PREFIX,
    SweepStore,
    describe_differences,
    identity,
    now,
    prompt_key,
    remove_tree,
    unique_labels,
)
from sinkscope.workflows.sweep.units import (
    Pending,
    Progress,
    RunOptions,
    SweepReport,
    Unit,
    run_local,
    run_units,
)

if TYPE_CHECKING:
    from sinkscope.capture.inputs import Input, Skipped

__all__ = ["EXECUTORS", "ON_ERROR", "Progress", "RunOptions", "SweepReport", "Unit", "run_sweep", "run_units"]

EXECUTORS = ("local", "ray")
ON_ERROR = ("fail", "skip")

ModelArg = Any  # a reference load_model understands (str / PathLike), or a LoadedModel


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _read_prompts(
    prompts: Any, on_error: str
) -> tuple[list[Input], str | None, str, list[Skipped]]:
    """The `Input`s, the file path / dataset (or None), the sha256 that identifies the prompt set,
    and the JSONL lines skipped by on_error="skip" (with their reasons). `prompts` is a path (the
    file's sha256), a `PromptFile` already read (`read_prompts` / `read_dataset` with field options:
    the sha256 of its inputs), or a list of texts, (text, source) pairs, token-id lists or `Input`s."""
    from sinkscope.capture.inputs import PromptFile, as_inputs, bundled_path, read_prompts  # imports torch

    if isinstance(prompts, (str, os.PathLike)):
        path = bundled_path("prompts.jsonl") if str(prompts) == "bundled" else Path(prompts)
        read = read_prompts(path, on_error=on_error)  # type: ignore[arg-type]
        return read.inputs, str(path), sha256_file(path), read.skipped
    if isinstance(prompts, PromptFile):
        where = prompts.source.get("file") or prompts.source.get("dataset")
        return prompts.inputs, where, _inputs_sha(prompts.inputs), prompts.skipped
    if not prompts:
        raise InputError("no prompts to sweep: give a prompt file or a non-empty list of texts.")
    inputs = as_inputs(prompts)
    for i, x in enumerate(inputs):
        if x.text is not None and not x.text.strip():
            raise InputError(f"prompt {i} ({x.source}) is empty; give a non-empty text.")
    if all(x.form == "text" for x in inputs):  # the digest of a list of texts, as before inputs had forms
        return inputs, None, hashlib.sha256(json.dumps([x.text for x in inputs], ensure_ascii=False).encode()).hexdigest(), []
    return inputs, None, _inputs_sha(inputs), []


def _source_of(prompts: Any) -> dict[str, Any]:
    """The dataset, split, fields used and forms of a `PromptFile` (sweep.json "prompts"); {} otherwise."""
    from sinkscope.capture.inputs import PromptFile

    if not isinstance(prompts, PromptFile):
        return {}
    return {k: v for k, v in prompts.source.items() if k in ("dataset", "split", "fields", "forms")}


def _inputs_sha(inputs: Sequence[Input]) -> str:
    return hashlib.sha256(json.dumps([x.to_dict() for x in inputs], ensure_ascii=False).encode()).hexdigest()


def _resolve_models(models: ModelArg | Sequence[ModelArg] | Mapping[str, ModelArg]) -> list[tuple[str, str, Any]]:
    """[(label, ref, model)]: `model` is the ref (str) or an in-memory LoadedModel. Unknown names and
    missing paths fail here, before any work (no model is loaded)."""
    from sinkscope.models.base import LoadedModel
    from sinkscope.models.loading import RefKind, classify_ref, load_model

    if isinstance(models, Mapping):
        items = list(models.items())
    else:
        if isinstance(models, (str, os.PathLike, LoadedModel)):
            models = [models]
        items = []
        for m in models:
            if isinstance(m, LoadedModel):
                items.append((None, m))
            else:
                items.append((None, os.fspath(m).strip()))
    if not items:
        raise InputError("no models to sweep: give at least one model (e.g. --models smollm2-135m).")
    refs: list[str] = []
    objs: list[Any] = []
    names: list[str | None] = []
    for name, m in items:
        if isinstance(m, LoadedModel):
            ref = m.info.ref
        else:
            ref = os.fspath(m).strip()
            kind = classify_ref(ref)
            if kind in (RefKind.UNKNOWN, RefKind.MISSING_PATH):
                load_model(ref)  # raises ModelNotFoundError with suggestions; loads nothing
            m = ref
        if ref in refs and name is None:
            continue  # the same model listed twice: sweep it once
        refs.append(ref)
        objs.append(m)
        names.append(name)
    auto = unique_labels(refs)
    labels = [n if n is not None else a for n, a in zip(names, auto)]
    for lab in labels:
        if not lab or "/" in lab or lab.startswith(".") or lab in (".", ".."):
            raise InputError(f"model label {lab!r} is not usable as a folder name.")
    if len(set(labels)) != len(labels):
        raise InputError(f"model labels must be distinct (got {labels}).")
    return list(zip(labels, refs, objs))


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------


def _folder_state(out: Path, params: dict[str, Any]) -> tuple[str, str]:
    """("new" | "empty" | "same" | "different" | "foreign", detail)."""
    if not out.exists():
        return "new", ""
    if not out.is_dir():
        raise InputError(f"--out '{out}' is a file, not a folder; choose a folder for the sweep.")
    store = SweepStore(out)
    if store.exists():
        old = store.read_params()
        if identity(old) == identity(params):
            return "same", ""
        return "different", describe_differences(old, params)
    try:
        # a killed run may leave its lock and a temporary sweep.json: that is still an empty folder
        entries = [e for e in os.listdir(out) if e != ".lock" and not e.startswith(TMP_PREFIX)]
    except OSError as e:
        raise InputError(f"cannot read --out '{out}' ({e.strerror}); choose a readable, writable folder.") from None
    if not entries:
        return "empty", ""
    if "manifest.json" in entries:
        return "foreign", "it holds a `sinkscope scan` result"
    return "foreign", f"it holds other files ({', '.join(sorted(entries)[:3])}{', ...' if len(entries) > 3 else ''})"


def run_sweep(
    out: str | os.PathLike,
    models: ModelArg | Sequence[ModelArg] | Mapping[str, ModelArg],
    prompts: Any,
    *,
    mode: str = "general",
    config: Any = None,
    generate: int = 0,
    chat: bool = False,
    dtype: str = "float32",
    resume: bool = False,
    overwrite: bool = False,
    on_error: str = "fail",
    executor: str = "local",
    ray_address: str | None = None,
    shard_size: int = 8,
    num_cpus: int | None = None,
    progress: Progress | None = None,
    **thresholds: Any,
) -> SweepReport:
    """Scan every model x prompt and append the results to the store in `out` (see `store`).

    models     names / paths / hub ids (as `load_model` takes them), LoadedModel objects (local
               executor only), or a {label: model} mapping.
    prompts    a .jsonl / .txt file (or "bundled"), a `PromptFile` (`capture.inputs.read_prompts` /
               `read_dataset` with field options), or a list of texts, (text, source) pairs, token-id
               lists or `Input`s (the forms of `sinkscope.capture.inputs`).
    mode, config, **thresholds   as for `sinkscope.scan` (a DetectConfig, or its fields).
    resume     continue the sweep in `out` (it must have the same parameters). A plain call with
               the same parameters also resumes; with different ones it is refused unless
               `overwrite` (which replaces `out`).
    on_error   "fail" (default) or "skip": bad JSONL lines and prompts over a model's context.
    executor   "local" (in-process, default) or "ray" (`ray_address`, or a local instance with
               `num_cpus` CPUs, default 2; `shard_size` prompts per task).
    progress   progress(model_label, done, total, stage).

    Raises a SinkscopeError (InputError, ModelNotFoundError, CorruptWeightsError,
    NumericalError, ...) with a clear message; completed units stay in the store (a store this
    call created that holds no completed unit is removed). KeyboardInterrupt propagates, leaving a
    resumable store.
    """
    t0 = time.perf_counter()
    from sinkscope.models.loading import torch_dtype

    if on_error not in ON_ERROR:
        raise InputError(f"--on-error must be one of {', '.join(ON_ERROR)} (got '{on_error}').")
    if executor not in EXECUTORS:
        raise InputError(f"--executor must be one of {', '.join(EXECUTORS)} (got '{executor}').")
    if not isinstance(generate, int) or isinstance(generate, bool) or generate < 0:
        raise InputError(f"--generate must be an integer >= 0 (got {generate!r}).")
    if resume and overwrite:
        raise InputError("--resume and --overwrite contradict each other; give one of them.")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise InputError(f"--shard-size must be >= 1 (got {shard_size!r}).")
    if num_cpus is not None and (not isinstance(num_cpus, int) or num_cpus < 1):
        raise InputError(f"--num-cpus must be >= 1 (got {num_cpus!r}).")
    if ray_address and executor != "ray":
        raise InputError("--ray-address needs --executor ray.")
    torch_dtype(dtype)  # unknown dtype -> InputError
    if config is not None and thresholds:
        raise InputError("give thresholds either as a DetectConfig (config=) or as keywords, not both.")
    cfg = AnalysisConfig.coerce(config) if config is not None else AnalysisConfig(mode=mode, **thresholds)

    pairs, path, prompts_sha, skipped_lines = _read_prompts(prompts, on_error)
    # "PATH:LINE" for a file's lines, the source itself for a dataset's rows ("d.csv row 3")
    bad_lines = [f"{path}:{s.source.rsplit(':', 1)[1]}" if ":" in s.source else s.source for s in skipped_lines]
    resolved = _resolve_models(models)
    if executor == "ray" and any(not isinstance(obj, str) for _, _, obj in resolved):
        raise InputError("--executor ray loads each model in its own worker: give model names or paths, not loaded models.")

    # distinct prompts, in file order
    seen: dict[str, tuple[int, str, str]] = {}
    duplicates: list[str] = []
    for inp in pairs:
        key = prompt_key(inp.text if inp.form == "text" else inp.to_dict(), generate, chat)
        if key in seen:
            duplicates.append(f"{inp.source} repeats {seen[key][1]}")
            continue
        seen[key] = (len(seen), inp.source, inp)
    params = {
        "format": STORE_FORMAT,
        "format_version": STORE_VERSION,
        "created": now(),
        "models": [{"label": lab, "ref": ref} for lab, ref, _ in resolved],
        **cfg.manifest_entries(),  # mode, thresholds (part of the identity), analysis
        "generate": generate,
        "chat": bool(chat),
        "dtype": str(dtype),
        "prompts_sha256": prompts_sha,
        "prompts": {"file": path, **_source_of(prompts), "n_prompts": len(seen), "n_lines_skipped": len(bad_lines),
                    "n_duplicates": len(duplicates), "skipped_lines": [s.to_dict() for s in skipped_lines]},
    }
    from sinkscope.core.version import __version__

    params["sinkscope_version"] = __version__

    out = Path(out)
    state, detail = _folder_state(out, params)
    if state == "different" and not overwrite:
        raise InputError(
            f"--out '{out}' holds a different sweep ({detail}). Pass --overwrite to replace it, "
            "or choose another --out (--resume continues only a sweep with the same parameters)."
        )
    if state == "foreign" and not overwrite:
        raise InputError(
            f"--out '{out}' is not a sweep folder: {detail}. Choose another --out, or pass --overwrite to replace it."
        )
    if state == "foreign" and result_kind(out) is None:
        raise InputError(
            f"--out '{out}' is not a sinkscope result folder ({detail}); --overwrite only replaces a folder "
            "sinkscope wrote, or an empty one. Choose another folder, or remove it yourself."
        )
    replace = overwrite and state in ("same", "different", "foreign")
    created = state == "new"
    fresh = state in ("new", "empty") or replace

    old: Path | None = None
    try:
        if replace:
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            created = True
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if old is not None and old.exists() and not out.exists():
            os.replace(old, out)
        raise InputError(f"cannot write to --out '{out}' ({e.strerror or e}); choose a writable folder.") from None

    store = SweepStore(out)
    report = SweepReport(out=out, executor=executor, models=[lab for lab, _, _ in resolved], n_prompts=len(seen),
                         n_units=len(resolved) * len(seen), bad_lines=bad_lines,
                         skipped_lines=[s.to_dict() for s in skipped_lines], duplicates=duplicates)
    locked = False
    try:
        with store.lock():
            locked = True
            if old is not None:
                remove_tree(old)
                old = None
            if fresh:
                store.write_params(params)
            store.clean()
            units = {
                lab: [Unit(lab, ref, key, i, src, inp) for key, (i, src, inp) in seen.items()]
                for lab, ref, _ in resolved
            }
            pending: dict[str, list[Unit]] = {}
            done: dict[str, int] = {}
            for lab, _, _ in resolved:
                have = store.completed_keys(lab)
                pending[lab] = [u for u in units[lab] if u.key not in have]
                done[lab] = len(units[lab]) - len(pending[lab])
                report.n_already += done[lab]
            totals = {lab: len(units[lab]) for lab, _, _ in resolved}
            if progress:
                for lab, _, _ in resolved:
                    progress(lab, done[lab], totals[lab], "pending" if pending[lab] else "done")
            opts = RunOptions(dtype=str(dtype), generate=generate, chat=bool(chat), on_error=on_error,
                              ray_address=ray_address, shard_size=shard_size, num_cpus=num_cpus)
            work = Pending(store, resolved, pending, totals, done, cfg, opts, report, progress)
            (run_ray if executor == "ray" else run_local)(work)
            if report.n_units and report.n_skipped == report.n_units:
                raise InputError(
                    f"every (model, prompt) pair was skipped ({report.skipped[0]}"
                    f"{f'; and {report.n_units - 1} more' if report.n_units > 1 else ''}): nothing was scanned."
                )
    except BaseException:
        if old is not None and old.exists():
            # failed before the replaced folder was removed: put it back
            remove_tree(out)
            os.replace(old, out)
        elif locked and fresh and (store.count_records() == 0 or report.n_skipped == report.n_units):
            # nothing completed: leave no trace of this run
            if created:
                remove_tree(out)
            else:
                for name in ("sweep.json", ".lock", "sinks", "layers", "arrays", "done"):
                    p = out / name
                    remove_tree(p) if p.is_dir() else p.unlink(missing_ok=True)
        raise
    report.elapsed_s = time.perf_counter() - t0
    return report
