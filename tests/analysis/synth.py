"""Synthetic `PromptTrace`s with planted sink structure, for the analysis tests.

Every quantity the analysis reads is planted so that the expected result is known exactly:
- the primary p has a residual norm of 60 before its window, 2000 inside [start, end), 400 after,
  so `primary_window` must return exactly `window`;
- each `Plant` is sink-like (|cos| = 0.95, sign -1 if anti-aligned) on exactly its `layers`, has a
  layer-mean score `score` there (background elsewhere), and its MLP output at birth has norm
  1000 x score, cos 0.98 (x sign) with h_p, so the norm law is planted perfectly monotone;
- background tokens have |cos| <= 0.5 with the primary and a layer-mean score `background`
  (`late_score` from `late_start` on: the inflated late keys of docs/method.md pitfalls);
- per-head scores are the layer score times head factors (0.4, 0.8, 1.2, 1.6), mean exactly 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sinkscope.capture.trace import PromptTrace

HEAD_FACTORS = np.array([0.4, 0.8, 1.2, 1.6])
MLP_PER_SCORE = 1000.0  # ||m_t^b|| = MLP_PER_SCORE * planted score
ATTN_NORM_AT_BIRTH = 100.0
ATTN_COS_AT_BIRTH = 0.1
MLP_COS_AT_BIRTH = 0.98
BACKGROUND_NORM = 50.0


@dataclass
class Plant:
    """A token made sink-like on `layers` with layer-mean score `score` there."""

    position: int
    layers: tuple[int, ...]
    score: float
    anti: bool = False
    token: str | None = None
    centred_cos: float | None = None  # cos after centring on its layers (None: same as raw)
    expect: str = ""  # expected general-mode kind (for the tests' bookkeeping)

    @property
    def birth(self) -> int:
        return min(self.layers)


def run(position: int, birth: int, lifetime: int, score: float, gap: int | None = None, **kw) -> Plant:
    """Plant with S_t = birth .. birth + lifetime - 1 (or, with a gap, lifetime layers spread over
    lifetime + 1 consecutive layers, skipping layer `gap`)."""
    if gap is None:
        layers = tuple(range(birth, birth + lifetime))
    else:
        layers = tuple(l for l in range(birth, birth + lifetime + 1) if l != gap)
    return Plant(position, layers, score, **kw)


@dataclass
class Spec:
    n_layers: int = 24
    n_tokens: int = 128
    n_heads: int = 4
    n_kv: int = 2
    n_cand: int = 3
    p: int = 0
    window: tuple[int, int] = (3, 20)
    dip_layer: int | None = 11
    plateau: float = 0.6
    plants: list[Plant] = field(default_factory=list)
    background: float = 0.01
    late_start: int | None = None
    late_score: float = 0.06
    seed: int = 0


def primary_profile(spec: Spec) -> np.ndarray:
    """s_p^l: 0.05 before the window, `plateau` in it with a dip at `dip_layer`
    (0.15 there, 0.25 at +/-1, 0.4 at +/-2, relative to plateau 0.6), 0.35 after it."""
    L = spec.n_layers
    s = np.full(L, 0.35)
    a, b = spec.window
    s[:a] = 0.05
    s[a:b] = spec.plateau
    if spec.dip_layer is not None:
        for off, v in ((0, 0.15), (1, 0.25), (-1, 0.25), (2, 0.4), (-2, 0.4)):
            layer = spec.dip_layer + off
            if a <= layer < b:
                s[layer] = v
    return s


def make_trace(spec: Spec) -> PromptTrace:
    rng = np.random.default_rng(spec.seed)
    L, T, H, KV, C = spec.n_layers, spec.n_tokens, spec.n_heads, spec.n_kv, spec.n_cand
    assert H == len(HEAD_FACTORS)
    p = spec.p
    a, b = spec.window
    tokens = [f"tok{t}" for t in range(T)]
    for pl in spec.plants:
        if pl.token is not None:
            tokens[pl.position] = pl.token

    # attention scores
    ls = np.full((L, T), spec.background)
    if spec.late_start is not None:
        ls[:, spec.late_start :] = spec.late_score
    ls[:, p] = primary_profile(spec)
    for pl in spec.plants:
        ls[list(pl.layers), pl.position] = pl.score
    scores = (ls[:, None, :] * HEAD_FACTORS[None, :, None]).astype(np.float32)
    n_queries = np.tile((T - np.arange(T)).astype(np.int32), (L, 1))

    # residual norms
    resid_norm = np.full((L, T), BACKGROUND_NORM)
    resid_norm[:a, p] = 60.0
    resid_norm[a:b, p] = 2000.0
    resid_norm[b:, p] = 400.0
    embed_norm = np.full(T, BACKGROUND_NORM)
    for pl in spec.plants:
        resid_norm[pl.birth :, pl.position] = BACKGROUND_NORM + MLP_PER_SCORE * pl.score

    # cosines to each candidate
    resid_cos = rng.uniform(-0.5, 0.5, size=(L, C, T))
    for c in range(C):
        resid_cos[:, c, c] = 1.0
    resid_cos_centred = resid_cos.copy()
    for pl in spec.plants:
        sign = -1.0 if pl.anti else 1.0
        resid_cos[list(pl.layers), p, pl.position] = 0.95 * sign
        resid_cos_centred[list(pl.layers), p, pl.position] = (
            0.95 * sign if pl.centred_cos is None else pl.centred_cos
        )

    # block outputs
    mlp_norm = rng.uniform(0.5, 1.5, size=(L, T))
    attn_norm = np.full((L, T), 2.0)
    mlp_cos_resid = rng.uniform(-0.3, 0.3, size=(L, C, T))
    mlp_cos_mlp = rng.uniform(-0.3, 0.3, size=(L, C, T))
    attn_cos_resid = rng.uniform(-0.3, 0.3, size=(L, C, T))
    for pl in spec.plants:
        sign = -1.0 if pl.anti else 1.0
        bb, t = pl.birth, pl.position
        mlp_norm[bb, t] = MLP_PER_SCORE * pl.score
        attn_norm[bb, t] = ATTN_NORM_AT_BIRTH
        mlp_cos_resid[bb, p, t] = MLP_COS_AT_BIRTH * sign
        mlp_cos_mlp[bb, p, t] = 0.9 * sign
        attn_cos_resid[bb, p, t] = ATTN_COS_AT_BIRTH * sign

    # massive activations
    act_max = np.full((L, T), 3.0)
    act_argmax = np.zeros((L, T), dtype=np.int64)
    act_max[a:b, p] = 1500.0
    act_argmax[a:b, p] = 7
    for pl in spec.plants:
        act_max[list(pl.layers), pl.position] = 150.0
        act_argmax[list(pl.layers), pl.position] = 3
    act_median = np.ones(L)

    f32 = np.float32
    return PromptTrace(
        text=" ".join(tokens),
        tokens=tokens,
        token_ids=np.arange(T, dtype=np.int64) + 100,
        scores=scores,
        n_queries=n_queries,
        key_norm=np.ones((L, KV, T), f32),
        value_norm=np.ones((L, KV, T), f32),
        resid_norm=resid_norm.astype(f32),
        embed_norm=embed_norm.astype(f32),
        resid_cos=resid_cos.astype(f32),
        resid_cos_centred=resid_cos_centred.astype(f32),
        mlp_norm=mlp_norm.astype(f32),
        attn_norm=attn_norm.astype(f32),
        mlp_cos_resid=mlp_cos_resid.astype(f32),
        mlp_cos_mlp=mlp_cos_mlp.astype(f32),
        attn_cos_resid=attn_cos_resid.astype(f32),
        act_max=act_max.astype(f32),
        act_argmax=act_argmax.astype(np.int32),
        act_median=act_median.astype(f32),
        # a model without a final norm: the last hidden state is the last block's output
        final_norm=resid_norm[-1].astype(f32),
        final_cos=resid_cos[-1].astype(f32),
        final_cos_centred=resid_cos_centred[-1].astype(f32),
        nll=None,
    )


# ---------------------------------------------------------------------------------------------
# Ready-made scenarios


def spec24(**kw) -> Spec:
    """L = 24, T = 128, window [3, 20), dip at 11, late keys inflated from position 80 (n_q <= 48).

    Expected general-mode classes are stored in `Plant.expect`.
    """
    plants = [
        run(20, 6, 6, 0.10, token=" the", expect="secondary"),
        run(35, 8, 8, 0.18, anti=True, token="\n", expect="secondary"),
        run(50, 10, 5, 0.14, token=" ", expect="secondary"),
        run(64, 7, 6, 0.22, gap=10, token=".", expect="secondary"),  # layers 7-9, 11-13
        run(70, 0, 6, 0.26, token=",", expect="secondary"),  # born before the window
        run(3, 3, 17, 0.30, token="<nl>", expect="primary"),  # covers the whole window
        run(40, 5, 7, 0.01, centred_cos=-0.2, token="crowd", expect="noise"),  # cosine only
        run(30, 12, 2, 0.20, expect="noise"),  # short
        run(45, 14, 3, 0.01, expect="noise"),  # short and weak
        run(104, 6, 10, 0.07, token="=", expect="noise"),  # late key, n_q = 24: matched baseline
        run(124, 5, 10, 0.50, token="+", expect="unclassified"),  # n_q = 4
    ]
    base: dict = {"plants": plants, "late_start": 80}
    base.update(kw)
    return Spec(**base)


def spec18(**kw) -> Spec:
    """L = 18 (Gemma3-270M-like), T = 64, window [2, 14): the paper rule cannot call anything
    secondary (L - 15 = 3)."""
    plants = [
        run(10, 4, 2, 0.2, expect="noise"),
        run(12, 5, 3, 0.2, expect="noise"),
        run(14, 6, 4, 0.2, expect="noise"),
        run(16, 5, 6, 0.2, expect="secondary"),
        run(18, 3, 8, 0.25, expect="secondary"),
    ]
    base: dict = {"n_layers": 18, "n_tokens": 64, "window": (2, 14), "dip_layer": 8, "plants": plants}
    base.update(kw)
    return Spec(**base)


def spec40(**kw) -> Spec:
    """L = 40, T = 64, window [4, 34): general min lifetime = max(5, ceil(0.15 * 40)) = 6."""
    plants = [
        run(10, 10, 6, 0.2, expect="secondary"),
        run(12, 12, 5, 0.2, expect="noise"),  # 5 < 6 layers
        run(14, 6, 26, 0.2, expect="secondary"),  # paper: 26 >= 25 -> primary-like
        run(16, 20, 4, 0.2, expect="noise"),
        run(18, 15, 12, 0.3, expect="secondary"),
    ]
    base: dict = {"n_layers": 40, "n_tokens": 64, "window": (4, 34), "dip_layer": 20, "plants": plants}
    base.update(kw)
    return Spec(**base)


def edit_pair() -> tuple[PromptTrace, PromptTrace, int, dict[int, tuple[str, bool]]]:
    """A clean and an "edited" trace with one planted outcome per token (docs/method.md §4
    "Outcomes"), the edited block b = 6, and {position: (expected outcome, promoted)}.

    L = 24, T = 128, window [6, 22); background score 0.01 (so a layer's baseline is 0.01); every
    token below is a secondary sink born at b with lifetime 6 in the clean trace, except 90.
      20  gone (no sink-like layer >= b)                                -> removed
      30  still sink-like, score 0.012 = 1.2 x baseline < k             -> removed
      40  score 0.14 -> 0.07 on its 6 layers (mean from b: -44%)         -> weakened
      50  score 0.16 -> 0.165 (+2%)                                      -> unchanged
      60  score 0.10 -> 0.25                                             -> strengthened
      70  sink-like on 15 of the window's 16 layers at 0.035: primary-like, although its
          mean score from b goes down 23%                                -> strengthened, promoted
      80  cosine drops below tau (no longer sink-like) while its score doubles
                                                                         -> strengthened (never removed)
      90  no sink in either trace                                        -> unchanged
     100  cosine drops below tau while its score rises 0.10 -> 0.106 (mean from b: +5%, less than
          the margin)                                                    -> unchanged (never removed)
    """
    b = 6
    common = {"window": (6, 22), "dip_layer": 14}
    before = [run(20, b, 6, 0.10), run(30, b, 6, 0.12), run(40, b, 6, 0.14), run(50, b, 6, 0.16),
              run(60, b, 6, 0.10), run(70, b, 6, 0.10), run(80, b, 6, 0.10), run(100, b, 6, 0.10)]
    after = [run(30, b, 6, 0.012), run(40, b, 6, 0.07), run(50, b, 6, 0.165), run(60, b, 6, 0.25),
             run(70, b, 15, 0.035), run(80, b, 6, 0.20), run(100, b, 6, 0.106)]
    clean = make_trace(Spec(plants=before, **common))
    edited = make_trace(Spec(plants=after, **common))
    edited.resid_cos[b : b + 6, 0, 80] = 0.5  # 80: no longer sink-like, attention doubled
    edited.resid_cos[b : b + 6, 0, 100] = 0.5  # 100: no longer sink-like, attention +5%
    expect = {20: ("removed", False), 30: ("removed", False), 40: ("weakened", False),
              50: ("unchanged", False), 60: ("strengthened", False), 70: ("strengthened", True),
              80: ("strengthened", False), 90: ("unchanged", False), 100: ("unchanged", False)}
    return clean, edited, b, expect
