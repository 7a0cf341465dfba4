"""Hybrid models with non-softmax layers (docs/method.md §11): `granitemoehybrid`, `bamba`, `jamba`
(Mamba blocks), `lfm2` and `lfm2_moe` (short-convolution blocks), `qwen3_next`, `qwen3_5_text`,
`qwen3_5_moe_text`, `olmo_hybrid`, `lara_mini` (Gated DeltaNet blocks), `kimi_linear`, `bailing_hybrid`
(delta-attention blocks at `self_attn`), `nemotron_h` (one mixer per block: Mamba, attention, MLP
or MoE), `falcon_h1` (attention and Mamba side by side in every block), random init, padded batch,
small query blocks. Softmax layers are
exact against eager `output_attentions` (which reports only those layers); the other layers have NaN
attention statistics and are marked in `CaptureSettings.attention_layers`; residuals, MLP and mixer
contributions are exact on every layer and the self-check passes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from sinkscope.capture.adapters import ADAPTERS, attention_layers
from sinkscope.capture.engine import _resolve, base_model_of, capture, find_blocks, mlp_modules
from sinkscope.capture.trace import CaptureSettings
from sinkscope.core.errors import UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import SMALL, ToyTokenizer, random_ids

TOL = 1e-5
LENGTHS = [23, 40, 31]
MAMBA = dict(mamba_d_state=16, mamba_n_heads=4, mamba_d_head=32, mamba_n_groups=1, mamba_d_conv=4)
# Gated DeltaNet (linear attention) and sparse-MoE sizes of the Qwen3-Next family
LIN = dict(head_dim=16, linear_key_head_dim=16, linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4)
MOE = dict(moe_intermediate_size=32, shared_expert_intermediate_size=32, num_experts=4, num_experts_per_tok=2)
LIN_FULL = ["linear_attention", "full_attention", "linear_attention"]
# MLA (Kimi-Linear, Bailing): keys expanded to every head; delta attention with 4 heads of 16
MLA = dict(num_key_value_heads=4, head_dim=16, linear_head_dim=16, linear_num_heads=4, kv_lora_rank=16, qk_rope_head_dim=8,
           qk_nope_head_dim=16, v_head_dim=16, qk_head_dim=24, moe_intermediate_size=32, num_experts=4,
           num_experts_per_token=2, pad_token_id=0, layer_types=LIN_FULL, mlp_layer_types=["dense", "sparse", "dense"])

# model_type -> (config overrides, which layers have softmax attention)
HYBRIDS: dict[str, tuple[dict, list[bool]]] = {
    # dense Granite 4 "H" (no experts): layers 0 and 2 are Mamba-2 blocks; residual_multiplier != 1
    "granitemoehybrid": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "shared_intermediate_size": 96,
                          "num_local_experts": 0, "residual_multiplier": 0.5, "logits_scaling": 2.0,
                          "layer_types": ["mamba", "attention", "mamba"], **MAMBA}, [False, True, False]),
    "lfm2": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128,
              "layer_types": ["conv", "full_attention", "conv"]}, [False, True, False]),
    # LFM2 with a sparse-MoE feed-forward after the first (dense) block
    "lfm2_moe": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "moe_intermediate_size": 32,
                  "num_experts": 4, "num_experts_per_tok": 2, "num_dense_layers": 1,
                  "layer_types": ["conv", "full_attention", "conv"]}, [False, True, False]),
    # issue 24: families whose softmax layers call the attention function although their class does not
    # declare `_supports_attention_backend` (decided by observation)
    "qwen3_next": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, **LIN, **MOE, "layer_types": LIN_FULL},
                   [False, True, False]),
    "qwen3_5_text": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, **LIN, "layer_types": LIN_FULL},
                     [False, True, False]),
    "qwen3_5_moe_text": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, **LIN, **MOE,
                          "layer_types": LIN_FULL}, [False, True, False]),
    # linear, sliding-window and full layers
    "lara_mini": ({**SMALL, "num_hidden_layers": 4, "num_key_value_heads": 2, "intermediate_size": 128, **LIN, **MOE,
                   "sliding_window": 8, "layer_types": ["linear_attention", "sliding_attention", "linear_attention",
                                                        "full_attention"]}, [False, True, False, True]),
    "olmo_hybrid": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "pad_token_id": 0,
                     "linear_num_key_heads": 2, "linear_num_value_heads": 2, "linear_key_head_dim": 16,
                     "linear_value_head_dim": 32, "layer_types": LIN_FULL}, [False, True, False]),
    "bamba": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "attn_layer_indices": [1], **MAMBA,
               "mamba_chunk_size": 16, "mamba_expand": 2}, [False, True, False]),
    # attention every 2nd layer from 1; MoE feed-forward on the attention layer
    "jamba": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "attn_layer_period": 2, "attn_layer_offset": 1,
               "expert_layer_period": 2, "expert_layer_offset": 1, "num_experts": 4, "num_experts_per_tok": 2,
               "mamba_d_state": 16, "mamba_dt_rank": 8}, [False, True, False]),
    "kimi_linear": ({**SMALL, "intermediate_size": 128, **MLA}, [False, True, False]),
    "bailing_hybrid": ({**SMALL, "intermediate_size": 128, **MLA, "num_expert_group": 1, "topk_group": 1,
                        "first_k_dense_replace": 1, "num_nextn_predict_layers": 0}, [False, True, False]),
    # one mixer per block: Mamba-2, attention, MLP, MoE
    "nemotron_h": ({**SMALL, "num_hidden_layers": 4, "num_key_value_heads": 2, "intermediate_size": 128, "head_dim": 16,
                    "layers_block_type": ["mamba", "attention", "mlp", "moe"], "mamba_num_heads": 4,
                    "mamba_head_dim": 16, "ssm_state_size": 16, "n_groups": 1, "n_routed_experts": 4,
                    "moe_intermediate_size": 32, "moe_shared_expert_intermediate_size": 32, "n_group": 1,
                    "topk_group": 1, "num_experts_per_tok": 2, "chunk_size": 16}, [False, True, False, False]),
    # attention and Mamba in parallel in every block (a^l = their scaled sum, docs/method.md §11)
    "falcon_h1": ({**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "head_dim": 16, "mamba_d_ssm": 64,
                   "mamba_n_heads": 4, "mamba_d_head": 16, "mamba_d_state": 16, "mamba_chunk_size": 16,
                   "mamba_expand": 1, "attention_out_multiplier": 0.7, "ssm_out_multiplier": 1.3,
                   "lm_head_multiplier": 0.5}, [True, True, True]),
}


def build_hybrid(model_type: str, seed: int = 0, **extra):
    cfg = AutoConfig.for_model(model_type, **{**HYBRIDS[model_type][0], **extra})
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()


def hybrid_lm(model_type: str, **extra) -> LoadedModel:
    return LoadedModel.from_pair(build_hybrid(model_type, **extra), ToyTokenizer(), ref=f"random-{model_type}")


def run_capture(lm, lengths=LENGTHS, **kw):
    ids = [random_ids(n, seed=i) for i, n in enumerate(lengths)]
    settings = CaptureSettings(**{"batch_size": len(lengths), "query_block": 7, **kw})
    return ids, capture(lm, [f"p{i}" for i in range(len(ids))], ids, [["t"] * len(x) for x in ids], settings)


def eager_hybrid(model, lm, ids):
    """Eager reference: column sums and visible counts of the softmax layers (eager returns attentions
    for those layers only, in order), block-output norms and MLP / mixer contribution norms of all layers."""
    store: dict[int, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda mod, a, o, layer=layer: store.__setitem__(layer, o[0] if isinstance(o, tuple) else o))
        for layer, m in enumerate(mlp_modules(lm))
        if m is not None
    ]
    try:
        with torch.no_grad():
            out = base_model_of(model)(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    scale = getattr(model.config, "residual_multiplier", 1.0)
    atts = [a for a in out.attentions if a is not None]
    colsum = [a[0].sum(dim=1).numpy() for a in atts]
    nq = [(a[0, 0] > 0).sum(dim=0).numpy() for a in atts]
    hs = [h[0] for h in out.hidden_states]
    L = model.config.num_hidden_layers
    # a block without an MLP (Nemotron-H's mixer-only blocks) adds m^l = 0
    mlp = [(store[layer][0] * scale) if layer in store else torch.zeros_like(hs[0]) for layer in range(L)]
    resid = np.stack([hs[layer + 1].norm(dim=-1).numpy() for layer in range(L - 1)])
    mixer = [(hs[layer + 1] - hs[layer] - mlp[layer]).norm(dim=-1).numpy() for layer in range(L - 1)]
    return colsum, nq, resid, [m.norm(dim=-1).numpy() for m in mlp], mixer


@pytest.mark.parametrize("model_type", sorted(HYBRIDS))
def test_hybrid_matches_eager(model_type):
    lm = hybrid_lm(model_type)
    has_attn = HYBRIDS[model_type][1]
    ids, trace = run_capture(lm)
    assert trace.settings.attention_layers == has_attn
    assert (trace.attention_mask() == np.array(has_attn)).all()
    assert trace.settings.self_check["status"] == "passed", trace.settings.self_check
    att = np.flatnonzero(has_attn)
    for i, pt in enumerate(trace.prompts):
        colsum, nq, resid, mlp, mixer = eager_hybrid(lm.model, lm, ids[i])
        assert len(colsum) == att.size  # eager reports the softmax layers only
        for k, layer in enumerate(att):
            assert (pt.n_queries[layer] == nq[k]).all()
            assert np.abs(colsum[k] / nq[k][None, :] - pt.scores[layer]).max() <= TOL
        off = ~np.asarray(has_attn)
        assert np.isnan(pt.scores[off]).all() and np.isnan(pt.key_norm[off]).all() and np.isnan(pt.value_norm[off]).all()
        assert (pt.n_queries[off] == 0).all()
        assert np.abs(resid - pt.resid_norm[:-1]).max() <= TOL * max(1.0, resid.max())
        for layer in range(pt.n_layers):  # MLP contributions on every layer, the mixer's too
            assert np.abs(mlp[layer] - pt.mlp_norm[layer]).max() <= TOL * max(1.0, mlp[layer].max())
        for layer, v in enumerate(mixer):
            assert np.abs(v - pt.attn_norm[layer]).max() <= TOL * max(1.0, v.max())


def test_moe_granite_hybrid_disables_formation():
    """With experts, Granite 4 H adds block_sparse_moe + shared_mlp: no single module is m^l, so the
    self-check fails, names the family and disables the formation columns (scores stay exact)."""
    lm = hybrid_lm("granitemoehybrid", num_local_experts=4, num_experts_per_tok=2)
    with pytest.warns(RuntimeWarning, match="granitemoehybrid"):
        _, trace = run_capture(lm)
    assert trace.settings.self_check["status"] == "failed"
    pt = trace.prompts[0]
    assert np.isnan(pt.mlp_norm).all() and np.isfinite(pt.scores[1]).all()


def test_non_attention_layer_calling_attention_is_refused(monkeypatch):
    """The observation overrides a wrong adapter row: a row that names the attention module as a
    non-softmax mixer is refused, naming the block, the mixer and the class that called."""
    from sinkscope.capture import adapters

    monkeypatch.setitem(adapters.ADAPTERS, "lfm2", adapters.Adapter(attn_output=("self_attn", "conv"),
                                                                     non_softmax=("self_attn", "conv")))
    with pytest.raises(UnsupportedArchitectureError, match=r"block 1: holds the non-softmax mixer `Lfm2Attention`.*"
                       r"`Lfm2Attention` called the attention function"):
        run_capture(hybrid_lm("lfm2"))


def test_block_without_attention_or_named_mixer_is_refused(monkeypatch):
    """A block where nothing called the attention function and that holds neither an attention module nor
    a mixer the row names (a planted row without `non_softmax`) is refused with what was observed."""
    from sinkscope.capture import adapters

    monkeypatch.setitem(adapters.ADAPTERS, "lfm2", adapters.Adapter(attn_output=("self_attn", "conv")))
    with pytest.raises(UnsupportedArchitectureError, match=r"block 0: no module of `Lfm2DecoderLayer` called the "
                       r"attention function.*block 2: no module"):
        run_capture(hybrid_lm("lfm2"))


def test_attention_module_with_its_own_attention_code_is_refused():
    """A class that computes attention itself (here: Qwen3-Next's attention in block 1 replaced by a
    subclass that calls eager attention directly instead of the registered function) is refused by
    block and class, with the flag only as a hint."""
    from transformers.models.qwen3_next import modeling_qwen3_next as q3n

    class OwnAttention(q3n.Qwen3NextAttention):
        def forward(self, hidden_states, position_embeddings, attention_mask, **kwargs):
            shape = (*hidden_states.shape[:-1], -1, self.head_dim)
            q, gate = torch.chunk(self.q_proj(hidden_states).view(*shape[:-1], self.head_dim * 2), 2, dim=-1)
            q = self.q_norm(q.view(shape)).transpose(1, 2)
            k = self.k_norm(self.k_proj(hidden_states).view(shape)).transpose(1, 2)
            v = self.v_proj(hidden_states).view(shape).transpose(1, 2)
            q, k = q3n.apply_rotary_pos_emb(q, k, *position_embeddings)
            out, w = q3n.eager_attention_forward(self, q, k, v, attention_mask, scaling=self.scaling)
            out = out.reshape(*hidden_states.shape[:-1], -1) * torch.sigmoid(gate.reshape(*hidden_states.shape[:-1], -1))
            return self.o_proj(out), w

    model = build_hybrid("qwen3_next")
    own = OwnAttention(model.config, layer_idx=1)
    own.load_state_dict(model.model.layers[1].self_attn.state_dict())
    model.model.layers[1].self_attn = own.eval()
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-qwen3_next")
    with pytest.raises(UnsupportedArchitectureError, match=r"model_type 'qwen3_next'\): block 1: `OwnAttention` \(at "
                       r"`self_attn`\) did not call the attention function.*hint: .*_supports_attention_backend"):
        run_capture(lm)


@pytest.mark.parametrize("model_type", ["qwen3_5", "qwen3_5_moe"])
def test_qwen3_5_image_text_composite_uses_its_language_model_rows(model_type):
    """Real Qwen3.5 checkpoints name the image-text composite class (model_type "qwen3_5" /
    "qwen3_5_moe"): a text-only capture of it observes the same layers, scores and gates as its text
    model would (eager reference: the composite's own language model), and the self-check passes."""
    import transformers

    text = HYBRIDS[f"{model_type}_text"][0]
    cfg = AutoConfig.for_model(model_type, text_config=dict(text), vision_config=dict(
        depth=1, hidden_size=32, num_heads=2, intermediate_size=64, out_hidden_size=64, patch_size=14, spatial_merge_size=2))
    cls = getattr(transformers, cfg.architectures[0]) if cfg.architectures else (
        transformers.Qwen3_5ForConditionalGeneration if model_type == "qwen3_5" else transformers.Qwen3_5MoeForConditionalGeneration)
    torch.manual_seed(0)
    model = cls._from_config(cfg, attn_implementation="eager").eval()
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref=f"random-{model_type}")
    assert lm.info.model_type == model_type
    ids, trace = run_capture(lm, lengths=[23, 31])
    assert trace.settings.attention_layers == [False, True, False]
    assert trace.settings.self_check["status"] == "passed", trace.settings.self_check
    for i, pt in enumerate(trace.prompts):
        with torch.no_grad():
            out = model.model.language_model(torch.tensor([ids[i]]), output_attentions=True)
        (a,) = [x for x in out.attentions if x is not None]
        nq = (a[0, 0] > 0).sum(dim=0).numpy()
        assert np.abs(a[0].sum(dim=1).numpy() / nq[None, :] - pt.scores[1]).max() <= TOL
        assert np.isfinite(pt.output_gate[1]).all() and np.isnan(pt.output_gate[[0, 2]]).all()


def test_falcon_h1_self_check_tests_the_scaled_sum_of_both_mixers(monkeypatch):
    """Falcon-H1 (docs/method.md §11): a^l = attn_out_multiplier * self_attn(x) + ssm_out_multiplier *
    mamba(x). The row that reads that sum passes (test_hybrid_matches_eager); a row that forgets the
    multipliers, or reads the attention module alone, fails the self-check by name."""
    from sinkscope.capture import adapters

    good = adapters.ADAPTERS["falcon_h1"]
    for bad in (dataclasses.replace(good, parallel=(("self_attn", None), ("mamba", None))),
                dataclasses.replace(good, parallel=(("self_attn", "attn_out_multiplier"),))):
        monkeypatch.setitem(adapters.ADAPTERS, "falcon_h1", bad)
        with pytest.warns(RuntimeWarning, match=r"falcon_h1: h\^l - h\^\(l-1\) != a\^l \+ m\^l at block"):
            _, trace = run_capture(hybrid_lm("falcon_h1"), lengths=[23])
        check = trace.settings.self_check
        assert check["status"] == "failed" and check["max_residue"] > 100 * check["tolerance"], check
        assert np.isfinite(trace.prompts[0].scores).all()  # scores do not depend on the row


def test_minimax_lightning_and_softmax_layers_at_one_name():
    """MiniMax holds lightning (linear) attention and softmax attention both at `self_attn` (the row tells
    them apart by class): the softmax layer's scores equal eager's, the lightning layers have none; its
    residual is the normed stream (post-LN blocks), so the self-check is skipped and formation is NaN."""
    cfg = AutoConfig.for_model("minimax", **{**SMALL, "num_key_value_heads": 2, "intermediate_size": 128, "head_dim": 16,
                                             "num_local_experts": 4, "num_experts_per_tok": 2, "block_size": 8,
                                             "layer_types": LIN_FULL})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-minimax")
    ids, trace = run_capture(lm, lengths=[23, 31])
    assert trace.settings.attention_layers == [False, True, False]
    assert trace.settings.self_check["status"] == "skipped"
    for i, pt in enumerate(trace.prompts):
        with torch.no_grad():
            atts = [a for a in model.model(torch.tensor([ids[i]]), output_attentions=True).attentions if a is not None]
        a = atts[1]  # eager also returns the lightning layers' block matrices (not probabilities)
        nq = (a[0, 0] > 0).sum(dim=0).numpy()
        assert (pt.n_queries[1] == nq).all()
        assert np.abs(a[0].sum(dim=1).numpy() / nq[None, :] - pt.scores[1]).max() <= TOL
        assert np.isnan(pt.scores[[0, 2]]).all() and np.isnan(pt.mlp_norm).all()


def test_zamba2_shared_attention_is_exact_and_formation_refused():
    """Zamba2 runs ONE shared transformer block (the same attention module) inside every hybrid block:
    each call is credited to the block running it, so the scores of both hybrid blocks are exact; no
    module outputs a^l or m^l of a hybrid block, so the self-check fails by name and disables formation."""
    cfg = AutoConfig.for_model("zamba2", **{**SMALL, "num_hidden_layers": 4, "num_key_value_heads": 4, "pad_token_id": 0,
                                            "intermediate_size": 128, "layers_block_type": ["mamba", "hybrid", "mamba", "hybrid"],
                                            "hybrid_layer_ids": [1, 3], "mamba_d_state": 16, "n_mamba_heads": 4,
                                            "mamba_headdim": 32, "chunk_size": 16, "attention_head_dim": 32, "num_mem_blocks": 1})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-zamba2")
    with pytest.warns(RuntimeWarning, match=r"zamba2: no MLP output module \[\] in block\(s\) \[1, 3\]"):
        ids, trace = run_capture(lm, lengths=[23, 31])
    assert trace.settings.attention_layers == [False, True, False, True]
    assert trace.settings.self_check["status"] == "failed"
    for i, pt in enumerate(trace.prompts):
        colsum, nq, *_ = eager_hybrid(model, lm, ids[i])
        for k, layer in enumerate([1, 3]):
            assert (pt.n_queries[layer] == nq[k]).all()
            assert np.abs(colsum[k] / nq[k][None, :] - pt.scores[layer]).max() <= TOL
        assert np.isnan(pt.scores[[0, 2]]).all() and np.isnan(pt.mlp_norm).all()


@pytest.mark.parametrize("model_type", sorted(HYBRIDS))
def test_hybrid_rows_name_modules_that_exist(model_type):
    """The row's modules: exactly one of `attn_output` per block (the attention or the mixer), the
    `non_softmax` mixer exactly in the blocks without attention, the MLP output in every block."""
    lm = hybrid_lm(model_type)
    row = ADAPTERS[model_type]
    blocks = find_blocks(lm)
    assert attention_layers(blocks, row) == HYBRIDS[model_type][1]
    for block, has_attn in zip(blocks, HYBRIDS[model_type][1]):
        if row.parallel:  # Falcon-H1: both mixers in every block
            assert all(_resolve(block, (n,)) is not None for n, _ in row.parallel)
        else:
            a = _resolve(block, row.attn_output)  # what the self-check reads as a^l
            mixer = _resolve(block, row.non_softmax)
            assert (mixer is None) == has_attn
            if not has_attn:  # a^l of a non-attention block is its mixer's output (or 0: an MLP-only block)
                assert a is mixer or (row.single_branch and a is None)
            else:
                assert a is not None and _resolve(block, row.attention) is not None
        assert _resolve(block, row.mlp_output) is not None or row.single_branch
