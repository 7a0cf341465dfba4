"""`sinkscope kv`: next-token NLL under simulated KV-cache eviction, policy x budget (docs/method.md §10).

    res = evaluate(lm, texts, policies=("full", "streaming", "streaming+secondary"), budgets=(64, 128))
    res.table; res.row("streaming", 64)["delta_nll"]; res.save("runs/kv")

Each text is run once with full attention and once per (policy, budget) through the sinkscope
attention function with the policy's visibility rule (`capture.kv_policies`). A text's score is
its mean NLL over the positions t in [P, T - 1) (the token after the prompt on; P = the prompt
length rounded down to a multiple of the query block, 32, so SnapKV's observation window is
complete), the same positions for every policy; its delta is that minus the full-cache score.

With `work=DIR` the run is resumable: each finished evaluation is stored in DIR/.partial as soon
as its forward pass ends, and a later call with the same settings (`kv_settings`) reuses it
(`workflows.kv.work`), so an interrupted study continues where it stopped and more texts can be
added later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from sinkscope.analysis.config import DetectConfig
from sinkscope.capture.inputs import Input, check_ids, input_ids, tokenize
from sinkscope.capture.kv_policies import (
    BLOCK,
    N_SINK,
    POLICIES,
    SNAP_KERNEL,
    KVPolicy,
    make_policy,
    run_policy,
)
from sinkscope.core.errors import InputError
from sinkscope.core.version import __version__, command_line
from sinkscope.models.base import LoadedModel
from sinkscope.report.kv import budget_columns, budget_labels, numeric_budgets
from sinkscope.workflows.kv.inputs import KVText, read_texts
from sinkscope.workflows.kv.result import KVResult, bootstrap_mean_ci, summarize
from sinkscope.workflows.kv.work import KVWork, eval_name, is_work_folder, settings_hash, text_key

DEFAULT_BUDGETS: tuple[int, ...] = (64, 128, 256, 512)
DEFAULT_PROMPT_FRAC = 0.5


def resolve_budget(budget: int | float, n_tokens: int) -> int:
    """K in keys: an int >= 1 as is; a fraction in (0, 1] of the text's tokens, rounded, at least 1."""
    if isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
        if budget < 1:
            raise InputError(f"budget must be >= 1 key or a fraction in (0, 1] (got {budget}).")
        return int(budget)
    b = float(budget)
    if not 0 < b <= 1:
        raise InputError(f"budget must be >= 1 key or a fraction in (0, 1] (got {budget}).")
    return max(1, int(round(b * n_tokens)))


def resolve_prompt(text: KVText, prompt_len: int | float | None, block: int = BLOCK) -> int:
    """P: `prompt_len` (int tokens, or a fraction of T), else the text's n_prompt, else half the
    text; rounded down to a multiple of `block`."""
    n = len(text.token_ids)
    if prompt_len is None:
        p = text.n_prompt if text.n_prompt is not None else int(DEFAULT_PROMPT_FRAC * n)
    elif isinstance(prompt_len, float):
        if not 0 <= prompt_len < 1:
            raise InputError(f"prompt length as a fraction must be in [0, 1) (got {prompt_len}).")
        p = int(prompt_len * n)
    else:
        p = int(prompt_len)
    return (max(0, p) // block) * block


def as_texts(lm: LoadedModel, texts: Sequence[str | KVText | Input], chat: bool = False) -> list[KVText]:
    """Strings are tokenised with the model's tokenizer (special tokens added; with `chat`, as the
    user turn of its chat template); an `Input` (prompt + response, token ids, ...) as
    `capture.inputs.input_ids` reads it (the response start is the prompt length); KVText kept."""
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, KVText):
            check_ids(lm, t.token_ids, f"text '{t.id}'")
            out.append(t)
        elif isinstance(t, str):
            out.append(KVText(id=f"text-{i}", token_ids=tokenize(lm, t, chat=chat)))
        elif isinstance(t, Input):
            ids, n_prompt, _ = input_ids(lm, t, chat=chat)
            out.append(KVText(id=t.name or t.source, token_ids=ids, n_prompt=n_prompt, model=t.writer))
        else:
            raise InputError(f"text {i} is a {type(t).__name__}: pass strings, Inputs or KVText objects.")
    return out


def kv_settings(lm: LoadedModel, policies: Sequence[str], budgets: Sequence[int | float],
                prompt_len: int | float | None, max_secondary: int, tau: float, recent_frac: float,
                obs_window: int) -> dict:
    """Everything a per-text number depends on, besides the text: the identity of a resumable run
    (`work.KVWork`). Not in it: the bootstrap (n_boot, seed: recomputed from the per-text rows),
    torch threads and the device (float-level differences only)."""
    info = lm.info
    return {
        "sinkscope_version": __version__,
        "model": {"ref": info.ref, "source_hash": info.source_hash, "model_type": info.model_type,
                  "n_layers": info.n_layers},
        "dtype": str(info.dtype),
        "policies": [p for p in POLICIES if p in policies],
        "budgets": [str(b) for b in budgets],
        "parameters": {"block": BLOCK, "n_sink": N_SINK, "prompt_len": prompt_len, "max_secondary": max_secondary,
                       "tau": tau, "recent_frac": recent_frac, "obs_window": obs_window, "snap_kernel": SNAP_KERNEL},
    }


def evaluate(
    lm: LoadedModel,
    texts: Sequence[str | KVText | Input],
    policies: Sequence[str] = POLICIES,
    budgets: Sequence[int | float] | int | float = DEFAULT_BUDGETS,
    *,
    prompt_len: int | float | None = None,
    max_secondary: int = 8,
    tau: float = DetectConfig.tau,
    recent_frac: float = 0.5,
    obs_window: int = 32,
    n_boot: int = 2000,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    work: str | Path | None = None,
    restart: bool = False,
    chat: bool = False,
) -> KVResult:
    """NLL and perplexity of `texts` under each KV policy at each budget (docs/method.md §10).

    budgets      kept keys per query: ints, or fractions in (0, 1] of each text's length
    prompt_len   P (see `resolve_prompt`): the scored positions are [P, T - 1); snap's prompt
    max_secondary, tau            streaming+secondary: sink slots, §2 cosine threshold
    recent_frac  heavy-hitter and snap: the recent share of the budget
    obs_window   snap: observation-window queries
    work         a folder (the CLI's --out): every finished (text, policy, budget) evaluation is
                 stored under WORK/.partial as it finishes and read back by a later call with the
                 same settings instead of being recomputed (`work.KVWork`; other settings are an
                 InputError); `restart` discards the stored ones first
    chat         strings and prompts as the user turn of the tokenizer's chat template
    progress(unit, done, total) with unit "forward passes" (after every forward still to run) and
    "texts" (once at the start, then after every text).
    """
    budgets = [budgets] if isinstance(budgets, (int, float)) else list(budgets)
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        raise InputError(f"unknown KV policy '{bad[0]}': choose from {', '.join(POLICIES)}.")
    if not budgets:
        raise InputError("give at least one budget.")
    items = as_texts(lm, texts, chat=chat)
    if not items:
        raise InputError("no text to evaluate.")
    prompts = [resolve_prompt(t, prompt_len) for t in items]
    for text, P in zip(items, prompts):  # every text is checked before the first forward pass
        if P >= len(text.token_ids) - 1:
            raise InputError(f"text '{text.id}' ({len(text.token_ids)} tokens) has no position after its prompt "
                             f"({P} tokens, rounded to a multiple of {BLOCK}); use a shorter prompt length or a "
                             "longer text.")
    settings = kv_settings(lm, policies, budgets, prompt_len, max_secondary, tau, recent_frac, obs_window)
    store = KVWork.open(work, settings, restart=restart) if work is not None else None
    evicting = [p for p in dict.fromkeys(policies) if p != "full"]
    names = ["full"] + [eval_name(p, b) for b in budgets for p in evicting]
    keys = [text_key(t) for t in items]
    stored = [{n: r for n in names if store is not None and (r := store.get(k, n)) is not None} for k in keys]
    total = sum(len(names) - len(s) for s in stored)
    done, t0 = 0, time.perf_counter()
    device = str(lm.model.get_input_embeddings().weight.device)

    def tick(unit: str, i: int, n: int) -> None:
        if progress:
            progress(unit, i, n)

    def evaluation(i: int, name: str, policy: KVPolicy | None, P: int) -> dict:
        nonlocal done
        if name in stored[i]:
            return stored[i][name]
        run = run_policy(lm, items[i].token_ids, policy)
        rec = {"nll": float(run.nll[P:].mean()), "device": device}
        if policy is not None:
            rec["dropped"] = [float(d) for d in run.dropped[:, P:].mean(axis=1)]
        if store is not None:
            store.put(keys[i], name, rec)
        done += 1
        tick("forward passes", done, total)
        return rec

    tick("texts", sum(len(s) == len(names) for s in stored), len(items))
    model = lm.info.ref
    rows: list[dict] = []
    drop_rows: list[dict] = []
    for i, text in enumerate(items):
        n, P = len(text.token_ids), prompts[i]
        ref = evaluation(i, "full", None, P)["nll"]
        base = dict(model=model, text=text.id, n_tokens=n, prompt_len=P, n_scored=n - 1 - P)
        for budget in budgets:
            K = resolve_budget(budget, n)
            if "full" in policies:
                rows.append(dict(base, policy="full", **budget_columns(budget), keys=K, nll=ref, delta_nll=0.0))
            for name in evicting:
                pol = make_policy(name, K, prompt_len=P, max_secondary=max_secondary, tau=tau,
                                  recent_frac=recent_frac, obs_window=obs_window)
                rec = evaluation(i, eval_name(name, budget), pol, P)
                rows.append(dict(base, policy=name, **budget_columns(budget), keys=K, nll=rec["nll"],
                                 delta_nll=rec["nll"] - ref))
                for layer, d in enumerate(rec["dropped"]):
                    drop_rows.append(dict(model=model, text=text.id, policy=name, **budget_columns(budget),
                                          layer=layer, dropped_mass=d))
        if len(stored[i]) < len(names):
            tick("texts", sum(len(s) == len(names) for s in stored[i + 1:]) + i + 1, len(items))
    per_text = numeric_budgets(pd.DataFrame(rows))
    per_text["_b"] = budget_labels(per_text)  # the budget as given: its sort and group key ("64", "0.25")
    per_text["policy"] = pd.Categorical(per_text["policy"], categories=[p for p in POLICIES if p in policies])
    per_text = per_text.sort_values(["policy", "_b"], kind="stable").drop(columns="_b").reset_index(drop=True)
    per_text["policy"] = per_text["policy"].astype(str)
    drop_cols = ["model", "text", "policy", "budget", "budget_fraction", "layer", "dropped_mass"]
    drop_text = numeric_budgets(pd.DataFrame(drop_rows, columns=drop_cols))
    drop_text["_b"] = budget_labels(drop_text)
    dropped = (drop_text.groupby(["model", "policy", "_b", "layer"], sort=False, as_index=False)
               .agg(budget=("budget", "first"), budget_fraction=("budget_fraction", "first"),
                    dropped_mass=("dropped_mass", "mean"))
               .drop(columns="_b"))
    dropped = numeric_budgets(dropped[["model", "policy", "budget", "budget_fraction", "layer", "dropped_mass"]])
    table = summarize(per_text, dropped, n_boot, seed)
    manifest = _manifest(lm, policies, settings, n_boot, seed, items, time.perf_counter() - t0)
    devices = sorted({rec.get("device", device) for s in stored for rec in s.values()} | ({device} if done else set()))
    manifest["evaluations"] = {"computed": done, "reused": len(names) * len(items) - total, "devices": devices,
                               "settings_hash": settings_hash(settings) if store is not None else None}
    return KVResult(table=table, per_text=per_text, dropped=dropped, manifest=manifest)


def _manifest(lm: LoadedModel, policies: Sequence[str], settings: dict, n_boot: int, seed: int,
              items: list[KVText], seconds: float) -> dict:
    """manifest.json: the budgets and parameters of `kv_settings` (plus the bootstrap's), versions, texts."""
    import torch
    import transformers

    info = lm.info
    return {
        "kind": "kv",
        "sinkscope_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "model": {"ref": info.ref, "model_type": info.model_type, "architecture": info.architecture,
                  "n_layers": info.n_layers, "n_heads": info.n_heads, "n_kv_heads": info.n_kv_heads,
                  "source_hash": info.source_hash},
        "dtype": info.dtype,
        "policies": list(policies),
        "budgets": settings["budgets"],
        "parameters": {**settings["parameters"], "n_boot": n_boot, "seed": seed},
        "texts": [{"id": t.id, "n_tokens": len(t.token_ids), "n_prompt": t.n_prompt, "written_by": t.model} for t in items],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "seconds": round(seconds, 2),
    }


__all__ = ["evaluate", "kv_settings", "is_work_folder", "KVWork", "KVResult", "KVText", "read_texts", "resolve_budget", "resolve_prompt", "bootstrap_mean_ci",
           "DEFAULT_BUDGETS"]
