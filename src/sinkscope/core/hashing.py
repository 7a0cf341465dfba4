"""sha256 of files, streamed in chunks (the one hash helper of sinkscope).

Used for weight provenance (`ModelInfo.source_hash`, the catalog cache's `sinkscope.json`),
GGUF verification and the identity of a sweep's prompt file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK_BYTES = 1 << 22  # 4 MiB per read: constant memory for multi-GB weight files


def sha256_file(path: str | Path, chunk_size: int = CHUNK_BYTES) -> str:
    """Hex sha256 of the bytes of `path`, read `chunk_size` bytes at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | Path], chunk_size: int = CHUNK_BYTES) -> tuple[str, dict[str, str]]:
    """(combined sha256, {file name: sha256}) of several files, e.g. a model's safetensors shards.

    combined = the file's own sha256 when there is exactly one file; otherwise
    sha256 of the lines `"<name> <sha256>\\n"` sorted by name (so it does not depend on the order
    of `paths`). Files are keyed by `Path.name`: two paths with the same name are an error.
    (No files: the sha256 of the empty string.)
    """
    per: dict[str, str] = {}
    for p in paths:
        p = Path(p)
        if p.name in per:
            raise ValueError(f"two files named {p.name!r}: sha256_files keys files by name")
        per[p.name] = sha256_file(p, chunk_size)
    per = dict(sorted(per.items()))
    if len(per) == 1:
        return next(iter(per.values())), per
    lines = "".join(f"{name} {digest}\n" for name, digest in per.items())
    return hashlib.sha256(lines.encode()).hexdigest(), per
