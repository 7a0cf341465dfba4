"""`sinkscope intervene`: option checks (no model needed) and real SmolLM2 runs on a short text."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sinkscope.cli import app

runner = CliRunner()

SHORT = (
    "The bakery sells bread in the morning and cakes in the afternoon. During the week, the baker "
    "packs the leftover muffins into boxes of four and gives them to the food bank. How many muffins are left "
    "at the end of the day if the bakery made 288 and sold 268? The answer is 20 muffins, which fill 5 boxes."
)


def _run(*args):
    return runner.invoke(app, ["intervene", *args])


@pytest.mark.parametrize(
    "args, message",
    [
        (["x", "--position", "3"], "--layer is required"),
        (["x", "--layer", "2"], "--position is required"),
        (["x", "--layer", "2", "--position", "3", "--mode", "erase"], "allowed: project-out, zero, rescale:NORM"),
        (["x", "--layer", "2", "--position", "3", "--mode", "rescale"], "needs a number"),
        (["x", "--layer", "2", "--position", "3,a"], "--position '3,a' is not a token position"),
        (["x", "--auto", "--layer", "2"], "drop --layer / --position"),
        (["x", "--auto", "--dose", "induce"], "--auto and --dose"),
        (["x", "--auto", "--auto-modes", "zero,bogus"], "allowed"),
        (["x", "--layer", "2", "--position", "3", "--grid", "0,1"], "--grid needs --dose"),
        (["x", "--layer", "2", "--position", "3,4", "--dose", "induce"], "--dose takes one --position"),
        (["x", "--layer", "2", "--position", "3", "--dose", "steer"], "--dose must be one of induce, rescale"),
        (["x", "--layer", "2", "--position", "3", "--dose", "induce", "--grid", "0,b"], "--grid '0,b' is not a comma-separated list"),
        (["x", "--layer", "2", "--position", "3", "--dose", "rescale", "--grid", "-5"], "NORM must be >= 0"),
        (["--file", "/nonexistent/p.jsonl", "--layer", "2", "--position", "3"], "does not exist"),
    ],
)
def test_bad_options_fail_before_loading_the_model(args, message):
    r = _run(*args)
    assert r.exit_code == 1, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_existing_out_is_refused_and_multi_prompt_needs_prompt(tmp_path):
    (tmp_path / "o").mkdir()
    r = _run("x", "--layer", "2", "--position", "3", "--out", str(tmp_path / "o"))
    assert r.exit_code == 1 and "already exists" in r.output
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"text": "one two"}) + "\n" + json.dumps({"text": "three four"}) + "\n")
    r = _run("--file", str(f), "--layer", "2", "--position", "1")
    assert r.exit_code == 1 and "pick one with --prompt (0..1)" in r.output
    r = _run("--file", str(f), "--prompt", "5", "--layer", "2", "--position", "1")
    assert r.exit_code == 1 and "--prompt 5 is out of range" in r.output


@pytest.mark.realmodel
@pytest.mark.parametrize(
    "args, message",
    [
        (["--layer", "30", "--position", "3"], "layer 30 is out of range: 'smollm2-135m' has 30 blocks (allowed: 0..29)"),
        (["--layer", "2", "--position", "500"], "position 500 is out of range: the text has"),
        (["--layer", "2", "--position", "400", "--dose", "induce"], "position 400 is out of range"),
    ],
)
def test_out_of_range_layer_and_position(smollm2, args, message):
    r = _run(SHORT, *args)
    assert r.exit_code == 1, r.output
    assert message in r.output


@pytest.mark.realmodel
def test_single_intervention_end_to_end(smollm2, tmp_path):
    out = tmp_path / "iv"
    r = _run(SHORT, "--layer", "1", "--position", "5,10", "--mode", "project-out", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "project-out at block 1" in r.output and "Delta next-token NLL" in r.output
    info = json.loads((out / "intervention.json").read_text())
    assert info["summary"]["positions"] == [5, 10] and info["summary"]["mode"] == "project-out"
    t = pd.read_parquet(out / "targets.parquet")
    assert t["position"].tolist() == [5, 10]
    assert (t["mlp_proj_after"].abs() < 1e-3 * t["mlp_proj_before"].abs()).all()
    man = json.loads((out / "intervened" / "manifest.json").read_text())
    assert man["intervention"]["layer"] == 1 and man["model"]["ref"] == "smollm2-135m"
    assert (out / "clean" / "sinks.parquet").exists() and (out / "nll.parquet").exists()


@pytest.mark.realmodel
def test_auto_and_dose_end_to_end(smollm2, tmp_path):
    r = _run(SHORT, "--auto", "--auto-modes", "project-out", "--max-sinks", "1", "--out", str(tmp_path / "auto"))
    assert r.exit_code == 0, r.output
    assert "summary over" in r.output
    a = pd.read_parquet(tmp_path / "auto" / "auto.parquet")
    assert len(a) == 1 and (a["kind_before"] == "secondary").all() and (a["mode"] == "project-out").all()
    r = _run(SHORT, "--layer", "1", "--position", "20", "--dose", "induce", "--grid", "0,300", "--out", str(tmp_path / "dose"))
    assert r.exit_code == 0, r.output
    assert "dose-response: induce at block 1" in r.output
    d = pd.read_parquet(tmp_path / "dose" / "dose.parquet")
    assert d["value"].tolist() == [0.0, 300.0]
    assert d["score"].iloc[1] > d["score"].iloc[0]
    assert (tmp_path / "dose" / "dose.png").exists() and (tmp_path / "dose" / "dose.svg").exists()
