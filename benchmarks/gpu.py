"""GPU benchmark: sinkscope's capture vs the model's own sdpa (and flash) forward, bfloat16, 8B-class.

    python benchmarks/gpu.py                          # T = 4096, 16384, 32768; 3 repetitions
    python benchmarks/gpu.py --lengths 4096 --reps 2 --layers 8

Exits 0 with "skipped: no CUDA" where torch sees no CUDA device. Otherwise builds a random-init
Llama with an 8B-class config (hidden 4096, 32 layers, 32 heads / 8 KV heads, MLP 14336, vocab
128256; `--layers` to shorten it) in bfloat16 on cuda:0 and, per length, on the same random
token ids, times (torch.cuda.synchronize around each) and records peak allocated memory
(torch.cuda.max_memory_allocated, reset before each run) of:
  sdpa     the base model's forward with HF's sdpa attention (no LM head);
  flash    the same with flash_attention_2, where the flash_attn package is installed;
  scan     sinkscope's capture (`capture.engine.capture`), single pass (`twopass.attention_path("single")`);
  scan2    the same with the two-pass path forced (fused output + column pass, `capture.twopass`).
The variants alternate within each repetition (sdpa, flash, scan, scan2, sdpa, ...) after one
untimed warm-up of each; printed: median time and the median of the per-repetition ratios to sdpa,
peak memory and its ratio to sdpa. Record the table in docs/BENCHMARKS.md ("GPU").
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time


class _Tokenizer:
    """Just enough tokenizer for a capture from token ids (random-init model, no vocabulary)."""

    pad_token_id = 0
    bos_token_id = None
    eos_token_id = 1
    chat_template = None

    def __call__(self, text, add_special_tokens=True):  # noqa: ANN001
        return {"input_ids": [2 + (ord(c) % 250) for c in text]}

    def decode(self, ids):  # noqa: ANN001
        return "".join(chr(97 + (i % 26)) for i in ids)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="4096,16384,32768")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--layers", type=int, default=32)
    a = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA (torch.cuda.is_available() is False); nothing measured")
        return 0
    from transformers import AutoConfig, AutoModelForCausalLM

    from sinkscope.capture import twopass
    from sinkscope.capture.engine import capture
    from sinkscope.capture.trace import CaptureSettings
    from sinkscope.models.base import LoadedModel

    torch.set_grad_enabled(False)
    dev = torch.device("cuda:0")
    cfg = AutoConfig.for_model(
        "llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=a.layers, num_attention_heads=32,
        num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0,
    )
    with dev:
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).eval()
    lm = LoadedModel.from_pair(model, _Tokenizer(), ref="random-llama-8b")
    base = model.base_model
    has_flash = importlib.util.find_spec("flash_attn") is not None

    def fwd(impl: str):
        def run(ids: torch.Tensor) -> None:
            model.set_attn_implementation(impl)
            base(input_ids=ids, use_cache=False)
        return run

    def scan(path: twopass.Path):
        def run(ids: torch.Tensor) -> None:
            seq = ids[0].tolist()
            with twopass.attention_path(path):
                capture(lm, ["bench"], [seq], [[""] * len(seq)], CaptureSettings(), self_check=False)
        return run

    variants = {"sdpa": fwd("sdpa"), **({"flash": fwd("flash_attention_2")} if has_flash else {}),
                "scan": scan("single"), "scan2": scan("twopass")}

    def measure(fn, ids) -> tuple[float, float]:  # noqa: ANN001
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        t0 = time.perf_counter()
        fn(ids)
        torch.cuda.synchronize()
        return time.perf_counter() - t0, torch.cuda.max_memory_allocated(dev) / 2**30

    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(dev)}, llama 8B-class config with "
          f"{a.layers} layers, bfloat16, {a.reps} repetitions; flash_attn {'installed' if has_flash else 'absent'}")
    print(f"{'T':>6s} {'variant':8s} {'time s':>8s} {'x sdpa':>7s} {'peak GiB':>9s} {'x sdpa':>7s}")
    for n in (int(x) for x in a.lengths.split(",")):
        ids = torch.randint(2, cfg.vocab_size, (1, n), device=dev)
        res: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        try:
            for fn in variants.values():
                fn(ids[:, :256])  # warm-up
            for _ in range(a.reps):
                for k, fn in variants.items():
                    res[k].append(measure(fn, ids))
        except torch.cuda.OutOfMemoryError as e:
            print(f"{n:6d} out of memory: {str(e).splitlines()[0]}")
            torch.cuda.empty_cache()
            continue
        base_t = [t for t, _ in res["sdpa"]]
        base_m = statistics.median(m for _, m in res["sdpa"])
        for k, rows in res.items():
            t = statistics.median(x for x, _ in rows)
            ratio = statistics.median(x / b for (x, _), b in zip(rows, base_t))
            mem = statistics.median(m for _, m in rows)
            print(f"{n:6d} {k:8s} {t:8.3f} {ratio:7.2f} {mem:9.2f} {mem / base_m:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
