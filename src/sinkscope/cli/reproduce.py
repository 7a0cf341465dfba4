"""`sinkscope reproduce`: check the paper's claims on the catalog decoders and write docs/REPRODUCTION.md."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.cli.common import console, err_console, progress_bar, user_errors
from sinkscope.cli.options import IdsFieldOpt, PromptFieldOpt, ResponseFieldOpt, input_fields
from sinkscope.core.errors import InputError


def reproduce(
    quick: Annotated[bool, typer.Option("--quick", help="CI smoke run (< 10 min): SmolLM2 only, few prompts, short generation.")] = False,
    models: Annotated[Optional[str], typer.Option(help="Comma-separated catalog decoders. Default: all four (--quick: smollm2-135m).")] = None,
    prompts: Annotated[Optional[int], typer.Option(help="Prompts per model (overrides the per-model plan; --protocol long: traces per model the generate stage makes, on the first N bundled math problems; the analysis takes every stored trace).")] = None,
    generate: Annotated[Optional[int], typer.Option(help="Greedy tokens generated after each prompt (overrides the plan; --protocol long: sampled tokens per trace, default 1024, one length per --traces folder).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Writes OUT/REPRODUCTION.md and OUT/reproduction/ (results.json, figures).")] = Path("docs"),
    work: Annotated[Optional[Path], typer.Option(help="Scan folders per model go to WORK/<model>/scan (git-ignored). Default: reproduce-runs (--quick: OUT/reproduce-runs).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch threads. Default: all cores if the machine is idle, else 1 (spinning threads on busy shared cores are ~10x slower).")] = None,
    protocol: Annotated[str, typer.Option(help="short (bundled prompts + short greedy continuations) or long (1,024-token sampled math reasoning traces per problem; see README, The long-trace protocol).")] = "short",
    traces: Annotated[Path, typer.Option(help="--protocol long: folder of the stored traces, one TRACES/<model>.jsonl per model.")] = Path("docs/reproduction/long/traces"),
    stages: Annotated[str, typer.Option(help="--protocol long: comma-separated stages, generate (missing traces) and/or analyse.")] = "generate,analyse",
    ids_field: IdsFieldOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
) -> None:
    """Check the paper's five claims on every catalog decoder and write docs/REPRODUCTION.md.

    Runs a fixed subset of the bundled prompts (math first) with the chat template and greedy continuations on SmolLM2-135M, Gemma3-270M, Qwen2.5-Coder-0.5B and -1.5B, plus the causal check (project-out at the birth block of distinct secondary sinks of a few prompts), then writes one table per claim with the measured numbers, a verdict by documented rules and its reason, and the figures. The full run takes ~20-50 min on 2 shared cores.

    Examples:\n
      sinkscope reproduce\n
      sinkscope reproduce --quick --out /tmp/repro\n
      sinkscope reproduce --models smollm2-135m,gemma3-270m --prompts 8 --generate 64\n
      sinkscope reproduce --protocol long --stages analyse --models smollm2-135m\n
      sinkscope reproduce --protocol long --models qwen2.5-coder-0.5b --prompts 6 --generate 2048 --traces docs/length-probe/traces --out docs/length-probe --work reproduce-runs/length-probe\n
      sinkscope reproduce --protocol long --stages analyse --models smollm2-135m --traces vllm-runs --out runs/long

    --protocol long --traces: TRACES/<model>.jsonl is either sinkscope's own trace store or traces made elsewhere, one per line: vLLM's offline output (prompt_token_ids + outputs[0].token_ids), token ids with n_prompt_tokens, or a prompt + response (tokenised with the model's chat template, the response appended verbatim); --ids-field / --prompt-field / --response-field name other fields.
    """
    with user_errors():
        import time as _time

        if protocol not in ("short", "long"):
            raise InputError(f"--protocol must be short or long (got {protocol!r}).")
        fields = input_fields(None, ids_field, prompt_field, response_field)
        if fields.named and protocol != "long":
            raise InputError("--ids-field, --prompt-field and --response-field apply to --protocol long --traces.")
        if protocol == "long":
            if quick:
                raise InputError("--quick belongs to the short protocol; a small long run is "
                                   "--protocol long --models NAME --prompts N --generate TOKENS --traces DIR.")
            from sinkscope.workflows.reproduce import reproduce_long
            from sinkscope.workflows.reproduce.long import LONG_PLANS, LONG_TOKENS

            plans = {m: prompts for m in LONG_PLANS} if prompts is not None else None
            reproduce_long(out=out, work=work or Path("reproduce-runs/long"), traces=traces, plans=plans,
                           n_tokens=LONG_TOKENS if generate is None else generate,
                           models=models.split(",") if models is not None else None,
                           stages=[x.strip() for x in stages.split(",") if x.strip()], threads=threads,
                           log=lambda msg: console.print(msg, highlight=False, markup=False, soft_wrap=True),
                           command="sinkscope " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else None,
                           fields=fields if fields.named else None)
            return
        from sinkscope.workflows.reproduce import reproduce as run_reproduce

        names = models.split(",") if models is not None else None
        work_dir = work or ((out / "reproduce-runs") if quick else Path("reproduce-runs"))
        started = _time.perf_counter()

        def log(msg: str) -> None:
            console.print(msg, highlight=False, markup=False, soft_wrap=True)

        tty = err_console.is_terminal
        last: dict[tuple[str, str], float] = {}

        with progress_bar() as bar:
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
