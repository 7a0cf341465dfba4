"""`sinkscope scan`: texts in, a result folder (manifest, tables, arrays, report) out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sinkscope.analysis.columns import console_columns, legend
from sinkscope.cli.common import console, gather_inputs, print_skipped, progress_bar, stage, user_errors
from sinkscope.cli.options import (
    MODEL_DEFAULT,
    BatchSizeOpt,
    ChatOpt,
    CosineOpt,
    D,
    DatasetOpt,
    DtypeOpt,
    FileOpt,
    GenerateOpt,
    IdsFieldOpt,
    KOpt,
    LimitOpt,
    MinLifetimeOpt,
    MinQueriesOpt,
    ModelOpt,
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
    require,
)
from sinkscope.workflows.outputs import check_output_folder

#: `--top`'s help: what the table shows, and its columns (the column registry, sinkscope.analysis.columns)
TOP_HELP = ("Rows of the table of sink records other than the primaries (secondary, primary-like, unclassified; "
            "each class present keeps a row). The columns: " + legend(console_columns()) + ".")

#: what `scan` writes into its folder (the help text, the final message and the README list these)
SCAN_OUTPUTS = ("manifest.json", "sinks.parquet", "layers.parquet", "massive.parquet", "findings.json", "prompts/",
                "report.html", "figures/")


def scan(
    text: Annotated[Optional[list[str]], typer.Argument(help="Text(s) to scan. Default: the bundled example.")] = None,
    file: FileOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    limit: LimitOpt = None,
    text_field: TextFieldOpt = None,
    ids_field: IdsFieldOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
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
    top: Annotated[int, typer.Option(help=TOP_HELP)] = 20,
) -> None:
    """Scan texts for primary and secondary attention sinks and explain how they form.

    Prints the primary of each prompt, the strongest other sink records (with a legend of the
    columns) and a findings block, and writes DIR/manifest.json, sinks.parquet, layers.parquet,
    massive.parquet, findings.json, prompts/ (NNNN.npz, one per prompt), report.html and figures/
    (heatmap, weakening, normlaw, levels; .png and .svg). Progress (load, generate, capture,
    analysis, write) goes to stderr: a live display on a terminal, plain lines otherwise.

    Inputs: TEXT arguments, --file (.txt, or .jsonl lines of text, token ids, prompt + response
    or vLLM output) or --dataset (a .jsonl / .json / .csv / .parquet file or a hub dataset, through
    Hugging Face datasets), with --text-field / --ids-field / --prompt-field / --response-field.
    Token ids are used exactly as given. When prompts have a response (given, or generated with
    --generate), every sink record gets its region: template, prompt or generated.

    Examples:\n
      sinkscope scan\n
      sinkscope scan "The quick brown fox" --model gemma3-270m\n
      sinkscope scan --file prompts.jsonl --generate 256 --chat --out runs/smol\n
      sinkscope scan --file bundled --limit 20 --generate 256\n
      sinkscope scan --file vllm_outputs.jsonl --model qwen2.5-coder-0.5b\n
      sinkscope scan --dataset pairs.csv --prompt-field question --response-field answer --chat
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
        fields = input_fields(text_field, ids_field, prompt_field, response_field)
        pairs, skipped, source = gather_inputs(text or [], file, on_error, dataset=dataset, split=split, limit=limit,
                                               fields=fields)
        print_skipped(skipped)

        import sinkscope
        from sinkscope.report.console import print_scan
        from sinkscope.report.html import write_report
        from sinkscope.workflows.scan import run_pipeline

        with progress_bar() as bar:
            with stage(bar, f"load {model}"):
                lm = sinkscope.load_model(model, dtype=dtype)
            res = run_pipeline(lm, cfg, inputs=pairs, chat=chat, generate=generate, batch_size=batch_size,
                               progress=bar_progress(bar, generate),
                               extra={"generate": generate, "chat": chat, **({"inputs": source} if source else {})})
            if on_error == "skip":
                res.manifest["skipped"] = [s.to_dict() for s in skipped]
            with stage(bar, f"write {dest} (report.html, figures/)"):
                saved = res.save(dest, overwrite=overwrite)
                write_report(res, saved, strict=False)
        print_scan(res, console, top=top)
        if skipped:
            console.print(f"\nskipped {len(skipped)} input line(s) (listed above and in manifest.json \"skipped\")")
        console.print(f"\nwrote [bold]{saved}[/] ({', '.join(SCAN_OUTPUTS)})")


def bar_progress(bar: Any, generate: int) -> Any:
    """A `workflows.scan.Progress` drawing the pipeline on `bar`: generation (or tokenising) and
    capture per prompt with their tokens, then the analysis as a one-step task."""
    from sinkscope.workflows.scan import Progress

    class BarProgress(Progress):
        def __init__(self) -> None:
            self.tasks: dict[str, Any] = {}
            self.lengths: list[int] = []

        def start(self, stage: str, total: int, prompts: Any) -> None:
            if stage == "prepare":
                label = f"generate {generate} tokens" if generate else "tokenize"
                self.tasks[stage] = bar.add_task(label, total=total, unit="prompts")
            elif stage == "capture":
                self.lengths = sorted(len(p.token_ids) for p in prompts)  # the capture runs the prompts shortest first
                self.tasks[stage] = bar.add_task("capture", total=total, unit="prompts", tokens_total=sum(self.lengths))
            else:
                self.tasks[stage] = bar.add_task(stage, total=1)

        def advance(self, stage: str, done: int, total: int) -> None:
            tokens = done * generate or None if stage == "prepare" else sum(self.lengths[:done])
            bar.update(self.tasks[stage], completed=done, tokens=tokens)

        def end(self, stage: str) -> None:
            if stage == "analysis":
                bar.update(self.tasks[stage], completed=1)

    return BarProgress()
