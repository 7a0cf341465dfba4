"""What every command module shares: the typer app, the consoles, the error boundary, progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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


def progress_bar(*, eta: bool = False) -> Any:
    """A transient rich progress bar on stderr (disabled when stderr is not a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if eta:
        columns += [TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal)


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
