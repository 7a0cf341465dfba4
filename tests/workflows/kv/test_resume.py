"""A resumable `sinkscope kv` run (workflows.kv.work): an interrupted or extended run gives exactly
the tables of an uninterrupted one without recomputing finished evaluations; other settings are refused."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sinkscope.kv
from sinkscope.capture.kv_policies import POLICIES
from sinkscope.cli import app
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.kv import KVResult, KVText, KVWork, is_work_folder, read_texts
from sinkscope.workflows.kv.work import PARTIAL, settings_hash, text_key
from tests.capture.archs import ToyTokenizer, build, random_ids

BUDGETS = [24, 0.5]
PER_TEXT = 1 + (len(POLICIES) - 1) * len(BUDGETS)  # forward passes per text


@pytest.fixture(scope="module")
def toy():
    return LoadedModel.from_pair(build("llama"), ToyTokenizer())


@pytest.fixture(scope="module")
def texts():
    return [KVText(id=f"t{i}", token_ids=random_ids(130 + 10 * i, 10 + i), n_prompt=40) for i in range(3)]


@pytest.fixture(scope="module")
def reference(toy, texts):
    """The uninterrupted run, without a work folder."""
    return sinkscope.kv.evaluate(toy, texts, POLICIES, BUDGETS, n_boot=200)


class Forwards:
    """Counts the model's real forward passes (a forward hook on the base model's first layer)."""

    def __init__(self, lm: LoadedModel):
        self.n = 0
        layer = lm.model.model.layers[0]
        self.handle = layer.register_forward_hook(lambda *a: setattr(self, "n", self.n + 1))

    def __enter__(self) -> "Forwards":
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def assert_same_tables(a: KVResult, b: KVResult) -> None:
    for name in ("table", "per_text", "dropped"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


def test_interrupted_run_resumes_exactly(toy, texts, reference, tmp_path):
    k = PER_TEXT + 4  # interrupt inside the second text

    def stop(unit, done, total):
        if unit == "forward passes" and done == k:
            raise KeyboardInterrupt

    with Forwards(toy) as fw, pytest.raises(KeyboardInterrupt):
        sinkscope.kv.evaluate(toy, texts, POLICIES, BUDGETS, n_boot=200, work=tmp_path, progress=stop)
    assert fw.n == k
    assert is_work_folder(tmp_path)
    assert len(list((tmp_path / PARTIAL).glob("*/*.json"))) == k
    seen: list[tuple[str, int, int]] = []
    with Forwards(toy) as fw:
        res = sinkscope.kv.evaluate(toy, texts, POLICIES, BUDGETS, n_boot=200, work=tmp_path,
                                    progress=lambda *a: seen.append(a))
    assert fw.n == 3 * PER_TEXT - k  # the finished evaluations are not recomputed
    assert res.manifest["evaluations"]["computed"] == 3 * PER_TEXT - k
    assert res.manifest["evaluations"]["reused"] == k and res.manifest["evaluations"]["devices"] == ["cpu"]
    assert_same_tables(res, reference)
    texts_ticks = [a for a in seen if a[0] == "texts"]
    assert texts_ticks == [("texts", 1, 3), ("texts", 2, 3), ("texts", 3, 3)]
    # a third run computes nothing
    with Forwards(toy) as fw:
        again = sinkscope.kv.evaluate(toy, texts, POLICIES, BUDGETS, n_boot=200, work=tmp_path)
    assert fw.n == 0
    assert_same_tables(again, reference)


def test_more_texts_later_reuse_the_finished_ones(toy, texts, reference, tmp_path):
    sinkscope.kv.evaluate(toy, texts[:2], POLICIES, BUDGETS, n_boot=200, work=tmp_path)
    with Forwards(toy) as fw:
        res = sinkscope.kv.evaluate(toy, texts, POLICIES, BUDGETS, n_boot=200, work=tmp_path)
    assert fw.n == PER_TEXT
    assert_same_tables(res, reference)


def test_other_settings_are_refused_and_restart_discards(toy, texts, tmp_path):
    sinkscope.kv.evaluate(toy, texts[:1], ["streaming"], [24], work=tmp_path, n_boot=10)
    for kw, what in ((dict(budgets=[32]), "budgets"), (dict(budgets=[24], tau=0.8), "parameters.tau"),
                     (dict(budgets=[24], policies=["recent"]), "policies")):
        args = dict(policies=["streaming"]) | kw
        with pytest.raises(InputError, match=f"other settings.*{what}.*--overwrite"):
            sinkscope.kv.evaluate(toy, texts[:1], work=tmp_path, n_boot=10, **args)
    # n_boot and seed only change the summary: the same run
    sinkscope.kv.evaluate(toy, texts[:1], ["streaming"], [24], work=tmp_path, n_boot=20, seed=3)
    with Forwards(toy) as fw:
        sinkscope.kv.evaluate(toy, texts[:1], ["streaming"], [32], work=tmp_path, n_boot=10, restart=True)
    assert fw.n == 2
    meta = json.loads((tmp_path / PARTIAL / "partial.json").read_text())
    assert meta["settings"]["budgets"] == ["32"] and meta["settings_hash"] == settings_hash(meta["settings"])


def test_a_changed_text_is_a_new_text(toy, texts, tmp_path):
    t = texts[0]
    changed = KVText(t.id, t.token_ids[:-1] + [3], t.n_prompt)
    assert text_key(changed) != text_key(t) and text_key(KVText(t.id, list(t.token_ids), t.n_prompt)) == text_key(t)
    sinkscope.kv.evaluate(toy, [t], ["recent"], [24], work=tmp_path, n_boot=10)
    with Forwards(toy) as fw:
        sinkscope.kv.evaluate(toy, [changed], ["recent"], [24], work=tmp_path, n_boot=10)
    assert fw.n == 2


def test_damaged_record_is_recomputed(toy, texts, tmp_path):
    sinkscope.kv.evaluate(toy, texts[:1], ["recent"], [24], work=tmp_path, n_boot=10)
    (tmp_path / PARTIAL / text_key(texts[0]) / "recent@24.json").write_text('{"nll": ')  # a torn file
    with Forwards(toy) as fw:
        sinkscope.kv.evaluate(toy, texts[:1], ["recent"], [24], work=tmp_path, n_boot=10)
    assert fw.n == 1
    assert KVWork(tmp_path, {}).n_finished() == 2


def _trace(path, n):
    path.write_text("".join(json.dumps({"id": f"x{i}", "n_prompt_tokens": 40, "token_ids": random_ids(120 + 8 * i, i,
                                                                                                      vocab=300)})
                            + "\n" for i in range(n)))
    return path


def test_cli_limit_2_then_3_equals_one_run(tiny_kv_folder, tmp_path):
    trace = _trace(tmp_path / "tr.jsonl", 3)
    base = ["kv", "--file", str(trace), "--model", str(tiny_kv_folder), "-p", "streaming", "-p", "heavy-hitter",
            "-b", "24", "--n-boot", "100", "--threads", "1"]
    run = CliRunner().invoke
    r = run(app, base + ["--limit", "2", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert KVResult.load(tmp_path / "a").manifest["evaluations"]["computed"] == 2 * 3
    r = run(app, base + ["--limit", "3", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert "3 evaluations computed, 6 reused" in " ".join(r.output.split())
    r = run(app, base + ["--limit", "3", "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    a, b = KVResult.load(tmp_path / "a"), KVResult.load(tmp_path / "b")
    assert a.manifest["evaluations"] == dict(b.manifest["evaluations"], computed=3, reused=6)
    assert_same_tables(a, b)
    assert set(a.per_text["text"]) == {"x0", "x1", "x2"}
    # another budget into the same folder is refused, and nothing is changed
    before = sorted(p.name for p in (tmp_path / "a" / PARTIAL).rglob("*"))
    r = run(app, [*base[:-6], "-b", "32", "--n-boot", "100", "--out", str(tmp_path / "a")])
    msg = " ".join(r.output.split())
    assert r.exit_code == 1 and "other settings" in msg and "budgets: ['24'] -> ['32']" in msg, msg
    assert sorted(p.name for p in (tmp_path / "a" / PARTIAL).rglob("*")) == before
    r = run(app, [*base[:-6], "-b", "32", "--n-boot", "100", "--out", str(tmp_path / "a"), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert set(KVResult.load(tmp_path / "a").table["budget"]) == {32}


def test_every_committed_study_folder_holds_the_evaluations_of_its_recorded_texts_file():
    """docs/kv/<model>: each folder's manifest names the --file it was run on; that file (committed)
    yields, under --limit, exactly the texts whose evaluations the folder's .partial stores, so the
    re-run command in docs/KV.md recomputes nothing."""
    root = Path(__file__).resolve().parents[3]
    folders = sorted(p for p in (root / "docs" / "kv").iterdir() if is_work_folder(p))
    assert len(folders) == 4
    for folder in folders:
        argv = shlex.split(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["command"])
        texts = read_texts(root / argv[argv.index("--file") + 1], limit=int(argv[argv.index("--limit") + 1]))
        stored = {p.name for p in (folder / PARTIAL).iterdir() if p.is_dir()}
        assert {text_key(t) for t in texts} == stored, folder.name
