"""Capture exactness against HF eager attention on every architecture family (random init), batching,
dtype, device maps, NLL and decoding through the attention function; the model's attention
implementation restored exactly afterwards; concurrent and nested captures kept apart."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from sinkscope.capture.engine import capture, choose_query_block, sinkscope_attention
from sinkscope.capture.trace import CaptureSettings
from sinkscope.core.errors import UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import (
    ARCHS,
    ToyTokenizer,
    build,
    build_gemma3_composite,
    eager_reference,
    random_ids,
    run_in_threads,
)

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


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "gpt_oss", "gemma2", "llama4_text", "deepseek_v3"])
def test_logits_match_eager(model_type):
    """The attention output sinkscope computes is the model's own (whole-model logits agree)."""
    model = build(model_type)
    ids = torch.tensor([random_ids(45, seed=3)])
    with torch.no_grad():
        ref = model(ids).logits
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


@pytest.mark.parametrize("model_type", sorted(t for t, (_, kind) in ARCHS.items() if kind == "causal"))
def test_nll_matches_model_loss(model_type):
    model = build(model_type)  # final-logit soft-capping (gemma2) / logit scale (cohere2) must be applied
    lm = _lm(model)
    ids, trace = _run(lm, lengths=[33], with_nll=True)
    x = torch.tensor([ids[0]])
    with torch.no_grad():
        logits = model(x).logits[0]
    ref = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="none").numpy()
    np.testing.assert_allclose(trace.prompts[0].nll, ref, atol=1e-4)


@pytest.mark.parametrize("model_type, n_prompt, n_new", [("mistral", 12, 10), ("llama4_text", 3, 4)])
def test_decoding_through_sinkscope_attention_matches_eager(model_type, n_prompt, n_new):
    """With a KV cache (one query, many keys) the function's causal offset is right (Llama 4: chunked
    layers, while the cache holds fewer than chunk - 1 keys, so none can have been dropped)."""
    model = build(model_type)
    x = torch.tensor([random_ids(n_prompt, seed=5)])
    with torch.no_grad():
        ref = model.generate(x, max_new_tokens=n_new, do_sample=False, attention_mask=torch.ones_like(x))
        with sinkscope_attention(model):
            got = model.generate(x, max_new_tokens=n_new, do_sample=False, attention_mask=torch.ones_like(x))
    assert torch.equal(ref, got)


def test_chunked_decoding_past_the_chunk_is_refused():
    """Llama 4 passes no positions to the attention function and its chunked layers keep only the last
    chunk - 1 keys: once the cache may have dropped keys, the chunk edges are unknown, so the function
    refuses (with the reason) rather than place them wrongly."""
    model = build("llama4_text")
    x = torch.tensor([random_ids(12, seed=5)])
    with torch.no_grad(), sinkscope_attention(model), pytest.raises(ValueError, match="chunked attention .*position_ids"):
        model.generate(x, max_new_tokens=3, do_sample=False, attention_mask=torch.ones_like(x))


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


def test_disk_offloaded_layers_through_accelerate_hooks(tmp_path):
    """The closest CPU stand-in for a multi-device split: accelerate's device_map with the last two
    blocks offloaded to disk (their weights live on `meta` and are moved in by hooks around each
    call, as across GPUs). The capture, the self-check included, equals the plain model's."""
    from transformers import AutoModelForCausalLM

    model = build("llama")
    model.save_pretrained(tmp_path / "w")
    L = model.config.num_hidden_layers
    dmap = {"model.embed_tokens": "cpu", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
    dmap.update({f"model.layers.{i}": ("disk" if i >= L - 2 else "cpu") for i in range(L)})
    placed = AutoModelForCausalLM.from_pretrained(tmp_path / "w", device_map=dmap, offload_folder=tmp_path / "off",
                                                  attn_implementation="eager").eval()
    assert any(p.device.type == "meta" for p in placed.model.layers[L - 1].parameters())  # really offloaded
    _, a = _run(_lm(model), lengths=[25, 18])
    _, b = _run(_lm(placed), lengths=[25, 18])
    for pa, pb in zip(a.prompts, b.prompts):
        np.testing.assert_allclose(pa.scores, pb.scores, atol=1e-6)
        np.testing.assert_allclose(pa.mlp_norm, pb.mlp_norm, rtol=1e-5, atol=1e-5)
    assert b.settings.self_check["status"] == a.settings.self_check["status"] == "passed"


def test_unsupported_architecture_is_named(monkeypatch):
    from transformers import AutoConfig, AutoModelForCausalLM

    from sinkscope.capture.adapters import ADAPTERS, Adapter

    monkeypatch.setitem(ADAPTERS, "bloom", Adapter(blocks="h"))  # its blocks found, its attention observed

    cfg = AutoConfig.for_model("bloom", hidden_size=32, n_layer=2, n_head=4, vocab_size=100)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    lm = LoadedModel(model, ToyTokenizer(), _lm(build("llama")).info.__class__(
        ref="bloom", model_type="bloom", architecture="BloomForCausalLM", n_layers=2, n_heads=4, n_kv_heads=4,
        hidden_size=32, is_causal=True, adds_bos=False, max_context=None, dtype="float32"))
    # decided by what the model did, naming the block and the class observed; the flag only as a hint
    with pytest.raises(UnsupportedArchitectureError, match=r"model_type 'bloom'.*block 0: `BloomAttention` \(at "
                       r"`self_attention`\) did not call the attention function.*hint"):
        capture(lm, ["x"], [[3, 4, 5, 6]], [["a"] * 4])


@pytest.mark.parametrize(
    "avail, expected",
    [
        (64 << 30, (32, 32)),  # plenty of RAM: CPU_ROWS at any length
        (2 << 30, (32, 16)),  # 2 GB: slices up to 8 MB (1/256), 8 MB // (4 * 9 * 16384) = 14 -> at least 16
        (256 << 20, (32, 16)),  # little RAM: slices never below 1 MB
    ],
)
def test_query_block_from_memory(monkeypatch, avail, expected):
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"available": avail})())
    assert (choose_query_block(1, 9, 512), choose_query_block(1, 9, 16384)) == expected
    assert choose_query_block(1, 1, 16) == 32  # at most CPU_ROWS
    assert choose_query_block(64, 32, 1 << 20) == 16  # at least 16 rows
    assert choose_query_block(1, 9, 16384, override=64) == 64


# ---- the attention implementation is restored exactly --------------------------------------


def _boom(layer, m):
    raise RuntimeError("edit failed")


@pytest.mark.parametrize("before", [None, "eager", "sdpa"])
def test_attention_implementation_restored_after_capture(before):
    """Whatever the model had, "unset" (None) included, it has again after a capture, on success
    and when the capture fails half-way through a forward."""
    model = build("llama")
    lm = _lm(model)
    model.config._attn_implementation_internal = before
    ids, trace = _run(lm, lengths=[12])
    assert trace.prompts[0].scores.shape == (3, 4, 12)
    assert model.config._attn_implementation_internal == before
    with pytest.raises(RuntimeError, match="edit failed"):
        capture(lm, ["p"], ids, [["t"] * 12], edits={0: _boom})
    assert model.config._attn_implementation_internal == before
    if before is not None:  # the model runs its own attention again, not sinkscope's
        x = torch.tensor(ids)
        with torch.no_grad():
            model.set_attn_implementation("eager")
            ref = model(x).logits
            model.set_attn_implementation(before)
            got = model(x).logits
        assert (ref - got).abs().max().item() < 1e-4


def _implementations(model):
    return (
        model.config._attn_implementation_internal,
        model.config.text_config._attn_implementation_internal,
        model.config.vision_config._attn_implementation_internal,
        model.model.language_model.config._attn_implementation_internal,
    )


def test_sub_config_implementations_restored():
    """A composite model (config with text / vision sub-configs, nested PreTrainedModels): each
    config gets back its own value, mixed values and None included."""
    model = build_gemma3_composite()
    model.config._attn_implementation_internal = "eager"
    model.config.text_config._attn_implementation_internal = None
    model.config.vision_config._attn_implementation_internal = "sdpa"
    before = _implementations(model)
    assert before == ("eager", None, "sdpa", None)  # the language model shares text_config
    with sinkscope_attention(model):
        assert _implementations(model)[:2] == ("sinkscope", "sinkscope")
    assert _implementations(model) == before
    with pytest.raises(ValueError, match="inside"):
        with sinkscope_attention(model):
            raise ValueError("inside")
    assert _implementations(model) == before
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-gemma3")
    _, trace = _run(lm, lengths=[14])
    assert trace.prompts[0].scores.shape == (2, 4, 14) and np.isfinite(trace.prompts[0].scores).all()
    assert _implementations(model) == before


# ---- concurrent and nested captures ---------------------------------------------------------


def test_concurrent_captures_in_two_threads_match_their_solo_runs():
    """Two models captured at the same time in two threads (a barrier inside layer 0 holds both
    forwards open, so both recorders are active at once): each thread's attention reports to its
    own recorder, and each trace equals the model's capture run alone."""
    lms = [_lm(build("llama", seed=1)), _lm(build("mistral", seed=2))]
    solo = [_run(lm, lengths=[17, 26])[1] for lm in lms]
    barrier = threading.Barrier(2, timeout=60)

    def meet(layer, m):
        if layer == 0:
            barrier.wait()
        return None

    got: list = [None, None]

    def work(i):
        ids = [random_ids(n, seed=k) for k, n in enumerate([17, 26])]
        got[i] = capture(lms[i], ["p0", "p1"], ids, [["t"] * len(x) for x in ids],
                         CaptureSettings(batch_size=2, query_block=7), edits={0: meet, 1: meet})

    run_in_threads(work)
    for a, b in zip(got, solo):
        for pa, pb in zip(a.prompts, b.prompts):
            np.testing.assert_allclose(pa.scores, pb.scores, atol=1e-6)
            np.testing.assert_allclose(pa.resid_norm, pb.resid_norm, rtol=1e-6)


def test_nested_capture_keeps_the_outer_recorder():
    """A capture started inside another one (from an MLP edit of the outer forward) records its own
    model; the outer capture goes on recording into its own recorder and equals its solo run."""
    outer, inner = _lm(build("llama", seed=3)), _lm(build("qwen2", seed=4))
    _, outer_solo = _run(outer, lengths=[15])
    _, inner_solo = _run(inner, lengths=[15])
    nested: list = []

    def run_inner(layer, m):
        if layer == 1:
            nested.append(_run(inner, lengths=[15])[1])
        return None

    ids = [random_ids(15, seed=0)]
    got = capture(outer, ["p0"], ids, [["t"] * 15], CaptureSettings(query_block=7), edits={0: run_inner})
    (inner_trace,) = nested
    np.testing.assert_allclose(inner_trace.prompts[0].scores, inner_solo.prompts[0].scores, atol=1e-6)
    np.testing.assert_allclose(got.prompts[0].scores, outer_solo.prompts[0].scores, atol=1e-6)
    assert outer.model.config._attn_implementation == "eager"
    assert inner.model.config._attn_implementation == "eager"


def test_modernbert_local_attention_is_applied():
    """ModernBERT's sliding layers are bidirectional AND windowed (|i - j| <= local_attention / 2):
    the window is applied although the layer is not causal, n_j counts only the queries within it,
    and the decomposition self-check passes with the default row."""
    model = build("modernbert")
    lm = _lm(model)
    _, trace = _run(lm)
    half = model.config.local_attention // 2
    for pt in trace.prompts:
        t = pt.n_tokens
        j = np.arange(t)
        for layer, kind in enumerate(model.config.layer_types):
            want = np.minimum(t - 1, j + half) - np.maximum(0, j - half) + 1 if kind == "sliding_attention" else np.full(t, t)
            assert (pt.n_queries[layer] == want).all(), (layer, kind)
    assert "sliding_attention" in model.config.layer_types and trace.settings.self_check["status"] == "passed"


def test_config_head_count_the_model_ignores_cannot_crash_or_missize():
    """ModernBERT ignores `num_key_value_heads` (its keys and values have all 4 heads): with the field
    set to 2 the capture sizes every array from the tensors, and the numbers still equal eager's."""
    from transformers import AutoConfig, AutoModel

    overrides, _ = ARCHS["modernbert"]
    cfg = AutoConfig.for_model("modernbert", **overrides, num_key_value_heads=2)
    torch.manual_seed(0)
    model = AutoModel.from_config(cfg, attn_implementation="eager").eval()
    lm = _lm(model)
    assert lm.info.n_kv_heads == 2  # what the config says ...
    ids, trace = _run(lm, lengths=[23, 31])
    for i, pt in enumerate(trace.prompts):
        assert pt.key_norm.shape == pt.value_norm.shape == (3, 4, len(ids[i]))  # ... is not what the model does
        colsum, n_queries, *_ = eager_reference(model, lm, ids[i])
        assert (pt.n_queries == n_queries).all()
        assert np.abs(colsum / pt.n_queries[:, None, :] - pt.scores).max() <= TOL


def test_learned_sink_mass_is_one_minus_eager_row_sums():
    """gpt-oss's learned sink logits (s_aux) take 1 - sum_j A_ij of every softmax row: the captured
    `sink_logit_mass` [L, H, T] equals 1 - the row sums of eager `output_attentions` (which drops the
    sink's column), per layer, head and query, in a padded batch."""
    model = build("gpt_oss")
    lm = _lm(model)
    ids, trace = _run(lm)
    for i, pt in enumerate(trace.prompts):
        with torch.no_grad():
            out = model.model(torch.tensor([ids[i]]), output_attentions=True)
        ref = np.stack([1.0 - a[0].sum(dim=-1).numpy() for a in out.attentions])  # [L, H, T]
        assert pt.sink_logit_mass.shape == ref.shape
        assert np.abs(pt.sink_logit_mass - ref).max() <= TOL
        assert ref.min() > 1e-3  # the sinks matter in this model (random logits of order 1)
        assert pt.output_gate is None


def test_output_gate_equals_sigmoid_of_the_gate_half_of_q_proj():
    """Qwen3-Next gates its softmax attention output with sigmoid(gate), gate = the second half of each
    head's q_proj output. By hand from the eager block inputs and the weights: g[h, t] = mean over the
    head's d gate logits of sigmoid; the capture's `output_gate` equals it at the attention layer and is
    NaN at the linear-attention layers; learned-sink mass is absent."""
    from tests.capture.test_hybrid import build_hybrid

    model = build_hybrid("qwen3_next")
    lm = _lm(model)
    ids, trace = _run(lm)
    blk = model.model.layers[1]
    att = blk.self_attn
    H, d = model.config.num_attention_heads, model.config.head_dim
    for i, pt in enumerate(trace.prompts):
        with torch.no_grad():
            hs = model.model(torch.tensor([ids[i]]), output_hidden_states=True).hidden_states
            x = blk.input_layernorm(hs[1][0]).double()
            q = x @ att.q_proj.weight.double().T  # [T, H * 2d]
        gate = q.view(-1, H, 2 * d)[..., d:]
        ref = torch.sigmoid(gate).mean(dim=-1).T.numpy()  # [H, T]
        assert pt.output_gate.shape == (3, H, len(ids[i]))
        assert np.abs(pt.output_gate[1] - ref).max() <= TOL
        assert np.isnan(pt.output_gate[[0, 2]]).all()
        assert pt.sink_logit_mass is None
