"""Atomic output folders for intervention results (the same scheme as `ScanResult.save`)."""

from __future__ import annotations

from pathlib import Path

from sinkscope.core.fileio import write_dir_atomic, write_json

__all__ = ["write_dir_atomic", "write_json", "write_scan"]


def write_scan(res, d: Path) -> None:
    """A `ScanResult` in folder `d` (created), in the layout `ScanResult.load` reads."""
    d.mkdir()
    res._write(d)
