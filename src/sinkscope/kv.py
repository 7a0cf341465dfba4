"""KV-cache eviction measured against the sinks (docs/method.md §10): the public entry point.

    import sinkscope, sinkscope.kv
    lm = sinkscope.load_model("smollm2-135m")
    res = sinkscope.kv.evaluate(lm, texts, policies=("full", "streaming", "streaming+secondary"), budgets=(64, 128))
    res.table; res.save("runs/kv")

A re-export of `sinkscope.workflows.kv` (its own layer above workflows in the import contract).
"""

from __future__ import annotations

from sinkscope.capture.kv_policies import POLICIES
from sinkscope.workflows.kv import DEFAULT_BUDGETS, KVResult, KVText, evaluate, read_texts

__all__ = ["evaluate", "KVResult", "KVText", "read_texts", "POLICIES", "DEFAULT_BUDGETS"]
