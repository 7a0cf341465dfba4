"""`sinkscope intervene`: the causal check (docs/method.md §4), single edit, --auto or --dose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional, get_args

import typer

from sinkscope.analysis.config import Mode
from sinkscope.cli.common import console, gather_prompts, print_skipped, progress_bar, stage, user_errors
from sinkscope.cli.options import (
    MODEL_DEFAULT,
    BatchSizeOpt,
    ChatOpt,
    CosineOpt,
    D,
    DtypeOpt,
    FileOpt,
    KOpt,
    MinLifetimeOpt,
    MinQueriesOpt,
    ModelOpt,
    NCandidatesOpt,
    OnErrorOpt,
    OverwriteOpt,
    TauOpt,
    analysis_config,
    check_choice,
    require,
)
from sinkscope.core.errors import InputError
from sinkscope.workflows.outputs import check_output_folder

EDIT_DEFAULT = "project-out"


def _modes(mode: str | None, edit: str | None) -> tuple[str, str]:
    """(detection mode, edit) from --mode and --edit: --mode takes a detection rule (general,
    paper) or, as before --edit existed, the edit itself."""
    if mode is None or mode in get_args(Mode):
        return mode or D.mode, edit or EDIT_DEFAULT
    if edit is not None:
        raise InputError(f"--mode '{mode}' is not general or paper, and --edit gives the edit already; "
                         "use --mode for the detection rule and --edit for the edit.")
    return D.mode, mode


def _positions(position: str | None) -> list[int]:
    if position is None:
        return []
    try:
        positions = [int(x) for x in position.split(",") if x.strip()]
    except ValueError:
        raise InputError(
            f"--position '{position}' is not a token position or a comma-separated list of them (e.g. 25 or 25,39)."
        ) from None
    if not positions:
        raise InputError("--position is empty; give a token position, e.g. 25 or 25,39.")
    return positions


def intervene(
    text: Annotated[Optional[str], typer.Argument(help="Text to intervene on. Default: the bundled example.")] = None,
    file: FileOpt = None,
    prompt: Annotated[Optional[int], typer.Option(help="Which prompt of a .jsonl --file (0-based). Default: the first; --auto: all.")] = None,
    model: ModelOpt = MODEL_DEFAULT,
    layer: Annotated[Optional[int], typer.Option("--layer", "-l", help="Block b whose MLP output is edited (0-based).")] = None,
    position: Annotated[Optional[str], typer.Option("--position", "-p", help="Token position(s) t to edit: 25, or 25,39 for several at once.")] = None,
    edit: Annotated[Optional[str], typer.Option(help="The edit: project-out (m - (m.u)u, u = unit(h_p^b), the default), zero, rescale:NORM (NORM m/||m||) or induce:ALPHA (m + ALPHA u).")] = None,
    mode: Annotated[Optional[str], typer.Option(help="general or paper: the detection rule of both scans (docs/method.md §3, as in `scan`; default general). An edit (project-out, zero, rescale:NORM, induce:ALPHA) is accepted here too, as --edit.")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Edit every secondary sink the scan finds at its birth block, one run each (--auto-modes), and report what changed.")] = False,
    auto_modes: Annotated[str, typer.Option(help="--auto: comma-separated edits to apply to each sink.")] = "project-out,zero",
    max_sinks: Annotated[Optional[int], typer.Option(help="--auto: only the N strongest secondary sinks of each prompt.")] = None,
    dose: Annotated[Optional[str], typer.Option(help="Dose-response at --layer/--position: induce (grid of ALPHA) or rescale (grid of NORM).")] = None,
    grid: Annotated[Optional[str], typer.Option(help="--dose: comma-separated values, e.g. 0,50,100,200.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write tables (parquet/json), both runs' scan folders and plots here (atomically).")] = None,
    overwrite: OverwriteOpt = False,
    chat: ChatOpt = False,
    generate: Annotated[int, typer.Option(help="Greedy-generate N tokens after the text first (positions count the continuation).")] = 0,
    tau: TauOpt = D.tau,
    cosine: CosineOpt = D.cosine,
    k: KOpt = D.k,
    min_lifetime: MinLifetimeOpt = D.min_lifetime,
    min_queries: MinQueriesOpt = D.min_queries,
    n_candidates: NCandidatesOpt = D.n_candidates,
    dtype: DtypeOpt = "float32",
    batch_size: BatchSizeOpt = 1,
    on_error: OnErrorOpt = "fail",
) -> None:
    """Causal check (docs/method.md §4): edit what block b's MLP adds at token t and re-run the scan.

    Prints the outcome for each edited token (removed / weakened / unchanged / strengthened, and
    promoted: docs/method.md §4 "Outcomes"), the token before -> after (class, lifetime, score, ||m||,
    m.u), the number of secondary sinks, and the change in next-token NLL on the rest of the text. With --out, writes
    intervention.json, targets.parquet, nll.parquet and the clean/ and intervened/ scan folders.

    Examples:\n
      sinkscope intervene --layer 2 --position 10 --edit project-out\n
      sinkscope intervene --file notes.txt --layer 2 --position 10,37 --edit rescale:50 --mode paper\n
      sinkscope intervene --auto --out runs/auto\n
      sinkscope intervene --layer 2 --position 50 --dose induce --grid 0,50,100,200 --out runs/dose
    """
    with user_errors():
        detect_mode, edit_mode = _modes(mode, edit)
        cfg = analysis_config(
            mode=detect_mode, tau=tau, cosine=cosine, k=k, min_lifetime=min_lifetime, min_queries=min_queries,
            n_candidates=n_candidates,
        )
        require("--generate", generate, generate >= 0, "an integer >= 0")
        require("--batch-size", batch_size, batch_size >= 1, "an integer >= 1")
        if out is not None:
            check_output_folder(out, overwrite=overwrite)
        # the edit specs are parsed by the interventions package (which imports torch)
        from sinkscope.workflows.interventions import parse_grid, parse_mode
        from sinkscope.workflows.interventions.dose import DoseMode

        if dose is not None:
            check_choice("--dose", dose, get_args(DoseMode))
        if auto and dose is not None:
            raise InputError("--auto and --dose are separate experiments; give one of them.")
        if grid is not None and dose is None:
            raise InputError("--grid needs --dose induce or --dose rescale.")
        if auto and (layer is not None or position is not None):
            raise InputError("--auto picks each sink's birth block and position itself; drop --layer / --position.")
        if not auto:
            if layer is None:
                raise InputError("--layer is required (the block b whose MLP output to edit), unless --auto.")
            if position is None:
                raise InputError("--position is required (the token position(s) t to edit, e.g. 25 or 25,39), unless --auto.")
        positions = _positions(position)
        if dose is not None and len(positions) != 1:
            raise InputError(f"--dose takes one --position (got {position}).")
        modes = [parse_mode(m) for m in auto_modes.split(",") if m.strip()] if auto else []
        if auto and not modes:
            raise InputError("--auto-modes is empty; give e.g. project-out,zero.")
        spec = parse_mode(edit_mode) if not auto and dose is None else None
        values = parse_grid(grid if grid is not None else "0,50,100,200", "--grid") if dose is not None else []

        pairs, skipped = gather_prompts([text] if text is not None else [], file, on_error)
        print_skipped(skipped)
        if prompt is not None:
            if not 0 <= prompt < len(pairs):
                raise InputError(f"--prompt {prompt} is out of range: there are {len(pairs)} prompt(s) (allowed: 0..{len(pairs) - 1}).")
            pairs = [pairs[prompt]]
        elif not auto and len(pairs) > 1:
            raise InputError(f"{len(pairs)} prompts given; pick one with --prompt (0..{len(pairs) - 1}), or use --auto.")
        _run(model, dtype, pairs, cfg, auto=auto, dose=dose, modes=modes, spec=spec, values=values, layer=layer,
             positions=positions, max_sinks=max_sinks, chat=chat, generate=generate, batch_size=batch_size, out=out,
             overwrite=overwrite)


def _run(model: str, dtype: str, pairs: list[tuple[str, str]], cfg: Any, *, auto: bool, dose: str | None,
         modes: list[Any], spec: Any, values: list[float], layer: int | None, positions: list[int],
         max_sinks: int | None, chat: bool, generate: int, batch_size: int, out: Path | None, overwrite: bool) -> None:
    """Load the model and run the checked experiment (single edit, --auto or --dose); print and save."""
    import sinkscope
    from sinkscope.report.interventions_console import print_auto, print_dose, print_intervention
    from sinkscope.workflows.interventions import auto as auto_fn
    from sinkscope.workflows.interventions import dose_response
    from sinkscope.workflows.interventions import intervene as intervene_fn

    with progress_bar() as bar, stage(bar, f"load {model}"):
        lm = sinkscope.load_model(model, dtype=dtype)
    if auto:
        with progress_bar(every=1.0) as bar:
            task = bar.add_task("intervening (clean scan, then one edited run per sink and mode)", total=None,
                                unit="runs")
            res_auto = auto_fn(
                lm, pairs, modes=modes, config=cfg, chat=chat, generate=generate, max_sinks=max_sinks,
                batch_size=batch_size, progress=lambda d, n: bar.update(task, completed=d, total=n),
            )
        print_auto(res_auto, console)
        if out is not None:
            console.print(f"\nwrote [bold]{res_auto.save(out, overwrite=overwrite)}[/] (auto.parquet, auto.json, clean/)")
    elif dose is not None:
        with progress_bar() as bar:
            task = bar.add_task(f"{dose} sweep", total=len(values), unit="runs")
            res_dose = dose_response(
                lm, pairs[0], layer=layer, position=positions[0], mode=dose, grid=values,  # type: ignore[arg-type]
                config=cfg, chat=chat, generate=generate, batch_size=batch_size,
                progress=lambda d, n: bar.update(task, completed=d, total=n),
            )
        print_dose(res_dose, console)
        if out is not None:
            console.print(f"\nwrote [bold]{res_dose.save(out, overwrite=overwrite)}[/] (dose.parquet, dose.json, dose.png, dose.svg, clean/)")
    else:
        with progress_bar() as bar, stage(bar, f"intervene: clean and edited run ({spec})"):
            res = intervene_fn(lm, pairs[0], layer=layer, position=positions, mode=spec, config=cfg, chat=chat, generate=generate)  # type: ignore[arg-type]
        print_intervention(res, console)
        if out is not None:
            console.print(
                f"\nwrote [bold]{res.save(out, overwrite=overwrite)}[/] "
                "(intervention.json, targets.parquet, nll.parquet, clean/, intervened/)"
            )
