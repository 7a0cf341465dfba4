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


def test_gates_and_learned_sinks_survive_save_and_load(tmp_path):
    """findings.json carries the per layer and head tables (docs/method.md §12, §13) and a saved run
    loads back with the same tables (recomputed from the prompts' arrays)."""
    import json

    from sinkscope.workflows.scan import ScanResult
    from tests.report.test_console import gated_scans

    for i, res in enumerate(gated_scans()):
        d = res.save(tmp_path / f"run{i}")
        f = json.loads((d / "findings.json").read_text())
        assert len(f["gates"]) == len(res.gates) and len(f["learned_sink"]) == len(res.learned_sink)
        back = ScanResult.load(d)
        assert back.gates.equals(res.gates) and back.learned_sink.equals(res.learned_sink)
    assert len(f["learned_sink"]) > 0 and f["summary"]["learned_sink_sink_mass"] is not None
