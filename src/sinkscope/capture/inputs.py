"""Inputs: reading prompt files and datasets, tokenising (optionally with the chat template),
generating continuations, and checking lengths. Everything here fails with an `InputError` that
names the bad input (file and line, prompt index) and says what to do.

An input (`Input`) comes in one of three forms, whichever way it was given (a TEXT argument, a
JSONL line, a dataset row, the Python API):

    text              a plain text: tokenised (with --chat: as the user turn of the tokenizer's chat
                      template, with the generation prompt); --generate may extend it
    prompt + response the prompt is tokenised like a text; the response is tokenised without special
                      tokens and appended verbatim: it is the *generated* region (docs/method.md §3)
    token ids         used exactly as given, never decoded and re-encoded; `n_prompt_tokens`, when
                      known, marks where the response starts (vLLM's prompt_token_ids + outputs[0].
                      token_ids, a long trace's n_prompt_tokens)

A JSONL line or dataset row is read by `parse_row` with the field names of `InputFields`
(--text-field, --ids-field, --prompt-field, --response-field); unnamed fields are recognised in the
order vLLM output, token ids, prompt + response, text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel

OnError = Literal["fail", "skip"]
Form = Literal["text", "prompt_response", "token_ids", "vllm"]

IDS_FIELDS = ("input_ids", "token_ids")  # the default --ids-field, then the long traces' field
RESPONSE_FIELDS = ("response", "output", "completion")  # the default --response-field: the first present
DATASET_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass
class Prompt:
    """One prompt, tokenised. `n_prompt_tokens` counts the tokens before any response (generated
    or given); `n_template_tokens` the leading tokens the tokenizer / chat template put before the
    prompt's text (the regions of docs/method.md §3)."""

    text: str
    token_ids: list[int]
    tokens: list[str]
    n_prompt_tokens: int
    source: str  # "arg 0", "file.jsonl:12", "bundled:example.txt"
    n_template_tokens: int = 0
    form: Form = "text"
    chat: bool = False  # rendered through the chat template (`PromptTrace.chat`)


@dataclass(frozen=True)
class Input:
    """One input before tokenising, in one of the forms of the module docstring: `text`; `prompt`
    and `response`; or `token_ids` (with `n_prompt_tokens` when the response start is known)."""

    source: str
    text: str | None = None
    prompt: str | None = None
    response: str | None = None
    token_ids: tuple[int, ...] | None = None
    n_prompt_tokens: int | None = None
    form: Form | None = None  # None: from the fields given ("vllm" is given by the reader)
    name: str | None = None  # the row's "id", when it has one
    writer: str | None = None  # token ids: the row's "model" (the model that wrote them), when it has one

    def __post_init__(self) -> None:
        given = [k for k in ("text", "prompt", "token_ids") if getattr(self, k) is not None]
        if len(given) != 1:
            raise InputError(f"input {self.source!r}: give exactly one of text, prompt (+ response) or token_ids "
                             f"(got {', '.join(given) or 'none'}).")
        if self.response is not None and self.prompt is None:
            raise InputError(f"input {self.source!r}: a response needs its prompt.")
        if self.n_prompt_tokens is not None and self.token_ids is None:
            raise InputError(f"input {self.source!r}: n_prompt_tokens belongs to token ids.")
        if self.token_ids is not None:
            object.__setattr__(self, "token_ids", tuple(int(t) for t in self.token_ids))
        if self.form is None:
            form = "token_ids" if self.token_ids is not None else "prompt_response" if self.response is not None else "text"
            object.__setattr__(self, "form", form)

    def to_dict(self) -> dict[str, Any]:
        """The content (not the source, name or writer): what identifies the input (e.g. a sweep's prompt key)."""
        d = {k: v for k, v in asdict(self).items() if v is not None and k not in ("source", "name", "writer")}
        if self.token_ids is not None:
            d["token_ids"] = list(self.token_ids)
        return d

    @property
    def has_response(self) -> bool:
        if self.token_ids is not None:
            return self.n_prompt_tokens is not None and self.n_prompt_tokens < len(self.token_ids)
        return self.response is not None


def as_input(x: Any, i: int) -> Input:
    """An `Input` from what the API takes: an `Input`, a text, a (text, source) pair, or a list of
    token ids (ints)."""
    if isinstance(x, Input):
        return x
    if isinstance(x, str):
        return Input(source=f"text {i}", text=x)
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], str):
        return Input(source=x[1], text=x[0])
    if isinstance(x, (list, tuple)) and all(_is_int(t) for t in x):
        return Input(source=f"ids {i}", token_ids=tuple(x))
    raise InputError(
        f"input {i} is a {type(x).__name__}: give a text, a (text, source) pair, a list of token ids or "
        "a sinkscope.capture.inputs.Input."
    )


def as_inputs(texts: Any) -> list[Input]:
    """`as_input` over a text, a list of token ids, or a list of any of the accepted items."""
    if isinstance(texts, (str, Input)):
        return [as_input(texts, 0)]
    if isinstance(texts, (list, tuple)) and texts and all(_is_int(t) for t in texts):
        raise InputError("a flat list of ints is ambiguous: give token ids as a list of lists ([[ids...]]).")
    return [as_input(x, i) for i, x in enumerate(texts)]


def _is_int(x: Any) -> bool:
    import numbers

    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


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
class InputFields:
    """The field names of a JSONL line or dataset row (None: recognised as the module docstring says)."""

    text: str | None = None  # --text-field
    ids: str | None = None  # --ids-field
    prompt: str | None = None  # --prompt-field
    response: str | None = None  # --response-field

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def named(self) -> bool:
        return any(v is not None for v in asdict(self).values())


@dataclass(frozen=True)
class PromptFile:
    """What `read_prompts` / `read_dataset` read: the inputs, the lines it skipped, and where from
    (`source`: {"file" or "dataset", "split", "fields" used, "forms" counted})."""

    inputs: list[Input]
    skipped: list[Skipped]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(text, source) of the inputs (text form only; other forms raise)."""
        out = []
        for x in self.inputs:
            if x.text is None:
                raise InputError(f"{x.source} is not a plain text ({x.form}); read it with `read_prompts(...).inputs`.")
            out.append((x.text, x.source))
        return out


def _fields_of(obj: Any) -> str:
    return ", ".join(f'"{k}"' for k in obj) if isinstance(obj, Mapping) and obj else "none"


def _ids(value: Any, name: str) -> tuple[int, ...] | str:
    """The token ids of a field, or the problem with them."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value or not all(_is_int(t) and t >= 0 for t in value):
        return f'has a "{name}" that is not a non-empty list of non-negative integers'
    return tuple(int(t) for t in value)


def _text_problem(obj: Mapping[str, Any], name: str, have: str, empty_ok: bool = False) -> str | None:
    """Why field `name` of a row is not a usable text (missing, not a string, empty), or None."""
    if name not in obj:
        return f'has no "{name}" field (its fields: {have})'
    v = obj[name]
    if not isinstance(v, str):
        return f'has a "{name}" that is not a string ({"empty" if v is None else type(v).__name__})'
    if not empty_ok and not v.strip():
        return f'has an empty "{name}"'
    return None


def _string(obj: Mapping[str, Any], name: str) -> str | None:
    v = obj.get(name)
    return v if isinstance(v, str) else None


def parse_row(obj: Any, fields: InputFields = InputFields()) -> tuple[Input | None, str | None, dict[str, str]]:
    """(input, problem, fields used) of one JSONL line / dataset row; the input's source is filled
    by the caller. `problem` is the reason the row is not an input ("has no \\"body\\" field (its
    fields: ...)")."""
    if not isinstance(obj, Mapping):
        return None, 'has no string "text" field (it is not a JSON object)', {}
    have = _fields_of(obj)
    f = fields
    # --- explicitly named fields
    if f.ids is not None:
        if f.ids not in obj:
            return None, f'has no "{f.ids}" field (its fields: {have})', {}
        ids = _ids(obj[f.ids], f.ids)
        if isinstance(ids, str):
            return None, ids, {}
        inp, problem = _ids_input(obj, ids)
        return inp, problem, {"ids": f.ids}
    if f.prompt is not None or f.response is not None:
        pname = f.prompt or "prompt"
        problem = _text_problem(obj, pname, have)
        if problem:
            return None, problem, {}
        rname = f.response or next((r for r in RESPONSE_FIELDS if r in obj), None)
        if f.response is not None:
            problem = _text_problem(obj, f.response, have, empty_ok=True)
            if problem:
                return None, problem, {}
        if rname is None or _string(obj, rname) is None:
            return Input(source="", text=obj[pname]), None, {"prompt": pname}
        return (Input(source="", prompt=obj[pname], response=obj[rname]), None, {"prompt": pname, "response": rname})
    if f.text is not None:
        problem = _text_problem(obj, f.text, have)
        if problem:
            return None, problem, {}
        return Input(source="", text=obj[f.text]), None, {"text": f.text}
    # --- recognised: vLLM output, token ids, prompt + response, text
    outs = obj.get("outputs")
    if "prompt_token_ids" in obj and isinstance(outs, list) and outs and isinstance(outs[0], Mapping) \
            and "token_ids" in outs[0]:
        p_ids, r_ids = _ids(obj["prompt_token_ids"], "prompt_token_ids"), _ids(outs[0]["token_ids"], "outputs[0].token_ids")
        for x in (p_ids, r_ids):
            if isinstance(x, str):
                return None, x, {}
        assert not isinstance(p_ids, str) and not isinstance(r_ids, str)
        return (Input(source="", token_ids=p_ids + r_ids, n_prompt_tokens=len(p_ids), form="vllm"), None,
                {"ids": "prompt_token_ids", "response": "outputs[0].token_ids"})
    for name in IDS_FIELDS:
        if name in obj:
            ids = _ids(obj[name], name)
            if isinstance(ids, str):
                return None, ids, {}
            inp, problem = _ids_input(obj, ids)
            return inp, problem, {"ids": name}
    rname = next((r for r in RESPONSE_FIELDS if isinstance(obj.get(r), str)), None)
    if isinstance(obj.get("prompt"), str) and rname is not None:
        if not obj["prompt"].strip():
            return None, 'has an empty "prompt"', {}
        return (Input(source="", prompt=obj["prompt"], response=obj[rname]), None,
                {"prompt": "prompt", "response": rname})
    if not isinstance(obj.get("text"), str):
        return None, f'has no string "text" field (its fields: {have})', {}
    if not obj["text"].strip():
        return None, 'has an empty "text"', {}
    return Input(source="", text=obj["text"]), None, {"text": "text"}


def _ids_input(obj: Mapping[str, Any], ids: tuple[int, ...]) -> tuple[Input | None, str | None]:
    """Token ids with the row's "n_prompt_tokens" (where the response starts) when it has one."""
    n = obj.get("n_prompt_tokens")
    if n is not None and not (_is_int(n) and 0 <= n <= len(ids)):
        return None, f'has "n_prompt_tokens" {n!r}, not an integer in [0, {len(ids)}]'
    return Input(source="", token_ids=ids, n_prompt_tokens=None if n is None else int(n),
                 writer=obj["model"] if isinstance(obj.get("model"), str) else None), None


def _collect(rows: Any, label: Callable[[int], str], where: Callable[[int], str], fields: InputFields,
             on_error: OnError, limit: int | None) -> tuple[list[Input], list[Skipped], dict[str, str]]:
    """Inputs of (index, row, problem) triples: a bad row fails (naming `where(index)`) or, with
    on_error="skip", is listed as `label(index)`."""
    out: list[Input] = []
    skipped: list[Skipped] = []
    used: dict[str, str] = {}
    for idx, obj, problem in rows:
        inp, f_used = None, {}
        if problem is None:
            inp, problem, f_used = parse_row(obj, fields)
        if inp is not None and isinstance(obj, Mapping) and obj.get("id") is not None:
            inp = replace(inp, name=str(obj["id"]))
        if problem:
            if on_error == "skip":
                skipped.append(Skipped(label(idx), problem))
                continue
            hint = " (name the fields with --text-field, --ids-field, --prompt-field / --response-field)" \
                if "field" in problem and not fields.named else ""
            raise InputError(f"{where(idx)} {problem}{hint}; each line must be a JSON object with a non-empty "
                             '"text" field or another input form (see --help) (use --on-error skip to skip bad lines).')
        assert inp is not None
        used.update(f_used)
        out.append(replace(inp, source=label(idx)))
        if limit is not None and len(out) >= limit:
            break
    return out, skipped, used


def form_counts(inputs: Sequence[Input]) -> dict[str, int]:
    """How many inputs of each form, in order of first appearance (the manifest's "forms")."""
    out: dict[str, int] = {}
    for x in inputs:
        out[x.form] = out.get(x.form, 0) + 1  # type: ignore[index]
    return out


def read_prompts(path: str | Path, on_error: OnError = "fail", fields: InputFields = InputFields(),
                 limit: int | None = None) -> PromptFile:
    """Read `.txt` (the whole file is one text) or `.jsonl` (one input per line, `parse_row`); the
    first `limit` inputs.

    Blank JSONL lines are ignored; a line that is not JSON, not an object, or not an input fails,
    or with on_error="skip" is left out and listed in `skipped` (source "p.jsonl:LINE" and the
    reason). A file that yields no prompt fails either way (saying how many lines were skipped).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"prompt file '{p}' does not exist; pass an existing .txt or .jsonl file.")
    if p.is_dir():
        raise InputError(f"'{p}' is a folder; pass a .txt or .jsonl file.")
    if p.suffix.lower() in (".json", ".csv", ".parquet"):
        raise InputError(f"'{p}' is a {p.suffix} file: read it with --dataset {p} (--file takes .txt or .jsonl).")
    if p.suffix.lower() == ".jsonl":
        def rows():
            with p.open(encoding="utf-8") as f:
                for lineno, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield lineno, json.loads(line), None
                    except json.JSONDecodeError as e:
                        yield lineno, None, f"is not valid JSON ({e.msg})"

        out, skipped, used = _collect(rows(), lambda n: f"{p.name}:{n}", lambda n: f"{p}:{n}", fields, on_error, limit)
        if not out:
            why = f" (all {len(skipped)} non-blank line(s) were skipped as bad)" if skipped else ""
            raise InputError(f"prompt file '{p}' holds no prompts{why}; add JSON lines with a \"text\" field.")
        return PromptFile(out, skipped, {"file": str(p), "fields": used, "forms": form_counts(out)})
    if fields.named:
        raise InputError(f"'{p}' is a plain text file (one text): the field options apply to .jsonl files and --dataset.")
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise InputError(f"prompt file '{p}' is empty; put the text to scan in it.")
    return PromptFile([Input(source=p.name, text=text)], [], {"file": str(p), "fields": {}, "forms": {"text": 1}})


def read_prompt_file(path: str | Path, on_error: OnError = "fail") -> list[tuple[str, str]]:
    """The (text, source) pairs of `read_prompts` (skipped lines are dropped silently: callers
    that report skips use `read_prompts`)."""
    return read_prompts(path, on_error).pairs


def read_dataset(name: str, split: str | None = None, limit: int | None = None, fields: InputFields = InputFields(),
                 on_error: OnError = "fail") -> PromptFile:
    """Inputs from a dataset through Hugging Face `datasets`: a local .jsonl / .json / .csv /
    .parquet file (read locally, never from the hub), or a hub dataset name where the hub is
    reachable; split `split` (default "train"), the first `limit` rows that are inputs. Rows are
    read by `parse_row`; sources are "NAME row N" (1-based)."""
    p = Path(name)
    try:
        import datasets
    except ImportError:
        raise InputError("--dataset needs the `datasets` package: pip install datasets.") from None
    split_name = split or "train"
    local = p.exists()
    if local:
        builder = DATASET_SUFFIXES.get(p.suffix.lower())
        if p.is_dir() or builder is None:
            raise InputError(f"--dataset '{p}': give a .jsonl, .json, .csv or .parquet file (or a hub dataset name).")
    datasets.disable_progress_bars()
    try:
        if local:
            ds = datasets.load_dataset(builder, data_files={split_name: str(p)}, split=split_name)
        else:
            ds = datasets.load_dataset(name, split=split_name)
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all are a bad --dataset for the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"--dataset '{name}' (split '{split_name}') could not be read: {first}") from None
    label_name = p.name if local else name

    def rows():
        for i, row in enumerate(ds, start=1):
            yield i, row, None

    out, skipped, used = _collect(rows(), lambda n: f"{label_name} row {n}", lambda n: f"{name} row {n}", fields,
                                  on_error, limit)
    if not out:
        why = f" (all {len(skipped)} row(s) were skipped as bad)" if skipped else ""
        raise InputError(f"--dataset '{name}' (split '{split_name}') holds no prompts{why}.")
    return PromptFile(out, skipped, {"dataset": name, "split": split_name, "fields": used, "forms": form_counts(out)})


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


def template_length(lm: LoadedModel, ids: Sequence[int], text: str, chat: bool = False) -> int:
    """How many leading tokens of `ids` (= `tokenize(lm, text, chat)`) the tokenizer / chat template
    put before the text: the common prefix with the tokenisation of another text whose first
    character differs (BOS, a chat template's system prompt and user header; 0 for a tokenizer that
    adds nothing)."""
    other = "0" if not text.startswith("0") else "1"
    n = common_prefix([ids, tokenize(lm, other, chat=chat)])
    return min(n, len(ids) - 1) if ids else 0


def common_prefix(ids: Sequence[Sequence[int]]) -> int:
    """Length of the token-id prefix all of `ids` share (0 for fewer than two)."""
    if len(ids) < 2:
        return 0
    first = ids[0]
    n = min(len(x) for x in ids)
    for t in range(n):
        if any(int(x[t]) != int(first[t]) for x in ids[1:]):
            return t
    return n


def vocab_size(lm: LoadedModel) -> int:
    """Rows of the model's input embedding: the token ids the model can read are 0 .. size - 1."""
    return int(lm.model.get_input_embeddings().weight.shape[0])


def check_ids(lm: LoadedModel, ids: Sequence[int], source: str) -> None:
    """`InputError` naming `source` when a token id is outside the model's vocabulary (`vocab_size`)."""
    n_vocab = vocab_size(lm)
    bad = [int(t) for t in ids if not 0 <= int(t) < n_vocab]
    if bad:
        raise InputError(
            f"{source} has token id(s) outside the vocabulary of '{lm.info.ref}' (0..{n_vocab - 1}): "
            f"{', '.join(map(str, bad[:5]))}{', ...' if len(bad) > 5 else ''}; were they written by another model?"
        )


def generate(lm: LoadedModel, ids: list[int], n_new: int) -> list[int]:
    """Greedy continuation of `n_new` tokens with the model's own attention (appended to `ids`)."""
    if n_new <= 0:
        return ids
    check_generate(lm, n_new)
    model = lm.model
    import torch  # lazily: reading prompt files (and the CLI's option checks) must not load torch

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


def check_generate(lm: LoadedModel, generate_tokens: int) -> None:
    """`InputError` when `generate_tokens` > 0 and the model cannot generate (an encoder)."""
    if generate_tokens > 0 and (not lm.info.is_causal or not callable(getattr(lm.model, "generate", None))):
        raise InputError(
            f"--generate needs a model that generates text; '{lm.info.ref}' is an encoder "
            f"({lm.info.architecture}, bidirectional attention): drop --generate and scan the text as it is."
        )


def input_ids(lm: LoadedModel, inp: Input, chat: bool = False) -> tuple[list[int], int | None, int]:
    """(token ids, n_prompt_tokens or None without a response, n_template_tokens) of one input
    (module docstring); token ids are checked against the vocabulary, never re-tokenised."""
    if inp.token_ids is not None:
        if chat:
            raise InputError(f"{inp.source} gives token ids, which are used as they are: --chat applies to texts; "
                             "drop --chat.")
        check_ids(lm, inp.token_ids, inp.source)
        return list(inp.token_ids), inp.n_prompt_tokens, 0
    text = inp.prompt if inp.prompt is not None else inp.text
    if text is None or not text.strip():
        raise InputError(f"{inp.source} is empty; give a non-empty text.")
    ids = tokenize(lm, text, chat=chat)
    n_template = template_length(lm, ids, text, chat=chat)
    if inp.response is None:
        return ids, None, n_template
    resp = list(lm.tokenizer(inp.response, add_special_tokens=False)["input_ids"])
    return ids + resp, len(ids), n_template


def prepare(
    lm: LoadedModel,
    texts: Sequence[Input | tuple[str, str]],
    chat: bool = False,
    generate_tokens: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[Prompt]:
    """Tokenise (and optionally extend by generation) every input (an `Input` or a (text, source)
    pair); check lengths and token ids. The response of a prompt + response or of token ids with a
    known prompt length is the generated region; --generate extends inputs without one."""
    if not texts:
        raise InputError("no text to scan: give TEXT arguments or --file.")
    check_generate(lm, generate_tokens)
    limit = lm.info.max_context
    dec = lm.tokenizer.decode
    out: list[Prompt] = []
    for i, item in enumerate(texts):
        inp = item if isinstance(item, Input) else Input(source=item[1], text=item[0])
        source = inp.source
        if inp.text is not None and not inp.text.strip():
            raise InputError(f"prompt {i} ({source}) is empty; give a non-empty text.")
        if generate_tokens and inp.has_response:
            raise InputError(f"prompt {i} ({source}) already has a response ({inp.form}): --generate extends prompts "
                             "without one; drop --generate.")
        ids, n_prompt, n_template = input_ids(lm, inp, chat=chat)
        n_tokens = len(ids)
        if limit is not None and n_tokens + generate_tokens > limit:
            raise InputError(
                f"prompt {i} ({source}) is {n_tokens} tokens long"
                + (f" (+{generate_tokens} to generate)" if generate_tokens else "")
                + f", over the {limit}-token context of '{lm.info.ref}'; shorten it or split it."
            )
        if n_tokens < 2:
            raise InputError(f"prompt {i} ({source}) has {n_tokens} token(s); sinks need at least 2.")
        if generate_tokens:
            n_prompt = n_tokens
            ids = generate(lm, ids, generate_tokens)
        plain = inp.text is not None and not generate_tokens
        out.append(
            Prompt(
                text=inp.text if plain else dec(ids),  # type: ignore[arg-type]
                token_ids=ids,
                tokens=[dec([t]) for t in ids],
                n_prompt_tokens=len(ids) if n_prompt is None else n_prompt,
                source=source,
                n_template_tokens=n_template,
                form=inp.form,
                chat=chat,
            )
        )
        if progress is not None:
            progress(1)
    return out
