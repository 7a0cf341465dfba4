"""Issue 13 point 10: `--help` and the README list exactly what a command writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sinkscope.cli import app
from sinkscope.cli.scan import SCAN_OUTPUTS
from sinkscope.workflows.anatomy import ANATOMY_OUTPUTS

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


def help_names(command: str) -> set[str]:
    """Output names the description of a command's --help mentions (before its examples):
    file.json/.parquet/.html/.png/.svg and folder/."""
    text = runner.invoke(app, [command, "--help"]).output.split("Examples:")[0]
    text = re.sub(r"[│\s]+", " ", text)  # undo rich's wrapping
    files = set(re.findall(r"\b[a-z_]+\.(?:json|parquet|html|png|svg)\b", text))
    folders = {m + "/" for m in re.findall(r"\b([a-z]+)/(?=[ ,(])", text)}
    return files | folders


def written(folder: Path) -> set[str]:
    return {p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()}


def test_scan_writes_what_its_help_says(tmp_path, tiny_folder):
    out = tmp_path / "run"
    r = runner.invoke(app, ["scan", "A short text to scan for sinks.", "--model", str(tiny_folder), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert written(out) == set(SCAN_OUTPUTS) == help_names("scan")
    assert ", ".join(SCAN_OUTPUTS) in re.sub(r"\s+", " ", r.stdout)  # the final "wrote DIR (...)" line
    assert {p.stem for p in (out / "figures").iterdir()} == {"heatmap", "weakening", "normlaw", "levels"}


def test_readme_scan_table_lists_what_scan_writes():
    text = README.read_text(encoding="utf-8")
    section = text.split("### What `scan` writes", 1)[1].split("\n#", 1)[0]
    names = {re.sub(r"/.*", "/", m) for m in re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)}
    assert names == set(SCAN_OUTPUTS)


@pytest.mark.realmodel
@pytest.mark.slow
def test_anatomy_writes_what_its_help_says(tmp_path, smollm2, long_text):
    run, dest = tmp_path / "run", tmp_path / "anat"
    r = runner.invoke(app, ["scan", long_text, "--out", str(run)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["anatomy", str(run), "--layer", "2", "--pcs", "3", "--alphas", "0,1", "--out", str(dest)])
    assert r.exit_code == 0, r.output
    assert written(dest) == set(ANATOMY_OUTPUTS) == help_names("anatomy")
    # progress of the re-run (point 1): one line when it starts and one when it is done
    assert re.search(r"re-run \d+ prompt\(s\) to block 2(: done| \d+/\d+ prompts), \d+ s", r.stderr)
    assert re.search(r"probe and directions: done, \d+ s", r.stderr)
    readme = README.read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in ANATOMY_OUTPUTS)


@pytest.mark.realmodel
def test_readme_intervene_example_hits_a_real_sink(smollm2):
    """The README's first `intervene` command, as written, edits a secondary sink of the bundled text
    (not a no-op) and the README says `--edit`."""
    readme = README.read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if ln.startswith("sinkscope intervene --layer"))
    args = line.split("#")[0].split()[1:]
    assert "--edit" in args
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith("│  10 │"))
    assert "secondary -> none" in row
    # ... yet the token gets more attention: strengthened, as the README says (docs/method.md §4)
    assert "strengthened" in row and "its outcome is `strengthened`, not `removed`" in readme.replace("\n", " ")
