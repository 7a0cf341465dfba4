"""The attention-interface function: sinkscope's one view into attention.

Registered with HF's `AttentionInterface` under the name `"sinkscope"`. HF calls it in every
attention layer with post-RoPE queries and keys (docs/method.md "Capture"). It computes the attention
output itself, in query blocks, from the same probabilities it measures, so QK^T is done once:

    P[i, j] = softmax_j( cap(q_i . k_j * scaling) + mask[i, j] )        (with learned sink logits
                                                                        s_aux joining the denominator)
    out_i   = sum_j P[i, j] v_j
    colsum[j] += sum_{i in block, i a real query} P[i, j]               (docs/method.md §1 numerator)
    sink_mass[i] = 1 - sum_j P[i, j]                    (only with s_aux: the learned sink's share, §13)

Only a [B, H, block, T] slice of P exists at any time; memory is O(H * T * block), never
O(L * H * T^2). Keys after the block's last query (causal) or before its window (sliding) are
not even multiplied.

Masks are built here, never taken from HF: with no mask function registered under our name, HF
passes `attention_mask=None` for every layer (docs/method.md "Capture"), so causality
(`module.is_causal`), the sliding window (`sliding_window` kwarg), Llama 4's attention chunks (from
the layer's config, `layer_chunk`: HF passes no chunk kwarg) and key padding (from the active
recorder) are applied explicitly. A mask HF does pass is honoured in every shape it produces
([B, 1, 1, T] or [B, 1, T, T], bool or additive float; `_expand_mask`). Windows apply to
bidirectional layers too (ModernBERT-style local attention: |i - j| < window). All of these are
combined into ONE visibility mask per query block (`block_visibility`), which the softmax applies
and from which the number of real queries seeing each key (n_j, docs/method.md §1) is counted. When
the mask is pure causal / window structure it is built on the block's edge strips only: the
columns between them are seen by every query of the block (`_always_visible`), so each adds b.

The active recorder (an `AttentionSink`) is held in a `contextvars.ContextVar`, set for the
duration of a capture by `recording(sink)` and reset with its token: a capture in another thread,
or one nested inside this one, never reports into the wrong recorder. Outside a capture the
function only computes the output.

Every recorder declares a `kv_policy` (`AttentionSink`; None for a capture): an `EvictionPolicy`
(`capture.kv_policies.KVPolicy`, docs/method.md §10) whose `restrict` hides, in each block's scores, the keys a simulated KV-cache eviction dropped (an AND
with the visibility above, before the softmax), and `observe` sees the block's probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import torch

from sinkscope.capture import twopass
from sinkscope.capture.device import choose_query_block

NAME = "sinkscope"


class EvictionPolicy(Protocol):
    """A simulated KV-cache eviction the attention function applies (docs/method.md §10; implemented by
    `capture.kv_policies.KVPolicy`). Shapes: scores and probs [B, KV, G, b, t] for the query block
    [s, e) (absolute positions) and keys [lo, hi); aux [1, KV, G, 1, 1] learned sink logits or None."""

    needs_hidden: bool  # whether `set_hidden` must be called with each block's input (a block pre-hook)

    def restrict(self, layer: int, s: int, e: int, lo: int, hi: int, scores: torch.Tensor,
                 aux: torch.Tensor | None) -> None:
        """Hide (-inf, in place) the keys the policy evicted, before the softmax (docs/method.md §10).

        Args:
            layer: the block index l.
            s, e: the query block [s, e), absolute positions.
            lo, hi: the keys [lo, hi) the block's scores cover.

        Shapes:
            scores: [B, KV, G, b, t] float32 scaled scores, G = H / KV, b = e - s, t = hi - lo.
            aux: [1, KV, G, 1, 1] learned sink logits, or None.
        """
        ...

    def observe(self, layer: int, s: int, e: int, lo: int, hi: int, probs: torch.Tensor) -> None:
        """See the block's probabilities under the policy's visibility (docs/method.md §10).

        Args:
            layer: the block index l.
            s, e: the query block [s, e), absolute positions.
            lo, hi: the keys [lo, hi) the block's probabilities cover.

        Shapes:
            probs: [B, KV, G, b, t] float32, G = H / KV, b = e - s, t = hi - lo.
        """
        ...

    def set_hidden(self, layer: int, h: torch.Tensor) -> None:
        """Receive h^{l-1}, the input of block `layer` (called only when `needs_hidden`).

        Shapes:
            h: [T, D] the block's input hidden states.
        """
        ...


class AttentionSink(Protocol):
    """What the attention function reports to (implemented by `capture.engine.Recorder` and
    `capture.kv_policies.KVSink`). `kv_policy`: the eviction the function applies, None for none."""

    kv_policy: EvictionPolicy | None

    def layer_of(self, module: torch.nn.Module) -> int | None:
        """The block index l of an attention module, or None for a module the sink does not record."""
        ...

    def key_valid(self, device: torch.device) -> torch.Tensor | None:
        """The keys that are real tokens (not padding), on `device`; None when every key is real.

        Shapes:
            returns: [B, T] bool, True for a real key.
        """
        ...

    def query_valid(self, device: torch.device) -> torch.Tensor | None:
        """The queries that are real tokens, as weights for the column sums; None when all are real.

        Shapes:
            returns: [B, T] float32, 1 for a real query and 0 for padding.
        """
        ...

    def query_block(self, batch: int, heads: int, n_keys: int) -> int:
        """The number of query rows per block for a call with this batch, H and number of keys."""
        ...

    def record_attention(
        self,
        layer: int,
        colsum: torch.Tensor,
        n_visible: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        sliding_window: int | None,
        is_causal: bool,
        sink_mass: torch.Tensor | None = None,
    ) -> None:
        """Receive one attention layer's per-key sums for docs/method.md §1 (and §13's sink mass).

        colsum_j = sum_{i real} A_ij per query head, n_j the number of real queries whose softmax
        row sees key j (counted from the mask the softmax applied); s_j = colsum_j / n_j.

        Args:
            layer: the block index l.
            sliding_window: the layer's window, None for full attention.
            is_causal: whether the layer's mask was causal.

        Shapes:
            colsum: [B, H, T] float32 attention received per key, summed over real queries.
            n_visible: [B, T] int32 real queries that see each key.
            key, value: [B, KV, T, d] the layer's post-RoPE keys and values, d = head dim.
            sink_mass: [B, H, T] float32 1 - sum_j A_ij per query (learned sink logits only), or None.
        """
        ...


# The recorder of the capture running in the current context (thread / task). A ContextVar, not a
# module global: two captures in two threads never see each other's recorder, and a nested capture
# sees its own and gives the outer one back when it ends (token reset).
_ACTIVE: ContextVar[AttentionSink | None] = ContextVar("sinkscope_attention_sink", default=None)


@contextmanager
def recording(sink: AttentionSink) -> Iterator[AttentionSink]:
    """Make `sink` the recorder the attention function reports to, for the duration of the block."""
    token = _ACTIVE.set(sink)
    try:
        yield sink
    finally:
        _ACTIVE.reset(token)


def active_sink() -> AttentionSink | None:
    """The recorder active in this context, or None outside a capture."""
    return _ACTIVE.get()


def _expand_mask(mask: torch.Tensor, bsz: int, n_q: int, n_k: int) -> torch.Tensor:
    """A mask HF passes, as a [B|1, 1, n_q, n_k] view: any size-1 axis (e.g. the query axis of a
    [B, 1, 1, T] padding mask) is broadcast BEFORE query blocks are sliced from it; keys beyond
    n_k are dropped like HF's eager code does (`mask[:, :, :, : key.shape[-2]]`). Bool: True =
    visible; float: additive (0 or a bias where visible, -inf or the dtype's minimum where hidden)."""
    if mask.dim() == 2:  # [B, T_k] key padding mask (1 / True = real key)
        mask = mask[:, None, None, :].bool() if mask.dtype != torch.bool else mask[:, None, None, :]
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-1] < n_k or mask.shape[-2] not in (1, n_q):
        raise ValueError(
            f"attention mask of shape {tuple(mask.shape)} for {n_q} queries and {n_k} keys: sinkscope "
            "honours [B, 1, 1|T_q, T_k] masks (bool or additive float)."
        )
    mask = mask[..., :n_k]
    return mask.expand(mask.shape[0], 1, n_q, n_k)


def _key_range(
    s: int, e: int, q_offset: int, n_k: int, is_causal: bool, window: int | None, chunk: int | None = None, chunk_phase: int = 0
) -> tuple[int, int]:
    """Keys [lo, hi) any query of the block [s, e) can see: causal stops at the last query, a
    window (|i - j| < window, one-sided when causal) starts after the first query's window, a
    chunk (floor(i / C) == floor(j / C), positions shifted by `chunk_phase`) starts at the first
    query's chunk and, when not causal, ends with the last query's chunk."""
    lo, hi = 0, n_k
    if is_causal:
        hi = min(n_k, e + q_offset)
    elif window is not None:
        hi = min(n_k, e - 1 + q_offset + window)
    if window is not None:
        lo = max(0, s + q_offset - window + 1)
    if chunk is not None:
        lo = max(lo, _chunk_start(s + q_offset, chunk, chunk_phase))
        if not is_causal:
            hi = min(hi, _chunk_start(e - 1 + q_offset, chunk, chunk_phase) + chunk)
    return lo, hi


def _chunk_start(pos: int, chunk: int, phase: int) -> int:
    """Key index where the chunk of key index `pos` starts (chunks of `chunk` keys, shifted by `phase`)."""
    return (pos + phase) // chunk * chunk - phase


def _always_visible(
    s: int, e: int, lo: int, hi: int, q_offset: int, is_causal: bool, window: int | None,
    chunk: int | None = None, chunk_phase: int = 0,
) -> tuple[int, int]:
    """Columns [f0, f1) of the block that every query of [s, e) sees (for causal/window/chunk
    structure; empty, f0 >= f1, when there are none, e.g. a block spanning two chunks)."""
    f0 = max(lo, e - 1 + q_offset - window + 1) if window is not None else lo
    if is_causal:
        f1 = min(hi, s + q_offset + 1)
    else:
        f1 = min(hi, s + q_offset + window) if window is not None else hi
    if chunk is not None:
        f0 = max(f0, _chunk_start(e - 1 + q_offset, chunk, chunk_phase))  # the last query's chunk
        f1 = min(f1, _chunk_start(s + q_offset, chunk, chunk_phase) + chunk)  # ends with the first query's
    return f0, f1


def block_visibility(
    s: int,
    e: int,
    lo: int,
    hi: int,
    q_offset: int,
    is_causal: bool,
    window: int | None,
    key_valid: torch.Tensor | None,
    hf_mask: torch.Tensor | None,
    device: torch.device,
    chunk: int | None = None,
    chunk_phase: int = 0,
) -> torch.Tensor | None:
    """The softmax mask of one query block [s, e) over keys [lo, hi); None when every entry is visible.

    True where query i (absolute position i + q_offset) may see key j. It is the AND of
    causality (j <= i), the window (|i - j| < window; with causality i - j < window), the chunk
    (Llama 4 chunked attention: floor((i + phase) / chunk) == floor((j + phase) / chunk), `chunk_phase` the
    absolute position of key 0 when a cache dropped older keys), key padding and a mask HF passed
    (bool, or additive float where > dtype minimum) (docs/method.md "Capture").

    Shapes:
        key_valid: [B, T] bool real keys, or None.
        hf_mask: [B|1, 1, b, t] bool or additive float (the block's slice of HF's mask), or None,
            b = e - s, t = hi - lo.
        returns: [B|1, b, t] bool, or None.
    """
    vis: torch.Tensor | None = None
    if is_causal or window is not None or chunk is not None:
        q_pos = torch.arange(s, e, device=device)[:, None] + q_offset
        k_pos = torch.arange(lo, hi, device=device)[None, :]
        if is_causal:
            vis = k_pos <= q_pos
        if window is not None:
            near = (q_pos - k_pos < window) & (k_pos - q_pos < window)
            vis = near if vis is None else vis & near
        if chunk is not None:
            same = (q_pos + chunk_phase) // chunk == (k_pos + chunk_phase) // chunk
            vis = same if vis is None else vis & same
        vis = vis[None]
    if key_valid is not None:
        kv = key_valid[:, None, lo:hi]
        vis = kv if vis is None else vis & kv
    if hf_mask is not None:
        hm = hf_mask[:, 0]
        hm = hm if hm.dtype == torch.bool else hm > torch.finfo(hm.dtype).min
        vis = hm if vis is None else vis & hm
    return vis


def layer_chunk(module: torch.nn.Module, kwargs: dict[str, Any]) -> int | None:
    """The attention chunk size C of this layer, or None. HF (5.24) passes no chunk to the attention
    function: a Llama 4 layer is chunked when its config marks it, `config.layer_types[layer_idx] ==
    "chunked_attention"` with `config.attention_chunk_size` set (without `layer_types`, every layer is
    chunked when `attention_chunk_size` is set and `sliding_window` is not: HF's own rule in
    `masking_utils`). An `attention_chunk_size` kwarg, if a caller passes one, wins."""
    size = kwargs.get("attention_chunk_size")
    if size is not None:
        return int(size)
    cfg = getattr(module, "config", None)
    size = getattr(cfg, "attention_chunk_size", None)
    if not size:
        return None
    types, idx = getattr(cfg, "layer_types", None), getattr(module, "layer_idx", None)
    if types is None:
        return int(size) if getattr(cfg, "sliding_window", None) is None else None
    if idx is None or not 0 <= idx < len(types):
        raise ValueError(
            f"{type(module).__name__}: config has attention_chunk_size={size} and layer_types, but the module's "
            f"layer_idx ({idx}) does not say which type it is: sinkscope cannot tell whether it is chunked."
        )
    return int(size) if types[idx] == "chunked_attention" else None


def _chunk_phase(kwargs: dict[str, Any], q_offset: int, chunk: int) -> int:
    """Absolute position of key 0 (chunks are aligned to absolute positions): `position_ids[0, 0] -
    q_offset` when the caller passes position_ids; else 0, which is only known to be right when no
    cache can have dropped keys: without a cache (q_offset = 0) or with fewer than C - 1 cached keys
    (HF's chunked layers keep a sliding cache of the last C - 1). Otherwise refused: Llama 4 passes
    no positions to the attention function, and the chunk edges cannot be placed."""
    pos = kwargs.get("position_ids")
    if isinstance(pos, torch.Tensor) and pos.numel():
        return int(pos.reshape(-1)[0]) - q_offset
    if q_offset >= chunk - 1:
        raise ValueError(
            f"chunked attention (chunk {chunk}) with {q_offset} cached keys and no position_ids: the cache may "
            "have dropped older keys, so sinkscope cannot tell where the chunks start. Capture without a cache "
            "(prefill), or decode with the model's own attention."
        )
    return 0


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

    P = softmax(cap(q k^T * scaling) + mask), out = P v, colsum_j += sum_{i real} P_ij
    (module docstring; docs/method.md §1), reported to the active `AttentionSink`.

    Shapes:
        query: [B, H, Q, d] post-RoPE queries, Q = query positions (T in a capture), d = head dim.
        key, value: [B, KV, T, d] post-RoPE keys and values.
        attention_mask: [B|1, 1, 1|Q, T] bool or additive float, or None.
        returns: (out [B, Q, H, d] in the query's dtype, None), like HF's sdpa function.

    Raises:
        RuntimeError: the module is in training mode with dropout.
    """
    if module.training and dropout > 0:
        raise RuntimeError("sinkscope attention is for analysis: put the model in eval mode (model.eval()).")
    sink = _ACTIVE.get()
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
    chunk = layer_chunk(module, kwargs)  # Llama 4 chunked layers: floor(i / C) == floor(j / C)
    phase = _chunk_phase(kwargs, q_offset, chunk) if chunk is not None else 0

    # Scale folded into q once (softcap, if any, applies to the scaled scores as in HF's eager code).
    # Matmuls in `twopass.compute_dtype` (the model's dtype unless float32 is asked); softmax and sums in float32.
    cdt = twopass.compute_dtype(query)
    q = (query.to(cdt) * scale).reshape(bsz, n_kv, groups, n_q, head_dim)
    k = key.to(cdt)
    v = value.to(cdt)
    k_t = k.transpose(-1, -2)  # [B, KV, d, T_k]
    out = torch.empty(bsz, n_q, n_heads, v.shape[-1], dtype=query.dtype, device=query.device)

    device = query.device
    key_valid = sink.key_valid(device) if sink is not None else None
    query_valid = sink.query_valid(device) if sink is not None else None
    colsum = torch.zeros(bsz, n_kv, groups, n_k, dtype=torch.float32, device=device) if sink else None
    aux = None
    sink_mass = None  # [B, KV, G, T_q]: 1 - sum_j P[i, j], the mass the learned sink logit takes (§13)
    if s_aux is not None:
        aux = s_aux.float().reshape(1, n_kv, groups, 1, 1)
        sink_mass = torch.zeros(bsz, n_kv, groups, n_q, dtype=torch.float32, device=device) if sink else None
    hf_mask = _expand_mask(attention_mask, bsz, n_q, n_k) if attention_mask is not None else None
    may_empty_rows = key_valid is not None or hf_mask is not None
    # n_visible[b, j]: real queries whose softmax row sees key j, counted from the very mask the
    # softmax applies (docs/method.md §1 n_j), never from a separate formula.
    n_visible = torch.zeros(bsz, n_k, dtype=torch.int32, device=device) if sink else None
    q_real = query_valid > 0 if query_valid is not None else None
    policy = sink.kv_policy if sink is not None else None  # simulated KV-cache eviction (capture.kv_policies)

    block = sink.query_block(bsz, n_heads, n_k) if sink is not None else choose_query_block(bsz, n_heads, n_k, device=query.device)
    if chunk is None and policy is None and twopass.applies(
        query, key, value, is_causal=is_causal, window=window, softcap=softcap, s_aux=s_aux, attention_mask=attention_mask
    ) and twopass.choose(device, n_k) == "twopass":  # fused output + column pass (capture.twopass)
        out2, cs2, nv2 = twopass.twopass_attention(query, key, value, scale, query_valid, block, sink is not None)
        if sink is not None and layer is not None:
            sink.record_attention(layer, cs2, nv2, key, value, window, is_causal)
        return out2.contiguous(), None
    for s in range(0, n_q, block):
        e = min(s + block, n_q)
        lo, hi = _key_range(s, e, q_offset, n_k, is_causal, window, chunk, phase)
        b = e - s
        # The G query heads sharing a KV head are stacked as rows: one plain batched matmul per KV
        # head, no broadcast copies of K.
        qb = q[:, :, :, s:e].reshape(bsz, n_kv, groups * b, head_dim)
        scores = torch.matmul(qb, k_t[..., lo:hi]).float().view(bsz, n_kv, groups, b, hi - lo)  # [B, KV, G, b, t]
        if softcap is not None:
            scores = torch.tanh(scores.div_(softcap)).mul_(softcap)
        hm = hf_mask[:, :, s:e, lo:hi] if hf_mask is not None else None  # [B|1, 1, b, t]
        if key_valid is None and hm is None:
            # Only causal / window structure: every query of the block sees the columns [f0, f1);
            # the mask is built (and applied, and counted) on the edge strips around them only.
            f0, f1 = _always_visible(s, e, lo, hi, q_offset, is_causal, window, chunk, phase)
            if f0 >= f1:
                f0 = f1 = hi  # no column is seen by all: the whole block is one strip
            for c0, c1 in ((lo, f0), (f1, hi)):
                vis = block_visibility(s, e, c0, c1, q_offset, is_causal, window, None, None, device, chunk, phase) if c1 > c0 else None
                if vis is not None:
                    scores[..., c0 - lo : c1 - lo].masked_fill_(~vis[:, None, None], float("-inf"))
                    if n_visible is not None:
                        n_visible[:, c0:c1] += vis.sum(dim=1, dtype=torch.int32)
                elif n_visible is not None and c1 > c0:
                    n_visible[:, c0:c1] += b
            if n_visible is not None and f1 > f0:
                n_visible[:, f0:f1] += b
        else:
            vis = block_visibility(s, e, lo, hi, q_offset, is_causal, window, key_valid, hm, device, chunk, phase)
            assert vis is not None
            scores.masked_fill_(~vis[:, None, None], float("-inf"))
            if hm is not None and hm.dtype != torch.bool:
                scores.add_(hm[:, :, None].float())  # additive bias on the visible entries (hidden: -inf already)
            if n_visible is not None:
                seen = vis & q_real[:, s:e, None] if q_real is not None else vis
                n_visible[:, lo:hi] += seen.sum(dim=1, dtype=torch.int32)
        if policy is not None:  # hides the keys the policy evicted (-inf), records the mass they had
            policy.restrict(layer, s + q_offset, e + q_offset, lo, hi, scores, aux)
        if aux is None:
            probs = torch.softmax(scores, dim=-1)
        else:
            top = torch.maximum(scores.amax(dim=-1, keepdim=True), aux)
            probs = torch.exp(scores.sub_(top))
            denom = probs.sum(dim=-1, keepdim=True).add_(torch.exp(aux - top))
            probs.div_(denom)
        del scores
        if may_empty_rows:
            probs = torch.nan_to_num_(probs, nan=0.0)  # rows with no visible key (padding queries)
        if policy is not None:
            policy.observe(layer, s + q_offset, e + q_offset, lo, hi, probs)
        if sink_mass is not None:
            sink_mass[..., s:e] = 1.0 - probs.sum(dim=-1)
        blk = torch.matmul(probs.view(bsz, n_kv, groups * b, hi - lo).to(cdt), v[:, :, lo:hi])  # [B, KV, G*b, d_v]
        out[:, s:e] = blk.view(bsz, n_heads, b, -1).transpose(1, 2).to(out.dtype)
        if colsum is not None:
            if query_valid is not None:
                probs.mul_(query_valid[:, None, None, s:e, None])
            colsum[..., lo:hi] += probs.sum(dim=-2)
    if sink is not None and layer is not None:
        extra = {"sink_mass": sink_mass.reshape(bsz, n_heads, n_q)} if sink_mass is not None else {}
        sink.record_attention(layer, colsum.reshape(bsz, n_heads, n_k), n_visible, k, v, window, is_causal, **extra)
    return out, None


def register() -> None:
    """Register the function under `NAME` (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, sinkscope_attention)
