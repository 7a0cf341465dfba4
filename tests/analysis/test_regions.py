"""analysis/regions.py: the template / prompt / generated split of docs/method.md §3, and the
`region` column and per-region counts that `analyze` adds (synthetic traces, tests/analysis/synth.py)."""

from __future__ import annotations

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.analysis.regions import REGIONS, region_counts, region_of
from tests.analysis import synth


def test_region_of_per_position_bounds():
    got = region_of([0, 29, 30, 59, 60, 99], [60, 60, 60, 60, 60, 100], n_template=30)
    assert got.tolist() == ["template", "template", "prompt", "prompt", "generated", "prompt"]
    # scalar bounds; no template and no response: everything is the prompt
    assert region_of([0, 5, 9], 10).tolist() == ["prompt"] * 3
    assert region_of([0, 1, 2, 3], 2, 1).tolist() == ["template", "prompt", "generated", "generated"]


def test_region_counts_lists_every_region():
    assert region_counts(["prompt", "generated", "generated"]) == {"template": 0, "prompt": 1, "generated": 2}
    assert tuple(region_counts([])) == REGIONS


def test_analyze_adds_the_region_of_each_record():
    # spec24: secondary sinks at positions 20, 35, 50, 64, 70
    pt = synth.make_trace(synth.spec24())
    pt.n_prompt_tokens, pt.n_template_tokens = 40, 25
    f = analyze([pt], DetectConfig(), n_boot=50)
    sec = f.secondary.set_index("position")["region"].to_dict()
    assert sec == {20: "template", 35: "prompt", 50: "generated", 64: "generated", 70: "generated"}
    assert f.has_response
    assert f.summary().n_secondary_by_region == {"template": 1, "prompt": 1, "generated": 3}
    primary = f.sinks[f.sinks["is_primary_position"]]
    assert (primary["region"] == "template").all()  # position 0 is before the prompt's text


def test_no_response_no_split():
    pt = synth.make_trace(synth.spec24())  # n_prompt_tokens None: the whole sequence is the prompt
    f = analyze([pt], DetectConfig(), n_boot=50)
    assert set(f.sinks["region"]) == {"prompt"}
    assert not f.has_response and f.summary().n_secondary_by_region is None
    pt.n_prompt_tokens = pt.n_tokens  # a prompt given in full is no response either
    assert not analyze([pt], DetectConfig(), n_boot=50).has_response
