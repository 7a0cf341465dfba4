"""Bad input to `sinkscope sweep`: a clear message, a non-zero exit, nothing half-written.

Also the ways a sweep can be stopped (Ctrl-C, kill -9) and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sinkscope.cli import app
from sinkscope.core.errors import CorruptWeightsError, NumericalError
from sinkscope.workflows.sweep import load, prompt_key, run_sweep
from tests.workflows.sweep.sweep_helpers import MODEL, PROMPTS, records, write_prompts

runner = CliRunner()


def sweep(*args: str):
    return runner.invoke(app, ["sweep", *args])


def assert_clean_failure(r, *words: str, out: Path | None = None):
    assert r.exit_code == 1, r.output
    for w in words:
        assert w in r.output, r.output
    assert "Traceback" not in r.output
    if out is not None:
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))


# ---- prompt files ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, content, message", [
    ("p.jsonl", "", "holds no prompts"),
    ("p.jsonl", "\n  \n", "holds no prompts"),
    ("p.txt", "   \n", "is empty"),
])
def test_empty_prompt_file(tmp_path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    out = tmp_path / "out"
    assert_clean_failure(sweep("--file", str(f), "--out", str(out)), message, out=out)


@pytest.mark.parametrize("line, problem", [
    ("{not json", "is not valid JSON"),
    (json.dumps({"prompt": "x"}), 'no string "text"'),
    (json.dumps(["a", "list"]), 'no string "text"'),
    (json.dumps({"text": "   "}), 'empty "text"'),
])
def test_bad_jsonl_line_is_named(tmp_path, line, problem):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"text": "fine text here"}) + "\n" + line + "\n")
    out = tmp_path / "out"
    r = sweep("--file", str(f), "--out", str(out))
    assert_clean_failure(r, f"{f}:2", problem, "--on-error skip", out=out)


def test_all_lines_bad_with_skip_is_still_an_error(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("{bad\n[1]\n")
    out = tmp_path / "out"
    assert_clean_failure(sweep("--file", str(f), "--out", str(out), "--on-error", "skip"), "holds no prompts", out=out)


def test_missing_prompt_file(tmp_path):
    out = tmp_path / "out"
    assert_clean_failure(sweep("--file", str(tmp_path / "nope.jsonl"), "--out", str(out)), "does not exist", out=out)


# ---- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--tau", "0"], "tau"),
    (["--tau", "1.5"], "tau"),
    (["--tau", "nan"], "tau"),
    (["--min-lifetime", "-1"], "--min-lifetime"),
    (["--min-queries", "0"], "--min-queries"),
    (["--k", "-2"], "--k must be"),
    (["--generate", "-1"], "--generate"),
    (["--mode", "both"], "--mode must be one of"),
    (["--executor", "spark"], "--executor must be one of"),
    (["--on-error", "ignore"], "--on-error must be one of"),
    (["--resume", "--overwrite"], "contradict"),
    (["--ray-address", "auto"], "--ray-address needs --executor ray"),
    (["--shard-size", "0"], "--shard-size"),
    (["--models", " , "], "--models is empty"),
])
def test_bad_options(tmp_path, args, message):
    f = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "out"
    assert_clean_failure(sweep("--file", str(f), "--out", str(out), *args), message, out=out)


# ---- models ----------------------------------------------------------------------------------


def test_unknown_model_fails_before_any_work(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "out"
    r = sweep("--models", f"{MODEL},smolm2-135m", "--file", str(f), "--out", str(out))
    assert_clean_failure(r, "Unknown model", "smollm2-135m", out=out)  # with a suggestion
    r = sweep("--models", str(tmp_path / "no" / "such" / "model"), "--file", str(f), "--out", str(out))
    assert_clean_failure(r, "No such file or folder", out=out)


def _garbage_safetensors_folder(root: Path) -> Path:
    from transformers import LlamaConfig

    d = root / "broken-model"
    d.mkdir()
    LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                vocab_size=256).to_json_file(d / "config.json")
    (d / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"garbage" + os.urandom(256))
    return d


def test_corrupt_weights(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl")
    gguf = tmp_path / "truncated.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00" + os.urandom(300))
    for ref in (gguf, _garbage_safetensors_folder(tmp_path)):
        out = tmp_path / f"out-{ref.name}"
        r = sweep("--models", str(ref), "--file", str(f), "--out", str(out))
        assert_clean_failure(r, "truncated or corrupt", str(ref.name), out=out)
        with pytest.raises(CorruptWeightsError):
            run_sweep(out, [str(ref)], str(f))
        assert not out.exists()


@pytest.mark.realmodel
def test_text_longer_than_the_context(tmp_path, smollm2):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"text": PROMPTS[0]}) + "\n" + json.dumps({"text": "word " * 9000}) + "\n")
    out = tmp_path / "out"
    r = sweep("--models", MODEL, "--file", str(f), "--out", str(out))
    assert_clean_failure(r, "p.jsonl:2", "8192-token context", "--on-error skip", out=out)
    # skip: the long prompt is recorded as skipped, the other one is scanned
    rep = run_sweep(out, {MODEL: smollm2}, f, on_error="skip")
    assert rep.n_ran == 1 and rep.n_skipped == 1 and "p.jsonl:2" in rep.skipped[0]
    recs = records(out)
    assert sorted(r["status"] for r in recs.values()) == ["done", "skipped"]
    sinks, _, summary = load(out)
    assert set(sinks["source"]) == {"p.jsonl:1"}
    assert summary.loc[MODEL, "n_prompts"] == 1 and summary.loc[MODEL, "n_skipped"] == 1


# ---- output folder ---------------------------------------------------------------------------


def test_output_folder_not_writable(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl")
    if os.geteuid() == 0:  # root writes through chmod: put --out below a regular file instead
        blocker = tmp_path / "file.txt"
        blocker.write_text("I am a file")
        out = blocker / "out"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out = locked / "out"
    try:
        r = sweep("--models", MODEL, "--file", str(f), "--out", str(out))
        assert_clean_failure(r, "cannot write", out=out)
    finally:
        if os.geteuid() != 0:
            (tmp_path / "locked").chmod(0o700)
    # --out naming an existing regular file
    r = sweep("--models", MODEL, "--file", str(f), "--out", str(tmp_path / "p.jsonl"))
    assert_clean_failure(r, "is a file")


def test_output_folder_holding_a_scan_result_is_refused(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    for extra in ([], ["--resume"]):
        r = sweep("--models", MODEL, "--file", str(f), "--out", str(out), *extra)
        assert_clean_failure(r, "not a sweep folder", "sinkscope scan", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


@pytest.mark.realmodel
def test_output_folder_holding_a_different_sweep(swept, prompt_file, tmp_path, smollm2):
    out, _ = swept
    snapshot = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    other = write_prompts(tmp_path / "other.jsonl", texts=PROMPTS[:2])
    cases = [
        (["--tau", "0.8"], "tau: 0.9 -> 0.8"),
        (["--mode", "paper"], "mode"),
        (["--generate", "4"], "generate: 0 -> 4"),
        (["--models", f"{MODEL},gemma3-270m"], "models: smollm2-135m -> smollm2-135m,gemma3-270m"),
        (["--file", str(other)], "prompt file contents differ"),
        (["--tau", "0.8", "--resume"], "different sweep"),
    ]
    for args, message in cases:
        base = {"--models": MODEL, "--file": str(prompt_file)}
        for flag in ("--models", "--file"):
            if flag in args:
                base.pop(flag)
        flat = [x for kv in base.items() for x in kv]
        r = sweep(*flat, "--out", str(out), "--on-error", "skip", *args)
        assert_clean_failure(r, "holds a different sweep", "--overwrite", message)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != ".lock"} == snapshot


@pytest.mark.realmodel
def test_overwrite_replaces_a_different_run(tmp_path, smollm2):
    out = tmp_path / "run"
    out.mkdir()
    # a (minimal) sinkscope scan manifest: --overwrite replaces only sinkscope results (issue 13.3)
    (out / "manifest.json").write_text(json.dumps({"sinkscope_version": "0.1.0", "thresholds": {}}))
    rep = run_sweep(out, {MODEL: smollm2}, PROMPTS[:1], overwrite=True)
    assert rep.n_ran == 1 and not (out / "manifest.json").exists() and (out / "sweep.json").exists()
    assert not list(tmp_path.glob(".run.old-*"))
    rep = run_sweep(out, {MODEL: smollm2}, PROMPTS[:1], tau=0.8, overwrite=True)  # new parameters: start again
    assert rep.n_ran == 1 and json.loads((out / "sweep.json").read_text())["thresholds"]["tau"] == 0.8


# ---- NaN / inf in the activations --------------------------------------------------------------


def _poisoned_llama(vocab: int = 256, layer: int = 1):
    """A tiny random-init llama whose block `layer` MLP writes inf (so NaN / inf reach the residual)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=128, vocab_size=vocab)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.model.layers[layer].mlp.down_proj.weight.fill_(float("inf"))
    return model


def test_nan_in_activations_stops_and_names_the_block(tmp_path):
    import sinkscope
    from tests.capture.archs import ToyTokenizer

    lm = sinkscope.LoadedModel.from_pair(_poisoned_llama(), ToyTokenizer(), ref="toy")
    with pytest.raises(NumericalError, match="block 1"):
        sinkscope.scan(lm, ["abcdefghijklmnopqrstuvwxyz"])
    out = tmp_path / "out"
    with pytest.raises(NumericalError, match=r"model 'toy', prompt text 0: .*block 1"):
        run_sweep(out, {"toy": lm}, ["abcdefghijklmnopqrstuvwxyz", "zyxwvutsrqponmlkjihgfedcba"])
    assert not out.exists()  # nothing completed: nothing left behind


@pytest.mark.realmodel
def test_nan_in_activations_cli(tmp_path, smollm2):
    """The CLI surfaces the NumericalError (which block) for a saved model folder, without a traceback."""
    folder = tmp_path / "poisoned"
    model = _poisoned_llama(vocab=len(smollm2.tokenizer), layer=1)
    model.save_pretrained(folder)
    smollm2.tokenizer.save_pretrained(folder)
    f = write_prompts(tmp_path / "p.jsonl")
    out = tmp_path / "out"
    r = sweep("--models", str(folder), "--file", str(f), "--out", str(out))
    assert_clean_failure(r, "non-finite", "block 1", "model 'poisoned'", "p.jsonl:1", out=out)


# ---- stopping a sweep: Ctrl-C and kill -9, then resume ---------------------------------------


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # A shell's background job starts with SIGINT ignored, and children inherit that (Python then
    # never raises KeyboardInterrupt): give the sweep the default disposition a terminal would.
    return subprocess.Popen([sys.executable, "-m", "sinkscope.cli", "sweep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_first_record(proc: subprocess.Popen, out: Path, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if records(out):  # complete records only (not a writer's .tmp-* file)
            return
        if proc.poll() is not None:
            raise AssertionError(f"sweep exited ({proc.returncode}) before the first record: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no completion record appeared")


# Enough distinct prompts that a sweep is still running when the signal arrives (5 short prompts
# finished within the polling interval on an idle machine, and the Ctrl-C test then saw exit 0).
MANY = [f"Sentence number {i}: the quick brown fox jumps over the lazy dog while the river keeps flowing."
        for i in range(40)]


def _check_complete(out: Path, n: int) -> None:
    recs = records(out)
    assert len(recs) == n and {k for _, k in recs} == {prompt_key(t) for t in MANY[:n]}
    assert all(r["status"] == "done" for r in recs.values())
    sinks, layers, _ = load(out)
    assert not sinks.duplicated(["model", "prompt_key", "position"]).any()
    assert layers.groupby("prompt_key").size().eq(30).all() and layers["prompt_key"].nunique() == n
    assert not list(out.rglob(".tmp-*"))


@pytest.mark.realmodel
def test_ctrl_c_exits_cleanly_and_resumes(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl", texts=MANY)
    out = tmp_path / "out"
    args = ["--models", MODEL, "--file", str(f), "--out", str(out)]
    proc = _start(args)
    _wait_for_first_record(proc, out)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "interrupted" in stderr and "resume" in stderr
    n_first = len(records(out))
    assert 1 <= n_first < len(MANY)
    first = {k: r["finished"] + str(r["pid"]) for k, r in records(out).items()}
    r = runner.invoke(app, ["sweep", *args])  # the same command
    assert r.exit_code == 0, r.output
    assert f"already done {n_first}" in r.output
    _check_complete(out, len(MANY))
    assert {k: r["finished"] + str(r["pid"]) for k, r in records(out).items() if k in first} == first


@pytest.mark.realmodel
def test_kill_9_then_resume(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl", texts=MANY)
    out = tmp_path / "out"
    args = ["--models", MODEL, "--file", str(f), "--out", str(out)]
    proc = _start(args)
    _wait_for_first_record(proc, out)
    time.sleep(0.05)  # most likely in the middle of the next unit
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    before = records(out)
    assert 1 <= len(before) < len(MANY)
    r = runner.invoke(app, ["sweep", *args])  # the same command (in-process: one model load less)
    assert r.exit_code == 0, r.output
    assert f"already done {len(before)}" in r.output
    _check_complete(out, len(MANY))
    after = records(out)
    assert all(after[k]["pid"] == r["pid"] and after[k]["finished"] == r["finished"] for k, r in before.items())
