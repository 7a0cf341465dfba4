"""Capture exactness against HF eager attention on every architecture family (random init), batching,
dtype, device maps, NLL and decoding through the attention function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkscope.capture.engine import capture, choose_query_block, expected_nq
from sinkscope.capture.trace import CaptureSettings
from sinkscope.core.errors import UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ARCHS, ToyTokenizer, build, eager_reference, random_ids

TOL = 1e-5
LENGTHS = [23, 40, 31]


def _lm(model) -> LoadedModel:
    return LoadedModel.from_pair(model, ToyTokenizer(), ref=f"random-{model.config.model_type}")


def _run(lm, lengths=LENGTHS, **kw):
    ids = [random_ids(n, seed=i) for i, n in enumerate(lengths)]
    settings = CaptureSettings(**{"batch_size": len(lengths), "query_block": 7, **kw})
    return ids, capture(lm, [f"p{i}" for i in range(len(ids))], ids, [["t"] * len(x) for x in ids], settings)


@pytest.mark.parametrize("model_type", sorted(ARCHS))
def test_capture_matches_eager(model_type):
    model = build(model_type)
    lm = _lm(model)
    ids, trace = _run(lm)
    for i, pt in enumerate(trace.prompts):
        colsum, n_queries, resid, mlp, attn = eager_reference(model, lm, ids[i])
        assert (pt.n_queries == n_queries).all(), model_type  # causal, windowed or bidirectional
        ref_scores = colsum / pt.n_queries[:, None, :]
        assert np.abs(ref_scores - pt.scores).max() <= TOL, model_type
        assert np.abs(resid - pt.resid_norm[:-1]).max() <= TOL * max(1.0, resid.max())
        for layer, v in mlp.items():
            assert np.abs(v - pt.mlp_norm[layer]).max() <= TOL * max(1.0, v.max())
        for layer, v in attn.items():
            assert np.abs(v - pt.attn_norm[layer]).max() <= TOL * max(1.0, v.max())


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "gpt_oss", "gemma2"])
def test_logits_match_eager(model_type):
    """The attention output sinkscope computes is the model's own (whole-model logits agree)."""
    model = build(model_type)
    ids = torch.tensor([random_ids(45, seed=3)])
    with torch.no_grad():
        ref = model(ids).logits
        from sinkscope.capture.engine import sinkscope_attention

        with sinkscope_attention(model):
            got = model(ids).logits
    assert model.config._attn_implementation == "eager"  # restored afterwards
    assert (ref - got).abs().max().item() < 1e-4


def test_batch_equals_single():
    model = build("mistral")
    lm = _lm(model)
    ids, batched = _run(lm, batch_size=3)
    _, single = _run(lm, batch_size=1)
    for a, b in zip(batched.prompts, single.prompts):
        assert a.n_tokens == b.n_tokens  # padded positions never appear
        for name in ("scores", "resid_norm", "mlp_norm", "resid_cos", "key_norm", "value_norm"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-5, rtol=1e-5)


def test_results_do_not_depend_on_block_size():
    lm = _lm(build("gemma3_text"))
    _, small = _run(lm, query_block=3)
    _, large = _run(lm, query_block=1000)
    for a, b in zip(small.prompts, large.prompts):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_candidate_cosines_are_exact():
    model = build("llama")
    lm = _lm(model)
    ids, trace = _run(lm, lengths=[30])
    with torch.no_grad():
        hs = model.base_model(torch.tensor([ids[0]]), output_hidden_states=True).hidden_states
    h = hs[2][0]  # after block 1
    for c in range(3):
        ref = torch.nn.functional.cosine_similarity(h, h[c][None], dim=-1).numpy()
        np.testing.assert_allclose(trace.prompts[0].resid_cos[1, c], ref, atol=1e-5)
        cen = h - h.mean(0)
        ref_c = torch.nn.functional.cosine_similarity(cen, cen[c][None], dim=-1).numpy()
        np.testing.assert_allclose(trace.prompts[0].resid_cos_centred[1, c], ref_c, atol=1e-5)


def test_nll_matches_model_loss():
    model = build("gemma2")  # final-logit soft-capping must be applied
    lm = _lm(model)
    ids, trace = _run(lm, lengths=[33], with_nll=True)
    x = torch.tensor([ids[0]])
    with torch.no_grad():
        logits = model(x).logits[0]
    ref = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="none").numpy()
    np.testing.assert_allclose(trace.prompts[0].nll, ref, atol=1e-4)


def test_decoding_through_sinkscope_attention_matches_eager():
    """With a KV cache (one query, many keys) the function's causal offset is right."""
    model = build("mistral")
    x = torch.tensor([random_ids(12, seed=5)])
    with torch.no_grad():
        ref = model.generate(x, max_new_tokens=10, do_sample=False, attention_mask=torch.ones_like(x))
        from sinkscope.capture.engine import sinkscope_attention

        with sinkscope_attention(model):
            got = model.generate(x, max_new_tokens=10, do_sample=False, attention_mask=torch.ones_like(x))
    assert torch.equal(ref, got)


def test_bfloat16_close_to_float32():
    model = build("llama")
    lm32 = _lm(model)
    _, t32 = _run(lm32, lengths=[40])
    lm16 = _lm(build("llama").to(torch.bfloat16))
    _, t16 = _run(lm16, lengths=[40])
    assert t16.prompts[0].scores.dtype == np.float32  # reductions in float32
    assert np.abs(t16.prompts[0].scores - t32.prompts[0].scores).max() < 0.05


def test_explicit_cpu_device_map(tmp_path):
    """A model placed layer by layer with an accelerate device_map gives the same capture."""
    from transformers import AutoModelForCausalLM

    model = build("llama")
    model.save_pretrained(tmp_path)
    L = model.config.num_hidden_layers
    dmap = {"model.embed_tokens": "cpu", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
    dmap.update({f"model.layers.{i}": "cpu" for i in range(L)})
    placed = AutoModelForCausalLM.from_pretrained(tmp_path, device_map=dmap, attn_implementation="eager").eval()
    assert {p.device.type for p in placed.parameters()} == {"cpu"}
    _, a = _run(_lm(model), lengths=[25])
    _, b = _run(_lm(placed), lengths=[25])
    np.testing.assert_allclose(a.prompts[0].scores, b.prompts[0].scores, atol=1e-6)


def test_unsupported_architecture_is_named():
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model("bloom", hidden_size=32, n_layer=2, n_head=4, vocab_size=100)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    lm = LoadedModel(model, ToyTokenizer(), _lm(build("llama")).info.__class__(
        ref="bloom", model_type="bloom", architecture="BloomForCausalLM", n_layers=2, n_heads=4, n_kv_heads=4,
        hidden_size=32, is_causal=True, adds_bos=False, max_context=None, dtype="float32"))
    with pytest.raises(UnsupportedArchitectureError, match="bloom"):
        capture(lm, ["x"], [[3, 4, 5, 6]], [["a"] * 4])


def test_query_block_from_memory():
    small = choose_query_block(1, 9, 512)
    big = choose_query_block(1, 9, 16384)
    assert small >= big >= 16
    assert choose_query_block(1, 9, 16384, override=64) == 64


def test_expected_nq():
    assert expected_nq(5, None).tolist() == [5, 4, 3, 2, 1]
    assert expected_nq(5, 2).tolist() == [2, 2, 2, 2, 1]
    assert expected_nq(4, None, causal=False).tolist() == [4, 4, 4, 4]
