"""Re-measure the interventions figures on SmolLM2-135M (docs/method.md §4); not a test, a script:

    python tests/workflows/interventions/measure_smollm2.py [--prompts 2] [--out DIR]

Text: the first N math prompts of the bundled prompts.jsonl joined by blank lines (N=2: 572 tokens).
Prints: `auto` (project-out and zero at each secondary sink's birth block) per sink and summary,
induce dose-response at two ordinary tokens, and rescale dose-response at the strongest sink.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd

import sinkscope
from sinkscope.capture.inputs import bundled_path
from sinkscope.workflows.interventions import auto, dose_response


def text_of(n: int) -> str:
    rows = [json.loads(x) for x in bundled_path("prompts.jsonl").read_text().splitlines() if x.strip()]
    return "\n\n".join([r["text"] for r in rows if r["category"] == "math"][:n])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--induce", default="0,50,100,200,400,800")
    ap.add_argument("--induce-positions", default="30,50")
    ap.add_argument("--rescale", default="0,100,250,500,1000")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    lm = sinkscope.load_model("smollm2-135m")
    text = text_of(args.prompts)
    t0 = time.perf_counter()
    a = auto(lm, text, modes=("project-out", "zero"), batch_size=args.batch_size)
    print(f"text: {a.clean.prompts[0].n_tokens} tokens; auto took {time.perf_counter() - t0:.0f} s")
    cols = ["mode", "position", "token", "layer", "outcome", "promoted", "kind_after", "lifetime_before", "lifetime_after",
            "mean_score_before", "score_before", "score_after", "score_change", "sink_layers_after", "ratio_after",
            "delta_primary_score", "mlp_norm_before",
            "mlp_proj_before", "delta_nll_mean", "delta_nll_max"]
    print(a.table[cols].to_string())
    print(json.dumps(a.summary(), indent=1, default=str))
    if args.out:
        a.save(f"{args.out}/auto", overwrite=True)
    for pos in [int(x) for x in args.induce_positions.split(",")]:
        d = dose_response(lm, layer=2, position=pos, mode="induce", grid=args.induce, clean=a.clean,
                          batch_size=args.batch_size, out=f"{args.out}/induce-{pos}" if args.out else None, overwrite=True)
        print(f"\ninduce at block 2, token {pos} {d.token!r} (clean: {d.clean_kind}, score {d.clean_score:.4g}, "
              f"lifetime {d.clean_lifetime}); monotone score: {d.monotone('score')}")
        print(d.table.to_string())
    sec = a.clean.findings.secondary.sort_values("mean_score", ascending=False)
    if len(sec):
        top = sec.iloc[0]
        d = dose_response(lm, layer=int(top["birth"]), position=int(top["position"]), mode="rescale", grid=args.rescale,
                          clean=a.clean, batch_size=args.batch_size,
                          out=f"{args.out}/rescale-{int(top['position'])}" if args.out else None, overwrite=True)
        print(f"\nrescale at block {d.layer}, sink {d.position} {d.token!r} (clean ||m|| {d.clean_mlp_norm:.4g}, "
              f"score {d.clean_score:.4g}, lifetime {d.clean_lifetime})")
        print(d.table.to_string())


if __name__ == "__main__":
    main()
