"""`sinkscope kv --file` with token ids another model wrote: used only when that model's tokenizer
is on this machine and has the same vocabulary as --model's; otherwise refused by name."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from sinkscope.cli import app
from sinkscope.workflows.kv import KVResult
from tests.capture.archs import random_ids


def _trace(path, writer: str, n: int = 2):
    path.write_text("".join(json.dumps({"id": f"x{i}", "model": writer, "n_prompt_tokens": 40,
                                        "token_ids": random_ids(100 + 8 * i, i, vocab=300)}) + "\n" for i in range(n)))
    return path


def _kv(tiny_kv_folder, trace, out):
    return CliRunner().invoke(app, ["kv", "--file", str(trace), "--model", str(tiny_kv_folder), "-p", "streaming",
                                    "-b", "24", "--n-boot", "50", "--threads", "1", "--out", str(out)])


def test_ids_of_a_model_with_the_same_vocabulary_are_used_and_recorded(tiny_kv_folder, tmp_path):
    twin = tmp_path / "twin"  # another model folder with the very same tokenizer files
    twin.mkdir()
    for f in tiny_kv_folder.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, twin / f.name)
    r = _kv(tiny_kv_folder, _trace(tmp_path / "t.jsonl", str(twin)), tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "the same vocabulary" in " ".join(r.output.split())
    texts = KVResult.load(tmp_path / "out").manifest["texts"]
    assert [t["written_by"] for t in texts] == [str(twin)] * 2


def test_ids_of_a_model_with_another_vocabulary_are_refused(tiny_kv_folder, tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    other = tmp_path / "other"
    vocab = {f"v{i}": i for i in range(300)}  # same size, other tokens
    PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="v0")), unk_token="v0").save_pretrained(other)
    r = _kv(tiny_kv_folder, _trace(tmp_path / "t.jsonl", str(other)), tmp_path / "out")
    msg = " ".join(r.output.split())
    assert r.exit_code == 1 and "vocabulary differs" in msg and str(other) in msg, msg
    assert not (tmp_path / "out" / "kv.parquet").exists()


def test_ids_of_a_model_not_on_this_machine_are_refused_before_loading(tiny_kv_folder, tmp_path):
    r = _kv(tiny_kv_folder, _trace(tmp_path / "t.jsonl", "no-such-model-7b"), tmp_path / "out")
    msg = " ".join(r.output.split())
    assert r.exit_code == 1 and "written by no-such-model-7b" in msg and "not on this machine" in msg, msg
    assert "load" not in r.output.split("written by")[0]  # refused before the model load


def test_the_command_prints_each_policy_paired_against_streaming(tiny_kv_folder, tmp_path):
    trace = _trace(tmp_path / "t.jsonl", str(tiny_kv_folder), n=3)
    r = CliRunner().invoke(app, ["kv", "--file", str(trace), "--model", str(tiny_kv_folder), "-p", "streaming",
                                 "-p", "recent", "-b", "24", "--n-boot", "50", "--threads", "1",
                                 "--out", str(tmp_path / "out")], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "Paired against streaming" in r.output
    row = KVResult.load(tmp_path / "out").comparisons().iloc[0]
    assert row["policy"] == "recent" and row["n_texts"] == 3
    line = next(ln for ln in r.output.splitlines() if "recent" in ln and f"of {row['n_texts']}" in ln)
    assert f"{row['mean_diff']:+.4f}" in line and f"{row['n_better']} of 3" in line
