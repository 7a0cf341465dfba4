"""The units of a sweep and the work both executors share: one model over some prompts.

A `Unit` is one (model, prompt); `run_units` scans units of one loaded model through the scan
pipeline and writes each to the store (parts first, completion record last, see `store`);
`run_local` is the in-process executor; `Pending` is what an executor is handed.
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinkscope.analysis.config import AnalysisConfig
from sinkscope.capture.inputs import Input
from sinkscope.core.errors import InputError, SinkscopeError
from sinkscope.workflows.sweep.store import SweepStore

# progress(model_label, done, total, stage): stage is "pending", "loading", "scanning", "done".
Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class Unit:
    """One (model, prompt) of a sweep."""

    label: str
    ref: str
    key: str
    index: int  # position of the prompt in the prompt list (0-based)
    source: str  # "prompts.jsonl:12"
    input: Input  # the prompt in any input form (`sinkscope.capture.inputs`)


@dataclass(frozen=True)
class RunOptions:
    """The options both executors need besides the config (see `run_sweep` for each)."""

    dtype: str = "float32"
    generate: int = 0
    chat: bool = False
    on_error: str = "fail"
    ray_address: str | None = None
    shard_size: int = 8
    num_cpus: int | None = None


@dataclass
class SweepReport:
    """What `run_sweep` did.

    n_units      model x (distinct) prompt pairs of the sweep.
    n_already    complete before this run (not recomputed).
    n_ran        computed by this run; n_skipped: skipped (--on-error skip) by this run.
    skipped      one message per skipped prompt ("model 'x': p.jsonl:3 is 9000 tokens long ...").
    bad_lines    prompt-file lines skipped by --on-error skip ("p.jsonl:4").
    skipped_lines  the same lines with the reason ({"source": "p.jsonl:4", "reason": "..."}), as
                 sweep.json records them under prompts.skipped_lines.
    duplicates   prompts whose text repeats an earlier one (scanned once).
    """

    out: Path
    executor: str
    models: list[str]
    n_prompts: int
    n_units: int
    n_already: int = 0
    n_ran: int = 0
    n_skipped: int = 0
    skipped: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    skipped_lines: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def n_done(self) -> int:
        return self.n_already + self.n_ran + self.n_skipped

    def __repr__(self) -> str:
        """A one-line summary (folder, models, units and what this run did), not the message lists."""
        return (f"SweepReport(out='{self.out}', executor={self.executor!r}, models={self.models}, "
                f"prompts={self.n_prompts}, units={self.n_units}, ran={self.n_ran}, already={self.n_already}, "
                f"skipped={self.n_skipped}, elapsed_s={self.elapsed_s:.1f})")

    def count(self, status: str, msg: str | None = None) -> None:
        """Count one finished unit: status "done" (ran), "skipped" (with its message) or "already"."""
        if status == "done":
            self.n_ran += 1
        elif status == "skipped":
            self.n_skipped += 1
            self.skipped.append(msg or "")
        else:
            self.n_already += 1


@dataclass
class Pending:
    """What an executor runs: the pending units per model label and the counts it reports.

    models    (label, ref, model object or ref) in sweep order;  pending[label]: units not done;
    totals[label] / done[label]: units of the model in all / completed so far (progress).
    """

    store: SweepStore
    models: list[tuple[str, str, Any]]
    pending: dict[str, list[Unit]]
    totals: dict[str, int]
    done: dict[str, int]
    cfg: AnalysisConfig
    opts: RunOptions
    report: SweepReport
    progress: Progress | None = None

    def tell(self, label: str, stage: str, n: int | None = None) -> None:
        """Report progress of one model (n defaults to its done count)."""
        if self.progress:
            self.progress(label, self.done[label] if n is None else n, self.totals[label], stage)


# ---------------------------------------------------------------------------------------------
# The work of one model over some prompts (shared by both executors)
# ---------------------------------------------------------------------------------------------


def run_units(
    lm: Any,
    units: Sequence[Unit],
    store: SweepStore,
    cfg: AnalysisConfig,
    *,
    generate: int = 0,
    chat: bool = False,
    on_error: str = "fail",
    executor: str = "local",
    on_unit: Callable[[Unit, str, str | None], None] | None = None,
) -> None:
    """Scan `units` (all of one model, `lm`) and write each to the store.

    Lengths are checked for all units before any is scanned, so a prompt over the model's
    context fails (or, with on_error="skip", is recorded as skipped) before work starts.
    `on_unit(unit, status, message)` is called with status "done", "skipped" or "already".
    """
    from sinkscope.capture.inputs import check_generate, input_ids  # only when a sweep runs
    from sinkscope.workflows.scan import scan

    def note(u: Unit, status: str, msg: str | None = None) -> None:
        if on_unit is not None:
            on_unit(u, status, msg)

    limit = lm.info.max_context
    try:
        check_generate(lm, generate)
    except InputError as e:
        raise InputError(f"model '{units[0].label if units else lm.info.ref}': {e}") from None
    ok: list[Unit] = []
    for u in units:
        n = len(input_ids(lm, u.input, chat=chat)[0])
        problem = None
        if limit is not None and n + generate > limit:
            problem = (
                f"is {n} tokens long" + (f" (+{generate} to generate)" if generate else "")
                + f", over the {limit}-token context of '{u.ref}'"
            )
        elif n < 2:
            problem = f"has {n} token(s) (sinks need at least 2)"
        if problem is None:
            ok.append(u)
            continue
        msg = f"prompt {u.source} {problem}"
        if on_error == "skip":
            store.write_skipped(u.label, u.key, _base_record(u, executor), msg)
            note(u, "skipped", f"model '{u.label}': {msg}")
            continue
        raise InputError(f"model '{u.label}': {msg}; shorten or split it, or pass --on-error skip to skip such prompts.")
    for u in ok:
        if store.read_record(u.label, u.key) is not None:  # done meanwhile (e.g. a retried Ray task)
            note(u, "already")
            continue
        try:
            res = scan(lm, [u.input], config=cfg, chat=chat, generate=generate)
        except SinkscopeError as e:
            raise type(e)(f"model '{u.label}', prompt {u.source}: {e}") from e
        _write_result(store, u, res, executor)
        note(u, "done")


def _base_record(u: Unit, executor: str) -> dict[str, Any]:
    return {
        "ref": u.ref,
        "prompt_index": u.index,
        "source": u.source,
        "executor": executor,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def _write_result(store: SweepStore, u: Unit, res: Any, executor: str) -> None:
    def tag(df):
        df = df.copy()
        df["prompt"] = u.index
        df.insert(1, "prompt_key", u.key)
        df.insert(2, "source", u.source)
        return df

    pt = res.prompts[0]
    det = res.findings.detections[0]
    sinks = tag(res.sinks)
    man = res.manifest
    record = {
        **_base_record(u, executor),
        "n_tokens": pt.n_tokens,
        "n_prompt_tokens": man["prompts"][0]["n_prompt_tokens"],
        "n_layers": res.findings.n_layers,
        "primary_position": int(det.p),
        "window": [int(det.window[0]), int(det.window[1])],
        "n_sinks": len(sinks),
        "n_secondary": int((sinks["kind"] == "secondary").sum()),
        "model_info": man["model"],
        "dtype": man["dtype"],
        "versions": {"sinkscope": man["sinkscope_version"], **man["versions"]},
        "timings": man["timings"],
    }
    store.write_unit(u.label, u.key, sinks, tag(res.layers), pt.save, record)


# ---------------------------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------------------------


def run_local(work: Pending) -> None:
    """The local executor: one model loaded at a time in this process."""
    from sinkscope.models.loading import load_model

    def on_unit(u: Unit, status: str, msg: str | None) -> None:
        work.done[u.label] += 1
        work.report.count(status, msg)
        work.tell(u.label, "scanning")

    for label, ref, obj in work.models:
        units = work.pending[label]
        if not units:
            continue
        work.tell(label, "loading")
        lm = obj if not isinstance(obj, str) else load_model(ref, dtype=work.opts.dtype)
        try:
            work.tell(label, "scanning")
            run_units(lm, units, work.store, work.cfg, generate=work.opts.generate, chat=work.opts.chat,
                      on_error=work.opts.on_error, executor="local", on_unit=on_unit)
        finally:
            if isinstance(obj, str):
                del lm
                gc.collect()
        work.tell(label, "done")


def count_files(store: SweepStore, label: str) -> int:
    folder = store.root / "done" / label
    try:
        return sum(1 for e in os.scandir(folder) if e.name.endswith(".json") and not e.name.startswith("."))
    except OSError:
        return 0
