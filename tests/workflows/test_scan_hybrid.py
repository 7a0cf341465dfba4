"""scan end to end on random-init hybrids (docs/method.md §11): the workflow captures, analyses, saves,
reloads and renders a report in which the non-softmax layers are "no attention probabilities"."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

import sinkscope
from sinkscope.report.console import print_scan
from sinkscope.report.figures import NO_ATTENTION
from sinkscope.report.html import write_report
from sinkscope.workflows.scan import ScanResult
from tests.capture.test_hybrid import HYBRIDS, hybrid_lm

TEXTS = [
    "the quick brown fox jumps over the lazy dog, then it runs away into the dark forest at night.",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen",
]


@pytest.mark.parametrize("model_type", ["granitemoehybrid", "lfm2"])
def test_scan_hybrid_end_to_end(model_type, tmp_path):
    has_attn = HYBRIDS[model_type][1]
    res = sinkscope.scan(hybrid_lm(model_type), TEXTS, batch_size=2, n_boot=20)
    assert (res.findings.attention_layers == np.array(has_attn)).all()
    others = res.sinks[~res.sinks["is_primary_position"]]  # the primary's row spans its (residual-norm) window
    assert not others["birth"].isin(np.flatnonzero(~np.array(has_attn))).any()
    assert res.layers.loc[~res.layers["attention"], "primary_score"].isna().all()
    out = res.save(tmp_path / "run")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["capture"]["attention_layers"] == has_attn
    back = ScanResult.load(out)
    assert back.trace.settings.attention_layers == has_attn
    files = write_report(back, out)
    html = (out / "report.html").read_text()
    assert '"no_attention_layers": [0, 2]' in html or '"no_attention_layers":[0,2]' in html
    assert NO_ATTENTION in html and "attention layers" in html
    assert files is not None and any((out / "figures").glob("heatmap.*"))
    buf = io.StringIO()
    print_scan(back, Console(file=buf, width=200))
    assert "no attention probabilities in block(s) [0, 2]" in buf.getvalue()
    # the capture's self-check (the mixer's output as a^l) is shown in the console and the report
    check = manifest["capture"]["self_check"]
    assert check["status"] == "passed"
    assert "self-check" in buf.getvalue() and f"passed: max relative residue {check['max_residue']:.1e}" in buf.getvalue()
    assert ">self-check<" in html and f"{check['max_residue']:.1e}" in html
