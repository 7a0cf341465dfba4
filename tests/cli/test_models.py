"""`sinkscope models ...` (the typer sub-app, tested on its own)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sinkscope.cli.models import models_app
from sinkscope.models.catalog import META_FILE, cache_path

runner = CliRunner()


def _run(*args):
    return runner.invoke(models_app, list(args), prog_name="sinkscope models", terminal_width=200)


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    return tmp_path


def _fake_install(name):
    d = cache_path(name)
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"\0" * 2_000_000)
    (d / META_FILE).write_text(json.dumps({"name": name}))
    return d


def test_no_subcommand_lists(home):
    r = _run()
    assert r.exit_code == 0, r.output
    for name in ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "minilm-l6"):
        assert name in r.output
    assert "smollm2-135m *" in r.output and "default model" in r.output


def test_list_shows_installed_state(home):
    _fake_install("minilm-l6")
    r = _run("list")
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if "minilm-l6" in ln)
    assert "yes" in line
    line = next(ln for ln in r.output.splitlines() if "gemma3-270m" in ln)
    assert "no" in line and "yes" not in line


def test_path_of_installed_model(home):
    d = _fake_install("gemma3-270m")
    r = _run("path", "gemma3-270m")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(d)


def test_path_of_model_not_pulled(home):
    r = _run("path", "gemma3-270m")
    assert r.exit_code == 1
    assert "not pulled" in r.output and "sinkscope models pull gemma3-270m" in r.output


def test_unknown_name_errors_without_traceback(home):
    for args in (("pull", "gema3"), ("path", "gema3")):
        r = _run(*args)
        assert r.exit_code == 1
        assert "gemma3-270m" in r.output  # suggestion
        assert "Traceback" not in r.output


def test_pull_already_cached_is_a_no_op(home):
    d = _fake_install("minilm-l6")
    r = _run("pull", "minilm-l6")
    assert r.exit_code == 0, r.output
    assert "already pulled" in r.output and str(d) in r.output


def test_help_texts():
    r = _run("--help")
    assert r.exit_code == 0 and "catalog" in r.output.lower()
    r = _run("pull", "--help")
    assert r.exit_code == 0 and "--force" in r.output and "float32" in r.output
