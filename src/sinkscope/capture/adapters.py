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
               module to read. None: the architecture has no additive MLP contribution (post-LN
               encoders such as BERT): formation columns are NaN there.
  attn_output  dotted names of the module whose OUTPUT is what the block adds for attention (a^l,
               before `branch_scale_attr`): the self-check's independent reading (`capture.selfcheck`
               checks h^l - h^{l-1} = a^l + m^l on the first batch of every capture). Gemma2/3 and
               OLMo2 add `post_attention_layernorm(self_attn(x))`.
  branch_scale_attr  config attribute by which the block multiplies BOTH residual branches before
               adding them (Granite: h = h + residual_multiplier * branch); m^l and a^l are the
               scaled branches. None: no scale.
  mlp_input    dotted names of the module whose INPUT is what the MLP reads (the normed residual;
               docs/method.md §9).
  residual     "pre": h^l = h^{l-1} + a^l + m^l holds; "post": post-LN blocks where it does not.
  logit_softcap_attr / logit_scale_attr: config attributes applied to logits when computing NLL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Adapter:
    mlp_output: tuple[str, ...] = ("mlp", "feed_forward", "block_sparse_moe", "ffn")
    mlp_input: tuple[str, ...] = ("mlp", "feed_forward", "block_sparse_moe", "ffn")
    attn_output: tuple[str, ...] = ("self_attn", "attn", "attention", "self_attention")
    branch_scale_attr: str | None = None
    residual: Literal["pre", "post"] = "pre"
    logit_softcap_attr: str | None = "final_logit_softcapping"
    logit_scale_attr: str | None = None


DEFAULT = Adapter()

ADAPTERS: dict[str, Adapter] = {
    "gemma2": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "gemma3": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "gemma3_text": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "olmo2": Adapter(mlp_output=("post_feedforward_layernorm",), attn_output=("post_attention_layernorm",)),
    "bert": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post"),
    "roberta": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post"),
    "cohere": Adapter(logit_scale_attr="logit_scale"),
    "granite": Adapter(logit_scale_attr="logits_scaling", branch_scale_attr="residual_multiplier"),
}


def adapter_for(model_type: str) -> Adapter:
    return ADAPTERS.get(model_type, DEFAULT)
