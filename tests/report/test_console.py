"""Terminal output of `scan` (report/console.py): the tables and the findings block, as text."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from sinkscope.report import console as C
from tests.report.reportsynth import synthetic_result


@pytest.fixture(scope="module")
def res2():
    return synthetic_result((400, 900))


def quiet_console() -> Console:
    return Console(record=True, width=240, color_system=None, file=io.StringIO())


def text_of(renderable) -> str:
    con = quiet_console()
    con.print(renderable)
    return con.export_text()


def body_rows(out: str) -> list[list[str]]:
    """Cells of the body rows of a rich table rendered as text."""
    return [[c.strip() for c in ln.strip().strip("│").split("│")] for ln in out.splitlines() if ln.startswith("│")]


def test_token_label():
    assert C.token_label("Paris") == "Paris"
    assert C.token_label("\n") == "\\n"
    assert C.token_label(" ") == " "
    assert C.token_label("") == ""
    assert C.token_label(" a") == " a"


def test_prompts_table_counts(res2):
    t = C.prompts_table(res2)
    assert t.row_count == 2
    out = text_of(t)
    assert "synthetic-30l" in out and "general mode" in out
    cells = body_rows(out)
    assert len(cells) == 2
    for i, row in enumerate(cells):
        rec = res2.sinks[(res2.sinks["prompt"] == i) & ~res2.sinks["is_primary_position"]]
        assert row[0] == str(i) and row[1] == str(res2.prompts[i].n_tokens)
        assert row[2] == "0 '<|im_start|>'"
        assert row[3] == "blocks 10-26"  # the planted window [10, 27), printed inclusive
        own = res2.sinks[(res2.sinks["prompt"] == i) & res2.sinks["is_primary_position"]].iloc[0]
        assert row[4] == C._fmt(float(own["mean_score"])) and row[5] == C._fmt(float(own["score_ratio"]))
        assert row[6] == str(int((rec["kind"] == "secondary").sum()))
        assert row[8] == str(int((rec["kind"] == "noise").sum()))
    assert [r[6] for r in cells] == ["3", "4"] and cells[1][8] == "1"  # the planted sinks of reportsynth


def test_sinks_table_top(res2):
    t = C.sinks_table(res2.sinks, top=5)
    assert t.row_count == 5
    out = text_of(t)
    assert "top 5 non-noise" in out
    rows = body_rows(out)
    others = res2.sinks[~res2.sinks["is_primary_position"]]
    keep = others[others["kind"] != "noise"].sort_values("mean_score", ascending=False)
    assert [int(r[1]) for r in rows] == [int(p) for p in keep["position"].head(5)]
    assert {r[3] for r in rows} <= {"primary-like", "secondary", "unclassified"}  # primaries: prompts_table
    assert rows[0][7] == C._fmt(float(keep["mean_score"].iloc[0]))
    n_noise = int((others["kind"] == "noise").sum())
    assert f"{len(keep) - 5} more not shown" in out and f"{n_noise} noise record(s) not shown" in out


def _with(sinks, **rows):
    """`sinks` plus one synthetic record per keyword (kind=mean_score), other columns copied."""
    import pandas as pd

    base = sinks[sinks["kind"] == "secondary"].iloc[0]
    extra = [{**base.to_dict(), "kind": kind, "mean_score": score, "position": 900 + i}
             for i, (kind, score) in enumerate(rows.items())]
    return pd.concat([sinks, pd.DataFrame(extra)], ignore_index=True)


def test_sinks_table_shows_every_class(res2):
    """Each class keeps a row even when another class outscores it: a weak primary-like record and
    a strong unclassified one both appear in a top-4 table of many stronger secondaries."""
    sinks = _with(res2.sinks, unclassified=10.0, primary=1e-6)
    rows = body_rows(text_of(C.sinks_table(sinks, top=4)))
    kinds = [r[3] for r in rows]
    assert kinds[0] == "unclassified" and "primary-like" in kinds and "secondary" in kinds
    assert "primary" not in kinds  # the primary positions are not in this table


def test_findings_lines(res2):
    s = res2.summary()
    rows = dict(C.findings_lines(s))
    assert rows["secondary sinks"].startswith(f"{s.n_secondary} over 2 prompt(s)")
    assert f"median birth block {C._fmt(s.median('birth'))}" in rows["birth / lifetime"]
    assert "Spearman(||m||, score)" in rows["norm law"] and f"n={s.norm_law_n}" in rows["norm law"]
    assert rows["primary weakening"].startswith("plateau score")
    assert rows["sink levels"].startswith(str(s.n_levels))
    assert "massive activations" not in rows


def test_findings_lines_without_secondary_sinks():
    res = synthetic_result((400,)).reanalyze(k=1e9)
    rows = dict(C.findings_lines(res.summary()))
    assert rows["secondary sinks"].startswith("0 over 1 prompt(s)")
    assert "norm law" not in rows and "birth / lifetime" not in rows
    assert rows["sink levels"] == "0"


def test_findings_lines_massive(res2):
    import pandas as pd

    massive = pd.DataFrame({"layer": [3, 5], "dim": [7, 7], "position": [0, 0], "ratio": [1500.0, 2500.0],
                            "over_1000": [True, True]})
    rows = dict(C.findings_lines(res2.summary(), massive, [(10, 27)]))
    assert rows["primary"].startswith("position 0, blocks 10-26, x")
    assert rows["massive activations"] == (">1000x median in blocks 3-5 (top: dim 7 at position 0, 2,500x); "
                                           "primary window blocks 10-26")


def test_print_scan_and_levels(res2):
    con = quiet_console()
    C.print_scan(res2, con, top=3)
    out = con.export_text()
    assert "sinks per prompt" in out and "(top 3 non-noise" in out and "findings" in out
    assert C.SINK_TABLE_LEGEND.split(";")[0] in out and "x base = mean_score / baseline: a sink needs >= k" in out
    con = quiet_console()
    C.print_levels(res2.findings.levels, con)
    out = con.export_text()
    lv = res2.findings.levels
    assert f"({len(lv.levels)} found over {lv.n_sinks} secondary sinks)" in out
    for i, level in enumerate(lv.levels):
        assert f"{level.birth_range[0]}-{level.birth_range[1]}" in out and f"L{i}" in out


def test_findings_lines_say_why_a_statistic_is_empty(res2):
    """Issue 13 point 6: a collapsed bootstrap interval and an undefined correlation are named."""
    import pandas as pd

    from sinkscope.analysis.normlaw import norm_law

    six = pd.DataFrame({"kind": ["secondary"] * 6, "mlp_norm": [1.0, 2, 3, 4, 5, 6],
                        "mean_score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "lifetime": [5] * 6})
    nl = norm_law(six)
    s = replace(res2.summary(), norm_law_n=nl.n, spearman_norm_score=nl.score.spearman,
                spearman_norm_score_ci=list(nl.score.spearman_ci), spearman_norm_score_ci_note=nl.score.ci_note,
                spearman_norm_lifetime=None, spearman_norm_lifetime_ci=[None, None],
                spearman_norm_lifetime_ci_note=None, norm_law_lifetime_reason=nl.lifetime.reason)
    row = dict(C.findings_lines(s))["norm law"]
    assert "Spearman(||m||, score) 1 (n = 6, interval not informative" in row
    assert "(||m||, lifetime) undefined (all 6 lifetime values are equal)" in row
    assert "[1, 1]" not in row


def test_findings_lines_without_a_dip():
    s = replace(synthetic_result((400,)).summary(), dip_layer=None, dip_ratio=None,
                weakening_reason="no middle layer after the plateau")
    row = dict(C.findings_lines(s))["primary weakening"]
    assert "no dip (no middle layer after the plateau)" in row and "block -" not in row


def test_self_check_text_says_what_was_checked():
    ok = {"status": "passed", "family": "llama", "tolerance": 1.9e-6, "max_residue": 4.0e-8, "worst_layer": 2}
    assert C.self_check_text(ok) == ("passed", "max relative residue 4.0e-08 <= 1.9e-06 (llama)")
    bad = {**ok, "status": "failed", "max_residue": 12.0, "message": "glm4: block 1 residue 12 (post_mlp_layernorm?)"}
    status, detail = C.self_check_text(bad)
    assert status == "failed" and detail.startswith("glm4: block 1") and "formation columns disabled" in detail
    assert C.self_check_text(None)[0] == "not recorded"
    rows = dict(C.findings_lines(synthetic_result((400,)).summary(), self_check=bad))
    assert rows["self-check"].startswith("failed: glm4")


def gated_scans():
    """Scans of random-init Qwen3-Next (gated attention, docs/method.md §12) and gpt-oss (learned sink
    logits, §13), two prompts each: the model's own numbers, not planted ones."""
    import sinkscope
    from sinkscope.models.base import LoadedModel
    from tests.capture.archs import ToyTokenizer, build
    from tests.capture.test_hybrid import build_hybrid

    texts = ["hello world, this is a test of the gates", "another prompt that is a little longer than the first one"]
    return [sinkscope.scan(LoadedModel.from_pair(m, ToyTokenizer(), ref="random"), texts)
            for m in (build_hybrid("qwen3_next"), build("gpt_oss"))]


def test_findings_lines_show_gates_and_learned_sinks():
    from sinkscope.report.console import findings_lines

    gated, sinks = gated_scans()
    g = dict(findings_lines(gated.summary()))
    s = gated.summary()
    assert "output gate" in g and "learned sink" not in g
    assert f"{s.gate_primary:.3g}" in g["output gate"]
    assert s.gate_primary == pytest.approx(gated.gates["gate_primary"].mean())
    ls = dict(findings_lines(sinks.summary()))
    assert "learned sink" in ls and "output gate" not in ls
    assert f"{sinks.summary().learned_sink_sink_mass:.3g}" in ls["learned sink"]
    assert not sinks.learned_sink.empty and sinks.gates.empty
    plain = dict(findings_lines(replace(s, gate_primary=None)))
    assert "output gate" not in plain


def test_regions_on_screen_only_with_a_response():
    """docs/method.md §3 regions: a region column and a "by region" row when a prompt has a response."""
    from sinkscope.analysis import analyze

    res = synthetic_result((400,))
    con = quiet_console()
    C.print_scan(res, con, top=5)
    out = con.export_text()
    assert "by region" not in out and "region" not in out.split("findings")[0]
    pt = res.prompts[0]
    pt.n_prompt_tokens = pt.n_tokens // 2
    res.findings = analyze(res.prompts, res.config)
    con = quiet_console()
    C.print_scan(res, con, top=5)
    out = con.export_text()
    counts = res.summary().n_secondary_by_region
    assert counts is not None and sum(counts.values()) == res.summary().n_secondary
    assert f"template {counts['template']}, prompt {counts['prompt']}, generated {counts['generated']}" in out
    header = next(ln for ln in out.splitlines() if "pos" in ln and "kind" in ln)
    assert "region" in header
