"""Simulated KV-cache eviction inside the blockwise attention function (docs/method.md §10).

A policy decides, for each query i and layer l, which keys are still "in the cache". It is applied
as a visibility rule inside `capture.attention.sinkscope_attention`: for every query block [s, e)
and key range [lo, hi) the function calls `policy.restrict(...)`, which ANDs a kept-key mask
[1, H|1, b, t] with the normal visibility (causal, window) by writing -inf into the block's scores,
and `policy.observe(...)` with the block's probabilities (the attention the kept keys received).
No T x T mask exists; memory stays O(H T block). Positions keep their original RoPE indices: the
simulation hides keys, it does not re-index a rolling cache (see §10 for what that changes).

With K = budget keys per query (int, fixed per text) and r the recent window, a query that sees
at most K keys under the normal visibility keeps them all; one that sees more keeps:

    full                 every visible key (the reference; no restriction)
    recent               j in (i - K, i]
    streaming            j < n_sink  or  j in (i - (K - n_sink), i]                 (StreamingLLM)
    streaming+secondary  j < n_sink, up to m secondary sinks detected so far (older than the
                         window), and the window (i - (K - n_sink - n_i), i] where n_i is the
                         number of sinks kept: they replace the window's oldest keys
    heavy-hitter         recent r = K - hh plus hh heavy hitters: the alive old keys with the most
                         attention received so far under the policy's own evictions (H2O); the
                         heavy set is re-selected at each query block start, losers are evicted
                         for good
    snap                 queries of the prompt (i < P) see everything (SnapKV prefills in full);
                         after it, the recent r keys plus the hh old keys ranked first by the
                         prompt's observation window (SnapKV: attention of queries [P - w, P)
                         summed per head, average-pooled along keys with kernel 5), generated
                         old keys ranked after all prompt keys, most recent first

The dropped mass of a query is the probability that the full-cache softmax (same scores, normal
visibility, learned sink logits in the denominator) puts on keys the policy hides:
dropped_i = exp(LSE_{j hidden} z_ij - LSE_{j visible} z_ij), averaged over heads (`dropped`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch

from sinkscope.capture.adapters import adapter_for, attention_layers, check_attention_calls
from sinkscope.capture.engine import (
    base_model_of,
    block_layer_map,
    chunked_nll,
    find_blocks,
    sinkscope_attention,
)
from sinkscope.capture.hooks import Hook, installed
from sinkscope.capture.trace import N_CANDIDATES
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel

PolicyName = Literal["full", "recent", "streaming", "streaming+secondary", "heavy-hitter", "snap"]
POLICIES: tuple[str, ...] = get_args(PolicyName)
BLOCK = 32  # query rows per block: the update granularity of heavy-hitter (fixed, never memory-chosen)
N_SINK = 4  # StreamingLLM's attention sinks: the first 4 tokens
SNAP_KERNEL = 5  # SnapKV's average-pooling kernel along keys


@dataclass
class KVPolicy:
    """The base policy (`full`): keeps every visible key. Subclasses define `keep`.

    budget      K, kept keys per query (>= 1)
    keep_masks  store every block's kept-key mask (tests): masks[(layer, s)] = bool [H|1, b, t]
    dropped     [L, T] float64 after a forward: dropped full-cache mass per query (mean over heads)
    """

    budget: int
    keep_masks: bool = False
    name: str = "full"
    masks: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)
    dropped: np.ndarray | None = field(default=None, repr=False)
    needs_visible: bool = field(default=False, repr=False)
    needs_hidden: bool = field(default=False, repr=False)
    block_visible: torch.Tensor | None = field(default=None, repr=False)

    def begin(self, n_layers: int, n_tokens: int, device: torch.device) -> None:
        """Reset the per-layer state for a forward over one text of `n_tokens` tokens. The number of
        query heads `n_heads` is not taken from the config: `KVSink.query_block` sets it from the
        query tensor of each attention call, before any per-layer state is made."""
        self.n_layers, self.n_tokens, self.device = n_layers, n_tokens, device
        self.n_heads = 0
        self.dropped = np.zeros((n_layers, n_tokens), dtype=np.float64)
        self.masks = {}

    def keep(self, layer: int, s: int, e: int, lo: int, hi: int) -> torch.Tensor | None:
        """Kept keys of queries [s, e) among keys [lo, hi), or None (all kept; the base policy).

        Shapes:
            returns: [H|1, b, t] bool, True for a kept key (1 when head-independent), b = e - s,
                t = hi - lo.
        """
        return None

    def observe(self, layer: int, s: int, e: int, lo: int, hi: int, probs: torch.Tensor) -> None:
        """See the block's probabilities under the policy's visibility (state updates; none here).

        Shapes:
            probs: [1, KV, G, b, t] float32, G = H / KV, b = e - s, t = hi - lo.
        """

    def restrict(self, layer: int, s: int, e: int, lo: int, hi: int, scores: torch.Tensor,
                 aux: torch.Tensor | None) -> None:
        """Hide the evicted keys in `scores` (in place) and record the dropped mass (docs/method.md §10).

        Only queries that see more than K keys under the normal visibility are restricted. The
        dropped mass of a query is sum_{j evicted} P_ij under the full-cache softmax (learned sink
        logits in the denominator), averaged over heads into `dropped[layer, s:e]`.

        Shapes:
            scores: [1, KV, G, b, t] float32 scaled scores, G = H / KV, b = e - s, t = hi - lo.
            aux: [1, KV, G, 1, 1] learned sink logits, or None.
        """
        if self.budget >= e:  # no query of the block sees more than K keys
            return
        visible = torch.isfinite(scores[0, 0, 0])  # [b, t]: the normal visibility (head-independent)
        few = visible.sum(dim=-1) <= self.budget  # queries that see <= K keys keep them all
        if bool(few.all()):
            return
        if self.needs_visible:  # keys every query of the block may see (sliding windows hide old keys)
            self.block_visible = visible.all(dim=0)
        keep = self.keep(layer, s, e, lo, hi)
        if keep is None:
            return
        keep = keep | few[:, None]
        if self.keep_masks:
            self.masks[(layer, s)] = keep.cpu().numpy()
        _, kv, g, b, t = scores.shape
        k5 = keep.view(1, kv, g, b, t) if keep.shape[0] > 1 else keep.view(1, 1, 1, b, t)
        full = torch.logsumexp(scores, dim=-1)
        if aux is not None:
            full = torch.logaddexp(full, aux[..., 0].expand_as(full))
        hidden = torch.logsumexp(scores.masked_fill(k5, float("-inf")), dim=-1)
        drop = torch.exp(hidden - full).nan_to_num_(nan=0.0)  # [1, KV, G, b]
        self.dropped[layer, s:e] = drop.mean(dim=(1, 2))[0].double().cpu().numpy()
        scores.masked_fill_(~k5, float("-inf"))

    def set_hidden(self, layer: int, h: torch.Tensor) -> None:
        """Receive h^{l-1}, the input of block l, before its attention runs (base policy: nothing).

        Called only when `needs_hidden`.

        Shapes:
            h: [T, D] the block's input hidden states.
        """

    def exempt(self, i: np.ndarray) -> np.ndarray:
        """Queries the budget does not apply to (snap: the prompt; the base policy: none).

        Shapes:
            i: [N] int query positions, N = number of queries.
            returns: [N] bool, True for an exempt query.
        """
        return np.zeros(len(i), dtype=bool)

    # ---- helpers ----------------------------------------------------------------------------------
    def _pos(self, s: int, e: int, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        q = torch.arange(s, e, device=self.device)[:, None]
        k = torch.arange(lo, hi, device=self.device)[None, :]
        return q, k


class Recent(KVPolicy):
    """j in (i - K, i]."""

    def keep(self, layer, s, e, lo, hi):
        q, k = self._pos(s, e, lo, hi)
        return (k > q - self.budget)[None]


@dataclass
class Streaming(KVPolicy):
    """StreamingLLM: the first `n_sink` keys and the window (i - (K - n_sink), i]."""

    n_sink: int = N_SINK

    def keep(self, layer, s, e, lo, hi):
        q, k = self._pos(s, e, lo, hi)
        return ((k < self.n_sink) | (k > q - (self.budget - self.n_sink)))[None]


@dataclass
class StreamingSecondary(Streaming):
    """Streaming with up to `max_secondary` secondary sinks detected so far kept instead of the
    window's oldest keys (docs/method.md §10). Key j >= n_sink is a secondary sink at layer l when
    |cos(h_j^{l-1}, h_p^{l-1})| >= tau at the input of block l (the §2 sink-likeness criterion on the
    vector the key k_j^l is made from, which depends on tokens <= j only), with p the position of
    largest ||h^{l-1}|| among the first `n_candidates`. For query i, n_i is the largest n <= m
    such that at least n detected sinks lie before the window of K - n_sink - n keys; the n_i
    strongest of them (largest |cos|, then earlier) are kept."""

    max_secondary: int = 8
    tau: float | None = None  # the §2 cosine threshold: given by the caller (`DetectConfig.tau` by default)
    n_candidates: int = N_CANDIDATES
    needs_hidden: bool = True
    detected: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.tau is None or not 0 < self.tau <= 1:
            raise InputError(f"streaming+secondary: the cosine threshold tau={self.tau!r} must be a number in (0, 1].")

    def begin(self, n_layers, n_tokens, device):
        super().begin(n_layers, n_tokens, device)
        self.detected = {}

    def set_hidden(self, layer: int, h: torch.Tensor) -> None:
        """Detect the secondary sinks of layer l from h^{l-1}, the input of block l.

        Positions j >= n_sink, j != p, with |cos(h_j, h_p)| >= tau, where p is the largest-norm
        position among the first `n_candidates` (docs/method.md §10).

        Shapes:
            h: [T, D] the block's input hidden states.
        """
        hf = h.float()
        norm = hf.norm(dim=-1)
        c = min(self.n_candidates, hf.shape[0])
        p = int(torch.argmax(norm[:c]))
        cos = (hf @ hf[p]).abs() / (norm * norm[p]).clamp_min(1e-12)
        cos = cos.cpu().numpy()
        pos = np.flatnonzero(cos >= self.tau)
        pos = pos[(pos >= self.n_sink) & (pos != p)]
        self.detected[layer] = (pos, cos[pos])

    def keep(self, layer, s, e, lo, hi):
        w0 = self.budget - self.n_sink
        m = min(self.max_secondary, w0 - 1)
        pos, strength = self.detected.get(layer, (np.zeros(0, dtype=np.int64), np.zeros(0)))
        i = np.arange(s, e)
        n_i = np.zeros(len(i), dtype=np.int64)
        if m > 0 and len(pos):
            # f(n) = number of detected sinks before the window of w0 - n keys
            f = np.searchsorted(pos, i[:, None] - w0 + np.arange(m + 1)[None, :], side="right")
            ok = f >= np.arange(m + 1)[None, :]
            n_i = (m - np.argmax(ok[:, ::-1], axis=1)).astype(np.int64)  # the largest n with f(n) >= n
        keep = np.zeros((len(i), hi - lo), dtype=bool)
        k = np.arange(lo, hi)[None, :]
        keep |= (k < self.n_sink) | (k > (i - (w0 - n_i))[:, None])
        for r in np.flatnonzero(n_i):
            avail = pos[: int(np.searchsorted(pos, i[r] - w0 + n_i[r], side="right"))]
            if len(avail) > n_i[r]:
                order = np.lexsort((avail, -strength[: len(avail)]))  # strongest first, then earlier
                avail = avail[order[: n_i[r]]]
            keep[r, avail[(avail >= lo) & (avail < hi)] - lo] = True
        return torch.from_numpy(keep).to(self.device)[None]


def _split(budget: int, recent_frac: float) -> tuple[int, int]:
    """(r, hh): recent window and selected keys, r = max(1, round(K * recent_frac)), hh = K - r."""
    r = max(1, min(budget, int(round(budget * recent_frac))))
    return r, budget - r


@dataclass
class HeavyHitter(KVPolicy):
    """H2O: recent r = round(K * recent_frac) keys plus hh = K - r heavy hitters, per query head.

    State per layer and head: acc[j] = sum of A_ij over the queries processed so far (under this
    policy's own visibility) and alive[j] (not evicted). At the start of each query block [s, e)
    (BLOCK rows), the candidates are the alive keys j <= s - r (older than the first query's window);
    when more than hh, the hh with the largest acc are kept (ties to the earlier key) and the rest
    evicted for good. Query i then sees its window (i - r, i], the heavy set, and, while the heavy
    set has fewer than hh keys (before the first eviction), the earliest keys that left the window
    since the block start. So every query sees min(i + 1, K) keys. On a sliding-window layer (window
    W) only keys every query of the block can see are candidates (older ones are evicted), so the
    count holds there too when W >= K + BLOCK - 1."""

    recent_frac: float = 0.5
    acc: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)
    alive: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)
    needs_visible: bool = True

    def begin(self, n_layers, n_tokens, device):
        super().begin(n_layers, n_tokens, device)
        self.acc = {}
        self.alive = {}

    def _state(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        if layer not in self.acc:
            self.acc[layer] = torch.zeros(self.n_heads, self.n_tokens, dtype=torch.float64, device=self.device)
            self.alive[layer] = torch.ones(self.n_heads, self.n_tokens, dtype=torch.bool, device=self.device)
        return self.acc[layer], self.alive[layer]

    def keep(self, layer, s, e, lo, hi):
        r, hh = _split(self.budget, self.recent_frac)
        acc, alive = self._state(layer)
        c = s - r  # the candidates are keys j <= c
        q, k = self._pos(s, e, lo, hi)
        heavy = torch.zeros(self.n_heads, hi - lo, dtype=torch.bool, device=self.device)
        room = torch.full((self.n_heads, 1), hh, dtype=torch.long, device=self.device)
        if c >= lo:
            # a key outside a sliding window now stays outside: evicted (no effect on causal layers)
            alive[:, lo : c + 1] &= self.block_visible[None, : c + 1 - lo]
            cand = alive[:, lo : c + 1].clone()
            n_cand = cand.sum(dim=-1)
            if bool((n_cand > hh).any()):
                val = acc[:, lo : c + 1].masked_fill(~cand, float("-inf"))
                order = torch.sort(val, dim=-1, descending=True, stable=True).indices[:, :hh]
                kept = torch.zeros_like(cand).scatter_(1, order, True) & cand
                alive[:, lo : c + 1] &= kept
                cand = kept
            heavy[:, : c + 1 - lo] = cand
            room = (hh - cand.sum(dim=-1, keepdim=True)).clamp_min(0)
        pending = (k > c) & (k <= q - r)  # left the window since the block start: [b, t]
        fill = pending[None] & (k[None] <= c + room[:, :, None])  # [H, b, t]
        return (k > q - r)[None] | heavy[:, None, :] | fill

    def observe(self, layer, s, e, lo, hi, probs):
        if self.budget >= self.n_tokens:
            return
        acc, _ = self._state(layer)
        acc[:, lo:hi] += probs.sum(dim=-2).reshape(self.n_heads, hi - lo).double()


@dataclass
class Snap(KVPolicy):
    """SnapKV at a fixed budget (see the module docstring); `prompt_len` P must be a multiple of
    BLOCK (the workflow rounds it down) so the observation window is complete before any query
    after the prompt is processed."""

    prompt_len: int = 0
    obs_window: int = 32
    kernel: int = SNAP_KERNEL
    recent_frac: float = 0.5
    acc: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)
    rank: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    def begin(self, n_layers, n_tokens, device):
        super().begin(n_layers, n_tokens, device)
        self.acc, self.rank = {}, {}

    def exempt(self, i):
        return i < self.prompt_len

    def observe(self, layer, s, e, lo, hi, probs):
        w0 = max(0, self.prompt_len - self.obs_window)
        if e <= w0 or s >= self.prompt_len:
            return
        a, b = max(s, w0) - s, min(e, self.prompt_len) - s
        part = probs[..., a:b, :].sum(dim=-2).reshape(self.n_heads, hi - lo).double()
        acc = self.acc.setdefault(layer, torch.zeros(self.n_heads, self.n_tokens, dtype=torch.float64,
                                                     device=self.device))
        acc[:, lo:hi] += part

    def _ranks(self, layer: int) -> torch.Tensor:
        """rank[h, j]: 0 = kept first. Prompt keys by pooled window attention (desc, ties to the
        earlier key), then generated keys by position (latest first)."""
        if layer not in self.rank:
            P, T = self.prompt_len, self.n_tokens
            acc = self.acc.get(layer, torch.zeros(self.n_heads, T, dtype=torch.float64, device=self.device))
            pooled = torch.nn.functional.avg_pool1d(acc[None, :, :P], self.kernel, stride=1,
                                                    padding=self.kernel // 2)[0] if P else acc[:, :0]
            order = torch.sort(pooled, dim=-1, descending=True, stable=True).indices
            gen = torch.arange(T - 1, P - 1, -1, device=self.device).expand(self.n_heads, T - P)
            order = torch.cat([order, gen], dim=-1)
            rank = torch.empty_like(order)
            rank.scatter_(1, order, torch.arange(T, device=self.device).expand(self.n_heads, T).contiguous())
            self.rank[layer] = rank
        return self.rank[layer]

    def keep(self, layer, s, e, lo, hi):
        if e <= self.prompt_len:
            return None
        r, hh = _split(self.budget, self.recent_frac)
        q, k = self._pos(s, e, lo, hi)
        rank = self._ranks(layer)[:, lo:hi]  # [H, t]
        old = (k <= q - r)[None].expand(self.n_heads, -1, -1)  # [H, b, t]
        order = torch.argsort(rank, dim=-1)  # key columns in rank order
        old_sorted = torch.gather(old, 2, order[:, None, :].expand_as(old))
        sel_sorted = old_sorted & (old_sorted.cumsum(dim=-1) <= hh)
        sel = torch.zeros_like(old).scatter_(2, order[:, None, :].expand_as(old), sel_sorted)
        keep = (k > q - r)[None] | sel
        prompt_rows = (q < self.prompt_len)[None]  # [1, b, 1]: the prompt sees everything
        return keep | prompt_rows


def make_policy(name: str, budget: int, *, prompt_len: int = 0, keep_masks: bool = False,
                max_secondary: int = 8, tau: float | None = None, recent_frac: float = 0.5,
                obs_window: int = 32) -> KVPolicy | None:
    """The policy `name` at budget K (None for `full`). Raises InputError naming a bad value.
    `tau` (streaming+secondary only, required there): the §2 cosine threshold, which the analysis
    layer owns (`DetectConfig.tau`; `workflows.kv.evaluate` passes it)."""
    if name not in POLICIES:
        raise InputError(f"unknown KV policy '{name}': choose from {', '.join(POLICIES)}.")
    if budget < 1:
        raise InputError(f"KV budget must be >= 1 key (got {budget}).")
    if name in ("streaming", "streaming+secondary") and budget <= N_SINK:
        raise InputError(f"policy '{name}' needs a budget > {N_SINK} (the first {N_SINK} tokens are kept), got {budget}.")
    common = dict(budget=budget, keep_masks=keep_masks, name=name)
    if name == "full":
        return None
    if name == "recent":
        return Recent(**common)
    if name == "streaming":
        return Streaming(**common)
    if name == "streaming+secondary":
        return StreamingSecondary(**common, max_secondary=max_secondary, tau=tau)
    if name == "heavy-hitter":
        return HeavyHitter(**common, recent_frac=recent_frac)
    return Snap(**common, prompt_len=prompt_len, obs_window=obs_window, recent_frac=recent_frac)


class KVSink:
    """The `AttentionSink` of a KV-eviction run: batch 1, fixed BLOCK rows per query block, the
    policy as `kv_policy`; block pre-hooks hand h^{l-1} to policies that need it."""

    def __init__(self, lm: LoadedModel, policy: KVPolicy | None, block: int = BLOCK) -> None:
        self.kv_policy = policy
        self.block = block
        self.blocks = find_blocks(lm)
        self.layer_map = block_layer_map(self.blocks)
        self.adapter = adapter_for(lm.info.model_type)
        self.attention_layers = attention_layers(self.blocks, self.adapter)
        self.calls = [0] * lm.info.n_layers
        self.callers: list[list[torch.nn.Module]] = [[] for _ in range(lm.info.n_layers)]

    def layer_of(self, module: torch.nn.Module) -> int | None:
        """The block of `module`, recorded as a caller of the attention function (docs/method.md §11)."""
        layer = self.layer_map.get(id(module))
        if layer is not None and not any(m is module for m in self.callers[layer]):
            self.callers[layer].append(module)
        return layer

    def key_valid(self, device: torch.device) -> None:
        return None

    def query_valid(self, device: torch.device) -> None:
        return None

    def query_block(self, batch: int, heads: int, n_keys: int) -> int:
        if self.kv_policy is not None:  # heads from the query tensor, never from a config field
            self.kv_policy.n_heads = heads
        return self.block

    def record_attention(self, layer, colsum, n_visible, key, value, sliding_window, is_causal, sink_mass=None) -> None:
        self.calls[layer] += 1

    def hooks(self) -> list[Hook]:
        """Block pre-hooks handing h^{l-1} to a policy that `needs_hidden` (none otherwise)."""
        policy = self.kv_policy
        if policy is None or not policy.needs_hidden:
            return []

        def pre(layer: int) -> Callable[[torch.nn.Module, tuple, dict], None]:
            def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
                h = args[0] if args else kwargs.get("hidden_states")
                policy.set_hidden(layer, h[0])

            return hook

        return [Hook(blk, pre(layer), "pre", with_kwargs=True) for layer, blk in enumerate(self.blocks)]

    @contextmanager
    def hooked(self) -> Iterator[KVSink]:
        with installed(self.hooks(), self):
            yield self


@dataclass
class KVRun:
    """One text under one policy: nll[t] = -log P(x_{t+1} | x_{<=t}) [T-1], dropped [L, T] (zeros for full)."""

    nll: np.ndarray
    dropped: np.ndarray


@torch.no_grad()
def run_policy(lm: LoadedModel, token_ids: list[int] | np.ndarray, policy: KVPolicy | None,
               block: int = BLOCK) -> KVRun:
    """Next-token NLL of one text with `policy` simulated in every attention layer (docs/method.md §10).

    NLL from the model's logits with its logit scale / soft-cap (`capture.engine.chunked_nll`).

    Shapes:
        token_ids: [T] int token ids of the text.

    Returns:
        A `KVRun`: nll [T - 1] and dropped [L, T] (zeros without a policy).

    Raises:
        UnsupportedArchitectureError: an attention layer bypassed the attention function, or the
            model has no LM head.
    """
    model = lm.model
    base = base_model_of(model)
    device = model.get_input_embeddings().weight.device
    ids = torch.as_tensor(np.asarray(token_ids, dtype=np.int64))[None].to(device)
    n = ids.shape[1]
    if policy is not None:
        policy.begin(lm.info.n_layers, n, device)
    sink = KVSink(lm, policy, block)
    with sinkscope_attention(model), sink.hooked():
        out = base(input_ids=ids, use_cache=False)
    # an attention layer that bypassed the attention function would run unevicted: refused, like a capture
    check_attention_calls(f"{lm.info.architecture} (model_type {lm.info.model_type!r})", sink.blocks, sink.adapter, sink.callers,
                          bool(getattr(model, "_supports_attention_backend", False)))
    nll = chunked_nll(lm, out.last_hidden_state[0], ids[0], n)
    dropped = policy.dropped if policy is not None else np.zeros((lm.info.n_layers, n))
    return KVRun(nll=nll, dropped=dropped)


__all__ = ["KVPolicy", "POLICIES", "PolicyName", "BLOCK", "N_SINK", "make_policy", "run_policy", "KVRun", "KVSink"]
