"""Fixtures of the kv tests: a random-init model the CLI can load by path (no hub, no weights)."""

from __future__ import annotations

import pytest


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
