"""Text in: reading prompt files, tokenising (optionally with the chat template), generating
continuations, and checking lengths. Everything here fails with an `InputError` that names the
bad input (file and line, prompt index) and says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel

OnError = Literal["fail", "skip"]


@dataclass
class Prompt:
    """One prompt, tokenised. `n_prompt_tokens` counts the tokens before any generated continuation."""

    text: str
    token_ids: list[int]
    tokens: list[str]
    n_prompt_tokens: int
    source: str  # "arg 0", "file.jsonl:12", "bundled:example.txt"
    chat: bool = False  # rendered through the chat template (`PromptTrace.chat`)


def bundled_path(name: str) -> Path:
    """Path of a file shipped in `sinkscope/data` (e.g. "example.txt", "prompts.jsonl")."""
    return Path(str(resources.files("sinkscope") / "data" / name))


@dataclass(frozen=True)
class Skipped:
    """An input line that `--on-error skip` left out: where ("p.jsonl:4") and why."""

    source: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class PromptFile:
    """What `read_prompts` read: the (text, source) pairs and the lines it skipped."""

    pairs: list[tuple[str, str]]
    skipped: list[Skipped]


def read_prompts(path: str | Path, on_error: OnError = "fail") -> PromptFile:
    """Read `.txt` (the whole file is one prompt) or `.jsonl` (a `text` field per line).

    Blank JSONL lines are ignored; a line that is not JSON, not an object, or has no non-empty
    string `text` fails, or with on_error="skip" is left out and listed in `skipped` (source
    "p.jsonl:LINE" and the reason). A file that yields no prompt fails either way (saying how many
    lines were skipped).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"prompt file '{p}' does not exist; pass an existing .txt or .jsonl file.")
    if p.is_dir():
        raise InputError(f"'{p}' is a folder; pass a .txt or .jsonl file.")
    if p.suffix.lower() == ".jsonl":
        out: list[tuple[str, str]] = []
        skipped: list[Skipped] = []
        with p.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                problem = None
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    problem = f"is not valid JSON ({e.msg})"
                else:
                    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                        problem = 'has no string "text" field'
                    elif not obj["text"].strip():
                        problem = 'has an empty "text"'
                if problem:
                    if on_error == "skip":
                        skipped.append(Skipped(f"{p.name}:{lineno}", problem))
                        continue
                    raise InputError(
                        f"{p}:{lineno} {problem}; each line must be a JSON object with a non-empty "
                        '"text" field (use --on-error skip to skip bad lines).'
                    )
                out.append((obj["text"], f"{p.name}:{lineno}"))
        if not out:
            why = f" (all {len(skipped)} non-blank line(s) were skipped as bad)" if skipped else ""
            raise InputError(f"prompt file '{p}' holds no prompts{why}; add JSON lines with a \"text\" field.")
        return PromptFile(out, skipped)
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise InputError(f"prompt file '{p}' is empty; put the text to scan in it.")
    return PromptFile([(text, p.name)], [])


def read_prompt_file(path: str | Path, on_error: OnError = "fail") -> list[tuple[str, str]]:
    """The (text, source) pairs of `read_prompts` (skipped lines are dropped silently: callers
    that report skips use `read_prompts`)."""
    return read_prompts(path, on_error).pairs


def tokenize(lm: LoadedModel, text: str, chat: bool = False) -> list[int]:
    """Token ids of `text`; with `chat`, the text is the user turn of the tokenizer's chat template."""
    tok = lm.tokenizer
    if chat:
        if not getattr(tok, "chat_template", None):
            raise InputError(f"the tokenizer of '{lm.info.ref}' has no chat template; drop --chat.")
        rendered = tok.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
        )
        return list(tok(rendered, add_special_tokens=False)["input_ids"])
    return list(tok(text)["input_ids"])


def generate(lm: LoadedModel, ids: list[int], n_new: int) -> list[int]:
    """Greedy continuation of `n_new` tokens with the model's own attention (appended to `ids`)."""
    if n_new <= 0:
        return ids
    import torch  # lazily: reading prompt files (and the CLI's option checks) must not load torch

    model = lm.model
    dev = model.get_input_embeddings().weight.device
    inp = torch.tensor([ids], device=dev)
    with torch.no_grad():
        out = model.generate(
            inp,
            attention_mask=torch.ones_like(inp),
            max_new_tokens=n_new,
            do_sample=False,
            pad_token_id=lm.tokenizer.pad_token_id or lm.tokenizer.eos_token_id,
        )
    return [int(x) for x in out[0].tolist()]


def prepare(
    lm: LoadedModel,
    texts: list[tuple[str, str]],
    chat: bool = False,
    generate_tokens: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[Prompt]:
    """Tokenise (and optionally extend by generation) every (text, source) pair; check lengths."""
    if not texts:
        raise InputError("no text to scan: give TEXT arguments or --file.")
    limit = lm.info.max_context
    out: list[Prompt] = []
    for i, (text, source) in enumerate(texts):
        if not text or not text.strip():
            raise InputError(f"prompt {i} ({source}) is empty; give a non-empty text.")
        ids = tokenize(lm, text, chat=chat)
        n_prompt = len(ids)
        if limit is not None and n_prompt + generate_tokens > limit:
            raise InputError(
                f"prompt {i} ({source}) is {n_prompt} tokens long"
                + (f" (+{generate_tokens} to generate)" if generate_tokens else "")
                + f", over the {limit}-token context of '{lm.info.ref}'; shorten it or split it."
            )
        if n_prompt < 2:
            raise InputError(f"prompt {i} ({source}) has {n_prompt} token(s); sinks need at least 2.")
        if generate_tokens:
            ids = generate(lm, ids, generate_tokens)
        full_text = lm.tokenizer.decode(ids) if generate_tokens else text
        out.append(
            Prompt(
                text=full_text,
                token_ids=ids,
                tokens=[lm.tokenizer.decode([t]) for t in ids],
                n_prompt_tokens=n_prompt,
                source=source,
                chat=chat,
            )
        )
        if progress is not None:
            progress(1)
    return out
