"""reproduce.plans: the fixed prompt order, the per-model plans and the thread count."""

from __future__ import annotations

import pytest

from sinkscope.core.errors import InputError
from sinkscope.workflows.reproduce import (
    CATALOG_DECODERS,
    CATEGORY_PATTERN,
    Plan,
    bundled_prompts,
    choose_threads,
    resolve_plans,
    select_prompts,
)


def test_select_prompts_is_deterministic_prefix_and_math_first():
    rows = bundled_prompts()
    a, b = select_prompts(12, rows), select_prompts(32, rows)
    assert [r["id"] for r in a] == [r["id"] for r in b[:12]]
    assert [r["category"] for r in a[:6]] == list(CATEGORY_PATTERN)
    assert a[0]["category"] == "math"
    cats = [r["category"] for r in b]
    assert cats.count("math") == 16
    assert len({r["id"] for r in select_prompts(500, rows)}) == len(rows)  # all, no repeats
    with pytest.raises(InputError):
        select_prompts(0, rows)


def test_select_prompts_puts_unknown_categories_last():
    rows = [{"id": "x", "category": "zzz"}, {"id": "m", "category": "math"}, {"id": "c", "category": "code"}]
    assert [r["id"] for r in select_prompts(3, rows)] == ["m", "c", "x"]


def test_resolve_plans():
    full = resolve_plans(None, quick=False)
    assert list(full) == list(CATALOG_DECODERS)
    # bigger models get less work (forward and generation cost grow with size)
    assert full["qwen2.5-coder-1.5b"].prompts * full["qwen2.5-coder-1.5b"].generate < full["smollm2-135m"].prompts * full["smollm2-135m"].generate
    quick = resolve_plans(None, quick=True)
    assert list(quick) == ["smollm2-135m"]
    assert resolve_plans(["gemma3-270m"], quick=False, prompts=3, generate=7)["gemma3-270m"] == Plan(3, 7, 3, 3)
    with pytest.raises(InputError, match="unknown model"):
        resolve_plans(["gpt-5"], quick=False)
    with pytest.raises(InputError):
        resolve_plans(None, quick=True, prompts=0)
    with pytest.raises(InputError):
        resolve_plans(None, quick=True, generate=-1)


def test_choose_threads():
    assert choose_threads(3) == 3
    assert choose_threads(None) >= 1
    with pytest.raises(InputError):
        choose_threads(0)
