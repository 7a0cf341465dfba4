"""Mode specs and the edit formulas of docs/method.md §4 (pure tensors, no model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkscope.capture.engine import rows_edit
from sinkscope.core.errors import InputError
from sinkscope.workflows.interventions import EditPlan, InterventionSpec, edit_for, parse_grid, parse_mode


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("project-out", "project-out", None),
        ("PROJECT_OUT", "project-out", None),
        ("zero", "zero", None),
        ("rescale:50", "rescale", 50.0),
        ("rescale:0", "rescale", 0.0),
        ("induce:-2.5", "induce", -2.5),
        (" induce:1e3 ", "induce", 1000.0),
    ],
)
def test_parse_mode(text, kind, value):
    spec = parse_mode(text)
    assert spec == InterventionSpec(kind, value)
    assert parse_mode(spec) is spec
    assert parse_mode(str(spec)) == spec  # str() round-trips


@pytest.mark.parametrize(
    "text, needle",
    [
        ("ablate", "not a valid intervention"),
        ("", "not a valid intervention"),
        ("zero:3", "takes no value"),
        ("project-out:1", "takes no value"),
        ("rescale", "needs a number"),
        ("induce:", "needs a number"),
        ("induce:abc", "is not a number"),
        ("rescale:-1", "NORM must be >= 0"),
        ("induce:nan", "finite"),
        ("rescale:inf", "finite"),
    ],
)
def test_bad_mode_names_input_and_allowed(text, needle):
    with pytest.raises(InputError) as e:
        parse_mode(text)
    msg = str(e.value)
    assert needle in msg
    assert repr(text) in msg or text in msg  # names what the user typed
    if needle == "not a valid intervention":  # an unknown name: every allowed form is listed
        for form in ("project-out", "zero", "rescale:NORM", "induce:ALPHA"):
            assert form in msg, (form, msg)


def test_parse_grid():
    assert parse_grid("0,50, 100,200") == [0.0, 50.0, 100.0, 200.0]
    assert parse_grid([1, 2.5]) == [1.0, 2.5]
    for bad in ("", "1,a", "1,inf"):
        with pytest.raises(InputError, match="grid"):
            parse_grid(bad)


def _rows(seed=0, k=3, d=16):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(k, d, generator=g) * 5
    u = torch.randn(d, generator=g)
    return m, u / u.norm()


def test_formulas():
    m, u = _rows()
    po = InterventionSpec("project-out").apply(m, u)
    assert torch.allclose(po, m - (m @ u)[:, None] * u[None, :])
    assert (po @ u).abs().max() < 1e-5  # nothing left along u
    assert torch.allclose(m - po, (m @ u)[:, None] * u[None, :], atol=1e-6)  # only the u component removed
    assert torch.equal(InterventionSpec("zero").apply(m, u), torch.zeros_like(m))
    rs = InterventionSpec("rescale", 7.5).apply(m, u)
    assert torch.allclose(rs.norm(dim=-1), torch.full((3,), 7.5))
    assert torch.allclose(rs / rs.norm(dim=-1, keepdim=True), m / m.norm(dim=-1, keepdim=True), atol=1e-6)
    ind = InterventionSpec("induce", 3.0).apply(m, u)
    assert torch.allclose(ind - m, 3.0 * u.expand_as(m), atol=1e-6)
    assert torch.equal(InterventionSpec("induce", 0.0).apply(m, u), m)  # a true no-op
    z = torch.zeros(1, 16)
    assert torch.equal(InterventionSpec("rescale", 4.0).apply(z, u), z)  # no direction to rescale: stays 0


def test_edit_for_touches_only_its_rows_layers_and_prompts():
    g = torch.Generator().manual_seed(1)
    m = torch.randn(2, 10, 16, generator=g)
    u = np.random.RandomState(0).randn(16)
    u /= np.linalg.norm(u)
    plan = EditPlan(layer=1, positions=(2, 7), spec=InterventionSpec("project-out"), direction=u)
    edits = edit_for([plan, None])
    assert list(edits) == [0]  # keyed by prompt index; prompt 1 has no plan
    edit = edits[0]
    assert edit(0, m[0]) is None and edit(2, m[0]) is None  # other layers untouched
    out = edit(1, m[0])
    assert out is not None and out is not m[0] and out.shape == (10, 16)
    keep = [i for i in range(10) if i not in (2, 7)]
    assert torch.equal(out[keep], m[0, keep])
    ut = torch.as_tensor(u, dtype=torch.float32)
    assert (out[[2, 7]] @ ut).abs().max() < 1e-5
    # two prompts, two different plans
    p2 = EditPlan(layer=1, positions=(4,), spec=InterventionSpec("zero"))
    both = edit_for([plan, p2])
    assert torch.equal(both[0](1, m[0]), out)
    out2 = both[1](1, m[1])
    assert torch.equal(out2[4], torch.zeros(16))
    assert torch.equal(out2[:4], m[1, :4]) and torch.equal(out2[5:], m[1, 5:])


def test_rows_edit_maps_prompt_index_to_batch_row():
    """capture orders rows by length: prompt i's edit must reach the row holding prompt i, on its
    own (unpadded) tokens, and leave every other row as it was."""
    m = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2))
    seen = []

    def zero_prompt_2(layer, rows):
        seen.append(tuple(rows.shape))
        return torch.zeros_like(rows)

    # batch rows hold prompts 2, 0, 1 with lengths 3, 5, 6
    edit = rows_edit({2: zero_prompt_2}, idx=[2, 0, 1], lengths=[3, 5, 6])
    out = edit(0, m)
    assert seen == [(3, 4)]  # prompt 2's own tokens, no padding
    assert torch.equal(out[0, :3], torch.zeros(3, 4)) and torch.equal(out[0, 3:], m[0, 3:])
    assert torch.equal(out[1:], m[1:])
    assert rows_edit({5: zero_prompt_2}, idx=[2, 0, 1], lengths=[3, 5, 6]) is None  # not in this batch
    assert rows_edit(None, idx=[0], lengths=[3]) is None
    assert rows_edit({0: lambda layer, r: None}, idx=[0], lengths=[6])(0, m[:1]) is None  # declines


def test_edit_keeps_dtype():
    m = torch.randn(5, 8).to(torch.bfloat16)
    plan = EditPlan(0, (1,), InterventionSpec("rescale", 2.0))
    out = edit_for([plan])[0](0, m)
    assert out.dtype == torch.bfloat16
    assert abs(float(out[1].float().norm()) - 2.0) < 0.02
