"""`check_output_folder` / `result_kind`: --overwrite never replaces a user's folder."""

from __future__ import annotations

import json
import os

import pytest

from sinkscope.core.errors import InputError
from sinkscope.workflows.outputs import check_output_folder, result_kind
from tests.report.reportsynth import synthetic_result


def test_result_kinds(tmp_path):
    scan = synthetic_result((200,)).save(tmp_path / "scan")
    assert result_kind(scan) == "scan"
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"format": "sinkscope-sweep"}))
    assert result_kind(sweep) == "sweep"
    iv = tmp_path / "iv"
    iv.mkdir()
    (iv / "intervention.json").write_text("{}")
    synthetic_result((200,)).save(iv / "clean")
    assert result_kind(iv) == "intervention"
    user = tmp_path / "user"
    user.mkdir()
    (user / "manifest.json").write_text(json.dumps({"name": "my package"}))  # someone else's manifest
    (user / "sweep.json").write_text("[]")
    assert result_kind(user) is None


def test_overwrite_refuses_a_user_folder_and_names_it(tmp_path):
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "chapter1.tex").write_text("precious")
    with pytest.raises(InputError) as err:
        check_output_folder(user, overwrite=True)
    assert str(user) in str(err.value) and "chapter1.tex" in str(err.value) and "not a sinkscope result" in str(err.value)
    assert (user / "chapter1.tex").read_text() == "precious"
    with pytest.raises(InputError, match="already exists"):
        check_output_folder(user, overwrite=False)


def test_overwrite_accepts_empty_and_sinkscope_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output_folder(empty, overwrite=True) == empty
    scan = synthetic_result((200,)).save(tmp_path / "scan")
    assert check_output_folder(scan, overwrite=True) == scan
    assert check_output_folder(tmp_path / "new" / "deeper", overwrite=False) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # the check creates nothing


def test_impossible_outputs(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_folder(f, overwrite=True)
    with pytest.raises(InputError, match=f"'{f}' is a file"):
        check_output_folder(f / "sub" / "run", overwrite=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot be written"):
            check_output_folder(ro / "run", overwrite=False)
    finally:
        ro.chmod(0o755)
