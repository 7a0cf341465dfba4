"""The `sinkscope` command line. Every command prints a clear message and exits non-zero on bad
input (no stack traces), and writes its outputs atomically."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sinkscope.errors import SinkscopeError

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


def _mount_models() -> None:
    try:
        from sinkscope.models.commands import models_app
    except ImportError:  # pragma: no cover - models CLI is part of the package
        return
    app.add_typer(models_app, name="models")


_mount_models()


@contextmanager
def user_errors():
    """Turn SinkscopeError (and Ctrl-C) into a one-line message and a non-zero exit."""
    try:
        yield
    except SinkscopeError as e:
        err_console.print(f"[bold red]error:[/] {e}", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: nothing was written.")
        raise typer.Exit(130) from None


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@app.command()
def scan(
    text: Annotated[Optional[list[str]], typer.Argument(help="Text(s) to scan. Default: the bundled example.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help=".txt (one prompt) or .jsonl (a \"text\" field per line). `bundled` = the bundled prompt set (113 prompts: math with worked solutions, code, prose, chat).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Use only the first N prompts of --file.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Catalog name (see `sinkscope models`), local folder, .gguf file or hub id.")] = "smollm2-135m",
    chat: Annotated[bool, typer.Option(help="Wrap each text as a user turn with the tokenizer's chat template.")] = False,
    mode: Annotated[str, typer.Option(help="general: scale-free rule, all layers, confirmed by attention score (METHOD.md §3). paper: the published rule to the letter.")] = "general",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder. Default: sinkscope-runs/<model>-<time>.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it already exists.")] = False,
    generate: Annotated[int, typer.Option(help="Greedy-generate N tokens after each prompt and analyse prompt + continuation (the paper analyses model responses).")] = 0,
    tau: Annotated[float, typer.Option(help="Sink-likeness: |cos(h_t, h_primary)| >= tau (METHOD.md §2).")] = 0.9,
    cosine: Annotated[str, typer.Option(help="raw, or centred (subtract the layer's mean residual first; separates sinks from a shared dominant direction, e.g. Gemma3).")] = "raw",
    k: Annotated[float, typer.Option(help="general mode: mean score over the lifetime must be >= k x the baseline of non-sink keys.")] = 3.0,
    min_lifetime: Annotated[int, typer.Option(help="general mode: minimum lifetime (layers) of a secondary sink.")] = 5,
    min_queries: Annotated[int, typer.Option(help="Keys seen by fewer queries are reported but not classified.")] = 16,
    n_candidates: Annotated[int, typer.Option(help="Leading positions considered for the primary sink.")] = 3,
    dtype: Annotated[str, typer.Option(help="float32 (default) or bfloat16. Reductions always accumulate in float32.")] = "float32",
    batch_size: Annotated[int, typer.Option(help="Prompts per forward pass (right-padded; results are identical).")] = 1,
    on_error: Annotated[str, typer.Option(help="Bad JSONL lines: fail (default) or skip.")] = "fail",
    top: Annotated[int, typer.Option(help="Rows of the sink table to print.")] = 20,
) -> None:
    """Scan texts for primary and secondary attention sinks and explain how they form.

    Prints a summary table and a findings block, and writes DIR/manifest.json, sinks.parquet,
    layers.parquet, findings.json and per-prompt arrays (prompts/NNNN.npz).

    Examples:\n
      sinkscope scan\n
      sinkscope scan "The quick brown fox" --model gemma3-270m\n
      sinkscope scan --file prompts.jsonl --generate 256 --chat --out runs/smol\n
      sinkscope scan --file bundled --limit 20 --generate 256
    """
    with user_errors():
        from sinkscope.inputs import bundled_path, read_prompt_file
        from sinkscope.report.console import print_scan

        _check_choice("--mode", mode, ("general", "paper"))
        _check_choice("--cosine", cosine, ("raw", "centred"))
        _check_choice("--dtype", dtype, ("float32", "bfloat16"))
        _check_choice("--on-error", on_error, ("fail", "skip"))
        if generate < 0:
            raise _input_error(f"--generate must be >= 0 (got {generate}).")
        if batch_size < 1:
            raise _input_error(f"--batch-size must be >= 1 (got {batch_size}).")
        pairs: list[tuple[str, str]] = [(t, f"arg {i}") for i, t in enumerate(text or [])]
        if file is not None:
            path = bundled_path("prompts.jsonl") if file == "bundled" else Path(file)
            from_file = read_prompt_file(path, on_error=on_error)  # type: ignore[arg-type]
            if limit is not None:
                if limit < 1:
                    raise _input_error(f"--limit must be >= 1 (got {limit}).")
                from_file = from_file[:limit]
            pairs += from_file
        if not pairs:
            pairs = read_prompt_file(bundled_path("example.txt"))
            pairs = [(t, "bundled:example.txt") for t, _ in pairs]
        from sinkscope.analysis import DetectConfig

        cfg = DetectConfig(
            mode=mode, tau=tau, cosine=cosine, k=k, min_lifetime=min_lifetime,  # type: ignore[arg-type]
            min_queries=min_queries, n_candidates=n_candidates,
        )
        dest = out or Path("sinkscope-runs") / f"{Path(model).name}-{datetime.now():%Y%m%d-%H%M%S}"
        if dest.exists() and not overwrite:
            raise _input_error(f"output folder '{dest}' already exists; choose another --out or pass --overwrite.")

        import sinkscope

        lm = sinkscope.load_model(model, dtype=dtype)
        with _progress() as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    label = "generating" if (stage == "prepare" and generate) else stage
                    tasks[stage] = bar.add_task(label, total=total)
                bar.update(tasks[stage], completed=done)

            res = sinkscope.scan(lm, pairs, config=cfg, chat=chat, generate=generate, batch_size=batch_size, progress=progress)
        saved = res.save(dest, overwrite=overwrite)
        from sinkscope.report.html import write_report
        write_report(res, saved, strict=False)
        print_scan(res, console, top=top)
        console.print(f"\nwrote [bold]{saved}[/] (manifest.json, sinks.parquet, layers.parquet, findings.json, prompts/)")


@app.command()
def levels(
    runs: Annotated[list[Path], typer.Argument(help="One or more scan output folders.")],
    min_share: Annotated[float, typer.Option(help="A level must hold at least this share of the secondary sinks.")] = 0.05,
    tol: Annotated[int, typer.Option(help="Cells within +/- tol layers (birth and lifetime) are connected.")] = 1,
) -> None:
    """Sink levels (METHOD.md §7) pooled over the secondary sinks of one or more scan folders."""
    with user_errors():
        import pandas as pd

        from sinkscope.analysis import levels as levels_fn
        from sinkscope.pipeline import ScanResult
        from sinkscope.report.console import print_levels

        frames, n_layers = [], set()
        for r in runs:
            res = ScanResult.load(r)
            n_layers.add(res.manifest["model"]["n_layers"])
            df = res.sinks.copy()
            df["run"] = str(r)
            frames.append(df)
        if len(n_layers) > 1:
            raise _input_error(
                f"the runs come from models with different depths {sorted(n_layers)}; levels are per model."
            )
        lv = levels_fn(pd.concat(frames, ignore_index=True), n_layers.pop(), min_share=min_share, tol=tol)
        print_levels(lv, console)


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A scan output folder.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="HTML file to write. Default: RUN/report.html.")] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Also write RUN/figures/{heatmap,weakening,normlaw,levels}.{png,svg} (matplotlib) for papers.")] = True,
) -> None:
    """Write the report of a scan folder: one self-contained HTML file (no network, opens offline)
    and paper figures. `scan` already writes both; use this after re-analysis or to refresh them.

    Examples:\n
      sinkscope report runs/smol\n
      sinkscope report runs/smol --out smol.html --no-figures
    """
    with user_errors():
        from sinkscope.pipeline import ScanResult
        from sinkscope.report.html import write_report

        if not run.is_dir():
            raise _input_error(f"'{run}' is not a folder; pass a scan output folder (see `sinkscope scan --out`).")
        if out is not None and out.suffix.lower() not in (".html", ".htm"):
            raise _input_error(f"--out must name an .html file (got '{out}').")
        res = ScanResult.load(run)
        files = write_report(res, out or run, run_dir=run, figures=figures)
        console.print(f"wrote [bold]{files.html}[/] ({files.size_bytes / 1e6:.1f} MB, self-contained)")
        if files.figures:
            names = sorted({p.stem for p in files.figures})
            console.print(f"wrote [bold]{files.figures[0].parent}[/]/ ({', '.join(names)}; .png and .svg)")


def _check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _input_error(f"{flag} must be one of {', '.join(allowed)} (got '{value}').")


def _input_error(msg: str) -> SinkscopeError:
    from sinkscope.errors import InputError

    return InputError(msg)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

