"""`sinkscope anatomy`: the anatomy of formation (docs/method.md §9) at one birth block of a scan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.analysis.config import AnatomyConfig
from sinkscope.cli.common import console, progress_bar, stage, stage_ticker, user_errors
from sinkscope.cli.options import check_choice
from sinkscope.core.errors import InputError
from sinkscope.workflows.outputs import check_output_folder

#: the defaults of `anatomy`'s options: `AnatomyConfig`'s (one source, docs/method.md §9)
ANATOMY = AnatomyConfig()


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
        from sinkscope.report.anatomy_console import print_anatomy
        from sinkscope.workflows.anatomy import ANATOMY_OUTPUTS, resolve_layer, save_run
        from sinkscope.workflows.anatomy import anatomy as anatomy_fn
        from sinkscope.workflows.scan import ScanResult

        check_choice("--alpha-unit", alpha_unit, ("input-norm", "pc-std", "absolute"))
        check_choice("--contrast", contrast, ("never-sink-like", "not-secondary"))
        if dtype is not None:
            check_choice("--dtype", dtype, ("float32", "bfloat16"))
        try:
            grid = tuple(float(a) for a in alphas.split(",") if a.strip())
        except ValueError:
            raise InputError(f"--alphas '{alphas}' is not a comma-separated list of numbers (e.g. 0,0.5,1,2).") from None
        cfg = AnatomyConfig(
            n_pcs=pcs, alphas=grid, alpha_unit=alpha_unit.replace("-", "_"), threshold=threshold,  # type: ignore[arg-type]
            contrast=contrast.replace("-", "_"), seed=seed,  # type: ignore[arg-type]
        )
        if not run.exists():
            raise InputError(f"run folder '{run}' not found; pass a folder written by `sinkscope scan --out`.")
        if not run.is_dir():
            raise InputError(f"'{run}' is not a folder; pass a folder written by `sinkscope scan --out`.")
        res = ScanResult.load(run)
        b = resolve_layer(res, layer)  # fails fast, before loading the model
        dest = out or run / f"anatomy-b{b}"
        check_output_folder(dest, overwrite=overwrite)  # before the model loads; never replaces a user's folder
        ref = model or res.manifest.get("model", {}).get("ref")
        if not ref or ref == "<in-memory>":
            raise InputError("the run does not record a loadable model; pass --model.")

        import sinkscope

        with progress_bar() as bar:
            with stage(bar, f"load {ref}"):
                lm = sinkscope.load_model(ref, dtype=dtype or res.manifest.get("dtype") or "float32")
            result = anatomy_fn(lm, res, b, config=cfg, progress=stage_ticker(bar))
        result.meta["run_dir"] = str(run)
        with progress_bar() as wbar, stage(wbar, f"write {dest} (anatomy.html, figures)"):
            saved = save_run(result, res, dest, overwrite=overwrite)
        print_anatomy(result, res.properties(), console)
        console.print(f"\nwrote [bold]{saved}[/] ({', '.join(ANATOMY_OUTPUTS)})")
