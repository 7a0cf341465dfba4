"""The `sinkscope` command line: the main job end to end, and clear errors on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sinkscope.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.realmodel
def test_scan_default_example_writes_outputs(tmp_path, smollm2):
    out = tmp_path / "run"
    r = _run("scan", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "findings" in r.output and "secondary sinks" in r.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["model"]["ref"] == "smollm2-135m"
    assert man["thresholds"]["tau"] == 0.9 and man["mode"] == "general"
    assert man["prompts"][0]["source"] == "bundled:example.txt"
    sinks = pd.read_parquet(out / "sinks.parquet")
    assert {"prompt", "position", "token", "kind", "birth", "death", "lifetime", "mean_score", "peak_score"} <= set(sinks.columns)
    assert (out / "prompts" / "0000.npz").exists()
    # a second run into the same folder is refused unless --overwrite
    r2 = runner.invoke(app, ["scan", "--out", str(out)])
    assert r2.exit_code == 1 and "already exists" in r2.output


@pytest.mark.realmodel
def test_scan_jsonl_with_thresholds(tmp_path, smollm2):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"text": "One two three four five six seven."}) + "\n\n" + json.dumps({"text": "A B C D E F G H"}) + "\n")
    out = tmp_path / "run"
    r = _run("scan", "--file", str(f), "--out", str(out), "--tau", "0.8", "--mode", "paper", "--cosine", "centred")
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["thresholds"]["tau"] == 0.8 and man["mode"] == "paper" and man["thresholds"]["cosine"] == "centred"
    assert len(man["prompts"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan", "x", "--mode", "both"], "--mode must be one of"),
        (["scan", "x", "--tau", "1.5"], "tau"),
        (["scan", "x", "--min-lifetime", "-1"], "--min-lifetime"),
        (["scan", "--file", "/nonexistent/prompts.jsonl"], "does not exist"),
        (["scan", "x", "--model", "smolm2-135m"], "smollm2-135m"),  # typo -> suggestion
    ],
)
def test_bad_input_exits_nonzero_with_a_message(tmp_path, args, message):
    out = tmp_path / "never"
    r = runner.invoke(app, args + ["--out", str(out)])
    assert r.exit_code == 1
    assert message in r.output
    assert "Traceback" not in r.output
    assert not out.exists()


def test_bad_jsonl_line_is_named(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"text": "fine"}\n{not json}\n')
    r = runner.invoke(app, ["scan", "--file", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "p.jsonl:2" in r.output


def test_empty_prompt_file(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("  \n")
    r = runner.invoke(app, ["scan", "--file", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "empty" in r.output


def test_help_teaches():
    r = _run("scan", "--help")
    assert r.exit_code == 0
    for word in ("--generate", "--mode", "--tau", "--chat", "Examples"):
        assert word in r.output
