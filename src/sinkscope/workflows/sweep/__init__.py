"""Sweeps: every model x prompt into one resumable, partitioned Parquet store, then compared.

    from sinkscope import sweep
    rep = sweep.run_sweep("runs/sw", ["smollm2-135m", "gemma3-270m"], "prompts.jsonl")   # resumable
    sinks, layers, summary = sweep.load("runs/sw")        # completed units only
    table = sweep.compare("runs/sw")                      # + runs/sw/compare.csv, compare.md

CLI: `sinkscope sweep --models a,b --file prompts.jsonl --out DIR` and `sinkscope compare DIR`.
Store layout and crash-safety: `sinkscope.workflows.sweep.store`; executors (local, Ray): `.executor`.
"""

from sinkscope.workflows.sweep.compare import (
    SUMMARY_COLUMNS,
    compare,
    load,
    load_records,
    summarize,
    to_markdown,
)
from sinkscope.workflows.sweep.executor import SweepReport, Unit, run_sweep, run_units
from sinkscope.workflows.sweep.store import SweepStore, model_label, prompt_key, read_tables

run = run_sweep

__all__ = [
    "SUMMARY_COLUMNS",
    "SweepReport",
    "SweepStore",
    "Unit",
    "compare",
    "load",
    "load_records",
    "model_label",
    "prompt_key",
    "read_tables",
    "run",
    "run_sweep",
    "run_units",
    "summarize",
    "to_markdown",
]
