"""reproduce.render: the document is a pure function of the run dict; the committed
docs/REPRODUCTION.md is exactly what the renderer makes of the committed results.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sinkscope.workflows.reproduce import RULES, references, render, render_markdown, rules_markdown
from sinkscope.workflows.reproduce.render import table
from tests.workflows.reproduce.numbers import existence, levels, model, run_dict

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _tables(md: str) -> dict[str, list[str]]:
    """Section title -> the table rows (lines starting with '|') of that section."""
    out: dict[str, list[str]] = {}
    cur = None
    for line in md.splitlines():
        if line.startswith("## "):
            cur = line[3:]
            out[cur] = []
        elif cur is not None and line.startswith("|"):
            out[cur].append(line)
    return out


def test_committed_document_is_the_render_of_the_committed_results():
    run = json.loads((DOCS / "reproduction" / "results.json").read_text(encoding="utf-8"))
    # the short protocol's part, byte for byte (the long-protocol section may follow: test_long.py)
    assert (DOCS / "REPRODUCTION.md").read_text(encoding="utf-8").startswith(render_markdown(run) + "\n")


def test_render_one_table_per_claim_with_every_model_row():
    good = model("alpha")
    early = model("beta", existence=existence(share_middle=0.0, share_early=1.0, birth_layers=[1, 2],
                                               rel_birth={"median": 0.05, "q1": 0.04, "q3": 0.07, "min": 0.03, "max": 0.07}),
                  levels=levels(n_sinks=3))
    skipped = {"name": "gamma", "label": "gamma", "status": "not run", "reason": "could not load: boom"}
    md = render_markdown(run_dict([good, early, skipped]))
    tables = _tables(md)
    claims = [t for t in tables if t.startswith("Claim ")]
    assert [t.split(".")[0] for t in claims] == [f"Claim {c}" for c in range(1, 6)]
    for title in claims + ["Verdicts"]:
        rows = tables[title][2:]  # header + separator
        assert [r.split("|")[1].strip() for r in rows] == ["alpha", "beta", "gamma"], title
        # every row has the header's number of cells (a model not run is padded with "–")
        n_cols = tables[title][0].count(" | ") + 1
        assert all(r.replace("\\|", "").count(" | ") + 1 == n_cols for r in rows), title
    # verdicts follow the rules and show in the summary table and the claim tables
    summary = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:7]] for r in tables["Verdicts"][2:]}
    assert summary["alpha"] == ["reproduced"] * 5
    assert summary["beta"][0] == "partly" and summary["beta"][4] == "not testable here"
    assert summary["gamma"] == ["not testable here"] * 5
    assert "could not load: boom" in md
    # numbers, rules, figures and the mode are in the document
    assert "0.90 [0.80, 0.95]" in md  # Spearman with CI
    assert "8/9 (89%)" in md  # causal: removed by project-out
    assert "| 0 / 0 / 1 (1) |" in md  # causal: weakened / unchanged / strengthened (promoted)
    assert "project-out removes 8/9 (89%); weakens 0, leaves 0, strengthens 1 (promotes 1)" in md
    assert ("project-out at the birth block raises the attention 1 of the 9 edited sinks receive by more than the "
            "margin (1 of them promoted to primary-like), so they count as strengthened, not removed") in md
    assert "## Verdict rules" in md and rules_markdown() in md
    assert "![alpha normlaw](reproduction/alpha/normlaw.png)" in md
    assert "**Mode: FULL**" in md
    assert "born at blocks 1-2" in md  # the differences section quotes the numbers
    assert "| gamma | – | 4 | – | 32 | – | – | – | not run: could not load: boom |" in md  # setup row


def test_render_quick_mode_and_changed_numbers():
    run = run_dict([model("alpha")], mode="quick")
    md = render_markdown(run)
    assert "**Mode: QUICK**" in md and "a CI smoke run" in md
    changed = copy.deepcopy(run)
    changed["models"][0]["existence"]["n_secondary"] = 0
    assert "| alpha | not reproduced |" in render_markdown(changed)


def test_the_paper_facts_come_from_references_json(monkeypatch):
    refs = references()
    md = render_markdown(run_dict([model("alpha")]))
    assert md.startswith(f'# Reproduction: "{refs["paper"]["title"]}"\n')
    for c in range(1, 6):
        claim = refs["claims"][str(c)]
        assert f"## Claim {c}. {claim['title']}\n" in md and claim["short"] in md
        assert f"*Paper:* {claim['paper']}" in md
    assert "(3 levels in QwQ-32B, 6 in Qwen3-14B)." in md  # claim 5, from paper.levels
    assert "(paper: 3 in QwQ-32B, 6 in Qwen3-14B)" in md  # the differences section, the same list
    edited = copy.deepcopy(refs)
    edited["paper"]["levels"] = [{"model": "X-70B", "n": 4}]
    monkeypatch.setattr(render, "references", lambda: edited)
    assert "(4 levels in X-70B)." in render_markdown(run_dict([model("alpha")]))


def test_rules_text_uses_the_constants():
    txt = rules_markdown(dict(RULES, weak_ratio=0.3))
    assert "dip / plateau < 0.3" in txt
    assert "dip / plateau < 0.5" in rules_markdown()
    assert ">= 80% of the sinks together" in rules_markdown() and ">= 70%" in rules_markdown(dict(RULES, levels_cover=0.7))
    assert not rules_markdown().endswith("\n")


def test_table_escapes_cells_and_pads_rows_of_models_not_run():
    from sinkscope.workflows.reproduce.render import ClaimRow

    md = table(["model", "a", "b", "verdict", "reason"], [["x|y", "1\n2", 3, "v", "r"],
                                                          ClaimRow("z", None, "partly", "why")])
    assert md.splitlines() == [
        "| model | a | b | verdict | reason |",
        "|---|---|---|---|---|",
        "| x\\|y | 1 2 | 3 | v | r |",
        "| z | – | – | **partly** | why |",
    ]
