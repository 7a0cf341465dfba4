"""`sinkscope levels`: sink levels (docs/method.md §7) pooled over the secondary sinks of scan folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.cli.common import console, user_errors
from sinkscope.cli.options import D, analysis_config


def levels(
    runs: Annotated[list[Path], typer.Argument(help="One or more scan output folders.")],
    min_share: Annotated[Optional[float], typer.Option(help="A level must hold at least this share of the secondary sinks. Default: the runs' own setting (levels_min_share in their manifest).")] = None,
    tol: Annotated[Optional[int], typer.Option(help="Cells within +/- tol layers (birth and lifetime) are connected. Default: the runs' own setting.")] = None,
) -> None:
    """Sink levels (docs/method.md §7) pooled over the secondary sinks of one or more scan folders.

    Levels are numbered L0, L1, ... by (first birth, first lifetime), as in each run's findings
    (findings.json "levels", the scan's findings block, the levels figure); with one run and its
    own settings the table is that run's levels. The runs' own analysis settings and the layers
    with attention probabilities (a hybrid's, docs/method.md §11) are used, as in their findings.
    """
    with user_errors():
        analysis_config(levels_min_share=D.levels_min_share if min_share is None else min_share,
                        levels_tol=D.levels_tol if tol is None else tol)  # a bad value fails before any run loads
        from sinkscope.report.console import print_levels
        from sinkscope.workflows.runs import pool_runs

        print_levels(pool_runs(runs, min_share=min_share, tol=tol).levels, console)
