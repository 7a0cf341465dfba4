"""capture/selfcheck.py: the run-time check of h^l - h^{l-1} = a^l + m^l on the first batch.

Every family of the table passes it with a residue of a few float32 roundings; a planted wrong
adapter row (a post-MLP norm the row does not name, a module path to the wrong submodule, a
module that does not exist, a branch scale the row does not know) is caught: the formation
columns are disabled (NaN), the outcome is recorded in the settings (so the manifest) and a
warning names the family and what failed; the attention scores are untouched.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from sinkscope.capture import adapters
from sinkscope.capture.adapters import Adapter, adapter_for
from sinkscope.capture.engine import capture
from sinkscope.capture.selfcheck import FORMATION_FIELDS, tolerance
from sinkscope.capture.trace import CaptureSettings
from sinkscope.core.errors import UnsupportedArchitectureError
from tests.capture.archs import random_ids
from tests.capture.test_adapters import CAUSAL, _lm, _model

LENGTHS = (19, 12)


def _capture(lm, edits=None, self_check=True):
    ids = [random_ids(n, seed=i) for i, n in enumerate(LENGTHS)]
    settings = CaptureSettings(query_block=5, batch_size=1)  # two batches: the check runs on the first only
    return capture(lm, ["a", "b"], ids, [["t"] * n for n in LENGTHS], settings, edits=edits, self_check=self_check)


def test_tolerance_per_dtype():
    assert tolerance(torch.float32) == pytest.approx(32 * 2**-24)
    assert tolerance(torch.float16) == pytest.approx(32 * 2**-11)
    assert tolerance(torch.bfloat16) == 2e-2


@pytest.mark.parametrize("model_type", CAUSAL)
def test_every_family_passes(model_type):
    trace = _capture(_lm(_model(model_type)))
    check = trace.settings.self_check
    assert check["status"] == "passed", check
    assert check["family"] == model_type and check["max_residue"] < check["tolerance"] == tolerance(torch.float32)
    assert check == trace.settings.to_dict()["self_check"]
    assert all(np.isfinite(getattr(p, f)).all() for p in trace.prompts for f in ("mlp_norm", "attn_norm"))


def test_post_ln_encoder_is_skipped():
    check = _capture(_lm(_model("bert"))).settings.self_check
    assert check["status"] == "skipped" and "post-LN" in check["message"]


def test_switched_off():
    check = _capture(_lm(_model("llama")), self_check=False).settings.self_check
    assert check["status"] == "skipped" and "off" in check["message"]


PLANTED = {
    # family: (wrong row, what the message must say)
    "gemma2": (Adapter(attn_output=("post_attention_layernorm",)), "relative residue"),  # post-MLP norm not named
    "llama": (Adapter(mlp_output=("mlp.up_proj",)), "not the residual's shape"),  # the MLP's inner projection
    "qwen2": (Adapter(attn_output=("self_attn.q_proj",)), "relative residue"),  # wrong attention submodule
    "olmo2": (Adapter(attn_output=("post_attention_layernorm",)), "relative residue"),  # post-MLP norm not named
    # GLM-4 before the table knew it: h += post_mlp_layernorm(mlp(.)), but the row reads `mlp`
    "glm4": (Adapter(attn_output=("post_self_attn_layernorm",)), "relative residue"),
    "phi3": (Adapter(mlp_output=("no_such_mlp",)), "no MLP output module"),
    "mistral": (Adapter(attn_output=("no_such_attn",)), "no attention output module"),
}


@pytest.mark.parametrize("model_type", sorted(PLANTED))
def test_wrong_adapter_row_is_caught(model_type, monkeypatch):
    lm = _lm(_model(model_type))
    good = _capture(lm)
    row, says = PLANTED[model_type]
    monkeypatch.setitem(adapters.ADAPTERS, model_type, row)
    assert adapter_for(model_type) is row
    with pytest.warns(RuntimeWarning, match=f"self-check failed: {model_type}: .*{says}"):
        bad = _capture(lm)
    check = bad.settings.self_check
    assert check["status"] == "failed" and check["family"] == model_type and says in check["message"]
    if check["max_residue"] is not None:
        assert check["max_residue"] > 100 * check["tolerance"]
    for p, q in zip(bad.prompts, good.prompts):
        for name in FORMATION_FIELDS:
            assert np.isnan(getattr(p, name)).all(), name  # disabled, never silently wrong
        assert (p.scores == q.scores).all() and (p.resid_norm == q.resid_norm).all()
    with pytest.raises(UnsupportedArchitectureError, match="self-check failed|no additive MLP output"):
        _capture(lm, edits={0: lambda layer, m: m * 0})


def test_granite_without_its_branch_scale_is_caught(monkeypatch):
    """Before the table knew `residual_multiplier`, granite's m^l was read before the scaling:
    the check refuses exactly that row."""
    lm = _lm(_model("granite", residual_multiplier=0.25))
    assert _capture(lm).settings.self_check["status"] == "passed"
    monkeypatch.setitem(adapters.ADAPTERS, "granite", dataclasses.replace(adapters.ADAPTERS["granite"], branch_scale_attr=None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check = _capture(lm).settings.self_check
    assert check["status"] == "failed" and check["max_residue"] > 0.1, check
    assert any("granite" in str(w.message) for w in caught)
