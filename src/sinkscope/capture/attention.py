"""The attention-interface function: sinkscope's one view into attention.

Registered with HF's `AttentionInterface` under the name `"sinkscope"`. HF calls it in every
attention layer with post-RoPE queries and keys (METHOD.md "Capture"). It computes the attention
output itself, in query blocks, from the same probabilities it measures, so QK^T is done once:

    P[i, j] = softmax_j( cap(q_i . k_j * scaling) + mask[i, j] )        (with learned sink logits
                                                                        s_aux joining the denominator)
    out_i   = sum_j P[i, j] v_j
    colsum[j] += sum_{i in block, i a real query} P[i, j]               (METHOD.md §1 numerator)

Only a [B, H, block, T] slice of P exists at any time; memory is O(H * T * block), never
O(L * H * T^2). Keys after the block's last query (causal) or before its window (sliding) are
not even multiplied.

Masks are built here, never taken from HF: with no mask function registered under our name, HF
passes `attention_mask=None` for every layer (TRANSFORMERS_NOTES.md "Trap: masks"), so causality
(`module.is_causal`), the sliding window (`sliding_window` kwarg) and key padding (from the
active recorder) are applied explicitly. A 4-D mask HF does pass (custom masks) is honoured too.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch

NAME = "sinkscope"


class AttentionSink(Protocol):
    """What the attention function reports to (implemented by `capture.engine.Recorder`)."""

    def layer_of(self, module: torch.nn.Module) -> int | None: ...

    def key_valid(self, device: torch.device) -> torch.Tensor | None: ...

    def query_valid(self, device: torch.device) -> torch.Tensor | None: ...

    def query_block(self, batch: int, heads: int, n_keys: int) -> int: ...

    def record_attention(
        self,
        layer: int,
        colsum: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        sliding_window: int | None,
        is_causal: bool,
    ) -> None: ...


_ACTIVE: list[AttentionSink] = []


def activate(sink: AttentionSink) -> None:
    _ACTIVE.append(sink)


def deactivate(sink: AttentionSink) -> None:
    if _ACTIVE and _ACTIVE[-1] is sink:
        _ACTIVE.pop()
    elif sink in _ACTIVE:
        _ACTIVE.remove(sink)


def _default_block(batch: int, heads: int, n_keys: int) -> int:
    # ~64 MB for one float32 score slice when nothing tells us better.
    return max(1, min(1024, (64 << 20) // max(1, 4 * batch * heads * n_keys)))


def sinkscope_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Exact blockwise attention that also accumulates attention received per key.

    Returns `(attn_output [B, T_q, H, d_v], None)` like HF's sdpa function.
    """
    if module.training and dropout > 0:
        raise RuntimeError("sinkscope attention is for analysis: put the model in eval mode (model.eval()).")
    sink = _ACTIVE[-1] if _ACTIVE else None
    layer = sink.layer_of(module) if sink is not None else None
    if layer is None:
        sink = None

    bsz, n_heads, n_q, head_dim = query.shape
    n_kv, n_k = key.shape[1], key.shape[2]
    groups = n_heads // n_kv
    scale = scaling if scaling is not None else 1.0 / math.sqrt(head_dim)
    softcap = kwargs.get("softcap")
    window = kwargs.get("sliding_window")
    is_causal = kwargs.get("is_causal")
    if is_causal is None:
        is_causal = getattr(module, "is_causal", True)
    is_causal = bool(is_causal)
    s_aux = kwargs.get("s_aux")
    q_offset = n_k - n_q  # absolute position of query 0 (decoding with a cache)

    q = query.float().reshape(bsz, n_kv, groups, n_q, head_dim)
    k = key.float()
    v = value.float()
    k_t = k.transpose(-1, -2).unsqueeze(2)  # [B, KV, 1, d, T_k]
    v_g = v.unsqueeze(2)  # [B, KV, 1, T_k, d_v]
    out = torch.empty(bsz, n_q, n_heads, v.shape[-1], dtype=query.dtype, device=query.device)

    device = query.device
    key_valid = sink.key_valid(device) if sink is not None else None
    query_valid = sink.query_valid(device) if sink is not None else None
    colsum = torch.zeros(bsz, n_kv, groups, n_k, dtype=torch.float32, device=device) if sink else None
    aux = None
    if s_aux is not None:
        aux = s_aux.float().reshape(1, n_kv, groups, 1)

    block = sink.query_block(bsz, n_heads, n_k) if sink is not None else _default_block(bsz, n_heads, n_k)
    k_pos_all = torch.arange(n_k, device=device)
    for s in range(0, n_q, block):
        e = min(s + block, n_q)
        lo, hi = 0, n_k
        if is_causal:
            hi = min(n_k, e + q_offset)
            if window is not None:
                lo = max(0, s + q_offset - window + 1)
        scores = torch.matmul(q[:, :, :, s:e], k_t[..., lo:hi]) * scale  # [B, KV, G, b, t]
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        allowed = None
        if is_causal:
            q_pos = torch.arange(s, e, device=device)[:, None] + q_offset
            k_pos = k_pos_all[None, lo:hi]
            allowed = k_pos <= q_pos
            if window is not None:
                allowed = allowed & (k_pos > q_pos - window)
            allowed = allowed[None, None, None]
        if key_valid is not None:
            kv_ok = key_valid[:, None, None, None, lo:hi]
            allowed = kv_ok if allowed is None else (allowed & kv_ok)
        if attention_mask is not None:
            m = attention_mask[:, :, s:e, lo:hi].unsqueeze(1) if attention_mask.dim() == 4 else attention_mask
            if m.dtype == torch.bool:
                allowed = m if allowed is None else (allowed & m)
            else:
                scores = scores + m.float()
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        if aux is None:
            probs = torch.softmax(scores, dim=-1)
        else:
            top = torch.maximum(scores.amax(dim=-1, keepdim=True), aux[..., None])
            probs = torch.exp(scores - top)
            denom = probs.sum(dim=-1, keepdim=True) + torch.exp(aux[..., None] - top)
            probs = probs / denom
        probs = torch.nan_to_num(probs, nan=0.0)  # rows with no visible key (padding queries)
        blk = torch.matmul(probs, v_g[..., lo:hi, :])  # [B, KV, G, b, d_v]
        out[:, s:e] = blk.reshape(bsz, n_heads, e - s, -1).transpose(1, 2).to(out.dtype)
        if colsum is not None:
            if query_valid is not None:
                probs = probs * query_valid[:, None, None, s:e, None]
            colsum[..., lo:hi] += probs.sum(dim=-2)
    if sink is not None and layer is not None:
        sink.record_attention(layer, colsum.reshape(bsz, n_heads, n_k), k, v, window, is_causal)
    return out, None


def register() -> None:
    """Register the function under `NAME` (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, sinkscope_attention)
