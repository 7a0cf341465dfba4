"""The one declarative table of architecture differences (no per-family patches).

Every decoder that routes attention through HF's attention interface is captured the same
way; the only things that differ between families are *where* the MLP's residual contribution
can be read and how final logits are post-processed. `adapter_for(model_type)` returns the row
for a family, falling back to `DEFAULT`.

Fields:
  mlp_output   dotted names (relative to a block), tried in order, of the module whose OUTPUT is
               exactly what the block adds to the residual stream for its MLP (m_t^l, METHOD.md
               "Notation"). Gemma2/3 add `post_feedforward_layernorm(mlp(x))`, so that norm is the
               module to read. None: the architecture has no additive MLP contribution (post-LN
               encoders such as BERT): formation columns are NaN there.
  mlp_input    dotted names of the module whose INPUT is what the MLP reads (the normed residual;
               METHOD.md §9).
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
    residual: Literal["pre", "post"] = "pre"
    logit_softcap_attr: str | None = "final_logit_softcapping"
    logit_scale_attr: str | None = None


DEFAULT = Adapter()

ADAPTERS: dict[str, Adapter] = {
    "gemma2": Adapter(mlp_output=("post_feedforward_layernorm",)),
    "gemma3": Adapter(mlp_output=("post_feedforward_layernorm",)),
    "gemma3_text": Adapter(mlp_output=("post_feedforward_layernorm",)),
    "olmo2": Adapter(mlp_output=("post_feedforward_layernorm",)),
    "bert": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post"),
    "roberta": Adapter(mlp_output=(), mlp_input=("intermediate",), residual="post"),
    "cohere": Adapter(logit_scale_attr="logit_scale"),
    "granite": Adapter(logit_scale_attr="logits_scaling"),
}


def adapter_for(model_type: str) -> Adapter:
    return ADAPTERS.get(model_type, DEFAULT)
