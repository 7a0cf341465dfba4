"""The sweep store: one folder that many (model, prompt) scans append to, safely.

Layout (DIR = `--out`):

    DIR/sweep.json                              the sweep's parameters (models, thresholds, prompt file hash)
    DIR/sinks/model=<label>/part-<key>.parquet  sink records of one (model, prompt) (hive-partitioned)
    DIR/layers/model=<label>/part-<key>.parquet per-layer table of one (model, prompt) (docs/method.md §6)
    DIR/arrays/model=<label>/<key>.npz          the reduced per-prompt arrays (`PromptTrace`), for re-analysis
    DIR/done/<label>/<key>.json                 the completion record of one (model, prompt), written LAST
    DIR/.lock                                   held (flock) by the process that is writing the store

`<key>` is `prompt_key(text, generate, chat)`, a stable hash; `<label>` is a file-system-safe
name of the model reference. Every file is written to a temporary sibling and renamed into place
(`os.replace`), and a unit's completion record is written only after all of its parts are in
place. So, whenever the writer dies (SIGKILL included), the store holds only complete files, and
a (model, prompt) counts as done if and only if its completion record exists: parts without one
are garbage from a killed run, ignored by readers and removed on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sinkscope.core.errors import InputError
from sinkscope.core.fileio import TMP_PREFIX, write_file_atomic

STORE_FORMAT = "sinkscope-sweep"
# 2: per-prompt arrays carry the last hidden state paper mode reads (docs/method.md §3); a store of
# another version is another sweep (`IDENTITY_KEYS`), so a resume never mixes records of both.
STORE_VERSION = 2
PARAMS_FILE = "sweep.json"
TABLES = ("sinks", "layers")

# The parameters that must match for a re-run to continue an existing store.
IDENTITY_KEYS = ("format_version", "models", "mode", "thresholds", "generate", "chat", "dtype", "prompts_sha256")


def prompt_key(text: str | dict[str, Any], generate: int = 0, chat: bool = False) -> str:
    """Stable id of a prompt as the sweep scans it: sha256 of (text, generate, chat), 20 hex digits;
    an input in another form (token ids, prompt + response: `Input.to_dict()`) is hashed as
    (input, generate, chat).

    The same text with another --generate or --chat is a different prompt (the model sees other tokens).
    """
    what = {"text": text} if isinstance(text, str) else {"input": text}
    blob = json.dumps({**what, "generate": int(generate), "chat": bool(chat)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def model_label(ref: str) -> str:
    """A file-system- and hive-safe name for a model reference (catalog names are kept as they are;
    a path becomes its last component). Collisions are resolved by the caller (`unique_labels`)."""
    s = str(ref).strip().rstrip("/\\")
    if "/" in s or "\\" in s:
        is_path = Path(s).expanduser().exists() or s.startswith((".", "/", "~", "\\")) or s.count("/") != 1
        # paths keep their last component; hub ids (org/name) keep both parts
        s = Path(s).name if is_path else s.replace("/", "--")
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "model"
    if s.startswith("."):
        s = "m" + s
    return s[:80]


def unique_labels(refs: list[str]) -> list[str]:
    """`model_label` of each ref; refs whose labels collide get a short hash of the full ref appended."""
    base = [model_label(r) for r in refs]
    return [
        f"{lab}-{hashlib.sha256(str(ref).encode()).hexdigest()[:6]}" if base.count(lab) > 1 else lab
        for lab, ref in zip(base, refs)
    ]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def identity(params: dict[str, Any]) -> dict[str, Any]:
    """The part of sweep.json that decides whether two runs are the same sweep."""
    return {k: params.get(k) for k in IDENTITY_KEYS}


def describe_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Human-readable list of the identity parameters that differ (for the refusal message)."""
    a, b = identity(old), identity(new)
    parts = []
    for k in IDENTITY_KEYS:
        if a[k] == b[k]:
            continue
        if k == "thresholds" and isinstance(a[k], dict) and isinstance(b[k], dict):
            for t in sorted(set(a[k]) | set(b[k])):
                if a[k].get(t) != b[k].get(t):
                    parts.append(f"{t}: {a[k].get(t)!r} -> {b[k].get(t)!r}")
        elif k == "models":
            parts.append(
                f"models: {','.join(m['ref'] for m in a[k] or [])} -> {','.join(m['ref'] for m in b[k] or [])}"
            )
        elif k == "prompts_sha256":
            parts.append("prompt file contents differ")
        elif k == "format_version":
            parts.append(f"sweep format {a[k]} -> {b[k]} (another sinkscope version wrote it; its records are not "
                         "comparable with this version's)")
        else:
            parts.append(f"{k}: {a[k]!r} -> {b[k]!r}")
    return "; ".join(parts)


class SweepStore:
    """Paths and safe reads / writes of one sweep folder (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ---- paths -------------------------------------------------------------------------------
    @property
    def params_path(self) -> Path:
        return self.root / PARAMS_FILE

    def part_path(self, table: str, label: str, key: str) -> Path:
        return self.root / table / f"model={label}" / f"part-{key}.parquet"

    def arrays_path(self, label: str, key: str) -> Path:
        return self.root / "arrays" / f"model={label}" / f"{key}.npz"

    def done_path(self, label: str, key: str) -> Path:
        return self.root / "done" / label / f"{key}.json"

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    # ---- parameters --------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.params_path.is_file()

    def read_params(self) -> dict[str, Any]:
        try:
            params = json.loads(self.params_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"'{self.root}' is not a sinkscope sweep folder (no {PARAMS_FILE}); run `sinkscope sweep --out {self.root}` first."
            ) from None
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(
                f"'{self.params_path}' cannot be read ({e}); the folder is damaged: pass --overwrite to start it again."
            ) from None
        if not isinstance(params, dict) or params.get("format") != STORE_FORMAT:
            raise InputError(f"'{self.params_path}' is not a sinkscope sweep description.")
        if params.get("format_version", 0) > STORE_VERSION:
            raise InputError(
                f"'{self.root}' was written by a newer sinkscope (sweep format {params.get('format_version')}); upgrade sinkscope."
            )
        return params

    def write_params(self, params: dict[str, Any]) -> None:
        write_file_atomic(self.params_path, json.dumps(params, indent=2, ensure_ascii=False))

    # ---- completion records ------------------------------------------------------------------
    def read_record(self, label: str, key: str) -> dict[str, Any] | None:
        """The completion record of (label, key), or None when the unit is not (validly) complete.

        A record whose data parts are missing (someone deleted them) does not count."""
        p = self.done_path(label, key)
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if not all((self.root / f).is_file() for f in rec.get("files", {}).values()):
            return None
        return rec

    def records(self, labels: list[str] | None = None) -> list[dict[str, Any]]:
        """All valid completion records (done and skipped), sorted by (label order, prompt index)."""
        done = self.root / "done"
        if labels is None:
            labels = sorted(p.name for p in done.iterdir() if p.is_dir()) if done.is_dir() else []
        out = []
        for li, label in enumerate(labels):
            folder = done / label
            if not folder.is_dir():
                continue
            for f in folder.glob("*.json"):
                if f.name.startswith(TMP_PREFIX):
                    continue
                rec = self.read_record(label, f.stem)
                if rec is not None:
                    out.append((li, rec.get("prompt_index", 0), f.stem, rec))
        out.sort(key=lambda x: x[:3])
        return [r for *_, r in out]

    def completed_keys(self, label: str) -> set[str]:
        folder = self.root / "done" / label
        if not folder.is_dir():
            return set()
        return {
            f.stem
            for f in folder.glob("*.json")
            if not f.name.startswith(TMP_PREFIX) and self.read_record(label, f.stem) is not None
        }

    def count_records(self) -> int:
        done = self.root / "done"
        if not done.is_dir():
            return 0
        return sum(1 for f in done.glob("*/*.json") if not f.name.startswith(TMP_PREFIX))

    # ---- writing one unit --------------------------------------------------------------------
    def write_unit(
        self,
        label: str,
        key: str,
        sinks: pd.DataFrame,
        layers: pd.DataFrame,
        save_arrays: Callable[[Path], None] | None,
        record: dict[str, Any],
    ) -> dict[str, Any]:
        """Write the data parts of one (model, prompt), each atomically, then its completion record."""
        files = {}
        for table, df in (("sinks", sinks), ("layers", layers)):
            p = self.part_path(table, label, key)
            write_file_atomic(p, lambda t, df=df: df.to_parquet(t, index=False), mode="path")
            files[table] = self.rel(p)
        if save_arrays is not None:
            p = self.arrays_path(label, key)
            write_file_atomic(p, save_arrays, mode="path")
            files["arrays"] = self.rel(p)
        rec = {**record, "status": "done", "model": label, "prompt_key": key, "files": files, "finished": now()}
        write_file_atomic(self.done_path(label, key), json.dumps(rec, indent=2, ensure_ascii=False))
        return rec

    def write_skipped(self, label: str, key: str, record: dict[str, Any], reason: str) -> dict[str, Any]:
        """A completion record without data: the prompt was skipped for this model (--on-error skip)."""
        rec = {**record, "status": "skipped", "reason": reason, "model": label, "prompt_key": key, "files": {},
               "finished": now()}
        write_file_atomic(self.done_path(label, key), json.dumps(rec, indent=2, ensure_ascii=False))
        return rec

    # ---- housekeeping ------------------------------------------------------------------------
    def clean(self) -> int:
        """Remove what a killed writer left behind: temporary files anywhere in the store, and data
        parts that no completion record refers to. Returns the number of files removed.

        Only call while holding the lock (no writer may be running)."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for f in self.root.rglob(f"{TMP_PREFIX}*"):
            if f.is_file():
                f.unlink(missing_ok=True)
                removed += 1
        referenced = set()
        for rec in self.records():
            referenced.update(rec.get("files", {}).values())
        for table in (*TABLES, "arrays"):
            base = self.root / table
            if not base.is_dir():
                continue
            for f in base.glob("model=*/*"):
                if f.is_file() and self.rel(f) not in referenced:
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock (flock on DIR/.lock; released by the OS if the process dies)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locking
            yield
            return
        path = self.root / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise InputError(f"cannot write to '{self.root}' ({e.strerror or e}); choose a writable --out.") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    who = os.pread(fd, 64, 0).decode(errors="replace").strip()
                except OSError:
                    who = ""
                raise InputError(
                    f"another sinkscope sweep{f' (pid {who})' if who else ''} is writing to '{self.root}'; "
                    "wait for it to finish or stop it first."
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def read_tables(root: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(sinks, layers, records, params) of the completed units of a store.

    Only parts named by a completion record are read, so garbage from a killed run is never seen.
    `model` (the label) is the first column of every table; rows are in (model order of
    sweep.json, prompt index, ...) order.
    """
    store = SweepStore(root)
    params = store.read_params()
    labels = [m["label"] for m in params.get("models", [])]
    recs = store.records(labels)
    frames: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    for rec in recs:
        if rec.get("status") != "done":
            continue
        for table in TABLES:
            df = pd.read_parquet(store.root / rec["files"][table])
            df.insert(0, "model", rec["model"])
            frames[table].append(df)
    out = []
    for table in TABLES:
        parts = frames[table]
        nonempty = [f for f in parts if len(f)]
        if nonempty:
            df = pd.concat(nonempty, ignore_index=True)
        elif parts:
            df = parts[0].iloc[0:0].reset_index(drop=True)
        else:
            df = pd.DataFrame(columns=["model", "prompt", "prompt_key", "source"])
        out.append(df)
    records = pd.DataFrame(
        [
            {
                "model": r["model"],
                "ref": r.get("ref"),
                "prompt": r.get("prompt_index"),
                "prompt_key": r.get("prompt_key"),
                "source": r.get("source"),
                "status": r.get("status"),
                "reason": r.get("reason"),
                "n_layers": r.get("n_layers"),
                "n_tokens": r.get("n_tokens"),
                "n_prompt_tokens": r.get("n_prompt_tokens"),
                "primary_position": r.get("primary_position"),
                "window_start": (r.get("window") or [None, None])[0],
                "window_end": (r.get("window") or [None, None])[1],
                "n_secondary": r.get("n_secondary"),
            }
            for r in recs
        ],
        columns=[
            "model", "ref", "prompt", "prompt_key", "source", "status", "reason", "n_layers", "n_tokens",
            "n_prompt_tokens", "primary_position", "window_start", "window_end", "n_secondary",
        ],
    )
    return out[0], out[1], records, params
