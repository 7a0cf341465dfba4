"""capture/engine.py, accelerator readiness (checked on CPU): query blocks sized from the memory of
the device each layer runs on, per-layer statistics kept where they are computed and moved to the
host once per batch (`Recorder.finish`), the finiteness check once per batch, layers on several
devices, and bfloat16 with float32 accumulation in either matmul dtype (`twopass.compute_dtype`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkscope.capture import engine, twopass
from sinkscope.capture.device import choose_query_block, free_memory
from sinkscope.capture.engine import capture
from sinkscope.capture.trace import CaptureSettings
from sinkscope.core.errors import NumericalError
from sinkscope.models.base import LoadedModel
from tests.capture.archs import ToyTokenizer, build, random_ids


def _lm(model) -> LoadedModel:
    return LoadedModel.from_pair(model, ToyTokenizer(), ref=f"random-{model.config.model_type}")


def _capture(lm, lengths, **kw):
    ids = [random_ids(n, seed=i) for i, n in enumerate(lengths)]
    settings = CaptureSettings(**{"batch_size": len(lengths), "query_block": 7, **kw})
    return capture(lm, ["p"] * len(ids), ids, [["t"] * len(x) for x in ids], settings)


def test_query_block_from_accelerator_memory(monkeypatch):
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (64 << 30, 80 << 30), raising=False)
    assert free_memory(cuda) == 64 << 30
    # 1/32 of 64 GiB = 2 GiB for [1, 32, rows, 32768] float32 slices: 2 GiB // 4 MiB = 512 rows
    assert choose_query_block(1, 32, 32768, device=cuda) == 512
    assert choose_query_block(1, 1, 16, device=cuda) == 8192  # at most 8192 rows
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1 << 20, 80 << 30), raising=False)
    assert choose_query_block(1, 32, 32768, device=cuda) == 16  # at least 16 rows
    # host RAM decides for cpu and for a device type that cannot report its memory
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"available": 2 << 30})())
    assert free_memory(torch.device("cpu")) == free_memory(torch.device("meta")) == 2 << 30
    assert choose_query_block(1, 9, 16384, device=torch.device("cpu")) == 16  # the CPU rule: 8 MB slices at most


def test_recorder_sizes_blocks_from_the_device_the_running_block_computes_on(monkeypatch):
    seen: list = []
    real = engine.choose_query_block

    def spy(batch, heads, n_keys, override=None, device=None):
        seen.append(device)
        return real(batch, heads, n_keys, override, device)

    monkeypatch.setattr(engine, "choose_query_block", spy)
    model = build("llama")
    _capture(_lm(model), [20], query_block=None)
    assert len(seen) == model.config.num_hidden_layers
    assert seen == [torch.device("cpu")] * len(seen)


def test_statistics_reach_the_host_once_per_batch(monkeypatch):
    """The accelerator rule, exercised on CPU (where layers are otherwise finished at block end)."""
    monkeypatch.setattr(engine.Recorder, "host_at_block_end", ())
    calls: list[int] = []
    real = engine.to_host

    def spy(parts):
        calls.append(len(parts))
        return real(parts)

    monkeypatch.setattr(engine, "to_host", spy)
    model = build("llama")
    L = model.config.num_hidden_layers
    _capture(_lm(model), [23, 40, 31])
    fields = len(calls)
    assert max(calls) == L  # one transfer per field, all layers at once; not per layer and row
    calls.clear()
    _capture(_lm(model), [23, 40, 31, 17, 9])
    assert len(calls) == fields  # independent of the number of rows


@pytest.mark.parametrize("at_block_end", [(), ("cpu",)])
def test_non_finite_block_output_is_named(monkeypatch, at_block_end):
    monkeypatch.setattr(engine.Recorder, "host_at_block_end", at_block_end)  # once per batch / per block
    model = build("llama")
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight.fill_(float("nan"))
    with pytest.raises(NumericalError, match="block 1 "):
        _capture(_lm(model), [12, 9])


@pytest.mark.parametrize("at_block_end", [(), ("cpu",)])
def test_padded_batch_statistics_equal_single_prompt_runs(monkeypatch, at_block_end):
    """Batched reductions on the padded tensor (masked mean-centring, per-row medians) give each
    prompt exactly what it gets alone, whether moved to the host per batch or per block."""
    monkeypatch.setattr(engine.Recorder, "host_at_block_end", at_block_end)
    model = build("llama")
    lm = _lm(model)
    lengths = [23, 40, 31]
    batch = _capture(lm, lengths, n_candidates=3)
    for i, n in enumerate(lengths):
        ids = [random_ids(n, seed=i)]
        solo = capture(lm, ["p"], ids, [["t"] * n], CaptureSettings(batch_size=1, query_block=7, n_candidates=3))
        a, b = batch.prompts[i], solo.prompts[0]
        for name in ("resid_norm", "resid_cos", "resid_cos_centred", "act_max", "act_median", "mlp_cos_mlp",
                     "attn_norm", "key_norm", "scores"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-4, atol=1e-5, err_msg=name)
        assert (a.act_argmax == b.act_argmax).all() and (a.n_queries == b.n_queries).all()


@pytest.mark.parametrize("matmul", ["float32", "model"])
def test_bfloat16_accumulates_in_float32(matmul):
    m32 = build("llama")
    ref = _capture(_lm(m32), [40])
    m16 = build("llama").to(torch.bfloat16)
    with twopass.attention_path(matmul_dtype=matmul):
        got = _capture(_lm(m16), [40])
    s16, s32 = got.prompts[0].scores, ref.prompts[0].scores
    assert s16.dtype == np.float32
    assert np.abs(s16 - s32).max() < 0.05
    # column sums are accumulated in float32: every real softmax row adds exactly 1
    nq = got.prompts[0].n_queries
    total = np.nansum(s16 * nq[:, None, :], axis=-1)  # [L, H] = number of real queries
    np.testing.assert_allclose(total, 40.0, rtol=1e-5)


def test_matmul_dtype_and_path_are_capture_settings_recorded_in_the_trace():
    """The matmul dtype and attention path are `CaptureSettings` fields: given there they run (the same
    numbers as the `twopass.attention_path` block), and "auto" records the value in force."""
    lm = _lm(build("llama").to(torch.bfloat16))
    ids = [random_ids(40, seed=0)]
    with twopass.attention_path(matmul_dtype="float32"):
        ctx = capture(lm, ["p"], ids, [["t"] * 40], CaptureSettings(query_block=7))
    via = capture(lm, ["p"], ids, [["t"] * 40], CaptureSettings(query_block=7, matmul_dtype="float32", attention_path="single"))
    plain = capture(lm, ["p"], ids, [["t"] * 40], CaptureSettings(query_block=7))
    assert ctx.settings.matmul_dtype == via.settings.matmul_dtype == "float32" and plain.settings.matmul_dtype == "auto"
    assert via.settings.attention_path == "single" and plain.settings.attention_path == "auto"
    assert np.array_equal(ctx.prompts[0].scores, via.prompts[0].scores)
    assert not np.array_equal(plain.prompts[0].scores, via.prompts[0].scores)  # bfloat16 products differ


def test_statistics_kept_until_the_batch_ends_do_not_pin_block_outputs(monkeypatch):
    """What `Recorder` keeps per layer until `finish` owns its storage: no view of a [B, T, D] tensor."""
    monkeypatch.setattr(engine.Recorder, "host_at_block_end", ())
    kept: list[dict] = []
    real = engine.Recorder.finish

    def spy(self):
        kept.extend(self._dev)
        return real(self)

    monkeypatch.setattr(engine.Recorder, "finish", spy)
    model = build("llama")
    T, D = 40, model.config.hidden_size
    _capture(_lm(model), [T, 31])
    assert kept
    for stats in kept:
        for name, t in stats.items():
            assert t.untyped_storage().nbytes() < 2 * T * D * 4, name  # a pinned block output is 2*T*D floats
