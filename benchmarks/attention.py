"""One attention layer: the single pass and the two-pass path against torch's fused sdpa.

    python benchmarks/attention.py                          # SmolLM2 shapes, T = 2k..16k, 3 rounds, 1 thread
    python benchmarks/attention.py --lengths 4096 --reps 5 --heads 32 --kv-heads 8 --head-dim 128
    python benchmarks/attention.py --blocks 16,32,64,96,128    # also the single pass at fixed query blocks

Random q [1, H, T, d], k/v [1, KV, T, d] in float32, causal. Per round, in turn:
  sdpa     torch's scaled_dot_product_attention (K/V repeated to H heads, as HF's sdpa path does);
  single   `sinkscope_attention` with a recorder, single pass (query blocks from `choose_query_block`);
  twopass  the same with the two-pass path forced (`capture.twopass`: fused output + lse, column pass);
  bN       (with --blocks) the single pass with N query rows per block instead of the rule's.
Printed per length: median time of each and the median of the per-round ratios to sdpa. This
isolates the attention from the rest of the model (`benchmarks/capture.py` measures whole captures).
"""

from __future__ import annotations

import argparse
import statistics
import time


def _variants(q, k, v, scale: float, module, sink_cls, blocks=()) -> dict:  # noqa: ANN001
    """The timed callables on one (q, k, v): sdpa, single, twopass, and one per fixed block."""
    import torch

    from sinkscope.capture import twopass
    from sinkscope.capture.attention import recording, sinkscope_attention

    groups = q.shape[1] // k.shape[1]

    def sdpa() -> None:
        kk, vv = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
        torch.nn.functional.scaled_dot_product_attention(q, kk, vv, is_causal=True, scale=scale)

    def ours(path: twopass.Path, block: int | None = None):  # noqa: ANN202
        def run() -> None:
            with twopass.attention_path(path), recording(sink_cls(block)):
                sinkscope_attention(module, q, k, v, None, scaling=scale)
        return run

    fns = {"sdpa": sdpa, "single": ours("single"), "twopass": ours("twopass")}
    fns.update({f"b{b}": ours("single", b) for b in blocks})
    return fns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="2048,4096,8192,16384")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--heads", type=int, default=9)
    ap.add_argument("--kv-heads", type=int, default=3)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--blocks", default="", help="comma-separated fixed query blocks to time as well, e.g. 16,32,64")
    a = ap.parse_args()
    blocks = [int(x) for x in a.blocks.split(",") if x.strip()]

    import torch

    from sinkscope.capture.engine import choose_query_block

    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    H, KV, d = a.heads, a.kv_heads, a.head_dim

    class Sink:
        kv_policy = None

        def __init__(self, block=None):  # noqa: ANN001, ANN204
            self.block = block

        def layer_of(self, module):  # noqa: ANN001, ANN202
            return 0

        def key_valid(self, device):  # noqa: ANN001, ANN202
            return None

        def query_valid(self, device):  # noqa: ANN001, ANN202
            return None

        def query_block(self, batch, heads, n_keys):  # noqa: ANN001, ANN202
            return self.block or choose_query_block(batch, heads, n_keys)

        def record_attention(self, *args):  # noqa: ANN002, ANN202
            self.colsum = args[1]

    module = torch.nn.Module()
    module.is_causal = True
    module.eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), H={H} KV={KV} d={d}, float32, causal")
    extra = "".join(f" {'b' + str(b) + '/sdpa':>9s}" for b in blocks)
    print(f"{'T':>6s} {'block':>5s} {'sdpa s':>8s} {'single s':>9s} {'twopass s':>9s} {'single/sdpa':>11s} {'twopass/sdpa':>12s}{extra}")
    for n in (int(x) for x in a.lengths.split(",")):
        g = torch.Generator().manual_seed(n)
        q, k, v = (torch.randn(1, h, n, d, generator=g) for h in (H, KV, KV))

        fns = _variants(q, k, v, d**-0.5, module, Sink, blocks)
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(a.reps):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        med = {name: statistics.median(t) for name, t in times.items()}
        ratio = {name: statistics.median(x / b for x, b in zip(times[name], times["sdpa"])) for name in fns}
        extra = "".join(f" {ratio['b' + str(b)]:9.2f}" for b in blocks)
        print(f"{n:6d} {choose_query_block(1, H, n):5d} {med['sdpa']:8.3f} {med['single']:9.3f} {med['twopass']:9.3f} "
              f"{ratio['single']:11.2f} {ratio['twopass']:12.2f}{extra}", flush=True)


if __name__ == "__main__":
    main()
