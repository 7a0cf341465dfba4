"""core.hashing: sha256 of one file (streamed in chunks) and of a set of files."""

from __future__ import annotations

import hashlib

import pytest

from sinkscope.core.hashing import CHUNK_BYTES, sha256_file, sha256_files


def test_sha256_file_matches_hashlib_for_any_chunk_size(tmp_path):
    data = bytes(range(256)) * 1000 + b"tail"  # 256004 bytes: not a multiple of the chunks below
    p = tmp_path / "w.bin"
    p.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert sha256_file(p) == want
    assert sha256_file(str(p)) == want
    for chunk in (1, 7, 4096, len(data), len(data) + 1):
        assert sha256_file(p, chunk_size=chunk) == want
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()
    assert CHUNK_BYTES == 1 << 22


def test_sha256_file_streams_in_chunks(tmp_path, monkeypatch):
    """Never reads more than `chunk_size` bytes at a time (constant memory for big weights)."""
    p = tmp_path / "big.bin"
    p.write_bytes(b"x" * 10_000)
    sizes = []
    import builtins

    real_open = builtins.open

    class Spy:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n=-1):
            sizes.append(n)
            return self.fh.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.fh.close()

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Spy(real_open(*a, **k)))
    assert sha256_file(p, chunk_size=1000) == hashlib.sha256(b"x" * 10_000).hexdigest()
    assert sizes and all(n == 1000 for n in sizes) and len(sizes) == 11  # 10 full chunks + the empty read


def test_sha256_files_one_file_is_its_own_hash(tmp_path):
    a = tmp_path / "a.safetensors"
    a.write_bytes(b"hello")
    combined, per = sha256_files([a])
    assert per == {"a.safetensors": hashlib.sha256(b"hello").hexdigest()}
    assert combined == per["a.safetensors"]


def test_sha256_files_shards_combine_by_sorted_name(tmp_path):
    a, b = tmp_path / "b.safetensors", tmp_path / "a.safetensors"
    a.write_bytes(b"world")
    b.write_bytes(b"hello")
    combined, per = sha256_files([a, b])
    assert list(per) == ["a.safetensors", "b.safetensors"]
    lines = f"a.safetensors {hashlib.sha256(b'hello').hexdigest()}\nb.safetensors {hashlib.sha256(b'world').hexdigest()}\n"
    assert combined == hashlib.sha256(lines.encode()).hexdigest()
    assert sha256_files([b, a]) == (combined, per)  # order of the paths does not matter
    assert sha256_files(tmp_path.glob("*.safetensors"))[0] == combined  # any iterable
    b.write_bytes(b"hellO")
    assert sha256_files([a, b])[0] != combined


def test_sha256_files_rejects_duplicate_names_and_handles_none(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for d in ("x", "y"):
        (tmp_path / d / "m.safetensors").write_bytes(d.encode())
    with pytest.raises(ValueError, match="m.safetensors"):
        sha256_files([tmp_path / "x" / "m.safetensors", tmp_path / "y" / "m.safetensors"])
    assert sha256_files([]) == (hashlib.sha256(b"").hexdigest(), {})
