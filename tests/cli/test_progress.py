"""Issue 13 point 1: every long job shows progress; plain lines on stderr when it is not a terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console
from typer.testing import CliRunner

from sinkscope.cli import app, common

runner = CliRunner()

TEXTS = ["The quick brown fox jumps over the lazy dog, twice.", "A second, slightly longer prompt about attention sinks."]


def test_scan_prints_one_line_per_stage_and_prompt(tmp_path, tiny_folder):
    out = tmp_path / "run"
    r = runner.invoke(app, ["scan", *TEXTS, "--model", str(tiny_folder), "--generate", "3", "--out", str(out)],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    err = r.stderr.splitlines()
    assert any(ln.startswith(f"load {tiny_folder}: done, ") for ln in err)
    # generation ticks per prompt, with the tokens generated so far
    assert "generate 3 tokens 1/2 prompts, 3 tokens" in r.stderr
    assert "generate 3 tokens 2/2 prompts, 6 tokens" in r.stderr
    # capture: the tokens of the prompts captured so far, then analysis and the write
    cap = [ln for ln in err if ln.startswith("capture 2/2 prompts, ")]
    assert len(cap) == 1 and re.search(r", [\d,]+ tokens, \d+ s$", cap[0])
    assert any(ln.startswith("analysis: done, ") for ln in err)
    assert any(ln.startswith(f"write {out}") and ": done, " in ln for ln in err)
    assert "capture" not in r.stdout  # progress goes to stderr, the tables to stdout
    assert (out / "report.html").is_file()


def test_progress_bar_is_rich_on_a_terminal(monkeypatch):
    """On a terminal the same helper gives rich's live display with i/N, elapsed and ETA columns."""
    from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    monkeypatch.setattr(common, "err_console", Console(file=io.StringIO(), force_terminal=True))
    bar = common.progress_bar()
    assert isinstance(bar, Progress)
    kinds = {type(c) for c in bar.columns}
    assert {MofNCompleteColumn, TimeElapsedColumn, TimeRemainingColumn} <= kinds
    monkeypatch.setattr(common, "err_console", Console(file=io.StringIO(), force_terminal=False))
    assert isinstance(common.progress_bar(), common.LineProgress)


def test_line_progress_throttles_but_keeps_first_and_last():
    buf = io.StringIO()
    bar = common.LineProgress(Console(file=buf, width=200), every=3600.0)
    t = bar.add_task("capture", total=5, unit="prompts", tokens_total=50)
    for i in range(1, 6):
        bar.update(t, completed=i, tokens=10 * i)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "capture: 5 prompts, 50 tokens"
    assert len(lines) == 2 and lines[1].startswith("capture 5/5 prompts, 50 tokens, ")
