"""reproduce.run: the stored outputs, the CLI's checks and (real weights) the quick run end to end."""

from __future__ import annotations

import json
import math
import re

import pytest
from typer.testing import CliRunner

from sinkscope.workflows.reproduce import CATALOG_DECODERS, render_markdown, write_outputs
from tests.workflows.reproduce.numbers import model, run_dict


def test_write_outputs_and_rebuild_from_json(tmp_path):
    run = run_dict([model("alpha")], mode="quick")
    run["models"][0]["existence"]["score_ratio"] = math.nan  # stored as null
    doc = write_outputs(run, tmp_path)
    assert doc == tmp_path / "REPRODUCTION.md"
    md = doc.read_text()
    assert "**Mode: QUICK**" in md and md.endswith("\n\n")
    text = (tmp_path / "reproduction" / "results.json").read_text()
    assert text.startswith('{\n "mode": "quick"')  # 1-space indent
    stored = json.loads(text)
    assert stored["verdicts"]["alpha"]["1"]["verdict"] == "partly"  # no score ratio: not below 1
    assert stored["models"][0]["existence"]["score_ratio"] is None
    # the document is a pure function of the stored results
    assert render_markdown(stored) + "\n" == md
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["REPRODUCTION.md", "reproduction", "results.json"]


def test_cli_rejects_unknown_model(tmp_path):
    from sinkscope.cli import app

    r = CliRunner().invoke(app, ["reproduce", "--models", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "unknown model" in r.output


# ---- real weights: the quick run end to end ------------------------------------------------------
@pytest.mark.realmodel
def test_quick_reproduce_on_smollm2(tmp_path, smollm2):
    from sinkscope.cli import app
    from sinkscope.workflows.scan import ScanResult

    out = tmp_path / "docs"
    r = CliRunner().invoke(app, ["reproduce", "--quick", "--out", str(out), "--work", str(tmp_path / "runs")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "6 prompts" in r.output and "generate 48 tokens" in r.output  # the plan is printed first
    assert re.search(r"smollm2-135m\s+\d+\.\d min", r.output)  # time per model
    md = (out / "REPRODUCTION.md").read_text()
    assert "**Mode: QUICK**" in md
    run = json.loads((out / "reproduction" / "results.json").read_text())
    assert render_markdown(run) + "\n" == md
    smol = next(m for m in run["models"] if m["name"] == "smollm2-135m")
    assert smol["status"] == "ok"
    # docs/method.md: SmolLM2's secondary sinks exist, are born at blocks 1-2 and are written by the MLP
    e, fm = smol["existence"], smol["formation"]
    assert e["n_secondary"] >= 5 and e["birth_layers"][1] <= 3
    assert fm["median_cos"] > 0.9 and fm["causal"]["n_sinks"] >= 1
    assert smol["norm_law"]["spearman_score"] > 0.5
    # the table rows carry those numbers
    assert (f"| smollm2-135m | 30 | {e['n_tokens']} ({e['n_tokens_distinct']}) | "
            f"{e['n_secondary']} ({e['n_secondary_records']}) |") in md
    for m in CATALOG_DECODERS[1:]:
        assert f"| {m} | not testable here |" in md  # every model row, not run in quick mode
    for key in ("normlaw", "weakening", "levels"):
        png = out / "reproduction" / "smollm2-135m" / f"{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"reproduction/smollm2-135m/{key}.png" in md
    # the scan folder is a normal scan result (so `sinkscope report` works on it)
    res = ScanResult.load(smol["scan_dir"])
    assert res.findings.n_prompts == 6 and res.summary().n_secondary == e["n_secondary"]
    assert (tmp_path / "runs" / ".gitignore").read_text().strip().endswith("*")
