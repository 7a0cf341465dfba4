"""The loaded-model object every other layer receives.

`LoadedModel` bundles the HF model, its tokenizer and the architecture facts the analysis
needs. It is produced by `sinkscope.models.load_model` and never built by hand elsewhere
(tests build it through `LoadedModel.from_pair`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """Architecture facts, read from the HF config (never guessed from the model name)."""

    ref: str  # what the user asked for: catalog name, path, hub id, or "<in-memory>"
    model_type: str  # config.model_type, e.g. "llama"
    architecture: str  # HF class name, e.g. "LlamaForCausalLM"
    n_layers: int
    n_heads: int
    n_kv_heads: int
    hidden_size: int
    is_causal: bool  # False for encoders (BERT-style): scores average over all queries
    adds_bos: bool  # whether the tokenizer prepends a BOS token
    max_context: int | None  # max_position_embeddings, if the config has it
    dtype: str  # e.g. "float32"
    source: str | None = None  # path of the weights actually loaded (cache folder or file)
    source_hash: str | None = None  # sha256 of the weight file(s) (catalog models: of the cached safetensors)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A model ready for capture: `model` (HF, eval mode), `tokenizer`, `info`."""

    model: Any
    tokenizer: Any
    info: ModelInfo

    @classmethod
    def from_pair(cls, model: Any, tokenizer: Any, ref: str = "<in-memory>") -> "LoadedModel":
        """Wrap an already-built (model, tokenizer) pair; facts are read from `model.config`."""
        from sinkscope.models.loading import wrap_pair

        return wrap_pair(model, tokenizer, ref=ref)
