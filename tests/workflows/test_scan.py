"""scan end to end on the real default model: exactness against eager attention, the primary sink,
the structure docs/method.md describes, persistence and atomic writes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

import sinkscope
from sinkscope.core.errors import InputError
from sinkscope.workflows.scan import ScanResult

pytestmark = pytest.mark.realmodel

TEXTS = [
    "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre and the Seine.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # prints 5\n",
    "Tom has 3 apples and buys 4 more, so he has 3 + 4 = 7 apples. Then he gives 2 away: 7 - 2 = 5.",
]


def _eager_scores(lm, ids):
    model = lm.model
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model.base_model(torch.tensor([ids]), output_attentions=True)
    finally:
        model.set_attn_implementation(before)
    T = len(ids)
    nq = torch.arange(T, 0, -1, dtype=torch.float32)
    return np.stack([(a[0].sum(dim=1) / nq).numpy() for a in out.attentions])


def test_scores_equal_eager_on_real_weights(smollm2):
    res = sinkscope.scan(smollm2, TEXTS, batch_size=2)
    for i in range(len(TEXTS)):
        ids = res.prompts[i].token_ids.tolist()
        ref = _eager_scores(smollm2, ids)
        got = res.scores(i)
        assert got.shape == (30, 9, len(ids))
        assert np.abs(ref - got).max() <= 1e-4


def test_first_position_is_the_primary_sink(smollm2, long_text):
    res = sinkscope.scan(smollm2, TEXTS + [long_text])
    for det in res.findings.detections:
        assert det.p == 0
    prim = res.sinks[res.sinks["is_primary_position"]]
    assert (prim["position"] == 0).all() and (prim["kind"] == "primary").all()
    # the first token draws a large mass after its norm jump (measured on SmolLM2: 0.44-0.51 mean over layers 2..end)
    late = res.layers[res.layers["layer"] >= 12].groupby("prompt")["primary_score"].mean()
    assert (late > 0.2).all()


def test_secondary_sinks_formed_by_an_aligned_mlp(smollm2, long_text):
    """Measured on SmolLM2: early ' the' / space tokens become sink-like, written by an MLP whose output has
    |cos| > 0.9 with the primary's state, and a larger MLP norm gives a larger score."""
    res = sinkscope.scan(smollm2, long_text)
    sec = res.sinks[res.sinks["kind"] == "secondary"]
    assert len(sec) >= 3
    assert (sec["mlp_cos_primary"].abs() > 0.9).mean() >= 0.8
    assert sec["birth"].median() < 15  # born before the primary's norm jump (block 11)
    law = res.norm_law()
    assert law.n == len(sec)
    assert law.score.spearman > 0.5


def test_paper_mode_is_recorded_and_differs(smollm2, long_text):
    gen = sinkscope.scan(smollm2, long_text)
    pap = gen.reanalyze(mode="paper")
    assert pap.manifest["thresholds"]["mode"] == "paper"
    # docs/method.md pitfall: on SmolLM2 the sink-like tokens live before the window, so paper mode finds none
    assert (pap.sinks["kind"] == "secondary").sum() < (gen.sinks["kind"] == "secondary").sum()


def test_save_load_roundtrip(smollm2, tmp_path):
    res = sinkscope.scan(smollm2, TEXTS[:2])
    out = res.save(tmp_path / "run")
    assert {p.name for p in out.iterdir()} >= {"manifest.json", "sinks.parquet", "layers.parquet", "prompts", "findings.json"}
    back = ScanResult.load(out)
    np.testing.assert_array_equal(back.scores(1), res.scores(1))
    assert back.tokens(0) == res.tokens(0)
    pd.testing.assert_frame_equal(back.sinks, res.sinks)
    assert back.manifest["thresholds"] == res.manifest["thresholds"]
    assert back.manifest["model"] == res.manifest["model"]
    assert re.fullmatch(r"[0-9a-f]{64}", back.manifest["model"]["source_hash"])  # a sha256
    with pytest.raises(InputError, match="already exists"):
        res.save(out)


def test_interrupted_save_leaves_nothing(smollm2, tmp_path, monkeypatch):
    res = sinkscope.scan(smollm2, TEXTS[:1])

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(KeyboardInterrupt):
        res.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_same_input_gives_identical_tables(smollm2):
    a = sinkscope.scan(smollm2, TEXTS[:2])
    b = sinkscope.scan(smollm2, TEXTS[:2])
    pd.testing.assert_frame_equal(a.sinks, b.sinks)
    pd.testing.assert_frame_equal(a.layers, b.layers)


def test_bad_inputs(smollm2):
    with pytest.raises(InputError, match=r"^prompt 0 \(text 0\) is empty; give a non-empty text\.$"):
        sinkscope.scan(smollm2, ["   "])
    with pytest.raises(InputError, match=r"prompt 0 \(text 0\) is 9001 tokens long, over the 8192-token context of "
                       r"'smollm2-135m'"):
        sinkscope.scan(smollm2, ["word " * 9000])


def test_generate_appends_a_continuation(smollm2):
    res = sinkscope.scan(smollm2, "The capital of France is", generate=8)
    m = res.manifest["prompts"][0]
    assert m["n_tokens"] == m["n_prompt_tokens"] + 8
    text, ids = res.prompts[0].text, res.prompts[0].token_ids.tolist()
    assert text.startswith("The capital of France is Paris")  # the model's greedy answer
    assert text == smollm2.tokenizer.decode(ids) and ids[:5] == smollm2.tokenizer("The capital of France is")["input_ids"]
    with torch.no_grad():  # greedy: each generated token is the argmax after its prefix
        logits = smollm2.model(torch.tensor([ids])).logits[0]
    assert ids[5:] == logits[4:-1].argmax(dim=-1).tolist()


def test_chat_template_is_applied(smollm2):
    res = sinkscope.scan(smollm2, "Hello there, how are you today?", chat=True)
    tok = smollm2.tokenizer
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "Hello there, how are you today?"}], add_generation_prompt=True, tokenize=False
    )
    assert "".join(res.tokens(0)) == rendered
    assert rendered.endswith("<|im_start|>user\nHello there, how are you today?<|im_end|>\n<|im_start|>assistant\n")
    m = res.manifest["prompts"][0]
    assert m["n_tokens"] == m["n_prompt_tokens"] == len(tok(rendered, add_special_tokens=False)["input_ids"])
