"""`sinkscope scan`: texts in, a result folder (manifest, tables, arrays, report) out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.cli.common import console, gather_prompts, print_skipped, progress_bar, user_errors
from sinkscope.cli.options import (
    MODEL_DEFAULT,
    BatchSizeOpt,
    ChatOpt,
    CosineOpt,
    D,
    DtypeOpt,
    FileOpt,
    GenerateOpt,
    KOpt,
    MinLifetimeOpt,
    MinQueriesOpt,
    ModelOpt,
    ModeOpt,
    NCandidatesOpt,
    OnErrorOpt,
    OverwriteOpt,
    TauOpt,
    analysis_config,
    require,
)
from sinkscope.workflows.outputs import check_output_folder


def scan(
    text: Annotated[Optional[list[str]], typer.Argument(help="Text(s) to scan. Default: the bundled example.")] = None,
    file: FileOpt = None,
    limit: Annotated[Optional[int], typer.Option(help="Use only the first N prompts of --file.")] = None,
    model: ModelOpt = MODEL_DEFAULT,
    chat: ChatOpt = False,
    mode: ModeOpt = D.mode,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder. Default: sinkscope-runs/<model>-<time>.")] = None,
    overwrite: OverwriteOpt = False,
    generate: GenerateOpt = 0,
    tau: TauOpt = D.tau,
    cosine: CosineOpt = D.cosine,
    k: KOpt = D.k,
    min_lifetime: MinLifetimeOpt = D.min_lifetime,
    min_queries: MinQueriesOpt = D.min_queries,
    n_candidates: NCandidatesOpt = D.n_candidates,
    dtype: DtypeOpt = "float32",
    batch_size: BatchSizeOpt = 1,
    on_error: OnErrorOpt = "fail",
    top: Annotated[int, typer.Option(help="Rows of the sink table to print.")] = 20,
) -> None:
    """Scan texts for primary and secondary attention sinks and explain how they form.

    Prints a summary table and a findings block, and writes DIR/manifest.json, sinks.parquet,
    layers.parquet, massive.parquet, findings.json, per-prompt arrays (prompts/NNNN.npz), report.html
    and figures/.

    Examples:\n
      sinkscope scan\n
      sinkscope scan "The quick brown fox" --model gemma3-270m\n
      sinkscope scan --file prompts.jsonl --generate 256 --chat --out runs/smol\n
      sinkscope scan --file bundled --limit 20 --generate 256
    """
    with user_errors():
        # every option is checked before torch is imported or the model loads
        cfg = analysis_config(
            mode=mode, tau=tau, cosine=cosine, k=k, min_lifetime=min_lifetime, min_queries=min_queries,
            n_candidates=n_candidates,
        )
        require("--generate", generate, generate >= 0, "an integer >= 0")
        require("--batch-size", batch_size, batch_size >= 1, "an integer >= 1")
        if limit is not None:
            require("--limit", limit, limit >= 1, "an integer >= 1")
        default = Path("sinkscope-runs") / f"{Path(model).name}-{datetime.now():%Y%m%d-%H%M%S}"
        dest = check_output_folder(out or default, overwrite=overwrite)
        pairs, skipped = gather_prompts(text or [], file, on_error, limit=limit)
        print_skipped(skipped)

        import sinkscope
        from sinkscope.report.console import print_scan
        from sinkscope.report.html import write_report

        lm = sinkscope.load_model(model, dtype=dtype)
        with progress_bar() as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    label = "generating" if (stage == "prepare" and generate) else stage
                    tasks[stage] = bar.add_task(label, total=total)
                bar.update(tasks[stage], completed=done)

            res = sinkscope.scan(lm, pairs, config=cfg, chat=chat, generate=generate, batch_size=batch_size, progress=progress)
        if on_error == "skip":
            res.manifest["skipped"] = [s.to_dict() for s in skipped]
        saved = res.save(dest, overwrite=overwrite)
        write_report(res, saved, strict=False)
        print_scan(res, console, top=top)
        if skipped:
            console.print(f"\nskipped {len(skipped)} input line(s) (listed above and in manifest.json \"skipped\")")
        console.print(f"\nwrote [bold]{saved}[/] (manifest.json, sinks.parquet, layers.parquet, massive.parquet, findings.json, prompts/, report.html, figures/)")
