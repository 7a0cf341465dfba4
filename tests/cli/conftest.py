"""Fixtures of the CLI tests: a random-init model saved as a local folder (the CLI loads models by
name or path), with SmolLM2's tokenizer so that real text tokenises."""

from __future__ import annotations

import pytest


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
