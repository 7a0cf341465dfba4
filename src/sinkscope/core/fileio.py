"""File output shared by every command: JSON-safe values, atomic files and atomic folders.

The one implementation of "no partial output":

* `write_file_atomic(path, content)`: the content (text, bytes, or a writer function) goes to a
  temporary sibling file, which is flushed and fsync'ed, then renamed onto `path`
  (`os.replace`, atomic on POSIX and Windows); the parent folder is fsync'ed after the rename
  where the OS allows it.
* `write_dir_atomic(path, write)`: the caller's `write` fills a fresh temporary sibling folder,
  every file and folder in it is fsync'ed, and it is renamed into place only when complete (an
  existing folder is replaced only with `overwrite`, and only after the new one is complete).

On any exception (KeyboardInterrupt included) the temporary file / folder is removed and an
existing target is left as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sinkscope.core.errors import InputError

# Name prefix of temporary files (`.tmp-<random>-<target name>`, the target's suffix kept so
# writers that infer the format from the extension still work). Stores that clean up after a
# killed writer (the sweep store) remove files with this prefix.
TMP_PREFIX = ".tmp-"

FileMode = Literal["wb", "w", "path"]


# ---- JSON ---------------------------------------------------------------------------------------
def jsonable(x: Any) -> Any:
    """JSON-safe copy of `x`, recursively.

    numpy scalars / arrays -> python numbers / lists; NaN and +-inf -> None; `Path` -> str;
    dates -> ISO text; `Enum` -> its value; objects with `to_dict()` -> that dict; other
    dataclass instances -> their fields; dict keys -> str; tuples -> lists. Anything else is
    returned unchanged.
    """
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
    if isinstance(x, enum.Enum):
        return jsonable(x.value)
    if hasattr(x, "to_dict"):
        return jsonable(x.to_dict())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    return x


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    """Write `jsonable(obj)` as JSON (`indent` spaces, no trailing newline) to `path`, atomically."""
    return write_file_atomic(path, json.dumps(jsonable(obj), indent=indent))


# ---- fsync helpers ------------------------------------------------------------------------------
def _fsync_path(path: Path) -> None:
    """fsync a file or folder by path; silently skipped where the OS does not allow it
    (folders on Windows, read-only handles on some file systems)."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file under `root`, then every folder, deepest first, `root` last."""
    dirs: list[Path] = []
    for here, _subdirs, files in os.walk(root):
        dirs.append(Path(here))
        for name in files:
            p = Path(here) / name
            if not p.is_symlink():
                _fsync_path(p)
    for d in reversed(dirs):
        _fsync_path(d)


# ---- atomic writers -----------------------------------------------------------------------------
def write_file_atomic(
    path: str | Path,
    content: str | bytes | Callable[[Any], Any],
    mode: FileMode | None = None,
) -> Path:
    """Write a file so that `path` holds either its old content or the complete new one.

    content: `str` (written as UTF-8 with "\\n" newlines), `bytes`, or a function. A function is
    called with the open temporary file (`mode` "wb", the default, or "w" for text), or, with
    `mode="path"`, with the temporary file's path (for writers that take a path, e.g.
    `DataFrame.to_parquet`); it must write that file completely.

    The temporary sibling is flushed and fsync'ed, given permissions 0644 and renamed onto `path`;
    then the parent folder is fsync'ed. A failing write leaves no temporary file behind and an
    existing `path` intact. Returns `path`.
    """
    dest = Path(path)
    if isinstance(content, (str, bytes)):
        natural: FileMode = "w" if isinstance(content, str) else "wb"
        if mode not in (None, natural):
            raise ValueError(f"mode {mode!r} does not fit {type(content).__name__} content")
        mode = natural
    elif not callable(content):
        raise TypeError(f"content must be str, bytes or a callable, not {type(content).__name__}")
    mode = mode or "wb"
    if mode not in ("wb", "w", "path"):
        raise ValueError(f"mode must be 'wb', 'w' or 'path' (got {mode!r})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=f"-{dest.name}", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        if mode == "path":
            os.close(fd)
            content(tmp)  # type: ignore[operator]
            _fsync_path(tmp)
        else:
            kw: dict[str, Any] = {"encoding": "utf-8", "newline": "\n"} if mode == "w" else {}
            with os.fdopen(fd, mode, **kw) as fh:
                if isinstance(content, (str, bytes)):
                    fh.write(content)
                else:
                    content(fh)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_path(dest.parent)
    return dest


def write_dir_atomic(path: str | Path, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call `write(tmp)` on a fresh temporary sibling folder, fsync it, then rename it to `path`.

    `path` already existing is an InputError unless `overwrite`; then the old folder is moved
    aside only once the new one is complete, and removed after the rename. An interrupted or
    failing write (Ctrl-C included) leaves no partial `path` and an existing one intact.
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
    old: Path | None = None
    try:
        write(tmp)
        _fsync_tree(tmp)
        if dest.exists():
            old = parent / f".{dest.name}.old-{os.getpid()}"
            os.replace(dest, old)
        os.replace(tmp, dest)
    except BaseException:
        if old is not None and old.exists() and not dest.exists():
            os.replace(old, dest)  # the rename of the new folder failed: put the old one back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest
