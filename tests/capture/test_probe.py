"""`capture.probe`: MLP inputs / outputs at one block and the block's MLP alone (docs/method.md §9),
on random-init models of several families, against reference forward hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkscope.capture.engine import find_blocks, mlp_modules
from sinkscope.capture.probe import LayerMlp, gather_mlp_io
from sinkscope.core.errors import InputError, UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build, random_ids

# The norm module whose OUTPUT is the MLP input, per family (an independent reference for x).
MLP_INPUT_NORM = {
    "llama": "post_attention_layernorm",
    "gemma3_text": "pre_feedforward_layernorm",
    "gpt_neox": "post_attention_layernorm",
}
FAMILIES = ["llama", "gemma3_text", "gpt_neox"]
LAYER = 1
PROMPTS = [random_ids(21, 1), random_ids(13, 2)]
POSITIONS = [[0, 5, 20], [3, 12]]


def _lm(model_type: str, seed: int = 0) -> LoadedModel:
    return LoadedModel.from_pair(build(model_type, seed=seed), ToyTokenizer(), ref=f"random-{model_type}")


def _reference(lm: LoadedModel, ids: list[int], positions: list[int], norm_name: str):
    """x from the norm module's output hook, m from the MLP output module's hook, full forward."""
    block = find_blocks(lm)[LAYER]
    store: dict[str, torch.Tensor] = {}
    out_mod = mlp_modules(lm, "output")[LAYER]
    norm = getattr(block, norm_name)
    hs = [
        norm.register_forward_hook(lambda m, a, o: store.__setitem__("x", o)),
        out_mod.register_forward_hook(lambda m, a, o: store.__setitem__("m", o[0] if isinstance(o, tuple) else o)),
    ]
    try:
        with torch.no_grad():
            lm.model(torch.tensor([ids]))
    finally:
        for h in hs:
            h.remove()
    return store["x"][0, positions].numpy(), store["m"][0, positions].numpy()


@pytest.mark.parametrize("model_type", FAMILIES)
def test_gather_matches_reference_hooks(model_type):
    lm = _lm(model_type)
    got = gather_mlp_io(lm, PROMPTS, LAYER, POSITIONS)
    assert got.x.shape == (5, lm.info.hidden_size) and got.m.shape == got.x.shape
    assert got.x.dtype == np.float32
    assert got.prompt.tolist() == [0, 0, 0, 1, 1]
    assert got.position.tolist() == [0, 5, 20, 3, 12]
    assert got.composes
    row = 0
    for ids, pos in zip(PROMPTS, POSITIONS):
        x_ref, m_ref = _reference(lm, ids, pos, MLP_INPUT_NORM[model_type])
        np.testing.assert_allclose(got.x[row : row + len(pos)], x_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.m[row : row + len(pos)], m_ref, rtol=1e-5, atol=1e-6)
        row += len(pos)


@pytest.mark.parametrize("model_type", FAMILIES + ["olmo2"])
def test_layer_mlp_alone_reproduces_the_block_contribution(model_type):
    lm = _lm(model_type)
    got = gather_mlp_io(lm, PROMPTS, LAYER, POSITIONS)
    f = LayerMlp(lm, LAYER)
    y = f(got.x)
    assert y.shape == got.m.shape and y.dtype == np.float32
    scale = float(np.abs(got.m).max())
    np.testing.assert_allclose(y, got.m, atol=1e-5 * max(scale, 1.0))
    # one vector, torch input, and chunking give the same
    np.testing.assert_allclose(f(got.x[2]), y[2], atol=1e-5 * max(scale, 1.0))
    np.testing.assert_allclose(LayerMlp(lm, LAYER, chunk=2)(torch.from_numpy(got.x)), y, atol=1e-5 * max(scale, 1.0))


def test_gemma_mlp_alone_includes_the_post_norm():
    lm = _lm("gemma3_text")
    f = LayerMlp(lm, LAYER)
    block = find_blocks(lm)[LAYER]
    assert f.mod_in is block.mlp and f.mod_out is block.post_feedforward_layernorm
    x = np.random.default_rng(0).normal(size=(4, lm.info.hidden_size)).astype(np.float32)
    with torch.no_grad():
        ref = block.post_feedforward_layernorm(block.mlp(torch.from_numpy(x)[None]))[0].numpy()
    np.testing.assert_allclose(f(x), ref, rtol=1e-5, atol=1e-6)


def test_forward_stops_after_the_layer():
    lm = _lm("llama")
    blocks = find_blocks(lm)
    calls = {"next": 0, "this": 0}
    h1 = blocks[LAYER + 1].register_forward_pre_hook(lambda m, a: calls.__setitem__("next", calls["next"] + 1))
    h2 = blocks[LAYER].register_forward_pre_hook(lambda m, a: calls.__setitem__("this", calls["this"] + 1))
    try:
        gather_mlp_io(lm, PROMPTS, LAYER, POSITIONS)
    finally:
        h1.remove()
        h2.remove()
    assert calls == {"this": 2, "next": 0}
    # and the model still runs normally afterwards (no hook left behind)
    with torch.no_grad():
        out = lm.model(torch.tensor([PROMPTS[0]]))
    assert torch.isfinite(out.logits).all()


def test_empty_positions_skip_the_prompt():
    lm = _lm("llama")
    got = gather_mlp_io(lm, PROMPTS, LAYER, [[], [4]])
    assert got.prompt.tolist() == [1] and got.position.tolist() == [4]
    none = gather_mlp_io(lm, PROMPTS, LAYER, [[], []])
    assert none.x.shape == (0, lm.info.hidden_size)


def test_errors():
    lm = _lm("llama")
    with pytest.raises(InputError, match="out of range"):
        gather_mlp_io(lm, PROMPTS, lm.info.n_layers, POSITIONS)
    with pytest.raises(InputError, match="out of range"):
        LayerMlp(lm, -1)
    with pytest.raises(InputError, match="outside"):
        gather_mlp_io(lm, PROMPTS, LAYER, [[0, 21], [1]])
    with pytest.raises(InputError, match="position lists"):
        gather_mlp_io(lm, PROMPTS, LAYER, [[0]])
    bert = LoadedModel.from_pair(build("bert"), ToyTokenizer(), ref="random-bert")
    with pytest.raises(UnsupportedArchitectureError, match="residual stream"):
        LayerMlp(bert, LAYER)
