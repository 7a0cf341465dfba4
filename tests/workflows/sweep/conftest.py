"""Shared fixtures of the sweep tests: a small prompt file and one real sweep (SmolLM2, 3 short
prompts) that several tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflows.sweep.sweep_helpers import MODEL, write_prompts


@pytest.fixture(scope="session")
def prompt_file(tmp_path_factory) -> Path:
    """3 good prompts and 2 bad lines (2: not JSON, 4: no "text"): sweeps use --on-error skip."""
    return write_prompts(tmp_path_factory.mktemp("prompts") / "prompts.jsonl", bad_lines=True)


@pytest.fixture(scope="session")
def swept(tmp_path_factory, smollm2, prompt_file):
    """(store folder, SweepReport) of SmolLM2 over `prompt_file`, run in-process (local executor)."""
    from sinkscope.workflows.sweep import run_sweep

    out = tmp_path_factory.mktemp("sweeps") / "base"
    rep = run_sweep(out, {MODEL: smollm2}, prompt_file, on_error="skip")
    return out, rep
