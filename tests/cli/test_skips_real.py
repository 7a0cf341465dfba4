"""Skips are printed and recorded (real SmolLM2, and a toy model for the all-skipped sweep); intervene takes --mode paper."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sinkscope.cli import app

runner = CliRunner()

TEXT = "The bakery sells bread in the morning and cakes in the afternoon, and the baker counts the loaves."


def _prompts(path):
    path.write_text(json.dumps({"text": TEXT}) + "\n{not json\n" + json.dumps({"text": "  "}) + "\n")
    return path


@pytest.mark.realmodel
def test_scan_reports_and_records_skipped_lines(tmp_path, smollm2):
    f = _prompts(tmp_path / "p.jsonl")
    out = tmp_path / "run"
    r = runner.invoke(app, ["scan", "--file", str(f), "--on-error", "skip", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "skipped p.jsonl:2: is not valid JSON" in r.output and 'skipped p.jsonl:3: has an empty "text"' in r.output
    man = json.loads((out / "manifest.json").read_text())
    assert [s["source"] for s in man["skipped"]] == ["p.jsonl:2", "p.jsonl:3"]
    assert man["skipped"][0]["reason"].startswith("is not valid JSON") and len(man["prompts"]) == 1
    # the folder is a sinkscope result now: --overwrite may replace it
    r = runner.invoke(app, ["scan", TEXT, "--out", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert "skipped" not in json.loads((out / "manifest.json").read_text())


@pytest.mark.realmodel
def test_sweep_records_skipped_lines_in_sweep_json(tmp_path, smollm2):
    f = _prompts(tmp_path / "p.jsonl")
    out = tmp_path / "sweep"
    r = runner.invoke(app, ["sweep", "--file", str(f), "--on-error", "skip", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"{f}:2: is not valid JSON" in r.output
    params = json.loads((out / "sweep.json").read_text())
    lines = params["prompts"]["skipped_lines"]
    assert [s["source"] for s in lines] == ["p.jsonl:2", "p.jsonl:3"] and lines[1]["reason"] == 'has an empty "text"'
    assert params["analysis"]["n_boot"] == 2000


@pytest.mark.realmodel
def test_intervene_accepts_mode_paper(tmp_path, smollm2):
    out = tmp_path / "iv"
    r = runner.invoke(app, ["intervene", TEXT, "--layer", "2", "--position", "5", "--mode", "paper", "--edit", "zero",
                            "--n-candidates", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for run in ("clean", "intervened"):
        man = json.loads((out / run / "manifest.json").read_text())
        assert man["mode"] == "paper" and man["thresholds"]["n_candidates"] == 2
    # the old spelling (the edit given to --mode) still works
    r = runner.invoke(app, ["intervene", TEXT, "--layer", "2", "--position", "5", "--mode", "project-out"])
    assert r.exit_code == 0, r.output


def test_sweep_that_skips_every_prompt_fails_and_leaves_nothing(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from sinkscope.core.errors import InputError
    from sinkscope.models.base import wrap_pair
    from sinkscope.workflows.sweep import run_sweep
    from tests.capture.archs import ToyTokenizer

    cfg = LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                      vocab_size=256, max_position_embeddings=16)
    lm = wrap_pair(LlamaForCausalLM(cfg).eval(), ToyTokenizer())
    out = tmp_path / "sweep"
    texts = ["a text far longer than sixteen tokens", "another text longer than the context"]
    with pytest.raises(InputError, match=r"every \(model, prompt\) pair was skipped .*16-token context"):
        run_sweep(out, {"toy": lm}, texts, on_error="skip")
    assert not out.exists()
