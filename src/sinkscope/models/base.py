"""The loaded-model object every other layer receives, and how its facts are read.

`LoadedModel` bundles the HF model, its tokenizer and the architecture facts the analysis
needs (`ModelInfo`). It is produced by `sinkscope.models.load_model`, or by `wrap_pair` /
`LoadedModel.from_pair` for a (model, tokenizer) pair already in memory (tests use that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sinkscope.core.errors import InputError, UnsupportedArchitectureError

# Encoder-only families (bidirectional attention) for configs whose attention modules do not
# carry an `is_causal` flag.
_ENCODER_TYPES = {
    "bert",
    "roberta",
    "distilbert",
    "electra",
    "deberta",
    "deberta-v2",
    "xlm-roberta",
    "albert",
    "mpnet",
    "camembert",
    "modernbert",
    "xlm",
    "flaubert",
    "ernie",
    "nomic_bert",
    "jina_bert",
}


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
        return wrap_pair(model, tokenizer, ref=ref)


# ---------------------------------------------------------------------------------------------
# wrap_pair: facts from the config
# ---------------------------------------------------------------------------------------------


def _attention_modules(model: Any) -> list[tuple[str, Any]]:
    """Modules whose class name says attention (e.g. LlamaAttention, BertSelfAttention)."""
    out = []
    for name, mod in model.named_modules():
        if not name:  # the model itself
            continue
        cls = type(mod).__name__
        if "attention" in cls.lower() and not cls.lower().endswith(("output", "outputs")):
            out.append((name, mod))
    return out


def _first_int(cfg: Any, *names: str) -> int | None:
    for n in names:
        v = getattr(cfg, n, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _detect_bos(tokenizer: Any) -> tuple[bool, str | None]:
    """(adds a start token?, that token's text). BOS, or [CLS] for BERT-style tokenizers."""
    if tokenizer is None:
        return False, None
    try:
        ids = tokenizer("Hello world", add_special_tokens=True)["input_ids"]
    except Exception:  # noqa: BLE001 - tokenizer without a __call__ we understand
        return False, None
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    if not ids:
        return False, None
    first = ids[0]
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None:
        if first == bos:
            return True, tokenizer.convert_ids_to_tokens(first)
        return False, None
    cls_id = getattr(tokenizer, "cls_token_id", None)
    if cls_id is not None and first == cls_id:
        return True, tokenizer.convert_ids_to_tokens(first)
    return False, None


def check_supported(model: Any) -> list[tuple[str, Any]]:
    """UnsupportedArchitectureError unless the model has attention modules at all. Whether they route
    through the HF attention interface is decided by observation on the first batch of every capture
    (`capture.adapters.check_attention_calls`, docs/method.md §11), never by a class flag."""
    arch = type(model).__name__
    mtype = getattr(getattr(model, "config", None), "model_type", "?")
    mods = _attention_modules(model)
    if not mods:
        raise UnsupportedArchitectureError(
            f"{arch} (model_type {mtype!r}) has no attention modules; sinkscope only analyses attention models."
        )
    return mods


def wrap_pair(
    model: Any,
    tokenizer: Any,
    ref: str = "<in-memory>",
    *,
    source: str | None = None,
    source_hash: str | None = None,
    extra: dict[str, Any] | None = None,
) -> LoadedModel:
    """Bundle an HF model and its tokenizer into a `LoadedModel`; facts come from `model.config`.

    Puts the model in eval mode. Raises UnsupportedArchitectureError for models sinkscope
    cannot capture.
    """
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise InputError(f"{type(model).__name__} has no `.config`: give a Hugging Face transformers model.")
    mods = check_supported(model)
    model.eval()
    tcfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg

    n_layers = _first_int(tcfg, "num_hidden_layers", "n_layer", "num_layers")
    n_heads = _first_int(tcfg, "num_attention_heads", "n_head", "num_heads")
    hidden = _first_int(tcfg, "hidden_size", "n_embd", "d_model")
    if n_layers is None or n_heads is None or hidden is None:
        raise UnsupportedArchitectureError(
            f"{type(model).__name__}: cannot read layers / heads / hidden size from its config "
            f"(model_type {getattr(cfg, 'model_type', '?')!r})."
        )
    n_kv = _first_int(tcfg, "num_key_value_heads", "num_kv_heads", "n_head_kv") or n_heads

    flags = [m.is_causal for _, m in mods if isinstance(getattr(m, "is_causal", None), bool)]
    if flags:
        is_causal = any(flags)
    else:
        is_causal = getattr(cfg, "model_type", "") not in _ENCODER_TYPES or bool(
            getattr(cfg, "is_decoder", False)
        )

    adds_bos, start_tok = _detect_bos(tokenizer)
    try:
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    except StopIteration:
        dtype = str(getattr(model, "dtype", "float32")).removeprefix("torch.")

    leaf = [m for n, m in mods if not any(n2.startswith(n + ".") for n2, _ in mods)]
    ex: dict[str, Any] = {
        "head_dim": _first_int(tcfg, "head_dim") or hidden // n_heads,
        "vocab_size": _first_int(tcfg, "vocab_size"),
        "sliding_window": getattr(tcfg, "sliding_window", None),
        "layer_types": list(getattr(tcfg, "layer_types", None) or []) or None,
        "attn_implementation": getattr(cfg, "_attn_implementation", None),
        "attention_module": type(leaf[0]).__name__ if leaf else None,
        "start_token": start_tok,
        "device": str(getattr(model, "device", "cpu")),
    }
    if extra:
        ex.update(extra)
    info = ModelInfo(
        ref=str(ref),
        model_type=str(getattr(cfg, "model_type", "unknown")),
        architecture=type(model).__name__,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        hidden_size=hidden,
        is_causal=is_causal,
        adds_bos=adds_bos,
        max_context=_first_int(tcfg, "max_position_embeddings", "n_positions", "max_seq_len"),
        dtype=dtype,
        source=source,
        source_hash=source_hash,
        extra=ex,
    )
    return LoadedModel(model=model, tokenizer=tokenizer, info=info)
