"""Generate the long reasoning traces of the long-trace protocol (issue 15), resumably.

A thin wrapper of `sinkscope.workflows.reproduce.traces` (problem selection, chat template,
seeded sampling with EOS suppressed, the fsynced JSONL store with torn-line recovery) with a
per-model trace count. The product entry point is

    sinkscope reproduce --protocol long --stages generate

which uses the per-model counts of `reproduce.long.LONG_PLANS`; this script is kept for runs
with other counts:

    python scripts/long_traces.py --out docs/reproduction/long/traces \\
        --model smollm2-135m:42 --model gemma3-270m:20 --model qwen2.5-coder-0.5b:42 \\
        --model qwen2.5-coder-1.5b:15 --tokens 1024

One torch thread (the project's measurement rule on the shared 2-core machine).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", action="append", required=True, help="NAME:N_PROMPTS")
    ap.add_argument("--tokens", type=int, default=1024)
    a = ap.parse_args()
    from sinkscope.workflows.reproduce.long import reproduce_long

    plans = {name: int(n) for name, n in (spec.rsplit(":", 1) for spec in a.model)}
    reproduce_long(traces=a.out, models=list(plans), plans=plans, stages=["generate"], n_tokens=a.tokens, threads=1)


if __name__ == "__main__":
    main()
