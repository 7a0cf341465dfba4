"""Regenerate docs/ARCHITECTURES.md: capture vs eager attention on every tested architecture.

    python scripts/arch_table.py            # random-init families only (~1 min)
    python scripts/arch_table.py --real     # plus the real catalog decoders (pulled if needed)

Uses the same configs and eager reference as tests/capture (archs.py), so the table and the
tests cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "capture"))

from archs import ARCHS, ToyTokenizer, build, eager_reference, random_ids  # noqa: E402

import sinkscope  # noqa: E402
import sinkscope.capture.inputs  # noqa: E402
from sinkscope.capture.engine import capture  # noqa: E402
from sinkscope.capture.trace import CaptureSettings  # noqa: E402
from sinkscope.core.errors import SinkscopeError  # noqa: E402
from sinkscope.models.base import LoadedModel  # noqa: E402

TOL = 1e-5  # the tests' tolerance (tests/capture/test_engine.py)
REAL = ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
FEATURES = {
    "mistral": "sliding window on every layer", "gemma2": "attention soft-capping, sliding window, post-norms",
    "gemma3_text": "sliding/full layer mix, post-norms", "gpt_oss": "learned sink logits (s_aux), MoE, sliding window",
    "qwen2_moe": "MoE MLP (+ shared expert)", "qwen3_moe": "MoE MLP", "gpt_neox": "parallel residual",
    "gpt2": "learned positions, Conv1D", "olmo2": "post-norms (attention and MLP)", "bert": "encoder: bidirectional, padding mask",
    "starcoder2": "sliding window, biases", "modernbert": "encoder: bidirectional sliding-window/global mix", "phi3": "fused qkv", "qwen3": "q/k norms", "llama": "GQA", "qwen2": "GQA, qkv bias",
    "deepseek_v3": "MLA (q/k head dim 24, v head dim 12), MoE", "llama4_text": "chunked attention (2 chunked + 1 full NoPE layer), flattened MoE output",
    "cohere2": "sliding/full mix, parallel residual, logit scale", "glm4": "post-norms on both branches (post_self_attn / post_mlp_layernorm)",
    "olmo3": "sliding/full mix, post-norms", "smollm3": "NoPE layer", "exaone4": "sliding/full mix, post-norms",
    "seed_oss": "GQA, head_dim", "ernie4_5": "GQA",
}
NEW_IN_ISSUE_14 = ("deepseek_v3", "llama4_text", "cohere2", "glm4", "olmo3", "smollm3", "exaone4", "seed_oss", "ernie4_5")


def refused() -> list[tuple[str, str]]:
    """Causal-LM families of the installed transformers whose models do not route attention through the
    attention interface (`_supports_attention_backend` false): capture refuses them by name."""
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    out = []
    for mt, name in sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.items()):
        try:
            cls = getattr(transformers, name)
        except (ImportError, AttributeError) as ex:  # an optional dependency is missing
            out.append((mt, f"{name} does not import here ({type(ex).__name__})"))
            continue
        if not getattr(cls, "_supports_attention_backend", False):
            out.append((mt, name))
    return out


def errors(lm, ids_list):
    trace = capture(lm, [str(i) for i in range(len(ids_list))], ids_list, [[""] * len(x) for x in ids_list],
                    CaptureSettings(batch_size=len(ids_list), query_block=7 if len(ids_list[0]) < 100 else 96))
    check = trace.settings.self_check or {}
    e = {"score": 0.0, "resid": 0.0, "mlp": 0.0, "check": check.get("status", "-"), "residue": check.get("max_residue")}
    for pt, ids in zip(trace.prompts, ids_list):
        colsum, _, resid, mlp, _ = eager_reference(lm.model, lm, ids)
        e["score"] = max(e["score"], float(np.abs(colsum / pt.n_queries[:, None, :] - pt.scores).max()))
        e["resid"] = max(e["resid"], float((np.abs(resid - pt.resid_norm[:-1]).max(axis=1) / resid.max(axis=1)).max()))
        for layer, v in mlp.items():
            e["mlp"] = max(e["mlp"], float(np.abs(v - pt.mlp_norm[layer]).max() / max(1.0, v.max())))
    return e


def _check(e: dict) -> str:
    return f"{e['check']} ({e['residue']:.1e})" if e.get("residue") is not None else str(e["check"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", action="store_true")
    a = ap.parse_args()
    import transformers

    rows = []
    for mt in sorted(ARCHS):
        try:
            model = build(mt)
        except (KeyError, ValueError) as ex:  # AutoConfig.for_model: a model_type this transformers lacks
            print(mt, "not in this transformers:", ex, flush=True)
            continue
        lm = LoadedModel.from_pair(model, ToyTokenizer(), ref=mt)
        try:
            e = errors(lm, [random_ids(23, 0), random_ids(40, 1)])
            ok = max(e["score"], e["resid"], e["mlp"]) <= TOL and e["check"] in ("passed", "skipped")
            rows.append((mt, type(model).__name__, FEATURES.get(mt, ""), e, "exact" if ok else "NOT EXACT"))
        except SinkscopeError as ex:
            rows.append((mt, type(model).__name__, FEATURES.get(mt, ""), None, f"unsupported: {ex}"))
        print(rows[-1][0], rows[-1][3], flush=True)
    done = {mt for mt, *_, res in rows if res == "exact"}
    real_rows = []
    if a.real:
        from sinkscope.capture.inputs import bundled_path

        text = bundled_path("example.txt").read_text()
        for name in REAL:
            lm = sinkscope.load_model(name)
            ids = sinkscope.capture.inputs.tokenize(lm, text)[:400]
            real_rows.append((name, lm.info.architecture, len(ids), errors(lm, [ids])))
            print(name, real_rows[-1][3], flush=True)
    out = [
        "# Architectures",
        "",
        "sinkscope captures through HF's attention interface plus module hooks, with no per-family code",
        "(one declarative table, `src/sinkscope/capture/adapters.py`). Each row: a random-init model",
        "(3 layers, `AutoConfig.for_model` -> `from_config`) of that family, a batch of two prompts of",
        "different lengths (23 and 40 tokens, right-padded, query blocks of 7 rows so every mask edge is",
        "exercised), compared with eager attention (`output_attentions=True`, `output_hidden_states=True`)",
        "run on each prompt alone. Errors are max absolute (scores) or max relative to the layer's largest",
        "norm (residual, MLP contribution). Tolerance in the tests: 1e-5. \"self-check\": the run-time check",
        "of h^l - h^{l-1} = a^l + m^l every capture does on its first batch (`capture/selfcheck.py`; max",
        "relative residue; float32 tolerance 1.9e-6; \"skipped\" for post-LN encoders).",
        "",
        "Softmax-only families of issue 14 item 3: " + ", ".join(
            f"`{mt}` ({'exact' if mt in done else 'not in this transformers' if mt not in {r[0] for r in rows} else 'NOT exact'})"
            for mt in NEW_IN_ISSUE_14) + ".",
        "",
        f"Generated by `python scripts/arch_table.py{' --real' if a.real else ''}` with transformers {transformers.__version__}.",
        "The same comparisons run in `tests/capture/test_engine.py` and `tests/capture/test_real_models.py`.",
        "",
        "| model_type | HF class | what it exercises | score err | residual err | MLP err | self-check | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mt, cls, feat, e, res in rows:
        if e is None:
            out.append(f"| `{mt}` | {cls} | {feat} | - | - | - | - | {res} |")
        else:
            out.append(f"| `{mt}` | {cls} | {feat} | {e['score']:.1e} | {e['resid']:.1e} | "
                       f"{e['mlp']:.1e} | {_check(e)} | {res} |")
    if real_rows:
        out += ["", "## Real weights (catalog, float32, 400 tokens of the bundled example)", "",
                "| model | HF class | tokens | score err | residual err | MLP err | self-check |", "|---|---|---|---|---|---|---|"]
        for name, cls, n, e in real_rows:
            out.append(f"| `{name}` | {cls} | {n} | {e['score']:.1e} | {e['resid']:.1e} | {e['mlp']:.1e} | {_check(e)} |")
        out += ["", "Qwen2.5-Coder-1.5B differs from eager by more than 1e-5 (1.3e-5 to 3.7e-5 with the thread count: float32 summation order). That is float32 noise, not a",
                "capture error: against a float64 eager reference of the same 400 tokens, eager float32 is off by",
                "2.47e-5 in the scores and sinkscope by 2.48e-5 (residual norms: eager 1.1e-5, sinkscope 4.4e-6,",
                "relative). On 400 tokens of the bundled math prompts the gap is larger and the order clearer:",
                "eager float32 is 2.1e-4 from float64, sinkscope 3.6e-5. So where the two float32 paths differ by",
                "more than 1e-5, `tests/capture/test_real_models.py` compares both with a float64 eager reference and",
                "requires sinkscope to be at least as close to it as eager float32 is."]
    refusals = refused()
    out += [
        "",
        "## Chunked attention",
        "",
        "Chunked attention (Llama 4, `attention_chunk_size`): HF passes no chunk to the attention function;",
        "a layer is chunked when `config.layer_types[layer_idx] == \"chunked_attention\"` (all layers when the",
        "config has no `layer_types` and no `sliding_window`), and query i then sees key j iff j <= i and",
        "floor(i / C) == floor(j / C). sinkscope applies it in the same visibility mask as causality, windows",
        "and padding, so n_j counts it. Decoding through sinkscope's function with a KV cache is refused once",
        "the cache may have dropped keys (Llama 4 passes no positions, so the chunk edges are unknown there);",
        "capture runs without a cache and is unaffected.",
        "",
        "## Not supported",
        "",
        "Post-LN encoders (BERT) get scores and residual statistics, but no MLP/attention decomposition",
        "(formation columns and interventions need an additive MLP output). A family whose adapter row is",
        "wrong or missing fails the self-check: its formation columns are disabled and interventions refused.",
        "",
        f"Refused by name (`UnsupportedArchitectureError`): the {len(refusals)} causal-LM families of transformers "
        f"{transformers.__version__} whose attention does not go through the attention interface",
        "(`_supports_attention_backend` false), so sinkscope cannot measure it without patching model code",
        "(tested with `bloom`). Several are state-space / linear-attention hybrids (`bamba`, `jamba`, `falcon_h1`,",
        "`qwen3_next`, `zamba`, `nemotron_h`, ...) or pure recurrent models (`mamba`, `rwkv`, `xlstm`), whose",
        "non-softmax layers have no attention probabilities at all:",
        "",
        ", ".join(f"`{mt}`" + (f" ({why})" if "import" in why else "") for mt, why in refusals) + ".",
        "",
        "Hybrids whose softmax layers do go through the interface (`granitemoehybrid`, whose other blocks hold a",
        "`mamba` mixer; `lfm2`, whose other blocks hold a `conv` short convolution) are refused at capture, naming",
        "the layers whose attention did not reach sinkscope: reporting such layers as \"no attention",
        "probabilities\" is later work (issue 14, item 3).",
    ]
    (ROOT / "docs" / "ARCHITECTURES.md").write_text("\n".join(out) + "\n")
    print("wrote docs/ARCHITECTURES.md")


if __name__ == "__main__":
    main()
