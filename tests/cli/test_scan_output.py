"""Issue 13, what `scan` prints and stores on real models: honest multi-prompt tables (point 2), one
numbering (5), statistics that say why (6), encoders reported as encoders (7)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sinkscope.analysis.config import DEFAULTS
from sinkscope.cli import app
from sinkscope.report.console import SINK_TABLE_LEGEND

runner = CliRunner()


def body_rows(out: str, title: str) -> list[list[str]]:
    """Cells of the body rows of the rich table whose title contains `title`."""
    block = out.split(title, 1)[1].split("└", 1)[0]
    return [[c.strip() for c in ln.strip().strip("│").split("│")] for ln in block.splitlines() if ln.startswith("│")]


TEXTS = [
    "Problem: A train travels 60 km in 1.5 hours. What is its average speed? Solution: The speed is the distance "
    "divided by the time, so 60 / 1.5 = 40 km per hour. The answer is 40.",
    "Problem: Sara has 12 apples and gives away a third of them. How many are left? Solution: A third of 12 is 4, "
    "and 12 - 4 = 8. The answer is 8 apples.",
]


@pytest.fixture(scope="module")
def multi(tmp_path_factory, smollm2):
    """SmolLM2 on two short math prompts (secondary and unclassified records), top 2 rows."""
    out = tmp_path_factory.mktemp("scan") / "run"
    r = runner.invoke(app, ["scan", *TEXTS, "--top", "2", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.stdout, out


@pytest.mark.realmodel
def test_multi_prompt_table_shows_primaries_apart_and_counts_the_rest(multi):
    stdout, out = multi
    sinks = pd.read_parquet(out / "sinks.parquet")
    prompts = body_rows(stdout, "sinks per prompt")
    assert [r[0] for r in prompts] == ["0", "1"] and all("'Problem'" in r[2] for r in prompts)
    rows = body_rows(stdout, "sink records other than the primaries")
    assert len(rows) == 2 and "primary" not in {r[3] for r in rows}
    others = sinks[~sinks["is_primary_position"] & (sinks["kind"] != "noise")]
    assert {"secondary", "unclassified"} <= set(others["kind"])
    # every class present keeps a row, however the scores rank
    assert {r[3] for r in rows} == {"secondary", "unclassified"}
    assert f"{len(others) - 2} more not shown" in stdout
    assert SINK_TABLE_LEGEND.split(";")[0] in stdout and "x base = mean_score / baseline: a sink needs >= k" in re.sub(r"\s+", " ", stdout)


@pytest.mark.realmodel
def test_one_numbering(multi):
    stdout, out = multi
    L = json.loads((out / "manifest.json").read_text())["model"]["n_layers"]
    sinks = pd.read_parquet(out / "sinks.parquet")
    layers = pd.read_parquet(out / "layers.parquet")
    np.testing.assert_allclose(sinks["rel_birth"], sinks["birth"] / (L - 1))
    np.testing.assert_allclose(layers["rel_depth"], layers["layer"] / (L - 1))
    findings = json.loads((out / "findings.json").read_text())
    printed = [r[3] for r in body_rows(stdout, "sinks per prompt")]
    assert printed == [f"blocks {p['window_blocks'][0]}-{p['window_blocks'][1]}" for p in findings["prompts"]]
    assert all("window" not in p for p in findings["prompts"])  # one convention, inclusive
    # level ids: `sinkscope levels RUN` (the run's own settings) = the findings' levels
    r = runner.invoke(app, ["levels", str(out)])
    assert r.exit_code == 0, r.output
    table = body_rows(r.stdout, "sink levels")
    want = findings["levels"]["levels"]
    assert [row[0] for row in table] == [f"L{lv['level']}" for lv in want]
    assert [row[1] for row in table] == [f"{lv['birth_range'][0]}-{lv['birth_range'][1]}" for lv in want]
    assert all(f"L{lv['level']}: births {lv['birth_range'][0]}-" in stdout for lv in want)


@pytest.mark.realmodel
def test_min_queries_is_given_as_the_reason_for_unclassified(tmp_path, smollm2):
    out = tmp_path / "run"
    r = runner.invoke(app, ["scan", TEXTS[0], "--min-queries", "1000", "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "findings.json").read_text())["summary"]
    assert summary["n_unclassified"] > 0
    assert summary["unclassified_reason"].startswith(f"{summary['n_unclassified']} key(s) seen by fewer than min_queries = 1000")
    text = re.sub(r"\s+", " ", r.stdout)
    assert "(--min-queries): reported, not classified" in text
    assert "unclassified" in {row[3] for row in body_rows(r.stdout, "sink records other than the primaries")}


@pytest.mark.realmodel
def test_encoder_is_reported_as_an_encoder(tmp_path):
    out = tmp_path / "mini"
    r = runner.invoke(app, ["scan", "The quick brown fox jumps over the lazy dog. Attention sinks appear in encoders too.",
                            "--model", "minilm-l6", "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = re.sub(r"\s+", " ", r.stdout)
    assert "bidirectional (encoder)" in text and "Not defined: the --min-queries rule" in text
    assert "dip at block -" not in text and "x- of plateau" not in text
    sinks = pd.read_parquet(out / "sinks.parquet")
    prim = sinks[sinks["is_primary_position"]].iloc[0]
    cell = body_rows(r.stdout, "sinks per prompt")[0][2]
    if prim["score_ratio"] < DEFAULTS.k:  # below k x its baseline: never called "primary"
        assert cell.startswith("none (top-norm") and "no sink in 1 of 1 prompt(s)" in text
    assert json.loads((out / "manifest.json").read_text())["model"]["is_causal"] is False
