"""workflows/scan.py `run_pipeline`: the one prepare -> capture -> analyse entry. `sinkscope.scan`, the
`scan` command, the interventions' clean pass and the long protocol all go through it, so each equals
the others on the same input (real SmolLM2 weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sinkscope
from sinkscope.analysis import AnalysisConfig
from sinkscope.core.errors import InputError
from sinkscope.workflows.interventions.core import clean_for, clean_run, run_prompts
from sinkscope.workflows.scan import Progress, run_pipeline

pytestmark = pytest.mark.realmodel

TEXTS = [("The capital of France is Paris. It is known for the Eiffel Tower and the Louvre.", "a"),
         ("def add(a, b):\n    return a + b\n\nprint(add(2, 3))", "b")]
CFG = AnalysisConfig(n_boot=20, tau=0.85)


class Recorder(Progress):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, stage, total, prompts):
        self.events.append(("start", stage, total, len(prompts)))

    def advance(self, stage, done, total):
        self.events.append(("advance", stage, done, total))

    def end(self, stage):
        self.events.append(("end", stage))


def same(a, b) -> None:
    pd.testing.assert_frame_equal(a.sinks, b.sinks)
    pd.testing.assert_frame_equal(a.layers, b.layers)
    for pa, pb in zip(a.prompts, b.prompts):
        np.testing.assert_array_equal(pa.scores, pb.scores)
    assert a.config == b.config and a.manifest["thresholds"] == b.manifest["thresholds"]


def test_pipeline_stages_and_scan(smollm2):
    rec = Recorder()
    res = run_pipeline(smollm2, CFG, inputs=TEXTS, batch_size=2, progress=rec, extra={"x": 1})
    assert rec.events == [
        ("start", "prepare", 2, 0), ("advance", "prepare", 1, 2), ("advance", "prepare", 2, 2), ("end", "prepare"),
        ("start", "capture", 2, 2), ("advance", "capture", 2, 2), ("end", "capture"),
        ("start", "analysis", 1, 2), ("end", "analysis"),
    ]
    assert res.manifest["x"] == 1 and list(res.manifest["timings"]) == ["prepare_s", "capture_s", "analysis_s", "total_s"]
    ticks: list[tuple] = []
    via_scan = sinkscope.scan(smollm2, TEXTS, config=CFG, batch_size=2, progress=lambda *a: ticks.append(a))
    same(res, via_scan)
    assert ticks == [("prepare", 1, 2), ("prepare", 2, 2), ("capture", 2, 2)]  # the plain callback's protocol


def test_prepared_prompts_and_interventions_clean_pass(smollm2):
    res, prompts = clean_run(smollm2, [TEXTS[0]], CFG)
    again = run_pipeline(smollm2, CFG, prompts=prompts, with_nll=True, extra={"generate": 0, "chat": False})
    same(res, again)
    same(res, run_prompts(smollm2, prompts, CFG))
    one, pr, positions = clean_for(smollm2, TEXTS[0], [3, 1], config=CFG, thresholds={}, clean=None, prompt=0,
                                   chat=False, generate=0, query_block=None, caller="test")
    same(res, one)
    assert positions == [1, 3] and pr.token_ids == prompts[0].token_ids


def test_check_stops_before_the_capture(smollm2):
    rec = Recorder()

    def refuse(prompts):
        raise InputError("no")

    with pytest.raises(InputError, match="no"):
        run_pipeline(smollm2, CFG, inputs=TEXTS, check=refuse, progress=rec)
    assert ("start", "capture", 2, 2) not in rec.events
    with pytest.raises(InputError, match="either inputs"):
        run_pipeline(smollm2, CFG)
