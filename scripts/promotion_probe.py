"""Why project-out of the primary direction at block 1 promotes a ' the' on SmolLM2-135M (issue 27;
docs/method.md, pitfall "Project-out can promote a sink").

    PYTHONPATH=src python scripts/promotion_probe.py            # ~1-2 min on one core
    PYTHONPATH=src python scripts/promotion_probe.py --out docs/promotion-probe

Writes OUT/smollm2-135m.json (every number below) and OUT/smollm2-135m.txt (the printed tables).

1. `auto` (project-out and zero at each secondary sink's birth block) on three bundled texts (math-001,
   prose-001, code-001): the outcome counts of docs/method.md §4, next to the count of the old rule
   ("no longer classified secondary").
2. The promotion on the lighthouse text (issue 27): secondary sink ' the' at position 4, born at
   block 1. With m = m_t^1 and u = unit(h_p^1), m = (m.u) u + m_perp, the edits
     project-out  m' = m_perp                  zero        m' = 0
     rescale      m' = ||m_perp|| m / ||m||    (the norm project-out leaves, the original direction)
     induce:-f(m.u)  m' = m - f (m.u) u        (a fraction f of the u-component removed)
   separate "less MLP output" from "the u-component removed" from "m_perp left behind".
3. Per layer, for the token and for the primary: residual norm ||h^l||, cos(h_t^l, h_p^l), the layer
   score s_t^l, ||m_t^l||, ||a_t^l|| and the largest activation (value, dimension), clean vs
   project-out vs zero: where the promoted token's norm jumps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import sinkscope
from sinkscope.capture.inputs import bundled_path
from sinkscope.workflows.interventions import auto, intervene

LIGHTHOUSE = (
    "The lighthouse keeper climbed the stairs, and the ships answered the beam with a horn. The keeper "
    "wrote the weather in the book, and the storm came from the north."
)
POSITION, BLOCK = 4, 1
FRACTIONS = (0.25, 0.5, 0.75, 1.0, 1.5)


def bundled(ids: tuple[str, ...]) -> list[tuple[str, str]]:
    rows = [json.loads(x) for x in bundled_path("prompts.jsonl").read_text().splitlines() if x.strip()]
    by_id = {r["id"]: r["text"] for r in rows}
    return [(by_id[i], f"bundled:prompts.jsonl:{i}") for i in ids]


def three_texts(lm, lines: list[str]) -> dict:
    t0 = time.perf_counter()
    a = auto(lm, bundled(("math-001", "prose-001", "code-001")), modes=("project-out", "zero"))
    out = {"texts": ["math-001", "prose-001", "code-001"], "n_sinks": a.summary()["n_sinks"], "modes": {},
           "seconds": time.perf_counter() - t0}
    lines.append(f"1. auto on math-001, prose-001, code-001: {out['n_sinks']} secondary sinks")
    for mode, m in a.summary()["modes"].items():
        t = a.table[a.table["mode"] == mode]
        old = int(((t["kind_before"] == "secondary") & (t["kind_after"] != "secondary")).sum())
        out["modes"][mode] = {"outcomes": m["outcomes"], "n_removed": m["n_removed"], "old_rule_removed": old,
                              "score_from_birth_before": m["mean_score_from_birth_before"],
                              "score_from_birth_after": m["mean_score_from_birth_after"],
                              "rows": t[["prompt", "position", "token", "layer", "kind_before", "kind_after", "outcome",
                                         "promoted", "score_before", "score_after", "lifetime_before",
                                         "lifetime_after"]].to_dict(orient="records")}
        lines.append(f"   {mode:12s} old rule 'no longer secondary' {old}/{m['n_sinks']}; outcomes {m['outcomes']}; "
                     f"mean score l>=b {m['mean_score_from_birth_before']:.4f} -> {m['mean_score_from_birth_after']:.4f}")
        for r in out["modes"][mode]["rows"]:
            if r["outcome"] != "removed":
                lines.append(f"     prompt {r['prompt']} pos {r['position']} {r['token']!r} block {r['layer']}: "
                             f"{r['kind_before']} -> {r['kind_after']}, {r['outcome']}{' (promoted)' if r['promoted'] else ''}, "
                             f"score {r['score_before']:.4f} -> {r['score_after']:.4f}, lifetime "
                             f"{r['lifetime_before']} -> {r['lifetime_after']}")
    return out


def per_layer(res, t: int) -> dict:
    pt = res.prompts[0]
    det = res.findings.detections[0]
    p = det.p
    return {
        "resid_norm_t": pt.resid_norm[:, t].tolist(),
        "resid_norm_p": pt.resid_norm[:, p].tolist(),
        "cos_tp": det.cos[:, t].tolist(),
        "score_t": det.layer_scores[:, t].tolist(),
        "score_p": det.layer_scores[:, p].tolist(),
        "mlp_norm_t": pt.mlp_norm[:, t].tolist(),
        "attn_norm_t": pt.attn_norm[:, t].tolist(),
        "act_max_t": pt.act_max[:, t].tolist(),
        "act_dim_t": pt.act_argmax[:, t].tolist(),
        "act_max_p": pt.act_max[:, p].tolist(),
        "act_dim_p": pt.act_argmax[:, p].tolist(),
    }


def lighthouse(lm, lines: list[str]) -> dict:
    po = intervene(lm, LIGHTHOUSE, layer=BLOCK, position=POSITION, mode="project-out")
    clean = po.clean
    row = po.targets.iloc[0]
    proj, norm = float(row["mlp_proj_before"]), float(row["mlp_norm_before"])
    perp = float(np.sqrt(max(norm**2 - proj**2, 0.0)))
    edits = {"project-out": po, "zero": intervene(lm, layer=BLOCK, position=POSITION, mode="zero", clean=clean),
             f"rescale:{perp:.6g}": intervene(lm, layer=BLOCK, position=POSITION, mode=f"rescale:{perp:.6g}", clean=clean)}
    for f in FRACTIONS:
        edits[f"induce:{-f * proj:.6g} (f={f})"] = intervene(lm, layer=BLOCK, position=POSITION,
                                                           mode=f"induce:{-f * proj:.6g}", clean=clean)
    t = POSITION
    lines.append("")
    lines.append(f"2. lighthouse text, ' the' at position {t}, block {BLOCK}: ||m|| = {norm:.4g}, m.u = {proj:.4g}, "
                 f"||m_perp|| = {perp:.4g} (cos(m, u) = {proj / norm:.3f}); ||h_p^1|| = {po.direction_norm:.4g}")
    out = {"position": t, "block": BLOCK, "token": str(row["token"]), "mlp_norm": norm, "mlp_proj": proj,
           "mlp_perp_norm": perp, "direction_norm": po.direction_norm, "edits": {}}
    for name, r in edits.items():
        e = r.targets.iloc[0]
        out["edits"][name] = {k: (v.item() if hasattr(v, "item") else v) for k, v in e.to_dict().items()}
        lines.append(f"   {name:28s} {e['kind_before']} -> {e['kind_after']:9s} {e['outcome']:12s}"
                     f"{' promoted' if e['promoted'] else '         '} lifetime {e['lifetime_before']} -> "
                     f"{e['lifetime_after']:2d}, score l>=1 {e['score_before']:.4f} -> {e['score_after']:.4f}, "
                     f"||m'|| {e['mlp_norm_after']:.4g}, m'.u {e['mlp_proj_after']:.3g}")
    layers = {"clean": per_layer(clean, t), "project-out": per_layer(po, t), "zero": per_layer(edits["zero"], t)}
    out["per_layer"] = layers
    lines.append("")
    lines.append(f"3. per layer, token {t} (p = {po.primary}): clean | project-out | zero")
    lines.append("   l   ||h_t||                cos(h_t,h_p)       s_t^l                    ||m_t||              "
                 "max |h_t,d| (dim)                         ||h_p||")
    c, e, z = layers["clean"], layers["project-out"], layers["zero"]
    for li in range(len(c["resid_norm_t"])):
        lines.append(
            f"  {li:2d}  {c['resid_norm_t'][li]:6.1f} {e['resid_norm_t'][li]:7.1f} {z['resid_norm_t'][li]:6.1f}   "
            f"{c['cos_tp'][li]:5.2f} {e['cos_tp'][li]:5.2f} {z['cos_tp'][li]:5.2f}   "
            f"{c['score_t'][li]:.3f} {e['score_t'][li]:.3f} {z['score_t'][li]:.3f}   "
            f"{c['mlp_norm_t'][li]:6.1f} {e['mlp_norm_t'][li]:6.1f} {z['mlp_norm_t'][li]:6.1f}   "
            f"{c['act_max_t'][li]:6.1f}({c['act_dim_t'][li]:3d}) {e['act_max_t'][li]:6.1f}({e['act_dim_t'][li]:3d}) "
            f"{z['act_max_t'][li]:6.1f}({z['act_dim_t'][li]:3d})   {c['resid_norm_p'][li]:8.1f}"
            f" [{c['act_max_p'][li]:.0f}({c['act_dim_p'][li]})]"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="folder for smollm2-135m.json / .txt")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    lm = sinkscope.load_model("smollm2-135m")
    lines: list[str] = []
    result = {"model": "smollm2-135m", "three_texts": three_texts(lm, lines), "lighthouse": lighthouse(lm, lines)}
    result["seconds"] = time.perf_counter() - t0
    lines.append(f"\n{result['seconds']:.0f} s, torch threads 1")
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "smollm2-135m.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
        (args.out / "smollm2-135m.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
