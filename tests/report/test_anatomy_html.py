"""The docs/method.md §8 / §9 HTML fragments (report/anatomy_html.py) on synthetic results; the §9
fragment on a real `AnatomyResult` is tested in tests/analysis/test_anatomy.py."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from sinkscope.report import anatomy_html as A
from tests.report.reportsynth import synthetic_result

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def res2():
    return synthetic_result((400, 900))


def test_properties_fragment_reads_the_findings(res2):
    props = res2.findings.properties()
    frag = A.properties_html(res2)
    assert frag == A.properties_html(props=props)  # the same numbers: the findings' cached properties
    assert frag.startswith('<section class="sinkscope-properties"') and frag.endswith("</section>")
    assert frag.count("<svg") == 3 and "<script" not in frag and "{{" not in frag
    summ = props.summary
    busiest = int(summ[summ["group"] == "secondary"]["prompt"].value_counts().idxmax())
    assert f"Prompt {busiest}." in frag
    n_sec = int(((summ["prompt"] == busiest) & (summ["group"] == "secondary")).sum())
    assert frag.count(">secondary</td>") == n_sec
    n_all = int((summ["group"] == "secondary").sum())
    assert f"Over all {n_all} secondary sinks of the run" in frag


def test_properties_fragment_rows_and_prompt(res2):
    frag = A.properties_html(res2, prompt=0, max_rows=2)
    assert "Prompt 0." in frag
    assert len(re.findall(r"<tr><td", frag)) == 2
    n0 = int((res2.findings.properties().summary["prompt"] == 0).sum())
    assert f"{n0 - 2} more rows in the properties tables." in frag


def test_properties_fragment_escapes_tokens():
    toks = ["<s>"] + [" x"] * 7 + ["<i>sink</i>"] + [" x"] * 191
    res = synthetic_result((200,), tokens=[toks])
    frag = A.properties_html(res)
    assert "<i>sink</i>" not in frag and "&lt;i&gt;sink&lt;/i&gt;" in frag  # position 8 is a planted sink


def test_svg_lines():
    svg = A.svg_lines([{"x": [0, 1, 2], "y": [1.0, 10.0, 100.0], "colour": "#123456", "label": "a<b"},
                       {"x": [0, 1], "y": [np.nan, 5.0], "colour": "#654321", "dash": "4 2"}],
                      log_y=True, title="t & u", xlabel="layer", vlines=[(1, "birth 1")], hlines=[10.0])
    root = ET.fromstring(svg)
    lines = root.findall(f"{NS}polyline")
    assert [p.get("stroke") for p in lines] == ["#123456", "#654321"]
    assert len(lines[0].get("points").split()) == 3 and len(lines[1].get("points").split()) == 1
    assert lines[0].find(f"{NS}title").text == "a<b" and lines[1].get("stroke-dasharray") == "4 2"
    texts = [t.text for t in root.findall(f"{NS}text")]
    assert "t & u" in texts and "layer" in texts and "birth 1" in texts
    assert root.get("aria-label") == "t & u"
    empty = ET.fromstring(A.svg_lines([{"x": [], "y": [], "colour": "#000"}]))
    assert empty.find(f"{NS}text").text == "no data"


def test_show_token():
    assert A.show_token(" ") == "␣" and A.show_token("\n") == "↵" and A.show_token("") == "∅"
    assert A.show_token(" a") == " a"


def test_anatomy_page_is_the_two_fragments_in_one_document(res2):
    """`sinkscope anatomy`'s anatomy.html: §8 of the run, then §9, in one self-contained page."""
    from sinkscope.analysis.anatomy import AnatomyConfig, anatomy_core
    from tests.analysis.test_anatomy import planted_case

    _, _, f, xs, xn, xp, mp = planted_case()
    result = anatomy_core(xs, xn, f, xp, mp, AnatomyConfig(n_pcs=3), layer=3)
    page = A.anatomy_page(result, res2)
    head = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sinkscope anatomy</title></head>'
    assert page == (head + '<body style="margin:16px">' + A.properties_html(res2) + A.anatomy_html(result)
                    + "</body></html>")
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")
