"""Where a capture's layers run: free memory per device, and moving statistics to the host.

`free_memory` reads the free bytes of the device a layer lives on (an accelerator's own
`mem_get_info`, host RAM for cpu), `choose_query_block` sizes the attention's query blocks from it,
and `to_host` moves per-layer statistics (possibly on several devices, with `device_map` splits)
to numpy once per batch (`capture.engine.Recorder.finish`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psutil
import torch


def free_memory(device: torch.device | None) -> int:
    """Bytes free on `device`: `torch.<type>.mem_get_info` for an accelerator (cuda, xpu, ...),
    the host's available RAM for cpu (or None, or a backend that cannot say)."""
    if device is not None and device.type != "cpu":
        get = getattr(getattr(torch, device.type, None), "mem_get_info", None)
        if get is not None:
            return int(get(device)[0])
    return int(psutil.virtual_memory().available)


CPU_ROWS = 32  # query rows per CPU block (measured: docs/BENCHMARKS.md "Two-pass attention")


def choose_query_block(
    batch: int, heads: int, n_keys: int, override: int | None = None, device: torch.device | None = None
) -> int:
    """Rows of queries per block, sized for the device the layer runs on.

    CPU: `CPU_ROWS` = 32 rows, fewer (at least 16) only when one float32 score slice
    [B, H, block, T] would exceed 1/256 of the available RAM (never below 1 MB). Measured on one
    thread, SmolLM2 and Qwen-1.5B layer shapes at 0.5k-16k keys (docs/BENCHMARKS.md "Two-pass
    attention"): 32 rows was the fastest or within noise of it at every length (SmolLM2 1.30x /
    1.49x / 1.52x / 1.59x sdpa at 2k / 4k / 8k / 16k); 16 rows lose matmul efficiency, and larger
    blocks (the earlier cache-sized ~4 MB rule: 227 rows at 512 keys) lose the cache (1.76x vs
    0.84x at 512 keys).
    Accelerator (`free_memory` of that device): 1/32 of its free memory (the slice, its softmax and
    the float32 probabilities of a bf16 model live at once), so few large blocks amortise the
    kernel launches; at least 16 rows, at most 8192.
    """
    if override:
        return int(override)
    free = free_memory(device)
    per_row = max(1, 4 * batch * heads * n_keys)
    if device is not None and device.type != "cpu":
        return int(min(8192, max(16, (free // 32) // per_row)))
    fits = max(1 << 20, free // 256) // per_row
    return int(max(16, min(CPU_ROWS, fits)))


def to_host(parts: Sequence[torch.Tensor]) -> np.ndarray:
    """Stack per-layer tensors on the host, one transfer per device they live on.

    The tensors may sit on several devices (`device_map` splits); same-device tensors are stacked
    where they live, then copied.

    Shapes:
        parts: N tensors of one shape [...], N = number of tensors (usually L).
        returns: [N, ...] the stacked array, in the tensors' dtype.
    """
    groups: dict[torch.device, list[int]] = {}
    for i, t in enumerate(parts):
        groups.setdefault(t.device, []).append(i)
    out: list[np.ndarray | None] = [None] * len(parts)
    for idx in groups.values():
        host = torch.stack([parts[i] for i in idx]).cpu().numpy()
        for k, i in enumerate(idx):
            out[i] = host[k]
    return np.stack(out)  # type: ignore[arg-type]


__all__ = ["choose_query_block", "free_memory", "to_host"]
