"""The store on its own (no model): keys, labels, atomic writes, garbage from killed runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sinkscope.core.errors import InputError
from sinkscope.core.fileio import write_file_atomic
from sinkscope.workflows.sweep.store import (
    STORE_FORMAT,
    SweepStore,
    describe_differences,
    identity,
    model_label,
    prompt_key,
    read_tables,
    unique_labels,
)


def test_prompt_key_is_stable_and_depends_on_text_generate_chat():
    k = prompt_key("hello world", 0, False)
    assert k == prompt_key("hello world", 0, False) and len(k) == 20
    assert k == "0575a92d82bee1c9f8aa"  # pinned: a key must not change between versions, or resumes would redo work
    assert len({k, prompt_key("hello world", 8, False), prompt_key("hello world", 0, True), prompt_key("hello", 0, False)}) == 4


def test_model_labels_are_safe_and_distinct():
    assert model_label("smollm2-135m") == "smollm2-135m"
    assert model_label("/data/models/qwen/") == "qwen"
    assert model_label("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB--SmolLM2-135M"
    assert model_label(".hidden") == "m.hidden"
    a, b = unique_labels(["/a/model", "/b/model"])
    assert a != b and a.startswith("model-") and b.startswith("model-")


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    def boom(p):
        p.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_file_atomic(tmp_path / "x.json", boom, mode="path")
    assert list(tmp_path.iterdir()) == []


def _fake_store(root, keys_done, keys_garbage):
    st = SweepStore(root)
    root.mkdir()
    st.write_params({"format": STORE_FORMAT, "format_version": 1, "models": [{"label": "m", "ref": "m"}]})
    for key in keys_done + keys_garbage:
        sinks = pd.DataFrame({"prompt": [0], "prompt_key": [key], "source": ["f:1"], "position": [3], "kind": ["secondary"]})
        layers = pd.DataFrame({"prompt": [0, 0], "prompt_key": [key] * 2, "source": ["f:1"] * 2, "layer": [0, 1]})
        if key in keys_done:
            st.write_unit("m", key, sinks, layers, None, {"prompt_index": keys_done.index(key), "n_tokens": 5})
        else:  # a killed run: the parts are in place, the completion record is not
            sinks.to_parquet(st.part_path("sinks", "m", key))
            layers.to_parquet(st.part_path("layers", "m", key))
    (root / "done" / "m" / ".tmp-dead-x.json").write_text("{")  # a killed writer's temporary file
    return st


def test_parts_without_completion_record_are_ignored_then_cleaned(tmp_path):
    st = _fake_store(tmp_path / "s", ["a", "b"], ["zz"])
    sinks, layers, recs, _ = read_tables(tmp_path / "s")
    assert sorted(sinks["prompt_key"]) == ["a", "b"] and len(layers) == 4 and list(recs["prompt_key"]) == ["a", "b"]
    assert st.completed_keys("m") == {"a", "b"}
    removed = st.clean()
    assert removed == 3  # 2 garbage parts + 1 temporary file
    assert not st.part_path("sinks", "m", "zz").exists()
    assert st.part_path("sinks", "m", "a").exists()


def test_record_whose_parts_vanished_does_not_count(tmp_path):
    st = _fake_store(tmp_path / "s", ["a", "b"], [])
    st.part_path("layers", "m", "b").unlink()
    assert st.completed_keys("m") == {"a"}


def test_identity_and_differences():
    a = {"models": [{"label": "m", "ref": "m"}], "mode": "general", "thresholds": {"tau": 0.9}, "generate": 0,
         "chat": False, "dtype": "float32", "prompts_sha256": "x", "created": "today"}
    b = {**a, "created": "tomorrow"}
    assert identity(a) == identity(b)
    c = {**a, "thresholds": {"tau": 0.8}, "prompts_sha256": "y"}
    msg = describe_differences(a, c)
    assert "tau: 0.9 -> 0.8" in msg and "prompt file" in msg


def test_not_a_store(tmp_path):
    with pytest.raises(InputError, match="not a sinkscope sweep folder"):
        read_tables(tmp_path)
    (tmp_path / "sweep.json").write_text("{broken")
    with pytest.raises(InputError, match="--overwrite"):
        read_tables(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a sinkscope sweep"):
        read_tables(tmp_path)


def test_lock_refuses_a_second_writer(tmp_path):
    st = SweepStore(tmp_path)
    with st.lock(), pytest.raises(InputError, match="another sinkscope sweep"), SweepStore(tmp_path).lock():
        pass
    with st.lock():  # released
        pass


def test_a_store_of_another_format_is_another_sweep(tmp_path):
    """A sweep written before the per-prompt arrays carried the last hidden state (format 1) is not
    resumed by this version: a resume would mix paper-mode records computed on other states."""
    from sinkscope.workflows.sweep.executor import _folder_state
    from sinkscope.workflows.sweep.store import STORE_VERSION, describe_differences, identity

    params = {"format": STORE_FORMAT, "format_version": STORE_VERSION, "models": [{"label": "m", "ref": "m"}], "mode": "paper"}
    old = {**params, "format_version": 1}
    assert STORE_VERSION == 2 and identity(old) != identity(params)
    assert describe_differences(old, params).startswith("sweep format 1 -> 2")
    root = tmp_path / "s"
    root.mkdir()
    SweepStore(root).write_params(old)
    state, detail = _folder_state(root, params)
    assert state == "different" and "sweep format 1 -> 2" in detail
    assert _folder_state(root, old) == ("same", "")
