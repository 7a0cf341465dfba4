"""The report's assets as package data, and the template helpers (report/templates.py)."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from sinkscope.report import templates as T

ASSETS = ("report.html.j2", "report.css", "report.js", "notebook.html.j2", "heatmap.svg.j2", "fragments.j2",
          "lines.svg.j2", "properties.html.j2", "anatomy.html.j2")


def test_assets_are_package_files():
    root = resources.files("sinkscope.report").joinpath("assets")
    for name in ASSETS:
        f = root.joinpath(name)
        assert f.is_file(), name
        assert len(f.read_text(encoding="utf-8")) > 100, name
        assert T.asset_text(name) == f.read_text(encoding="utf-8")


def test_shipped_as_package_data():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    lines = text.splitlines()
    line = lines[lines.index("[tool.setuptools.package-data]") + 1]
    assert line.startswith("sinkscope = ") and '"report/assets/*"' in line


def test_inlined_assets_cannot_close_their_element():
    assert "</style" not in T.asset_text("report.css").lower()
    js = T.asset_text("report.js").lower()
    assert "</script" not in js and "<!--" not in js
    for name in ("report.css", "report.js"):
        text = T.asset_text(name)
        assert "{{" not in text and "{%" not in text and "{#" not in text, name


def test_render_autoescapes():
    env = T.environment()
    out = env.from_string("{{ x }}|{{ y|fmt }}|{{ z|num }}").render(x="<b>&", y=12345.6, z=1e-5)
    assert out == "&lt;b&gt;&amp;|12,346|1.00e-05"


def test_fmt_and_num():
    assert T.fmt(None) == "–" and T.fmt(float("nan")) == "–" and T.fmt(True) == "yes"
    assert T.fmt(1234567) == "1,234,567" and T.fmt(np.int64(5)) == "5"
    assert T.fmt(0.123456) == "0.123" and T.fmt(2500.4) == "2,500" and T.fmt("x") == "x"
    assert T.num(None) == "–" and T.num(True) == "yes" and T.num(False) == ""
    assert T.num(0.5) == "0.5" and T.num(12.345) == "12.3" and T.num(0.0) == "0"
    assert T.num(2e5) == "2.00e+05" and T.num(float("inf")) == "–" and T.num("a") == "a"


def test_script_json_is_safe_inside_a_script_element():
    text = T.script_json({"t": "</script><!--&", "v": np.float32(0.5), "n": float("nan"), "a": np.arange(2)})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><!--&", "v": 0.5, "n": None, "a": [0, 1]}


def test_safe_utf8():
    assert T.safe_utf8("abc") == "abc"
    s = T.safe_utf8("a\ud800b")
    s.encode("utf-8")
    assert s == "a?b"
