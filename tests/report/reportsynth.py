"""Synthetic `ScanResult`s for the report tests: any length T (up to 8192 and beyond) in well under
a second, with planted primary and secondary sinks so every section of the report has content.

The structure mimics a real small model (SmolLM2-135M-like: 30 layers, 9 heads, 3 KV heads):
- the primary p = 0 carries a massive norm in layers [10, 27) (so that is its window) and a
  score of ~0.5 there, with a dip in the middle layers;
- background keys get the attention of a causal LM without sinks: score ~ 1 / (T - j) with
  log-normal noise, per head;
- each planted secondary sink is sink-like (cos 0.95 with the primary) on `lifetime` layers from
  `birth`, scores `score` there, and its MLP output at birth has norm 1000 x score (a norm law);
- one short-lived "noise" token per 1000 positions.
"""

from __future__ import annotations

import numpy as np

from sinkscope.analysis import DetectConfig, analyze
from sinkscope.capture.trace import CaptureSettings, PromptTrace, Trace
from sinkscope.workflows.scan import ScanResult

WORDS = (
    "The", " school", " is", " planning", " a", " museum", " trip", " for", " ", "1", "5", "2",
    " students", " and", " the", " teachers", ".", "\n", " Each", " bus", " holds", " 4", "5",
    " people", ",", " costs", " 3", "2", "0", " dollars", " to", " rent", " for", " the", " day",
    ".", "\n\n",
)


def plants_for(t: int, seed: int = 0) -> list[tuple[int, int, int, float]]:
    """(position, birth, lifetime, score) of the secondary sinks planted in a prompt of T tokens:
    three levels of (birth, lifetime) like a mid-size model, about one sink per 200 tokens."""
    rng = np.random.default_rng(seed + 17)
    n = max(3, min(60, t // 200))
    positions = np.unique(np.linspace(8, max(9, t - 200), n).astype(int))
    out = []
    levels = ((2, 7), (5, 12), (14, 8))
    for i, pos in enumerate(positions):
        birth, life = levels[i % len(levels)]
        life = int(life + rng.integers(-1, 2))
        score = float(np.exp(rng.uniform(np.log(0.02), np.log(0.3))))
        out.append((int(pos), birth, life, score))
    return out


def synthetic_trace(t: int = 400, *, n_layers: int = 30, n_heads: int = 9, n_kv: int = 3, seed: int = 0,
                    tokens: list[str] | None = None) -> PromptTrace:
    rng = np.random.default_rng(seed)
    L, T, H, C = n_layers, t, n_heads, 3
    toks = list(tokens) if tokens is not None else [WORDS[j % len(WORDS)] for j in range(T)]
    toks[0] = "<|im_start|>"
    win = (10, 27)
    j = np.arange(T)
    # background: causal, roughly uniform attention over the visible keys
    base = 1.0 / (T - j + 4.0)
    ls = base[None, :] * rng.lognormal(0.0, 0.5, size=(L, T))
    prim = np.full(L, 0.02)
    prim[win[0] : win[1]] = 0.5
    mid = (win[0] + win[1]) // 2
    prim[mid - 1 : mid + 2] = (0.3, 0.18, 0.3)
    ls[:, 0] = prim
    resid_cos = rng.uniform(-0.5, 0.5, size=(L, C, T))
    for c in range(C):
        resid_cos[:, c, c] = 1.0
    resid_norm = rng.uniform(40.0, 60.0, size=(L, T))
    resid_norm[: win[0], 0] = 60.0
    resid_norm[win[0] : win[1], 0] = 2000.0
    resid_norm[win[1] :, 0] = 400.0
    mlp_norm = rng.uniform(0.5, 1.5, size=(L, T))
    attn_norm = np.full((L, T), 2.0)
    mlp_cos_resid = rng.uniform(-0.3, 0.3, size=(L, C, T))
    mlp_cos_mlp = rng.uniform(-0.3, 0.3, size=(L, C, T))
    attn_cos_resid = rng.uniform(-0.3, 0.3, size=(L, C, T))

    def plant(pos: int, birth: int, life: int, score: float) -> None:
        layers = np.arange(birth, min(L, birth + life))
        ls[layers, pos] = score
        resid_cos[layers, 0, pos] = 0.95
        resid_norm[birth:, pos] = 50.0 + 1000.0 * score
        mlp_norm[birth, pos] = 1000.0 * score
        attn_norm[birth, pos] = 60.0
        mlp_cos_resid[birth, 0, pos] = 0.98
        mlp_cos_mlp[birth, 0, pos] = 0.95
        attn_cos_resid[birth, 0, pos] = 0.1

    for pos, birth, life, score in plants_for(T, seed):
        plant(pos, birth, life, score)
    for pos in range(500, T - 100, 1000):  # short-lived: noise
        plant(pos + 3, 20, 2, 0.05)
    heads = rng.lognormal(0.0, 0.6, size=(L, H, 1))
    heads /= heads.mean(axis=1, keepdims=True)
    scores = np.clip(ls[:, None, :] * heads, 0.0, 1.0)
    f32 = np.float32
    return PromptTrace(
        text="".join(toks),
        tokens=toks,
        token_ids=(np.arange(T, dtype=np.int64) % 1000) + 100,
        scores=scores.astype(f32),
        n_queries=np.tile((T - j).astype(np.int32), (L, 1)),
        key_norm=np.ones((L, n_kv, T), f32),
        value_norm=np.ones((L, n_kv, T), f32),
        resid_norm=resid_norm.astype(f32),
        embed_norm=np.full(T, 1.0, f32),
        resid_cos=resid_cos.astype(f32),
        resid_cos_centred=resid_cos.astype(f32),
        mlp_norm=mlp_norm.astype(f32),
        attn_norm=attn_norm.astype(f32),
        mlp_cos_resid=mlp_cos_resid.astype(f32),
        mlp_cos_mlp=mlp_cos_mlp.astype(f32),
        attn_cos_resid=attn_cos_resid.astype(f32),
        act_max=np.full((L, T), 3.0, f32),
        act_argmax=np.zeros((L, T), np.int32),
        act_median=np.ones(L, f32),
    )


def synthetic_result(lengths: tuple[int, ...] = (400,), *, n_layers: int = 30, n_heads: int = 9,
                     tokens: list[list[str]] | None = None) -> ScanResult:
    prompts = [
        synthetic_trace(t, n_layers=n_layers, n_heads=n_heads, seed=i,
                        tokens=tokens[i] if tokens is not None else None)
        for i, t in enumerate(lengths)
    ]
    cfg = DetectConfig()
    settings = CaptureSettings()
    manifest = {
        "format_version": 1,
        "sinkscope_version": "test",
        "created": "2026-01-01T00:00:00+00:00",
        "model": {"ref": "synthetic-30l", "architecture": "SyntheticForCausalLM", "n_layers": n_layers,
                  "n_heads": n_heads, "n_kv_heads": 3, "hidden_size": 576},
        "dtype": "float32",
        "mode": cfg.mode,
        "thresholds": cfg.to_dict(),
        "capture": settings.to_dict(),
        "prompts": [{"source": f"synthetic {i}", "n_tokens": t, "n_prompt_tokens": t} for i, t in enumerate(lengths)],
        "timings": {},
    }
    trace = Trace(prompts=prompts, settings=settings)
    return ScanResult(trace, analyze(prompts, cfg, n_boot=200), manifest)
