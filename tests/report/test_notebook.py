"""The notebook summary (report/notebook.py): static HTML + SVG, no script."""

from __future__ import annotations

import base64
import re
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from sinkscope.report import notebook as nbm
from tests.report.reportsynth import synthetic_result


@pytest.fixture(scope="module")
def res2():
    return synthetic_result((400, 900))


def test_notebook_html(res2):
    nb = nbm.notebook_html(res2)
    assert "<svg" in nb and "data:image/png;base64," in nb
    assert "<script" not in nb and "{{" not in nb and "{%" not in nb
    n_sec = res2.summary().n_secondary
    assert f"<b>{n_sec}</b> secondary sinks" in nb
    assert "synthetic-30l" in nb and "2 prompts" in nb
    assert res2._repr_html_() == nb
    m = re.search(r'href="data:image/png;base64,([^"]+)"', nb)
    png = base64.b64decode(m.group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # the table: the top primary / secondary records by mean score
    rows = re.findall(r"<tr><td", nb)
    keep = res2.sinks[res2.sinks["kind"].isin(["primary", "secondary"])]
    assert len(rows) == min(8, len(keep))


def test_notebook_escapes_tokens():
    toks = ["<s>", "<b>bold</b>", " & "] + [" x"] * 197
    res = synthetic_result((200,), tokens=[toks])
    nb = nbm.notebook_html(res, top=50)
    assert "<b>bold</b>" not in nb


def test_heatmap_svg_is_valid_xml(res2):
    svg = nbm.heatmap_svg(res2, 1, width=500, height=200)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 500 200"
    ns = "{http://www.w3.org/2000/svg}"
    markers = root.findall(f"{ns}path")
    rec = res2.sinks[(res2.sinks["prompt"] == 1) & (res2.sinks["kind"] != "noise")]
    assert len(markers) == len(rec)
    ticks = [t.text for t in root.findall(f"{ns}text")]
    assert "0" in ticks and "layer" in ticks
    assert "token position (max over 2 per column)" in ticks  # 900 positions on at most 720 columns
    assert "token position" in [t.text for t in ET.fromstring(nbm.heatmap_svg(res2, 0)).findall(f"{ns}text")]


def test_png_rgb_decodes():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    png = nbm.png_rgb(rgb)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (3, 2)
    n = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41 : 41 + n])
    assert raw == b"\x00" + rgb[0].tobytes() + b"\x00" + rgb[1].tobytes()


def test_nice_ticks():
    assert nbm.nice_ticks(0, 399, 8) == list(range(0, 400, 50))
    assert nbm.nice_ticks(0, 29, 5) == [0, 10, 20]
    assert nbm.nice_ticks(0, 3, 6) == [0, 1, 2, 3]
