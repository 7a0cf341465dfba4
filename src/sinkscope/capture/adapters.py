"""The one declarative table of architecture differences (no per-family patches).

Every decoder that routes attention through HF's attention interface is captured the same
way; the only things that differ between families are *where* the MLP's and the attention's
residual contributions can be read (and by what they are scaled) and how final logits are
post-processed. A wrong or missing row is caught at run time by the self-check. `adapter_for(model_type)` returns the row
for a family: its own row in `ADAPTERS`, or `DEFAULT` for the families verified on it (`DEFAULT_FAMILIES`,
the tested ones); any other model_type also gets `DEFAULT`, but said: a `RuntimeWarning` naming it, and
`adapter_row` (recorded by the capture in `CaptureSettings.adapter_row`, the manifest) says so.

Fields:
  blocks       dotted path, relative to the model's decoder / encoder stack (HF's `base_model`,
               `capture.engine.base_model_of`), of the ModuleList holding its L blocks: "layers" for
               most families, "h" (GPT-2, Falcon), "encoder.layer" (BERT-style encoders),
               "decoder.layers" (OPT), "language_model.layers" (image-text composites). Never guessed:
               a model where it is not a ModuleList of L blocks is refused, naming the path.
  mlp_output   dotted names (relative to a block), tried in order, of the module whose OUTPUT is
               exactly what the block adds to the residual stream for its MLP (m_t^l, docs/method.md
               "Notation"). Gemma2/3 add `post_feedforward_layernorm(mlp(x))`, so that norm is the
               module to read (OLMo2/3 and EXAONE 4 alike; GLM-4 calls it `post_mlp_layernorm`).
               None: the architecture has no additive MLP contribution (post-LN encoders such as
               BERT): formation columns are NaN there.
  attn_output  dotted names of the module whose OUTPUT is what the block adds for attention (a^l,
               before `branch_scale_attr`): the self-check's independent reading (`capture.selfcheck`
               checks h^l - h^{l-1} = a^l + m^l on the first batch of every capture). Gemma2/3,
               OLMo2/3 and EXAONE 4 add `post_attention_layernorm(self_attn(x))`; GLM-4 adds
               `post_self_attn_layernorm(self_attn(x))` (its `post_attention_layernorm` is the
               MLP's INPUT norm, a pre-norm).
  branch_scale_attr  config attribute by which the block multiplies BOTH residual branches before
               adding them (Granite: h = h + residual_multiplier * branch); m^l and a^l are the
               scaled branches. None: no scale.
  mlp_input    dotted names of the module whose INPUT is what the MLP reads (the normed residual;
               docs/method.md §9).
  residual     "pre": h^l = h^{l-1} + a^l + m^l holds; "post": post-LN blocks where it does not.
  attention    dotted names of a block's softmax-attention module (default `ATTENTION_MODULES`;
               Nemotron-H calls it `mixer`). A block holding one (that is not also a `non_softmax`
               match) is EXPECTED to call the attention function on the first batch.
  non_softmax  dotted names of a block's token mixer that has NO attention probabilities (linear
               attention, a Mamba layer, a short convolution, an MLP-only block: hybrid models,
               docs/method.md §11). A block containing one of them and no other attention module is a
               non-attention layer: its attention statistics are NaN, `CaptureSettings.attention_layers`
               marks it False and the analysis skips it; its mixer's output is its a^l for the
               self-check (so the row's `attn_output` names the mixer too).
               Routing is decided by OBSERVATION (`check_attention_calls`): on the first batch the
               capture records which modules called the attention function; an expected attention
               module that did not, or a non-softmax block that did, is refused by block and class.
  parallel     (name, scale attribute of the block) of mixers added side by side in one block
               (Falcon-H1: h += attn_out_multiplier * self_attn(x) + ssm_out_multiplier * mamba(x)).
               a^l is then their SUM, and the self-check reads it as that sum (docs/method.md §11).
  single_branch each block adds ONE branch (Nemotron-H: the mixer is Mamba, attention, an MLP or an
               MoE): a block without the MLP module adds m^l = 0, one without the mixer a^l = 0.
  output_gate  an `OutputGate`: where the attention output gate o_t = x_t * sigmoid(g_t) is read
               (Qwen3-Next / Qwen3.5 / Bailing), docs/method.md §12.
Dotted names may carry a class qualifier, `name:ClassName`: the module at `name` only when it is
of that class (Kimi-Linear holds linear attention and softmax attention both at `self_attn`).
  logit_softcap_attr / logit_scale_attr: config attributes applied to logits when computing NLL:
               logits / scale (Granite's `logits_scaling`), or logits * scale when
               `logit_scale_multiplies` (Cohere / Cohere2's `logit_scale`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sinkscope.core.errors import UnsupportedArchitectureError

# Default names of a block's softmax-attention module (`Adapter.attention`).
ATTENTION_MODULES = ("self_attn", "attn", "attention", "self_attention")


@dataclass(frozen=True)
class OutputGate:
    """Where a gated attention output o = x * sigmoid(g) (before `o_proj`) reads its gate logits g
    (docs/method.md §12), as the OUTPUT of `module` (dotted, relative to the block):
      "q_halves"  the query projection emits [.., H, 2d] per token: the first d are the query, the
                  last d the gate of head h (Qwen3-Next, Qwen3.5: `torch.chunk(q_proj(x).view(.., H,
                  2d), 2, -1)`).
      "per_head"  a projection emits [.., H * k] (k >= 1): k gate logits per head (Bailing's g_proj).
    H is the number of query heads the attention function saw (from tensors)."""

    module: str
    layout: Literal["q_halves", "per_head"]


@dataclass(frozen=True)
class Adapter:
    blocks: str = "layers"
    mlp_output: tuple[str, ...] = ("mlp", "feed_forward", "block_sparse_moe", "ffn")
    mlp_input: tuple[str, ...] = ("mlp", "feed_forward", "block_sparse_moe", "ffn")
    attn_output: tuple[str, ...] = ("self_attn", "attn", "attention", "self_attention")
    branch_scale_attr: str | None = None
    residual: Literal["pre", "post"] = "pre"
    logit_softcap_attr: str | None = "final_logit_softcapping"
    logit_scale_attr: str | None = None
    logit_scale_multiplies: bool = False
    non_softmax: tuple[str, ...] = ()
    attention: tuple[str, ...] = ATTENTION_MODULES
    parallel: tuple[tuple[str, str | None], ...] = ()
    single_branch: bool = False
    output_gate: OutputGate | None = None




DEFAULT = Adapter()

ADAPTERS: dict[str, Adapter] = {
    "gemma2": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    # the image-text composite (Gemma3ForConditionalGeneration): its language model's blocks
    "gemma3": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",),
                      blocks="language_model.layers"),
    "gemma3_text": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "olmo2": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "olmo3": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "exaone4": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    # GLM-4: h += post_self_attn_layernorm(self_attn(x)); h += post_mlp_layernorm(mlp(post_attention_layernorm(h)))
    "glm4": Adapter(mlp_output=("post_mlp_layernorm",), attn_output=("post_self_attn_layernorm",)),
    "bert": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post", blocks="encoder.layer"),
    "roberta": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post", blocks="encoder.layer"),
    "gpt2": Adapter(blocks="h"),
    # BioGPT: h += self_attn(ln(h)); h += fc2(act(fc1(ln(h)))): the MLP is two bare projections.
    "biogpt": Adapter(mlp_output=("fc2",), mlp_input=("fc1",)),
    "cohere": Adapter(logit_scale_attr="logit_scale", logit_scale_multiplies=True),
    "cohere2": Adapter(logit_scale_attr="logit_scale", logit_scale_multiplies=True),
    "granite": Adapter(logit_scale_attr="logits_scaling", branch_scale_attr="residual_multiplier"),
    # Hybrids (docs/method.md §11). Granite 4 "H": h += r * mixer(x) (mixer = self_attn or mamba);
    # h += r * (block_sparse_moe(y) + shared_mlp(y)). Only the dense variant (num_local_experts=0)
    # has one module whose output is m^l; with experts the self-check fails and names the family.
    "granitemoehybrid": Adapter(
        mlp_output=("shared_mlp",), mlp_input=("shared_mlp",), attn_output=("self_attn", "mamba"),
        non_softmax=("mamba",), logit_scale_attr="logits_scaling", branch_scale_attr="residual_multiplier",
    ),
    # LFM2: h += self_attn(x) or conv(x) (a gated short convolution); h += feed_forward(y).
    "lfm2": Adapter(attn_output=("self_attn", "conv"), non_softmax=("conv",)),
    "lfm2_moe": Adapter(attn_output=("self_attn", "conv"), non_softmax=("conv",)),
    # Gated-DeltaNet hybrids: h += self_attn(x) or linear_attn(x); h += mlp(y). Qwen3-Next / Qwen3.5 gate
    # the softmax output with the second half of q_proj's per-head output (docs/method.md §12).
    "qwen3_next": Adapter(attn_output=("self_attn", "linear_attn"), non_softmax=("linear_attn",),
                          output_gate=OutputGate("self_attn.q_proj", "q_halves")),
    "qwen3_5_text": Adapter(attn_output=("self_attn", "linear_attn"), non_softmax=("linear_attn",),
                            output_gate=OutputGate("self_attn.q_proj", "q_halves")),
    "qwen3_5_moe_text": Adapter(attn_output=("self_attn", "linear_attn"), non_softmax=("linear_attn",),
                                output_gate=OutputGate("self_attn.q_proj", "q_halves")),
    # the image-text composites (Qwen3_5ForConditionalGeneration, the class real Qwen3.5 checkpoints name):
    # their language model's blocks, the same rows
    "qwen3_5": Adapter(attn_output=("self_attn", "linear_attn"), non_softmax=("linear_attn",),
                       output_gate=OutputGate("self_attn.q_proj", "q_halves"), blocks="language_model.layers"),
    "qwen3_5_moe": Adapter(attn_output=("self_attn", "linear_attn"), non_softmax=("linear_attn",),
                           output_gate=OutputGate("self_attn.q_proj", "q_halves"), blocks="language_model.layers"),
    "lara_mini": Adapter(attn_output=("self_attn", "linear_attn"), non_softmax=("linear_attn",)),
    # OLMo hybrid: attention blocks add post-norms of both branches (as OLMo2); linear blocks are pre-norm.
    "olmo_hybrid": Adapter(mlp_output=("post_feedforward_layernorm", "mlp"),
                           attn_output=("linear_attn", "post_attention_layernorm"), non_softmax=("linear_attn",)),
    # Mamba hybrids: h += self_attn(x) or mamba(x); h += feed_forward(y).
    "bamba": Adapter(attn_output=("self_attn", "mamba"), non_softmax=("mamba",)),
    "jamba": Adapter(attn_output=("self_attn", "mamba"), non_softmax=("mamba",)),
    # Falcon-H1: attention and Mamba side by side in every block (a^l is their scaled sum, §11).
    "falcon_h1": Adapter(parallel=(("self_attn", "attn_out_multiplier"), ("mamba", "ssm_out_multiplier")),
                         logit_scale_attr="lm_head_multiplier", logit_scale_multiplies=True),
    # Nemotron-H: one mixer per block (Mamba-2, attention, MLP or MoE), h += mixer(norm(h)).
    "nemotron_h": Adapter(
        attention=("mixer:NemotronHAttention",),
        non_softmax=("mixer:NemotronHMamba2Mixer", "mixer:NemotronHMLP", "mixer:NemotronHMoE"),
        attn_output=("mixer:NemotronHAttention", "mixer:NemotronHMamba2Mixer"),
        mlp_output=("mixer:NemotronHMLP", "mixer:NemotronHMoE"), mlp_input=("mixer:NemotronHMLP", "mixer:NemotronHMoE"),
        single_branch=True,
    ),
    # MiniMax: lightning (linear) attention and softmax attention both at `self_attn`. Its residual is the
    # NORMED stream (x = norm(h); h' = alpha * x + beta * attn(x), then the same around the MLP): post-LN
    # blocks, no additive decomposition (formation columns NaN, self-check skipped; scores exact).
    "minimax": Adapter(attention=("self_attn:MiniMaxAttention",), non_softmax=("self_attn:MiniMaxLightningAttention",),
                       residual="post", mlp_output=(), mlp_input=("mlp",)),
    # Zamba2: Mamba blocks (h += mamba(norm(h)), no MLP) and hybrid blocks that run ONE shared transformer
    # block (attention at `shared_transformer.self_attn`, the same module in every hybrid block) on
    # [h, embeddings], project it and add it before their own Mamba layer: no module outputs a^l or m^l
    # there, so the self-check fails on the hybrid blocks and disables the formation columns (scores exact).
    "zamba2": Adapter(attention=("shared_transformer.self_attn",), non_softmax=("mamba",), attn_output=("mamba",),
                      mlp_output=(), mlp_input=("shared_transformer.feed_forward",), single_branch=True),
    # Kimi-Linear / Bailing hybrid: linear (delta) attention and MLA softmax attention both live at `self_attn`.
    "kimi_linear": Adapter(attention=("self_attn:KimiLinearAttention",),
                           non_softmax=("self_attn:KimiLinearDeltaAttention",)),
    "bailing_hybrid": Adapter(attention=("self_attn:BailingHybridAttention",),
                              non_softmax=("self_attn:BailingHybridDeltaAttention",),
                              output_gate=OutputGate("self_attn:BailingHybridAttention.g_proj", "per_head")),
    # Families of the installed transformers whose blocks are not at `layers` (the survey of
    # docs/ARCHITECTURES.md, scripts/arch_table.py): their containers, the default row otherwise.
    "bert-generation": Adapter(blocks="encoder.layer"),
    "camembert": Adapter(blocks="encoder.layer"),
    "data2vec-text": Adapter(blocks="encoder.layer"),
    "electra": Adapter(blocks="encoder.layer"),
    "ernie": Adapter(blocks="encoder.layer"),
    "roberta-prelayernorm": Adapter(blocks="encoder.layer"),
    "roc_bert": Adapter(blocks="encoder.layer"),
    "xlm-roberta": Adapter(blocks="encoder.layer"),
    "xlm-roberta-xl": Adapter(blocks="encoder.layer"),
    "ctrl": Adapter(blocks="h"),
    "falcon": Adapter(blocks="h"),
    "gpt_bigcode": Adapter(blocks="h"),
    "opt": Adapter(blocks="decoder.layers"),
    "fuyu": Adapter(blocks="language_model.layers"),
    # Block containers of families whose attention computes its own probabilities (they do not call the
    # attention function): the rows let the first batch observe that and refuse with it (ARCHITECTURES.md).
    "bloom": Adapter(blocks="h"),
    "codegen": Adapter(blocks="h"),
    "gpt_neo": Adapter(blocks="h"),
    "gptj": Adapter(blocks="h"),
    "openai-gpt": Adapter(blocks="h"),
    "mpt": Adapter(blocks="blocks"),
    "big_bird": Adapter(blocks="encoder.layer"),
    "megatron-bert": Adapter(blocks="encoder.layer"),
    "rembert": Adapter(blocks="encoder.layer"),
    "roformer": Adapter(blocks="encoder.layer"),
    "xmod": Adapter(blocks="encoder.layer"),
    "cpmant": Adapter(blocks="encoder.layers"),
    "trocr": Adapter(blocks="decoder.layers"),
}


# Families verified on the `DEFAULT` row (tests/capture/archs.py and the catalog models): no row of their own.
DEFAULT_FAMILIES: frozenset[str] = frozenset({
    "llama", "mistral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "phi3", "gpt_neox", "starcoder2", "gpt_oss",
    "deepseek_v3", "llama4_text", "smollm3", "seed_oss", "ernie4_5", "stablelm", "modernbert",
})


def adapter_row(model_type: str) -> str:
    """Which row `adapter_for` gives: the model_type (its own row), "default" (a family verified on
    the default row) or "default (unknown model_type)"."""
    if model_type in ADAPTERS:
        return model_type
    return "default" if model_type in DEFAULT_FAMILIES else "default (unknown model_type)"


def adapter_for(model_type: str) -> Adapter:
    """The row of `model_type`. A model_type the table does not know gets `DEFAULT` with a
    `RuntimeWarning` naming it (the capture's self-check then verifies the default module names and
    `CaptureSettings.adapter_row` records that the default row was used)."""
    row = ADAPTERS.get(model_type)
    if row is not None:
        return row
    if model_type not in DEFAULT_FAMILIES:
        warnings.warn(
            f"sinkscope has no adapter row for model_type {model_type!r}: using the default row (blocks at "
            f"`{DEFAULT.blocks}`, MLP at {'/'.join(DEFAULT.mlp_output)}); the self-check verifies it on the first "
            "batch. Add a row to sinkscope/capture/adapters.py once the family is verified.",
            RuntimeWarning,
            stacklevel=2,
        )
    return DEFAULT


def resolve(block: Any, names: Sequence[str]) -> Any | None:
    """The first module found at one of the dotted `names` under `block` (None if none): each part
    may carry a class qualifier, `part:ClassName`, matching only a module of exactly that class."""
    for name in names:
        mod = block
        for part in name.split("."):
            attr, _, cls = part.partition(":")
            mod = getattr(mod, attr, None)
            if mod is None or (cls and type(mod).__name__ != cls):
                mod = None
                break
        if mod is not None and hasattr(mod, "forward"):
            return mod
    return None


def _name_of(block: Any, names: Sequence[str]) -> str | None:
    """The entry of `names` that `resolve` used (for messages)."""
    for name in names:
        if resolve(block, (name,)) is not None:
            return name
    return None


def expected_attention(block: Any, adapter: Adapter) -> Any | None:
    """The block's softmax-attention module (`Adapter.attention`), which must call the attention
    function; None where the block holds none, or where that module is the row's non-softmax mixer."""
    att = resolve(block, adapter.attention)
    return None if att is None or att is resolve(block, adapter.non_softmax) else att


def attention_layers(blocks: Sequence[Any], adapter: Adapter) -> list[bool]:
    """Per block, whether it is EXPECTED to have softmax attention (docs/method.md §11): False for a
    block that holds a non-softmax mixer the row names (`Adapter.non_softmax`) and no other attention
    module. The capture's final word is the observation (`check_attention_calls`)."""
    return [not (resolve(b, adapter.non_softmax) is not None and expected_attention(b, adapter) is None) for b in blocks]


def check_attention_calls(
    arch: str,
    blocks: Sequence[Any],
    adapter: Adapter,
    callers: Sequence[Sequence[Any]],
    declares_backend: bool = True,
) -> list[bool]:
    """Routing decided by observation (docs/method.md §11): `callers[l]` are the modules of block l
    that called the attention function on the first batch. Returns, per block, whether it has
    attention probabilities (it called the function); refuses (`UnsupportedArchitectureError`), naming
    the block and the module class observed, a block whose attention module did not call, a block
    whose non-softmax mixer did, and a block where nothing called that holds neither.
    `declares_backend` (the class's `_supports_attention_backend`) only words the hint."""
    hint = "" if declares_backend else (
        f" (hint: {arch} does not declare `_supports_attention_backend`; its attention code may compute "
        "attention itself instead of calling the HF attention interface)"
    )
    problems = []
    for layer, (block, called) in enumerate(zip(blocks, callers)):
        att = expected_attention(block, adapter)
        mixer = resolve(block, adapter.non_softmax)
        who = ", ".join(sorted({f"`{type(m).__name__}`" for m in called}))
        if att is not None and not any(m is att or _inside(m, att) for m in called):
            extra = f" ({who} did)" if called else ""
            problems.append(f"block {layer}: `{type(att).__name__}` (at `{_name_of(block, adapter.attention)}`) did not "
                            f"call the attention function{extra}")
        elif att is None and mixer is not None and called:
            problems.append(f"block {layer}: holds the non-softmax mixer `{type(mixer).__name__}` (adapter row "
                            f"`non_softmax`) but {who} called the attention function: the adapter row is wrong")
        elif att is None and mixer is None and not called:
            problems.append(f"block {layer}: no module of `{type(block).__name__}` called the attention function, and it "
                            f"holds neither an attention module {list(adapter.attention)} nor a non-softmax mixer the "
                            f"adapter row names {list(adapter.non_softmax)}")
    if problems:
        raise UnsupportedArchitectureError(
            f"{arch}: " + "; ".join(problems) + ". sinkscope measures attention only through the HF attention "
            "interface, so it cannot capture this model" + hint + "."
        )
    return [bool(c) for c in callers]


def _inside(module: Any, parent: Any) -> bool:
    return any(m is module for m in parent.modules())
