"""What the reproduction runs: the models, the per-model workload (`Plan`), the fixed prompt
order (`select_prompts`) and the torch thread count."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinkscope.core.errors import InputError

CATALOG_DECODERS = ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


@dataclass(frozen=True)
class Plan:
    """Per-model workload: prompts from `select_prompts`, tokens generated per prompt, and the cap
    on the causal check (the first `intervene_prompts` prompts with a secondary sink, at most
    `max_sinks` of each, the strongest by mean score)."""

    prompts: int
    generate: int
    intervene_prompts: int = 3
    max_sinks: int = 3


# Chosen by measurement on the project's 2-core machine (shared with other work, 1 torch thread).
# Greedy generation costs ~0.05-0.1 s/token (SmolLM2, Gemma3), ~0.1-0.4 s/token (Qwen-0.5B) and
# ~0.5-1.2 s/token (Qwen-1.5B), light vs heavy load; a capture of ~450 tokens ~2-3, 3, 4-7 and
# 8-16 s. A first full run (32/32/16/8 prompts x 128/128/64/48 tokens) took 3.6 + 6.5 + 3.3 +
# 5.5 = 19 min under light load, and showed that every Qwen secondary sink sits in the chat
# template's system prompt (shared by all prompts), so the Qwen plans trade prompts for longer
# continuations (the paper's sinks come from long generated reasoning): ~25 min light load,
# ~50 min heavy.
FULL_PLANS: dict[str, Plan] = {
    "smollm2-135m": Plan(prompts=32, generate=128),
    "gemma3-270m": Plan(prompts=32, generate=128),
    "qwen2.5-coder-0.5b": Plan(prompts=12, generate=192),
    "qwen2.5-coder-1.5b": Plan(prompts=6, generate=128),
}
DEFAULT_PLAN = Plan(prompts=8, generate=48)  # a model outside the catalog
QUICK_MODELS = ("smollm2-135m",)
QUICK_PLAN = Plan(prompts=6, generate=48, intervene_prompts=2, max_sinks=2)
INTERVENTION_MODE = "project-out"

# Deterministic prompt order: categories interleaved with math first and twice as often (the
# paper analysed reasoning traces); within a category, file order of prompts.jsonl.
CATEGORY_PATTERN = ("math", "code", "math", "prose", "math", "chat")


def bundled_prompts() -> list[dict[str, Any]]:
    """The rows of the bundled prompts.jsonl (id, category, text), in file order."""
    from sinkscope.capture.inputs import bundled_path  # imports torch: only when prompts are read

    path = bundled_path("prompts.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def select_prompts(n: int, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The first n prompts of the fixed reproduction order: walk `CATEGORY_PATTERN` cyclically
    (math, code, math, prose, math, chat, ...), taking the next unused prompt of that category in
    file order; exhausted categories are skipped. Deterministic, and the subset for n is a prefix
    of the subset for any larger n (so bigger models see a subset of the smaller models' texts)."""
    rows = bundled_prompts() if rows is None else rows
    if n < 1:
        raise InputError(f"--prompts must be >= 1 (got {n}).")
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cat.setdefault(str(r.get("category", "other")), []).append(r)
    pattern = [c for c in CATEGORY_PATTERN if c in by_cat]
    pattern += [c for c in sorted(by_cat) if c not in pattern]  # categories outside the pattern last
    idx = {c: 0 for c in by_cat}
    out: list[dict[str, Any]] = []
    n = min(n, len(rows))
    while len(out) < n:
        progressed = False
        for c in pattern:
            if len(out) >= n:
                break
            if idx[c] < len(by_cat[c]):
                out.append(by_cat[c][idx[c]])
                idx[c] += 1
                progressed = True
        if not progressed:
            break
    return out


def choose_threads(requested: int | None = None) -> int:
    """torch intra-op threads. On a shared 2-core machine two spinning OpenMP threads slow a forward
    down up to ~10-16x when other processes hold the cores (measured), so `None` (auto) takes all
    cores only when the 1-minute load average is below 0.5, else 1."""
    if requested is not None:
        if requested < 1:
            raise InputError(f"--threads must be >= 1 (got {requested}).")
        return int(requested)
    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux / macOS
        load = 0.0
    return n if load < 0.5 else 1


def resolve_plans(
    models: Sequence[str] | None,
    quick: bool,
    prompts: int | None = None,
    generate: int | None = None,
) -> dict[str, Plan]:
    """Model -> Plan: the full plans (or the quick plan on SmolLM2), overridden by --prompts /
    --generate for every model."""
    if models is None:
        names = list(QUICK_MODELS if quick else CATALOG_DECODERS)
    else:
        names = [m.strip() for m in models if m and m.strip()]
        if not names:
            raise InputError("--models is empty; give catalog names, e.g. smollm2-135m,gemma3-270m.")
        for m in names:
            if m not in CATALOG_DECODERS and not Path(m).exists():
                raise InputError(
                    f"unknown model '{m}' for reproduce; use catalog decoders ({', '.join(CATALOG_DECODERS)}) "
                    "or a local model folder / .gguf file."
                )
    if prompts is not None and prompts < 1:
        raise InputError(f"--prompts must be >= 1 (got {prompts}).")
    if generate is not None and generate < 0:
        raise InputError(f"--generate must be >= 0 (got {generate}).")
    plans = {}
    for m in names:
        base = QUICK_PLAN if quick else FULL_PLANS.get(m, DEFAULT_PLAN)
        plans[m] = Plan(
            prompts=prompts if prompts is not None else base.prompts,
            generate=generate if generate is not None else base.generate,
            intervene_prompts=base.intervene_prompts,
            max_sinks=base.max_sinks,
        )
    return plans
