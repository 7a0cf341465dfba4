"""A real sweep (SmolLM2, 3 short prompts): layout, loading, resume, determinism, compare."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sinkscope.cli import app
from sinkscope.workflows.sweep import compare, load, load_records, prompt_key, run_sweep
from tests.workflows.sweep.sweep_helpers import MODEL, PROMPTS, records

pytestmark = pytest.mark.realmodel
runner = CliRunner()


def test_store_layout_and_records(swept, prompt_file):
    out, rep = swept
    assert rep.n_units == 3 and rep.n_ran == 3 and rep.n_already == 0 and rep.n_skipped == 0
    assert rep.bad_lines == [f"{prompt_file}:2", f"{prompt_file}:4"]
    params = json.loads((out / "sweep.json").read_text())
    assert params["models"] == [{"label": MODEL, "ref": MODEL}]
    assert params["thresholds"]["tau"] == 0.9 and params["prompts"]["n_prompts"] == 3
    recs = records(out)
    keys = {prompt_key(t) for t in PROMPTS}
    assert set(recs) == {(MODEL, k) for k in keys}
    for (model, key), rec in recs.items():
        assert rec["status"] == "done" and rec["n_layers"] == 30 and rec["source"].startswith("prompts.jsonl:")
        for rel in rec["files"].values():
            assert (out / rel).is_file()
        assert (out / "sinks" / f"model={model}" / f"part-{key}.parquet").is_file()
        assert (out / "arrays" / f"model={model}" / f"{key}.npz").is_file()
    assert not list(out.rglob(".tmp-*"))


def test_load_reads_completed_parts(swept):
    out, _ = swept
    sinks, layers, summary = load(out)
    assert list(sinks.columns[:4]) == ["model", "prompt", "prompt_key", "source"]
    assert set(sinks["model"]) == {MODEL} and sinks["prompt"].nunique() == 3
    assert not sinks.duplicated(["model", "prompt_key", "position"]).any()
    assert len(layers) == 3 * 30 and not layers.duplicated(["model", "prompt_key", "layer"]).any()
    row = summary.loc[MODEL]
    assert row["n_layers"] == 30 and row["n_prompts"] == 3 and row["primary_positions"] == "0"
    assert row["n_tokens"] == load_records(out)["n_tokens"].sum()
    n_sec = int((sinks["kind"] == "secondary").sum())
    assert row["n_secondary"] == n_sec
    assert row["secondary_per_1k_tokens"] == pytest.approx(1000 * n_sec / row["n_tokens"])
    assert "-" in row["primary_window"]  # "first-last", inclusive
    # a part from a killed run (no completion record) is not read
    garbage = out / "sinks" / f"model={MODEL}" / "part-ffffffffffffffffffff.parquet"
    sinks.head(2).drop(columns="model").to_parquet(garbage)
    try:
        assert len(load(out)[0]) == len(sinks)
    finally:
        garbage.unlink()


def test_rerun_resumes_without_recomputing(swept, smollm2, prompt_file):
    out, _ = swept
    before = {k: (r["finished"], r["pid"]) for k, r in records(out).items()}
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    rep = run_sweep(out, {MODEL: smollm2}, prompt_file, on_error="skip")  # same parameters = resume
    assert rep.n_ran == 0 and rep.n_already == 3
    rep = run_sweep(out, {MODEL: smollm2}, prompt_file, on_error="skip", resume=True)
    assert rep.n_ran == 0 and rep.n_already == 3
    assert {k: (r["finished"], r["pid"]) for k, r in records(out).items()} == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == mtimes


def test_lost_unit_is_recomputed_once(swept, smollm2, prompt_file, tmp_path):
    """A unit whose completion record is missing (killed before it was written) is redone; its old
    parts are overwritten; the others are untouched; the tables come out the same."""
    import shutil

    out0, _ = swept
    out = tmp_path / "copy"
    shutil.copytree(out0, out)
    sinks0, layers0, _ = load(out)
    key = prompt_key(PROMPTS[1])
    (out / "done" / MODEL / f"{key}.json").unlink()
    (out / "layers" / f"model={MODEL}" / ".tmp-1234-part-x.parquet").write_bytes(b"half")
    rep = run_sweep(out, {MODEL: smollm2}, prompt_file, on_error="skip")
    assert rep.n_ran == 1 and rep.n_already == 2
    assert len(records(out)) == 3 and not list(out.rglob(".tmp-*"))
    sinks1, layers1, _ = load(out)
    pd.testing.assert_frame_equal(sinks0, sinks1)
    pd.testing.assert_frame_equal(layers0, layers1)


def test_cli_same_input_twice_gives_identical_tables(swept, prompt_file, tmp_path):
    """The CLI on the same file (with its two bad lines skipped) reproduces the API sweep exactly."""
    out0, _ = swept
    out = tmp_path / "cli"
    r = runner.invoke(app, ["sweep", "--models", MODEL, "--file", str(prompt_file), "--out", str(out), "--on-error", "skip"])
    assert r.exit_code == 0, r.output
    assert f"{prompt_file}:2" in r.output and f"{prompt_file}:4" in r.output  # skipped lines are reported
    assert "ran 3" in r.output and "sinkscope compare" in r.output
    a, b = load(out0), load(out)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    assert json.loads((out / "sweep.json").read_text())["prompts_sha256"] == json.loads((out0 / "sweep.json").read_text())["prompts_sha256"]


def test_compare_cli_prints_and_writes(swept):
    out, _ = swept
    r = runner.invoke(app, ["compare", str(out)])
    assert r.exit_code == 0, r.output
    for word in ("secondary sinks / 1k tokens", "primary window", "Spearman", "dip", "sink levels", MODEL):
        assert word in r.output
    csv = pd.read_csv(out / "compare.csv", index_col="model")
    assert list(csv.index) == [MODEL]
    for col in ("n_layers", "primary_positions", "primary_window", "secondary_per_1k_tokens", "median_rel_birth",
                "median_lifetime", "median_mlp_cos", "spearman_norm_score", "dip_ratio", "n_levels"):
        assert col in csv.columns
    md = (out / "compare.md").read_text()
    assert md.startswith("# sinkscope sweep") and f"| metric | {MODEL} |" in md
    assert compare(out, write=False).equals(compare(out, write=False))


def test_compare_refuses_non_sweep(tmp_path):
    r = runner.invoke(app, ["compare", str(tmp_path)])
    assert r.exit_code == 1 and "not a sinkscope sweep folder" in r.output
    r = runner.invoke(app, ["compare", str(tmp_path / "missing")])
    assert r.exit_code == 1 and "not a folder" in r.output
