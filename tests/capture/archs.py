"""Small random-init configs of every architecture family sinkscope is tested on (docs/method.md "Capture").

Each entry: model_type -> (config overrides, kind). kind "causal" builds AutoModelForCausalLM,
"encoder" builds AutoModel (bidirectional attention: scores average over all queries).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from sinkscope.capture.engine import base_model_of, mlp_modules

SMALL = dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, vocab_size=256)
GQA = dict(num_key_value_heads=2)
WINDOW = 8  # shorter than the test texts, so sliding-window masks matter

ARCHS: dict[str, tuple[dict, str]] = {
    "llama": ({**SMALL, **GQA, "intermediate_size": 128}, "causal"),
    "mistral": ({**SMALL, **GQA, "intermediate_size": 128, "sliding_window": WINDOW}, "causal"),
    "qwen2": ({**SMALL, **GQA, "intermediate_size": 128}, "causal"),
    "qwen3": ({**SMALL, **GQA, "intermediate_size": 128, "head_dim": 16}, "causal"),
    "qwen2_moe": ({**SMALL, **GQA, "intermediate_size": 128, "moe_intermediate_size": 32,
                   "shared_expert_intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 2}, "causal"),
    "qwen3_moe": ({**SMALL, **GQA, "intermediate_size": 128, "moe_intermediate_size": 32, "head_dim": 16,
                   "num_experts": 4, "num_experts_per_tok": 2}, "causal"),
    "gemma2": ({**SMALL, **GQA, "intermediate_size": 128, "head_dim": 16, "sliding_window": WINDOW,
                "attn_logit_softcapping": 5.0, "final_logit_softcapping": 30.0}, "causal"),
    "gemma3_text": ({**SMALL, "num_key_value_heads": 1, "intermediate_size": 128, "head_dim": 16,
                     "sliding_window": WINDOW,
                     "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]}, "causal"),
    "phi3": ({**SMALL, **GQA, "intermediate_size": 128, "pad_token_id": 0}, "causal"),
    "olmo2": ({**SMALL, **GQA, "intermediate_size": 128}, "causal"),
    "gpt_neox": ({**SMALL, "intermediate_size": 128}, "causal"),
    "gpt2": ({"n_embd": 64, "n_layer": 3, "n_head": 4, "vocab_size": 256}, "causal"),
    "starcoder2": ({**SMALL, **GQA, "intermediate_size": 128, "sliding_window": WINDOW}, "causal"),
    "gpt_oss": ({**SMALL, **GQA, "intermediate_size": 64, "head_dim": 16, "sliding_window": WINDOW,
                 "num_local_experts": 4, "num_experts_per_tok": 2}, "causal"),
    # Issue 14 item 3: the softmax families HF 5.24 ships beyond the first table.
    # MLA: q/k head dim 16 + 8 (no-rope + rope parts) = 24, v head dim 12; keys expanded to every head.
    "deepseek_v3": ({**SMALL, "num_key_value_heads": 4, "intermediate_size": 128, "moe_intermediate_size": 32,
                     "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1, "first_k_dense_replace": 1,
                     "n_group": 1, "topk_group": 1, "q_lora_rank": 32, "kv_lora_rank": 16, "qk_nope_head_dim": 16,
                     "qk_rope_head_dim": 8, "v_head_dim": 12}, "causal"),
    # chunked attention: layers 0, 1 (RoPE layers) see only their own chunk of WINDOW keys; layer 2 (NoPE) is full
    "llama4_text": ({**SMALL, **GQA, "intermediate_size": 64, "intermediate_size_mlp": 128, "head_dim": 16,
                     "attention_chunk_size": WINDOW, "no_rope_layers": [1, 1, 0], "num_local_experts": 2,
                     "num_experts_per_tok": 1, "interleave_moe_layer_step": 2}, "causal"),
    "cohere2": ({**SMALL, **GQA, "intermediate_size": 128, "sliding_window": WINDOW, "logit_scale": 0.5,
                 "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]}, "causal"),
    "glm4": ({**SMALL, **GQA, "intermediate_size": 128, "pad_token_id": 0, "eos_token_id": 1}, "causal"),
    "olmo3": ({**SMALL, **GQA, "intermediate_size": 128, "sliding_window": WINDOW,
               "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]}, "causal"),
    "smollm3": ({**SMALL, **GQA, "intermediate_size": 128, "no_rope_layers": [1, 0, 1],  # layer 1: NoPE
                 "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 1}, "causal"),
    "exaone4": ({**SMALL, **GQA, "intermediate_size": 128, "sliding_window": WINDOW,
                 "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]}, "causal"),
    "seed_oss": ({**SMALL, **GQA, "intermediate_size": 128, "head_dim": 16}, "causal"),
    "ernie4_5": ({**SMALL, **GQA, "intermediate_size": 128}, "causal"),
    # issue 24: softmax families whose class does not declare `_supports_attention_backend` yet whose
    # attention calls the registered function (decided by observation)
    "stablelm": ({**SMALL, **GQA, "intermediate_size": 128}, "causal"),
    "biogpt": ({**SMALL, "intermediate_size": 128}, "causal"),
    "bert": ({**SMALL, "intermediate_size": 128}, "encoder"),
    # local_attention = 2 * WINDOW: every other layer sees |i - j| <= WINDOW only (bidirectional window)
    "modernbert": ({**SMALL, "intermediate_size": 96, "local_attention": 2 * WINDOW, "global_attn_every_n_layers": 2,
                    "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 1, "cls_token_id": 1, "sep_token_id": 1}, "encoder"),
}


class ToyTokenizer:
    """Just enough tokenizer for capture on random-init models (ids are given directly)."""

    pad_token_id = 0
    bos_token_id = None
    eos_token_id = 1
    chat_template = None

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [2 + (ord(c) % 250) for c in text]}

    def decode(self, ids):
        return "".join(chr(97 + (i % 26)) for i in ids)


def build(model_type: str, attn: str = "eager", seed: int = 0):
    overrides, kind = ARCHS[model_type]
    cfg = AutoConfig.for_model(model_type, **overrides)
    torch.manual_seed(seed)
    cls = AutoModelForCausalLM if kind == "causal" else AutoModel
    model = cls.from_config(cfg, attn_implementation=attn).eval()
    # Random init leaves learned sink logits / softcaps at values that hide bugs; make them matter.
    for name, p in model.named_parameters():
        if name.endswith("sinks"):
            with torch.no_grad():
                p.copy_(torch.randn_like(p))
    return model


def random_ids(n: int, seed: int, vocab: int = 256) -> list[int]:
    return [int(x) for x in np.random.RandomState(seed).randint(2, vocab, size=n)]


def mlp_rows(m: torch.Tensor) -> torch.Tensor:
    """An MLP output of one prompt as [1, T, D] (Llama 4's MoE returns it flattened to [T, D])."""
    return m.reshape(1, -1, m.shape[-1])


def eager_reference(model, lm, ids):
    """Per-head scores, block-output norms, MLP and attention contribution norms from eager attention."""
    mods = mlp_modules(lm)
    store: dict[int, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda mod, a, o, layer=layer: store.__setitem__(layer, mlp_rows(o[0] if isinstance(o, tuple) else o)))
        for layer, m in enumerate(mods)
        if m is not None
    ]
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            dev = model.get_input_embeddings().weight.device
            out = base_model_of(model)(torch.tensor([ids], device=dev), output_attentions=True, output_hidden_states=True)
    finally:
        model.set_attn_implementation(before)
        for h in handles:
            h.remove()
    L = model.config.num_hidden_layers
    scores = np.stack([a[0].sum(dim=1).numpy() for a in out.attentions])  # [L, H, T] column sums
    n_queries = np.stack([(a[0, 0] > 0).sum(dim=0).numpy() for a in out.attentions])  # [L, T]
    hs = [h[0] for h in out.hidden_states]
    resid = np.stack([hs[layer + 1].norm(dim=-1).numpy() for layer in range(L - 1)])
    mlp = {layer: v[0].norm(dim=-1).numpy() for layer, v in store.items()}
    attn = {
        layer: (hs[layer + 1] - hs[layer] - store[layer][0]).norm(dim=-1).numpy()
        for layer in range(L - 1)
        if layer in store
    }
    return scores, n_queries, resid, mlp, attn


def build_gemma3_composite(seed: int = 0):
    """A tiny random-init Gemma3ForConditionalGeneration: a config with sub-configs (text, vision)
    and nested PreTrainedModels, for the adapter row "gemma3" and per-sub-config attention settings."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    cfg = Gemma3Config(
        text_config=dict(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            intermediate_size=128, vocab_size=300, sliding_window=WINDOW,
            layer_types=["sliding_attention", "full_attention"],
        ),
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                           image_size=28, patch_size=14),
        mm_tokens_per_image=4,
    )
    torch.manual_seed(seed)
    return Gemma3ForConditionalGeneration._from_config(cfg, attn_implementation="eager").eval()


def run_in_threads(work, n: int = 2) -> None:
    """Run `work(i)` for i < n in n threads at once; re-raise the first exception of any thread."""
    import threading

    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]

