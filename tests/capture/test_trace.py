"""capture/trace.py: `PromptTrace` save/load round trip of every `ARRAY_FIELDS` entry (optional
ones absent included), the shapes documented in the `PromptTrace` docstring (checked on a real
capture), and the helpers of `PromptTrace`, `CaptureSettings` and `Trace`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sinkscope.capture.engine import capture
from sinkscope.capture.trace import ARRAY_FIELDS, ARRAYS, SCALAR_FIELDS, CaptureSettings, PromptTrace, Trace
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build, random_ids

L, H, KV, T, C, D = 3, 4, 2, 9, 3, 16
OPTIONAL = ("resid_cand", "mlp_cand", "final_norm", "final_cos", "final_cos_centred", "nll", "output_gate", "sink_logit_mass")


def documented_shapes(L, H, KV, T, C, D) -> dict[str, tuple[tuple[int, ...], type]]:
    """The shapes and dtypes of the `PromptTrace` docstring, as data."""
    f32, i32 = np.float32, np.int32
    return {
        "token_ids": ((T,), np.int64),
        "scores": ((L, H, T), f32),
        "n_queries": ((L, T), i32),
        "key_norm": ((L, KV, T), f32),
        "value_norm": ((L, KV, T), f32),
        "resid_norm": ((L, T), f32),
        "embed_norm": ((T,), f32),
        "resid_cos": ((L, C, T), f32),
        "resid_cos_centred": ((L, C, T), f32),
        "mlp_norm": ((L, T), f32),
        "attn_norm": ((L, T), f32),
        "mlp_cos_resid": ((L, C, T), f32),
        "mlp_cos_mlp": ((L, C, T), f32),
        "attn_cos_resid": ((L, C, T), f32),
        "act_max": ((L, T), f32),
        "act_argmax": ((L, T), i32),
        "act_median": ((L,), f32),
        "resid_cand": ((L, C, D), f32),
        "mlp_cand": ((L, C, D), f32),
        "final_norm": ((T,), f32),
        "final_cos": ((C, T), f32),
        "final_cos_centred": ((C, T), f32),
        "nll": ((T - 1,), f32),
        "output_gate": ((L, H, T), f32),
        "sink_logit_mass": ((L, H, T), f32),
    }


def synthetic(with_optional: bool = True, seed: int = 0) -> PromptTrace:
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, (shape, dtype) in documented_shapes(L, H, KV, T, C, D).items():
        if name in OPTIONAL and not with_optional:
            continue
        if np.issubdtype(dtype, np.integer):
            arrays[name] = rng.integers(0, 1000, size=shape).astype(dtype)
        else:
            arrays[name] = rng.standard_normal(shape).astype(dtype)
    arrays["resid_cos"][0, 0, 0] = np.nan  # NaN survives the round trip
    tokens = ["<s>", "Hé", " wörld", "|", "\n", " 中文", "", " x", "."]
    return PromptTrace(text="Hé wörld| 中文 x.\n", tokens=tokens, chat=with_optional, **arrays)


def test_array_fields_are_exactly_the_dataclass_arrays():
    names = [f.name for f in dataclasses.fields(PromptTrace)]
    assert names[:2] == ["text", "tokens"] and tuple(names[2:]) == ARRAY_FIELDS + tuple(SCALAR_FIELDS)
    assert set(documented_shapes(L, H, KV, T, C, D)) == set(ARRAY_FIELDS)


@pytest.mark.parametrize("with_optional", [True, False])
def test_save_load_round_trip(tmp_path, with_optional):
    pt = synthetic(with_optional)
    path = tmp_path / "p.npz"
    pt.save(path)
    back = PromptTrace.load(path)
    assert back.text == pt.text and back.tokens == pt.tokens and back.chat is pt.chat
    for name in ARRAY_FIELDS:
        a, b = getattr(pt, name), getattr(back, name)
        if a is None:
            assert b is None, name
            continue
        assert b.dtype == a.dtype and b.shape == a.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)  # NaN == NaN here
    if not with_optional:
        assert back.nll is None and back.resid_cand is None and back.mlp_cand is None and back.final_norm is None
    with np.load(path, allow_pickle=False) as z:
        stored = set(z.files)
    expected = {n for n in ARRAY_FIELDS + tuple(SCALAR_FIELDS) if getattr(pt, n) is not None} | {"text", "tokens"}
    assert stored == expected
    path.unlink()
    np.savez_compressed(path, **{n: getattr(pt, n) for n in ARRAY_FIELDS if getattr(pt, n) is not None},
                        text=np.array(pt.text), tokens=np.array(pt.tokens))
    assert PromptTrace.load(path).chat is False  # a file written before `chat` existed


def test_prompt_trace_helpers():
    pt = synthetic()
    assert pt.n_tokens == T and pt.n_layers == L
    ls = pt.layer_scores()
    assert ls.shape == (L, T) and ls.dtype == np.float32
    np.testing.assert_allclose(ls[1, 4], pt.scores[1, :, 4].sum() / H, rtol=1e-6)


def test_the_array_registry_is_the_documented_shapes():
    """`ARRAYS` (which drives save/load and the recorder's allocation and fill) says what the
    `PromptTrace` docstring says: every entry's shape and dtype, and its "name [dims]" line."""
    sizes = dict(L=L, H=H, KV=KV, T=T, C=C, D=D)
    doc = PromptTrace.__doc__
    assert {a.name: (a.shape(sizes), np.dtype(a.dtype)) for a in ARRAYS} == {
        k: (shape, np.dtype(dt)) for k, (shape, dt) in documented_shapes(L, H, KV, T, C, D).items()}
    for a in ARRAYS:
        assert f"{a.name} [{', '.join(a.dims)}]" in doc, a.name


def test_capture_settings_and_trace():
    s = CaptureSettings()
    assert s.to_dict() == {"n_candidates": 3, "dtype": "float32", "query_block": None, "with_nll": False,
                           "batch_size": 1, "self_check": None, "attention_layers": None,
                           "attention_path": "auto", "matmul_dtype": "auto", "adapter_row": None}
    s2 = CaptureSettings(n_candidates=5, query_block=64, with_nll=True, batch_size=4, dtype="bfloat16")
    assert s2.to_dict() == {"n_candidates": 5, "dtype": "bfloat16", "query_block": 64, "with_nll": True,
                            "batch_size": 4, "self_check": None, "attention_layers": None,
                            "attention_path": "auto", "matmul_dtype": "auto", "adapter_row": None}
    tr = Trace(prompts=[synthetic()])
    assert tr.settings == CaptureSettings() and tr.timings == {}
    # docs/method.md §11: all layers have attention probabilities unless the settings say otherwise
    assert tr.attention_mask().tolist() == [True] * tr.prompts[0].n_layers
    hybrid = Trace(prompts=tr.prompts, settings=CaptureSettings(attention_layers=[False, True, False]))
    assert hybrid.attention_mask().tolist() == [False, True, False]
    assert Trace(prompts=[]).settings is not tr.settings  # a fresh default each time


def test_a_real_capture_has_the_documented_shapes_and_round_trips(tmp_path):
    """Random-init Llama (GQA: 4 query heads, 2 KV heads, hidden 64), 2 prompts, one shorter than
    the candidate count: every array has the docstring's shape and dtype, and survives save/load."""
    model = build("llama")
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-llama")
    lengths = [11, 2]
    ids = [random_ids(n, seed=i) for i, n in enumerate(lengths)]
    given = CaptureSettings(with_nll=True, batch_size=2, n_candidates=3)
    trace = capture(lm, ["a", "b"], ids, [["t"] * n for n in lengths], given)
    assert [p.text for p in trace.prompts] == ["a", "b"]  # input order, not length order
    assert trace.settings.query_block is not None and trace.timings["capture_s"] > 0
    # the caller's settings are never changed; the trace's are what the capture used and observed
    assert given == CaptureSettings(with_nll=True, batch_size=2, n_candidates=3)
    assert trace.settings.self_check["status"] == "passed" and trace.settings.attention_layers == [True] * 3
    assert trace.settings.adapter_row == "default"  # Llama: verified on the default row
    for pt, n in zip(trace.prompts, lengths):
        for name, (shape, dtype) in documented_shapes(3, 4, 2, n, 3, 64).items():
            arr = getattr(pt, name)
            if name in ("output_gate", "sink_logit_mass"):  # Llama has neither a gate nor sink logits
                assert arr is None, name
                continue
            assert arr.shape == shape and arr.dtype == dtype, (name, arr.shape, arr.dtype)
        assert pt.token_ids.tolist() == ids[lengths.index(n)]
        path = tmp_path / f"{pt.text}.npz"
        pt.save(path)
        back = PromptTrace.load(path)
        for name in ARRAY_FIELDS:
            if getattr(pt, name) is None:
                assert getattr(back, name) is None, name
                continue
            np.testing.assert_array_equal(getattr(pt, name), getattr(back, name), err_msg=name)
    short = trace.prompts[1]
    assert np.isnan(short.resid_cos[:, 2:]).all() and np.isfinite(short.resid_cos[:, :2]).all()  # C > T rows


def test_region_bounds_round_trip(tmp_path):
    """n_prompt_tokens / n_template_tokens (docs/method.md §3 regions) are saved with the arrays;
    a file without them loads with None / 0."""
    pt = synthetic(False)
    pt.n_prompt_tokens, pt.n_template_tokens = 5, 2
    pt.save(tmp_path / "a.npz")
    back = PromptTrace.load(tmp_path / "a.npz")
    assert (back.n_prompt_tokens, back.n_template_tokens) == (5, 2)
    pt.n_prompt_tokens, pt.n_template_tokens = None, 0
    pt.save(tmp_path / "b.npz")
    back = PromptTrace.load(tmp_path / "b.npz")
    assert (back.n_prompt_tokens, back.n_template_tokens) == (None, 0)
