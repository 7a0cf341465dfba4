"""capture/attention.py: the registered attention function on small hand-made cases.

The output must equal softmax(QK^T * scale + mask) V and the accumulated per-key column sums must
equal the column sums of the eager attention probabilities (docs/method.md §1 numerator), with causal,
sliding-window and bidirectional masks, grouped-query heads (GQA), query blocks that cut across
the masks, decoding offsets, Llama 4 chunked attention, soft-capping, learned sink logits and padded batches. The reference
is computed twice: by hand in float64 numpy and with HF's own `eager_attention_forward`.
Also: the active recorder is a ContextVar (threads and nested captures never see each other's).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers.models.llama.modeling_llama import eager_attention_forward

from sinkscope.capture import attention as attn
from sinkscope.capture.attention import active_sink, recording, sinkscope_attention
from tests.capture.archs import run_in_threads


class Sink:
    """An `AttentionSink` that keeps what the function reports for one module (layer 0)."""

    kv_policy = None

    def __init__(self, module, block=3, lengths=None, n=None):
        self.module, self.block = module, block
        self.valid = None if lengths is None else torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
        self.records: list[dict] = []

    def layer_of(self, module):
        return 0 if module is self.module else None

    def key_valid(self, device):
        return self.valid

    def query_valid(self, device):
        return None if self.valid is None else self.valid.float()

    def query_block(self, batch, heads, n_keys):
        return self.block

    def record_attention(self, layer, colsum, n_visible, key, value, sliding_window, is_causal, sink_mass=None):
        self.records.append(dict(layer=layer, colsum=colsum.clone(), n_visible=n_visible.clone(),
                                 window=sliding_window, causal=is_causal,
                                 sink_mass=None if sink_mass is None else sink_mass.clone()))


def _module(causal=True):
    m = torch.nn.Module()
    m.is_causal = causal
    m.eval()
    return m


def _qkv(b, h, kv, tq, tk, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, tq, d, generator=g)
    k = torch.randn(b, kv, tk, d, generator=g)
    v = torch.randn(b, kv, tk, d + 2, generator=g)  # d_v != d_k on purpose
    return q, k, v


def visible(tq, tk, causal, window, lengths=None, b=1, chunk=None, phase=0):
    """[B, Tq, Tk] bool: key j visible to query i (absolute position i + Tk - Tq)."""
    i = np.arange(tq)[:, None] + (tk - tq)
    j = np.arange(tk)[None, :]
    vis = np.ones((tq, tk), dtype=bool)
    if causal:
        vis &= j <= i
    if window is not None:
        vis &= np.abs(i - j) < window  # one-sided when causal; ModernBERT-style local attention otherwise
    if chunk is not None:
        vis &= (i + phase) // chunk == (j + phase) // chunk  # Llama 4: same chunk of absolute positions
    vis = np.broadcast_to(vis, (b, tq, tk)).copy()
    if lengths is not None:
        vis &= (np.arange(tk)[None, :] < np.asarray(lengths)[:, None])[:, None, :]
    return vis


def by_hand(q, k, v, scale, vis, softcap=None, s_aux=None, lengths=None):
    """float64: out [B, Tq, H, d_v] = P V and colsum [B, H, Tk] = sum over real queries of P."""
    q, k, v = (x.double().numpy() for x in (q, k, v))
    b, h, tq, _ = q.shape
    groups = h // k.shape[1]
    kk, vv = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)  # query head h uses KV head h // G
    s = np.einsum("bhid,bhjd->bhij", q, kk) * scale
    if softcap is not None:
        s = np.tanh(s / softcap) * softcap
    s = np.where(vis[:, None], s, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    if s_aux is not None:
        aux = s_aux.double().numpy()[None, :, None, None]
        top = np.maximum(top, aux)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(s - top)
    den = e.sum(axis=-1, keepdims=True)
    if s_aux is not None:
        den = den + np.exp(aux - top)
    p = np.divide(e, den, out=np.zeros_like(e), where=den > 0)
    out = np.einsum("bhij,bhjd->bihd", p, vv)
    if lengths is not None:
        p = p * (np.arange(tq)[None, :] < np.asarray(lengths)[:, None])[:, None, :, None]
    return out, p.sum(axis=2)


def by_hand_probs(q, k, scale, vis, softcap=None, s_aux=None):
    """float64 [B, H, Tq, Tk] probabilities on the real keys (the sink logit, if any, in the denominator)."""
    q, k = q.double().numpy(), k.double().numpy()
    kk = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
    s = np.einsum("bhid,bhjd->bhij", q, kk) * scale
    if softcap is not None:
        s = np.tanh(s / softcap) * softcap
    s = np.where(vis[:, None], s, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    e = np.exp(s - top)
    den = e.sum(axis=-1, keepdims=True)
    if s_aux is not None:
        den = den + np.exp(s_aux.double().numpy()[None, :, None, None] - top)
    return e / den


def hf_eager(q, k, v, scale, vis):
    """HF's eager attention with the same mask (additive, -inf where hidden): (out, colsum)."""
    mod = _module()
    mod.num_key_value_groups = q.shape[1] // k.shape[1]
    mask = torch.where(torch.from_numpy(vis)[:, None], 0.0, float("-inf"))
    out, w = eager_attention_forward(mod, q, k, v, mask, scaling=scale)
    return out, w.sum(dim=2)


CASES = {
    # name: (heads, kv_heads, n_queries, n_keys, causal, window, block)
    "causal-gqa": (4, 2, 11, 11, True, None, 3),
    "causal-mqa-block1": (4, 1, 9, 9, True, None, 1),
    "sliding-window-gqa": (4, 2, 13, 13, True, 4, 3),
    "sliding-window-wide-block": (6, 3, 13, 13, True, 5, 64),
    "bidirectional": (4, 4, 7, 7, False, None, 2),
    "bidirectional-window": (4, 2, 13, 13, False, 3, 4),  # local attention on an encoder
    "bidirectional-window-block1": (4, 4, 9, 9, False, 2, 1),
    "decode-offset-window": (4, 2, 3, 10, True, 4, 2),  # a KV cache: 3 new queries, 10 keys
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_and_column_sums_equal_softmax_qk_v(name):
    h, kv, tq, tk, causal, window, block = CASES[name]
    q, k, v = _qkv(1, h, kv, tq, tk)
    scale = 0.3
    mod = _module(causal)
    sink = Sink(mod, block=block)
    with recording(sink):
        out, weights = sinkscope_attention(mod, q, k, v, None, scaling=scale, sliding_window=window)
    assert weights is None and out.shape == (1, tq, h, v.shape[-1]) and out.dtype == q.dtype
    vis = visible(tq, tk, causal, window)
    ref_out, ref_col = by_hand(q, k, v, scale, vis)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-5)
    (rec,) = sink.records
    assert rec["layer"] == 0 and rec["window"] == window and rec["causal"] is causal
    np.testing.assert_allclose(rec["colsum"].numpy(), ref_col, atol=1e-5)
    # n_j: the queries that see key j, counted from the softmax mask itself
    assert (rec["n_visible"].numpy() == vis.sum(axis=1)).all()
    # the same against HF's eager attention
    hf_out, hf_col = hf_eager(q, k, v, scale, vis)
    np.testing.assert_allclose(out.numpy(), hf_out.numpy(), atol=1e-5)
    np.testing.assert_allclose(rec["colsum"].numpy(), hf_col.numpy(), atol=1e-5)
    # every real query row sums to 1, so the column sums add up to the number of queries
    np.testing.assert_allclose(rec["colsum"].sum(dim=-1).numpy(), np.full((1, h), tq), rtol=1e-5)


CHUNK_CASES = {
    # name: (heads, kv_heads, n_queries, n_keys, causal, chunk, block, phase)
    "causal-chunk-gqa": (4, 2, 19, 19, True, 5, 3, 0),  # blocks of 3 cut across chunks of 5
    "causal-chunk-block-in-chunk": (4, 2, 16, 16, True, 8, 4, 0),  # blocks inside chunks: full middle columns
    "causal-chunk-wide-block": (2, 1, 17, 17, True, 4, 64, 0),  # one block spans every chunk
    "causal-chunk-block1": (2, 2, 9, 9, True, 3, 1, 0),
    "bidirectional-chunk": (4, 2, 13, 13, False, 4, 3, 0),
    "decode-chunk-full-cache": (4, 2, 1, 13, True, 5, 2, 0),  # one new query, keys from position 0
    "decode-chunk-sliding-cache": (4, 2, 2, 6, True, 5, 1, 7),  # a cache that kept keys 7..12 only
}


@pytest.mark.parametrize("name", sorted(CHUNK_CASES))
def test_chunked_attention_is_exact(name):
    """Llama 4 chunked attention: query i sees key j iff j <= i and floor(i / C) == floor(j / C) (positions
    absolute: `position_ids` say where the keys a cache kept start). Output, column sums and n_j against
    float64 by hand and HF's eager attention; the chunk comes from the module's config as HF marks it."""
    h, kv, tq, tk, causal, chunk, block, phase = CHUNK_CASES[name]
    q, k, v = _qkv(1, h, kv, tq, tk, seed=4)
    mod = _module(causal)
    mod.config = type("Cfg", (), {"attention_chunk_size": chunk, "layer_types": ["full_attention", "chunked_attention"]})()
    mod.layer_idx = 1
    sink = Sink(mod, block=block)
    pos = torch.arange(tk - tq, tk)[None] + phase
    with recording(sink):
        out, _ = sinkscope_attention(mod, q, k, v, None, scaling=0.4, position_ids=pos)
    vis = visible(tq, tk, causal, None, chunk=chunk, phase=phase)
    ref_out, ref_col = by_hand(q, k, v, 0.4, vis)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-5)
    (rec,) = sink.records
    np.testing.assert_allclose(rec["colsum"].numpy(), ref_col, atol=1e-5)
    assert (rec["n_visible"].numpy() == vis.sum(axis=1)).all()
    hf_out, hf_col = hf_eager(q, k, v, 0.4, vis)
    np.testing.assert_allclose(out.numpy(), hf_out.numpy(), atol=1e-5)
    np.testing.assert_allclose(rec["colsum"].numpy(), hf_col.numpy(), atol=1e-5)
    # the chunk matters: without it the numbers differ
    if tq > chunk or phase:
        _, full_col = by_hand(q, k, v, 0.4, visible(tq, tk, causal, None))
        assert np.abs(rec["colsum"].numpy() - full_col).max() > 0.1


def test_chunked_attention_with_padding_and_window():
    """The chunk joins the one visibility mask with key padding (the recorder's) and a window."""
    q, k, v = _qkv(2, 4, 2, 14, 14, seed=6)
    mod = _module()
    sink = Sink(mod, block=4, lengths=[14, 9], n=14)
    with recording(sink):
        out, _ = sinkscope_attention(mod, q, k, v, None, scaling=0.5, sliding_window=4, attention_chunk_size=6)
    vis = visible(14, 14, True, 4, lengths=[14, 9], b=2, chunk=6)
    ref_out, ref_col = by_hand(q, k, v, 0.5, vis, lengths=[14, 9])
    (rec,) = sink.records
    np.testing.assert_allclose(rec["colsum"].numpy(), ref_col, atol=1e-5)
    np.testing.assert_allclose(out[1, :9].numpy(), ref_out[1, :9], atol=1e-5)
    real = np.arange(14)[None, :, None] < np.array([14, 9])[:, None, None]
    assert (rec["n_visible"].numpy() == (vis & real).sum(axis=1)).all()


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("chunk, phase", [(3, 0), (5, 2), (8, 0)])
def test_always_visible_columns_are_seen_by_every_query(causal, chunk, phase):
    """For every block: [lo, hi) covers every key any query sees, and every query sees every column
    of [f0, f1) (the part the loop adds b to without building a mask)."""
    n = 23
    ref = visible(n, n, causal, None, chunk=chunk, phase=phase)[0]
    for block in (1, 2, 4, 7):
        for s in range(0, n, block):
            e = min(s + block, n)
            lo, hi = attn._key_range(s, e, 0, n, causal, None, chunk, phase)
            assert not ref[s:e, :lo].any() and not ref[s:e, hi:].any(), (s, e, lo, hi)
            f0, f1 = attn._always_visible(s, e, lo, hi, 0, causal, None, chunk, phase)
            if f1 > f0:
                assert ref[s:e, f0:f1].all(), (s, e, f0, f1)
            got = attn.block_visibility(s, e, lo, hi, 0, causal, None, None, None, torch.device("cpu"), chunk, phase)
            assert (got[0].numpy() == ref[s:e, lo:hi]).all()


def test_which_layers_are_chunked():
    """HF 5.24 passes no chunk to the attention function: `layer_chunk` reads the layer's config the way
    HF's masking code does (layer_types[layer_idx] == "chunked_attention"; without layer_types every
    layer is chunked unless a sliding window is set)."""
    def mod(idx, **cfg):
        m = _module()
        m.config, m.layer_idx = type("Cfg", (), cfg)(), idx
        return m

    types = ["chunked_attention", "full_attention"]
    assert attn.layer_chunk(mod(0, attention_chunk_size=8, layer_types=types), {}) == 8
    assert attn.layer_chunk(mod(1, attention_chunk_size=8, layer_types=types), {}) is None
    assert attn.layer_chunk(mod(0, attention_chunk_size=8, layer_types=None, sliding_window=None), {}) == 8
    assert attn.layer_chunk(mod(0, attention_chunk_size=8, layer_types=None, sliding_window=4), {}) is None
    assert attn.layer_chunk(mod(0, attention_chunk_size=None, layer_types=types), {}) is None
    assert attn.layer_chunk(_module(), {"attention_chunk_size": 5}) == 5
    with pytest.raises(ValueError, match="layer_idx"):
        attn.layer_chunk(mod(None, attention_chunk_size=8, layer_types=types), {})


def test_sliding_window_hides_old_keys_exactly():
    """With window w, query i sees keys i-w+1..i only: key 0's column sum is the sum over queries 0..w-1."""
    q, k, v = _qkv(1, 2, 2, 12, 12, seed=3)
    mod = _module()
    sink = Sink(mod, block=5)
    with recording(sink):
        sinkscope_attention(mod, q, k, v, None, scaling=1.0, sliding_window=3)
    col = sink.records[0]["colsum"].numpy()
    _, ref_col = by_hand(q, k, v, 1.0, visible(12, 12, True, 3))
    np.testing.assert_allclose(col, ref_col, atol=1e-5)
    _, full_col = by_hand(q, k, v, 1.0, visible(12, 12, True, None))
    assert np.abs(col - full_col).max() > 0.1  # the window changes the numbers
    # query 0 gives key 0 everything (1), queries 1 and 2 a share, queries >= 3 nothing
    assert 1.0 < col[0, 0, 0] < 3.0


def test_softcap_and_learned_sink_logits():
    """softcap: tanh(s / c) c on the scaled scores; s_aux (per head) joins the softmax denominator only."""
    h, kv, t = 4, 2, 10
    q, k, v = _qkv(1, h, kv, t, t, seed=1)
    q = q * 4  # large scores so the cap matters
    s_aux = torch.tensor([0.5, -1.0, 2.0, 0.0])
    mod = _module()
    sink = Sink(mod, block=4)
    with recording(sink):
        out, _ = sinkscope_attention(mod, q, k, v, None, scaling=0.5, softcap=3.0, s_aux=s_aux, sliding_window=6)
    vis = visible(t, t, True, 6)
    ref_out, ref_col = by_hand(q, k, v, 0.5, vis, softcap=3.0, s_aux=s_aux)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-5)
    np.testing.assert_allclose(sink.records[0]["colsum"].numpy(), ref_col, atol=1e-5)
    # with sink logits the rows no longer sum to 1 (mass goes to the sink)
    assert (sink.records[0]["colsum"].sum(dim=-1) < t - 1e-3).all()
    # the mass the sink logit takes, per query: 1 - the query's row sum over real keys (docs/method.md §13)
    p = by_hand_probs(q, k, 0.5, vis, softcap=3.0, s_aux=s_aux)
    np.testing.assert_allclose(sink.records[0]["sink_mass"].numpy(), 1.0 - p.sum(axis=-1), atol=1e-5)


def test_padded_batch_excludes_pad_keys_and_queries():
    """Right padding: pad keys are never attended to, pad queries add nothing to the column sums."""
    lengths, t = [9, 5], 9
    q, k, v = _qkv(2, 4, 2, t, t, seed=2)
    mod = _module()
    sink = Sink(mod, block=2, lengths=lengths, n=t)
    with recording(sink):
        out, _ = sinkscope_attention(mod, q, k, v, None, scaling=0.4)
    vis = visible(t, t, True, None, lengths=lengths, b=2)
    ref_out, ref_col = by_hand(q, k, v, 0.4, vis, lengths=lengths)
    col = sink.records[0]["colsum"].numpy()
    np.testing.assert_allclose(col, ref_col, atol=1e-5)
    assert (col[1, :, 5:] == 0).all()  # pad keys of row 1
    np.testing.assert_allclose(col[1].sum(axis=-1), np.full(4, 5.0), rtol=1e-5)  # 5 real queries
    np.testing.assert_allclose(out[1, :5].numpy(), ref_out[1, :5], atol=1e-5)
    # the short row equals the same prompt run alone
    sink1 = Sink(mod, block=2)
    with recording(sink1):
        alone, _ = sinkscope_attention(mod, q[1:, :, :5], k[1:, :, :5], v[1:, :, :5], None, scaling=0.4)
    np.testing.assert_allclose(out[1, :5].numpy(), alone[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(col[1, :, :5], sink1.records[0]["colsum"][0].numpy(), atol=1e-5)


def _hf_mask(vis4: np.ndarray, kind: str, extra_keys: int = 0) -> torch.Tensor:
    """vis4 [B, 1, Tq|1, Tk] bool as HF would pass it: bool, or additive float (0 / dtype min, or 0 / -inf)."""
    m = torch.from_numpy(np.ascontiguousarray(vis4))
    if extra_keys:  # HF may pass a mask longer than the keys (eager slices it to key.shape[-2])
        m = torch.cat([m, torch.zeros(*m.shape[:-1], extra_keys, dtype=torch.bool)], dim=-1)
    if kind == "bool":
        return m
    dtype = torch.bfloat16 if kind == "additive-bf16" else torch.float32
    hidden = float("-inf") if kind == "additive-inf" else torch.finfo(dtype).min
    return torch.where(m, torch.zeros((), dtype=dtype), torch.full((), hidden, dtype=dtype))


MASK_KINDS = ["bool", "additive", "additive-inf", "additive-bf16"]


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("shape", ["B11T", "B1TT", "B1TT-longer"])
@pytest.mark.parametrize("causal", [True, False])
def test_hf_masks_in_every_shape_are_honoured(shape, kind, causal):
    """A mask HF passes, [B, 1, 1, T] (padding: broadcast over queries before query blocks are cut
    from it) or [B, 1, T, T] (possibly longer than the keys), bool or additive float, is applied
    exactly: output and column sums equal eager attention with the same mask, and n_j is the count
    of entries of the softmax mask that are visible."""
    b, h, kv, t, lengths = 2, 4, 2, 11, [11, 7]
    q, k, v = _qkv(b, h, kv, t, t, seed=8)
    key_ok = np.arange(t)[None, :] < np.asarray(lengths)[:, None]  # [B, T]
    if shape == "B11T":
        vis4 = key_ok[:, None, None, :]
    else:
        full = np.broadcast_to(key_ok[:, None, :], (b, t, t)).copy()
        full[0, 6:, 3] = False  # a custom hole as well
        vis4 = full[:, None]
    mod = _module(causal)
    sink = Sink(mod, block=3)
    mask = _hf_mask(vis4, kind, extra_keys=2 if shape.endswith("longer") else 0)
    with recording(sink):
        out, _ = sinkscope_attention(mod, q, k, v, mask, scaling=0.6)
    vis = np.broadcast_to(vis4[:, 0], (b, t, t)) & visible(t, t, causal, None, b=b)
    ref_out, ref_col = by_hand(q, k, v, 0.6, vis)
    hf_out, hf_col = hf_eager(q, k, v, 0.6, vis)
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-5)
    np.testing.assert_allclose(out.numpy(), hf_out.numpy(), atol=1e-5)
    np.testing.assert_allclose(sink.records[0]["colsum"].numpy(), ref_col, atol=1e-5)
    np.testing.assert_allclose(sink.records[0]["colsum"].numpy(), hf_col.numpy(), atol=1e-5)
    assert (sink.records[0]["n_visible"].numpy() == vis.sum(axis=1)).all()


def test_hf_mask_and_recorder_padding_and_window_combine():
    """Padding from the recorder, a sliding window and an HF [B, 1, 1, T] mask are ANDed into one
    softmax mask; pad queries add nothing to the column sums nor to n_j."""
    b, t, lengths, window = 2, 12, [12, 8], 4
    q, k, v = _qkv(b, 4, 2, t, t, seed=9)
    extra = np.ones((b, t), dtype=bool)
    extra[:, 1] = False  # the HF mask hides key 1 everywhere
    mod = _module()
    sink = Sink(mod, block=5, lengths=lengths, n=t)
    with recording(sink):
        out, _ = sinkscope_attention(mod, q, k, v, _hf_mask(extra[:, None, None], "additive"), scaling=0.5,
                                     sliding_window=window)
    vis = visible(t, t, True, window, lengths=lengths, b=b) & extra[:, None, :]
    ref_out, ref_col = by_hand(q, k, v, 0.5, vis, lengths=lengths)
    np.testing.assert_allclose(sink.records[0]["colsum"].numpy(), ref_col, atol=1e-5)
    real = np.arange(t)[None, :, None] < np.asarray(lengths)[:, None, None]
    assert (sink.records[0]["n_visible"].numpy() == (vis & real).sum(axis=1)).all()
    for r, n in enumerate(lengths):
        np.testing.assert_allclose(out[r, :n].numpy(), ref_out[r, :n], atol=1e-5)


def test_mask_of_an_unknown_shape_is_refused():
    q, k, v = _qkv(1, 2, 2, 5, 5)
    with pytest.raises(ValueError, match="attention mask of shape"):
        sinkscope_attention(_module(), q, k, v, torch.ones(1, 2, 5, 5, dtype=torch.bool))


def test_without_recorder_only_the_output_is_computed():
    q, k, v = _qkv(1, 4, 2, 6, 6, seed=5)
    mod = _module()
    assert active_sink() is None
    out, _ = sinkscope_attention(mod, q, k, v, None)  # default scaling 1/sqrt(d)
    ref_out, _ = by_hand(q, k, v, 1 / np.sqrt(q.shape[-1]), visible(6, 6, True, None))
    np.testing.assert_allclose(out.numpy(), ref_out, atol=1e-5)
    other = Sink(_module(), block=2)  # a recorder that does not own this module records nothing
    with recording(other):
        sinkscope_attention(mod, q, k, v, None)
    assert other.records == []


def test_training_with_dropout_is_refused():
    mod = _module()
    mod.train()
    q, k, v = _qkv(1, 2, 2, 4, 4)
    with pytest.raises(RuntimeError, match="eval mode"):
        sinkscope_attention(mod, q, k, v, None, dropout=0.1)


def test_recording_nests_and_restores():
    a, b = Sink(_module()), Sink(_module())
    with recording(a):
        assert active_sink() is a
        with recording(b):
            assert active_sink() is b
        assert active_sink() is a
    assert active_sink() is None
    with pytest.raises(ValueError):
        with recording(a):
            raise ValueError("boom")
    assert active_sink() is None  # reset on error too


def test_concurrent_recorders_do_not_see_each_other():
    """Two threads, each inside its own `recording`, both active at once (a barrier holds them):
    each attention call reports to its own thread's recorder (a module-global stack would hand
    both calls to whichever recorder was activated last)."""
    q, k, v = _qkv(1, 4, 2, 7, 7, seed=6)
    mods = [_module(), _module()]
    sinks = [Sink(m, block=3) for m in mods]
    barrier = threading.Barrier(2, timeout=30)

    def work(i):
        with recording(sinks[i]):
            barrier.wait()  # both recorders are now active
            sinkscope_attention(mods[i], q * (i + 1), k, v, None, scaling=0.5)
            barrier.wait()

    run_in_threads(work)
    for i, s in enumerate(sinks):
        (rec,) = s.records
        _, ref_col = by_hand(q * (i + 1), k, v, 0.5, visible(7, 7, True, None))
        np.testing.assert_allclose(rec["colsum"].numpy(), ref_col, atol=1e-5)
    assert active_sink() is None


def test_register_makes_the_name_available():
    from transformers import AttentionInterface

    attn.register()
    attn.register()  # idempotent
    assert AttentionInterface()[attn.NAME] is sinkscope_attention
