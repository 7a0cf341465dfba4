"""The input options of the commands (cli/options.py, cli/common.py: --file, --dataset, --split,
--limit, --text-field, --ids-field, --prompt-field, --response-field) through the CLI: a vLLM-shaped
and a prompt/response-shaped file, a dataset file, the region split with --generate, and the errors
of issue 25 (a missing field, --generate on an encoder, SINKSCOPE_HOME on a file, a damaged result
folder). The scans run `tiny_folder` (a random-init Llama with SmolLM2's tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sinkscope
from sinkscope.capture.inputs import tokenize
from sinkscope.cli import app

runner = CliRunner()
PROMPT = "What is two plus two?"
RESPONSE = " Two plus two is four, because adding two to two gives four."


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_lm(tiny_folder):
    return sinkscope.load_model(str(tiny_folder))


def ids_of(lm) -> tuple[list[int], list[int]]:
    return tokenize(lm, PROMPT), lm.tokenizer(RESPONSE, add_special_tokens=False)["input_ids"]


def test_vllm_output_is_read_as_token_ids(tmp_path, tiny_folder, tiny_lm):
    p_ids, r_ids = ids_of(tiny_lm)
    f = tmp_path / "vllm.jsonl"
    f.write_text(json.dumps({"prompt": PROMPT, "prompt_token_ids": p_ids,
                             "outputs": [{"index": 0, "text": RESPONSE, "token_ids": r_ids}]}) + "\n")
    r = run("scan", "--file", f, "--model", tiny_folder, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["inputs"] == {"file": str(f), "fields": {"ids": "prompt_token_ids", "response": "outputs[0].token_ids"},
                             "forms": {"vllm": 1}}
    assert man["prompts"] == [{"source": "vllm.jsonl:1", "form": "vllm", "n_tokens": len(p_ids) + len(r_ids),
                               "n_prompt_tokens": len(p_ids), "n_template_tokens": 0}]
    sinks = pd.read_parquet(tmp_path / "o" / "sinks.parquet")
    # the same records as the API on the same ids with the same prompt length
    api = sinkscope.scan(tiny_lm, [sinkscope.Input(source="x", token_ids=tuple(p_ids + r_ids),
                                                   n_prompt_tokens=len(p_ids), form="vllm")])
    pd.testing.assert_frame_equal(sinks, api.sinks.reset_index(drop=True), check_dtype=False)
    assert (sinks.loc[sinks["position"] >= len(p_ids), "region"] == "generated").all()
    assert "by region" in r.output and "generated" in r.output
    assert '"region"' in (tmp_path / "o" / "report.html").read_text()


def test_prompt_response_file_with_chat(tmp_path, tiny_folder, tiny_lm):
    f = tmp_path / "pr.jsonl"
    f.write_text(json.dumps({"prompt": PROMPT, "completion": RESPONSE}) + "\n")
    r = run("scan", "--file", f, "--chat", "--model", tiny_folder, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["inputs"]["fields"] == {"prompt": "prompt", "response": "completion"}
    row = man["prompts"][0]
    p_ids = tokenize(tiny_lm, PROMPT, chat=True)
    assert row["n_prompt_tokens"] == len(p_ids) and row["n_tokens"] == len(p_ids) + len(ids_of(tiny_lm)[1])
    assert 0 < row["n_template_tokens"] < row["n_prompt_tokens"]
    found = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert set(found["summary"]["n_secondary_by_region"]) == {"template", "prompt", "generated"}


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_dataset_file_with_fields_and_limit(tmp_path, tiny_folder, tiny_lm, kind):
    df = pd.DataFrame({"question": [PROMPT, "Name a colour.", "Count to three."],
                       "answer": [RESPONSE, " Blue is a colour.", " One, two, three."]})
    f = tmp_path / f"pairs.{kind}"
    df.to_csv(f, index=False) if kind == "csv" else df.to_parquet(f)
    r = run("scan", "--dataset", f, "--prompt-field", "question", "--response-field", "answer", "--limit", "2",
            "--model", tiny_folder, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["inputs"] == {"dataset": str(f), "split": "train", "fields": {"prompt": "question", "response": "answer"},
                             "forms": {"prompt_response": 2}}
    assert [p["source"] for p in man["prompts"]] == [f"pairs.{kind} row 1", f"pairs.{kind} row 2"]
    assert man["prompts"][0]["n_prompt_tokens"] == len(tokenize(tiny_lm, PROMPT))


def test_text_field_and_ids_field(tmp_path, tiny_folder, tiny_lm):
    f = tmp_path / "t.jsonl"
    ids = tokenize(tiny_lm, "A body of text to scan here.")
    f.write_text(json.dumps({"body": "A body of text to scan here.", "toks": ids}) + "\n")
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("scan", "--file", f, "--text-field", "body", "--model", tiny_folder, "--out", a).exit_code == 0
    assert run("scan", "--file", f, "--ids-field", "toks", "--model", tiny_folder, "--out", b).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(a / "sinks.parquet"), pd.read_parquet(b / "sinks.parquet"))
    assert json.loads((b / "manifest.json").read_text())["inputs"]["fields"] == {"ids": "toks"}


def test_a_missing_field_names_file_line_and_fields(tmp_path, tiny_folder):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"question": "a", "answer": "b"}) + "\n" + json.dumps({"question": "c", "reply": "d"}) + "\n")
    r = run("scan", "--file", f, "--prompt-field", "question", "--response-field", "answer", "--model", tiny_folder,
            "--out", tmp_path / "o")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f'{f}:2 has no "answer" field (its fields: "question", "reply")' in " ".join(r.output.split())
    assert not (tmp_path / "o").exists()
    r = run("scan", "--file", f, "--model", tiny_folder, "--out", tmp_path / "o")  # no field named: the hint
    assert r.exit_code == 1 and "--text-field" in r.output


@pytest.mark.parametrize("args, message", [
    (("--file", "x.jsonl", "--dataset", "y.csv"), "give --file or --dataset, not both"),
    (("--split", "test"), "--split applies to --dataset"),
    (("--file", "x.jsonl", "--text-field", "a", "--ids-field", "b"), "name different input forms"),
    (("--text-field", "a"), "apply to --file and --dataset"),
])
@pytest.mark.parametrize("command", ["scan", "kv"])
def test_conflicting_input_options(tmp_path, tiny_folder, args, message, command):
    """One check of the shared input options (`cli.common.check_input_options`), the same words on
    every command that reads inputs."""
    r = run(command, *args, "--model", tiny_folder, "--out", tmp_path / "o")
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output


def test_generate_splits_records_by_region(tmp_path, tiny_folder, tiny_lm):
    text = "The quick brown fox jumps over the lazy dog."
    r = run("scan", text, "--generate", "10", "--model", tiny_folder, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    n_prompt = len(tokenize(tiny_lm, text))
    sinks = pd.read_parquet(tmp_path / "o" / "sinks.parquet")
    assert set(sinks["region"]) <= {"template", "prompt", "generated"}
    assert (sinks.loc[sinks["position"] >= n_prompt, "region"] == "generated").all()
    assert (sinks.loc[sinks["position"] < n_prompt, "region"] != "generated").all()
    summary = json.loads((tmp_path / "o" / "findings.json").read_text())["summary"]
    sec = sinks[sinks["kind"] == "secondary"]
    assert summary["n_secondary_by_region"] == {k: int((sec["region"] == k).sum()) for k in ("template", "prompt", "generated")}
    assert "by region" in r.output
    # a scan without a response prints no region split
    r = run("scan", text, "--model", tiny_folder, "--out", tmp_path / "p")
    assert r.exit_code == 0 and "by region" not in r.output


def test_sweep_and_compare_with_responses(tmp_path, tiny_folder):
    f = tmp_path / "pr.jsonl"
    f.write_text("".join(json.dumps({"prompt": f"Question {i}: what is {i} plus {i}?", "response": f" It is {2 * i}."}) + "\n"
                         for i in range(2)))
    r = run("sweep", "--file", f, "--models", tiny_folder, "--out", tmp_path / "sw")
    assert r.exit_code == 0, r.output
    r = run("compare", tmp_path / "sw")
    assert r.exit_code == 0, r.output
    assert "secondary sinks in the generated region" in r.output
    # the same file again resumes: the prompt keys of prompt + response inputs are stable
    r = run("sweep", "--file", f, "--models", tiny_folder, "--out", tmp_path / "sw")
    assert r.exit_code == 0 and "ran 0, already done 2" in " ".join(r.output.split())


def test_kv_reads_prompt_response_datasets(tmp_path, tiny_folder, tiny_lm):
    df = pd.DataFrame({"prompt": ["Tell a story about a cat " * 6], "response": [" The cat sat and sat and sat. " * 8]})
    f = tmp_path / "kv.parquet"
    df.to_parquet(f)
    r = run("kv", "--dataset", f, "--budget", "16", "--policy", "streaming", "--model", tiny_folder,
            "--out", tmp_path / "o", "--n-boot", "10")
    assert r.exit_code == 0, r.output
    man = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert man["texts"][0]["n_prompt"] == len(tokenize(tiny_lm, df["prompt"][0]))
    table = pd.read_parquet(tmp_path / "o" / "kv.parquet")
    assert len(table[table.budget == 16]) == 1  # budgets are numbers


def test_sinkscope_home_on_a_file(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("SINKSCOPE_HOME", str(home))
    for args in (("models",), ("models", "path", "smollm2-135m"), ("scan", "hi there", "--out", str(tmp_path / "o"))):
        r = run(*args)
        out = " ".join(r.output.split())
        assert r.exit_code == 1 and "Traceback" not in r.output and "NotADirectoryError" not in out, args
        assert f"SINKSCOPE_HOME '{home}' cannot be the model cache" in out and "is a file, not a folder" in out, args


def test_report_names_a_damaged_result_folder(tmp_path, tiny_folder):
    d = tmp_path / "o"
    assert run("scan", "A short text to scan.", "--model", tiny_folder, "--out", d).exit_code == 0
    before = (d / "report.html").read_bytes()
    blob = (d / "sinks.parquet").read_bytes()
    (d / "sinks.parquet").write_bytes(blob[: len(blob) // 2])
    r = run("report", d)
    out = " ".join(r.output.split())
    assert r.exit_code == 1 and f"result folder '{d}' is damaged: sinks.parquet cannot be read" in out
    assert (d / "report.html").read_bytes() == before  # nothing written
    (d / "sinks.parquet").write_bytes(blob)
    Path(d / "prompts" / "0000.npz").write_bytes(b"PK\x03\x04 cut")
    r = run("report", d)
    assert r.exit_code == 1 and "prompts/0000.npz cannot be read" in " ".join(r.output.split())


@pytest.mark.realmodel
def test_generate_on_an_encoder_is_a_clear_error(tmp_path):
    r = run("scan", "The cat sat on the mat.", "--model", "minilm-l6", "--generate", "10", "--out", tmp_path / "o")
    out = " ".join(r.output.split())
    assert r.exit_code == 1 and "AttributeError" not in out and "Traceback" not in out
    assert "--generate needs a model that generates text; 'minilm-l6' is an encoder" in out
    assert not (tmp_path / "o").exists()
