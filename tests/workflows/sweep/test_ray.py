"""`--executor ray` on a local Ray instance (1 model x 3 short prompts): same store, same tables,
same completion / resume guarantees as the in-process executor."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sinkscope.cli import app
from sinkscope.core.errors import InputError
from sinkscope.workflows.sweep import load, prompt_key, run_sweep
from tests.workflows.sweep.sweep_helpers import MODEL, PROMPTS, records

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'sinkscope[ray]'")
pytestmark = pytest.mark.realmodel
runner = CliRunner()


def test_unreachable_cluster(tmp_path):
    """(First in the module: no Ray is initialised yet.)"""
    f = tmp_path / "p.jsonl"
    f.write_text('{"text": "a short text of a few words"}\n')
    out = tmp_path / "out"
    if ray.is_initialized():
        pytest.skip("a Ray instance is already initialised in this process")
    r = runner.invoke(app, ["sweep", "--models", MODEL, "--file", str(f), "--out", str(out), "--executor", "ray",
                            "--ray-address", "auto"], env={"RAY_ADDRESS": ""})
    assert r.exit_code == 1 and "cannot start or reach Ray" in r.output, r.output
    assert "Traceback" not in r.output and not out.exists()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs) for the module; run_sweep reuses an initialised Ray."""
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_sweep_matches_local_and_resumes(local_ray, swept, prompt_file, tmp_path):
    out0, _ = swept
    out = tmp_path / "ray"
    args = ["sweep", "--models", MODEL, "--file", str(prompt_file), "--out", str(out), "--on-error", "skip",
            "--executor", "ray", "--shard-size", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "ran 3" in r.output and "(ray," in r.output
    recs = records(out)
    assert len(recs) == 3 and {r["executor"] for r in recs.values()} == {"ray"}
    for x, y in zip(load(out0), load(out)):
        pd.testing.assert_frame_equal(x, y)
    # a lost completion record (a task killed before writing it): only that unit is redone
    key = prompt_key(PROMPTS[2])
    (out / "done" / MODEL / f"{key}.json").unlink()
    kept = {k: r["finished"] + str(r["pid"]) for k, r in records(out).items()}
    rep = run_sweep(out, [MODEL], prompt_file, on_error="skip", executor="ray", shard_size=2)
    assert rep.n_ran == 1 and rep.n_already == 2
    after = records(out)
    assert len(after) == 3 and all(after[k]["finished"] + str(after[k]["pid"]) == v for k, v in kept.items())
    for x, y in zip(load(out0), load(out)):
        pd.testing.assert_frame_equal(x, y)
    # nothing pending: the driver schedules nothing
    rep = run_sweep(out, [MODEL], prompt_file, on_error="skip", executor="ray")
    assert rep.n_ran == 0 and rep.n_already == 3


def test_ray_task_errors_surface(local_ray, tmp_path):
    """A bad input found inside a Ray task comes back as the same clear error; nothing is left."""
    f = tmp_path / "p.jsonl"
    f.write_text('{"text": "' + "word " * 9000 + '"}\n')
    out = tmp_path / "out"
    r = runner.invoke(app, ["sweep", "--models", MODEL, "--file", str(f), "--out", str(out), "--executor", "ray"])
    assert r.exit_code == 1 and "p.jsonl:1" in r.output and "8192-token context" in r.output, r.output
    assert "Traceback" not in r.output and not out.exists()


def test_ray_needs_model_references(smollm2, tmp_path):
    with pytest.raises(InputError, match="model names or paths"):
        run_sweep(tmp_path / "o", {MODEL: smollm2}, PROMPTS[:1], executor="ray")
    assert not (tmp_path / "o").exists()
