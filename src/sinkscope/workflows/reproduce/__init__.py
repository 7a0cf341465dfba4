"""`sinkscope reproduce`: check the paper's five claims on every real decoder we can install.

Reproduces "On the Existence and Behaviour of Secondary Attention Sinks" (Wong et al., arXiv
2512.22213; docs/method.md "The claims to reproduce") on the catalog decoders (SmolLM2-135M,
Gemma3-270M, Qwen2.5-Coder-0.5B, Qwen2.5-Coder-1.5B):

    run = reproduce(out="docs", work="reproduce-runs")          # the full run (~20-50 min, 2 cores)
    run = reproduce(out=tmp, work=tmp / "w", quick=True)        # CI: SmolLM2 only, ~1-2 min

For each model: a fixed, deterministic subset of the bundled prompts (`select_prompts`), chat
template where the tokenizer has one, a greedy continuation of G tokens, one `scan` (with NLL).
Secondary sinks repeated in a prefix that several prompts share (the chat template's system
prompt) are counted once (`distinct_sinks`). Then the causal check (`causal_check`: project-out
at the birth block of distinct secondary sinks of the first few prompts, capped; the edit
`interventions.auto` makes, collected into an `AutoResult`). When the centred cosine keeps
fewer than half of the distinct sinks (Gemma3's shared direction, docs/method.md pitfalls), a second
entry re-analyses the same capture with it. Each model's scan folder (and its interventions
folder) is saved under `work/` so `sinkscope report` works on it.

The document is a PURE function of the results: `summarize_model` turns a de-duplicated scan (+
the causal check) into a JSON-able dict of numbers, `verdict_*` turn those numbers into a verdict by the
explicit rules in `RULES` (also printed into the document), and `render_markdown(run)` writes
REPRODUCTION.md from the run dict alone (`run` is also saved as reproduction/results.json, so
`render_markdown(json.load(...))` rebuilds the document without a model).

Modules (each imports only those above it):
    values   as_float, fmt_num, fmt_pct: one float coercion, the two number formats
    plans    CATALOG_DECODERS, Plan, FULL_PLANS, QUICK_PLAN, select_prompts, resolve_plans, choose_threads
    rules    RULES, VERDICTS, verdict_existence ... verdict_levels, discrete_levels, verdicts
    stats    distinct_sinks (Distinct), summarize_existence ... summarize_model, quantiles
    causal   pick_causal_targets, causal_check
    figures  write_model_figures (report.figures' norm-law, weakening and levels figures)
    render   render_markdown, rules_markdown: templates/REPRODUCTION.md.j2, templates/rules.md.j2 and
             references.json (the paper's title, claims and reference numbers)
    run      reproduce, run_model, write_outputs
The long-trace protocol (`sinkscope reproduce --protocol long`, issue 15):
    traces        Sampling, TraceRecord, TraceStore, generate_traces, read_traces, traces_hash
    long_stats    where_summary, Grid, sensitivity, sensitivity_summary (pure, over a ScanResult)
    long_figures  write_long_figures (depth histogram by region, (birth, lifetime) heatmap)
    long_render   render_long_markdown, document (short part unchanged, then the long section)
    long          reproduce_long, analyse_model, LONG_PLANS
"""

from __future__ import annotations

from sinkscope.workflows.reproduce.causal import causal_check, pick_causal_targets
from sinkscope.workflows.reproduce.figures import write_model_figures
from sinkscope.workflows.reproduce.long import LONG_PLANS, STAGES, analyse_model, reproduce_long
from sinkscope.workflows.reproduce.long_render import document, render_long_markdown
from sinkscope.workflows.reproduce.long_stats import Grid, sensitivity, sensitivity_summary, where_summary
from sinkscope.workflows.reproduce.plans import (
    CATALOG_DECODERS,
    CATEGORY_PATTERN,
    FULL_PLANS,
    INTERVENTION_MODE,
    QUICK_PLAN,
    Plan,
    bundled_prompts,
    choose_threads,
    resolve_plans,
    select_prompts,
)
from sinkscope.workflows.reproduce.render import references, render_markdown, rules_markdown
from sinkscope.workflows.reproduce.rules import (
    RULES,
    VERDICTS,
    discrete_levels,
    verdict_existence,
    verdict_formation,
    verdict_levels,
    verdict_norm_law,
    verdict_weakening,
    verdicts,
)
from sinkscope.workflows.reproduce.run import reproduce, run_model, write_outputs
from sinkscope.workflows.reproduce.stats import Distinct, distinct_sinks, prefix_keys, summarize_model
from sinkscope.workflows.reproduce.traces import (
    Sampling,
    TraceRecord,
    TraceStore,
    generate_traces,
    read_traces,
)

__all__ = [
    "CATALOG_DECODERS",
    "CATEGORY_PATTERN",
    "FULL_PLANS",
    "INTERVENTION_MODE",
    "LONG_PLANS",
    "STAGES",
    "Distinct",
    "Grid",
    "Sampling",
    "TraceRecord",
    "TraceStore",
    "analyse_model",
    "document",
    "generate_traces",
    "read_traces",
    "render_long_markdown",
    "reproduce_long",
    "sensitivity",
    "sensitivity_summary",
    "where_summary",
    "Plan",
    "QUICK_PLAN",
    "RULES",
    "VERDICTS",
    "bundled_prompts",
    "causal_check",
    "choose_threads",
    "discrete_levels",
    "distinct_sinks",
    "pick_causal_targets",
    "prefix_keys",
    "references",
    "render_markdown",
    "reproduce",
    "resolve_plans",
    "rules_markdown",
    "run_model",
    "select_prompts",
    "summarize_model",
    "verdict_existence",
    "verdict_formation",
    "verdict_levels",
    "verdict_norm_law",
    "verdict_weakening",
    "verdicts",
    "write_model_figures",
    "write_outputs",
]
