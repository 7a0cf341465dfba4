"""The texts of a KV run: `KVText` and the reader of `sinkscope kv --file / --dataset`.

Lines and rows are read by `sinkscope.capture.inputs` (every input form: text, token ids, prompt
+ response, vLLM output; the field options). Token ids become a `KVText` as they are (e.g. the
long traces of docs/reproduction/long/traces/<model>.jsonl: their `n_prompt_tokens` gives the
prompt length and `model` the model they were generated with); a plain text stays a string and a
prompt + response an `Input`, both tokenised by the model (`as_texts`). `id` names a text
(default: "FILE:LINE").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sinkscope.capture.inputs import Input, InputFields, PromptFile, read_prompts
from sinkscope.core.errors import InputError


@dataclass
class KVText:
    """One input: token ids and, when known, its prompt length (e.g. a long trace's n_prompt_tokens)
    and the model that wrote it."""

    id: str
    token_ids: list[int]
    n_prompt: int | None = None
    model: str | None = None


def read_texts(path: str | Path, limit: int | None = None, fields: InputFields = InputFields()) -> list[KVText | Input | str]:
    """The texts of a .jsonl / .txt file, in file order; the first `limit`. A bad line raises
    InputError naming FILE:LINE (and the fields that line has)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"text file '{p}' does not exist or is not a file; pass a .jsonl or .txt file.")
    return kv_texts(read_prompts(p, fields=fields, limit=limit), p)


def kv_texts(read: PromptFile, path: str | Path | None = None) -> list[KVText | Input | str]:
    """The texts of what `read_prompts` / `read_dataset` read: token ids as a `KVText` (id: the row's
    "id", else "PATH:LINE" for a file at `path`, else the row's source), plain texts as strings,
    other forms as the `Input`."""
    out: list[KVText | Input | str] = []
    for x in read.inputs:
        if x.token_ids is not None:
            where = str(Path(path).parent / x.source) if path is not None else x.source
            out.append(KVText(id=x.name or where, token_ids=list(x.token_ids), n_prompt=x.n_prompt_tokens,
                              model=x.writer))
        elif x.form == "text" and x.text is not None:
            out.append(x.text)
        else:
            out.append(x)
    return out
