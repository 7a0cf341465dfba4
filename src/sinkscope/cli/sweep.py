"""`sinkscope sweep`: every model x prompt into one resumable store (`workflows.sweep`); `sinkscope compare`: its per-model summary."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from sinkscope.cli.common import console, err_console, print_skipped, progress_bar, user_errors
from sinkscope.cli.options import (
    MODEL_DEFAULT,
    ChatOpt,
    CosineOpt,
    D,
    DatasetOpt,
    DtypeOpt,
    ExecutorKind,
    FileOpt,
    GenerateOpt,
    IdsFieldOpt,
    KOpt,
    LimitOpt,
    MinLifetimeOpt,
    MinQueriesOpt,
    ModeOpt,
    NCandidatesOpt,
    OnErrorOpt,
    OverwriteOpt,
    PromptFieldOpt,
    ResponseFieldOpt,
    SplitOpt,
    TauOpt,
    TextFieldOpt,
    analysis_config,
    input_fields,
    literal_choice,
    require,
)
from sinkscope.core.errors import InputError


def sweep(
    out: Annotated[Path, typer.Option("--out", "-o", help="The sweep folder (one store for all models; re-run the same command to resume).")],
    file: FileOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    limit: LimitOpt = None,
    text_field: TextFieldOpt = None,
    ids_field: IdsFieldOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated models: catalog names (see `sinkscope models`), folders, .gguf files or hub ids.")] = MODEL_DEFAULT,
    generate: GenerateOpt = 0,
    chat: ChatOpt = False,
    mode: ModeOpt = D.mode,
    tau: TauOpt = D.tau,
    cosine: CosineOpt = D.cosine,
    k: KOpt = D.k,
    min_lifetime: MinLifetimeOpt = D.min_lifetime,
    min_queries: MinQueriesOpt = D.min_queries,
    n_candidates: NCandidatesOpt = D.n_candidates,
    dtype: DtypeOpt = "float32",
    resume: Annotated[bool, typer.Option(help="Continue the sweep in --out (it must have the same parameters). A plain re-run with the same parameters resumes too.")] = False,
    overwrite: OverwriteOpt = False,
    on_error: OnErrorOpt = "fail",
    executor: Annotated[str, typer.Option(parser=literal_choice(ExecutorKind, "--executor"), metavar="[local|ray]", help="local (in this process, default) or ray (Ray tasks, one per model x shard of prompts; pip install 'sinkscope[ray]').")] = "local",
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
        cfg = analysis_config(
            mode=mode, tau=tau, cosine=cosine, k=k, min_lifetime=min_lifetime, min_queries=min_queries,
            n_candidates=n_candidates,
        )
        require("--generate", generate, generate >= 0, "an integer >= 0")
        if limit is not None:
            require("--limit", limit, limit >= 1, "an integer >= 1")
        fields = input_fields(text_field, ids_field, prompt_field, response_field)
        if (file is None) == (dataset is None):
            raise InputError("give the prompts with --file or --dataset (one of them).")
        prompts: Any = file  # a plain --file is read by the sweep (its sha256 identifies the prompt set)
        from sinkscope.cli.common import check_input_options, read_inputs

        check_input_options(file, dataset, split, fields)
        if dataset is not None or fields.named or limit is not None:
            prompts = read_inputs(file, on_error, dataset=dataset, split=split, limit=limit, fields=fields)
        model_list = [m.strip() for m in models.split(",") if m.strip()]
        if not model_list:
            raise InputError("--models is empty; give one or more models, e.g. --models smollm2-135m,gemma3-270m.")

        from sinkscope.workflows.sweep.executor import run_sweep

        bar = progress_bar(eta=True, every=2.0)  # not a terminal: a line per model every 2 s at most
        tasks: dict[str, Any] = {}
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
                    out, model_list, prompts, config=cfg, generate=generate, chat=chat, dtype=dtype, resume=resume,
                    overwrite=overwrite, on_error=on_error, executor=executor, ray_address=ray_address,
                    shard_size=shard_size, num_cpus=num_cpus, progress=progress,
                )
        except KeyboardInterrupt:
            _interrupted(out, sum(t for _, t in counts.values()))
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
        print_skipped([f"{line}: {s['reason']}" for line, s in zip(rep.bad_lines, rep.skipped_lines)])
        print_skipped(rep.skipped)
        if rep.duplicates:
            err_console.print(f"[dim]{len(rep.duplicates)} repeated prompt(s) scanned once ({', '.join(rep.duplicates[:3])}{', ...' if len(rep.duplicates) > 3 else ''})[/]", soft_wrap=True)
        console.print(
            f"sweep [bold]{rep.out}[/]: {len(rep.models)} model(s) x {rep.n_prompts} prompt(s) = {rep.n_units}; "
            f"ran {rep.n_ran}, already done {rep.n_already}, skipped {rep.n_skipped} ({rep.executor}, {rep.elapsed_s:.0f} s)",
            soft_wrap=True, highlight=False,
        )
        if rep.skipped_lines:
            console.print(f"skipped {len(rep.skipped_lines)} prompt-file line(s) (recorded in sweep.json prompts.skipped_lines)",
                          soft_wrap=True, highlight=False)
        console.print(f"next: [bold]sinkscope compare {rep.out}[/]", soft_wrap=True)


def _interrupted(out: Path, total: int) -> None:
    """Say what an interrupted sweep kept, and exit 130."""
    from sinkscope.workflows.sweep.store import SweepStore

    store = SweepStore(out)
    n = store.count_records() if store.exists() else 0
    if n:
        err_console.print(
            f"[yellow]interrupted[/]: {n}{f' of {total}' if total else ''} (model, prompt) pairs are complete "
            f"in '{out}'; run the same command again to resume.", soft_wrap=True,
        )
    else:
        err_console.print("[yellow]interrupted[/] before any (model, prompt) pair completed: nothing was written.")
    raise typer.Exit(130) from None


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
