"""Simulated KV eviction (capture.kv_policies, docs/method.md §10) against independent eager implementations.

- budget >= T: every policy gives the full-cache NLL, bit for bit;
- streaming at budget 4 + w equals eager attention with an explicitly built T x T mask;
- every policy keeps exactly `budget` keys per query where more are visible (counted from the masks);
- heavy-hitter's selection equals a brute-force H2O recomputed from eager attention probabilities at
  the same update granularity (one selection per query block).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkscope.analysis.config import DetectConfig
from sinkscope.capture.kv_policies import BLOCK, N_SINK, POLICIES, make_policy, run_policy
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build, random_ids

T = 150  # > 4 query blocks of 32: several heavy-hitter updates
K = 40


@pytest.fixture(scope="module")
def toy():
    return LoadedModel.from_pair(build("llama"), ToyTokenizer())


# ---- an eager reference with a mask the test builds ------------------------------------------------
def _eager_nll(lm: LoadedModel, ids: list[int], mask_of) -> np.ndarray:
    """NLL from HF's own eager attention where layer l's softmax uses mask_of(layer, q, k, v) ->
    bool [H|1, T, T] (True = visible), passed as an additive mask."""
    from transformers import AttentionInterface
    from transformers.models.llama.modeling_llama import eager_attention_forward

    index = {id(b.self_attn): i for i, b in enumerate(lm.model.model.layers)}

    def attn(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kw):
        vis = mask_of(index[id(module)], query, key, value)
        add = torch.zeros(vis.shape, dtype=query.dtype).masked_fill(~vis, torch.finfo(query.dtype).min)[None]
        return eager_attention_forward(module, query, key, value, add, scaling=scaling, dropout=0.0)

    AttentionInterface.register("kvtest_eager", attn)
    before = lm.model.config._attn_implementation
    lm.model.set_attn_implementation("kvtest_eager")
    try:
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([ids])).logits[0].float()
    finally:
        lm.model.set_attn_implementation(before)
    logp = torch.log_softmax(logits[:-1], dim=-1)
    return (-logp.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]).numpy()


def _causal(n: int) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool).tril()


def streaming_mask(n: int, budget: int) -> torch.Tensor:
    """StreamingLLM, written out: query i sees j <= i with j < 4 or i - j < budget - 4."""
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    return (j <= i) & ((j < 4) | (i - j < budget - 4))


# ---- budget >= T ------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["llama", "gemma3_text", "gpt_oss"])
def test_budget_at_least_T_is_exactly_full(arch):
    lm = LoadedModel.from_pair(build(arch), ToyTokenizer())
    ids = random_ids(T, 1)
    full = run_policy(lm, ids, None)
    for name in POLICIES[1:]:
        for budget in (T, T + 7):
            run = run_policy(lm, ids, make_policy(name, budget, prompt_len=64, tau=DetectConfig.tau))
            assert np.array_equal(run.nll, full.nll), (name, budget)
            assert not run.dropped.any()


def test_window_at_most_budget_is_untouched():
    """Mistral with window 8 on every layer: no query sees more than 8 keys, so K = 8 changes nothing."""
    lm = LoadedModel.from_pair(build("mistral"), ToyTokenizer())
    ids = random_ids(80, 6)
    full = run_policy(lm, ids, None)
    for name in POLICIES[1:]:
        assert np.array_equal(run_policy(lm, ids, make_policy(name, 8, prompt_len=32, tau=DetectConfig.tau)).nll, full.nll), name
    assert not np.array_equal(run_policy(lm, ids, make_policy("recent", 7)).nll, full.nll)


def test_head_count_comes_from_the_tensors_not_the_config():
    """A config head count the modules ignore (the attention reshapes with -1 heads) neither crashes
    nor changes a KV run: the stateful policies size their per-head state from the query tensor."""
    ids = random_ids(T, 3)
    runs = {}
    for lie in (False, True):
        model = build("llama")
        true_heads = model.config.num_attention_heads
        if lie:
            model.config.num_attention_heads = true_heads // 2  # read by ModelInfo, not by the modules
        lm = LoadedModel.from_pair(model, ToyTokenizer())
        assert (lm.info.n_heads == true_heads // 2) is lie
        runs[lie] = {name: run_policy(lm, ids, make_policy(name, K, prompt_len=64)) for name in ("heavy-hitter", "snap")}
    for name in ("heavy-hitter", "snap"):
        assert np.array_equal(runs[True][name].nll, runs[False][name].nll), name
        assert runs[False][name].dropped.any(), name  # the budget bites: the per-head state was used


# ---- streaming == eager with an explicit mask ---------------------------------------------------
def _check_streaming(lm, ids, budget, tol):
    ref = _eager_nll(lm, ids, lambda layer, q, k, v: streaming_mask(len(ids), budget))
    run = run_policy(lm, ids, make_policy("streaming", budget))
    full = _eager_nll(lm, ids, lambda layer, q, k, v: _causal(len(ids)))
    assert np.abs(run.nll - ref).max() < tol
    assert np.abs(full - ref).max() > 100 * tol  # the eviction matters: the check can fail


def test_streaming_equals_eager_mask_random_llama(toy):
    _check_streaming(toy, random_ids(T, 2), N_SINK + 20, 1e-4)


@pytest.mark.realmodel
def test_streaming_equals_eager_mask_smollm2(smollm2, long_text):
    ids = list(smollm2.tokenizer(long_text)["input_ids"])[:300]
    _check_streaming(smollm2, ids, N_SINK + 60, 2e-3)


# ---- exactly `budget` keys per query ---------------------------------------------------------------
def _kept_counts(policy, n_layers: int, n: int) -> dict[int, np.ndarray]:
    """kept[layer][h, i]: keys query i sees (policy mask AND causality), from the recorded masks."""
    out = {}
    for layer in range(n_layers):
        kept = np.tile(np.arange(1, n + 1), (policy.n_heads, 1))  # blocks without a mask: all visible
        for (lay, s), m in policy.masks.items():
            if lay != layer:
                continue
            b, t = m.shape[1], m.shape[2]
            causal = np.arange(t)[None, :] <= np.arange(s, s + b)[:, None]
            kept[:, s : s + b] = np.broadcast_to((m & causal[None]).sum(-1), (policy.n_heads, b))
        out[layer] = kept
    return out


@pytest.mark.parametrize("name", POLICIES[1:])
def test_every_policy_keeps_exactly_budget(toy, name):
    ids = random_ids(T, 3)
    # a low tau makes random-init residuals "sink-like" so streaming+secondary really swaps keys
    pol = make_policy(name, K, prompt_len=64, keep_masks=True, tau=0.2, max_secondary=6)
    run_policy(toy, ids, pol)
    i = np.arange(T)
    for layer, kept in _kept_counts(pol, toy.info.n_layers, T).items():
        want = np.where(pol.exempt(i), i + 1, np.minimum(i + 1, K))
        assert (kept == want[None]).all(), (name, layer, np.argwhere(kept != want[None])[:5])
    if name == "streaming+secondary":
        swapped = any(m[0, r, N_SINK : max(N_SINK, s + r - (K - N_SINK) + 1)].any()
                      for (_, s), m in pol.masks.items() for r in range(m.shape[1]))
        assert swapped, "no secondary sink was kept: the test does not exercise the swap"


def test_heavy_hitter_keeps_budget_inside_a_sliding_window():
    """Window W = 100 >= K + BLOCK - 1: heavy hitters are chosen inside the window, so every query
    still sees exactly min(i + 1, K) keys (mask AND causality AND the window)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from tests.capture.archs import GQA, SMALL

    torch.manual_seed(0)
    cfg = AutoConfig.for_model("mistral", **SMALL, **GQA, intermediate_size=128, sliding_window=100)
    lm = LoadedModel.from_pair(AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval(), ToyTokenizer())
    n = 260
    pol = make_policy("heavy-hitter", K, keep_masks=True)
    run_policy(lm, random_ids(n, 5), pol)
    evicted_outside = 0
    for (layer, s), m in pol.masks.items():
        b, t = m.shape[1], m.shape[2]
        i = np.arange(s, s + b)[:, None]
        lo = max(0, s - 100 + 1)
        j = np.arange(lo, lo + t)[None, :]
        seen = (m & ((j <= i) & (i - j < 100))[None]).sum(-1)
        assert (seen == np.minimum(i[:, 0] + 1, K)[None]).all(), (layer, s)
        evicted_outside += int((~pol.alive[layer][:, :lo]).sum())
    assert evicted_outside > 0


def test_fraction_and_bad_budgets():
    with pytest.raises(InputError, match="budget"):
        make_policy("recent", 0)
    with pytest.raises(InputError, match="streaming"):
        make_policy("streaming", N_SINK)
    with pytest.raises(InputError, match="unknown KV policy"):
        make_policy("lru", 8)
    assert make_policy("full", 8) is None


# ---- heavy-hitter == brute force from eager attention ------------------------------------------------
def brute_h2o_masks(probs_of, n_layers: int, n_heads: int, n: int, budget: int, recent_frac: float = 0.5,
                    block: int = BLOCK):
    """H2O re-done from scratch on eager attention: per layer, per head, blocks of `block` queries;
    at a block start s the alive keys j <= s - r are candidates, the hh with the most attention
    accumulated over the queries < s (ties: earlier key) stay, the rest are evicted for good; query
    i sees (i - r, i], the heavy set, and while the heavy set is short, the earliest keys that left
    the window since the block start. probs_of(layer, mask [H, n, n]) -> the layer's eager
    probabilities [H, n, n] (float64) with `mask` at that layer and the final masks below it."""
    r = max(1, min(budget, int(round(budget * recent_frac))))
    hh = budget - r
    masks = {}
    for layer in range(n_layers):
        alive = np.ones((n_heads, n), dtype=bool)
        mask = np.tile(np.tril(np.ones((n, n), dtype=bool)), (n_heads, 1, 1))
        for s in range(0, n, block):
            e = min(s + block, n)
            if budget >= e:
                continue
            acc = probs_of(layer, mask)[:, :s].sum(axis=1)  # rows < s are final: recomputed from scratch
            c = s - r
            for h in range(n_heads):
                cand = [j for j in range(0, c + 1) if alive[h, j]]
                heavy = sorted(cand, key=lambda j: (-acc[h, j], j))[:hh]
                alive[h, [j for j in cand if j not in heavy]] = False
                room = hh - len(heavy)
                for i in range(s, e):
                    row = np.zeros(n, dtype=bool)
                    row[max(0, i - r + 1) : i + 1] = True
                    row[heavy] = True
                    row[c + 1 : min(i - r, c + room) + 1] = True
                    mask[h, i] = row
            masks[(layer, s)] = mask[:, s:e].copy()
    return masks


class _Stop(Exception):
    pass


def _eager_probs_fn(lm, ids):
    """probs_of(layer, mask) for `brute_h2o_masks`: HF eager attention with the masks decided for
    the layers below (final once their layer is done) and `mask` at `layer`; the forward stops
    after that layer."""
    decided: dict[int, np.ndarray] = {}
    n = len(ids)

    def probs_of(layer, mask):
        decided[layer] = mask
        got = {}

        def mask_of(lay, q, k, v):
            vis = torch.from_numpy(decided[lay]) if lay in decided else _causal(n)[None]
            if lay == layer:
                kr = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
                sc = (q.double() @ kr.double().transpose(-1, -2))[0] * lm.model.model.layers[lay].self_attn.scaling
                got["p"] = torch.softmax(sc.masked_fill(~vis, float("-inf")), dim=-1).numpy()
                raise _Stop
            return vis
        try:
            _eager_nll(lm, ids, mask_of)
        except _Stop:
            pass
        return got["p"]

    return probs_of


def _check_heavy_hitter(lm, ids, budget, tol):
    pol = make_policy("heavy-hitter", budget, keep_masks=True)
    run = run_policy(lm, ids, pol)
    brute = brute_h2o_masks(_eager_probs_fn(lm, ids), lm.info.n_layers, lm.info.n_heads, len(ids), budget)
    assert set(brute) == set(pol.masks)
    for key, m in brute.items():
        s = key[1]
        b = m.shape[1]
        causal = np.arange(pol.masks[key].shape[2])[None, :] <= np.arange(s, s + b)[:, None]
        got = pol.masks[key] & causal[None]
        assert np.array_equal(got, m[:, :, : got.shape[2]]), key
    final = {lay: torch.from_numpy(np.concatenate([brute[(lay, s)] for s in range(0, len(ids), BLOCK)
                                                   if (lay, s) in brute], axis=1)) for lay in range(lm.info.n_layers)}

    def mask_of(lay, q, k, v):
        n = len(ids)
        first = min(s for (la, s) in brute if la == lay)
        full = _causal(n)[None].repeat(final[lay].shape[0], 1, 1)
        full[:, first:] = final[lay]
        return full
    ref = _eager_nll(lm, ids, mask_of)
    assert np.abs(run.nll - ref).max() < tol


def test_heavy_hitter_equals_brute_force_random_llama(toy):
    _check_heavy_hitter(toy, random_ids(T, 4), K, 1e-4)


@pytest.mark.slow  # ~35 s: one eager forward per layer and update
@pytest.mark.realmodel
def test_heavy_hitter_equals_brute_force_smollm2(smollm2, long_text):
    ids = list(smollm2.tokenizer(long_text)["input_ids"])[:128]
    _check_heavy_hitter(smollm2, ids, 48, 2e-3)


def test_a_layer_that_bypasses_the_attention_function_is_refused():
    """The policy lives in the attention function: a layer whose attention does not go through it
    would run unevicted, so the run is refused by name instead of returning a wrong NLL."""
    import copy

    from sinkscope.core.errors import UnsupportedArchitectureError

    lm = LoadedModel.from_pair(build("llama"), ToyTokenizer())
    attn = lm.model.model.layers[1].self_attn
    attn.config = copy.copy(attn.config)  # its own config: switching the model's implementation misses it
    attn.config._attn_implementation = "eager"
    with pytest.raises(UnsupportedArchitectureError, match=r"block 1: `LlamaAttention` \(at `self_attn`\) did not call"):
        run_policy(lm, random_ids(40, seed=0), make_policy("streaming", 16))
