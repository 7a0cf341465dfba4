"""Structural tests of the HTML report page (report/html.py) and the `report` command (no browser).

Snapshot-style: the sections are there, the embedded JSON parses and matches the result, the
binary blobs decode to the right shapes, nothing points at the network, the file stays small at
T = 8192, and writes are atomic."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sinkscope.report import html as rh
from sinkscope.report import payload as rp
from sinkscope.report.figures import FIGURE_NAMES, maxpool
from tests.report.reportsynth import synthetic_result

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ("summary", "tokens", "heatmap", "sinks", "weakening", "normlaw", "levels", "manifest")


@pytest.fixture(scope="module")
def res2():
    return synthetic_result((400, 900))


@pytest.fixture(scope="module")
def page2(res2):
    return rh.build_html(res2)


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="ss-data">(.*?)</script>', page, re.DOTALL)
    assert m, "no embedded JSON"
    return json.loads(m.group(1))


def blob(page: str, bid: str) -> bytes:
    m = re.search(rf'<script type="application/octet-stream" id="{re.escape(bid)}">(.*?)</script>', page, re.DOTALL)
    assert m, f"no blob {bid}"
    return base64.b64decode(m.group(1))


def test_sections_present(page2):
    assert page2.startswith("<!doctype html>")
    for sid in SECTIONS:
        assert f'<section id="{sid}"' in page2, sid
        assert f'href="#{sid}"' in page2 or sid == "summary"
    assert 'id="ss-heat"' in page2 and "<canvas" in page2
    assert "<details>" in page2  # collapsible manifest
    assert 'id="ss-prompt"' in page2
    assert page2.count("<script>") == 1  # one inline script, nothing loaded


def test_embedded_json_parses_and_matches(res2, page2):
    d = embedded(page2)
    assert len(d["prompts"]) == 2
    for i, p in enumerate(d["prompts"]):
        assert p["n_tokens"] == res2.prompts[i].n_tokens
        assert p["tokens"] == res2.tokens(i)
        n_rows = int((res2.sinks["prompt"] == i).sum())
        assert len(p["records"]["rows"]) == n_rows == len(p["records"]["labels"])
        assert p["records"]["columns"][:3] == ["position", "token", "kind"]
        assert len(p["layers"]["primary_score"]) == res2.findings.n_layers
    assert d["summary"]["n_secondary"] == res2.summary().n_secondary
    assert len(d["secondary"]["rows"]) == len(res2.findings.secondary)
    assert np.array(d["levels"]["counts"]).shape == res2.findings.levels.counts.shape
    assert d["norm_law"]["score"]["n"] == res2.findings.norm_law.n
    assert len(bytes.fromhex(d["lut"])) == 768


def test_blobs_decode_to_the_scores(res2, page2):
    d = embedded(page2)
    for i, p in enumerate(d["prompts"]):
        hm = p["heat"]
        L, H, T = hm["L"], hm["H"], p["n_tokens"]
        mean = np.frombuffer(blob(page2, hm["mean"]["id"]), dtype="<f2").reshape(L, hm["mean"]["n"])
        ref = maxpool(res2.findings.detections[i].layer_scores.astype(np.float64), hm["mean"]["bin"])
        np.testing.assert_allclose(mean.astype(np.float64), ref, rtol=1e-3, atol=1e-7)
        heads = np.frombuffer(blob(page2, hm["heads"]["id"]), dtype=np.uint8).reshape(L, H, hm["heads"]["n"])
        back = rp.dequantise_log_u8(heads, hm["heads"]["log_lo"])
        refh = maxpool(res2.scores(i).astype(np.float64), hm["heads"]["bin"])
        ok = refh > 10 ** hm["heads"]["log_lo"]
        rel = np.abs(back[ok] - refh[ok]) / refh[ok]
        assert rel.max() < 0.03  # half a 5.6 % step
        assert hm["mean"]["n"] == T  # small runs are stored at full resolution
        assert 0 < hm["clip_from"] <= T


def test_no_network_references(page2):
    assert not re.search(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", page2, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", page2, re.IGNORECASE)
    assert "@import" not in page2
    assert not re.search(r"<link[^>]+stylesheet", page2, re.IGNORECASE)
    assert not re.search(r"<script[^>]+src=", page2, re.IGNORECASE)
    assert not re.search(r"\b(?:fetch|XMLHttpRequest|WebSocket|EventSource|importScripts)\s*\(", page2)
    assert 'http-equiv="Content-Security-Policy"' in page2 and "connect-src 'none'" in page2


def test_hostile_tokens_are_escaped():
    bad = "</script><script>alert(1)</script><!--"
    toks = ["<s>", bad, " & ", "%%JS%%", "\ud800", "\n"] + [" x"] * 194
    res = synthetic_result((200,), tokens=[toks])
    page = rh.build_html(res)
    assert page.count("<script>") == 1
    assert "alert(1)</script>" not in page
    d = embedded(page)
    assert d["prompts"][0]["tokens"][1] == bad
    assert d["prompts"][0]["tokens"][3] == "%%JS%%"  # placeholders are never re-expanded
    page.encode("utf-8")  # a lone surrogate does not break the file


def test_extra_tables_section(tmp_path, res2):
    d = tmp_path / "run"
    res2.save(d)
    assert '<section id="interventions"' not in rh.build_html(res2, extra_tables=rh.find_extra_tables(d))
    iv = pd.DataFrame({"prompt": [0, 0, 1], "position": [8, 104, 40], "op": ["zero", "project", "zero"],
                       "delta_lifetime": [-7, -3, -6], "delta_score": [-0.03, -0.01, np.nan]})
    iv.to_parquet(d / "interventions.parquet")
    extra = rh.find_extra_tables(d)
    assert list(extra) == ["interventions"]
    page = rh.build_html(res2, extra_tables=extra)
    assert '<section id="interventions"' in page and 'href="#interventions"' in page
    t = embedded(page)["extra"]["interventions"]
    assert t["columns"] == list(iv.columns) and len(t["rows"]) == 3 and t["per_prompt"]
    assert t["rows"][2][4] is None  # NaN -> null


def test_size_at_8192_tokens_under_10mb():
    res = synthetic_result((8192,))
    page = rh.build_html(res)
    size = len(page.encode("utf-8"))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-size-t8192.txt").write_text(f"T=8192, L=30, H=9: {size} bytes ({size / 1e6:.2f} MB)\n")
    assert size < 10_000_000
    d = embedded(page)
    assert d["prompts"][0]["heat"]["mean"]["n"] == 8192  # still full resolution
    assert len(d["prompts"][0]["records"]["rows"]) == int((res.sinks["prompt"] == 0).sum())


def test_page_without_secondary_sinks():
    res = synthetic_result((400,)).reanalyze(k=1e9)  # nothing passes the score test
    assert res.summary().n_secondary == 0
    d = embedded(rh.build_html(res))
    assert d["levels"]["n_sinks"] == 0 and d["secondary"]["rows"] == []
    assert d["summary"]["n_secondary"] == 0


def test_page_is_rendered_from_the_assets(page2):
    """The page is the template with the CSS and the JS inlined: nothing of Jinja is left."""
    from sinkscope.report.templates import asset_text

    for mark in ("{{", "{%", "{#"):  # ("}}" occurs in the CSS: nested rules of @media)
        assert mark not in page2, mark
    css, js = asset_text("report.css"), asset_text("report.js")
    assert f"<style>\n{css}</style>" in page2
    assert f"<script>\n{js}</script>" in page2
    assert page2.count(css) == 1 and page2.count(js) == 1
    assert page2.rstrip().endswith("</html>")


def test_page_has_the_properties_section(page2):
    assert page2.count('<section id="properties"') == 1 and 'href="#properties"' in page2
    assert "docs/method.md §8" in page2


def test_write_report_is_atomic(tmp_path, res2, monkeypatch):
    d = tmp_path / "run"
    res2.save(d)
    files = rh.write_report(res2, d, figures=False)
    assert files.html == d / "report.html" and files.size_bytes == files.html.stat().st_size
    before = files.html.read_text()

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rh, "build_html", boom)
    with pytest.raises(RuntimeError):
        rh.write_report(res2, d, figures=False)
    assert files.html.read_text() == before
    assert not [p for p in d.iterdir() if p.name.startswith(".report.html")]
    soft = rh.write_report(res2, d, figures=False, strict=False)  # what `scan` uses
    assert soft.html is None and "disk on fire" in soft.error


def test_write_report_to_unwritable_place(tmp_path, res2):
    from sinkscope.core.errors import InputError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError):
        rh.write_report(res2, blocker / "sub" / "r.html", figures=False)


def test_cli_report(tmp_path, res2):
    from sinkscope.cli import app

    d = tmp_path / "run"
    res2.save(d)
    pd.DataFrame({"prompt": [0], "position": [8], "delta_lifetime": [-7]}).to_parquet(d / "interventions.parquet")
    runner = CliRunner()
    r = runner.invoke(app, ["report", str(d)])
    assert r.exit_code == 0, r.output
    assert (d / "report.html").exists()
    assert sorted(p.name for p in (d / "figures").iterdir()) == sorted(
        f"{n}.{e}" for n in FIGURE_NAMES for e in ("png", "svg"))
    assert '<section id="interventions"' in (d / "report.html").read_text()
    out = tmp_path / "elsewhere" / "r.html"
    r = runner.invoke(app, ["report", str(d), "--out", str(out), "--no-figures"])
    assert r.exit_code == 0, r.output
    assert out.exists()
    assert not (tmp_path / "elsewhere" / "figures").exists()


def test_cli_report_on_an_intervention_folder(tmp_path, res2):
    """`auto` / `intervene` / `dose` outputs keep the clean scan in clean/ and their tables and a
    json summary at the top: the report shows the clean scan with those tables."""
    from sinkscope.cli import app

    d = tmp_path / "auto"
    res2.save(d / "clean")
    pd.DataFrame({"prompt": [0, 1], "mode": ["zero", "zero"], "position": [8, 40], "token": [" ", "\n"],
                  "delta_lifetime": [-7, -5], "removed": [True, False]}).to_parquet(d / "auto.parquet")
    (d / "auto.json").write_text(json.dumps({"summary": {"n_sinks": 2, "modes": {"zero": {"share_removed": 0.5,
                                             "mean_score_after": None}}}, "sinks": []}))
    r = CliRunner().invoke(app, ["report", str(d), "--no-figures"])
    assert r.exit_code == 0, r.output
    page = (d / "report.html").read_text()
    extra = embedded(page)["extra"]
    assert list(extra) == ["auto summary", "auto"]
    assert ["modes.zero.share_removed", 0.5] in extra["auto summary"]["rows"]
    assert ["modes.zero.mean_score_after", None] in extra["auto summary"]["rows"]
    assert extra["auto"]["rows"][0][5] is True
    assert len(embedded(page)["prompts"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [(["report", "/nonexistent/run"], "not a folder"), (["report", "."], "not a sinkscope result folder")],
)
def test_cli_report_bad_input(tmp_path, args, message, monkeypatch):
    from sinkscope.cli import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1
    assert message in r.output and "Traceback" not in r.output


@pytest.mark.realmodel
def test_every_scan_writes_the_report(tmp_path, smollm2):
    from sinkscope.cli import app

    out = tmp_path / "run"
    text = "Tom has 3 apples and buys 4 more, so he has 3 + 4 = 7 apples. Then he gives 2 away: 7 - 2 = 5."
    r = CliRunner().invoke(app, ["scan", text, "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text()
    d = embedded(page)
    assert d["model"]["ref"] == "smollm2-135m"
    assert len(d["prompts"][0]["records"]["rows"]) == len(pd.read_parquet(out / "sinks.parquet"))
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(FIGURE_NAMES)


def test_report_shows_gates_and_learned_sinks():
    """report.html: cards and the per layer and head tables of docs/method.md §12 / §13 when the model
    has gates or learned sink logits; nothing of them for a model without."""
    from tests.report.test_console import gated_scans

    gated, sinks = gated_scans()
    h = rh.build_html(gated)
    assert 'id="gates"' in h and "Output gates (docs/method.md §12)" in h and "Learned sink logits" not in h
    n_rows = len(gated.gates)
    assert h.count("<tr") >= n_rows
    h2 = rh.build_html(sinks)
    assert "Learned sink logits (docs/method.md §13)" in h2 and "Output gates" not in h2
    assert f"{sinks.summary().learned_sink_sink_mass:.3g}" in h2
