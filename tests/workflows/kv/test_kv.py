"""`sinkscope.kv.evaluate` and `sinkscope kv` (workflows.kv, docs/method.md §10)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sinkscope.kv
from sinkscope.capture.kv_policies import POLICIES, make_policy, run_policy
from sinkscope.cli import app
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.kv import (
    KVResult,
    KVText,
    bootstrap_mean_ci,
    read_texts,
    resolve_budget,
    resolve_prompt,
)
from sinkscope.workflows.outputs import result_kind
from tests.capture.archs import ToyTokenizer, build, random_ids

T = 130


@pytest.fixture(scope="module")
def toy():
    return LoadedModel.from_pair(build("llama"), ToyTokenizer())


@pytest.fixture(scope="module")
def texts():
    return [KVText(id=f"t{i}", token_ids=random_ids(T + 10 * i, 10 + i), n_prompt=40) for i in range(3)]


@pytest.fixture(scope="module")
def result(toy, texts):
    return sinkscope.kv.evaluate(toy, texts, POLICIES, [24, 0.5], n_boot=200)


def test_budget_at_least_T_gives_the_full_nll(toy, texts):
    res = sinkscope.kv.evaluate(toy, texts, POLICIES, [T + 100, 1.0], n_boot=50)
    assert (res.per_text["delta_nll"] == 0.0).all()
    full = res.per_text[res.per_text["policy"] == "full"].set_index(["text", "budget", "budget_fraction"])["nll"]
    for name in POLICIES:
        got = res.per_text[res.per_text["policy"] == name].set_index(["text", "budget", "budget_fraction"])["nll"]
        assert got.equals(full), name
    assert (res.dropped["dropped_mass"] == 0.0).all()


def test_table_scores_the_positions_after_the_prompt(toy, texts, result):
    # the workflow's numbers are the capture's per-token NLL over [P, T - 1), P rounded to 32
    t = texts[1]
    P = resolve_prompt(t, None)
    assert P == 32
    run = run_policy(toy, t.token_ids, make_policy("streaming", 24, prompt_len=P))
    ref = run_policy(toy, t.token_ids, None)
    row = result.per_text[(result.per_text["text"] == "t1") & (result.per_text["policy"] == "streaming")
                          & (result.per_text["budget"] == 24)].iloc[0]
    assert row["nll"] == pytest.approx(float(run.nll[P:].mean()), abs=1e-9)
    assert row["delta_nll"] == pytest.approx(float(run.nll[P:].mean() - ref.nll[P:].mean()), abs=1e-9)
    assert row["n_scored"] == len(t.token_ids) - 1 - P


def test_table_columns_and_interval(result):
    tab = result.table
    assert set(tab["policy"]) == set(POLICIES)
    # budgets are numbers: a count in `budget` (nullable int), a fraction in `budget_fraction`
    assert str(tab["budget"].dtype) == "Int64" and tab["budget_fraction"].dtype == np.float64
    assert len(tab[tab.budget == 24]) == len(POLICIES) and len(tab[tab.budget_fraction == 0.5]) == len(POLICIES)
    assert tab.loc[tab.budget == 24, "budget_fraction"].isna().all()
    assert tab.loc[tab.budget_fraction == 0.5, "budget"].isna().all()
    for r in tab.itertuples():
        assert r.n_texts == 3
        assert r.ci_lo <= r.delta_nll + 1e-12 and r.delta_nll <= r.ci_hi + 1e-12
        assert r.ppl == pytest.approx(np.exp(r.mean_nll))
    assert result.row("full", 24)["delta_nll"] == 0.0
    assert result.row("recent", 24)["delta_nll"] != 0.0
    # the fraction resolves per text: round(0.5 * T)
    half = result.per_text[(result.per_text["budget_fraction"] == 0.5) & (result.per_text["policy"] == "recent")]
    assert list(half["keys"]) == [round(0.5 * n) for n in half["n_tokens"]]
    drop = result.dropped
    assert set(drop["layer"]) == {0, 1, 2}
    assert ((drop["dropped_mass"] > 0) & (drop["dropped_mass"] < 1)).all()


def test_save_load_and_outputs(result, tmp_path):
    d = result.save(tmp_path / "kv")
    assert result_kind(d) == "kv"
    for name in ("manifest.json", "kv.parquet", "texts.parquet", "dropped.parquet", "report.html",
                 "figures/kv_delta.png", "figures/kv_delta.svg", "figures/kv_dropped.svg"):
        assert (d / name).is_file(), name
    html = (d / "report.html").read_text()
    assert "streaming+secondary" in html and "<svg" in html and "<script" not in html
    back = KVResult.load(d)
    pd.testing.assert_frame_equal(back.table, result.table)
    assert back.manifest["parameters"]["block"] == 32
    with pytest.raises(InputError):
        result.save(d)  # exists, no overwrite
    result.save(d, overwrite=True)


def test_bootstrap_interval():
    x = np.random.default_rng(1).normal(0.3, 1.0, size=400)
    lo, hi = bootstrap_mean_ci(x, 2000, 0)
    assert lo < 0.3 < hi and hi - lo < 0.3
    assert bootstrap_mean_ci(x, 500, 3) == bootstrap_mean_ci(x, 500, 3)
    assert bootstrap_mean_ci(np.array([2.0]), 10, 0) == (2.0, 2.0)
    assert all(np.isnan(bootstrap_mean_ci(np.array([]), 10, 0)))


def test_resolve_budget_and_prompt():
    assert resolve_budget(64, 1000) == 64
    assert resolve_budget(0.25, 1000) == 250
    for bad in (0, 1.5, -3):
        with pytest.raises(InputError, match="budget"):
            resolve_budget(bad, 100)
    t = KVText("a", list(range(200)), n_prompt=70)
    assert resolve_prompt(t, None) == 64
    assert resolve_prompt(t, 0.5) == 96
    assert resolve_prompt(t, 31) == 0
    assert resolve_prompt(KVText("b", list(range(200))), None) == 96


def test_read_texts(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"id": "x", "model": "m", "n_prompt_tokens": 2, "token_ids": [1, 2, 3]}) + "\n\n"
                 + json.dumps({"text": "hello"}) + "\n")
    got = read_texts(p)
    assert got[0] == KVText("x", [1, 2, 3], 2, "m") and got[1] == "hello"
    assert len(read_texts(p, limit=1)) == 1
    p.write_text('{"token_ids": [1, "a"]}\n')
    with pytest.raises(InputError, match="t.jsonl:1"):
        read_texts(p)
    p.write_text('{"token_ids": [1, 2], "n_prompt_tokens": 5}\n')
    with pytest.raises(InputError, match="n_prompt_tokens"):
        read_texts(p)


def test_evaluate_rejects_bad_input(toy):
    with pytest.raises(InputError, match="unknown KV policy"):
        sinkscope.kv.evaluate(toy, ["abc" * 30], ["lru"], [8])
    with pytest.raises(InputError, match="no position after its prompt"):
        sinkscope.kv.evaluate(toy, [KVText("s", random_ids(33, 0), n_prompt=33)], ["recent"], [8])


def test_cli_help_and_bad_options(tmp_path):
    r = CliRunner().invoke(app, ["kv", "--help"])
    assert r.exit_code == 0 and "streaming+secondary" in r.output and "Examples" in r.output
    r = CliRunner().invoke(app, ["kv", "some text", "--budget", "abc", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "--budget" in r.output
    r = CliRunner().invoke(app, ["kv", "some text", "--policy", "lru", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "--policy" in r.output
    trace = tmp_path / "tr.jsonl"
    trace.write_text(json.dumps({"model": "gemma3-270m", "token_ids": [1, 2, 3]}) + "\n")
    r = CliRunner().invoke(app, ["kv", "--file", str(trace), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "gemma3-270m" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.realmodel
def test_cli_smollm2_trace(tmp_path):
    trace = tmp_path / "tr.jsonl"
    ids = list(range(1, 200))
    trace.write_text(json.dumps({"id": "a", "model": "smollm2-135m", "n_prompt_tokens": 64, "token_ids": ids}) + "\n")
    r = CliRunner().invoke(app, ["kv", "--file", str(trace), "--budget", "48", "--policy", "streaming",
                                 "--policy", "heavy-hitter", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    res = KVResult.load(tmp_path / "o")
    assert set(res.table["policy"]) == {"streaming", "heavy-hitter"}
    assert (res.table["delta_nll"].abs() > 0).all()
