"""`Trace`: everything one capture pass keeps, already reduced (no T x T, no full hidden states).

The per-prompt arrays and their shapes are documented in ONE place, the `PromptTrace` docstring
below, and listed as data in ONE registry, `ARRAYS` (name, shape in L/H/KV/T/C/D, dtype, optional),
which drives save/load and the recorder's allocation and fill; every other module points to them
instead of restating them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

# Symbols of an array's dimensions (`PromptTrace`): L blocks, H query heads, KV key/value heads,
# T tokens, C candidate positions, D hidden size, "T-1" next-token targets. H, KV and D are read from
# the tensors the model produces (never from config fields): arrays with them are made on first sight.
Dim = Literal["L", "H", "KV", "T", "C", "D", "T-1"]
TENSOR_DIMS: frozenset[str] = frozenset({"H", "KV", "D"})


@dataclass(frozen=True)
class ArraySpec:
    """One per-prompt array of `PromptTrace` (its meaning is documented there).

    name      the `PromptTrace` field (and the .npz key).
    dims      its shape in the symbols of `Dim`.
    dtype     numpy dtype name; a float array starts NaN, an int array 0.
    optional  None when the model has nothing to measure (no output gate, no sink logits); a required
              array a batch did not report is NaN of the observed size (`capture.engine.Recorder.complete`).
    recorded  made and filled by the recorder (`capture.engine.Recorder`); False: set by `capture`
              itself (token ids, NLL).
    stat      the name of the per-layer statistic the recorder reports it under, when not `name`.
    """

    name: str
    dims: tuple[Dim, ...]
    dtype: str = "float32"
    optional: bool = False
    recorded: bool = True
    stat: str | None = None

    @property
    def source(self) -> str:
        return self.stat or self.name

    @property
    def tensor_sized(self) -> bool:
        return any(d in TENSOR_DIMS for d in self.dims)

    def shape(self, sizes: dict[str, int]) -> tuple[int, ...]:
        """The shape for the sizes of each symbol ("T-1" from "T")."""
        return tuple(max(sizes["T"] - 1, 0) if d == "T-1" else sizes[d] for d in self.dims)

    def empty(self, sizes: dict[str, int]) -> np.ndarray:
        """The array before anything is measured: NaN (float) or 0 (int).

        Args:
            sizes: the size of each of the spec's dimension letters (`shape`).

        Shapes:
            returns: the spec's shape, in its dtype.
        """
        dt = np.dtype(self.dtype)
        return np.full(self.shape(sizes), np.nan if dt.kind == "f" else 0, dtype=dt)


# THE registry of the per-prompt arrays, in save order: it drives `PromptTrace.save` / `load`, the
# recorder's allocation and its fill (`capture.engine.Recorder`). A new array is one entry here, one
# field (and docstring line) in `PromptTrace`, and the statistic the recorder computes for it.
ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec("token_ids", ("T",), "int64", recorded=False),
    ArraySpec("scores", ("L", "H", "T"), stat="colsum"),  # colsum / n_queries (docs/method.md §1)
    ArraySpec("n_queries", ("L", "T"), "int32", stat="n_visible"),
    ArraySpec("key_norm", ("L", "KV", "T")),
    ArraySpec("value_norm", ("L", "KV", "T")),
    ArraySpec("resid_norm", ("L", "T")),
    ArraySpec("embed_norm", ("T",)),
    ArraySpec("resid_cos", ("L", "C", "T")),
    ArraySpec("resid_cos_centred", ("L", "C", "T")),
    ArraySpec("mlp_norm", ("L", "T")),
    ArraySpec("attn_norm", ("L", "T")),
    ArraySpec("mlp_cos_resid", ("L", "C", "T")),
    ArraySpec("mlp_cos_mlp", ("L", "C", "T")),
    ArraySpec("attn_cos_resid", ("L", "C", "T")),
    ArraySpec("act_max", ("L", "T")),
    ArraySpec("act_argmax", ("L", "T"), "int32"),
    ArraySpec("act_median", ("L",)),
    ArraySpec("resid_cand", ("L", "C", "D")),
    ArraySpec("mlp_cand", ("L", "C", "D")),
    ArraySpec("final_norm", ("T",)),  # the final state: `Recorder.record_final`
    ArraySpec("final_cos", ("C", "T")),
    ArraySpec("final_cos_centred", ("C", "T")),
    ArraySpec("nll", ("T-1",), recorded=False, optional=True),
    ArraySpec("output_gate", ("L", "H", "T"), optional=True),
    ArraySpec("sink_logit_mass", ("L", "H", "T"), optional=True),
)
ARRAY_SPECS: dict[str, ArraySpec] = {a.name: a for a in ARRAYS}
# Names of the per-prompt arrays, in save order (save/load never drift from the registry).
ARRAY_FIELDS: tuple[str, ...] = tuple(a.name for a in ARRAYS)

# C, the number of leading positions a capture keeps candidate statistics for (docs/method.md §2): the
# one default of `CaptureSettings.n_candidates` and of the detector's `DetectConfig.n_candidates`.
N_CANDIDATES = 3

# Per-prompt scalars, saved after the arrays (None is not saved): the region bounds of docs/method.md §3
# and whether the prompt went through the chat template (paper mode's candidates, §3).
SCALAR_FIELDS: dict[str, type] = {"n_prompt_tokens": int, "n_template_tokens": int, "chat": bool}


@dataclass
class PromptTrace:
    """Reduced capture of one prompt: THE reference for the arrays' shapes and meanings.

    Shapes: L = blocks (decoder or encoder layers), H = query heads, KV = key/value heads,
    T = tokens of the prompt (padding removed), C = primary-candidate positions (the first
    `CaptureSettings.n_candidates` tokens, docs/method.md section 2; C is that setting even when T < C,
    rows c >= T are NaN), D = hidden size. Float arrays are float32 numpy, computed in float32
    whatever the model dtype; an entry the capture could not measure is NaN.

    Symbols (docs/method.md "Notation"): h_t^l is the residual stream after block l, a_t^l and m_t^l
    what block l's attention and MLP add to it (h^l = h^{l-1} + a^l + m^l; a is derived as
    h^l - h^{l-1} - m^l, exact for pre-norm, post-norm-added (Gemma) and parallel-residual blocks
    alike; NaN for post-LN encoders, `capture.adapters`). The decomposition is verified on the
    first batch of every capture against an independent reading of a^l (`capture.selfcheck`);
    if it fails, every formation column (mlp_*, attn_*) is NaN and `CaptureSettings.self_check`
    says why.

    Hybrid models (docs/method.md §11): at a layer without softmax attention (a Mamba or short-
    convolution block; `CaptureSettings.attention_layers` False) the attention statistics (scores,
    key_norm, value_norm) are NaN and n_queries is 0; residual and formation columns are measured as
    everywhere (the mixer's output plays a^l).

    text, tokens        the prompt text and its T decoded tokens (list[str]).
    token_ids [T]       int64 token ids.
    scores [L, H, T]    docs/method.md §1: s_j^{l,h} = (1/n_j) * sum_i A_{i,j}^{l,h}, summed over the
                        queries i that can see key j (causal: i >= j; sliding window: also
                        i - j < window; encoders: all i, or |i - j| < window), n_j = n_queries[l, j].
                        For a purely causal layer n_j = T - j, i.e. exactly the docs/method.md formula.
    n_queries [L, T]    int32, number of queries that can see key j at layer l, counted from the
                        very mask the softmax applied (`capture.attention.block_visibility`);
                        a key no query sees has n_j = 0 and NaN scores.
    key_norm [L, KV, T] ||k_j|| per KV head, after RoPE (as attention sees it). docs/method.md §8.
    value_norm [L, KV, T] ||v_j|| per KV head.
    resid_norm [L, T]   ||h_t^l||.
    embed_norm [T]      ||h_t^{-1}|| (input of block 0).
    resid_cos [L, C, T] cos(h_t^l, h_c^l) for candidate position c.
    resid_cos_centred [L, C, T]  the same after subtracting the layer's mean residual over the
                        prompt's tokens.
    mlp_norm [L, T]     ||m_t^l||;   attn_norm [L, T]  ||a_t^l||.
    mlp_cos_resid [L, C, T]  cos(m_t^l, h_c^l);  mlp_cos_mlp [L, C, T]  cos(m_t^l, m_c^l);
    attn_cos_resid [L, C, T] cos(a_t^l, h_c^l).
    act_max [L, T]      max_d |h_{t,d}^l| (massive activations, Sun et al. 2024);
    act_argmax [L, T]   int32, the dimension d where it is reached;
    act_median [L]      median |h^l| over (t, d) (torch's lower-middle convention).
    resid_cand [L, C, D] the full residual vector h_c^l of each candidate (the primary-sink
                        direction of docs/method.md §4; small); mlp_cand [L, C, D] m_c^l. None when
                        loaded from a file written without them.
    final_norm [T]      ||f_t|| with f = the model's last hidden state (HF's `last_hidden_state`, which is
                        also the last entry of `output_hidden_states=True`: the final norm's output
                        final_norm(h^{L-1}), or h^{L-1} itself for a model without a final norm).
                        Paper mode reads it in place of layer L-1 (docs/method.md §3). None when loaded
                        from a file written without it.
    final_cos [C, T]    cos(f_t, f_c) for candidate position c;  final_cos_centred [C, T]  the same
                        after subtracting the mean of f over the prompt's tokens.
    chat                whether the prompt was rendered through the tokenizer's chat template (paper
                        mode's primary candidates depend on it, docs/method.md §3).
    nll [T-1]           next-token negative log-likelihood of token t+1 given tokens <= t, only
                        when the capture was asked for it (`CaptureSettings.with_nll`), else None.
    output_gate [L, H, T]  gated attention (Qwen3-Next, Qwen3.5; the adapter row's `output_gate`):
                        g_t^{l,h} = mean over the head's gate logits of sigmoid(gate), the factor the
                        head's attention output at token t is multiplied by before o_proj
                        (docs/method.md §12); NaN at layers without a gate; None for ungated models.
    sink_logit_mass [L, H, T]  learned sink logits (gpt-oss `s_aux`): 1 - sum_j A_tj, the probability
                        the sink logit takes from query t's softmax row (docs/method.md §13); NaN at
                        layers without one; None for models without sink logits.
    n_prompt_tokens     tokens given as the prompt (the rest is the response, given or generated);
                        None: the whole prompt (no response).
    n_template_tokens   leading tokens the tokenizer / chat template put before the prompt's text
                        (0 when unknown). These two bound the regions of docs/method.md §3
                        (`analysis.regions`).

    H and KV are the head counts of the tensors the attention function received (never config fields).
    """

    text: str
    tokens: list[str]
    token_ids: np.ndarray
    scores: np.ndarray
    n_queries: np.ndarray
    key_norm: np.ndarray
    value_norm: np.ndarray
    resid_norm: np.ndarray
    embed_norm: np.ndarray
    resid_cos: np.ndarray
    resid_cos_centred: np.ndarray
    mlp_norm: np.ndarray
    attn_norm: np.ndarray
    mlp_cos_resid: np.ndarray
    mlp_cos_mlp: np.ndarray
    attn_cos_resid: np.ndarray
    act_max: np.ndarray
    act_argmax: np.ndarray
    act_median: np.ndarray
    resid_cand: np.ndarray | None = None
    mlp_cand: np.ndarray | None = None
    final_norm: np.ndarray | None = None
    final_cos: np.ndarray | None = None
    final_cos_centred: np.ndarray | None = None
    nll: np.ndarray | None = None
    output_gate: np.ndarray | None = None
    sink_logit_mass: np.ndarray | None = None
    n_prompt_tokens: int | None = None
    n_template_tokens: int = 0
    chat: bool = False

    @property
    def n_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.scores.shape[0])

    def layer_scores(self) -> np.ndarray:
        """Per-layer sink score: s_j^l = mean over heads of s_j^{l,h} (docs/method.md §1).

        Shapes:
            returns: [L, T] float32.
        """
        return self.scores.mean(axis=1)

    def save(self, path: Path) -> None:
        """Write one compressed .npz (tokens and text included)."""
        arrays = {name: getattr(self, name) for name in ARRAY_FIELDS if getattr(self, name) is not None}
        arrays["text"] = np.array(self.text)
        arrays["tokens"] = np.array(self.tokens, dtype=object).astype(str)
        for name, kind in SCALAR_FIELDS.items():
            if getattr(self, name) is not None:
                arrays[name] = np.array(getattr(self, name), dtype=np.int64 if kind is int else np.bool_)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> "PromptTrace":
        with np.load(path, allow_pickle=False) as z:
            kw: dict[str, Any] = {name: (z[name] if name in z.files else None) for name in ARRAY_FIELDS}
            kw["text"] = str(z["text"])
            kw["tokens"] = [str(s) for s in z["tokens"]]
            kw.update({name: kind(z[name]) for name, kind in SCALAR_FIELDS.items() if name in z.files})
        return cls(**kw)


# Which attention computation a capture runs (`capture.twopass`): "auto" (by the measured thresholds),
# "single" (the blockwise single pass) or "twopass" (fused kernel + column pass).
AttentionPath = Literal["auto", "single", "twopass"]
# The dtype the single pass multiplies q, k, v in (`capture.twopass.compute_dtype`): "auto" and "model"
# the model's dtype, "float32" upcast first.
MatmulDtype = Literal["auto", "float32", "model"]


@dataclass(frozen=True)
class CaptureSettings:
    """How a capture was taken; written to the manifest ("capture"), every field.

    The settings a caller gives are never changed: `capture` returns the ones it used in
    `Trace.settings` (a copy with `query_block`, `attention_path`, `matmul_dtype`, `self_check`, `attention_layers`
    and `adapter_row` filled in).

    n_candidates    C, the leading positions whose cosines and vectors are kept (`PromptTrace`).
    dtype           the model's dtype, as loaded.
    query_block     query rows per attention block; None: chosen from available memory (the capture
                    records the size it used).
    with_nll        whether next-token NLL was computed.
    batch_size      prompts per forward (right-padded; the numbers do not depend on it).
    attention_path  `AttentionPath`; "auto" is resolved from the context (`twopass.attention_path`)
                    and recorded as the value in force.
    matmul_dtype    `MatmulDtype`, resolved the same way.
    adapter_row     the row of the architecture table the capture used (`capture.adapters.adapter_row`):
                    the model_type, "default", or "default (unknown model_type)"; filled by `capture`.
    """

    n_candidates: int = N_CANDIDATES
    dtype: str = "float32"
    query_block: int | None = None  # None: chosen from available memory
    with_nll: bool = False
    batch_size: int = 1
    attention_path: AttentionPath = "auto"
    matmul_dtype: MatmulDtype = "auto"
    # Outcome of the capture's self-check (`capture.selfcheck.SelfCheck.to_dict()`), filled by
    # `capture`: status "passed" / "failed" (formation columns disabled) / "skipped".
    self_check: dict[str, Any] | None = None
    # Per layer, whether it has softmax attention probabilities (docs/method.md §11), filled by
    # `capture`; None (files written before it) means every layer has them.
    attention_layers: list[bool] | None = None
    adapter_row: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Trace:
    """All prompts of one capture pass over one model: `prompts` in the order they were given
    (one `PromptTrace` each), the `settings` used, and `timings` in seconds ("capture_s")."""

    prompts: list[PromptTrace]
    settings: CaptureSettings = field(default_factory=CaptureSettings)
    timings: dict[str, float] = field(default_factory=dict)

    def attention_mask(self) -> np.ndarray:
        """The layers with attention probabilities (all when the settings do not say).

        Shapes:
            returns: [L] bool.
        """
        if self.settings.attention_layers is not None:
            return np.asarray(self.settings.attention_layers, dtype=bool)
        return np.ones(self.prompts[0].n_layers if self.prompts else 0, dtype=bool)
