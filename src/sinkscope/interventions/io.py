"""Atomic output folders for intervention results (the same scheme as `ScanResult.save`)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sinkscope.errors import InputError
from sinkscope.pipeline import _jsonable


def write_dir_atomic(path: str | Path, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call `write(tmp)` on a fresh temporary sibling folder, then rename it to `path`.

    An interrupted or failing write leaves no partial `path` (the temporary folder is removed);
    an existing `path` is only replaced when `overwrite` is set, and only once the new folder is
    complete.
    """
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise InputError(f"output folder '{dest}' already exists; choose another --out or pass --overwrite.")
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=parent))
    except OSError as e:
        raise InputError(f"cannot write to '{parent}' ({e.strerror}); choose a writable --out.") from e
    try:
        write(tmp)
        if dest.exists():
            old = parent / f".{dest.name}.old-{os.getpid()}"
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(_jsonable(obj), indent=2))


def write_scan(res, d: Path) -> None:
    """A `ScanResult` in folder `d` (created), in the layout `ScanResult.load` reads."""
    d.mkdir()
    res._write(d)
