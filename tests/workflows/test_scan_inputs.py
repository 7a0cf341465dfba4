"""workflows/scan.py with every input form (`sinkscope.capture.inputs`): token ids used exactly as
given, prompt + response, and the region split of docs/method.md §3 (template / prompt / generated).

The scans run a 3-block random-init Llama with SmolLM2's tokenizer (real BPE, so that token ids can
be non-canonical), except the real-weights tests (marked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sinkscope
from sinkscope.capture.inputs import Input, template_length, tokenize
from sinkscope.core.errors import InputError

TEXT = "The quick brown fox jumps over the lazy dog. Unbelievable, it said, and ran away."
PROMPT = "What is two plus two?"
RESPONSE = " Two plus two is four, because adding two to two gives four."


@pytest.fixture(scope="module")
def tiny(tiny_folder):
    """The shared random-init Llama with SmolLM2's tokenizer (tests/conftest.py `tiny_folder`), loaded."""
    return sinkscope.load_model(str(tiny_folder))


def same_records(a, b) -> None:
    """Identical sink records and per-prompt arrays (the same tokens give the same numbers)."""
    pd.testing.assert_frame_equal(a.sinks, b.sinks)
    pd.testing.assert_frame_equal(a.layers, b.layers)
    for pa, pb in zip(a.prompts, b.prompts):
        np.testing.assert_array_equal(pa.token_ids, pb.token_ids)
        np.testing.assert_array_equal(pa.scores, pb.scores)


def test_ids_give_the_records_of_the_same_text(tiny):
    ids = tokenize(tiny, TEXT)
    a = sinkscope.scan(tiny, TEXT)
    b = sinkscope.scan(tiny, [ids])
    same_records(a, b)
    assert b.manifest["prompts"][0] == {"source": "ids 0", "form": "token_ids", "n_tokens": len(ids),
                                        "n_prompt_tokens": len(ids), "n_template_tokens": 0}


def test_ids_are_not_retokenised(tiny):
    """A non-canonical id sequence (one token per character) is scanned as given; decoding and
    encoding it again would give other, fewer tokens."""
    tok = tiny.tokenizer
    word = "Unbelievable understanding"
    ids = [tok(c, add_special_tokens=False)["input_ids"][0] for c in word]
    canonical = tok(tok.decode(ids))["input_ids"]
    assert tok.decode(ids) == word and canonical != ids and len(canonical) < len(ids)
    res = sinkscope.scan(tiny, [ids])
    assert res.prompts[0].token_ids.tolist() == ids
    assert res.prompts[0].tokens == list(word)
    # and the same ids in a JSONL "input_ids" field, through the reader
    assert sinkscope.scan(tiny, [Input(source="x", token_ids=ids)]).prompts[0].token_ids.tolist() == ids


def test_ids_outside_the_vocabulary_fail(tiny):
    n = tiny.model.get_input_embeddings().weight.shape[0]
    with pytest.raises(InputError, match=rf"ids 0 has token id\(s\) outside the vocabulary .*\(0\.\.{n - 1}\): {n}"):
        sinkscope.scan(tiny, [[1, 2, n]])
    with pytest.raises(InputError, match="list of lists"):
        sinkscope.scan(tiny, [1, 2, 3])


def test_prompt_and_response_are_the_prompt_ids_then_the_response_verbatim(tiny):
    tok = tiny.tokenizer
    p_ids = tokenize(tiny, PROMPT)
    r_ids = tok(RESPONSE, add_special_tokens=False)["input_ids"]
    res = sinkscope.scan(tiny, [Input(source="pr", prompt=PROMPT, response=RESPONSE)])
    assert res.prompts[0].token_ids.tolist() == p_ids + r_ids
    assert res.manifest["prompts"][0]["n_prompt_tokens"] == len(p_ids)
    # identical records to the same ids with the prompt length given (vLLM's form)
    vllm = Input(source="v", token_ids=tuple(p_ids + r_ids), n_prompt_tokens=len(p_ids), form="vllm")
    same_records(res, sinkscope.scan(tiny, [vllm]))
    # regions: every record at or after the prompt is in the generated region
    s = res.sinks
    assert (s.loc[s["position"] >= len(p_ids), "region"] == "generated").all()
    assert (s.loc[s["position"] < len(p_ids), "region"] != "generated").all()
    assert res.findings.has_response and res.summary().n_secondary_by_region is not None


def test_chat_renders_the_prompt_through_the_template(tiny):
    tok = tiny.tokenizer
    res = sinkscope.scan(tiny, [Input(source="pr", prompt=PROMPT, response=RESPONSE)],
                         chat=True)
    rendered = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False)
    p_ids = tok(rendered, add_special_tokens=False)["input_ids"]
    assert res.prompts[0].token_ids.tolist() == p_ids + tok(RESPONSE, add_special_tokens=False)["input_ids"]
    row = res.manifest["prompts"][0]
    # the template region: what the chat template puts before the prompt's text (system prompt, user header)
    assert row["n_template_tokens"] == template_length(tiny, p_ids, PROMPT, chat=True)
    assert 0 < row["n_template_tokens"] < row["n_prompt_tokens"] == len(p_ids)
    assert tok.decode(p_ids[: row["n_template_tokens"]]).endswith("user\n")
    assert res.prompts[0].n_template_tokens == row["n_template_tokens"]
    s = res.sinks
    assert (s.loc[s["position"] < row["n_template_tokens"], "region"] == "template").all()


def test_generate_gives_regions_and_refuses_a_given_response(tiny, tmp_path):
    res = sinkscope.scan(tiny, TEXT, generate=12)
    n_prompt = len(tokenize(tiny, TEXT))
    assert res.prompts[0].n_tokens == n_prompt + 12 and res.prompts[0].n_prompt_tokens == n_prompt
    assert res.findings.has_response
    s = res.sinks
    assert set(s["region"]) <= {"template", "prompt", "generated"}
    assert (s.loc[s["position"] >= n_prompt, "region"] == "generated").all()
    # the bounds survive save / load (the analysis is recomputed from the stored arrays)
    back = type(res).load(res.save(tmp_path / "r"))
    pd.testing.assert_frame_equal(back.sinks, res.sinks)
    with pytest.raises(InputError, match="already has a response"):
        sinkscope.scan(tiny, [Input(source="pr", prompt=PROMPT, response=RESPONSE)],
                       generate=4)


def test_a_result_without_bounds_in_its_arrays_takes_them_from_the_manifest(tiny, tmp_path):
    """Folders written before the bounds were stored: n_prompt_tokens comes from manifest "prompts"."""
    res = sinkscope.scan(tiny, TEXT, generate=6)
    d = res.save(tmp_path / "old")
    f = d / "prompts" / "0000.npz"
    with np.load(f) as z:
        arrays = {k: z[k] for k in z.files if k not in ("n_prompt_tokens", "n_template_tokens")}
    np.savez_compressed(f, **arrays)
    back = type(res).load(d)
    assert back.prompts[0].n_prompt_tokens == res.prompts[0].n_prompt_tokens
    pd.testing.assert_frame_equal(back.sinks, res.sinks)


@pytest.mark.realmodel
@pytest.mark.slow
def test_real_weights_ids_and_text_give_identical_records(smollm2, long_text):
    """SmolLM2-135M: the same tokens as a text and as ids (and as a prompt + response split at
    any point, as ids with n_prompt_tokens) give identical records."""
    ids = tokenize(smollm2, long_text)
    a = sinkscope.scan(smollm2, long_text)
    b = sinkscope.scan(smollm2, [ids])
    same_records(a, b)
    assert (a.sinks["kind"] == "secondary").sum() > 0
    split = Input(source="v", token_ids=tuple(ids), n_prompt_tokens=len(ids) // 2, form="vllm")
    c = sinkscope.scan(smollm2, [split])
    cols = [x for x in a.sinks.columns if x != "region"]
    pd.testing.assert_frame_equal(a.sinks[cols], c.sinks[cols])
    assert (c.sinks.loc[c.sinks["position"] >= len(ids) // 2, "region"] == "generated").all()
