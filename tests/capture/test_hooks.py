"""capture/hooks.py: the one hook installer registers pre/post hooks in order, makes the sink the
attention function's recorder, and removes everything on exit, on error too."""

from __future__ import annotations

import pytest
import torch

from sinkscope.capture.attention import active_sink
from sinkscope.capture.hooks import Hook, installed


class _Sink:
    kv_policy = None


def test_hooks_run_in_order_and_are_removed():
    lin = torch.nn.Linear(3, 3)
    seen: list[str] = []
    hooks = [
        Hook(lin, lambda m, a: seen.append("pre"), "pre"),
        Hook(lin, lambda m, a, kw: seen.append("pre-kw"), "pre", with_kwargs=True),
        Hook(lin, lambda m, a, o: o * 0),  # a post hook's return value replaces the output
    ]
    sink = _Sink()
    with installed(hooks, sink):
        assert active_sink() is sink
        out = lin(torch.ones(1, 3))
    assert seen == ["pre", "pre-kw"] and torch.equal(out, torch.zeros(1, 3))
    assert active_sink() is None and not lin._forward_hooks and not lin._forward_pre_hooks
    assert not torch.equal(lin(torch.ones(1, 3)), torch.zeros(1, 3))


def test_everything_is_removed_when_the_forward_fails():
    lin = torch.nn.Linear(3, 3)

    def boom(m, a, o):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"), installed([Hook(lin, boom)], _Sink()):
        lin(torch.ones(1, 3))
    assert active_sink() is None and not lin._forward_hooks
