"""core.fileio: the JSON cleaner, the atomic file / folder writers (fsync before rename), write_json."""

from __future__ import annotations

import enum
import json
import math
import os
import stat
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sinkscope.core import fileio
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import TMP_PREFIX, jsonable, write_dir_atomic, write_file_atomic, write_json


@pytest.fixture
def fsync_log(monkeypatch):
    """Record every os.fsync call (and the event order with os.replace) while still doing them."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync")
        return real_fsync(fd)

    def replace(a, b):
        events.append(f"replace {Path(b).name}")
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


# ---- jsonable ------------------------------------------------------------------------------------
class Color(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: float
    tags: tuple[str, ...] = ()
    where: Path = Path("a/b")
    extra: dict = field(default_factory=dict)


class WithToDict:
    def to_dict(self):
        return {"v": np.float32(0.5), "bad": float("nan")}


def test_jsonable_numpy_scalars_and_arrays():
    out = jsonable({"i": np.int64(3), "f": np.float32(1.5), "b": np.bool_(True), "a": np.arange(3)})
    assert out == {"i": 3, "f": 1.5, "b": True, "a": [0, 1, 2]}
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    assert all(type(v) is int for v in out["a"])
    assert jsonable(np.array([[1.0, np.nan], [np.inf, -2.0]])) == [[1.0, None], [None, -2.0]]
    assert jsonable(np.float64(7.25)) == 7.25 and jsonable(np.array(4)) == 4


def test_jsonable_nan_and_inf_become_null_everywhere():
    x = {"nan": float("nan"), "inf": math.inf, "-inf": -np.inf, "deep": [(1.0, float("nan"))], 3: np.nan}
    assert jsonable(x) == {"nan": None, "inf": None, "-inf": None, "deep": [[1.0, None]], "3": None}
    json.dumps(jsonable(x), allow_nan=False)  # strict JSON


def test_jsonable_paths_dates_enums_dataclasses_and_to_dict():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert jsonable(Path("/tmp/x.json")) == "/tmp/x.json"
    assert jsonable(when) == "2026-01-02T03:04:05+00:00"
    assert jsonable(date(2026, 1, 2)) == "2026-01-02"
    assert jsonable(pd.Timestamp("2026-01-02")) == "2026-01-02T00:00:00"
    assert jsonable(Color.RED) == "red"
    assert jsonable(Point(np.float32(2.0), ("a",), extra={"n": np.int8(1)})) == {
        "x": 2.0,
        "tags": ["a"],
        "where": "a/b",
        "extra": {"n": 1},
    }
    assert jsonable(WithToDict()) == {"v": 0.5, "bad": None}
    assert jsonable(Point) is Point  # a dataclass *class* is not an instance: left alone
    assert jsonable(None) is None and jsonable("t") == "t" and jsonable(True) is True and jsonable(5) == 5


# ---- write_file_atomic ---------------------------------------------------------------------------
def test_write_text_bytes_and_writer_function(tmp_path):
    p = write_file_atomic(tmp_path / "a.txt", "héllo\nworld\n")
    assert p == tmp_path / "a.txt" and p.read_bytes() == "héllo\nworld\n".encode()
    write_file_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    write_file_atomic(tmp_path / "c.bin", lambda fh: fh.write(b"handle"))
    assert (tmp_path / "c.bin").read_bytes() == b"handle"
    write_file_atomic(tmp_path / "d.txt", lambda fh: fh.write("text handle"), mode="w")
    assert (tmp_path / "d.txt").read_text() == "text handle"
    df = pd.DataFrame({"a": [1, 2]})
    write_file_atomic(tmp_path / "e.parquet", lambda p: df.to_parquet(p, index=False), mode="path")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "e.parquet"), df)
    write_file_atomic(tmp_path / "sub" / "dir" / "f.txt", "made parents")
    assert (tmp_path / "sub" / "dir" / "f.txt").read_text() == "made parents"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.bin", "d.txt", "e.parquet", "sub"]


def test_write_file_overwrites_an_existing_file(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("old")
    write_file_atomic(p, "new")
    assert p.read_text() == "new"


@pytest.mark.parametrize("mode", ["wb", "w", "path"])
def test_failing_writer_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, mode):
    target = tmp_path / "keep.txt"
    target.write_text("original")

    def boom(h):
        if mode == "path":
            Path(h).write_text("half")
        else:
            h.write(b"half" if mode == "wb" else "half")
        raise KeyboardInterrupt  # Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        write_file_atomic(target, boom, mode=mode)
    assert target.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(RuntimeError):
        write_file_atomic(tmp_path / "new.txt", lambda h: (_ for _ in ()).throw(RuntimeError("x")), mode=mode)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_temporary_file_is_a_hidden_sibling_with_the_target_suffix(tmp_path):
    seen = {}

    def writer(p):
        seen["tmp"] = Path(p)
        assert Path(p).parent == tmp_path and not (tmp_path / "t.npz").exists()
        np.savez(p, a=np.arange(2))  # savez appends .npz unless the name already ends with it

    write_file_atomic(tmp_path / "t.npz", writer, mode="path")
    assert seen["tmp"].name.startswith(TMP_PREFIX) and seen["tmp"].name.endswith("-t.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]
    with np.load(tmp_path / "t.npz") as z:
        assert z["a"].tolist() == [0, 1]


@pytest.mark.parametrize("content,mode", [("text", None), (b"bytes", None), (lambda fh: fh.write(b"f"), "wb"),
                                          (lambda p: Path(p).write_bytes(b"p"), "path")])
def test_write_file_fsyncs_data_before_rename_and_the_folder_after(tmp_path, fsync_log, content, mode):
    write_file_atomic(tmp_path / "f.dat", content, mode=mode)
    assert fsync_log.index("replace f.dat") >= 1 and fsync_log[0] == "fsync"  # data first
    assert fsync_log[-1] == "fsync"  # then the parent folder (POSIX)


def test_write_file_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not fit"):
        write_file_atomic(tmp_path / "a", "text", mode="wb")
    with pytest.raises(TypeError, match="str, bytes or a callable"):
        write_file_atomic(tmp_path / "a", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode must be"):
        write_file_atomic(tmp_path / "a", lambda fh: None, mode="a")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# ---- write_json ----------------------------------------------------------------------------------
def test_write_json_cleans_and_is_atomic(tmp_path, fsync_log):
    p = write_json(tmp_path / "o.json", {"x": np.float32(1.5), "n": float("nan"), "p": Path("q")})
    assert p.read_text() == json.dumps({"x": 1.5, "n": None, "p": "q"}, indent=2)  # no trailing newline
    assert "fsync" in fsync_log and "replace o.json" in fsync_log
    write_json(tmp_path / "c.json", [1, 2], indent=None)
    assert (tmp_path / "c.json").read_text() == "[1, 2]"


# ---- write_dir_atomic ----------------------------------------------------------------------------
def _fill(d: Path) -> None:
    (d / "a.txt").write_text("A")
    (d / "sub").mkdir()
    (d / "sub" / "b.bin").write_bytes(b"B")


def test_write_dir_creates_the_folder_complete(tmp_path):
    out = write_dir_atomic(tmp_path / "run", _fill)
    assert out == tmp_path / "run"
    assert (out / "a.txt").read_text() == "A" and (out / "sub" / "b.bin").read_bytes() == b"B"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700


def test_write_dir_refuses_existing_without_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(InputError, match="already exists.*--overwrite"):
        write_dir_atomic(tmp_path / "run", _fill)


def test_write_dir_overwrite_replaces_only_when_complete(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    (old / "stale.txt").write_text("old")
    write_dir_atomic(old, _fill, overwrite=True)
    assert sorted(p.name for p in old.iterdir()) == ["a.txt", "sub"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # the moved-aside old folder is gone


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failing_dir_writer_leaves_nothing_and_keeps_the_old_folder(tmp_path, exc):
    def half(d):
        (d / "part.txt").write_text("half")
        raise exc("interrupted")

    with pytest.raises(exc):
        write_dir_atomic(tmp_path / "new", half)
    assert list(tmp_path.iterdir()) == []
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "x.txt").write_text("intact")
    with pytest.raises(exc):
        write_dir_atomic(keep, half, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]
    assert [p.name for p in keep.iterdir()] == ["x.txt"] and (keep / "x.txt").read_text() == "intact"


def test_failed_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "x.txt").write_text("intact")
    real_replace = os.replace

    def replace(a, b):
        if Path(b) == keep and ".tmp-" in Path(a).name:
            raise OSError("rename failed")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        write_dir_atomic(keep, _fill, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["keep"] and (keep / "x.txt").read_text() == "intact"


def test_write_dir_fsyncs_every_file_and_folder_before_the_rename(tmp_path, fsync_log):
    write_dir_atomic(tmp_path / "run", _fill)
    i = fsync_log.index("replace run")
    # 2 files + 2 folders (sub, the temporary root) before; the parent folder after
    assert fsync_log[:i] == ["fsync"] * 4
    assert fsync_log[i + 1 :] == ["fsync"]


def test_write_dir_unwritable_parent_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot write to"):
        write_dir_atomic(blocker / "out", _fill)


def test_fsync_helpers_skip_what_cannot_be_opened(tmp_path):
    fileio._fsync_path(tmp_path / "missing")  # no error
