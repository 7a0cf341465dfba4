"""workflows/runs.py and `sinkscope levels RUN`: the levels pooled over run folders equal each run's
own findings (its config, the layers with attention probabilities of a hybrid, docs/method.md §7, §11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sinkscope.analysis import AnalysisConfig, analyze, levels
from sinkscope.capture.trace import CaptureSettings, Trace
from sinkscope.core.errors import InputError
from sinkscope.workflows.runs import pool_runs
from sinkscope.workflows.scan import ScanResult
from tests.analysis.synth import make_trace, spec24
from tests.analysis.test_hybrid_layers import hybrid

OWN = AnalysisConfig(n_boot=20, tau=0.85, k=2.5, levels_min_share=0.05, levels_tol=1, weak_frac=0.6)  # non-default


def save_run(folder: Path, cfg: AnalysisConfig, *, hybrid_model: bool) -> Path:
    pt = make_trace(spec24())
    pt = hybrid(pt) if hybrid_model else pt
    manifest = {
        "format_version": 1,
        "model": {"ref": "synthetic-24l", "n_layers": pt.n_layers, "n_heads": pt.scores.shape[1]},
        "dtype": "float32",
        **cfg.manifest_entries(),
        "capture": CaptureSettings().to_dict(),
        "prompts": [{"source": "synthetic", "n_tokens": pt.n_tokens, "n_prompt_tokens": pt.n_tokens}],
        "timings": {},
    }
    return ScanResult(Trace([pt], CaptureSettings()), analyze([pt], cfg), manifest).save(folder)


@pytest.mark.parametrize("hybrid_model", [False, True])
def test_pooled_levels_of_one_run_are_its_findings(tmp_path, hybrid_model):
    run = save_run(tmp_path / "run", OWN, hybrid_model=hybrid_model)
    res = ScanResult.load(run)
    pooled = pool_runs([run])
    assert pooled.levels == res.findings.levels and (pooled.levels.min_share, pooled.levels.tol) == (0.05, 1)
    assert pooled.medians == pytest.approx(res.findings.medians, nan_ok=True)
    assert pooled.norm_law.n == res.findings.norm_law.n and pooled.norm_law.n_boot == 20
    if hybrid_model:  # what the old pooling (the run's level settings, no attention layers) printed differs
        assert levels(res.sinks, res.findings.n_layers, 0.05, 1) != res.findings.levels


def test_two_runs_pool_and_options_override(tmp_path):
    a = save_run(tmp_path / "a", OWN, hybrid_model=True)
    b = save_run(tmp_path / "b", OWN, hybrid_model=True)
    both = pool_runs([a, b])
    assert both.levels.n_sinks == 2 * ScanResult.load(a).findings.levels.n_sinks
    assert [lv.birth_range for lv in both.levels.levels] == [lv.birth_range for lv in ScanResult.load(a).levels().levels]
    assert pool_runs([a], min_share=0.5, tol=0).levels.min_share == 0.5


def test_runs_of_other_attention_layers_are_refused(tmp_path):
    a = save_run(tmp_path / "a", OWN, hybrid_model=True)
    b = save_run(tmp_path / "b", OWN, hybrid_model=False)
    with pytest.raises(InputError, match="different layers of attention"):
        pool_runs([a, b])


@pytest.mark.parametrize("hybrid_model", [False, True])
def test_levels_command_prints_the_runs_findings(tmp_path, hybrid_model):
    from sinkscope.cli import app
    from sinkscope.cli.common import console
    from sinkscope.report.console import print_levels

    run = save_run(tmp_path / "run", OWN, hybrid_model=hybrid_model)
    out = CliRunner().invoke(app, ["levels", str(run)])
    assert out.exit_code == 0, out.output
    with console.capture() as cap:
        print_levels(ScanResult.load(run).findings.levels, console)
    assert out.stdout == cap.get()
