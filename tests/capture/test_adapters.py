"""capture/adapters.py: the table of architecture differences, checked on random-init models.

Every row names modules (and config attributes) that exist on a model of its family, and the
module it names as the MLP output is the one whose output the block adds to the residual stream:
h^l - h^{l-1} - m^l is then exactly the attention contribution a^l (docs/method.md "Notation").
Unknown families get the default row.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from sinkscope.capture.adapters import ADAPTERS, DEFAULT, DEFAULT_FAMILIES, Adapter, adapter_for
from sinkscope.capture.engine import base_model_of, capture, find_blocks, mlp_modules
from sinkscope.capture.trace import CaptureSettings
from sinkscope.core.errors import UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import (
    ARCHS,
    GQA,
    SMALL,
    ToyTokenizer,
    build,
    build_gemma3_composite,
    mlp_rows,
    random_ids,
)
from tests.capture.test_hybrid import HYBRIDS  # hybrid rows: checked in test_hybrid.py

OWN_TESTS = {"zamba2", "minimax", "qwen3_5", "qwen3_5_moe"}  # rows with their own tests in test_hybrid.py
# Rows that set only `blocks` (families of the docs/ARCHITECTURES.md survey whose blocks are not at `layers`).
CONTAINER_ONLY = sorted(k for k, row in ADAPTERS.items() if row == dataclasses.replace(DEFAULT, blocks=row.blocks)
                        and row.blocks != DEFAULT.blocks and k not in ARCHS)

# Families of the table that `archs.ARCHS` does not build (model_type -> (overrides, kind)).
EXTRA: dict[str, tuple[dict, str]] = {
    "roberta": ({**SMALL, "intermediate_size": 128}, "encoder"),
    "cohere": ({**SMALL, **GQA, "intermediate_size": 128, "logit_scale": 0.5}, "causal"),
    "granite": ({**SMALL, **GQA, "intermediate_size": 128, "logits_scaling": 4.0}, "causal"),
}
# Blocks whose attention output is normed before it is added (post-norm-added residual): the norm.
POST_ATTN_NORM = {
    **dict.fromkeys(("gemma2", "gemma3", "gemma3_text", "olmo2", "olmo3", "exaone4"), "post_attention_layernorm"),
    "glm4": "post_self_attn_layernorm",
}


def _model(model_type: str, **extra):
    if model_type == "gemma3":
        return build_gemma3_composite()
    if model_type in ARCHS and not extra:
        return build(model_type)
    overrides, kind = EXTRA.get(model_type) or ARCHS[model_type]
    cfg = AutoConfig.for_model(model_type, **{**overrides, **extra})
    torch.manual_seed(0)
    cls = AutoModelForCausalLM if kind == "causal" else AutoModel
    return cls.from_config(cfg, attn_implementation="eager").eval()


def _lm(model) -> LoadedModel:
    return LoadedModel.from_pair(model, ToyTokenizer(), ref=f"random-{model.config.model_type}")


def _get(block, dotted: str):
    mod = block
    for part in dotted.split("."):
        mod = getattr(mod, part, None)
    return mod


def test_every_table_row_is_built_here():
    # zamba2, minimax, the Qwen3.5 composites: their own tests in test_hybrid.py; container-only rows below
    assert set(ADAPTERS) <= set(ARCHS) | set(EXTRA) | {"gemma3"} | set(HYBRIDS) | OWN_TESTS | set(CONTAINER_ONLY)
    assert not DEFAULT_FAMILIES & set(ADAPTERS)
    assert set(ARCHS) <= set(ADAPTERS) | DEFAULT_FAMILIES  # every tested family is known: no warning



@pytest.mark.parametrize("model_type", sorted(set(ARCHS) | set(EXTRA) | {"gemma3"}))
def test_the_row_names_the_block_container(model_type):
    """`Adapter.blocks` is the ModuleList of the L blocks, the one the model runs (no guess)."""
    lm = _lm(_model(model_type))
    blocks = find_blocks(lm)
    assert isinstance(blocks, torch.nn.ModuleList) and len(blocks) == lm.info.n_layers
    seen = []
    with torch.no_grad():
        hooks = [b.register_forward_pre_hook(lambda m, a, i=i: seen.append(i)) for i, b in enumerate(blocks)]
        try:
            base_model_of(lm.model)(input_ids=torch.tensor([random_ids(6, seed=0)]))
        finally:
            for h in hooks:
                h.remove()
    assert seen == list(range(lm.info.n_layers))


@pytest.mark.parametrize("model_type", CONTAINER_ONLY)
def test_container_only_rows_name_the_blocks_of_their_family(model_type):
    """Built on the meta device from the family's default config (no weights): the row's container is
    the ModuleList of its L blocks."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type))
    lm = _lm(model)
    assert lm.info.model_type == model_type and len(find_blocks(lm)) == lm.info.n_layers


def test_a_wrong_container_is_refused_by_path(monkeypatch):
    lm = _lm(build("gpt2"))
    monkeypatch.setitem(ADAPTERS, "gpt2", dataclasses.replace(ADAPTERS["gpt2"], blocks="layers"))
    with pytest.raises(UnsupportedArchitectureError, match=r"`layers` of GPT2Model is nothing.*\['h'\]"):
        find_blocks(lm)


@pytest.mark.parametrize("model_type", sorted(set(ADAPTERS) - set(HYBRIDS) - OWN_TESTS - set(CONTAINER_ONLY)))
def test_table_rows_name_modules_and_attributes_that_exist(model_type):
    """Each row of the table: a module list it sets itself names exactly its family's module, so
    every name in it is a module of every block; a list it keeps from `DEFAULT` (a list of
    fallbacks) has one name that is. Its logit attributes are attributes of the config."""
    row = ADAPTERS[model_type]
    assert adapter_for(model_type) is row
    lm = _lm(_model(model_type))
    blocks = find_blocks(lm)
    for block in blocks:
        pairs = ((row.mlp_output, DEFAULT.mlp_output), (row.mlp_input, DEFAULT.mlp_input), (row.attn_output, DEFAULT.attn_output))
        for names, default in pairs:
            found = [n for n in names if isinstance(_get(block, n), torch.nn.Module)]
            if names == default:
                assert len(found) >= 1, (model_type, names)
            else:
                assert found == list(names), (model_type, names)
    text_cfg = lm.model.config.get_text_config()
    if row.logit_scale_attr is not None:
        assert isinstance(getattr(text_cfg, row.logit_scale_attr), float), row.logit_scale_attr
    if row.branch_scale_attr is not None:
        assert isinstance(getattr(text_cfg, row.branch_scale_attr), float), row.branch_scale_attr
    if model_type in ("gemma2",):
        assert getattr(text_cfg, row.logit_softcap_attr) == 30.0
    if row.residual == "post":
        assert row.mlp_output == () and all(m is None for m in mlp_modules(lm))
    else:
        assert all(m is _get(b, row.mlp_output[0]) for m, b in zip(mlp_modules(lm), blocks))


@pytest.mark.parametrize("model_type", sorted(t for t in ARCHS if t not in ADAPTERS))
def test_default_row_finds_an_mlp_on_every_other_family(model_type):
    lm = _lm(build(model_type))
    assert adapter_for(model_type) is DEFAULT
    outs, ins = mlp_modules(lm, "output"), mlp_modules(lm, "input")
    assert len(outs) == lm.info.n_layers and all(isinstance(m, torch.nn.Module) for m in outs)
    assert outs == ins  # pre-norm families: the MLP reads the normed residual and its output is m^l


def _contributions(model, lm, ids):
    """Per block (h_in, h_out, m = output of the adapter's MLP module, a = output of the module
    that adds the attention contribution)."""
    blocks = find_blocks(lm)
    mlps = mlp_modules(lm)
    attn_mods = [
        getattr(b, POST_ATTN_NORM[lm.info.model_type])
        if lm.info.model_type in POST_ATTN_NORM
        else next(c for c in b.children() if type(c).__name__.endswith("Attention"))
        for b in blocks
    ]
    seen: dict[tuple[str, int], torch.Tensor] = {}

    def keep(key):
        def hook(mod, args, kwargs, out):
            seen[key] = out[0] if isinstance(out, tuple) else out
            if key[0] == "block":
                seen[("in", key[1])] = args[0] if args else kwargs["hidden_states"]

        return hook

    handles = []
    for i in range(len(blocks)):
        for name, mod in (("block", blocks[i]), ("mlp", mlps[i]), ("attn", attn_mods[i])):
            handles.append(mod.register_forward_hook(keep((name, i)), with_kwargs=True))
    try:
        with torch.no_grad():
            base_model_of(model)(torch.tensor([ids]))
    finally:
        for h in handles:
            h.remove()
    return [(seen["in", i][0], seen["block", i][0], mlp_rows(seen["mlp", i])[0], seen["attn", i][0]) for i in range(len(blocks))]


CAUSAL = sorted([t for t, (_, kind) in ARCHS.items() if kind == "causal"] + ["cohere", "granite", "gemma3"])


@pytest.mark.parametrize("model_type", CAUSAL)
def test_mlp_output_is_what_the_block_adds(model_type):
    """h^l - h^{l-1} - m^l equals the attention module's contribution, block by block: the module
    the adapter names really is the MLP's additive contribution (a wrong one, e.g. Gemma's `mlp`
    instead of `post_feedforward_layernorm`, leaves a large residue)."""
    model = _model(model_type)
    lm = _lm(model)
    for layer, (hin, hout, m, a) in enumerate(_contributions(model, lm, random_ids(19, seed=7))):
        err = (hout - hin - m - a).abs().max().item()
        assert err <= 1e-4 * max(1.0, hout.abs().max().item()), (model_type, layer, err)


def test_granite_residual_multiplier():
    """Granite scales both residual branches: h = h + r * attn(...), h = h + r * mlp(...). The row's
    `branch_scale_attr` makes m^l and a^l the scaled branches, so the capture is exact."""
    r = 0.25
    model = _model("granite", residual_multiplier=r)
    lm = _lm(model)
    assert getattr(model.config, adapter_for("granite").branch_scale_attr) == r
    ids = random_ids(19, seed=7)
    pt = capture(lm, ["p"], [ids], [["t"] * 19], CaptureSettings(query_block=5)).prompts[0]
    for layer, (hin, hout, m, a) in enumerate(_contributions(model, lm, ids)):
        scale = max(1.0, hout.abs().max().item())
        assert (hout - hin - r * m - r * a).abs().max().item() <= 1e-4 * scale
        np.testing.assert_allclose(pt.mlp_norm[layer], (r * m).norm(dim=-1).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pt.attn_norm[layer], (r * a).norm(dim=-1).numpy(), rtol=1e-4, atol=1e-5)


def test_unknown_family_uses_the_default_row():
    """A model_type the table does not know gets `DEFAULT` (mlp / feed_forward / ... names), so a
    Llama-like fork captures exactly like Llama; but it is said: a warning naming the model_type, and
    the capture's settings (the manifest) record that the default row was used."""
    with pytest.warns(RuntimeWarning, match="no adapter row for model_type 'no-such-family'"):
        assert adapter_for("no-such-family") is DEFAULT == Adapter()
    assert DEFAULT.residual == "pre" and DEFAULT.mlp_output[0] == "mlp"
    model = build("llama")
    lm = _lm(model)
    fork = dataclasses.replace(lm, info=dataclasses.replace(lm.info, model_type="my-llama-fork"))
    ids = [random_ids(16, seed=1)]
    a = capture(lm, ["p"], ids, [["t"] * 16], CaptureSettings(query_block=5))
    with pytest.warns(RuntimeWarning, match="'my-llama-fork'"):
        b = capture(fork, ["p"], ids, [["t"] * 16], CaptureSettings(query_block=5))
    assert a.settings.adapter_row == "default" and b.settings.adapter_row == "default (unknown model_type)"
    a, b = a.prompts[0], b.prompts[0]
    assert (a.scores == b.scores).all() and (a.mlp_norm == b.mlp_norm).all()
    assert np.isfinite(b.mlp_norm).all() and np.isfinite(b.attn_norm).all()
