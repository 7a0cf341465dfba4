"""Exactness of a bfloat16 capture against a float32 reference (docs/BENCHMARKS.md "bfloat16").

    python benchmarks/dtype.py                     # SmolLM2, 4 bundled prompts cut to 512 tokens
    python benchmarks/dtype.py --model gemma3-270m --tokens 256 --prompts 2

Captures the same token ids three times: the model loaded in float32 (the reference), and loaded
in bfloat16 with the single pass's two matmuls in float32 (`matmul_dtype="float32"`) and in the
model's dtype (`"model"`, the default); softmax, probabilities and column
sums are float32 in both (`capture.twopass.compute_dtype`). Printed per variant: the largest and
the median absolute difference of the per-head scores s_j (docs/method.md §1) over all layers,
heads and keys, the same for the first key (the usual sink), the median relative difference of the
block-output norms, and the largest deviation of sum_j colsum_j from the number of queries (0 up
to float32 rounding when probabilities are accumulated in float32).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import _ids  # noqa: E402  (benchmarks/capture.py: the bundled prompts, repeated to length)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--prompts", type=int, default=4)
    a = ap.parse_args()

    import torch

    torch.set_grad_enabled(False)
    import sinkscope
    from sinkscope.capture import twopass
    from sinkscope.capture.engine import capture
    from sinkscope.capture.trace import CaptureSettings

    lm32 = sinkscope.load_model(a.model)
    full = _ids(lm32, a.tokens * a.prompts)
    seqs = [full[i * a.tokens : (i + 1) * a.tokens] for i in range(a.prompts)]

    def run(lm, matmul: str):  # noqa: ANN001, ANN202
        with twopass.attention_path(matmul_dtype=matmul):  # type: ignore[arg-type]
            return capture(lm, ["p"] * len(seqs), seqs, [[""] * len(s) for s in seqs],
                           CaptureSettings(batch_size=1), self_check=False).prompts

    ref = run(lm32, "float32")
    del lm32
    lm16 = sinkscope.load_model(a.model, dtype="bfloat16")
    print(f"{a.model}, {a.prompts} prompts x {a.tokens} tokens, reference: float32 model")
    print(f"{'variant':34s} {'max |ds|':>9s} {'median |ds|':>11s} {'max |ds_0|':>10s} {'med rel d|h|':>12s} "
          f"{'max |sum-n|':>11s}")
    for name, matmul in (("bfloat16, float32 matmuls", "float32"), ("bfloat16, bfloat16 matmuls (default)", "model")):
        got = run(lm16, matmul)
        ds = np.concatenate([np.abs(g.scores - r.scores).ravel() for g, r in zip(got, ref)])
        ds = ds[np.isfinite(ds)]
        d0 = max(float(np.nanmax(np.abs(g.scores[:, :, 0] - r.scores[:, :, 0]))) for g, r in zip(got, ref))
        rel = np.concatenate([(np.abs(g.resid_norm - r.resid_norm) / r.resid_norm).ravel() for g, r in zip(got, ref)])
        dev = max(float(np.abs(np.nansum(g.scores * g.n_queries[:, None, :], -1) - a.tokens).max()) for g in got)
        print(f"{name:34s} {ds.max():9.2e} {np.median(ds):11.2e} {d0:10.2e} {np.nanmedian(rel):12.2e} {dev:11.2e}",
              flush=True)


if __name__ == "__main__":
    main()
