"""The one declarative table of architecture differences (no per-family patches).

Every decoder that routes attention through HF's attention interface is captured the same
way; the only things that differ between families are *where* the MLP's and the attention's
residual contributions can be read (and by what they are scaled) and how final logits are
post-processed. A wrong or missing row is caught at run time by the self-check. `adapter_for(model_type)` returns the row
for a family, falling back to `DEFAULT`.

Fields:
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
  non_softmax  dotted names of a block's token mixer that has NO attention probabilities (a Mamba
               layer, a short convolution: hybrid models, docs/method.md §11). A block containing one
               of them and no attention module (`ATTENTION_MODULES`) is a non-attention layer: its
               attention statistics are NaN, `CaptureSettings.attention_layers` marks it False and
               the analysis skips it; its mixer's output is its a^l for the self-check (so the row's
               `attn_output` names the mixer too). Checked at run time: a layer marked non-attention
               that calls the attention function, or an attention layer that does not, is refused.
  logit_softcap_attr / logit_scale_attr: config attributes applied to logits when computing NLL:
               logits / scale (Granite's `logits_scaling`), or logits * scale when
               `logit_scale_multiplies` (Cohere / Cohere2's `logit_scale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sinkscope.core.errors import UnsupportedArchitectureError


@dataclass(frozen=True)
class Adapter:
    mlp_output: tuple[str, ...] = ("mlp", "feed_forward", "block_sparse_moe", "ffn")
    mlp_input: tuple[str, ...] = ("mlp", "feed_forward", "block_sparse_moe", "ffn")
    attn_output: tuple[str, ...] = ("self_attn", "attn", "attention", "self_attention")
    branch_scale_attr: str | None = None
    residual: Literal["pre", "post"] = "pre"
    logit_softcap_attr: str | None = "final_logit_softcapping"
    logit_scale_attr: str | None = None
    logit_scale_multiplies: bool = False
    non_softmax: tuple[str, ...] = ()


# Names of a block's softmax-attention module: a block with one of them has attention probabilities.
ATTENTION_MODULES = ("self_attn", "attn", "attention", "self_attention")


DEFAULT = Adapter()

ADAPTERS: dict[str, Adapter] = {
    "gemma2": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "gemma3": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "gemma3_text": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "olmo2": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "olmo3": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "exaone4": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    # GLM-4: h += post_self_attn_layernorm(self_attn(x)); h += post_mlp_layernorm(mlp(post_attention_layernorm(h)))
    "glm4": Adapter(mlp_output=("post_mlp_layernorm",), attn_output=("post_self_attn_layernorm",)),
    "bert": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post"),
    "roberta": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post"),
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
}


def adapter_for(model_type: str) -> Adapter:
    return ADAPTERS.get(model_type, DEFAULT)


def _holds(block: Any, names: Sequence[str]) -> bool:
    """Whether `block` has a (non-None) submodule at one of the dotted `names`."""
    for name in names:
        mod = block
        for part in name.split("."):
            mod = getattr(mod, part, None)
        if mod is not None:
            return True
    return False


def attention_layers(blocks: Sequence[Any], adapter: Adapter) -> list[bool]:
    """Per block, whether it has softmax attention (docs/method.md §11): False for a block that holds a
    non-softmax mixer the row names (`Adapter.non_softmax`) and no `ATTENTION_MODULES` module."""
    return [not (_holds(b, adapter.non_softmax) and not _holds(b, ATTENTION_MODULES)) for b in blocks]


def check_attention_calls(arch: str, calls: Sequence[int], has_attention: Sequence[bool]) -> None:
    """Refuse by name a layer that should have reported attention and did not, or the reverse (the
    run-time check of `non_softmax`, docs/method.md §11); `calls[l]`: attention calls of layer l."""
    missing = [layer for layer, (c, a) in enumerate(zip(calls, has_attention)) if a and c == 0]
    if missing:
        raise UnsupportedArchitectureError(
            f"{arch}: attention of layer(s) {missing} did not go through the HF "
            "attention interface; sinkscope cannot measure this architecture."
        )
    extra = [layer for layer, (c, a) in enumerate(zip(calls, has_attention)) if not a and c > 0]
    if extra:
        raise UnsupportedArchitectureError(
            f"{arch}: layer(s) {extra} hold a non-softmax mixer (adapter row `non_softmax`) but called the "
            "attention function: the adapter row is wrong for this architecture."
        )
