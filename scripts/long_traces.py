"""Generate the long reasoning traces of the long-trace reproduction protocol (issue 15), resumably.

For every (model, math prompt) this asks the model, through its chat template when it has one,
to solve the bundled problem (the problem statement only; the worked solution is cut off) and
samples a continuation of exactly N tokens with the KV cache (HF `generate`; end-of-sequence is
suppressed until N tokens, so every trace has the same length; seeded sampling, temperature 0.7,
top-p 0.9, seed recorded per trace). The token ids are appended, one JSON line per trace,
to `OUT/<model>.jsonl` (flushed and fsynced per line; a torn last line from a kill is dropped on
the next start), so an interrupted run continues where it stopped and the expensive part
(generation) is never redone. The capture and the analysis run later over the stored ids.

    python scripts/long_traces.py --out docs/reproduction/long/traces \
        --model smollm2-135m:42 --model gemma3-270m:20 --model qwen2.5-coder-0.5b:42 \
        --model qwen2.5-coder-1.5b:15 --tokens 1024

One torch thread (the project's measurement rule on the shared 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.9}


def math_problems(limit: int) -> list[tuple[str, str]]:
    """(id, problem statement) of the first `limit` bundled math prompts (text before 'Solution:')."""
    from importlib.resources import files

    rows = [json.loads(x) for x in files("sinkscope").joinpath("data/prompts.jsonl").read_text().splitlines() if x]
    out = []
    for r in rows:
        if r.get("category") != "math":
            continue
        problem = r["text"].split("\nSolution:")[0].strip()
        out.append((r["id"], problem + "\n\nSolve the problem step by step, then state the answer."))
    return out[:limit]


def read_done(path: Path) -> set[str]:
    if not path.exists():
        return set()
    good, done = [], set()
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            break  # a torn last line (killed mid-write): dropped below
        good.append(line)
        done.add(rec["id"])
    path.write_text("".join(x + "\n" for x in good))
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", action="append", required=True, help="NAME:N_PROMPTS")
    ap.add_argument("--tokens", type=int, default=1024)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import sinkscope

    a.out.mkdir(parents=True, exist_ok=True)
    for spec in a.model:
        name, n = spec.rsplit(":", 1)
        path = a.out / f"{name}.jsonl"
        done = read_done(path)
        todo = [p for p in math_problems(int(n)) if p[0] not in done]
        if not todo:
            print(f"{name}: {len(done)} traces, nothing to do", flush=True)
            continue
        lm = sinkscope.load_model(name)
        tok = lm.tokenizer
        chat = getattr(tok, "chat_template", None) is not None
        for k, (pid, problem) in enumerate(todo):
            if chat:
                ids = tok.apply_chat_template(
                    [{"role": "user", "content": problem}], add_generation_prompt=True, tokenize=True
                )
                if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                    ids = ids["input_ids"]
                ids = [int(x) for x in ids]
            else:
                ids = [int(x) for x in tok(problem)["input_ids"]]
            seed = int.from_bytes(pid.encode(), "little") % (2**31)
            torch.manual_seed(seed)
            inp = torch.tensor([ids])
            t0 = time.perf_counter()
            with torch.no_grad():
                out = lm.model.generate(
                    inp,
                    attention_mask=torch.ones_like(inp),
                    max_new_tokens=a.tokens,
                    min_new_tokens=a.tokens,
                    pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                    **SAMPLING,
                )
            wall = time.perf_counter() - t0
            gen = [int(x) for x in out[0].tolist()]
            rec = {
                "id": pid,
                "model": name,
                "chat": chat,
                "n_prompt_tokens": len(ids),
                "n_generated": len(gen) - len(ids),
                "seed": seed,
                "sampling": SAMPLING,
                "eos_suppressed_until": a.tokens,
                "generate_s": round(wall, 2),
                "torch_threads": 1,
                "token_ids": gen,
            }
            with path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            print(
                f"{name}: {len(done) + k + 1}/{len(done) + len(todo)} {pid} "
                f"{len(gen) - len(ids)} tokens in {wall:.0f} s",
                flush=True,
            )
        del lm


if __name__ == "__main__":
    main()
