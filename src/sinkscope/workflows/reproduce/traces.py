"""The long reasoning traces of the long-trace protocol (issue 15): generation and storage.

For every (model, math prompt) the model is asked, through its chat template when it has one, to
solve a bundled math problem (the problem statement only: the worked solution after "Solution:"
is cut off), and a continuation of exactly N tokens is sampled with the KV cache (HF `generate`;
end-of-sequence suppressed until N tokens, `min_new_tokens = N`, so every trace has the same
length). Sampling is seeded per trace, seed = crc32(prompt id), and recorded with its settings
(`Sampling`: temperature 0.7, top-p 0.9, repetition penalty 1.1; without the penalty these small
models fall into verbatim loops within a few hundred tokens).

Storage (`TraceStore`): one JSON line per trace in `DIR/<model>.jsonl`, with the fields of
`TraceRecord` ("id", "model", "chat", "n_prompt_tokens", "n_generated", "seed", "sampling",
"eos_suppressed_until", "generate_s", "torch_threads", "token_ids"). Each line is flushed and
fsynced when written; a torn last line (a kill mid-write) is dropped by `TraceStore.recover`
before generation resumes, so an interrupted run continues where it stopped and generation (the
expensive part) is never redone. Readers (`read_traces`) never write: they stop at a torn line.
The capture and the analysis run later over the stored ids (`long.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinkscope.capture.inputs import InputFields
from sinkscope.core.errors import InputError
from sinkscope.workflows.reproduce.plans import bundled_prompts

if TYPE_CHECKING:
    from sinkscope.models.base import LoadedModel

INSTRUCTION = "\n\nSolve the problem step by step, then state the answer."
LogFn = Callable[[str], None]


@dataclass(frozen=True)
class Sampling:
    """The sampling settings of `generate` (recorded in every trace)."""

    do_sample: bool = True
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TraceRecord:
    """One stored trace: the prompt's token ids followed by the generated ones (`token_ids`)."""

    id: str
    model: str
    chat: bool
    n_prompt_tokens: int
    n_generated: int
    seed: int
    sampling: dict[str, Any]
    eos_suppressed_until: int
    generate_s: float
    torch_threads: int
    token_ids: list[int] = field(repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceRecord:
        """A record from one stored JSON object (every field required; unknown keys are an error)."""
        try:
            rec = cls(**d)
        except TypeError as e:
            raise InputError(f"trace {d.get('id')!r} does not have the TraceRecord fields: {e}") from e
        if len(rec.token_ids) != rec.n_prompt_tokens + rec.n_generated:
            raise InputError(
                f"trace {rec.id!r}: {len(rec.token_ids)} token ids, expected "
                f"{rec.n_prompt_tokens} prompt + {rec.n_generated} generated."
            )
        return rec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def generated_ids(self) -> list[int]:
        return self.token_ids[self.n_prompt_tokens :]


def trace_seed(prompt_id: str) -> int:
    """The sampling seed of a trace: zlib.crc32 of its prompt id (UTF-8)."""
    return zlib.crc32(prompt_id.encode("utf-8"))


def math_problems(limit: int | None = None, rows: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """(id, request) of the first `limit` bundled math prompts in file order: the problem statement
    (the text before "\\nSolution:") followed by `INSTRUCTION`."""
    rows = bundled_prompts() if rows is None else rows
    out = []
    for r in rows:
        if r.get("category") != "math":
            continue
        problem = str(r["text"]).split("\nSolution:")[0].strip()
        out.append((str(r["id"]), problem + INSTRUCTION))
    return out if limit is None else out[:limit]


def prompt_token_ids(lm: LoadedModel, text: str) -> tuple[list[int], bool]:
    """(token ids, chat): the user turn of the chat template with the generation prompt when the
    tokenizer has a template (`apply_chat_template(tokenize=True)`), else the plain tokenisation."""
    return tokenizer_prompt_ids(lm.tokenizer, text)


def tokenizer_prompt_ids(tok: Any, text: str) -> tuple[list[int], bool]:
    """`prompt_token_ids` with a tokenizer (no model): what the traces' prompts are made of."""
    if getattr(tok, "chat_template", None) is None:
        return [int(x) for x in tok(text)["input_ids"]], False
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return [int(x) for x in ids], True


def generate_trace(
    lm: LoadedModel, prompt_id: str, text: str, n_tokens: int, sampling: Sampling = Sampling(), *, model: str
) -> TraceRecord:
    """Sample one trace of exactly `n_tokens` new tokens (EOS suppressed until then), seeded with
    `trace_seed(prompt_id)`."""
    import torch

    ids, chat = prompt_token_ids(lm, text)
    seed = trace_seed(prompt_id)
    torch.manual_seed(seed)
    dev = lm.model.get_input_embeddings().weight.device
    inp = torch.tensor([ids], device=dev)
    tok = lm.tokenizer
    t0 = time.perf_counter()
    with torch.no_grad():
        out = lm.model.generate(
            inp,
            attention_mask=torch.ones_like(inp),
            max_new_tokens=n_tokens,
            min_new_tokens=n_tokens,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            **sampling.to_dict(),
        )
    wall = time.perf_counter() - t0
    full = [int(x) for x in out[0].tolist()]
    return TraceRecord(
        id=prompt_id, model=model, chat=chat, n_prompt_tokens=len(ids), n_generated=len(full) - len(ids),
        seed=seed, sampling=sampling.to_dict(), eos_suppressed_until=n_tokens, generate_s=round(wall, 2),
        torch_threads=torch.get_num_threads(), token_ids=full,
    )


def _complete_lines(path: Path) -> list[str]:
    """The lines of `path` up to (excluding) the first that is not a JSON object: a torn last line."""
    if not path.exists():
        return []
    good = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            break
        if not isinstance(obj, dict):
            break
        good.append(line)
    return good


def read_store(path: str | Path, fields: InputFields | None = None, model: str | None = None) -> tuple[list[TraceRecord], str]:
    """(records, sha256) of a trace file from one read: its complete records in file order
    (read-only: a torn last line is skipped, not removed, so a file being appended to can be read)
    and the sha256 of those lines, each + '\\n' (the analysis' cache key).

    A file whose lines are not sinkscope's own records (or any file when `fields` names fields)
    holds traces made elsewhere, in the input forms of `sinkscope.capture.inputs` (`external_records`)."""
    lines = _complete_lines(Path(path))
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    own = [json.loads(x) for x in lines]
    if lines and ((fields is not None and fields.named) or not set(TRACE_FIELDS) <= set(own[0])):
        fields = fields or InputFields()
        h.update(json.dumps(fields.to_dict(), sort_keys=True).encode("utf-8"))  # other fields, other records
        return external_records(Path(path), fields, model or Path(path).stem), h.hexdigest()
    return [TraceRecord.from_dict(x) for x in own], h.hexdigest()


TRACE_FIELDS = ("id", "model", "n_prompt_tokens", "n_generated", "seed", "token_ids")


def external_records(path: Path, fields: InputFields, model: str) -> list[TraceRecord]:
    """Traces made elsewhere (vLLM's offline output, token ids with n_prompt_tokens, prompt +
    response texts; `sinkscope.capture.inputs.read_prompts` with `fields`) as `TraceRecord`s:
    token ids as they are; a prompt + response tokenised with `model`'s tokenizer the way the
    protocol's own prompts are (`tokenizer_prompt_ids`: its chat template when it has one), the
    response appended verbatim. Not sampled here: seed -1, sampling {"source": FILE},
    eos_suppressed_until 0. Every trace needs a response (the generated part)."""
    from sinkscope.capture.inputs import read_prompts
    from sinkscope.models.loading import local_tokenizer

    read = read_prompts(path, fields=fields)
    tok = None
    out = []
    for inp in read.inputs:
        if not inp.has_response:
            raise InputError(f"{path.parent / inp.source} has no response: the long protocol needs the generated part "
                             "(a prompt + response, vLLM output, or token ids with n_prompt_tokens).")
        if inp.token_ids is not None:
            ids, n_prompt, chat = list(inp.token_ids), int(inp.n_prompt_tokens or 0), False
        else:
            if tok is None:
                tok = local_tokenizer(model)
                if tok is None:
                    raise InputError(f"{path} holds texts; tokenising them needs the tokenizer of '{model}', which is "
                                     f"not on this machine: pull it (sinkscope models pull {model}).")
            ids, chat = tokenizer_prompt_ids(tok, str(inp.prompt))
            n_prompt = len(ids)
            ids = ids + [int(t) for t in tok(inp.response, add_special_tokens=False)["input_ids"]]
        out.append(TraceRecord(id=inp.name or inp.source, model=inp.writer or model, chat=chat,
                               n_prompt_tokens=n_prompt, n_generated=len(ids) - n_prompt, seed=-1,
                               sampling={"source": str(path)}, eos_suppressed_until=0, generate_s=0.0,
                               torch_threads=0, token_ids=ids))
    return out


def read_traces(path: str | Path) -> list[TraceRecord]:
    """The complete records of a trace file (`read_store`)."""
    return read_store(path)[0]


def traces_hash(path: str | Path) -> str:
    """sha256 of the complete lines of a trace file (`read_store`; a torn last line does not count)."""
    return read_store(path)[1]


@dataclass(frozen=True)
class TraceStore:
    """The resumable JSONL store of one model's traces: DIR/<model>.jsonl."""

    path: Path

    @classmethod
    def for_model(cls, folder: str | Path, model: str) -> TraceStore:
        return cls(Path(folder) / f"{Path(model).name}.jsonl")

    def recover(self) -> list[TraceRecord]:
        """Drop a torn last line (rewriting the file only when there is one); the records kept."""
        good = _complete_lines(self.path)
        if self.path.exists() and self.path.read_text(encoding="utf-8") != "".join(x + "\n" for x in good):
            self.path.write_text("".join(x + "\n" for x in good), encoding="utf-8")
        return [TraceRecord.from_dict(json.loads(x)) for x in good]

    def append(self, rec: TraceRecord) -> None:
        """Append one record as a JSON line, flushed and fsynced."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec.to_dict()) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def generate_traces(
    lm: LoadedModel,
    store: TraceStore,
    problems: Iterable[tuple[str, str]],
    n_tokens: int,
    sampling: Sampling = Sampling(),
    *,
    model: str,
    log: LogFn = print,
) -> list[TraceRecord]:
    """Generate the traces of `problems` (id, request) not yet in `store` (after `recover`),
    appending each as it is done. Returns all the store's records, in file order."""
    if n_tokens < 1:
        raise InputError(f"--generate must be >= 1 (got {n_tokens}).")
    done = store.recover()
    lengths = sorted({r.eos_suppressed_until for r in done} - {n_tokens})
    if lengths:
        raise InputError(f"{store.path} holds traces of {', '.join(map(str, lengths))} generated tokens, not {n_tokens}: "
                         f"one store holds one trace length; give traces of another length their own --traces folder.")
    have = {r.id for r in done}
    todo = [(i, t) for i, t in problems if i not in have]
    for k, (pid, text) in enumerate(todo):
        rec = generate_trace(lm, pid, text, n_tokens, sampling, model=model)
        store.append(rec)
        done.append(rec)
        log(f"{model}: {len(have) + k + 1}/{len(have) + len(todo)} {pid} {rec.n_generated} tokens in {rec.generate_s:.0f} s")
    return done
