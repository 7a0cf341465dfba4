"""reproduce.traces: problem selection, the seeded EOS-suppressed generation and the resumable
JSONL store (torn last line)."""

from __future__ import annotations

import hashlib
import json
import zlib

import pytest

from sinkscope.capture.inputs import InputFields
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.reproduce.traces import (
    INSTRUCTION,
    TraceRecord,
    TraceStore,
    generate_traces,
    math_problems,
    read_store,
    read_traces,
    trace_seed,
    traces_hash,
)
from tests.capture.archs import ToyTokenizer, build

# the fields of the traces scripts/long_traces.py wrote (TRACES/<model>.jsonl)
STORED = {"id": "math-001", "model": "m", "chat": True, "n_prompt_tokens": 3, "n_generated": 2, "seed": 1752457581,
          "sampling": {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1},
          "eos_suppressed_until": 2, "generate_s": 1.5, "torch_threads": 1, "token_ids": [1, 5, 6, 7, 8]}


def _rec(i: str, n: int = 2) -> TraceRecord:
    return TraceRecord.from_dict({**STORED, "id": i, "n_generated": n, "token_ids": [1, 5, 6] + list(range(n))})


def test_math_problems_are_the_statements_only():
    rows = [{"id": "c1", "category": "code", "text": "x"},
            {"id": "m1", "category": "math", "text": "Find x.\nSolution: x = 2."},
            {"id": "m2", "category": "math", "text": "Add 1 and 2."}]
    assert math_problems(rows=rows) == [("m1", "Find x." + INSTRUCTION), ("m2", "Add 1 and 2." + INSTRUCTION)]
    assert math_problems(1, rows=rows) == [("m1", "Find x." + INSTRUCTION)]
    bundled = math_problems()
    assert len(bundled) >= 15 and all(i.startswith("math") and "Solution:" not in t for i, t in bundled)


def test_seed_is_crc32_of_the_id():
    assert trace_seed("math-001") == zlib.crc32(b"math-001") != trace_seed("math-002")


def test_the_stored_format_is_read_unchanged():
    rec = TraceRecord.from_dict(dict(STORED))
    assert rec.to_dict() == STORED and rec.generated_ids == [7, 8]
    with pytest.raises(InputError, match="token ids"):
        TraceRecord.from_dict({**STORED, "n_generated": 3})
    with pytest.raises(InputError, match="fields"):
        TraceRecord.from_dict({k: v for k, v in STORED.items() if k != "seed"})


def test_store_drops_a_torn_last_line_and_resumes(tmp_path):
    store = TraceStore.for_model(tmp_path, "m")
    store.append(_rec("a"))
    store.append(_rec("b"))
    h = traces_hash(store.path)
    with store.path.open("a") as fh:  # killed mid-write
        fh.write(json.dumps(_rec("c").to_dict())[:40])
    torn = store.path.read_text()
    # readers skip the torn line without touching the file (it may be being appended to)
    assert [r.id for r in read_traces(store.path)] == ["a", "b"]
    assert store.path.read_text() == torn and traces_hash(store.path) == h
    # recover drops it; the next append makes a well-formed file
    assert [r.id for r in store.recover()] == ["a", "b"]
    assert store.path.read_text().count("\n") == 2 and not store.path.read_text().endswith('"}')
    store.append(_rec("c"))
    assert [r.id for r in read_traces(store.path)] == ["a", "b", "c"] and traces_hash(store.path) != h
    assert read_traces(tmp_path / "missing.jsonl") == []


def test_generate_traces_suppresses_eos_records_seeds_and_resumes(tmp_path):
    lm = LoadedModel.from_pair(build("llama"), ToyTokenizer(), ref="random-llama")
    problems = [("math-a", "Find x if x + 1 = 3."), ("math-b", "Add 2 and 5.")]
    store = TraceStore.for_model(tmp_path, "random-llama")
    logs: list[str] = []
    recs = generate_traces(lm, store, problems[:1], 24, model="random-llama", log=logs.append)
    assert len(logs) == 1 and [r.id for r in recs] == ["math-a"]
    recs = generate_traces(lm, store, problems, 24, model="random-llama", log=logs.append)
    assert len(logs) == 2 and [r.id for r in recs] == ["math-a", "math-b"]  # only math-b was generated
    for r, (_, text) in zip(recs, problems):
        assert r.n_generated == 24 == r.eos_suppressed_until and r.n_prompt_tokens == len(text)
        assert r.seed == trace_seed(r.id) and r.chat is False and r.sampling["temperature"] == 0.7
    assert read_traces(store.path) == recs
    # the same id and seed give the same trace
    again = generate_traces(lm, TraceStore.for_model(tmp_path / "2", "random-llama"), problems[:1], 24,
                            model="random-llama", log=logs.append)
    assert again[0].token_ids == recs[0].token_ids
    with pytest.raises(InputError, match="--generate must be >= 1"):
        generate_traces(lm, store, problems, 0, model="random-llama")


def test_a_longer_trace_extends_the_shorter_one_and_a_store_keeps_one_length(tmp_path):
    """Same id, same seed, EOS suppressed in both: the 40-token trace begins with the 24-token one
    (what docs/length-probe compares); a store of 24-token traces refuses 40-token ones by name."""
    lm = LoadedModel.from_pair(build("llama"), ToyTokenizer(), ref="random-llama")
    problems = [("math-a", "Find x if x + 1 = 3."), ("math-b", "Add 2 and 5.")]
    short = generate_traces(lm, TraceStore.for_model(tmp_path / "s", "m"), problems[:1], 24, model="m")[0]
    long = generate_traces(lm, TraceStore.for_model(tmp_path / "l", "m"), problems[:1], 40, model="m")[0]
    assert long.n_generated == 40 and long.token_ids[: len(short.token_ids)] == short.token_ids
    store = TraceStore.for_model(tmp_path / "s", "m")
    with pytest.raises(InputError, match=r"m\.jsonl holds traces of 24 generated tokens, not 40.*own --traces folder"):
        generate_traces(lm, store, problems, 40, model="m")
    assert [r.id for r in read_traces(store.path)] == ["math-a"]  # nothing was appended


def test_read_store_reads_traces_made_elsewhere(tmp_path):
    """A trace file in another input form: vLLM output and token ids with n_prompt_tokens are read
    as they are (not sampled here: seed -1); a line without a response is refused; the field
    options are part of the cache key."""
    f = tmp_path / "m.jsonl"
    f.write_text(json.dumps({"prompt_token_ids": [1, 2, 3], "outputs": [{"text": "", "token_ids": [4, 5]}]}) + "\n"
                 + json.dumps({"id": "b", "input_ids": [1, 2, 9, 9], "n_prompt_tokens": 2}) + "\n")
    recs, sha = read_store(f, model="m")
    assert [(r.id, r.token_ids, r.n_prompt_tokens, r.n_generated, r.seed) for r in recs] == [
        ("m.jsonl:1", [1, 2, 3, 4, 5], 3, 2, -1), ("b", [1, 2, 9, 9], 2, 2, -1)]
    assert recs[0].model == "m" and recs[0].sampling == {"source": str(f)}
    g = tmp_path / "ids.jsonl"
    g.write_text(json.dumps({"toks": [1, 2, 3], "n_prompt_tokens": 1}) + "\n")
    assert read_store(g, InputFields(ids="toks"))[0][0].n_generated == 2
    lines_only = hashlib.sha256(g.read_bytes()).hexdigest()
    assert read_store(g, InputFields(ids="toks"))[1] != lines_only  # the fields are part of the key
    g.write_text(json.dumps({"input_ids": [1, 2, 3]}) + "\n")
    with pytest.raises(InputError, match="has no response: the long protocol needs the generated part"):
        read_store(g)


@pytest.mark.realmodel
def test_read_store_tokenises_prompt_and_response_like_the_protocol(tmp_path):
    """A prompt + response trace: the prompt through the model's chat template (as the protocol's
    own prompts, `prompt_token_ids`), the response appended verbatim."""
    from sinkscope.models.loading import local_tokenizer
    from sinkscope.workflows.reproduce.traces import tokenizer_prompt_ids

    f = tmp_path / "smollm2-135m.jsonl"
    f.write_text(json.dumps({"prompt": "Add 1 and 2.", "response": " 1 + 2 = 3."}) + "\n")
    (rec,), _ = read_store(f, model="smollm2-135m")
    tok = local_tokenizer("smollm2-135m")
    p_ids, chat = tokenizer_prompt_ids(tok, "Add 1 and 2.")
    assert chat and rec.chat and rec.n_prompt_tokens == len(p_ids)
    assert rec.token_ids == p_ids + tok(" 1 + 2 = 3.", add_special_tokens=False)["input_ids"]
