"""An independent implementation of the published secondary-sink detector, written from its
description (issue 25, docs/method.md §3 paper mode), for the paper-mode parity tests. It uses
nothing of sinkscope: it runs the Hugging Face model itself with `output_hidden_states=True` and
reads `hidden_states[1:]`, whose last entry is the final norm's output.

    states     S^l = hidden_states[1 + l], l = 0..L-1 (L = number of blocks), one prompt
    BOS        among positions [0, 1, 2] with a chat template, [0, 1] without: the one with the
               largest mean over l of ||S^l_t||
    window     n_l = ||S^l_bos||, d_l = n_{l+1} - n_l; start = argmax d + 1,
               end = start + argmin d[start:] + 1 (end = L when the largest jump is into layer L-1)
    scan       t != bos is sink-like at l in [start, end) when |cos(S^l_t, S^l_bos)| > tau (strict)
    records    birth / death = first / last such layer, lifetime = their number;
               lifetime >= L - 15 -> primary-like, > 4 -> secondary, else noise
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Published:
    bos: int
    window: tuple[int, int]
    records: set[tuple[int, str, int, int, int]]  # (position, kind, birth, death, lifetime)
    norms: torch.Tensor  # [L, T], ||S^l_t||
    cos: torch.Tensor  # [L, T], cos(S^l_t, S^l_bos)


@torch.no_grad()
def hidden_states(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    """hidden_states[1:] of one prompt, float32 [L, T, D]."""
    out = model(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    return torch.stack([h[0] for h in out.hidden_states[1:]]).float()


def published_detector(states: torch.Tensor, chat: bool, tau: float = 0.9, margin: int = 15,
                       noise_max: int = 4) -> Published:
    """The published rule on states [L, T, D] (`hidden_states`)."""
    n_layers, n_tokens = states.shape[:2]
    norms = states.norm(dim=-1)
    candidates = [c for c in ([0, 1, 2] if chat else [0, 1]) if c < n_tokens]
    means = [float(norms[:, c].mean()) for c in candidates]
    bos = candidates[means.index(max(means))]
    n = norms[:, bos]
    d = n[1:] - n[:-1]
    start = int(torch.argmax(d)) + 1
    end = n_layers if start == n_layers - 1 else start + int(torch.argmin(d[start:])) + 1
    cos = torch.nn.functional.cosine_similarity(states, states[:, bos : bos + 1, :], dim=-1)
    records = set()
    for t in range(n_tokens):
        if t == bos:
            continue
        layers = [layer for layer in range(start, end) if abs(float(cos[layer, t])) > tau]
        if layers:
            life = len(layers)
            kind = "primary" if life >= n_layers - margin else "secondary" if life > noise_max else "noise"
            records.add((t, kind, layers[0], layers[-1], life))
    return Published(bos, (start, end), records, norms, cos)


def closest_to(cos: torch.Tensor, window: tuple[int, int], tau: float) -> float:
    """min over the window's layers and all tokens of ||cos| - tau|: how far the scan is from a tie
    (float rounding between two implementations can only flip a test closer than that)."""
    return float((cos[window[0] : window[1]].abs() - tau).abs().min())
