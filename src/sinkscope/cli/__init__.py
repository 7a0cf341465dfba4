"""The `sinkscope` command line: the typer app, one module per command group (`cli/scan.py`,
`cli/levels.py`, `cli/report.py`, `cli/intervene.py`, `cli/sweep.py` with `compare`, `cli/kv.py`,
`cli/anatomy.py`, `cli/reproduce.py`, `cli/models.py`), the shared options (`cli/options.py`) and
what every command shares (`cli/common.py`). Commands parse and check options, call one workflow and
print; the workflows live in `sinkscope.workflows`. Every command prints a clear message and exits
non-zero on bad input (no stack traces), and writes its outputs atomically."""

from __future__ import annotations

import sys

from sinkscope.cli.anatomy import anatomy
from sinkscope.cli.common import app
from sinkscope.cli.intervene import intervene
from sinkscope.cli.kv import kv
from sinkscope.cli.levels import levels
from sinkscope.cli.models import models_app
from sinkscope.cli.report import report
from sinkscope.cli.reproduce import reproduce
from sinkscope.cli.scan import scan
from sinkscope.cli.sweep import compare, sweep

app.add_typer(models_app, name="models")
for command in (scan, levels, report, intervene, sweep, kv, compare, anatomy, reproduce):  # the order of --help
    app.command()(command)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
