"""Shared options (cli/options.py) and the checks that run before any model loads: messages name
the option as typed, bad output folders are refused, skips are reported (issue 13.3, 13.4, 13.9)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sinkscope.cli import app
from sinkscope.cli.options import ExecutorKind, analysis_config
from sinkscope.core.errors import InputError

runner = CliRunner()

# Runs the CLI in a fresh interpreter and reports whether torch / transformers got imported, i.e.
# whether anything could have loaded a model.
_PROBE = textwrap.dedent("""
    import sys
    from typer.testing import CliRunner
    from sinkscope.cli import app
    r = CliRunner().invoke(app, sys.argv[1:])
    print("EXIT", r.exit_code, "TORCH", "torch" in sys.modules, "TRANSFORMERS", "transformers" in sys.modules)
    print(r.output)
""")


def probe(*args: str) -> tuple[int, bool, str, float]:
    """(exit code, torch imported, output, seconds) of `sinkscope ARGS` in a fresh interpreter."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    head, _, output = p.stdout.partition("\n")
    words = head.split()
    assert words[0] == "EXIT", p.stdout + p.stderr
    return int(words[1]), words[3] == "True" or words[5] == "True", output, elapsed


def test_tau_error_names_the_option_fast_without_a_model():
    code, torch_loaded, output, elapsed = probe("scan", "x", "--tau", "-1")
    assert code == 1
    assert "--tau must be a number in (0, 1] (got -1.0)" in output
    assert "DetectConfig" not in output and "AnalysisConfig" not in output
    assert not torch_loaded  # validated before torch is imported / the model loads
    assert elapsed < 60  # no model load (loading SmolLM2 alone takes longer on a busy machine)


@pytest.mark.parametrize("cmd", [["scan", "x"], ["intervene", "x", "--layer", "1", "--position", "2"],
                                 ["sweep", "--file", "p.jsonl", "--out", "never"]])
@pytest.mark.parametrize("option, value, message", [
    ("--k", "-2", "--k must be a finite number > 0 (got -2.0)"),
    ("--min-lifetime", "-1", "--min-lifetime must be an integer >= 0"),
    ("--min-queries", "0", "--min-queries must be an integer >= 1"),
    ("--n-candidates", "0", "--n-candidates must be an integer >= 1"),
    ("--cosine", "centered", "--cosine must be one of raw, centred (got 'centered')"),
    ("--dtype", "int8", "--dtype must be one of float32, bfloat16 (got 'int8')"),
    ("--on-error", "ignore", "--on-error must be one of fail, skip (got 'ignore')"),
])
def test_every_command_reports_the_same_option_the_same_way(cmd, option, value, message):
    r = runner.invoke(app, [*cmd, option, value])
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output


def test_choices_come_from_the_literal_types():
    from sinkscope.workflows.sweep.executor import EXECUTORS

    r = runner.invoke(app, ["scan", "--help"])
    assert "[general|paper]" in r.output and "[raw|centred]" in r.output and "[fail|skip]" in r.output
    assert tuple(ExecutorKind.__args__) == EXECUTORS


def test_builder_defaults_are_the_config_defaults():
    from sinkscope.analysis import AnalysisConfig

    assert analysis_config() == AnalysisConfig()
    assert analysis_config(tau=0.8, mode="paper").mode == "paper"
    with pytest.raises(InputError, match="^--tau must be"):
        analysis_config(tau=2.0)


def test_option_defaults_come_from_their_config():
    """One source per setting: `anatomy`'s option defaults are `AnatomyConfig`'s, `kv --tau` is the
    detector's tau (`DetectConfig.tau`), the KV policies take it from there."""
    import typer.main

    from sinkscope.analysis.config import AnatomyConfig, DetectConfig

    def defaults(name):
        cmd = typer.main.get_command(app).commands[name]
        return {p.name: p.default for p in cmd.params}

    a, cfg = defaults("anatomy"), AnatomyConfig()
    assert (a["pcs"], a["threshold"], a["seed"]) == (cfg.n_pcs, cfg.threshold, cfg.seed)
    assert tuple(float(x) for x in a["alphas"].split(",")) == cfg.alphas
    assert (a["alpha_unit"].replace("-", "_"), a["contrast"].replace("-", "_")) == (cfg.alpha_unit, cfg.contrast)
    assert defaults("kv")["tau"] == DetectConfig.tau == DetectConfig().tau


def test_intervene_has_n_candidates_and_detection_mode_options():
    r = runner.invoke(app, ["intervene", "--help"])
    assert "--n-candidates" in r.output and "--mode" in r.output and "--edit" in r.output
    r = runner.invoke(app, ["intervene", "x", "--layer", "1", "--position", "2", "--mode", "paper", "--edit", "erase"])
    assert r.exit_code == 1 and "allowed: project-out, zero" in r.output  # --mode paper is taken, --edit checked
    r = runner.invoke(app, ["intervene", "x", "--layer", "1", "--position", "2", "--mode", "zero", "--edit", "zero"])
    assert r.exit_code == 1 and "--edit gives the edit already" in r.output


# ---- output folders (13.3) --------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [["scan", "x"], ["intervene", "x", "--layer", "1", "--position", "2"]])
def test_overwrite_refuses_a_folder_of_user_files(tmp_path, cmd):
    user = tmp_path / "my-notes"
    user.mkdir()
    (user / "draft.txt").write_text("do not delete")
    code, torch_loaded, output, _ = probe(*cmd, "--out", str(user), "--overwrite")
    assert code == 1
    assert "not a sinkscope result folder" in output and "draft.txt" in output and "my-notes" in output
    assert (user / "draft.txt").read_text() == "do not delete"
    assert sorted(p.name for p in user.iterdir()) == ["draft.txt"]
    assert not torch_loaded


def test_sweep_overwrite_refuses_a_folder_of_user_files(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"text": "one two three"}) + "\n")
    user = tmp_path / "data"
    user.mkdir()
    (user / "results.csv").write_text("a,b\n1,2\n")
    r = runner.invoke(app, ["sweep", "--file", str(f), "--out", str(user), "--overwrite"])
    assert r.exit_code == 1 and "not a sinkscope result folder" in r.output, r.output
    assert (user / "results.csv").read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("make_out, message", [
    (lambda d: (d / "file.txt").write_text("x") and d / "file.txt" / "run", "is a file, not a folder"),
    (lambda d: Path("/proc/self/sinkscope-run"), "cannot be written"),
])
def test_unwritable_out_fails_before_the_model_loads(tmp_path, make_out, message):
    out = make_out(tmp_path)
    if str(out).startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    code, torch_loaded, output, _ = probe("scan", "x", "--out", str(out))
    assert code == 1 and message in output and str(out) in output
    assert not torch_loaded and "smollm2" not in output.lower()


# ---- skips (13.4) -----------------------------------------------------------------------------


def test_skipping_everything_fails(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("{bad\n[1, 2]\n")
    code, torch_loaded, output, _ = probe("scan", "--file", str(f), "--on-error", "skip", "--out", str(tmp_path / "o"))
    assert code == 1 and "holds no prompts (all 2 non-blank line(s) were skipped as bad)" in output
    assert not torch_loaded and not (tmp_path / "o").exists()
