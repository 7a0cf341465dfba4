"""Paper mode = the published code (docs/method.md §3): sinkscope's paper mode against an independent
implementation of the published detector (`tests.workflows.published`, which runs the model with
`output_hidden_states=True` and reads `hidden_states[1:]`), record for record, on random-init models
whose final norm scale decides the window, and on real weights (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from sinkscope.analysis import AnalysisConfig
from sinkscope.capture.inputs import Prompt
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.scan import ScanResult, capture_prompts, scan_result
from tests.capture.archs import ToyTokenizer, random_ids
from tests.workflows.published import closest_to, hidden_states, published_detector

L = 24  # L - 15 = 9: lifetimes 5-8 are secondary


def random_llama(final_scale: float, seed: int = 0) -> torch.nn.Module:
    """24 random-init Llama blocks whose final norm weight is `final_scale` times a random vector in
    [0.2, 2) (not uniform, so that the final norm changes cosines too, not only norms)."""
    cfg = AutoConfig.for_model("llama", hidden_size=64, num_hidden_layers=L, num_attention_heads=4,
                               num_key_value_heads=2, intermediate_size=128, vocab_size=256)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
    with torch.no_grad():
        w = model.model.norm.weight
        w.copy_(final_scale * (0.2 + 1.8 * torch.rand(w.shape, generator=torch.Generator().manual_seed(seed))))
    return model


def sinkscope_scan(model: torch.nn.Module, prompts: list[tuple[list[int], bool]]) -> ScanResult:
    """sinkscope's capture + general-mode analysis of (token ids, chat) prompts."""
    lm = LoadedModel.from_pair(model, ToyTokenizer(), ref="random-llama-24")
    ps = [Prompt(text=f"p{i}", token_ids=ids, tokens=["t"] * len(ids), n_prompt_tokens=len(ids), source=f"p{i}",
                 chat=chat) for i, (ids, chat) in enumerate(prompts)]
    cfg = AnalysisConfig(n_boot=20)
    trace = capture_prompts(lm, ps, cfg)
    return scan_result(lm, ps, trace, cfg, {"prepare_s": 0.0, "capture_s": 0.0})


def records(res: ScanResult, i: int) -> set[tuple]:
    rec = res.sinks[(res.sinks["prompt"] == i) & ~res.sinks["is_primary_position"]]
    return set(zip(rec["position"], rec["kind"], rec["birth"], rec["death"], rec["lifetime"]))


def assert_parity(model, res: ScanResult, prompts, taus) -> dict[str, int]:
    """Paper mode of `res` equals the published detector on every prompt and tau (primary, window,
    every record); returns the record counts per kind over all of them."""
    kinds: dict[str, int] = {}
    for tau in taus:
        pap = res.reanalyze(mode="paper", tau=tau)
        for i, (ids, chat) in enumerate(prompts):
            pub = published_detector(hidden_states(model, ids), chat, tau=tau)
            assert closest_to(pub.cos, pub.window, tau) > 1e-5  # no tie that float rounding could flip
            det = pap.findings.detections[i]
            assert (det.p, det.window) == (pub.bos, pub.window), (tau, i)
            assert records(pap, i) == pub.records, (tau, i)
            for r in pub.records:
                kinds[r[1]] = kinds.get(r[1], 0) + 1
    return kinds


def test_a_final_norm_drop_decides_the_window():
    """A small final norm weight makes the last state's norm the largest drop: the published window
    ends at block L-2, the raw block outputs' window elsewhere; paper mode follows the published one."""
    model = random_llama(0.05)
    prompts = [(random_ids(400, seed=1), False), (random_ids(400, seed=2), True)]
    res = sinkscope_scan(model, prompts)
    for i, (ids, _) in enumerate(prompts):
        states = hidden_states(model, ids)
        pt = res.prompts[i]
        # what the capture keeps is what the published code reads: block outputs, then the last state
        np.testing.assert_allclose(pt.resid_norm[:-1], states[:-1].norm(dim=-1).numpy(), rtol=1e-5)
        np.testing.assert_allclose(pt.final_norm, states[-1].norm(dim=-1).numpy(), rtol=1e-5)
        assert (pt.final_norm < pt.resid_norm[-1]).all()  # the final norm shrank the last state
        assert res.reanalyze(mode="paper").findings.detections[i].window[1] == L - 1
        assert res.findings.detections[i].window[1] != L - 1  # the raw outputs' window ends elsewhere
    kinds = assert_parity(model, res, prompts, (0.9, 0.5, 0.3))
    assert kinds.get("secondary", 0) > 0 and kinds.get("noise", 0) > 0  # the class rule is exercised


def test_a_final_norm_jump_puts_the_window_on_the_last_state():
    """A large final norm weight makes the jump into the last state the largest: the window is the last
    layer alone, and its scan reads the last state's cosines (not block L-1's)."""
    model = random_llama(30.0)
    prompts = [(random_ids(300, seed=3), False)]
    res = sinkscope_scan(model, prompts)
    pap = res.reanalyze(mode="paper", tau=0.5)
    assert pap.findings.detections[0].window == (L - 1, L)
    pt = res.prompts[0]
    assert not np.allclose(pt.final_cos, pt.resid_cos[-1], atol=1e-3)
    kinds = assert_parity(model, res, prompts, (0.9, 0.5, 0.3))
    assert kinds.get("noise", 0) > 0


def test_the_primary_candidates_follow_the_chat_template():
    """Position 2 with a large embedding: the primary with a chat template (candidates 0-2), not
    without one (candidates 0-1), as published; general mode keeps its n_candidates = 3."""
    model = random_llama(0.05)
    ids = random_ids(200, seed=4)
    with torch.no_grad():
        model.model.embed_tokens.weight[ids[2]] *= 40.0
    prompts = [(ids, True), (ids, False)]
    res = sinkscope_scan(model, prompts)
    pap = res.reanalyze(mode="paper")
    assert pap.findings.detections[0].p == 2 and pap.findings.detections[1].p in (0, 1)
    assert res.findings.detections[0].p == res.findings.detections[1].p == 2
    assert_parity(model, res, prompts, (0.9, 0.5))


def test_a_model_whose_last_hidden_state_is_not_tied():
    """`tie_last_hidden_states=False` in the config: HF's last hidden state is then block L-1's raw
    output, and paper mode reads that one."""
    model = random_llama(0.05)
    model.config.tie_last_hidden_states = False
    prompts = [(random_ids(200, seed=5), False)]
    res = sinkscope_scan(model, prompts)
    pt = res.prompts[0]
    np.testing.assert_array_equal(pt.final_norm, pt.resid_norm[-1])
    np.testing.assert_allclose(pt.final_norm, hidden_states(model, prompts[0][0])[-1].norm(dim=-1).numpy(), rtol=1e-5)
    assert_parity(model, res, prompts, (0.9, 0.5))


def test_a_trace_without_the_last_hidden_state_is_refused_in_paper_mode():
    res = sinkscope_scan(random_llama(1.0), [(random_ids(40, seed=6), False)])
    res.prompts[0].final_norm = None  # as loaded from a file written before it was recorded
    res.reanalyze()  # general mode does not need it
    with pytest.raises(InputError, match="paper mode reads the model's last hidden state"):
        res.reanalyze(mode="paper")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "smollm2-135m"])
def test_paper_mode_equals_the_published_detector_on_real_weights(name):
    """A committed 1,024-token long-protocol trace (math-040, chat template; no other test scans it):
    paper mode and the published detector agree on the primary, the window and every record."""
    import sinkscope
    from sinkscope.workflows.reproduce.traces import read_traces
    from tests.workflows.reproduce.test_long import DOCS

    rec = next(r for r in read_traces(DOCS / "reproduction" / "long" / "traces" / f"{name}.jsonl")
               if r.id == "math-040")
    lm = sinkscope.load_model(name)
    prompts = [(list(rec.token_ids), rec.chat)]
    ps = [Prompt(text="math-040", token_ids=prompts[0][0], tokens=[""] * len(prompts[0][0]),
                 n_prompt_tokens=rec.n_prompt_tokens, source="math-040", chat=rec.chat)]
    cfg = AnalysisConfig(n_boot=20)
    res = scan_result(lm, ps, capture_prompts(lm, ps, cfg), cfg, {"prepare_s": 0.0, "capture_s": 0.0})
    assert_parity(lm.model, res, prompts, (0.9,))
