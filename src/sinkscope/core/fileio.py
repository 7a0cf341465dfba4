"""File output shared by every command: JSON-safe values and atomic output folders.

`write_dir_atomic` is the one place that implements "no partial output": the caller's `write`
fills a fresh temporary sibling folder, which is renamed into place only when complete (an
existing folder is replaced only with `overwrite`, and only after the new one is complete).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sinkscope.core.errors import InputError


def jsonable(x: Any) -> Any:
    """JSON-safe copy: numpy -> python, NaN / inf -> None, objects with `to_dict()` and containers recursively."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (datetime, date)):
        return x.isoformat()
    if hasattr(x, "to_dict"):
        return jsonable(x.to_dict())
    return x


def write_json(path: Path, obj: Any) -> None:
    Path(path).write_text(json.dumps(jsonable(obj), indent=2))


def write_dir_atomic(path: str | Path, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call `write(tmp)` on a fresh temporary sibling folder, then rename it to `path`.

    An interrupted or failing write (Ctrl-C included) leaves no partial `path`.
    """
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise InputError(f"output folder '{dest}' already exists; choose another --out or pass --overwrite.")
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the folder normal permissions
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


def write_file_atomic(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call `write(fh)` on a temporary sibling file opened with `mode`, then rename it to `path`
    (permissions 0644); a failing write leaves no partial file."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        kw = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kw) as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dest
