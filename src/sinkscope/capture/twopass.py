"""The two-pass attention path: a fused kernel for the output, then a column pass for the sums.

The single pass of `capture.attention` materialises each query block's probabilities to sum them
per key. The two-pass path never forms a softmax tensor (docs/method.md §1 numerator):

    pass 1  out_i, lse_i = fused_attention(q, k, v)        lse_i = log sum_{j <= i} exp(q_i . k_j * scale)
    pass 2  colsum_j = sum_{i >= j, i real} exp(q_i . k_j * scale - lse_i)

Pass 1 is PyTorch's fused kernel that also returns the log-sum-exp (CPU:
`aten._scaled_dot_product_flash_attention_for_cpu`; CUDA: the memory-efficient kernel with
`compute_log_sumexp=True`). Pass 2 is blockwise: per query block one matmul with -lse_i added per
row, an in-place exp and a sum over rows; the causal mask is applied on the block's diagonal strip
only (the columns before it are seen by every query of the block), and pad query rows get -lse = -inf so they add exactly 0.
n_j (the number of real queries that see key j) is counted from that same mask.

It applies exactly where the fused kernel computes what the single pass does: causal, no cache
offset (T_q = T_k), no sliding window, no soft-capping, no learned sink logits (`s_aux`), no mask
passed by HF, d_v = d_k, no dropout (`applies`). Pad keys are hidden from real queries by
causality alone (right padding); pad query rows of the output differ from the single pass (they
see pad keys) and are never read by a real position of a causal model.

Which path runs (`choose`): `attention_path("single" | "twopass" | "auto")` forces one for a
block of code (benchmarks, tests); "auto" uses the measured thresholds `TWOPASS_MIN_KEYS` per
device type (docs/BENCHMARKS.md "Two-pass attention"). On CPU with one thread the column pass
costs one more QK^T-sized product plus an exp per visible score on top of the fused kernel, about
0.9x that kernel's own time, so two-pass measured slower than the single pass at every length
(one layer, quiet machine: 1.81 / 2.14 / 2.12 / 2.17x sdpa at T = 2k / 4k / 8k / 16k against the
single pass's 1.21 / 1.36 / 1.44 / 1.60x with 32-row blocks): "auto" never takes it on CPU.
CUDA is unmeasured (no GPU was lent): single pass until `benchmarks/gpu.py` has numbers.

`matmul_dtype` (same context manager) is the dtype the single pass multiplies in; see
`compute_dtype`. A capture's `CaptureSettings.attention_path` / `matmul_dtype` set both for the capture
("auto": the value in force here, `in_force`), and the manifest records what ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

import torch

from sinkscope.capture.trace import AttentionPath as Path
from sinkscope.capture.trace import MatmulDtype

# Smallest number of keys from which "auto" takes the two-pass path, per device type; None = never.
# CPU, one thread, one SmolLM2-shaped layer on a quiet machine (docs/BENCHMARKS.md "Two-pass
# attention"): two-pass / sdpa 1.81, 2.14, 2.12, 2.17 vs single / sdpa 1.21, 1.36, 1.44, 1.60 at
# T = 2k, 4k, 8k, 16k, so never. CUDA: unmeasured (no GPU lent), single pass.
TWOPASS_MIN_KEYS: dict[str, int | None] = {"cpu": None, "cuda": None}

_PATH: ContextVar[Path] = ContextVar("sinkscope_attention_path", default="auto")
_MATMUL: ContextVar[MatmulDtype] = ContextVar("sinkscope_matmul_dtype", default="auto")


@contextmanager
def attention_path(path: Path = "auto", matmul_dtype: MatmulDtype = "auto") -> Iterator[None]:
    """Force the attention path and/or the single pass's matmul dtype in this context."""
    if path not in ("auto", "single", "twopass"):
        raise ValueError(f"attention path {path!r}: use 'auto', 'single' or 'twopass'")
    if matmul_dtype not in ("auto", "float32", "model"):
        raise ValueError(f"matmul dtype {matmul_dtype!r}: use 'auto', 'float32' or 'model'")
    t1, t2 = _PATH.set(path), _MATMUL.set(matmul_dtype)
    try:
        yield
    finally:
        _PATH.reset(t1)
        _MATMUL.reset(t2)


def in_force() -> tuple[Path, MatmulDtype]:
    """(path, matmul dtype) set for this context by `attention_path` ("auto" where none is)."""
    return _PATH.get(), _MATMUL.get()


def compute_dtype(query: torch.Tensor) -> torch.dtype:
    """The dtype the single pass's two matmuls (and the column pass's one) run in.

    The softmax, the probabilities and the column sums are float32 in every case (docs/method.md §1).

    "auto" and "model": the model's dtype (bfloat16 / float16 matmuls accumulate in float32 inside
    the kernel, read half the bytes, and the scores are upcast before the softmax). "float32":
    upcast q, k, v first (O(T d), exact products). Measured on SmolLM2 in bfloat16 (CPU,
    docs/BENCHMARKS.md "bfloat16"): the same distance to a float32 reference either way (the
    bfloat16 model's own rounding dominates), and bfloat16 matmuls ~1.2x faster per layer.

    Shapes:
        query: [B, H, T, d] the layer's queries (only the dtype is read), d = head dim.
    """
    mode = _MATMUL.get()
    if mode == "float32" or not query.dtype.is_floating_point:
        return torch.float32
    return query.dtype


def applies(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    *,
    is_causal: bool,
    window: int | None,
    softcap: float | None,
    s_aux: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
) -> bool:
    """True where the fused kernel computes exactly what the single pass does (module docstring).

    Shapes:
        query: [B, H, Q, d] queries, Q = query positions, d = head dim.
        key, value: [B, KV, T, d] keys and values (Q must equal T).
        s_aux: [H] learned sink logits, or None (must be None).
        attention_mask: the mask HF passed, or None (must be None).
    """
    return (
        is_causal
        and window is None
        and softcap is None
        and s_aux is None
        and attention_mask is None
        and query.shape[2] == key.shape[2]
        and key.shape[-1] == value.shape[-1] == query.shape[-1]
        and query.device.type in ("cpu", "cuda")
    )


def choose(device: torch.device, n_keys: int) -> Literal["single", "twopass"]:
    """The path for a layer whose two-pass conditions hold (`applies`): forced, or by threshold."""
    forced = _PATH.get()
    if forced != "auto":
        return forced
    least = TWOPASS_MIN_KEYS.get(device.type)
    return "twopass" if least is not None and n_keys >= least else "single"


def fused_with_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal fused attention with its log-sum-exp: lse_i = log sum_{j <= i} exp(q_i . k_j * scale).

    Shapes:
        q, k, v: [B, H, T, d] (keys and values already repeated to H heads), d = head dim.
        returns: (out [B, H, T, d] in q's dtype, lse [B, H, T] float32).
    """
    if q.device.type == "cuda":  # untested here (no GPU lent); the efficient kernel takes float32 too
        out, lse, *_ = torch.ops.aten._scaled_dot_product_efficient_attention(
            q, k, v, None, True, 0.0, True, scale=scale
        )
        return out, lse[..., : q.shape[2]].float()
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True, scale=scale)
    return out, lse.float()


def twopass_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    scale: float,
    query_valid: torch.Tensor | None,
    block: int,
    record: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Two-pass attention (module docstring): the fused output, then the column sums of docs/method.md §1.

    colsum_j = sum_{i >= j, i real} exp(q_i . k_j * scale - lse_i); n_j counted from the same
    causal mask.

    Args:
        block: query rows per block of the column pass.
        record: False skips the column pass (colsum and n_visible are None).

    Shapes:
        query: [B, H, T, d] post-RoPE queries, d = head dim.
        key, value: [B, KV, T, d] post-RoPE keys and values.
        query_valid: [B, T] float32 (1 = real query), or None (all real).
        returns: (out [B, T, H, d] in the query's dtype, colsum [B, H, T] float32 or None,
            n_visible [B, T] int32 or None).
    """
    bsz, n_heads, n, d = query.shape
    n_kv = key.shape[1]
    groups = n_heads // n_kv
    kk = key.repeat_interleave(groups, dim=1) if groups > 1 else key
    vv = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    out, lse = fused_with_lse(query, kk, vv, scale)
    del kk, vv
    out = out.transpose(1, 2)
    if not record:
        return out, None, None
    device = query.device
    neg_lse = lse.neg_()  # [B, H, T]
    q_real = None
    if query_valid is not None:
        q_real = query_valid > 0
        neg_lse.masked_fill_(~q_real[:, None, :], float("-inf"))  # pad query rows add exp(-inf) = 0
    cdt = compute_dtype(query)  # as the single pass
    q = (query.to(cdt) * scale).reshape(bsz, n_kv, groups, n, d)
    neg_lse = neg_lse.reshape(bsz, n_kv, groups, n)
    k_t = key.to(cdt).transpose(-1, -2)  # [B, KV, d, T]
    colsum = torch.zeros(bsz, n_kv, groups, n, dtype=torch.float32, device=device)
    n_visible = torch.zeros(bsz, n, dtype=torch.int32, device=device)
    for s in range(0, n, block):
        e = min(s + block, n)
        b = e - s
        qb = q[:, :, :, s:e].reshape(bsz, n_kv, groups * b, d)
        p = torch.matmul(qb, k_t[..., :e]).float().view(bsz, n_kv, groups, b, e)
        p.add_(neg_lse[:, :, :, s:e, None])
        # Keys [0, s) are seen by every query of the block; on the diagonal strip [s, e) the causal
        # mask the fused kernel applied (key j visible to query i iff j <= i) is applied and counted.
        pos = torch.arange(s, e, device=device)
        vis = (pos[None, :] <= pos[:, None])[None]  # [1, b, b]
        p[..., s:e].masked_fill_(~vis[:, None, None], float("-inf"))
        colsum[..., :e] += p.exp_().sum(dim=-2)
        if q_real is None:
            n_visible[:, :s] += b
            n_visible[:, s:e] += vis.sum(dim=1, dtype=torch.int32)
        else:
            rows = q_real[:, s:e]
            n_visible[:, :s] += rows.sum(dim=1, dtype=torch.int32)[:, None]
            n_visible[:, s:e] += (vis & rows[:, :, None]).sum(dim=1, dtype=torch.int32)
    return out, colsum.reshape(bsz, n_heads, n), n_visible


__all__ = [
    "TWOPASS_MIN_KEYS",
    "applies",
    "attention_path",
    "choose",
    "compute_dtype",
    "fused_with_lse",
    "twopass_attention",
]
