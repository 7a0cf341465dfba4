"""workflows/scan.py on random-init models (no real weights): the manifest's head counts are the
tensors', not a config field the model ignores (docs/method.md "Capture")."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModel

import sinkscope
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ARCHS, ToyTokenizer


def test_manifest_head_counts_come_from_the_tensors():
    overrides, _ = ARCHS["modernbert"]
    cfg = AutoConfig.for_model("modernbert", **overrides, num_key_value_heads=2)  # ModernBERT ignores it
    torch.manual_seed(0)
    model = AutoModel.from_config(cfg, attn_implementation="eager").eval()
    res = sinkscope.scan(LoadedModel.from_pair(model, ToyTokenizer(), ref="random-modernbert"),
                         ["a short text for the encoder", "and a second one, a little longer than the first"])
    assert (res.manifest["model"]["n_heads"], res.manifest["model"]["n_kv_heads"]) == (4, 4)
    assert res.prompts[0].key_norm.shape[1] == 4
