"""`sinkscope report`: the self-contained HTML report and paper figures of a scan folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.cli.common import console, progress_bar, stage, user_errors
from sinkscope.core.errors import InputError


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
            raise InputError(f"'{run}' is not a folder; pass a scan output folder (see `sinkscope scan --out`).")
        if out is not None and out.suffix.lower() not in (".html", ".htm"):
            raise InputError(f"--out must name an .html file (got '{out}').")
        scan_dir, run_dir = resolve_run(run)  # an intervention folder: its clean/ scan + its tables
        res = ScanResult.load(scan_dir)
        with progress_bar() as bar, stage(bar, "write report.html" + (" and figures/" if figures else "")):
            files = write_report(res, out or run_dir, run_dir=run_dir, figures=figures)
        console.print(f"wrote [bold]{files.html}[/] ({files.size_bytes / 1e6:.1f} MB, self-contained)")
        if files.figures:
            names = sorted({p.stem for p in files.figures})
            console.print(f"wrote [bold]{files.figures[0].parent}[/]/ ({', '.join(names)}; .png and .svg)")
