"""The package version (one place; `sinkscope.__version__` re-exports it) and the command line a
result records in its manifest."""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"


def command_line(argv: list[str] | None = None) -> str | None:
    """The command that produced a result, for manifests: the program's file name, not its path
    (`/usr/local/bin/sinkscope`, `python -m sinkscope.cli` and a source checkout all read
    `sinkscope ...`), so a manifest never records where the program was installed."""
    argv = sys.argv if argv is None else argv
    if not argv:
        return None
    prog = os.path.basename(argv[0])
    parts = os.path.normpath(argv[0]).split(os.sep)
    if prog == "sinkscope" or (prog == "__main__.py" and "sinkscope" in parts):
        prog = "sinkscope"
    return " ".join([prog, *argv[1:]])
