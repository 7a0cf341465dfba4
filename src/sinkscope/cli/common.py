"""What every command module shares: the typer app, the consoles, the error boundary, progress."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from sinkscope.core.errors import SinkscopeError

app = typer.Typer(
    name="sinkscope",
    help=(
        "Find, measure and explain attention sinks in transformer language models.\n\n"
        "The primary sink is the token (usually the first) that draws a large share of attention from "
        "early layers on; secondary sinks are other tokens that become sinks in middle layers, formed by "
        "specific MLPs (Wong et al., arXiv 2512.22213). Start with `sinkscope scan` (no arguments: the "
        "default model on a bundled example text)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped / captured output gets a wide fixed width so tables stay readable in logs.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn SinkscopeError (and Ctrl-C) into a one-line message and a non-zero exit."""
    try:
        yield
    except SinkscopeError as e:
        err_console.print(f"[bold red]error:[/] {e}", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: nothing was written.")
        raise typer.Exit(130) from None


class LineProgress:
    """`progress_bar` where stderr is not a terminal (a log, a pipe, CI): the same `add_task` /
    `update` calls as rich's `Progress`, printed as plain lines on stderr, e.g.

        capture: 25 prompts, 19,004 tokens
        capture 3/25 prompts, 2,310 tokens, 41 s

    A task prints a line when it starts, then at most one line every `every` seconds while it
    advances, and always its last step (done = total). Task fields: `unit` ("prompts", ...) and
    `tokens` (an int, shown with thousands separators); markup in descriptions is dropped."""

    def __init__(self, console: Console, every: float = 0.0):
        self.console = console
        self.every = every
        self.tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _print(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, highlight=False, markup=False)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: Any) -> int:
        import time

        tid = len(self.tasks)
        now = time.monotonic()
        self.tasks[tid] = {"description": description, "total": total, "completed": completed, "fields": fields,
                           "start": now, "last": now}
        t = self.tasks[tid]
        unit = fields.get("unit") or ""
        head = f"{_plain(description)}: {total:,.0f} {unit}".rstrip() if total not in (None, 1) else _plain(description)
        tokens = fields.get("tokens_total")
        self._print(head + (f", {tokens:,} tokens" if tokens else "") + (" ..." if t["total"] in (None, 1) else ""))
        return tid

    def update(self, task_id: int, *, completed: float | None = None, total: float | None = None,
               advance: float | None = None, description: str | None = None, **fields: Any) -> None:
        import time

        t = self.tasks[task_id]
        before = t["completed"]
        if total is not None:
            t["total"] = total
        if description is not None:
            t["description"] = description
        t["fields"].update(fields)
        t["completed"] = completed if completed is not None else t["completed"] + (advance or 0)
        now = time.monotonic()
        final = t["total"] is not None and t["completed"] >= t["total"]
        if t["completed"] != before and (final or now - t["last"] >= self.every):
            t["last"] = now
            self._print(self._line(t, now))

    def _line(self, t: dict[str, Any], now: float) -> str:
        desc, done, total, f = _plain(t["description"]), t["completed"], t["total"], t["fields"]
        elapsed = f"{now - t['start']:.0f} s"
        if total == 1 and done >= 1:
            return f"{desc}: done, {elapsed}"
        parts = [f"{desc} {done:,.0f}" + (f"/{total:,.0f}" if total is not None else "") + (f" {f['unit']}" if f.get("unit") else "")]
        if f.get("tokens"):
            parts.append(f"{int(f['tokens']):,} tokens")
        parts.append(elapsed)
        return ", ".join(parts)


def _plain(markup: str) -> str:
    from rich.text import Text

    return Text.from_markup(markup).plain


def progress_bar(*, eta: bool = True, every: float = 0.0) -> Any:
    """The one progress display of every long job (scan, intervene, anatomy, sweep, report).

    On a terminal: a transient rich display on stderr, one row per task (description, bar, i/N,
    the task's `unit` and `tokens` fields, elapsed and, with `eta`, the time remaining). Elsewhere
    (stderr not a terminal): a `LineProgress`, the same calls as plain lines (one per step, or at
    most one every `every` seconds per task: jobs with many small steps). Use `stage` for steps
    without a count (load, analysis, report)."""
    if not err_console.is_terminal:
        return LineProgress(err_console, every=every)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Fields(ProgressColumn):
        def render(self, task: Any) -> Text:
            unit, tokens = task.fields.get("unit") or "", task.fields.get("tokens")
            return Text(unit + (f"  {int(tokens):,} tokens" if tokens else ""), style="progress.download")

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Fields(),
                          TimeElapsedColumn()]
    if eta:
        columns += [TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*columns, console=err_console, transient=True)


def stage_ticker(bar: Any, unit: str = "prompts") -> Callable[[str, int, int], None]:
    """A `progress(stage, done, total)` callback (the workflows' protocol) drawing one task of
    `bar` per stage."""
    tasks: dict[str, Any] = {}

    def tick(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total, unit=unit if total != 1 else None)
        bar.update(tasks[name], completed=done, total=total)

    return tick


@contextmanager
def stage(bar: Any, label: str) -> Iterator[None]:
    """A step without a count as a one-step task of `bar` ("load smollm2-135m: done, 3 s")."""
    task = bar.add_task(label, total=1)
    yield
    bar.update(task, completed=1)


def print_skipped(skipped: list[Any]) -> None:
    """One stderr line per input `--on-error skip` left out ("skipped p.jsonl:4: is not valid JSON ...")."""
    for s in skipped:
        err_console.print(f"[yellow]skipped[/] {escape(str(s))}", soft_wrap=True, highlight=False)


def gather_prompts(
    texts: list[str], file: str | None, on_error: str, *, limit: int | None = None
) -> tuple[list[tuple[str, str]], list[Any]]:
    """(text, source) pairs from TEXT arguments and --file (`bundled` = the bundled prompt set, the
    first `limit` of the file's prompts), or the bundled example when neither is given; and the
    `Skipped` lines of --file (`--on-error skip`)."""
    from sinkscope.capture.inputs import bundled_path, read_prompts

    pairs: list[tuple[str, str]] = [(t, f"arg {i}") for i, t in enumerate(texts)]
    skipped: list[Any] = []
    if file is not None:
        path = bundled_path("prompts.jsonl") if file == "bundled" else Path(file)
        read = read_prompts(path, on_error=on_error)  # type: ignore[arg-type]
        pairs += read.pairs[:limit] if limit is not None else read.pairs
        skipped = read.skipped
    if not pairs:
        pairs = [(t, "bundled:example.txt") for t, _ in read_prompts(bundled_path("example.txt")).pairs]
    return pairs, skipped


def gather_inputs(
    texts: list[str], file: str | None, on_error: str, *, dataset: str | None = None, split: str | None = None,
    limit: int | None = None, fields: Any = None,
) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """The `Input`s of TEXT arguments, --file (`bundled` = the bundled prompt set) or --dataset (with
    --split and the field options `fields`), the first `limit` of the file's; the bundled example
    when none is given. Returns (inputs, the `Skipped` lines of `--on-error skip`, where they came
    from: the manifest's "inputs" entry)."""
    from sinkscope.capture.inputs import Input, InputFields, bundled_path, read_prompts

    fields = fields or InputFields()
    check_input_options(file, dataset, split, fields)
    inputs: list[Any] = [Input(source=f"arg {i}", text=t) for i, t in enumerate(texts)]
    skipped: list[Any] = []
    source: dict[str, Any] = {"arguments": len(texts)} if texts else {}
    if file is not None or dataset is not None:
        read = read_inputs(file, on_error, dataset=dataset, split=split, limit=limit, fields=fields)
        inputs += read.inputs
        skipped = read.skipped
        source.update(read.source)
    if not inputs:
        inputs = [Input(source="bundled:example.txt", text=t) for t, _ in read_prompts(bundled_path("example.txt")).pairs]
        source = {"file": "bundled:example.txt", "fields": {}, "forms": {"text": 1}}
    return inputs, skipped, source


def check_input_options(file: Any, dataset: str | None, split: str | None, fields: Any) -> None:
    """The one check of the input options every command shares: --file or --dataset (not both),
    --split only with --dataset, the field options (`InputFields`) only with one of them."""
    from sinkscope.core.errors import InputError

    if file is not None and dataset is not None:
        raise InputError("give --file or --dataset, not both.")
    if split is not None and dataset is None:
        raise InputError("--split applies to --dataset.")
    if fields is not None and fields.named and file is None and dataset is None:
        raise InputError("the field options (--text-field, --ids-field, --prompt-field, --response-field) "
                         "apply to --file and --dataset.")


def read_inputs(file: str | None, on_error: str, *, dataset: str | None = None, split: str | None = None,
                limit: int | None = None, fields: Any = None) -> Any:
    """The `PromptFile` of --file (`bundled` = the bundled prompt set) or --dataset (one of them),
    with --split, --limit and the field options."""
    from sinkscope.capture.inputs import InputFields, bundled_path, read_dataset, read_prompts

    fields = fields or InputFields()
    check_input_options(file, dataset, split, fields)
    if dataset is not None:
        return read_dataset(dataset, split=split, limit=limit, fields=fields, on_error=on_error)  # type: ignore[arg-type]
    path = bundled_path("prompts.jsonl") if file == "bundled" else Path(str(file))
    return read_prompts(path, on_error=on_error, fields=fields, limit=limit)  # type: ignore[arg-type]
