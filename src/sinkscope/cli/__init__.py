"""The `sinkscope` command line. Every command prints a clear message and exits non-zero on bad
input (no stack traces), and writes its outputs atomically."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.analysis.config import AnatomyConfig
from sinkscope.cli.common import app, console, err_console, progress_bar, stage, stage_ticker, user_errors
from sinkscope.cli.intervene import intervene
from sinkscope.cli.kv import kv
from sinkscope.cli.models import models_app
from sinkscope.cli.options import (
    D,
    IdsFieldOpt,
    PromptFieldOpt,
    ResponseFieldOpt,
    analysis_config,
    input_fields,
)
from sinkscope.cli.options import check_choice as _check_choice
from sinkscope.cli.scan import scan
from sinkscope.cli.sweep import sweep
from sinkscope.core.errors import SinkscopeError
from sinkscope.workflows.outputs import check_output_folder

app.add_typer(models_app, name="models")

#: the defaults of `anatomy`'s options: `AnatomyConfig`'s (one source, docs/method.md §9)
ANATOMY = AnatomyConfig()
#: what `anatomy` writes into its folder (its help text and final message list these)
ANATOMY_OUTPUTS = ("anatomy.json", "pcs.parquet", "curves.parquet", "directions.parquet", "samples.parquet",
                   "properties.parquet", "properties_summary.parquet", "anatomy.html", "anatomy.png", "anatomy.svg",
                   "properties.png", "properties.svg")

app.command()(scan)


@app.command()
def levels(
    runs: Annotated[list[Path], typer.Argument(help="One or more scan output folders.")],
    min_share: Annotated[Optional[float], typer.Option(help="A level must hold at least this share of the secondary sinks. Default: the runs' own setting (levels_min_share in their manifest).")] = None,
    tol: Annotated[Optional[int], typer.Option(help="Cells within +/- tol layers (birth and lifetime) are connected. Default: the runs' own setting.")] = None,
) -> None:
    """Sink levels (docs/method.md §7) pooled over the secondary sinks of one or more scan folders.

    Levels are numbered L0, L1, ... by (first birth, first lifetime), as in each run's findings
    (findings.json "levels", the scan's findings block, the levels figure); with one run and its
    own settings the table is that run's levels.
    """
    with user_errors():
        analysis_config(levels_min_share=D.levels_min_share if min_share is None else min_share,
                        levels_tol=D.levels_tol if tol is None else tol)  # a bad value fails before any run loads
        import pandas as pd

        from sinkscope.analysis import levels as levels_fn
        from sinkscope.report.console import print_levels
        from sinkscope.workflows.scan import ScanResult

        frames, n_layers, own = [], set(), set()
        for r in runs:
            res = ScanResult.load(r)
            n_layers.add(res.manifest["model"]["n_layers"])
            own.add((res.config.levels_min_share, res.config.levels_tol))
            df = res.sinks.copy()
            df["run"] = str(r)
            frames.append(df)
        if len(n_layers) > 1:
            raise _input_error(
                f"the runs come from models with different depths {sorted(n_layers)}; levels are per model."
            )
        share0, tol0 = own.pop() if len(own) == 1 else (D.levels_min_share, D.levels_tol)
        min_share = share0 if min_share is None else min_share
        tol = tol0 if tol is None else tol
        analysis_config(levels_min_share=min_share, levels_tol=tol)  # names --min-share / --tol when out of range
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
        with progress_bar() as bar, stage(bar, "write report.html" + (" and figures/" if figures else "")):
            files = write_report(res, out or run_dir, run_dir=run_dir, figures=figures)
        console.print(f"wrote [bold]{files.html}[/] ({files.size_bytes / 1e6:.1f} MB, self-contained)")
        if files.figures:
            names = sorted({p.stem for p in files.figures})
            console.print(f"wrote [bold]{files.figures[0].parent}[/]/ ({', '.join(names)}; .png and .svg)")


app.command()(intervene)


app.command()(sweep)
app.command()(kv)


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
    pcs: Annotated[int, typer.Option(help="Top principal components of the pooled MLP inputs to push through the MLP.")] = ANATOMY.n_pcs,
    alphas: Annotated[str, typer.Option(help="Comma-separated alpha grid (>= 0); each signed PC is pushed at +/- alpha.")] = ",".join(f"{a:g}" for a in ANATOMY.alphas),
    alpha_unit: Annotated[str, typer.Option(help="What alpha multiplies: input-norm (median ||x||), pc-std or absolute.")] = ANATOMY.alpha_unit.replace("_", "-"),
    threshold: Annotated[float, typer.Option(help="|cos(f(x), m_p)| above which a signed direction is effective.")] = ANATOMY.threshold,
    contrast: Annotated[str, typer.Option(help="Contrast set of the same token ids: never-sink-like or not-secondary.")] = ANATOMY.contrast.replace("_", "-"),
    seed: Annotated[int, typer.Option(help="Seed of the linear probe's folds.")] = ANATOMY.seed,
) -> None:
    """Anatomy of formation (docs/method.md §9): which MLP-input directions make block b's MLP write the
    primary-sink direction, from the secondary sinks born at b and the same tokens where they did not
    form. Re-runs only the prompts holding such sinks, up to block b.

    Prints the contrast, the linear probe and the effective directions, and writes DIR/anatomy.json,
    pcs.parquet, curves.parquet, directions.parquet, samples.parquet, properties.parquet and
    properties_summary.parquet (docs/method.md §8 norms of the run, per layer and summarised),
    anatomy.html (self-contained), anatomy.png, anatomy.svg, properties.png and properties.svg.

    Examples:\n
      sinkscope anatomy runs/smol --layer 2\n
      sinkscope anatomy runs/smol --layer 2 --pcs 5 --alphas 0,1,2,4 --out runs/smol-anatomy
    """
    with user_errors():
        from sinkscope.workflows.anatomy import anatomy as anatomy_fn
        from sinkscope.workflows.anatomy import resolve_layer
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
        check_output_folder(dest, overwrite=overwrite)  # before the model loads; never replaces a user's folder
        ref = model or res.manifest.get("model", {}).get("ref")
        if not ref or ref == "<in-memory>":
            raise _input_error("the run does not record a loadable model; pass --model.")

        import sinkscope

        with progress_bar() as bar:
            with stage(bar, f"load {ref}"):
                lm = sinkscope.load_model(ref, dtype=dtype or res.manifest.get("dtype") or "float32")
            result = anatomy_fn(lm, res, b, config=cfg, progress=stage_ticker(bar))
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

        with progress_bar() as wbar, stage(wbar, f"write {dest} (anatomy.html, figures)"):
            saved = result.save(dest, overwrite=overwrite, extra=extra)
        _print_anatomy(result, props)
        console.print(f"\nwrote [bold]{saved}[/] ({', '.join(ANATOMY_OUTPUTS)})")


def _print_anatomy(result, props) -> None:
    """Console summary of `sinkscope anatomy` (docs/method.md §8 ratios of the sinks born at b, §9)."""
    import math

    from rich.table import Table

    c, p, s = result.contrast, result.probe, result.summary()
    def fmt(v) -> str:
        return "-" if v is None or not math.isfinite(float(v)) else f"{float(v):.3g}"

    tokens = ", ".join(repr(t) for t in result.meta.get("tokens", []))
    t = Table(title=f"anatomy of formation at block {result.layer} (docs/method.md §9)", show_header=False, title_justify="left")
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
            raise _input_error(f"--protocol must be short or long (got {protocol!r}).")
        fields = input_fields(None, ids_field, prompt_field, response_field)
        if fields.named and protocol != "long":
            raise _input_error("--ids-field, --prompt-field and --response-field apply to --protocol long --traces.")
        if protocol == "long":
            if quick:
                raise _input_error("--quick belongs to the short protocol; a small long run is "
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


def _input_error(msg: str) -> SinkscopeError:
    from sinkscope.core.errors import InputError

    return InputError(msg)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

