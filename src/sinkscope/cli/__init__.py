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


def _mount_models() -> None:
    try:
        from sinkscope.cli.models import models_app
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
        from sinkscope.capture.inputs import bundled_path, read_prompt_file
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
        console.print(f"\nwrote [bold]{saved}[/] (manifest.json, sinks.parquet, layers.parquet, findings.json, prompts/, report.html, figures/)")


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
        from sinkscope.report.console import print_levels
        from sinkscope.workflows.scan import ScanResult

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
    run: Annotated[Path, typer.Argument(help="A scan output folder (or an intervention output folder: its clean scan with its tables).")],
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
        from sinkscope.report.html import resolve_run, write_report
        from sinkscope.workflows.scan import ScanResult

        if not run.is_dir():
            raise _input_error(f"'{run}' is not a folder; pass a scan output folder (see `sinkscope scan --out`).")
        if out is not None and out.suffix.lower() not in (".html", ".htm"):
            raise _input_error(f"--out must name an .html file (got '{out}').")
        scan_dir, run_dir = resolve_run(run)  # an intervention folder: its clean/ scan + its tables
        res = ScanResult.load(scan_dir)
        files = write_report(res, out or run_dir, run_dir=run_dir, figures=figures)
        console.print(f"wrote [bold]{files.html}[/] ({files.size_bytes / 1e6:.1f} MB, self-contained)")
        if files.figures:
            names = sorted({p.stem for p in files.figures})
            console.print(f"wrote [bold]{files.figures[0].parent}[/]/ ({', '.join(names)}; .png and .svg)")


@app.command()
def intervene(
    text: Annotated[Optional[str], typer.Argument(help="Text to intervene on. Default: the bundled example.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help=".txt (one prompt) or .jsonl (a \"text\" field per line); `bundled` = the bundled prompt set.")] = None,
    prompt: Annotated[Optional[int], typer.Option(help="Which prompt of a .jsonl --file (0-based). Default: the first; --auto: all.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Catalog name (see `sinkscope models`), local folder, .gguf file or hub id.")] = "smollm2-135m",
    layer: Annotated[Optional[int], typer.Option("--layer", "-l", help="Block b whose MLP output is edited (0-based).")] = None,
    position: Annotated[Optional[str], typer.Option("--position", "-p", help="Token position(s) t to edit: 25, or 25,39 for several at once.")] = None,
    mode: Annotated[str, typer.Option(help="project-out (m - (m.u)u, u = unit(h_p^b)), zero, rescale:NORM (NORM m/||m||) or induce:ALPHA (m + ALPHA u).")] = "project-out",
    auto: Annotated[bool, typer.Option("--auto", help="Edit every secondary sink the scan finds at its birth block, one run each (--auto-modes), and report what changed.")] = False,
    auto_modes: Annotated[str, typer.Option(help="--auto: comma-separated modes to apply to each sink.")] = "project-out,zero",
    max_sinks: Annotated[Optional[int], typer.Option(help="--auto: only the N strongest secondary sinks of each prompt.")] = None,
    dose: Annotated[Optional[str], typer.Option(help="Dose-response at --layer/--position: induce (grid of ALPHA) or rescale (grid of NORM).")] = None,
    grid: Annotated[Optional[str], typer.Option(help="--dose: comma-separated values, e.g. 0,50,100,200.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write tables (parquet/json), both runs' scan folders and plots here (atomically).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it already exists.")] = False,
    chat: Annotated[bool, typer.Option(help="Wrap the text as a user turn with the tokenizer's chat template.")] = False,
    generate: Annotated[int, typer.Option(help="Greedy-generate N tokens after the text first (positions count the continuation).")] = 0,
    tau: Annotated[float, typer.Option(help="Sink-likeness: |cos(h_t, h_primary)| >= tau (METHOD.md §2).")] = 0.9,
    cosine: Annotated[str, typer.Option(help="raw or centred (METHOD.md pitfalls).")] = "raw",
    k: Annotated[float, typer.Option(help="general mode: mean score over the lifetime must be >= k x the baseline.")] = 3.0,
    min_lifetime: Annotated[int, typer.Option(help="general mode: minimum lifetime (layers) of a secondary sink.")] = 5,
    min_queries: Annotated[int, typer.Option(help="Keys seen by fewer queries are reported but not classified.")] = 16,
    dtype: Annotated[str, typer.Option(help="float32 (default) or bfloat16.")] = "float32",
    batch_size: Annotated[int, typer.Option(help="--auto / --dose: edited copies of the text per forward pass.")] = 1,
    on_error: Annotated[str, typer.Option(help="Bad JSONL lines: fail (default) or skip.")] = "fail",
) -> None:
    """Causal check (METHOD.md §4): edit what block b's MLP adds at token t and re-run the scan.

    Prints the token before -> after (class, lifetime, score, ||m||, m.u), the number of secondary
    sinks, and the change in next-token NLL on the rest of the text. With --out, writes
    intervention.json, targets.parquet, nll.parquet and the clean/ and intervened/ scan folders.

    Examples:\n
      sinkscope intervene --layer 2 --position 25 --mode project-out\n
      sinkscope intervene --file notes.txt --layer 2 --position 25,39 --mode rescale:50\n
      sinkscope intervene --auto --out runs/auto\n
      sinkscope intervene --layer 2 --position 50 --dose induce --grid 0,50,100,200 --out runs/dose
    """
    with user_errors():
        from sinkscope.analysis import DetectConfig
        from sinkscope.capture.inputs import bundled_path, read_prompt_file
        from sinkscope.workflows.interventions import auto as auto_fn
        from sinkscope.workflows.interventions import dose_response, parse_grid, parse_mode
        from sinkscope.workflows.interventions import intervene as intervene_fn
        from sinkscope.workflows.interventions.console import print_auto, print_dose, print_intervention

        _check_choice("--cosine", cosine, ("raw", "centred"))
        _check_choice("--dtype", dtype, ("float32", "bfloat16"))
        _check_choice("--on-error", on_error, ("fail", "skip"))
        if dose is not None:
            _check_choice("--dose", dose, ("induce", "rescale"))
        if generate < 0:
            raise _input_error(f"--generate must be >= 0 (got {generate}).")
        if batch_size < 1:
            raise _input_error(f"--batch-size must be >= 1 (got {batch_size}).")
        if auto and dose is not None:
            raise _input_error("--auto and --dose are separate experiments; give one of them.")
        if grid is not None and dose is None:
            raise _input_error("--grid needs --dose induce or --dose rescale.")
        if auto and (layer is not None or position is not None):
            raise _input_error("--auto picks each sink's birth block and position itself; drop --layer / --position.")
        if not auto:
            if layer is None:
                raise _input_error("--layer is required (the block b whose MLP output to edit), unless --auto.")
            if position is None:
                raise _input_error("--position is required (the token position(s) t to edit, e.g. 25 or 25,39), unless --auto.")
        positions: list[int] = []
        if position is not None:
            try:
                positions = [int(x) for x in position.split(",") if x.strip()]
            except ValueError:
                raise _input_error(
                    f"--position '{position}' is not a token position or a comma-separated list of them (e.g. 25 or 25,39)."
                ) from None
            if not positions:
                raise _input_error("--position is empty; give a token position, e.g. 25 or 25,39.")
        if dose is not None and len(positions) != 1:
            raise _input_error(f"--dose takes one --position (got {position}).")
        modes = [parse_mode(m) for m in auto_modes.split(",") if m.strip()] if auto else []
        if auto and not modes:
            raise _input_error("--auto-modes is empty; give e.g. project-out,zero.")
        spec = parse_mode(mode) if not auto and dose is None else None
        values = parse_grid(grid if grid is not None else "0,50,100,200", "--grid") if dose is not None else []
        if out is not None and out.exists() and not overwrite:
            raise _input_error(f"output folder '{out}' already exists; choose another --out or pass --overwrite.")

        pairs: list[tuple[str, str]] = [(text, "arg 0")] if text is not None else []
        if file is not None:
            fpath = bundled_path("prompts.jsonl") if file == "bundled" else Path(file)
            pairs += read_prompt_file(fpath, on_error=on_error)  # type: ignore[arg-type]
        if not pairs:
            pairs = [(t, "bundled:example.txt") for t, _ in read_prompt_file(bundled_path("example.txt"))]
        if prompt is not None:
            if not 0 <= prompt < len(pairs):
                raise _input_error(f"--prompt {prompt} is out of range: there are {len(pairs)} prompt(s) (allowed: 0..{len(pairs) - 1}).")
            pairs = [pairs[prompt]]
        elif not auto and len(pairs) > 1:
            raise _input_error(f"{len(pairs)} prompts given; pick one with --prompt (0..{len(pairs) - 1}), or use --auto.")
        cfg = DetectConfig(tau=tau, cosine=cosine, k=k, min_lifetime=min_lifetime, min_queries=min_queries)  # type: ignore[arg-type]

        import sinkscope

        lm = sinkscope.load_model(model, dtype=dtype)
        if auto:
            with _progress() as bar:
                task = bar.add_task("intervening", total=None)
                res_auto = auto_fn(
                    lm, pairs, modes=modes, config=cfg, chat=chat, generate=generate, max_sinks=max_sinks,
                    batch_size=batch_size, progress=lambda d, n: bar.update(task, completed=d, total=n),
                )
            print_auto(res_auto, console)
            if out is not None:
                console.print(f"\nwrote [bold]{res_auto.save(out, overwrite=overwrite)}[/] (auto.parquet, auto.json, clean/)")
        elif dose is not None:
            with _progress() as bar:
                task = bar.add_task(f"{dose} sweep", total=len(values))
                res_dose = dose_response(
                    lm, pairs[0], layer=layer, position=positions[0], mode=dose, grid=values,  # type: ignore[arg-type]
                    config=cfg, chat=chat, generate=generate, batch_size=batch_size,
                    progress=lambda d, n: bar.update(task, completed=d, total=n),
                )
            print_dose(res_dose, console)
            if out is not None:
                console.print(f"\nwrote [bold]{res_dose.save(out, overwrite=overwrite)}[/] (dose.parquet, dose.json, dose.png, dose.svg, clean/)")
        else:
            res = intervene_fn(lm, pairs[0], layer=layer, position=positions, mode=spec, config=cfg, chat=chat, generate=generate)  # type: ignore[arg-type]
            print_intervention(res, console)
            if out is not None:
                console.print(
                    f"\nwrote [bold]{res.save(out, overwrite=overwrite)}[/] "
                    "(intervention.json, targets.parquet, nll.parquet, clean/, intervened/)"
                )


@app.command()
def sweep(
    file: Annotated[str, typer.Option("--file", "-f", help=".jsonl (a \"text\" field per line) or .txt (one prompt); `bundled` = the bundled prompt set.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The sweep folder (one store for all models; re-run the same command to resume).")],
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated models: catalog names (see `sinkscope models`), folders, .gguf files or hub ids.")] = "smollm2-135m",
    generate: Annotated[int, typer.Option(help="Greedy-generate N tokens after each prompt and analyse prompt + continuation.")] = 0,
    chat: Annotated[bool, typer.Option(help="Wrap each text as a user turn with the tokenizer's chat template.")] = False,
    mode: Annotated[str, typer.Option(help="general (scale-free, attention-confirmed) or paper (the published rule), METHOD.md §3.")] = "general",
    tau: Annotated[float, typer.Option(help="Sink-likeness: |cos(h_t, h_primary)| >= tau (METHOD.md §2), in (0, 1].")] = 0.9,
    cosine: Annotated[str, typer.Option(help="raw, or centred (subtract the layer's mean residual first).")] = "raw",
    k: Annotated[float, typer.Option(help="general mode: mean score over the lifetime must be >= k x the baseline of non-sink keys.")] = 3.0,
    min_lifetime: Annotated[int, typer.Option(help="general mode: minimum lifetime (layers) of a secondary sink, >= 0.")] = 5,
    min_queries: Annotated[int, typer.Option(help="Keys seen by fewer queries are reported but not classified.")] = 16,
    n_candidates: Annotated[int, typer.Option(help="Leading positions considered for the primary sink.")] = 3,
    dtype: Annotated[str, typer.Option(help="float32 (default) or bfloat16.")] = "float32",
    resume: Annotated[bool, typer.Option(help="Continue the sweep in --out (it must have the same parameters). A plain re-run with the same parameters resumes too.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace --out (a different sweep, or anything else) and start again.")] = False,
    on_error: Annotated[str, typer.Option(help="Bad JSONL lines and prompts over a model's context: fail (default) or skip.")] = "fail",
    executor: Annotated[str, typer.Option(help="local (in this process, default) or ray (Ray tasks, one per model x shard of prompts; pip install 'sinkscope[ray]').")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="--executor ray: address of an existing Ray cluster (e.g. ray://head:10001 or auto). Default: start a local one. --out must be on a file system every node sees.")] = None,
    shard_size: Annotated[int, typer.Option(help="--executor ray: prompts per Ray task (each task loads its model once).")] = 8,
    num_cpus: Annotated[int | None, typer.Option(help="--executor ray without --ray-address: CPUs of the local Ray instance (default 2).")] = None,
) -> None:
    """Scan every model x prompt into one resumable store, for `sinkscope compare`.

    Writes DIR/sweep.json (the parameters), DIR/sinks/model=<name>/part-<prompt>.parquet,
    DIR/layers/..., DIR/arrays/... and, last, a completion record DIR/done/<name>/<prompt>.json
    per (model, prompt). Interrupted at any moment (Ctrl-C, kill -9), the same command resumes:
    no prompt is lost, none duplicated, finished work is not recomputed.

    Examples:\n
      sinkscope sweep --models smollm2-135m,gemma3-270m --file prompts.jsonl --out runs/sweep\n
      sinkscope sweep --models smollm2-135m,qwen2.5-coder-0.5b --file bundled --generate 256 --out runs/big\n
      sinkscope sweep --models smollm2-135m --file bundled --out runs/ray --executor ray --ray-address auto\n
      sinkscope compare runs/sweep
    """
    with user_errors():
        import signal

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from sinkscope.analysis import DetectConfig
        from sinkscope.workflows.sweep.executor import run_sweep
        from sinkscope.workflows.sweep.store import SweepStore

        _check_choice("--mode", mode, ("general", "paper"))
        _check_choice("--cosine", cosine, ("raw", "centred"))
        _check_choice("--dtype", dtype, ("float32", "bfloat16"))
        _check_choice("--on-error", on_error, ("fail", "skip"))
        _check_choice("--executor", executor, ("local", "ray"))
        if generate < 0:
            raise _input_error(f"--generate must be >= 0 (got {generate}).")
        model_list = [m.strip() for m in models.split(",") if m.strip()]
        if not model_list:
            raise _input_error("--models is empty; give one or more models, e.g. --models smollm2-135m,gemma3-270m.")
        cfg = DetectConfig(
            mode=mode, tau=tau, cosine=cosine, k=k, min_lifetime=min_lifetime,  # type: ignore[arg-type]
            min_queries=min_queries, n_candidates=n_candidates,
        )

        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=err_console, transient=True,
            disable=not err_console.is_terminal,
        )
        tasks: dict[str, int] = {}
        counts: dict[str, tuple[int, int]] = {}

        def progress(label: str, done: int, total: int, stage: str) -> None:
            counts[label] = (done, total)
            if "" not in tasks:
                tasks[""] = bar.add_task("[bold]all models[/]", total=None, completed=0)
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total, completed=done)
            bar.update(tasks[label], completed=done, total=total, description=f"{label} [dim]{stage}[/]")
            bar.update(tasks[""], completed=sum(d for d, _ in counts.values()), total=sum(t for _, t in counts.values()))

        def on_term(signum, frame):  # kill / scheduler pre-emption: stop like Ctrl-C (resumable)
            raise KeyboardInterrupt

        try:
            old_term = signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread
            old_term = None
        try:
            with bar:
                rep = run_sweep(
                    out, model_list, file, config=cfg, generate=generate, chat=chat, dtype=dtype, resume=resume,
                    overwrite=overwrite, on_error=on_error, executor=executor, ray_address=ray_address,
                    shard_size=shard_size, num_cpus=num_cpus, progress=progress,
                )
        except KeyboardInterrupt:
            store = SweepStore(out)
            n = store.count_records() if store.exists() else 0
            total = sum(t for _, t in counts.values())
            if n:
                err_console.print(
                    f"[yellow]interrupted[/]: {n}{f' of {total}' if total else ''} (model, prompt) pairs are complete "
                    f"in '{out}'; run the same command again to resume.", soft_wrap=True,
                )
            else:
                err_console.print("[yellow]interrupted[/] before any (model, prompt) pair completed: nothing was written.")
            raise typer.Exit(130) from None
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
        for line in rep.bad_lines:
            err_console.print(f"[yellow]skipped[/] {line}: not a JSON object with a non-empty \"text\"", soft_wrap=True)
        for msg in rep.skipped:
            err_console.print(f"[yellow]skipped[/] {msg}", soft_wrap=True)
        if rep.duplicates:
            err_console.print(f"[dim]{len(rep.duplicates)} repeated prompt(s) scanned once ({', '.join(rep.duplicates[:3])}{', ...' if len(rep.duplicates) > 3 else ''})[/]", soft_wrap=True)
        console.print(
            f"sweep [bold]{rep.out}[/]: {len(rep.models)} model(s) x {rep.n_prompts} prompt(s) = {rep.n_units}; "
            f"ran {rep.n_ran}, already done {rep.n_already}, skipped {rep.n_skipped} ({rep.executor}, {rep.elapsed_s:.0f} s)",
            soft_wrap=True, highlight=False,
        )
        console.print(f"next: [bold]sinkscope compare {rep.out}[/]", soft_wrap=True)


@app.command()
def compare(
    run: Annotated[Path, typer.Argument(help="A sweep folder (see `sinkscope sweep --out`).")],
) -> None:
    """Compare the models of a sweep: per model, layers, primary position(s) and window, secondary
    sinks per 1k tokens, median birth (relative depth), lifetime and MLP cosine, the norm law
    (Spearman, pooled over the model's prompts), the primary's weakening dip and the number of sink
    levels. Prints a table and writes DIR/compare.csv and DIR/compare.md.

    Examples:\n
      sinkscope compare runs/sweep
    """
    with user_errors():
        from rich.table import Table

        from sinkscope.workflows.sweep.compare import compare as compare_fn
        from sinkscope.workflows.sweep.compare import display_rows

        summary = compare_fn(run)
        table = Table(title=f"sweep {run}", show_lines=False)
        table.add_column("metric")
        for m in summary.index:
            table.add_column(str(m), justify="right")
        for label, values in display_rows(summary):
            table.add_row(label, *values)
        console.print(table)
        console.print(f"wrote [bold]{run / 'compare.csv'}[/] and [bold]{run / 'compare.md'}[/]", soft_wrap=True)


@app.command()
def anatomy(
    run: Annotated[Path, typer.Argument(help="A scan output folder (see `sinkscope scan --out`).")],
    layer: Annotated[Optional[int], typer.Option("--layer", "-l", help="Birth block b to dissect (0-based). Default: the block where most secondary sinks are born.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder. Default: RUN/anatomy-b<B>.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it already exists.")] = False,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model to re-run the prompts with. Default: the model recorded in the run's manifest.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="float32 or bfloat16. Default: the run's dtype.")] = None,
    pcs: Annotated[int, typer.Option(help="Top principal components of the pooled MLP inputs to push through the MLP.")] = 10,
    alphas: Annotated[str, typer.Option(help="Comma-separated alpha grid (>= 0); each signed PC is pushed at +/- alpha.")] = "0,0.25,0.5,1,2,4",
    alpha_unit: Annotated[str, typer.Option(help="What alpha multiplies: input-norm (median ||x||), pc-std or absolute.")] = "input-norm",
    threshold: Annotated[float, typer.Option(help="|cos(f(x), m_p)| above which a signed direction is effective.")] = 0.98,
    contrast: Annotated[str, typer.Option(help="Contrast set of the same token ids: never-sink-like (default) or not-secondary.")] = "never-sink-like",
    seed: Annotated[int, typer.Option(help="Seed of the linear probe's folds.")] = 0,
) -> None:
    """Anatomy of formation (METHOD.md §9): which MLP-input directions make block b's MLP write the
    primary-sink direction, from the secondary sinks born at b and the same tokens where they did not
    form. Re-runs only the prompts holding such sinks, up to block b.

    Prints the contrast, the linear probe and the effective directions, and writes DIR/anatomy.json,
    pcs/curves/directions/samples.parquet, properties.parquet (METHOD.md §8 norms of the run),
    anatomy.html (self-contained) and anatomy/properties figures (.png, .svg).

    Examples:\n
      sinkscope anatomy runs/smol --layer 2\n
      sinkscope anatomy runs/smol --layer 2 --pcs 5 --alphas 0,1,2,4 --out runs/smol-anatomy
    """
    with user_errors():
        from sinkscope.analysis.anatomy import AnatomyConfig, resolve_layer
        from sinkscope.analysis.anatomy import anatomy as anatomy_fn
        from sinkscope.workflows.scan import ScanResult

        _check_choice("--alpha-unit", alpha_unit, ("input-norm", "pc-std", "absolute"))
        _check_choice("--contrast", contrast, ("never-sink-like", "not-secondary"))
        if dtype is not None:
            _check_choice("--dtype", dtype, ("float32", "bfloat16"))
        try:
            grid = tuple(float(a) for a in alphas.split(",") if a.strip())
        except ValueError:
            raise _input_error(f"--alphas '{alphas}' is not a comma-separated list of numbers (e.g. 0,0.5,1,2).") from None
        cfg = AnatomyConfig(
            n_pcs=pcs, alphas=grid, alpha_unit=alpha_unit.replace("-", "_"), threshold=threshold,  # type: ignore[arg-type]
            contrast=contrast.replace("-", "_"), seed=seed,  # type: ignore[arg-type]
        )
        if not run.exists():
            raise _input_error(f"run folder '{run}' not found; pass a folder written by `sinkscope scan --out`.")
        if not run.is_dir():
            raise _input_error(f"'{run}' is not a folder; pass a folder written by `sinkscope scan --out`.")
        res = ScanResult.load(run)
        b = resolve_layer(res, layer)  # fails fast, before loading the model
        dest = out or run / f"anatomy-b{b}"
        if dest.exists() and not overwrite:
            raise _input_error(f"output folder '{dest}' already exists; choose another --out or pass --overwrite.")
        ref = model or res.manifest.get("model", {}).get("ref")
        if not ref or ref == "<in-memory>":
            raise _input_error("the run does not record a loadable model; pass --model.")

        import sinkscope

        lm = sinkscope.load_model(ref, dtype=dtype or res.manifest.get("dtype") or "float32")
        result = anatomy_fn(lm, res, b, config=cfg)
        result.meta["run_dir"] = str(run)
        props = res.properties()

        def extra(d: Path) -> None:
            from sinkscope.report.anatomy_figures import write_anatomy_figures, write_properties_figures
            from sinkscope.report.anatomy_html import anatomy_html, properties_html

            props.layers.to_parquet(d / "properties.parquet", index=False)
            props.summary.to_parquet(d / "properties_summary.parquet", index=False)
            page = (
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sinkscope anatomy</title></head>'
                '<body style="margin:16px">' + properties_html(res, props=props) + anatomy_html(result) + "</body></html>"
            )
            (d / "anatomy.html").write_text(page, encoding="utf-8")
            write_anatomy_figures(result, d)
            write_properties_figures(props, d)

        saved = result.save(dest, overwrite=overwrite, extra=extra)
        _print_anatomy(result, props)
        console.print(
            f"\nwrote [bold]{saved}[/] (anatomy.json, pcs/curves/directions/samples.parquet, properties*.parquet, "
            "anatomy.html, anatomy.png/svg, properties.png/svg)"
        )


def _print_anatomy(result, props) -> None:
    """Console summary of `sinkscope anatomy` (METHOD.md §8 ratios of the sinks born at b, §9)."""
    import math

    from rich.table import Table

    c, p, s = result.contrast, result.probe, result.summary()
    def fmt(v) -> str:
        return "-" if v is None or not math.isfinite(float(v)) else f"{float(v):.3g}"

    tokens = ", ".join(repr(t) for t in result.meta.get("tokens", []))
    t = Table(title=f"anatomy of formation at block {result.layer} (METHOD.md §9)", show_header=False, title_justify="left")
    t.add_column(style="dim")
    t.add_column()
    t.add_row("samples", f"{result.n_sink} sinks, {result.n_non_sink} same-token non-sinks ({tokens})")
    t.add_row("cos(mean diff, primary MLP input)", fmt(c.cos_diff_primary))
    t.add_row("cos(f(mean sink) - f(mean non-sink), m_p)", fmt(c.cos_mlp_shift))
    t.add_row("cos(f(mean diff), m_p)", fmt(c.cos_mlp_of_diff))
    t.add_row("mean cos(f(x), m_p) sinks / non-sinks", f"{fmt(c.sink_mlp_cos)} / {fmt(c.non_sink_mlp_cos)}")
    if p is not None:
        t.add_row("linear probe (held-out)", f"accuracy {fmt(p.accuracy)}, balanced {fmt(p.balanced_accuracy)}, "
                                             f"chance {fmt(p.chance)} ({p.method})")
    else:
        t.add_row("linear probe", result.probe_reason or "-")
    t.add_row("top PC", f"explains {fmt(s['top_pc_explained_ratio'])} of the variance, "
                        f"{fmt(s['top_pc_diff_share'])} of ||d||^2")
    t.add_row("effective directions", f"{s['n_effective']} (|cos| > {result.config.threshold:g}), "
                                      f"their PCs explain {fmt(s['effective_diff_share'])} of ||d||^2")
    born = props.summary[(props.summary["group"] == "secondary") & (props.summary["birth"] == result.layer)]
    if len(born):
        t.add_row("value norm / non-sink (lifetime, median)", fmt(float(born["value_ratio_life"].median())))
    console.print(t)
    d = result.directions.sort_values(["effective", "max_abs_cos"], ascending=[False, False]).head(8)
    dt = Table(title="signed PCs (strongest first)", title_justify="left")
    for col in ("direction", "effective", "alpha", "||f||", "cos(f, m_p)", "share of ||d||^2"):
        dt.add_column(col, justify="right")
    for r in d.itertuples(index=False):
        dt.add_row(r.direction, "yes" if r.effective else "", fmt(r.alpha), fmt(r.out_norm), fmt(r.cos_primary_mlp),
                   fmt(r.diff_share))
    console.print(dt)


@app.command()
def reproduce(
    quick: Annotated[bool, typer.Option("--quick", help="CI smoke run (< 10 min): SmolLM2 only, few prompts, short generation.")] = False,
    models: Annotated[Optional[str], typer.Option(help="Comma-separated catalog decoders. Default: all four (--quick: smollm2-135m).")] = None,
    prompts: Annotated[Optional[int], typer.Option(help="Prompts per model (overrides the per-model plan).")] = None,
    generate: Annotated[Optional[int], typer.Option(help="Greedy tokens generated after each prompt (overrides the plan).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Writes OUT/REPRODUCTION.md and OUT/reproduction/ (results.json, figures).")] = Path("docs"),
    work: Annotated[Optional[Path], typer.Option(help="Scan folders per model go to WORK/<model>/scan (git-ignored). Default: reproduce-runs (--quick: OUT/reproduce-runs).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch threads. Default: all cores if the machine is idle, else 1 (spinning threads on busy shared cores are ~10x slower).")] = None,
) -> None:
    """Check the paper's five claims on every catalog decoder and write docs/REPRODUCTION.md.

    Runs a fixed subset of the bundled prompts (math first) with the chat template and greedy continuations on SmolLM2-135M, Gemma3-270M, Qwen2.5-Coder-0.5B and -1.5B, plus the causal check (project-out at the birth block of distinct secondary sinks of a few prompts), then writes one table per claim with the measured numbers, a verdict by documented rules and its reason, and the figures. The full run takes ~20-50 min on 2 shared cores.

    Examples:\n
      sinkscope reproduce\n
      sinkscope reproduce --quick --out /tmp/repro\n
      sinkscope reproduce --models smollm2-135m,gemma3-270m --prompts 8 --generate 64
    """
    with user_errors():
        import time as _time

        from sinkscope.workflows.reproduce import reproduce as run_reproduce

        names = models.split(",") if models is not None else None
        work_dir = work or ((out / "reproduce-runs") if quick else Path("reproduce-runs"))
        started = _time.perf_counter()

        def log(msg: str) -> None:
            console.print(msg, highlight=False, markup=False, soft_wrap=True)

        tty = err_console.is_terminal
        last: dict[tuple[str, str], float] = {}

        with _progress() as bar:
            tasks: dict[tuple[str, str], int] = {}

            def progress(model: str, stage: str, done: int, total: int) -> None:
                key = (model, stage)
                if tty:
                    if key not in tasks:
                        tasks[key] = bar.add_task(f"{model} {stage}", total=total)
                    bar.update(tasks[key], completed=done, total=total)
                    return
                # logs (nohup, CI): one line per step, at most every 5 s except the last
                now = _time.perf_counter()
                if done == total or now - last.get(key, 0.0) >= 5.0:
                    last[key] = now
                    width = 24
                    fill = int(width * done / max(total, 1))
                    log(f"  [{model}] {stage:<9} [{'#' * fill}{'.' * (width - fill)}] {done}/{total}  "
                        f"({now - started:.0f} s elapsed)")

            cmd = "sinkscope " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 and sys.argv[1] == "reproduce" else None
            run = run_reproduce(out=out, work=work_dir, models=names, quick=quick, prompts=prompts,
                                generate=generate, threads=threads, progress=progress, log=log, command=cmd)
        from sinkscope.workflows.reproduce import verdicts

        log("")
        log(f"{'model':<22} {'time':>8}  " + "  ".join(f"claim {c}" .ljust(16) for c in range(1, 6)))
        for m in run["models"]:
            t = (m.get("timings") or {}).get("total_s")
            vs = verdicts(m)
            log(f"{m['name']:<22} {(f'{t / 60:.1f} min' if t else '-'):>8}  "
                + "  ".join(vs[c]["verdict"].ljust(16) for c in range(1, 6)))


def _check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _input_error(f"{flag} must be one of {', '.join(allowed)} (got '{value}').")


def _input_error(msg: str) -> SinkscopeError:
    from sinkscope.core.errors import InputError

    return InputError(msg)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

