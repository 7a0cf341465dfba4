"""`sinkscope reproduce`: verdict rules on hand-made numbers, the pure document renderer, the
prompt subset, and (real weights) the quick run end to end."""

from __future__ import annotations

import copy
import json
import re

import pytest
from typer.testing import CliRunner

from sinkscope.core.errors import InputError
from sinkscope.workflows.reproduce import (
    CATALOG_DECODERS,
    CATEGORY_PATTERN,
    RULES,
    VERDICTS,
    Plan,
    bundled_prompts,
    choose_threads,
    distinct_sinks,
    pick_causal_targets,
    prefix_keys,
    render_markdown,
    resolve_plans,
    rules_markdown,
    select_prompts,
    summarize_model,
    verdict_existence,
    verdict_formation,
    verdict_levels,
    verdict_norm_law,
    verdict_weakening,
    verdicts,
    write_outputs,
)


# ---- hand-made numbers -------------------------------------------------------------------------
def existence(**kw):
    d = {
        "n_layers": 24, "n_prompts": 4, "n_tokens": 2000, "n_tokens_distinct": 1950, "n_secondary": 20,
        "n_secondary_records": 26, "per_1k_tokens": 10.3, "n_prompts_with_secondary": 4, "share_in_generated": 0.5,
        "shared_prefix_tokens": 24, "share_in_shared_prefix": 0.1,
        "position": {"median": 150.0, "q1": 80.0, "q3": 300.0, "min": 5.0, "max": 450.0},
        "n_primary_like": 0, "birth_layers": [8, 14],
        "rel_birth": {"median": 0.5, "q1": 0.4, "q3": 0.6, "min": 0.35, "max": 0.61},
        "share_early": 0.0, "share_middle": 1.0, "share_late": 0.0,
        "lifetime": {"median": 8.0, "q1": 6.0, "q3": 10.0, "min": 5.0, "max": 12.0},
        "mean_score_secondary": 0.05, "mean_score_primary": 0.4, "score_ratio": 0.125,
        "top_tokens": [[" the", 10], ["\n", 5]], "n_secondary_centred": 18,
    }
    d.update(kw)
    return d


def causal(**kw):
    d = {"mode": "project-out", "n_prompts": 3, "n_sinks": 9, "n_removed": 8, "share_removed": 8 / 9,
         "mean_delta_score": -0.04, "mean_score_before": 0.05, "mean_delta_lifetime": -6.0,
         "mean_delta_primary_score": 0.01, "mean_delta_nll": 0.02, "max_delta_nll": 1.5}
    d.update(kw)
    return d


def formation(**kw):
    d = {"n": 20, "median_cos": 0.97, "median_cos_primary_mlp": 0.99, "share_abs_cos_09": 0.9,
         "median_mlp_share": 0.95, "median_mlp_norm": 300.0, "causal": causal()}
    d.update(kw)
    return d


def norm_law(**kw):
    d = {"n": 20, "n_distinct_lifetimes": 6, "spearman_score": 0.9, "spearman_score_ci": [0.8, 0.95], "pearson_score": 0.85,
         "pearson_score_ci": [0.7, 0.9], "spearman_lifetime": 0.6, "spearman_lifetime_ci": [0.3, 0.8],
         "pearson_lifetime": 0.55, "pearson_lifetime_ci": [0.2, 0.8], "reason_score": None,
         "reason_lifetime": None, "n_boot": 2000}
    d.update(kw)
    return d


def weakening(**kw):
    d = {"n_layers": 24, "window": [2, 21], "plateau": 0.4, "plateau_layer": 4, "dip_layer": 12,
         "dip_rel_depth": 0.52, "dip_score": 0.08, "dip_ratio": 0.2, "weakened_layers": [8, 9, 10, 11, 12, 13],
         "n_births": 20.0, "coincides_with_births": 0.8, "share_prompts_weakened": 0.75, "reason": None}
    d.update(kw)
    return d


def levels(**kw):
    d = {"n_layers": 24, "n_sinks": 20, "n_levels": 2, "n_clusters": 3, "levels": [
        {"birth": [8, 9], "lifetime": [5, 6], "count": 10, "share": 0.5, "top_tokens": [[" the", 6]]},
        {"birth": [13, 14], "lifetime": [10, 11], "count": 9, "share": 0.45, "top_tokens": [["\n", 4]]},
    ]}
    d.update(kw)
    return d


def model(name="m-a", **parts):
    entry = {
        "name": name, "label": name, "status": "ok", "reason": None, "params": "1B",
        "existence": existence(), "formation": formation(), "norm_law": norm_law(),
        "weakening": weakening(), "levels": levels(),
        "setup": {"n_prompts": 4, "categories": {"math": 2, "code": 1, "prose": 1}, "chat": True, "generate": 32,
                  "prompt_tokens": {"min": 100, "max": 300, "median": 200.0, "total": 800},
                  "generated_tokens": 128, "tokens_total": 928},
        "timings": {"load_s": 1.0, "scan_s": 30.0, "interventions_s": 5.0, "figures_s": 2.0, "total_s": 38.0},
        "figures": {"normlaw": f"reproduction/{name}/normlaw.png", "weakening": f"reproduction/{name}/weakening.png",
                    "levels": f"reproduction/{name}/levels.png"},
        "scan_dir": f"reproduce-runs/{name}/scan",
    }
    entry.update(parts)
    return entry


# ---- verdict rules: each verdict reachable per claim ---------------------------------------------
def test_existence_verdicts():
    assert verdict_existence(existence())["verdict"] == "reproduced"
    early = verdict_existence(existence(share_middle=0.0, share_early=1.0, rel_birth={"median": 0.07}))
    assert early["verdict"] == "partly" and "0% born in middle layers" in early["reason"]
    assert verdict_existence(existence(n_secondary=3))["verdict"] == "partly"
    assert verdict_existence(existence(score_ratio=1.3))["verdict"] == "partly"
    none = verdict_existence(existence(n_secondary=0))
    assert none["verdict"] == "not reproduced" and "2000 tokens" in none["reason"]
    assert verdict_existence(None)["verdict"] == "not testable here"
    assert verdict_existence(existence(n_tokens=0))["verdict"] == "not testable here"


def test_formation_verdicts():
    assert verdict_formation(formation())["verdict"] == "reproduced"
    # observational only: the causal check failed, or was not run
    assert verdict_formation(formation(causal=causal(n_removed=1, share_removed=1 / 9)))["verdict"] == "partly"
    no_c = verdict_formation(formation(causal=None))
    assert no_c["verdict"] == "partly" and "no causal check" in no_c["reason"]
    # causal only
    assert verdict_formation(formation(median_cos=0.1, share_abs_cos_09=0.1))["verdict"] == "partly"
    both_fail = formation(median_cos=0.1, share_abs_cos_09=0.1, causal=causal(n_removed=0, share_removed=0.0))
    assert verdict_formation(both_fail)["verdict"] == "not reproduced"
    assert verdict_formation(formation(median_mlp_share=0.2, causal=None))["verdict"] == "not reproduced"
    assert verdict_formation(formation(n=0))["verdict"] == "not testable here"


def test_norm_law_verdicts():
    r = verdict_norm_law(norm_law())
    assert r["verdict"] == "reproduced" and "n = 20" in r["reason"]
    assert verdict_norm_law(norm_law(spearman_lifetime_ci=[-0.2, 0.7]))["verdict"] == "partly"
    const = verdict_norm_law(norm_law(spearman_lifetime=None, spearman_lifetime_ci=[None, None],
                                      reason_lifetime="lifetime is constant over the 20 points"))
    assert const["verdict"] == "partly" and "constant" in const["reason"]
    assert verdict_norm_law(norm_law(spearman_score_ci=[-0.1, 0.9], spearman_lifetime_ci=[-0.5, 0.5]))["verdict"] == "not reproduced"
    few = verdict_norm_law(norm_law(n_distinct_lifetimes=2))
    assert few["verdict"] == "partly" and "only 2 distinct lifetimes" in few["reason"]
    assert verdict_norm_law(norm_law(n=9))["verdict"] == "not testable here"
    assert verdict_norm_law(norm_law(spearman_score=None, reason_score="mlp_norm is constant"))["verdict"] == "not testable here"


def test_weakening_verdicts():
    assert verdict_weakening(weakening())["verdict"] == "reproduced"
    assert verdict_weakening(weakening(coincides_with_births=0.1))["verdict"] == "partly"
    assert verdict_weakening(weakening(coincides_with_births=None))["verdict"] == "partly"
    mild = verdict_weakening(weakening(dip_ratio=0.6, weakened_layers=[], coincides_with_births=0.0))
    assert mild["verdict"] == "partly" and "mild" in mild["reason"]
    assert verdict_weakening(weakening(dip_ratio=0.95, weakened_layers=[], coincides_with_births=0.0))["verdict"] == "not reproduced"
    nt = verdict_weakening(weakening(dip_ratio=None, reason="no middle layer after the plateau"))
    assert nt["verdict"] == "not testable here" and "no middle layer" in nt["reason"]


def test_levels_verdicts():
    assert verdict_levels(levels())["verdict"] == "reproduced"
    one = levels(n_levels=1, levels=[{"birth": [2, 2], "lifetime": [6, 8], "count": 20, "share": 1.0, "top_tokens": []}])
    r = verdict_levels(one)
    assert r["verdict"] == "partly" and "single level" in r["reason"]
    # one cluster smeared over most of the network is not discrete
    smear = levels(n_levels=1, levels=[{"birth": [1, 20], "lifetime": [5, 20], "count": 20, "share": 1.0, "top_tokens": []}])
    assert verdict_levels(smear)["verdict"] == "not reproduced"
    assert verdict_levels(levels(n_levels=0, levels=[]))["verdict"] == "not reproduced"
    assert verdict_levels(levels(n_sinks=4))["verdict"] == "not testable here"


def test_not_run_model_is_not_testable_everywhere():
    vs = verdicts({"name": "gemma3-270m", "status": "not run", "reason": "not run in quick mode"})
    assert set(vs) == {1, 2, 3, 4, 5}
    assert all(v["verdict"] == "not testable here" and v["reason"] == "not run in quick mode" for v in vs.values())
    assert all(v["verdict"] in VERDICTS for v in verdicts(model()).values())


# ---- the document --------------------------------------------------------------------------------
def _run(models, mode="full"):
    return {"mode": mode, "created": "2026-01-01T00:00:00+00:00", "command": "sinkscope reproduce",
            "environment": {"cpus": 2, "threads": 1, "python": "3.11", "torch": "2.13", "transformers": "5.24",
                            "sinkscope": "0.1.0"},
            "config": {"mode": "general", "tau": 0.9, "cosine": "raw", "k": 3.0},
            "rules": dict(RULES), "plans": {m["name"]: {"prompts": 4, "generate": 32, "intervene_prompts": 3, "max_sinks": 3} for m in models},
            "models": models, "timings": {"total_s": 120.0}}


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


def test_render_one_table_per_claim_with_every_model_row():
    good = model("alpha")
    early = model("beta", existence=existence(share_middle=0.0, share_early=1.0, birth_layers=[1, 2],
                                               rel_birth={"median": 0.05, "q1": 0.04, "q3": 0.07, "min": 0.03, "max": 0.07}),
                  levels=levels(n_sinks=3))
    skipped = {"name": "gamma", "label": "gamma", "status": "not run", "reason": "could not load: boom"}
    md = render_markdown(_run([good, early, skipped]))
    tables = _tables(md)
    claims = [t for t in tables if t.startswith("Claim ")]
    assert [t.split(".")[0] for t in claims] == [f"Claim {c}" for c in range(1, 6)]
    for title in claims + ["Verdicts"]:
        rows = tables[title][2:]  # header + separator
        assert [r.split("|")[1].strip() for r in rows] == ["alpha", "beta", "gamma"], title
    # verdicts follow the rules and show in the summary table and the claim tables
    summary = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:7]] for r in tables["Verdicts"][2:]}
    assert summary["alpha"] == ["reproduced"] * 5
    assert summary["beta"][0] == "partly" and summary["beta"][4] == "not testable here"
    assert summary["gamma"] == ["not testable here"] * 5
    assert "could not load: boom" in md
    # numbers, rules, figures and the mode are in the document
    assert "0.90 [0.80, 0.95]" in md  # Spearman with CI
    assert "8/9 (89%)" in md  # causal: removed by project-out
    assert "## Verdict rules" in md and rules_markdown() in md
    assert "![alpha normlaw](reproduction/alpha/normlaw.png)" in md
    assert "**Mode: FULL**" in md
    assert "born at blocks 1-2" in md  # the differences section quotes the numbers


def test_render_quick_mode_and_rebuild_from_json(tmp_path):
    run = _run([model("alpha")], mode="quick")
    doc = write_outputs(run, tmp_path)
    md = doc.read_text()
    assert "**Mode: QUICK**" in md
    stored = json.loads((tmp_path / "reproduction" / "results.json").read_text())
    assert stored["verdicts"]["alpha"]["1"]["verdict"] == "reproduced"
    # the document is a pure function of the stored results
    assert render_markdown(stored) + "\n" == md
    # and changing a number changes the verdict
    changed = copy.deepcopy(stored)
    changed["models"][0]["existence"]["n_secondary"] = 0
    assert "| alpha | not reproduced |" in render_markdown(changed)


def test_rules_text_uses_the_constants():
    txt = rules_markdown(dict(RULES, weak_ratio=0.3))
    assert "dip / plateau < 0.3" in txt
    assert "dip / plateau < 0.5" in rules_markdown()


# ---- distinct sinks (shared prefixes) ------------------------------------------------------------
def _two_prompt_scan(change_at: int):
    """Two synthetic prompts (tests/analysis/synth.py, 5 secondary sinks each at positions 20, 35,
    50, 64, 70) whose token ids agree up to `change_at`."""
    from sinkscope.analysis import DetectConfig, analyze
    from sinkscope.capture.trace import CaptureSettings, Trace
    from sinkscope.workflows.scan import ScanResult
    from tests.analysis import synth

    a, b = synth.make_trace(synth.spec24()), synth.make_trace(synth.spec24())
    b.token_ids = b.token_ids.copy()
    b.token_ids[change_at] += 1000
    cfg = DetectConfig()
    manifest = {"prompts": [{"n_prompt_tokens": 100}, {"n_prompt_tokens": 100}]}
    return ScanResult(Trace(prompts=[a, b], settings=CaptureSettings()), analyze([a, b], cfg), cfg, manifest)


def test_prefix_keys():
    a, b = prefix_keys([1, 2, 3, 4]), prefix_keys([1, 2, 9, 4])
    assert a[:2] == b[:2] and a[2] != b[2] and a[3] != b[3]  # same token after a different prefix differs


def test_distinct_sinks_counts_a_sink_in_a_shared_prefix_once():
    res = _two_prompt_scan(change_at=30)
    assert len(res.findings.secondary) == 10
    d = distinct_sinks(res)
    sec = d.res.findings.secondary
    # the sink at position 20 lies in the shared prefix [0, 30): kept once (prompt 0)
    assert d.n_records == 10 and len(sec) == 9
    assert sorted(sec.loc[sec["position"] == 20, "prompt"]) == [0]
    assert d.shared_prefix == 30 and d.n_tokens_distinct == 128 + 98
    assert d.res.findings.norm_law.n == 9 and d.res.findings.levels.n_sinks == 9
    e = summarize_model(d)["existence"]
    assert e["n_secondary"] == 9 and e["n_secondary_records"] == 10
    assert e["share_in_shared_prefix"] == pytest.approx(1 / 9)
    assert e["per_1k_tokens"] == pytest.approx(1000 * 9 / 226)
    assert e["birth_layers"] == [0, 10] and e["share_in_generated"] == 0.0
    # nothing shared: nothing dropped
    assert len(distinct_sinks(_two_prompt_scan(change_at=0)).res.findings.secondary) == 10


def test_causal_targets_are_distinct_and_capped():
    d = distinct_sinks(_two_prompt_scan(change_at=100))  # every sink of prompt 1 repeats prompt 0's
    picks = pick_causal_targets(d, Plan(1, 0, intervene_prompts=2, max_sinks=3))
    # prompt 0: its 3 strongest (scores 0.26, 0.22, 0.18); prompt 1: the other two, not the repeats
    assert [(i, t) for i, t, _ in picks] == [(0, 70), (0, 64), (0, 35), (1, 50), (1, 20)]
    assert [b for _, _, b in picks] == [0, 7, 8, 10, 6]
    assert len(pick_causal_targets(d, Plan(1, 0, intervene_prompts=1, max_sinks=2))) == 2


# ---- prompts, plans, threads -------------------------------------------------------------------
def test_select_prompts_is_deterministic_prefix_and_math_first():
    rows = bundled_prompts()
    a, b = select_prompts(12, rows), select_prompts(32, rows)
    assert [r["id"] for r in a] == [r["id"] for r in b[:12]]
    assert [r["category"] for r in a[:6]] == list(CATEGORY_PATTERN)
    assert a[0]["category"] == "math"
    cats = [r["category"] for r in b]
    assert cats.count("math") == 16
    assert len({r["id"] for r in select_prompts(500, rows)}) == len(rows)  # all, no repeats
    with pytest.raises(InputError):
        select_prompts(0, rows)


def test_resolve_plans():
    full = resolve_plans(None, quick=False)
    assert list(full) == list(CATALOG_DECODERS)
    # bigger models get less work (forward and generation cost grow with size)
    assert full["qwen2.5-coder-1.5b"].prompts * full["qwen2.5-coder-1.5b"].generate < full["smollm2-135m"].prompts * full["smollm2-135m"].generate
    quick = resolve_plans(None, quick=True)
    assert list(quick) == ["smollm2-135m"]
    assert resolve_plans(["gemma3-270m"], quick=False, prompts=3, generate=7)["gemma3-270m"] == Plan(3, 7, 3, 3)
    with pytest.raises(InputError, match="unknown model"):
        resolve_plans(["gpt-5"], quick=False)
    with pytest.raises(InputError):
        resolve_plans(None, quick=True, prompts=0)
    with pytest.raises(InputError):
        resolve_plans(None, quick=True, generate=-1)


def test_choose_threads():
    assert choose_threads(3) == 3
    assert choose_threads(None) >= 1
    with pytest.raises(InputError):
        choose_threads(0)


def test_cli_rejects_unknown_model(tmp_path):
    from sinkscope.cli import app

    r = CliRunner().invoke(app, ["reproduce", "--models", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "unknown model" in r.output


# ---- real weights: the quick run end to end ------------------------------------------------------
@pytest.mark.realmodel
def test_quick_reproduce_on_smollm2(tmp_path, smollm2):
    from sinkscope.cli import app
    from sinkscope.workflows.scan import ScanResult

    out = tmp_path / "docs"
    r = CliRunner().invoke(app, ["reproduce", "--quick", "--out", str(out), "--work", str(tmp_path / "runs")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "6 prompts" in r.output and "generate 48 tokens" in r.output  # the plan is printed first
    assert re.search(r"smollm2-135m\s+\d+\.\d min", r.output)  # time per model
    md = (out / "REPRODUCTION.md").read_text()
    assert "**Mode: QUICK**" in md
    run = json.loads((out / "reproduction" / "results.json").read_text())
    smol = next(m for m in run["models"] if m["name"] == "smollm2-135m")
    assert smol["status"] == "ok"
    # METHOD.md: SmolLM2's secondary sinks exist, are born at blocks 1-2 and are written by the MLP
    e, fm = smol["existence"], smol["formation"]
    assert e["n_secondary"] >= 5 and e["birth_layers"][1] <= 3
    assert fm["median_cos"] > 0.9 and fm["causal"]["n_sinks"] >= 1
    assert smol["norm_law"]["spearman_score"] > 0.5
    # the table rows carry those numbers
    assert (f"| smollm2-135m | 30 | {e['n_tokens']} ({e['n_tokens_distinct']}) | "
            f"{e['n_secondary']} ({e['n_secondary_records']}) |") in md
    for m in CATALOG_DECODERS[1:]:
        assert f"| {m} | not testable here |" in md  # every model row, not run in quick mode
    for key in ("normlaw", "weakening", "levels"):
        png = out / "reproduction" / "smollm2-135m" / f"{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"reproduction/smollm2-135m/{key}.png" in md
    # the scan folder is a normal scan result (so `sinkscope report` works on it)
    res = ScanResult.load(smol["scan_dir"])
    assert res.findings.n_prompts == 6 and res.summary()["n_secondary"] == e["n_secondary"]
    assert (tmp_path / "runs" / ".gitignore").read_text().strip().endswith("*")
