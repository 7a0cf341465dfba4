"""`intervene` on a random-init tiny model: each mode changes exactly the targeted MLP vectors
(docs/method.md §4), nothing before block b moves, and the clean run is a plain scan, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import sinkscope
from sinkscope.analysis import DetectConfig
from sinkscope.capture.engine import find_blocks, mlp_modules
from sinkscope.capture.trace import ARRAY_FIELDS, PromptTrace
from sinkscope.core.errors import InputError
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.interventions import (
    EditPlan,
    InterventionResult,
    InterventionSpec,
    Target,
    apply_plans,
    intervene,
)
from sinkscope.workflows.interventions.core import clean_run, prompt_of, run_prompts, single
from sinkscope.workflows.scan import ScanResult, capture_prompts
from tests.capture.archs import ToyTokenizer, build

TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps in the sun all day"
LAYER = 1
TARGETS = [7, 20]


@pytest.fixture(scope="module")
def lm():
    return LoadedModel.from_pair(build("llama"), ToyTokenizer(), ref="random-llama")


class Recorder:
    """Forward hooks on every block (h^l) and MLP-output module (m^l, as the MLP computed it:
    these hooks are registered before the capture's own, so they see the value before any edit).
    One dict per forward pass."""

    def __init__(self, lm):
        self.runs: list[dict[str, dict[int, torch.Tensor]]] = []
        self.handles = []
        for layer, block in enumerate(find_blocks(lm)):
            self.handles.append(block.register_forward_pre_hook(self._start(layer)))
            self.handles.append(block.register_forward_hook(self._store("h", layer)))
        for layer, mod in enumerate(mlp_modules(lm)):
            self.handles.append(mod.register_forward_hook(self._store("m", layer)))

    def _start(self, layer):
        def hook(mod, args):
            if layer == 0:
                self.runs.append({"h": {}, "m": {}})

        return hook

    def _store(self, kind, layer):
        def hook(mod, args, out):
            x = out[0] if isinstance(out, tuple) else out
            self.runs[-1][kind][layer] = x[0].detach().clone().float()

        return hook

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _expected(mode: str, m: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    kind, _, val = mode.partition(":")
    if kind == "project-out":
        return m - (m @ u)[:, None] * u[None, :]
    if kind == "zero":
        return torch.zeros_like(m)
    if kind == "rescale":
        return float(val) * m / m.norm(dim=-1, keepdim=True)
    return m + float(val) * u[None, :]


@pytest.mark.parametrize("mode", ["project-out", "zero", "rescale:2.5", "induce:3"])
def test_each_mode_changes_exactly_the_targeted_vectors(lm, mode):
    with Recorder(lm) as rec:
        res = intervene(lm, TEXT, layer=LAYER, position=TARGETS, mode=mode)
    assert isinstance(res, InterventionResult)
    assert sinkscope.intervene is intervene  # the package-level entry point
    assert len(rec.runs) == 2  # the clean pass, then the intervened pass
    clean, edited = rec.runs
    T = clean["h"][0].shape[0]
    # 1. everything before block b is unchanged, bit for bit (h and m of every earlier block)
    for layer in range(LAYER):
        assert torch.equal(clean["h"][layer], edited["h"][layer])
        assert torch.equal(clean["m"][layer], edited["m"][layer])
    # block b's MLP computes the same m in both runs (the edit is applied to its output)
    m = clean["m"][LAYER]
    assert torch.equal(m, edited["m"][LAYER])
    # 2. what block b actually added: h^b = h^{b-1} + a^b + m'^b, and a^b is unchanged (attention
    #    runs before the MLP), so m'^b = m^b + (h'^b - h^b) at every token
    m_new = m + (edited["h"][LAYER] - clean["h"][LAYER])
    others = [t for t in range(T) if t not in TARGETS]
    assert torch.equal(edited["h"][LAYER][others], clean["h"][LAYER][others])  # all other rows: untouched
    # u = unit(h_p^b) of the clean run (the hooked block output at the primary position)
    h_p = clean["h"][LAYER][res.primary]
    u = h_p / h_p.norm()
    assert abs(res.direction_norm - float(h_p.norm())) <= 1e-5 * float(h_p.norm())
    scale = float(clean["h"][LAYER][TARGETS].abs().max())
    expect = _expected(mode, m[TARGETS], u)
    assert torch.allclose(m_new[TARGETS], expect, atol=1e-5 * max(1.0, scale)), (m_new[TARGETS] - expect).abs().max()
    got = m_new[TARGETS]
    if mode == "project-out":
        assert (got @ u).abs().max() < 1e-5 * max(1.0, scale)
        assert (m[TARGETS] @ u).abs().min() > 1e-4  # there was something to remove
    elif mode == "zero":
        assert got.abs().max() < 1e-5 * max(1.0, scale)
    elif mode.startswith("rescale"):
        assert torch.allclose(got.norm(dim=-1), torch.full((2,), 2.5), atol=1e-4)
    else:
        assert torch.allclose(got @ u - m[TARGETS] @ u, torch.full((2,), 3.0), atol=1e-4)
    # the intervened run's own record of m^b is the edited vector
    pt = res.intervened.prompts[0]
    assert np.allclose(pt.mlp_norm[LAYER, TARGETS], expect.norm(dim=-1).numpy(), rtol=1e-4, atol=1e-5)
    assert np.array_equal(pt.mlp_norm[LAYER, others], res.clean.prompts[0].mlp_norm[LAYER, others])
    assert np.allclose(res.targets["mlp_norm_after"], expect.norm(dim=-1).numpy(), rtol=1e-4, atol=1e-5)
    # 3. nothing before the first edited token moves at any layer (causal mask)
    t0 = min(TARGETS)
    for layer in range(lm.info.n_layers):
        assert torch.equal(clean["h"][layer][:t0], edited["h"][layer][:t0])


def _assert_same_arrays(a: ScanResult, b: ScanResult) -> None:
    assert len(a.prompts) == len(b.prompts)
    for pa, pb in zip(a.prompts, b.prompts):
        for name in ARRAY_FIELDS:
            x, y = getattr(pa, name), getattr(pb, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        assert pa.tokens == pb.tokens and pa.text == pb.text
    pd.testing.assert_frame_equal(a.sinks, b.sinks)
    pd.testing.assert_frame_equal(a.layers, b.layers)
    assert a.summary() == b.summary()  # JSON-safe (NaN -> None), so == is exact


def test_clean_run_is_bit_identical_to_a_plain_scan(lm):
    res = intervene(lm, TEXT, layer=LAYER, position=5, mode="zero")
    plain = sinkscope.scan(lm, TEXT, with_nll=True)
    _assert_same_arrays(res.clean, plain)
    assert res.clean.manifest["thresholds"] == plain.manifest["thresholds"]
    # same capture settings; the query block is sized from the RAM available at the time (both
    # exceed T here, so there is one block either way)
    drop = lambda d: {k: v for k, v in d.items() if k != "query_block"}
    assert drop(res.clean.manifest["capture"]) == drop(plain.manifest["capture"])


def test_noop_edits_are_bit_identical_to_a_plain_scan(lm):
    plain = sinkscope.scan(lm, TEXT, with_nll=True)
    prompts = [prompt_of(plain, 0)]
    # an edit that declines (returns None) and one that returns the same values as a new tensor
    for edit in (lambda layer, m: None, lambda layer, m: m.clone()):
        again = run_prompts(lm, prompts, plain.config, edits={0: edit})
        _assert_same_arrays(again, plain)
    # induce:0 goes through the whole intervention path: m + 0 u == m exactly
    res = intervene(lm, TEXT, layer=LAYER, position=[3, 9], mode="induce:0")
    _assert_same_arrays(res.intervened, res.clean)
    assert res.nll.mean == 0.0 and res.nll.max == 0.0


def test_nll_comparison_covers_the_rest_of_the_text(lm):
    res = intervene(lm, TEXT, layer=0, position=[12, 30], mode="zero")
    T = res.clean.prompts[0].n_tokens
    d = res.delta_nll()
    assert d.shape == (T - 1,)
    assert np.all(d[:12] == 0.0)  # losses of tokens up to the edited one cannot change (causal)
    assert res.nll.start == 12 and res.nll.n == T - 1 - 12 and res.nll.max_before == 0.0
    assert res.nll.mean == pytest.approx(float(d[12:].mean()))
    assert res.nll.max == pytest.approx(float(d[12:].max()))
    assert np.abs(d[12:]).max() > 0  # zeroing a random model's MLP output does move the loss
    tab = res.nll_table()
    assert list(tab.columns) == ["position", "next_token", "nll_clean", "nll_intervened", "delta"]
    assert len(tab) == T - 1


def test_targets_table(lm):
    res = intervene(lm, TEXT, layer=LAYER, position=[20, 7, 7], mode="rescale:1")
    assert res.positions == [7, 20]  # sorted, distinct
    t = res.targets
    assert list(t["position"]) == [7, 20] and (t["layer"] == LAYER).all()
    det = res.clean.findings.detections[0]
    assert t["score_before"].tolist() == pytest.approx(det.layer_scores[LAYER:, [7, 20]].mean(axis=0).tolist())
    s = res.intervention_summary()
    assert s["mode"] == "rescale:1" and s["positions"] == [7, 20] and s["layer"] == LAYER
    assert s["n_secondary_after"] == res.summary().n_secondary  # summary(): the intervened scan's
    assert res.intervened.manifest["intervention"]["mode"] == "rescale:1"
    assert res.intervened.manifest["intervention"]["positions"] == [7, 20]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"layer": 3, "position": 1}, "layer 3 is out of range: 'random-llama' has 3 blocks (allowed: 0..2)"),
        ({"layer": -1, "position": 1}, "allowed: 0..2"),
        ({"layer": 1.5, "position": 1}, "not an integer"),
        ({"layer": 0, "position": 500}, "position 500 is out of range: the text has"),
        ({"layer": 0, "position": [1, -2]}, "position -2 is out of range"),
        ({"layer": 0, "position": []}, "position is empty"),
        ({"layer": 0, "position": True}, "not an integer"),
        ({"layer": 0, "position": 1, "mode": "scale:2"}, "allowed: project-out, zero, rescale:NORM"),
        ({"layer": 0, "position": 1, "mode": "rescale:-3"}, "NORM must be >= 0"),
    ],
)
def test_bad_input_names_the_input_and_allowed_values(lm, kwargs, needle):
    with pytest.raises(InputError) as e:
        intervene(lm, TEXT, **{"mode": "zero", **kwargs})
    assert needle in str(e.value)


def test_save_is_atomic_and_loadable(lm, tmp_path, monkeypatch):
    res = intervene(lm, TEXT, layer=LAYER, position=7, mode="project-out")
    dest = res.save(tmp_path / "iv")
    for name in ("intervention.json", "targets.parquet", "nll.parquet", "clean/manifest.json", "intervened/manifest.json"):
        assert (dest / name).exists(), name
    back = ScanResult.load(dest / "intervened")
    assert np.array_equal(back.prompts[0].mlp_norm, res.intervened.prompts[0].mlp_norm, equal_nan=True)
    assert back.manifest["intervention"]["mode"] == "project-out"
    with pytest.raises(InputError, match="already exists"):
        res.save(dest)
    # a failure half-way (writing the scan folders) leaves neither the folder nor a temporary one behind
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ScanResult, "write_into", boom)
    with pytest.raises(RuntimeError):
        res.save(tmp_path / "iv2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iv"]
    with pytest.raises(RuntimeError):
        res.save(dest, overwrite=True)
    assert (dest / "intervened" / "manifest.json").exists()  # the old folder survives a failed overwrite


def test_reuses_a_given_clean_scan(lm):
    plain = sinkscope.scan(lm, [TEXT, TEXT + " again"], with_nll=True)
    res = intervene(lm, layer=LAYER, position=4, mode="zero", clean=plain, prompt=1)
    assert res.clean.prompts[0].text == TEXT + " again"
    fresh = intervene(lm, TEXT + " again", layer=LAYER, position=4, mode="zero")
    _assert_same_arrays(res.intervened, fresh.intervened)
    with pytest.raises(InputError, match="prompt 2 does not exist"):
        intervene(lm, layer=LAYER, position=4, clean=plain, prompt=2)


def test_an_intervention_keeps_the_prompts_regions(lm):
    """prompt_of carries the region bounds (docs/method.md §3 "Regions") into the re-run: a response's
    tokens stay `generated` and template tokens stay `template` in the intervened records."""
    plain = sinkscope.scan(lm, [sinkscope.Input(source="t", prompt=TEXT, response=" and the dog barks at the cat")],
                           with_nll=True)
    plain.prompts[0].n_template_tokens = 2  # as a chat template's leading tokens would be
    p = prompt_of(plain)
    assert (p.n_prompt_tokens, p.n_template_tokens, p.form) == (
        plain.prompts[0].n_prompt_tokens, 2, plain.manifest["prompts"][0]["form"])
    res = intervene(lm, layer=LAYER, position=4, mode="zero", clean=plain)
    pt = res.intervened.prompts[0]
    assert (pt.n_prompt_tokens, pt.n_template_tokens) == (p.n_prompt_tokens, 2)


# ---- batches never mix prompts (capture orders rows by length; edits are keyed by prompt index)
SHORT_TEXT = "a cat sat on the mat and looked at the dog"


def _close(a: PromptTrace, b: PromptTrace) -> None:
    for name in ARRAY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None and x.dtype.kind == "f":
            assert np.allclose(x, y, rtol=1e-4, atol=1e-5, equal_nan=True), name
        elif x is not None:
            assert np.array_equal(x, y), name


@pytest.mark.parametrize("order", ["long-first", "short-first"])
def test_padded_batch_edit_changes_only_its_prompt(lm, order):
    texts = [TEXT, SHORT_TEXT] if order == "long-first" else [SHORT_TEXT, TEXT]
    clean, prompts = clean_run(lm, texts, DetectConfig())
    assert len(prompts[0].token_ids) != len(prompts[1].token_ids)
    cfg = clean.config
    # edit prompt 1 (the shorter one when the long text comes first, else the longer one): in the
    # length-sorted batch it sits in row 0 in one case and row 1 in the other
    pt1, det1 = clean.prompts[1], clean.findings.detections[1]
    h = pt1.resid_cand[LAYER, det1.p]
    plan = EditPlan(LAYER, (5, 8), InterventionSpec("project-out"), h / np.linalg.norm(h))
    kw = dict(query_block=clean.trace.settings.query_block, with_nll=True)
    batch = capture_prompts(lm, prompts, cfg, batch_size=2, edits={1: plan.edit}, **kw)
    plain_batch = capture_prompts(lm, prompts, cfg, batch_size=2, **kw)
    alone = capture_prompts(lm, [prompts[1]], cfg, batch_size=1, edits={0: plan.edit}, **kw)
    # prompt 0 is exactly what the unedited batch gives: the edit did not leak into its row
    for name in ARRAY_FIELDS:
        x, y = getattr(batch.prompts[0], name), getattr(plain_batch.prompts[0], name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    # prompt 1 was edited: m^b at the targets lost its component along u, later layers moved
    e1, c1 = batch.prompts[1], plain_batch.prompts[1]
    assert e1.n_tokens == pt1.n_tokens
    assert not np.allclose(e1.mlp_norm[LAYER, [5, 8]], c1.mlp_norm[LAYER, [5, 8]])
    assert np.abs(e1.mlp_cos_resid[LAYER, det1.p, [5, 8]]).max() < 1e-4 < np.abs(c1.mlp_cos_resid[LAYER, det1.p, [5, 8]]).min()
    assert np.array_equal(e1.mlp_norm[:LAYER], c1.mlp_norm[:LAYER])
    # ... and equals the same edit run alone (batch size 1, no padding)
    _close(e1, alone.prompts[0])


def test_apply_plans_batches_across_prompts_like_one_at_a_time(lm):
    clean, prompts = clean_run(lm, [TEXT, SHORT_TEXT], DetectConfig())
    ones = [single(clean, i) for i in range(2)]
    targets = [
        Target(ones[0], prompts[0], LAYER, (20,), InterventionSpec("zero")),
        Target(ones[1], prompts[1], 0, (4, 6), InterventionSpec("induce", 3.0)),
        Target(ones[0], prompts[0], 2, (7,), InterventionSpec("rescale", 0.5)),
    ]
    done = []
    batched = apply_plans(lm, targets, batch_size=2, progress=done.append)
    assert done == [2, 1]
    for t, got in zip(targets, batched):
        alone = apply_plans(lm, [t])[0]
        assert got.clean is t.clean and got.positions == list(t.positions) and got.layer == t.layer
        assert got.tokens(0) == t.clean.tokens(0)
        _close(got.prompts[0], alone.prompts[0])
        num = ["mlp_norm_after", "mlp_proj_after", "score_after", "primary_score_after"]
        assert np.allclose(got.targets[num].to_numpy(float), alone.targets[num].to_numpy(float), rtol=1e-4, atol=1e-5)
        assert got.targets["kind_after"].tolist() == alone.targets["kind_after"].tolist()
        assert got.nll.max_before == 0.0 and got.nll.n == t.clean.prompts[0].n_tokens - 1 - min(t.positions)
    # the zero edit really zeroed prompt 0's token 20, not a token of the other prompt
    assert batched[0].targets["mlp_norm_after"].iloc[0] == 0.0
    assert batched[1].targets["mlp_norm_after"].tolist() != [0.0, 0.0]
