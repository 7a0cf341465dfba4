"""The one hook installer of the capture layer: every module hook sinkscope puts on a model.

The recorder (`capture.engine.Recorder`), the KV-eviction sink (`capture.kv_policies.KVSink`) and
the MLP probe (`capture.probe`) each declare the hooks they need as a list of `Hook`s and install
them with `installed(hooks, sink)`: the hooks are registered in order, the attention sink (if any)
is made the attention function's recorder (`capture.attention.recording`), and on exit, normal or
not, every handle is removed and the sink given back. No other module calls
`register_forward_hook` / `register_forward_pre_hook`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch

from sinkscope.capture import attention as attn_fn


@dataclass(frozen=True)
class Hook:
    """One forward hook: `fn` on `module`, before ("pre") or after ("post") its forward.

    Signatures (torch's): pre  fn(module, args, kwargs) with `with_kwargs`, else fn(module, args);
    post fn(module, args, kwargs, output) with `with_kwargs`, else fn(module, args, output). A post
    hook's non-None return value replaces the module's output."""

    module: torch.nn.Module
    fn: Callable[..., Any]
    when: Literal["pre", "post"] = "post"
    with_kwargs: bool = False

    def register(self) -> torch.utils.hooks.RemovableHandle:
        if self.when == "pre":
            return self.module.register_forward_pre_hook(self.fn, with_kwargs=self.with_kwargs)
        return self.module.register_forward_hook(self.fn, with_kwargs=self.with_kwargs)


@contextmanager
def installed(hooks: Sequence[Hook], sink: attn_fn.AttentionSink | None = None) -> Iterator[None]:
    """Register `hooks` (in order) and, when given, make `sink` the attention function's recorder,
    for the duration of the block; everything is removed on exit (on error too)."""
    handles = []
    with ExitStack() as stack:
        try:
            for hook in hooks:
                handles.append(hook.register())
            if sink is not None:
                stack.enter_context(attn_fn.recording(sink))
            yield
        finally:
            for h in handles:
                h.remove()


__all__ = ["Hook", "installed"]
