"""reproduce.long_stats on synthetic scans (tests/analysis/synth.py): the region split, the share
of samples with a sink, the (birth, lifetime) matrix, levels and the sensitivity summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.capture.trace import CaptureSettings, Trace
from sinkscope.core.fileio import jsonable
from sinkscope.workflows.reproduce.long_stats import (
    Grid,
    birth_lifetime_matrix,
    depth_histogram,
    relative_depth,
    sensitivity,
    sensitivity_summary,
    where_summary,
)
from sinkscope.workflows.scan import ScanResult
from tests.analysis import synth


def scan(n_prompt: list[int], change_at: int = 30) -> ScanResult:
    """Two spec24 prompts (secondary sinks at 20, 35, 50, 64, 70; births 6, 8, 10, 7, 0; lifetimes
    6, 8, 5, 6, 6) whose token ids agree up to `change_at`, with the given prompt lengths."""
    a, b = synth.make_trace(synth.spec24()), synth.make_trace(synth.spec24())
    b.token_ids = b.token_ids.copy()
    b.token_ids[change_at] += 1000
    cfg = DetectConfig()
    manifest = {"prompts": [{"n_prompt_tokens": n} for n in n_prompt]}
    return ScanResult(Trace(prompts=[a, b], settings=CaptureSettings()), analyze([a, b], cfg, n_boot=100), manifest)


def test_regions_samples_and_matrix():
    w = where_summary(scan([60, 100]))
    # position 20 (in the shared 30-token prefix) is counted once; 35, 50 are prompt in both;
    # 64, 70 are generated in prompt 0 only (prompt 1's prompt is 100 tokens long)
    assert w["shared_prefix_tokens"] == 30 and w["n_secondary"] == 9 and w["n_secondary_records"] == 10
    n = {r: w["regions"][r]["n"] for r in ("all", "template", "prompt", "generated")}
    assert n == {"all": 9, "template": 1, "prompt": 6, "generated": 2}
    assert w["samples_with_secondary"]["generated"] == {"n": 1, "of": 2, "share": 0.5}
    assert w["samples_with_secondary"]["template"]["n"] == 1 and w["samples_with_secondary"]["prompt"]["n"] == 2
    assert w["samples_with_any_secondary"] == {"n": 2, "of": 2}
    gen = w["regions"]["generated"]
    # births 7 and 0 of L = 24: rel_birth = birth / (L - 1) (the analysis' convention)
    assert gen["rel_birth"]["min"] == 0.0 and gen["rel_birth"]["max"] == pytest.approx(7 / 23)
    assert gen["rel_birth_hist"] == [1, 0, 0, 1] + [0] * 6
    assert gen["lifetime_over_L"]["median"] == pytest.approx(6 / 24)
    assert sorted(t[1] for t in gen["top_tokens"]) == [164, 170]  # token ids (synth: position + 100)
    assert {t[0] for t in gen["top_tokens"]} == {".", ","}
    assert gen["score_ratio"] == pytest.approx(gen["mean_score"] / w["primary_mean_score"])
    assert w["regions"]["template"]["top_tokens"] == [[" the", 120, 1]]
    cells = w["birth_lifetime"]
    assert cells == [[0, 6, 2], [6, 6, 1], [7, 6, 2], [8, 8, 2], [10, 5, 2]]
    mat = birth_lifetime_matrix(cells, 24)
    assert mat.shape == (24, 25) and mat.sum() == 9 and mat[8, 8] == 2
    assert w["levels"]["n_sinks"] == 9  # the distinct sinks, < 10: levels not testable
    assert w["verdicts"]["5"]["verdict"] == "not testable here"
    assert json.loads(json.dumps(jsonable(w))) == jsonable(w)


def test_every_sink_generated_when_prompts_are_short():
    w = where_summary(scan([10, 10], change_at=0))
    assert w["shared_prefix_tokens"] == 0 and w["regions"]["generated"]["n"] == 10
    assert w["samples_with_secondary"]["generated"]["share"] == 1.0
    # ten distinct sinks: the level verdict gets a real test
    assert w["levels"]["n_sinks"] == 10 and w["verdicts"]["5"]["verdict"] != "not testable here"


def test_relative_depth_is_the_analysis_convention():
    res = scan([60, 100])
    sec = res.findings.secondary
    L = res.findings.n_layers
    assert sec["rel_birth"].tolist() == [relative_depth(b, L) for b in sec["birth"]]
    assert relative_depth(22, 48) == pytest.approx(22 / 47) and relative_depth(0, 1) == 0.0


def test_depth_histogram_bins():
    assert depth_histogram([0.0, 0.05, 0.1, 0.46, 0.999, 1.0]) == [2, 1, 0, 0, 1, 0, 0, 0, 0, 2]
    assert sum(depth_histogram([])) == 0


def test_sensitivity_grid_reanalyses_the_capture():
    res = scan([10, 10], change_at=0)
    grid = Grid(tau=(0.9, 0.99), k=(3.0,), min_lifetime=(5,), cosine=("raw",), n_boot=50)
    cells = sensitivity(res, grid)
    assert [(c["tau"], c["cosine"]) for c in cells] == [(0.9, "raw"), (0.99, "raw")]
    assert cells[0]["n_secondary"] == 10 and cells[1]["n_secondary"] == 0  # planted |cos| = 0.95 < 0.99
    # all ten generated; births 6, 8, 10, 7 of L = 24 are in the middle band (>= 0.25 x 23), birth 0 is not
    assert cells[0]["n_generated"] == 10 and cells[0]["n_generated_middle"] == 8
    assert cells[1]["n_generated"] == cells[1]["n_generated_middle"] == 0
    assert cells[1]["verdicts"]["1"] == "not reproduced" != cells[0]["verdicts"]["1"]
    s = sensitivity_summary(cells)
    assert s["1"]["stable"] is False and s["1"]["flips_with"] == ["tau"]
    assert s["1"]["default"] == cells[0]["verdicts"]["1"]
    assert Grid().to_dict()["n_cells"] == 72 and len(Grid().cells()) == 72


def _cell(tau, k, m, cos, v1, v5="not testable here"):
    return {"tau": tau, "k": k, "min_lifetime": m, "cosine": cos,
            "verdicts": {"1": v1, "2": "partly", "3": "not testable here", "4": "partly", "5": v5}}


def test_sensitivity_summary_names_the_parameter_that_flips():
    cells = [_cell(t, k, 5, c, "reproduced" if k < 5 else "partly") for t in (0.8, 0.9) for k in (3.0, 5.0)
             for c in ("raw", "centred")]
    s = sensitivity_summary(cells)
    assert s["1"] == {"counts": {"reproduced": 4, "partly": 4}, "stable": False, "default": "reproduced",
                      "flips_with": ["k"]}
    assert s["2"]["stable"] is True and s["2"]["flips_with"] == [] and s["2"]["counts"] == {"partly": 8}
    assert np.isclose(sum(s["1"]["counts"].values()), len(cells))
