"""The work folder that makes a KV run resumable: DIR/.partial/ (docs/method.md §10).

    DIR/.partial/partial.json                    {"format": "sinkscope-kv-partial", "settings": ..., "settings_hash": ...}
    DIR/.partial/<text key>/full.json            the full-cache NLL of one text (its reference)
    DIR/.partial/<text key>/<policy>@<budget>.json   one (text, policy, budget) evaluation: keys, nll,
                                                 dropped (per layer)

`<text key>` is `text_key(text)`, a hash of the text's id, token ids and prompt length, so a text
whose tokens change is a new text. Every file is written atomically (`core.fileio.write_json`) as
soon as its forward pass is done, so an interrupted run (Ctrl-C, SIGKILL, a session that ends)
loses at most the evaluation in flight, and a re-run with the same settings reads the finished
ones back instead of recomputing them. The settings (`kv_settings`: sinkscope version, model,
dtype, policies, budgets and every parameter that changes a per-text number) are hashed into
partial.json; a run with other settings is refused (`KVWork.open`) unless it restarts the folder.
Floats go through JSON (shortest round-trip repr), so reused numbers are bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sinkscope.core.errors import InputError
from sinkscope.core.fileio import TMP_PREFIX, write_json
from sinkscope.workflows.kv.inputs import KVText

PARTIAL = ".partial"
PARTIAL_FORMAT = "sinkscope-kv-partial"
PARTIAL_FILE = "partial.json"


def settings_hash(settings: dict[str, Any]) -> str:
    """sha256 of the settings as canonical JSON (sorted keys), 16 hex digits."""
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def text_key(text: KVText) -> str:
    """Stable id of one text as evaluated: sha256 of (id, token ids, n_prompt), 20 hex digits."""
    blob = json.dumps({"id": text.id, "token_ids": [int(t) for t in text.token_ids], "n_prompt": text.n_prompt})
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def eval_name(policy: str, budget: Any) -> str:
    """File stem of one evaluation: "full" or "<policy>@<budget>" (e.g. "streaming+secondary@0.5")."""
    return "full" if policy == "full" else f"{policy}@{budget}"


def is_work_folder(root: str | Path) -> bool:
    """Whether `root` holds a KV work folder (root/.partial/partial.json)."""
    return (Path(root) / PARTIAL / PARTIAL_FILE).is_file()


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def describe_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """"key: old -> new" for every setting that differs (nested keys dotted), joined by "; "."""
    a, b = _flat(old), _flat(new)
    return "; ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


class KVWork:
    """The finished evaluations of one KV run under ROOT/.partial (see the module docstring)."""

    def __init__(self, root: str | Path, settings: dict[str, Any]):
        self.root = Path(root)
        self.folder = self.root / PARTIAL
        self.settings = settings

    @classmethod
    def open(cls, root: str | Path, settings: dict[str, Any], restart: bool = False) -> KVWork:
        """The work folder of ROOT for `settings`, created when absent. An existing one with other
        settings (or unreadable) is an InputError naming the differences, unless `restart`, which
        discards its finished evaluations first."""
        work = cls(root, settings)
        meta = work.folder / PARTIAL_FILE
        if restart and work.folder.exists():
            shutil.rmtree(work.folder)
        if meta.is_file():
            try:
                old = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise InputError(f"'{meta}' cannot be read ({e}); pass --overwrite to start the run again.") from None
            if not isinstance(old, dict) or old.get("format") != PARTIAL_FORMAT:
                raise InputError(f"'{meta}' is not a sinkscope kv work file; pass --overwrite to start again.")
            if old.get("settings_hash") != settings_hash(settings):
                diff = describe_differences(old.get("settings") or {}, settings)
                raise InputError(
                    f"'{work.root}' holds a kv run with other settings ({diff or 'settings hash differs'}); re-run "
                    f"with the same arguments to continue it, choose another --out, or pass --overwrite to discard "
                    f"its {work.n_finished()} finished evaluations.")
        else:
            write_json(meta, {"format": PARTIAL_FORMAT, "settings_hash": settings_hash(settings),
                              "settings": settings})
        return work

    def path(self, key: str, name: str) -> Path:
        return self.folder / key / f"{name}.json"

    def get(self, key: str, name: str) -> dict[str, Any] | None:
        """The stored record of one evaluation, or None when it is not (validly) finished."""
        try:
            rec = json.loads(self.path(key, name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict) or not isinstance(rec.get("nll"), float):
            return None
        return rec

    def put(self, key: str, name: str, record: dict[str, Any]) -> None:
        write_json(self.path(key, name), record, indent=None)

    def n_finished(self) -> int:
        """Stored evaluations (temporary files of a killed writer not counted)."""
        return sum(1 for p in self.folder.glob("*/*.json") if not p.name.startswith(TMP_PREFIX))


__all__ = ["KVWork", "PARTIAL", "settings_hash", "text_key", "eval_name", "is_work_folder", "describe_differences"]
