"""workflows/sweep/compare.py: summarize / compare / to_markdown with exact expected values.

The store is written with the store's own writer (`SweepStore.write_unit` / `write_skipped`, as a
sweep does) from small hand-made tables, so every number of the summary is known in advance:

model "a" (6 blocks): prompts 0-2 done, prompt 3 skipped.
    prompt  tokens  primary  window   secondary sinks (birth, lifetime)
    0       100     0        [1, 4)   (1, 4) (2, 3)
    1       200     0        [1, 4)   (2, 4)
    2       300     1        [2, 5)   (4, 1) (5, 1) (4, 1)
    plus one primary record per prompt, which no secondary statistic may count.
model "b" (4 blocks): prompt 0 done (no secondary sink), prompt 1 skipped, prompts 2-3 never run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sinkscope.core.errors import InputError
from sinkscope.workflows.sweep.compare import (
    REGION_COLUMNS,
    SUMMARY_COLUMNS,
    compare,
    display_rows,
    summarize,
    to_markdown,
)
from sinkscope.workflows.sweep.store import STORE_FORMAT, STORE_VERSION, SweepStore, prompt_key, read_tables
from tests.workflows.sweep.sweep_helpers import write_prompts

TEXTS = ["first prompt", "second prompt", "third prompt", "fourth prompt"]
# per secondary sink of model "a", in row order: (prompt, birth, lifetime, mlp_cos, oriented, mlp_norm, score)
A_SECONDARY = [
    (0, 1, 4, 0.9, 0.1, 1.0, 0.1),
    (0, 2, 3, 0.8, 0.2, 2.0, 0.2),
    (1, 2, 4, 0.7, 0.3, 3.0, 0.3),
    (2, 4, 1, 0.6, 0.4, 4.0, 0.4),
    (2, 5, 1, 0.5, 0.5, 5.0, 0.5),
    (2, 4, 1, float("nan"), 0.6, 6.0, 0.6),  # a NaN cosine is left out of the median
]
A_PROMPTS = {0: (100, 0, (1, 4)), 1: (200, 0, (1, 4)), 2: (300, 1, (2, 5))}
A_SCORES = {0: [0.1, 0.8, 0.6, 0.3, 0.7, 0.9], 1: [0.1, 0.8, 0.6, 0.3, 0.7, 0.9], 2: [0.1, 0.5, 0.9, 0.3, 0.4, 0.6]}
B_SCORES = [0.2, 0.9, 0.8, 0.85]


def _sink_rows(index, key, source, rows, n_layers, response=False):
    primary = dict(kind="primary", position=0, birth=0, lifetime=n_layers, rel_birth=0.0, mlp_cos_primary=1.0,
                   mlp_cos_oriented=1.0, mlp_norm=50.0, mean_score=0.9)
    out = [primary] + [
        dict(kind="secondary", position=10 + k, birth=b, lifetime=life, rel_birth=b / (n_layers - 1),
             mlp_cos_primary=cos, mlp_cos_oriented=ori, mlp_norm=norm, mean_score=score)
        for k, (b, life, cos, ori, norm, score) in enumerate(rows)
    ]
    df = pd.DataFrame(out)
    df.insert(0, "prompt", index)
    df.insert(1, "prompt_key", key)
    df.insert(2, "source", source)
    # with a response, the first secondary sink of each prompt sits in the prompt, the others in it
    df["region"] = ["prompt" if k <= 1 or not response else "generated" for k in range(len(df))]
    return df


def _layer_rows(index, key, source, scores, window, births):
    n = len(scores)
    df = pd.DataFrame({
        "layer": range(n),
        "rel_depth": [l / (n - 1) for l in range(n)],
        "primary_score": scores,
        "primary_head_fraction": 1.0,
        "primary_norm": 10.0,
        "secondary_mass": 0.0,
        "n_secondary_alive": 0,
        "births": [births.count(l) for l in range(n)],
        "in_window": [window[0] <= l < window[1] for l in range(n)],
    })
    df.insert(0, "prompt", index)
    df.insert(1, "prompt_key", key)
    df.insert(2, "source", source)
    return df


def write_store(root, prompt_file, response=False):
    store = SweepStore(root)
    store.write_params({
        "format": STORE_FORMAT, "format_version": STORE_VERSION, "mode": "fast",
        "models": [{"label": "a", "ref": "org/model-a"}, {"label": "b", "ref": "b|ref"}],
        "prompts": {"file": prompt_file.name, "n_prompts": len(TEXTS)},
    })
    keys = [prompt_key(t) for t in TEXTS]
    src = [f"{prompt_file.name}:{i + 1}" for i in range(len(TEXTS))]

    def record(i, ref, n_layers, n_tokens, primary, window, n_sec):
        return {"ref": ref, "prompt_index": i, "source": src[i], "n_tokens": n_tokens,
                "n_prompt_tokens": n_tokens - 20 if response else n_tokens,
                "n_layers": n_layers, "primary_position": primary, "window": list(window), "n_secondary": n_sec}

    for i, (n_tokens, primary, window) in A_PROMPTS.items():
        rows = [r[1:] for r in A_SECONDARY if r[0] == i]
        store.write_unit("a", keys[i], _sink_rows(i, keys[i], src[i], rows, 6, response),
                         _layer_rows(i, keys[i], src[i], A_SCORES[i], window, [r[0] for r in rows]), None,
                         record(i, "org/model-a", 6, n_tokens, primary, window, len(rows)))
    store.write_skipped("a", keys[3], {"ref": "org/model-a", "prompt_index": 3, "source": src[3]}, "too long")
    store.write_unit("b", keys[0], _sink_rows(0, keys[0], src[0], [], 4, response),
                     _layer_rows(0, keys[0], src[0], B_SCORES, (0, 2), []), None,
                     record(0, "b|ref", 4, 50, 0, (0, 2), 0))
    store.write_skipped("b", keys[1], {"ref": "b|ref", "prompt_index": 1, "source": src[1]}, "too long")
    return root


@pytest.fixture
def store(tmp_path):
    return write_store(tmp_path / "sweep", write_prompts(tmp_path / "prompts.jsonl", TEXTS))


# Spearman(||m||, lifetime) of model "a" by hand: ||m|| ranks 1..6; lifetimes 4 3 4 1 1 1 rank
# (ties averaged) 5.5 4 5.5 2 2 2.
SPEARMAN_LIFETIME = float(np.corrcoef(np.arange(1, 7), [5.5, 4, 5.5, 2, 2, 2])[0, 1])


def test_summarize_exact_values(store):
    sinks, layers, records, params = read_tables(store)
    s = summarize(sinks, layers, records, params)
    # no prompt has a response: no per-region counts
    assert list(s.index) == ["a", "b"] and list(s.columns) == [c for c, _, _ in SUMMARY_COLUMNS if c not in REGION_COLUMNS]
    a, b = s.loc["a"], s.loc["b"]
    assert (a["ref"], a["n_layers"], a["n_prompts"], a["n_skipped"], a["n_tokens"]) == ("org/model-a", 6, 3, 1, 600)
    assert (a["primary_positions"], a["primary_window"]) == ("0,1", "1-3")
    assert a["window_share"] == pytest.approx(2 / 3)
    assert a["n_secondary"] == 6 and a["secondary_per_1k_tokens"] == pytest.approx(10.0)
    assert a["median_birth"] == 3.0 and a["median_rel_birth"] == pytest.approx(0.6) and a["median_lifetime"] == 2.0
    assert a["median_mlp_cos"] == pytest.approx(0.7) and a["median_mlp_cos_oriented"] == pytest.approx(0.35)
    assert a["norm_law_n"] == 6
    assert a["spearman_norm_score"] == pytest.approx(1.0)
    assert a["spearman_norm_lifetime"] == pytest.approx(SPEARMAN_LIFETIME) and SPEARMAN_LIFETIME < -0.8
    # pooled primary score per layer: 0.1 0.7 0.7 0.3 0.6 0.8; window share 0 2/3 1 1 1/3 0 -> window
    # [1, 4), reference layers [1, 2): plateau 0.7 at layer 1; middle layers after it {2, 3}: dip at 3
    assert a["primary_plateau"] == pytest.approx(0.7) and a["dip_layer"] == 3
    assert a["dip_ratio"] == pytest.approx(3 / 7) and a["weakened"] == True  # noqa: E712 - numpy bool
    assert a["n_levels"] == 2  # cells (1,4) (2,3) (2,4) and (4,1) (5,1): two clusters
    assert (b["ref"], b["n_layers"], b["n_prompts"], b["n_skipped"], b["n_tokens"]) == ("b|ref", 4, 1, 1, 50)
    assert (b["primary_positions"], b["primary_window"], b["window_share"]) == ("0", "0-1", 1.0)
    assert b["n_secondary"] == 0 and b["secondary_per_1k_tokens"] == 0.0 and b["norm_law_n"] == 0
    for col in ("median_birth", "median_rel_birth", "median_lifetime", "median_mlp_cos", "spearman_norm_score"):
        assert math.isnan(b[col]), col
    # window [0, 2): plateau at layer 0 (0.2); middle layers 1, 2: dip at 2 (0.8), ratio 4
    assert b["primary_plateau"] == pytest.approx(0.2) and b["dip_layer"] == 2
    assert b["dip_ratio"] == pytest.approx(4.0) and b["weakened"] == False  # noqa: E712
    assert b["n_levels"] == 0


def test_summarize_without_params_orders_models_by_records(store):
    sinks, layers, records, _ = read_tables(store)
    s = summarize(sinks, layers, records)
    assert list(s.index) == ["a", "b"] and s.loc["b", "ref"] == "b|ref"  # ref from the records


def test_model_with_no_completed_prompt(store):
    sinks, layers, records, params = read_tables(store)
    params = {**params, "models": [*params["models"], {"label": "c", "ref": "c-ref"}]}
    c = summarize(sinks, layers, records, params).loc["c"]
    assert (c["ref"], c["n_prompts"], c["n_skipped"], c["n_tokens"], c["n_secondary"], c["n_levels"]) == (
        "c-ref", 0, 0, 0, 0, 0)
    for col in ("primary_positions", "primary_window", "window_share", "primary_plateau", "dip_layer", "weakened"):
        assert pd.isna(c[col]), col
    shown = dict(display_rows(summarize(sinks, layers, records, params)))
    assert shown["primary window (blocks, inclusive)"] == ["1-3", "0-1", "-"] and shown["tokens"][2] == "0"


EXPECTED_ROWS = [
    ("model reference", ["org/model-a", "b|ref"]),
    ("layers", ["6", "4"]),
    ("prompts scanned", ["3", "1"]),
    ("prompts skipped", ["1", "1"]),
    ("tokens", ["600", "50"]),
    ("primary position(s)", ["0,1", "0"]),
    ("primary window (blocks, inclusive)", ["1-3", "0-1"]),
    ("prompts with that window", ["67%", "100%"]),
    ("secondary sinks", ["6", "0"]),
    ("secondary sinks / 1k tokens", ["10.00", "0.00"]),
    ("median birth (relative depth)", ["0.60", "-"]),
    ("median birth (block)", ["3.0", "-"]),
    ("median lifetime (blocks)", ["2.0", "-"]),
    ("median share of the layer's attention", ["-", "-"]),  # (as "median MLP share" below)
    ("median MLP cos(m, h_p)", ["0.700", "-"]),
    ("median MLP cos (oriented)", ["0.350", "-"]),
    ("median MLP share", ["-", "-"]),  # a registry median whose column these synthetic tables lack
    ("norm law: sinks", ["6", "0"]),
    ("norm law: Spearman(||m||, score)", ["1.00", "-"]),
    ("norm law: Spearman(||m||, lifetime)", [f"{SPEARMAN_LIFETIME:.2f}", "-"]),
    ("primary score plateau", ["0.700", "0.200"]),
    ("weakening: dip block", ["3", "2"]),
    ("weakening: dip / plateau", ["0.43", "4.00"]),
    ("weakened (dip < 0.5 plateau)", ["True", "False"]),
    ("sink levels", ["2", "0"]),
]


def test_display_rows_and_markdown(store):
    summary = compare(store, write=False)
    assert display_rows(summary) == EXPECTED_ROWS
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["# T", "", "| metric | a | b |", "|---|---|---|"]
    lines += [f"| {esc(label)} | {' | '.join(esc(v) for v in vals)} |" for label, vals in EXPECTED_ROWS]
    assert to_markdown(summary, "T") == "\n".join(lines) + "\n"
    assert "| model reference | org/model-a | b\\|ref |" in to_markdown(summary)  # a "|" in a value is escaped
    assert to_markdown(summary).startswith("| metric | a | b |\n")  # no title: no heading


def test_compare_writes_csv_and_markdown(store):
    assert not (store / "compare.csv").exists()
    summary = compare(store)
    csv = pd.read_csv(store / "compare.csv", index_col="model")
    assert list(csv.index) == ["a", "b"] and list(csv.columns) == list(summary.columns)
    assert csv.loc["a", "n_tokens"] == 600 and csv.loc["a", "secondary_per_1k_tokens"] == pytest.approx(10.0)
    assert csv.loc["a", "dip_ratio"] == pytest.approx(3 / 7) and math.isnan(csv.loc["b", "median_birth"])
    title = "sinkscope sweep: prompts.jsonl (6 of 8 (model, prompt) pairs complete; mode fast)"
    assert (store / "compare.md").read_text(encoding="utf-8") == to_markdown(summary, title)
    assert not list(store.glob(".tmp-*"))


def test_compare_refuses_what_is_not_a_finished_sweep(tmp_path):
    with pytest.raises(InputError, match="is not a folder"):
        compare(tmp_path / "missing")
    with pytest.raises(InputError, match="is not a sinkscope sweep folder"):
        compare(tmp_path)
    store = SweepStore(tmp_path / "empty")
    store.write_params({"format": STORE_FORMAT, "format_version": STORE_VERSION,
                        "models": [{"label": "a", "ref": "a"}], "prompts": {"n_prompts": 1}})
    store.write_skipped("a", prompt_key("x"), {"ref": "a", "prompt_index": 0, "source": "p:1"}, "too long")
    with pytest.raises(InputError, match="holds no completed \\(model, prompt\\) pair yet"):
        compare(store.root)


def test_summarize_counts_regions_when_prompts_have_a_response(tmp_path):
    """docs/method.md §3: with responses, compare counts the secondary sinks per region."""
    root = write_store(tmp_path / "sweep", write_prompts(tmp_path / "prompts.jsonl", TEXTS), response=True)
    sinks, layers, records, params = read_tables(root)
    s = summarize(sinks, layers, records, params)
    assert list(s.columns) == [c for c, _, _ in SUMMARY_COLUMNS]
    # model a: prompts 0 (2 secondary), 1 (1), 2 (3); the first secondary of each is in the prompt
    assert (s.loc["a", "n_secondary_template"], s.loc["a", "n_secondary_prompt"], s.loc["a", "n_secondary_generated"]) == (0, 3, 3)
    assert (s.loc["b", "n_secondary_prompt"], s.loc["b", "n_secondary_generated"]) == (0, 0)
    md = to_markdown(s)
    assert "| secondary sinks in the generated region | 3 | 0 |" in md



def test_compare_equals_the_analysis_under_the_sweeps_config(tmp_path, smollm2):
    """run_sweep given an AnalysisConfig: `compare`'s pooled numbers are `analyze` over the model's
    stored prompts with that config (level settings, weakening fraction and middle band)."""
    from sinkscope.analysis import AnalysisConfig, analyze
    from sinkscope.capture.trace import PromptTrace
    from sinkscope.workflows.sweep import run_sweep

    cfg = AnalysisConfig(n_boot=20, levels_min_share=0.0, levels_tol=3, weak_frac=0.95, weak_middle=(0.1, 0.95))
    out = tmp_path / "sweep"
    run_sweep(out, {"smol": smollm2}, write_prompts(tmp_path / "p.jsonl"), config=cfg)
    row = compare(out, write=False).loc["smol"]
    prompts = [PromptTrace.load(f) for f in sorted((out / "arrays" / "model=smol").glob("*.npz"))]
    s = analyze(prompts, cfg).summary().to_dict()
    default = analyze(prompts, AnalysisConfig(n_boot=20)).summary().to_dict()
    # the config changes the pooled numbers (else this test could not tell a default pooling apart)
    assert (s["n_levels"], s["weakened"], s["dip_layer"]) != (default["n_levels"], default["weakened"], default["dip_layer"])
    assert row["n_levels"] == s["n_levels"] and row["norm_law_n"] == s["norm_law_n"]
    for col in ("spearman_norm_score", "spearman_norm_lifetime", "median_birth", "median_lifetime",
                "median_rel_birth", "median_mlp_cos", "median_mlp_cos_oriented", "median_mlp_share",
                "median_attention_share", "primary_plateau", "dip_ratio"):
        assert row[col] == pytest.approx(s[col] if s[col] is not None else float("nan"), nan_ok=True), col
    assert row["dip_layer"] == s["dip_layer"] and row["weakened"] == s["weakened"]
