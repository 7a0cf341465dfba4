"""Regions of a prompt (docs/method.md §3, "Regions"): where in a prompt a sink record sits.

A prompt of T tokens whose first n_prompt tokens were given as the prompt (the rest being a
response: generated with --generate, or given with the prompt) and whose first n_template tokens
were put there by the tokenizer / chat template (BOS, system prompt, user header) splits into

    template   t < n_template                  (what the template put before the prompt's text)
    prompt     n_template <= t < n_prompt      (the prompt's own text)
    generated  t >= n_prompt                   (the response: the model's continuation)

A prompt without a response has n_prompt = T (no generated region); an unknown template length is 0.
This is the one definition: the scan's `region` column and the long protocol's split
(`workflows.reproduce.long_stats`, where n_template is the token prefix every trace shares) use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

Region = Literal["template", "prompt", "generated"]
REGIONS: tuple[str, ...] = get_args(Region)


def region_of(position: Sequence[int] | np.ndarray, n_prompt: Sequence[int] | np.ndarray | int,
              n_template: Sequence[int] | np.ndarray | int = 0) -> np.ndarray:
    """The region of each position: template, prompt or generated (docs/method.md §3 "Regions").

    template t < n_template, prompt n_template <= t < n_prompt, generated t >= n_prompt.

    Shapes:
        position: [N] token positions, with N = number of positions.
        n_prompt, n_template: [N] (each position's prompt's value) or a scalar.
        returns: [N] object, the region names.
    """
    pos = np.asarray(position, dtype=int)
    npt = np.broadcast_to(np.asarray(n_prompt, dtype=int), pos.shape)
    ntp = np.broadcast_to(np.asarray(n_template, dtype=int), pos.shape)
    return np.where(pos < ntp, "template", np.where(pos < npt, "prompt", "generated")).astype(object)


def region_counts(regions: Sequence[str] | np.ndarray) -> dict[str, int]:
    """How many of `regions` fall in each region, every region listed (0 when absent; docs/method.md §3).

    Shapes:
        regions: [N] region names, with N = number of records.

    Returns:
        {region: count} over `REGIONS`.
    """
    r = np.asarray(regions, dtype=object)
    return {name: int((r == name).sum()) for name in REGIONS}
