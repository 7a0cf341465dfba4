"""Output folders: what `--out` may name, checked before any model is loaded.

`check_output_folder` is the one check every writing command runs first (scan, intervene,
anatomy; `run_sweep` applies the same rule to its store):

- a path that does not exist is fine when it can be created: its nearest existing ancestor must
  be a folder (not a file) in which this process can create a folder;
- an existing folder is refused unless `overwrite`, and `overwrite` replaces only a folder that is
  empty or a sinkscope result (`result_kind`); a folder holding anything else is refused with a
  message naming it, so `--overwrite` never deletes a user's files;
- an existing file is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from sinkscope.core.errors import InputError

ResultKind = Literal["scan", "sweep", "intervention", "anatomy", "kv"]


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _is_scan_manifest(path: Path) -> bool:
    obj = _json_object(path)
    return obj is not None and "sinkscope_version" in obj and "thresholds" in obj


def result_kind(folder: str | Path) -> ResultKind | None:
    """What sinkscope result `folder` holds, or None.

    scan          manifest.json with "sinkscope_version" and "thresholds" (`ScanResult.save`)
    sweep         sweep.json with "format": "sinkscope-sweep" (`run_sweep`)
    intervention  intervention.json / auto.json / dose.json next to a clean/ scan folder
    anatomy       anatomy.json (a JSON object) next to properties.parquet (`sinkscope anatomy`)
    kv            manifest.json with "kind": "kv" next to kv.parquet (`sinkscope kv`)
    """
    d = Path(folder)
    if _is_scan_manifest(d / "manifest.json"):
        return "scan"
    sweep = _json_object(d / "sweep.json")
    if sweep is not None and sweep.get("format") == "sinkscope-sweep":
        return "sweep"
    if any((d / n).is_file() for n in ("intervention.json", "auto.json", "dose.json")) and _is_scan_manifest(
        d / "clean" / "manifest.json"
    ):
        return "intervention"
    if _json_object(d / "anatomy.json") is not None and (d / "properties.parquet").is_file():
        return "anatomy"
    kv = _json_object(d / "manifest.json")
    if kv is not None and kv.get("kind") == "kv" and (d / "kv.parquet").is_file():
        return "kv"
    return None


def _listing(folder: Path) -> str:
    names = sorted(os.listdir(folder))
    shown = ", ".join(names[:3]) + (f", ... ({len(names)} entries)" if len(names) > 3 else "")
    return shown


def _can_create_in(folder: Path) -> str | None:
    """None when a folder can be created inside `folder`, else the OS's reason."""
    try:
        probe = tempfile.mkdtemp(prefix=".sinkscope-probe-", dir=folder)
    except OSError as e:
        return e.strerror or str(e)
    os.rmdir(probe)
    return None


def check_output_folder(path: str | Path, *, overwrite: bool, flag: str = "--out") -> Path:
    """Refuse an output folder that cannot or must not be written (see the module docstring);
    nothing is created or removed. Returns `path` as a `Path`. Raises `InputError` naming `flag`."""
    dest = Path(path)
    if dest.exists():
        if not dest.is_dir():
            raise InputError(f"{flag} '{dest}' is a file, not a folder; choose a folder path.")
        if not overwrite:
            raise InputError(f"output folder '{dest}' already exists; choose another {flag} or pass --overwrite.")
        if any(os.scandir(dest)) and result_kind(dest) is None:
            raise InputError(
                f"{flag} '{dest}' is not a sinkscope result folder (it holds {_listing(dest)}); --overwrite only "
                "replaces a folder sinkscope wrote, or an empty one. Choose another folder, or remove it yourself."
            )
    ancestor = dest.parent if str(dest.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{flag} '{dest}' cannot be created: '{ancestor}' is a file, not a folder.")
    reason = _can_create_in(ancestor)
    if reason is not None:
        raise InputError(f"{flag} '{dest}' cannot be written: no folder can be created in '{ancestor}' ({reason}).")
    return dest
