"""The texts of a KV run: `KVText` and the JSONL reader of `sinkscope kv --file`.

A JSONL line is an object with either `token_ids` (a list of ints: used as is, e.g. the long
traces of docs/reproduction/long/traces/<model>.jsonl; their `n_prompt_tokens` gives the prompt
length and `model` the model they were generated with) or `text` (a string, tokenised by the
model). `id` names the text (default: "FILE:LINE").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sinkscope.core.errors import InputError


@dataclass
class KVText:
    """One input: token ids and, when known, its prompt length (e.g. a long trace's n_prompt_tokens)
    and the model that wrote it."""

    id: str
    token_ids: list[int]
    n_prompt: int | None = None
    model: str | None = None


def read_texts(path: str | Path, limit: int | None = None) -> list[KVText | str]:
    """The texts of a .jsonl (see the module docstring) or .txt (one text) file, in file order;
    the first `limit`. A bad line raises InputError naming FILE:LINE."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"text file '{p}' does not exist or is not a file; pass a .jsonl or .txt file.")
    if p.suffix.lower() != ".jsonl":
        return [p.read_text(encoding="utf-8")]
    out: list[KVText | str] = []
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{where} is not valid JSON ({e.msg}).") from None
            if not isinstance(obj, dict):
                raise InputError(f"{where} is not a JSON object.")
            ids = obj.get("token_ids")
            if ids is not None:
                if not isinstance(ids, list) or not ids or not all(isinstance(t, int) and t >= 0 for t in ids):
                    raise InputError(f'{where}: "token_ids" must be a non-empty list of non-negative ints.')
                n_prompt = obj.get("n_prompt_tokens")
                if n_prompt is not None and not (isinstance(n_prompt, int) and 0 <= n_prompt <= len(ids)):
                    raise InputError(f'{where}: "n_prompt_tokens" must be an int in [0, {len(ids)}] (got {n_prompt!r}).')
                out.append(KVText(id=str(obj.get("id", where)), token_ids=ids, n_prompt=n_prompt,
                                  model=obj.get("model")))
            elif isinstance(obj.get("text"), str) and obj["text"].strip():
                out.append(obj["text"])
            else:
                raise InputError(f'{where} has neither "token_ids" nor a non-empty string "text".')
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise InputError(f"'{p}' holds no text.")
    return out
