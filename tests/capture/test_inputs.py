"""capture/inputs.py: prompt files (.txt / .jsonl, bad lines with on_error fail / skip), bundled
files, tokenising with and without the chat template, greedy continuation, and `prepare`'s
checks (empty texts, too long for the context, fewer than 2 tokens); the input forms (text, token
ids, prompt + response, vLLM output), the field options and datasets."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from sinkscope.capture.inputs import (
    Input,
    InputFields,
    Prompt,
    Skipped,
    as_inputs,
    bundled_path,
    generate,
    parse_row,
    prepare,
    read_dataset,
    read_prompt_file,
    read_prompts,
    tokenize,
)
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- prompt files -------------------------------------------------------------------------------


def test_txt_file_is_one_prompt(tmp_path):
    p = tmp_path / "note.TXT"
    p.write_text("line one\n\nline two\n", encoding="utf-8")
    assert read_prompt_file(p) == [("line one\n\nline two\n", "note.TXT")]
    assert read_prompts(p).skipped == []


def test_jsonl_file_one_prompt_per_line(tmp_path):
    p = _write(tmp_path / "p.jsonl", [
        json.dumps({"text": "first", "id": 7}),
        "",
        "   ",
        json.dumps({"text": "sécond \n with newline"}, ensure_ascii=False),
    ])
    assert read_prompt_file(p) == [("first", "p.jsonl:1"), ("sécond \n with newline", "p.jsonl:4")]


BAD = {
    "not-json": ("{not json", "is not valid JSON"),
    "not-object": (json.dumps(["text"]), 'has no string "text" field'),
    "no-text": (json.dumps({"prompt": "x"}), 'has no string "text" field'),
    "text-not-string": (json.dumps({"text": 3}), 'has no string "text" field'),
    "empty-text": (json.dumps({"text": "  \n"}), 'has an empty "text"'),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_jsonl_line_fails_with_file_and_line(tmp_path, case):
    line, problem = BAD[case]
    p = _write(tmp_path / "p.jsonl", [json.dumps({"text": "good"}), line, json.dumps({"text": "also good"})])
    with pytest.raises(InputError) as e:
        read_prompt_file(p, on_error="fail")
    msg = str(e.value)
    assert msg.startswith(f"{p}:2 {problem}") and "--on-error skip" in msg


def test_bad_lines_skipped_and_listed(tmp_path):
    p = _write(tmp_path / "p.jsonl", [
        json.dumps({"text": "a"}), "{not json", json.dumps({"prompt": "b"}), json.dumps({"text": "c"}),
    ])
    got = read_prompts(p, on_error="skip")
    assert got.pairs == [("a", "p.jsonl:1"), ("c", "p.jsonl:4")]
    assert [s.source for s in got.skipped] == ["p.jsonl:2", "p.jsonl:3"]
    assert got.skipped[0].reason.startswith("is not valid JSON")
    # a line that is no input names the fields it has (a "prompt" without a response is no input)
    why = 'has no string "text" field (its fields: "prompt")'
    assert got.skipped[1] == Skipped("p.jsonl:3", why)
    assert str(got.skipped[1]) == f"p.jsonl:3: {why}"
    assert got.skipped[1].to_dict() == {"source": "p.jsonl:3", "reason": why}
    assert read_prompt_file(p, on_error="skip") == got.pairs


def test_file_with_no_prompt_fails(tmp_path):
    only_bad = _write(tmp_path / "bad.jsonl", ["{x", json.dumps({"text": ""})])
    with pytest.raises(InputError, match=r"holds no prompts \(all 2 non-blank line\(s\) were skipped as bad\)"):
        read_prompt_file(only_bad, on_error="skip")
    blank = _write(tmp_path / "blank.jsonl", ["", "  "])
    with pytest.raises(InputError, match="holds no prompts; add JSON lines"):
        read_prompt_file(blank)
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\t", encoding="utf-8")
    with pytest.raises(InputError, match="is empty; put the text to scan in it"):
        read_prompt_file(empty)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_prompt_file(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="is a folder"):
        read_prompt_file(tmp_path)


def test_bundled_files():
    example, prompts = bundled_path("example.txt"), bundled_path("prompts.jsonl")
    assert example.is_file() and example.name == "example.txt" and example.parent.name == "data"
    ((text, source),) = read_prompt_file(example)
    assert source == "example.txt" and text == example.read_text(encoding="utf-8")
    pairs = read_prompt_file(prompts)
    n_lines = sum(1 for line in prompts.read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(pairs) == n_lines >= 100
    assert pairs[0][1] == "prompts.jsonl:1" and pairs[-1][1] == f"prompts.jsonl:{n_lines}"


# ---- tokenising ---------------------------------------------------------------------------------


class ChatToy(ToyTokenizer):
    """ToyTokenizer with a chat template and a BOS token (id 1) added by default."""

    bos_token_id = 1
    chat_template = "toy"

    def __call__(self, text, add_special_tokens=True):
        ids = super().__call__(text)["input_ids"]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}

    def convert_ids_to_tokens(self, i):
        return "<s>" if i == 1 else self.decode([i])

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=True):
        assert tokenize is False
        (msg,) = messages
        return f"<u>{msg['content']}</u>" + ("<a>" if add_generation_prompt else "")


@pytest.fixture(scope="module")
def toy_lm():
    return LoadedModel.from_pair(build("llama"), ToyTokenizer(), ref="random-llama")


def test_tokenize_plain_and_chat():
    lm = LoadedModel.from_pair(build("llama"), ChatToy(), ref="toy-chat")
    tok = ChatToy()
    assert tokenize(lm, "hi") == [1] + [2 + ord(c) % 250 for c in "hi"]
    # chat: the rendered user turn with the generation prompt, special tokens NOT added again
    assert tokenize(lm, "hi", chat=True) == tok("<u>hi</u><a>", add_special_tokens=False)["input_ids"]


def test_chat_without_template_fails(toy_lm):
    with pytest.raises(InputError, match="'random-llama' has no chat template; drop --chat"):
        tokenize(toy_lm, "hello", chat=True)


@pytest.mark.realmodel
def test_chat_template_of_a_real_tokenizer(smollm2):
    tok = smollm2.tokenizer
    ids = tokenize(smollm2, "What is 2 + 2?", chat=True)
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True, tokenize=False
    )
    assert rendered.endswith("<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n")
    assert tok.decode(ids) == rendered
    assert ids == tok(rendered, add_special_tokens=False)["input_ids"]
    plain = tokenize(smollm2, "What is 2 + 2?")
    assert tok.decode(plain) == "What is 2 + 2?" and len(ids) > len(plain) + 10


# ---- generate and prepare -----------------------------------------------------------------------


def test_generate_is_greedy(toy_lm):
    model = toy_lm.model
    model.generation_config.eos_token_id = None  # a random model may emit the config's EOS id
    prompt = [5, 9, 40, 77, 3]
    ids = generate(toy_lm, prompt, 6)
    assert ids[:5] == prompt and len(ids) == 11
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    assert ids[5:] == logits[4:-1].argmax(dim=-1).tolist()  # each new token is the argmax after its prefix
    assert generate(toy_lm, prompt, 0) is prompt


def test_prepare_tokenises_and_reports_progress(toy_lm):
    done: list[int] = []
    out = prepare(toy_lm, [("abc", "arg 0"), ("hello", "f.jsonl:3")], progress=done.append)
    assert done == [1, 1]
    assert out[0] == Prompt(text="abc", token_ids=[99, 100, 101], tokens=["v", "w", "x"], n_prompt_tokens=3,
                            source="arg 0")
    assert out[1].source == "f.jsonl:3" and out[1].n_prompt_tokens == 5 == len(out[1].token_ids)


def test_prepare_with_generation(toy_lm):
    toy_lm.model.generation_config.eos_token_id = None
    (p,) = prepare(toy_lm, [("abcd", "arg 0")], generate_tokens=3)
    assert p.n_prompt_tokens == 4 and len(p.token_ids) == 7
    assert p.token_ids[:4] == [99, 100, 101, 102]
    assert p.text == ToyTokenizer().decode(p.token_ids) and len(p.tokens) == 7


def test_prepare_checks(toy_lm):
    with pytest.raises(InputError, match="no text to scan: give TEXT arguments or --file"):
        prepare(toy_lm, [])
    with pytest.raises(InputError, match=r"prompt 1 \(b.jsonl:2\) is empty"):
        prepare(toy_lm, [("ok text", "b.jsonl:1"), ("  \n", "b.jsonl:2")])
    with pytest.raises(InputError, match=r"prompt 0 \(arg 0\) has 1 token\(s\); sinks need at least 2"):
        prepare(toy_lm, [("x", "arg 0")])
    short = dataclasses.replace(toy_lm, info=dataclasses.replace(toy_lm.info, max_context=10))
    assert len(prepare(short, [("0123456789", "arg 0")])[0].token_ids) == 10  # exactly the context fits
    with pytest.raises(InputError, match=r"prompt 0 \(arg 0\) is 11 tokens long, over the 10-token context"):
        prepare(short, [("0123456789a", "arg 0")])
    with pytest.raises(InputError, match=r"is 8 tokens long \(\+3 to generate\), over the 10-token context"):
        prepare(short, [("01234567", "arg 0")], generate_tokens=3)


# ---- input forms (issue 25): parse_row, field options, datasets ---------------------------------


def test_parse_row_recognises_every_form():
    vllm = {"prompt": "Hi", "prompt_token_ids": [5, 6], "outputs": [{"text": " yo", "token_ids": [7, 8, 9]}]}
    inp, problem, used = parse_row(vllm)
    assert problem is None and inp.form == "vllm" and inp.token_ids == (5, 6, 7, 8, 9) and inp.n_prompt_tokens == 2
    assert used == {"ids": "prompt_token_ids", "response": "outputs[0].token_ids"}
    inp, _, used = parse_row({"input_ids": [1, 2, 3]})
    assert (inp.form, inp.token_ids, inp.n_prompt_tokens, used) == ("token_ids", (1, 2, 3), None, {"ids": "input_ids"})
    inp, _, used = parse_row({"token_ids": [1, 2, 3], "n_prompt_tokens": 2, "model": "m", "id": "t"})
    assert (inp.n_prompt_tokens, inp.writer, used) == (2, "m", {"ids": "token_ids"})
    # prompt + the first of response / output / completion present
    for name in ("response", "output", "completion"):
        inp, _, used = parse_row({"prompt": "Q", name: " A"})
        assert (inp.form, inp.prompt, inp.response, used) == ("prompt_response", "Q", " A", {"prompt": "prompt", "response": name})
    inp, _, used = parse_row({"text": "plain", "meta": 1})
    assert (inp.form, inp.text, used) == ("text", "plain", {"text": "text"})


def test_parse_row_with_named_fields():
    row = {"question": "Q?", "answer": " A.", "body": "B", "ids": [4, 5]}
    inp, _, used = parse_row(row, InputFields(prompt="question", response="answer"))
    assert (inp.prompt, inp.response, used) == ("Q?", " A.", {"prompt": "question", "response": "answer"})
    inp, _, _ = parse_row(row, InputFields(text="body"))
    assert inp.text == "B"
    inp, _, _ = parse_row(row, InputFields(ids="ids"))
    assert inp.token_ids == (4, 5)
    # a prompt field without a response: the prompt alone (a text --generate may extend)
    inp, _, used = parse_row({"question": "Q?"}, InputFields(prompt="question"))
    assert (inp.text, inp.has_response, used) == ("Q?", False, {"prompt": "question"})


@pytest.mark.parametrize("row, fields, problem", [
    ({"body": "x", "n": 1}, InputFields(text="text2"), 'has no "text2" field (its fields: "body", "n")'),
    ({"q": "x"}, InputFields(prompt="q", response="a"), 'has no "a" field (its fields: "q")'),
    ({"q": None, "a": "r"}, InputFields(prompt="q", response="a"), 'has a "q" that is not a string (empty)'),
    ({"q": "  ", "a": "r"}, InputFields(prompt="q", response="a"), 'has an empty "q"'),
    ({"b": 3}, InputFields(text="b"), 'has a "b" that is not a string (int)'),
    ({"q": "x"}, InputFields(ids="input_ids"), 'has no "input_ids" field (its fields: "q")'),
    ({"input_ids": [1, -2]}, InputFields(), 'has a "input_ids" that is not a non-empty list of non-negative integers'),
    ({"input_ids": []}, InputFields(), "not a non-empty list"),
    ({"input_ids": [1, True]}, InputFields(), "not a non-empty list"),
    ({"token_ids": [1, 2], "n_prompt_tokens": 3}, InputFields(), '"n_prompt_tokens" 3, not an integer in [0, 2]'),
    ({"prompt": "q"}, InputFields(), 'has no string "text" field (its fields: "prompt")'),
])
def test_parse_row_problems_name_the_fields(row, fields, problem):
    inp, got, _ = parse_row(row, fields)
    assert inp is None and problem in got


def test_missing_field_names_file_line_and_fields(tmp_path):
    p = _write(tmp_path / "d.jsonl", [json.dumps({"question": "a", "answer": "b"}), json.dumps({"question": "c", "ans": "d"})])
    with pytest.raises(InputError) as e:
        read_prompts(p, fields=InputFields(prompt="question", response="answer"))
    assert str(e.value).startswith(f'{p}:2 has no "answer" field (its fields: "question", "ans")')
    got = read_prompts(p, on_error="skip", fields=InputFields(prompt="question", response="answer"))
    assert [x.source for x in got.inputs] == ["d.jsonl:1"] and got.skipped[0].source == "d.jsonl:2"
    assert got.source == {"file": str(p), "fields": {"prompt": "question", "response": "answer"},
                          "forms": {"prompt_response": 1}}


def test_read_prompts_limit_and_other_suffixes(tmp_path):
    p = _write(tmp_path / "p.jsonl", [json.dumps({"text": f"t{i}"}) for i in range(5)] + ["{bad"])
    assert [x.text for x in read_prompts(p, limit=2).inputs] == ["t0", "t1"]  # stops before the bad line
    csv = tmp_path / "p.csv"
    csv.write_text("text\nhello\n")
    with pytest.raises(InputError, match="read it with --dataset"):
        read_prompts(csv)
    txt = _write(tmp_path / "p.txt", ["hello"])
    with pytest.raises(InputError, match="field options apply to .jsonl files and --dataset"):
        read_prompts(txt, fields=InputFields(text="body"))


def test_as_inputs():
    got = as_inputs(["a", ("b", "src"), [1, 2], Input(source="i", text="c")])
    assert [x.form for x in got] == ["text", "text", "token_ids", "text"]
    assert [x.source for x in got] == ["text 0", "src", "ids 2", "i"] and got[2].token_ids == (1, 2)
    assert as_inputs("one")[0].text == "one"
    with pytest.raises(InputError, match="list of lists"):
        as_inputs([1, 2])
    with pytest.raises(InputError, match="input 0 is a dict"):
        as_inputs([{"text": "x"}])


def test_input_to_dict_is_the_content():
    a = Input(source="a.jsonl:1", token_ids=(1, 2), n_prompt_tokens=1, form="vllm", name="x", writer="m")
    assert a.to_dict() == {"token_ids": [1, 2], "n_prompt_tokens": 1, "form": "vllm"}


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "parquet"])
def test_read_dataset_local_files(tmp_path, suffix):
    """--dataset through Hugging Face datasets, read locally (HF_DATASETS_OFFLINE, tests/conftest.py)."""
    import pandas as pd

    df = pd.DataFrame({"question": ["Q1?", "Q2?", "Q3?"], "answer": [" A1.", " A2.", " A3."]})
    p = tmp_path / f"d.{suffix}"
    {"jsonl": lambda: df.to_json(p, orient="records", lines=True), "json": lambda: df.to_json(p, orient="records"),
     "csv": lambda: df.to_csv(p, index=False), "parquet": lambda: df.to_parquet(p)}[suffix]()
    got = read_dataset(str(p), limit=2, fields=InputFields(prompt="question", response="answer"))
    assert [(x.prompt, x.response, x.source) for x in got.inputs] == [("Q1?", " A1.", f"d.{suffix} row 1"),
                                                                      ("Q2?", " A2.", f"d.{suffix} row 2")]
    assert got.source == {"dataset": str(p), "split": "train", "fields": {"prompt": "question", "response": "answer"},
                          "forms": {"prompt_response": 2}}
    with pytest.raises(InputError, match=rf"d.{suffix} row 1 has no string \"text\" field \(its fields: \"question\", \"answer\"\)"):
        read_dataset(str(p))


def test_read_dataset_token_ids_and_errors(tmp_path):
    import pandas as pd

    p = tmp_path / "ids.parquet"
    pd.DataFrame({"input_ids": [[1, 2, 3], [4, 5]]}).to_parquet(p)
    got = read_dataset(str(p))
    assert [x.token_ids for x in got.inputs] == [(1, 2, 3), (4, 5)]
    bad = tmp_path / "x.tsv"
    bad.write_text("a\tb\n")
    with pytest.raises(InputError, match=r"give a \.jsonl, \.json, \.csv or \.parquet file"):
        read_dataset(str(bad))
    with pytest.raises(InputError, match="could not be read"):
        read_dataset("no-such-org/no-such-dataset-xyz")  # offline: the hub is not contacted


def test_prepare_reads_each_form(toy_lm):
    ids = tokenize(toy_lm, "abcde")
    (a,) = prepare(toy_lm, [Input(source="t", token_ids=ids)])
    assert a.token_ids == ids and a.n_prompt_tokens == len(ids) and a.form == "token_ids"
    (b,) = prepare(toy_lm, [Input(source="pr", prompt="abc", response="de")])
    resp = toy_lm.tokenizer("de", add_special_tokens=False)["input_ids"]
    assert b.token_ids == tokenize(toy_lm, "abc") + resp and b.n_prompt_tokens == len(tokenize(toy_lm, "abc"))
    with pytest.raises(InputError, match="--chat applies to texts"):
        prepare(toy_lm, [Input(source="t", token_ids=(1, 2))], chat=True)


def test_input_form_follows_its_fields_and_one_form_is_given():
    assert Input(source="a", text="x").form == "text"
    assert Input(source="a", prompt="q", response="r").form == "prompt_response"
    assert Input(source="a", prompt="q").form == "text"  # a prompt alone is a text
    assert Input(source="a", token_ids=[1, 2]).token_ids == (1, 2) and Input(source="a", token_ids=[1]).form == "token_ids"
    for kw, why in ((dict(text="x", token_ids=(1,)), "exactly one of"), (dict(), "exactly one of"),
                    (dict(text="x", response="r"), "a response needs its prompt"),
                    (dict(text="x", n_prompt_tokens=1), "n_prompt_tokens belongs to token ids")):
        with pytest.raises(InputError, match=why):
            Input(source="a", **kw)
