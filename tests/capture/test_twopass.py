"""capture/twopass.py: the fused-output + column-pass path equals the single pass to float tolerance.

On random tensors (grouped-query heads, padded batches, blocks that cut the causal diagonal) the
output on real rows, the column sums and the visible-query counts n_j of the two-pass path equal
the single pass's (docs/method.md §1); where the fused kernel cannot compute what the single pass
does (windows, soft-capping, learned sink logits, an HF mask, a cache offset, d_v != d_k) the
two-pass path is not taken even when forced, so the results stay the single pass's; a whole
random-init model captured through either path gives the same trace.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkscope.capture import twopass
from sinkscope.capture.attention import recording, sinkscope_attention
from sinkscope.capture.engine import capture
from sinkscope.capture.trace import CaptureSettings
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build, random_ids
from tests.capture.test_attention import Sink, _module


def _qkv(b, h, kv, t, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, t, d, generator=g), torch.randn(b, kv, t, d, generator=g),
            torch.randn(b, kv, t, d, generator=g))


def _run(path, q, k, v, block=5, lengths=None, **kw):
    m = _module(True)
    sink = Sink(m, block=block, lengths=lengths, n=q.shape[2])
    with twopass.attention_path(path), recording(sink):
        out, _ = sinkscope_attention(m, q, k, v, None, scaling=0.3, **kw)
    rec = sink.records[0]
    return out, rec["colsum"], rec["n_visible"]


@pytest.mark.parametrize(
    "b, h, kv, t, block, lengths",
    [
        (1, 4, 4, 37, 5, None),  # MHA, blocks cut the diagonal
        (2, 6, 2, 41, 7, None),  # GQA, batch
        (3, 8, 2, 29, 4, [29, 11, 20]),  # GQA + right padding: pad queries add nothing, pad keys unseen
        (1, 2, 1, 64, 64, None),  # one block
    ],
)
def test_twopass_equals_single_pass(b, h, kv, t, block, lengths):
    q, k, v = _qkv(b, h, kv, t, seed=t)
    o1, c1, n1 = _run("single", q, k, v, block, lengths)
    o2, c2, n2 = _run("twopass", q, k, v, block, lengths)
    rows = lengths or [t] * b
    for r, n in enumerate(rows):
        torch.testing.assert_close(o2[r, :n], o1[r, :n], atol=2e-6, rtol=1e-5)  # pad rows: never read
    torch.testing.assert_close(c2, c1, atol=2e-5, rtol=1e-5)
    assert torch.equal(n1, n2)
    assert c1.abs().sum() > 0 and (n1 > 0).any()


def test_twopass_counts_equal_the_causal_structure():
    q, k, v = _qkv(2, 2, 2, 10)
    _, cs, nv = _run("twopass", q, k, v, block=3, lengths=[10, 6])
    assert nv[0].tolist() == list(range(10, 0, -1))
    assert nv[1].tolist() == [6, 5, 4, 3, 2, 1, 0, 0, 0, 0]
    # colsum over keys = number of real queries (every real softmax row sums to 1)
    torch.testing.assert_close(cs.sum(-1), torch.tensor([[10.0, 10.0], [6.0, 6.0]]), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "kw",
    [dict(sliding_window=6), dict(softcap=3.0), dict(s_aux=torch.tensor([0.5, -1.0, 0.2, 1.0]))],
)
def test_forced_twopass_falls_back_where_it_does_not_apply(kw):
    q, k, v = _qkv(1, 4, 2, 23)
    o1, c1, n1 = _run("single", q, k, v, 4, **kw)
    o2, c2, n2 = _run("twopass", q, k, v, 4, **kw)
    assert torch.equal(o1, o2) and torch.equal(c1, c2) and torch.equal(n1, n2)  # the same (single) path


def test_applies_only_to_plain_causal_self_attention():
    q, k, v = _qkv(1, 4, 2, 9)
    base = dict(is_causal=True, window=None, softcap=None, s_aux=None, attention_mask=None)
    assert twopass.applies(q, k, v, **base)
    assert not twopass.applies(q, k, v, **{**base, "is_causal": False})
    assert not twopass.applies(q, k, v, **{**base, "window": 4})
    assert not twopass.applies(q, k, v, **{**base, "softcap": 30.0})
    assert not twopass.applies(q, k, v, **{**base, "attention_mask": torch.ones(1, 1, 9, 9, dtype=torch.bool)})
    assert not twopass.applies(q[:, :, -1:], k, v, **base)  # decoding with a cache offset
    assert not twopass.applies(q, k, torch.randn(1, 2, 9, 12), **base)  # d_v != d_k (MLA)


def test_auto_uses_the_measured_thresholds(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setitem(twopass.TWOPASS_MIN_KEYS, "cpu", None)
    assert twopass.choose(cpu, 10**6) == "single"
    monkeypatch.setitem(twopass.TWOPASS_MIN_KEYS, "cpu", 100)
    assert (twopass.choose(cpu, 99), twopass.choose(cpu, 100)) == ("single", "twopass")
    with twopass.attention_path("single"):
        assert twopass.choose(cpu, 10**6) == "single"
    with pytest.raises(ValueError, match="attention path"):
        with twopass.attention_path("fast"):  # type: ignore[arg-type]
            pass


def test_without_recorder_twopass_is_the_fused_output():
    q, k, v = _qkv(1, 4, 2, 19)
    m = _module(True)
    with twopass.attention_path("twopass"):
        out, _ = sinkscope_attention(m, q, k, v, None, scaling=0.3)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1), is_causal=True, scale=0.3
    ).transpose(1, 2)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=1e-5)


def test_model_capture_is_the_same_through_either_path():
    model = build("llama")
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-llama")
    lengths = [23, 40, 31]
    ids = [random_ids(n, seed=i) for i, n in enumerate(lengths)]
    traces = {}
    for path in ("single", "twopass"):
        with twopass.attention_path(path):
            traces[path] = capture(lm, ["p"] * 3, ids, [["t"] * n for n in lengths],
                                   CaptureSettings(batch_size=3, query_block=7))
    for a, b in zip(traces["single"].prompts, traces["twopass"].prompts):
        assert (a.n_queries == b.n_queries).all()
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)
        np.testing.assert_allclose(b.resid_norm, a.resid_norm, rtol=1e-5)
        np.testing.assert_allclose(b.mlp_norm, a.mlp_norm, rtol=1e-4, atol=1e-5)
