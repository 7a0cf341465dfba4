"""Capture benchmark: wall time and peak RSS of sinkscope's capture against plain forwards.

    python benchmarks/capture.py                 # the issue's grid (SmolLM2 512..16384, Qwen-1.5B 2048, 8192)
    python benchmarks/capture.py --quick         # SmolLM2 at 512 and 2048 only
    python benchmarks/capture.py --models smollm2-135m --lengths 1024,4096

Every measurement runs in a fresh process (so peak RSS is that run's own) and does, on the same
token ids:
  sdpa   plain forward of the base model (no LM head) with HF's sdpa attention;
  eager  the same with eager attention and output_attentions=True (what today's tools need),
         skipped where its L x H x T x T maps would not fit in memory;
  scan   sinkscope's capture (blockwise attention + reductions), same base-model forward;
  scan2  the same with the two-pass attention path forced (`capture.twopass`: fused sdpa output and
         log-sum-exp, then a column pass), only with --twopass.
With --reps N (N > 1) each length runs N rounds of (sdpa, [eager,] scan, [scan2]) children in
turn, so load on a shared machine hits every variant alike; printed times are medians, ratios
the median of the per-round ratios to that round's sdpa, memory the median peak RSS.
The baseline is the base model without the LM head for all three, so no run pays for [T, vocab]
logits. Ratios are printed against sdpa measured in the same run. Peak RSS includes the weights.
Each child first runs a 32-token warm-up forward, so one-time initialisation is not timed.
"scan +MB/1k tok" is the growth of scan's peak RSS per 1,000 extra tokens between consecutive
lengths: a constant value means memory grows linearly in T.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

GRID = {"smollm2-135m": [512, 2048, 4096, 8192, 16384], "qwen2.5-coder-1.5b": [2048, 8192]}
QUICK = {"smollm2-135m": [512, 2048]}


def _ids(lm, n: int) -> list[int]:
    from sinkscope.capture.inputs import bundled_path

    text = "\n\n".join(json.loads(line)["text"] for line in bundled_path("prompts.jsonl").read_text().splitlines() if line.strip())
    ids = lm.tokenizer(text)["input_ids"]
    while len(ids) < n:
        ids = ids + ids
    return ids[:n]


def child(model: str, n: int, how: str, threads: int) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    import sinkscope
    from sinkscope.capture.engine import capture
    from sinkscope.capture.trace import CaptureSettings

    torch.set_grad_enabled(False)
    lm = sinkscope.load_model(model)
    ids = _ids(lm, n)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = lm.model.base_model

    def run(seq: list[int]) -> None:
        if how == "sdpa":
            lm.model.set_attn_implementation("sdpa")
            base(input_ids=torch.tensor([seq]), use_cache=False)
        elif how == "eager":
            lm.model.set_attn_implementation("eager")
            base(input_ids=torch.tensor([seq]), use_cache=False, output_attentions=True)
        elif how == "scan2":
            from sinkscope.capture import twopass

            with twopass.attention_path("twopass"):
                capture(lm, ["bench"], [seq], [[""] * len(seq)], CaptureSettings())
        else:
            capture(lm, ["bench"], [seq], [[""] * len(seq)], CaptureSettings())

    run(ids[:32])  # warm-up: one-time kernel/initialisation costs are not part of the measurement
    t0 = time.perf_counter()
    run(ids)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": model, "T": n, "how": how, "wall_s": wall, "peak_mb": peak, "loaded_mb": rss_loaded}


def eager_fits(model: str, n: int) -> tuple[bool, float]:
    from sinkscope.models.catalog import CATALOG

    e = CATALOG[model]
    need_gb = e.layers * e.heads * n * n * 4 / 2**30 * 1.5  # all maps + softmax temporaries
    avail_gb = __import__("psutil").virtual_memory().available / 2**30
    return need_gb < 0.7 * avail_gb, need_gb


def run_one(model: str, n: int, how: str, threads: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--child", model, str(n), how, str(threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return {"model": model, "T": n, "how": how, "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _median_round(rounds: list[dict], how: str) -> dict:
    """The median over rounds of one variant's wall time and peak RSS, and of its per-round
    ratios to that round's sdpa (t_ratio, m_ratio); the first error if any round failed."""
    import statistics

    runs = [rd[how] for rd in rounds]
    bad = [x for x in runs if "error" in x]
    if bad:
        return bad[0]
    out = dict(runs[0], wall_s=statistics.median(x["wall_s"] for x in runs),
               peak_mb=statistics.median(x["peak_mb"] for x in runs))
    pairs = [(x, rd["sdpa"]) for x, rd in zip(runs, rounds) if "wall_s" in rd["sdpa"]]
    if pairs:
        out["t_ratio"] = statistics.median(x["wall_s"] / b["wall_s"] for x, b in pairs)
        out["m_ratio"] = statistics.median(x["peak_mb"] / b["peak_mb"] for x, b in pairs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default=None, help="comma-separated catalog names")
    ap.add_argument("--lengths", default=None, help="comma-separated token counts (with --models)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads in every child (0 = torch's default). Use 1 on a shared machine: "
                         "OpenMP spin-waiting makes many-small-op code pay far more than sdpa under contention.")
    ap.add_argument("--twopass", action="store_true", help="also measure scan with the two-pass path forced (scan2)")
    ap.add_argument("--no-eager", action="store_true", help="skip the eager output_attentions run")
    ap.add_argument("--reps", type=int, default=1, help="rounds per length (median of per-round ratios)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.child[2], int(a.child[3]))))
        return
    grid = QUICK if a.quick else GRID
    if a.models:
        lengths = [int(x) for x in a.lengths.split(",")] if a.lengths else None
        grid = {m: lengths or GRID.get(m, [512, 2048]) for m in a.models.split(",")}
    import sinkscope

    for m in grid:  # pull/convert once, outside the timed children
        sinkscope.load_model(m)
    rows = []
    hdr = f"{'model':20s} {'T':>6s} {'sdpa s':>8s} {'eager s':>8s} {'scan s':>8s} {'scan/sdpa t':>11s} " \
          f"{'sdpa MB':>8s} {'eager MB':>9s} {'scan MB':>8s} {'scan/sdpa mem':>13s} {'scan +MB/1k tok':>15s}"
    if a.twopass:
        hdr += f" {'scan2 s':>8s} {'scan2/sdpa t':>12s} {'scan2 MB':>8s} {'scan2/sdpa mem':>14s}"
    import torch

    print(f"torch {torch.__version__}, threads per run: {a.threads or torch.get_num_threads()}, "
          f"cpus: {os.cpu_count()}")
    print(hdr)
    for m, lengths in grid.items():
        prev = None  # (T, scan peak) of the previous length: the slope shows linear growth in T
        for n in lengths:
            fits, need = eager_fits(m, n)
            fits = fits and not a.no_eager
            hows = ["sdpa", *(["eager"] if fits else []), "scan", *(["scan2"] if a.twopass else [])]
            rounds = [{h: run_one(m, n, h, a.threads) for h in hows} for _ in range(max(1, a.reps))]
            r = {h: _median_round(rounds, h) for h in hows}
            if not fits:
                r["eager"] = {"skipped": "--no-eager" if a.no_eager else f"needs ~{need:.0f} GB"}
            rows.append({"model": m, "T": n, **r, "rounds": rounds})
            s, e, c = r["sdpa"], r["eager"], r["scan"]

            def g(d, k, fmt):
                return format(d[k], fmt) if k in d else ("skip" if "skipped" in d else "err")

            tr, mr = c.get("t_ratio", float("nan")), c.get("m_ratio", float("nan"))
            act = float("nan")
            if "peak_mb" in c:
                if prev is not None:
                    act = (c["peak_mb"] - prev[1]) / ((n - prev[0]) / 1000)
                prev = (n, c["peak_mb"])
            print(f"{m:20s} {n:6d} {g(s,'wall_s','8.2f')} {g(e,'wall_s','8.2f')} {g(c,'wall_s','8.2f')} {tr:11.2f} "
                  f"{g(s,'peak_mb','8.0f')} {g(e,'peak_mb','9.0f')} {g(c,'peak_mb','8.0f')} {mr:13.2f} {act:15.1f}"
                  + (f" {g(r['scan2'],'wall_s','8.2f')} {r['scan2'].get('t_ratio', float('nan')):12.2f} "
                     f"{g(r['scan2'],'peak_mb','8.0f')} {r['scan2'].get('m_ratio', float('nan')):14.2f}" if a.twopass else ""),
                  flush=True)
            for d in (s, e, c, *([r["scan2"]] if a.twopass else [])):
                if "error" in d:
                    print(f"   {d['how']}: {d['error']}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
