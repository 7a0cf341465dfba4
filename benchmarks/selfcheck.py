"""Cost of the capture's self-check (capture.selfcheck): capture wall time with and without it.

    python benchmarks/selfcheck.py                       # SmolLM2, T = 1024 and 4096, 5 repetitions, 1 thread
    python benchmarks/selfcheck.py --lengths 1024 --reps 3

One process, one torch thread, the same token ids; the two variants alternate (on, off, on, off,
...) so drift in machine load hits both alike, after one untimed warm-up of each. Printed per
length: median wall time of each variant, the median of the per-pair ratios (on / off), and the
min-over-repetitions ratio. The check runs on the first batch only (here the whole capture: one
prompt), so these are upper bounds for multi-batch captures. "in check": the share of the
with-check wall time spent computing the residues (timed inside; insensitive to machine load).
"cpu ratio": the median per-pair ratio of process CPU time (time.process_time; with one thread
far less sensitive than wall time to other jobs on a shared machine, which only delay the process).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import _ids  # noqa: E402  (benchmarks/capture.py: the bundled prompts, repeated to length)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--lengths", default="1024,4096")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    import sinkscope
    from sinkscope.capture import engine
    from sinkscope.capture.engine import capture
    from sinkscope.capture.trace import CaptureSettings

    lm = sinkscope.load_model(a.model)
    inside = [0.0]  # seconds spent in the residue computation itself (load-independent lower bound)
    check_block = engine.Recorder._check

    def timed(self, layer, h):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        check_block(self, layer, h)
        inside[0] += time.perf_counter() - t0

    engine.Recorder._check = timed  # type: ignore[method-assign]

    def run(seq: list[int], check: bool) -> tuple[float, dict, float]:
        settings = CaptureSettings()
        t0, c0 = time.perf_counter(), time.process_time()
        capture(lm, ["bench"], [seq], [[""] * len(seq)], settings, self_check=check)
        return time.perf_counter() - t0, settings.self_check or {}, time.process_time() - c0

    print(f"{a.model}, torch threads {torch.get_num_threads()}, {a.reps} repetitions per variant")
    print(f"{'T':>6s} {'with s':>8s} {'without s':>9s} {'median ratio':>12s} {'min ratio':>9s} {'cpu ratio':>9s} "
          f"{'in check':>8s}  check")
    for n in (int(x) for x in a.lengths.split(",")):
        seq = _ids(lm, n)
        run(seq, True), run(seq, False)  # warm-up
        on, off, cpu_on, cpu_off = [], [], [], []
        inside[0] = 0.0
        check: dict = {}
        for r in range(a.reps):
            for flag in (r % 2 == 0, r % 2 == 1):  # on/off, then off/on: neither always runs first
                t, got, c = run(seq, flag)
                (on if flag else off).append(t)
                (cpu_on if flag else cpu_off).append(c)
                check = got if flag else check
        ratios = [x / y for x, y in zip(on, off)]
        cpu = statistics.median(x / y for x, y in zip(cpu_on, cpu_off))
        print(f"{n:6d} {statistics.median(on):8.2f} {statistics.median(off):9.2f} {statistics.median(ratios):12.3f} "
              f"{min(on) / min(off):9.3f} {cpu:9.3f} {100 * inside[0] / sum(on):7.2f}%  {check.get('status')} (max residue {check.get('max_residue', float('nan')):.1e}, "
              f"tolerance {check.get('tolerance', float('nan')):.1e})")


if __name__ == "__main__":
    main()
