"""Probe one block's MLP: gather what it reads and push chosen vectors through it alone (docs/method.md §9).

Two tools, both driven by the declarative adapter table (`capture.adapters`), so they work the same
way on every supported architecture:

* `gather_mlp_io(lm, token_ids, layer, positions)`: run each prompt through the model and keep, at
  block `layer` and the given positions, the MLP input x_t (the INPUT of the adapter's `mlp_input`
  module: the normed residual the MLP reads, e.g. Llama `post_attention_layernorm(h)`, Gemma
  `pre_feedforward_layernorm(h)`) and the MLP contribution m_t (the OUTPUT of the adapter's
  `mlp_output` module, what the block adds to the residual stream). The forward is stopped right
  after that module has run (a private exception raised from the hook), so nothing after block
  `layer` is computed.
* `LayerMlp(lm, layer)`: the map x -> m of that block alone, f(x) = out(in(x)) when the output
  module is a different module that post-processes the MLP (Gemma2/3, OLMo2:
  post_feedforward_layernorm(mlp(x))), f(x) = in(x) otherwise. Evaluated in the model's dtype,
  returned as float32 numpy.

The composition out(in(x)) is checked on the gathered forward (`MlpSamples.composes`): the output
module must read exactly what the input module wrote; a model where it does not (another op
between them) is refused with `UnsupportedArchitectureError` rather than silently mis-modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sinkscope.capture.engine import base_model_of, mlp_modules
from sinkscope.capture.hooks import Hook, installed
from sinkscope.core.errors import InputError, UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel


class _StopForward(Exception):
    """Raised from a hook once everything needed has been read (never escapes this module)."""


def _first(x: Any) -> torch.Tensor:
    return x[0] if isinstance(x, (tuple, list)) else x


def _hook_input(args: tuple, kwargs: dict) -> torch.Tensor:
    if args:
        return args[0]
    for name in ("hidden_states", "x", "input", "hidden_state"):
        if name in kwargs:
            return kwargs[name]
    raise UnsupportedArchitectureError("cannot find the tensor the MLP reads among its forward arguments.")


def _modules(lm: LoadedModel, layer: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    n = lm.info.n_layers
    if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool) or not 0 <= int(layer) < n:
        raise InputError(f"layer {layer!r} is out of range: {lm.info.architecture} has blocks 0..{n - 1}.")
    mod_in = mlp_modules(lm, "input")[int(layer)]
    mod_out = mlp_modules(lm, "output")[int(layer)]
    if mod_in is None:
        raise UnsupportedArchitectureError(
            f"{lm.info.architecture}: no MLP input module found in block {layer} (see capture/adapters.py)."
        )
    if mod_out is None:
        raise UnsupportedArchitectureError(
            f"{lm.info.architecture}: the MLP output is not added to the residual stream (post-LN block); "
            "there is no additive MLP contribution to probe."
        )
    return mod_in, mod_out


@dataclass
class MlpSamples:
    """What `gather_mlp_io` read at one block.

    layer      the block b.
    x          float32 [N, D]: MLP inputs x_t^b (rows in the order of the requested positions,
               prompt after prompt).
    m          float32 [N, D]: the MLP contributions m_t^b of the same forward (= f(x), f = LayerMlp).
    prompt     int [N]: index of the prompt (in the `token_ids` given) of each row.
    position   int [N]: token position of each row.
    composes   True when the output module reads exactly the input module's output (or is the same
               module), i.e. f = out o in is the block's MLP.
    """

    layer: int
    x: np.ndarray
    m: np.ndarray
    prompt: np.ndarray
    position: np.ndarray
    composes: bool = True


class _Tap:
    """Hooks of one gathering forward: x at the input module's input, m at the output module's
    output (then stop), and what passes between the two modules (for the composition check)."""

    def __init__(self, idx: torch.Tensor, same: bool) -> None:
        self.idx = idx
        self.same = same
        self.store: dict[str, torch.Tensor] = {}

    def rows(self, t: torch.Tensor) -> torch.Tensor:  # [1, T, D] -> [n, D] float32 on CPU
        return t[0, self.idx.to(t.device)].float().cpu()

    def pre_in(self, module, args, kwargs) -> None:
        self.store["x"] = self.rows(_hook_input(args, kwargs))

    def post_in(self, module, args, output) -> None:
        self.store["in_out"] = _first(output)
        if self.same:
            self.store["m"] = self.rows(_first(output))
            raise _StopForward

    def pre_out(self, module, args, kwargs) -> None:
        self.store["out_in"] = _hook_input(args, kwargs)

    def post_out(self, module, args, output) -> None:
        self.store["m"] = self.rows(_first(output))
        raise _StopForward


@torch.no_grad()
def gather_mlp_io(
    lm: LoadedModel,
    token_ids: Sequence[Sequence[int]],
    layer: int,
    positions: Sequence[Sequence[int]],
) -> MlpSamples:
    """MLP inputs x_t^b and contributions m_t^b at block b = `layer`, for `positions[i]` of prompt i.

    One forward per prompt (prompts with no requested position are skipped), stopped after block b's
    MLP. Raises InputError for a layer or position out of range.
    """
    if len(token_ids) != len(positions):
        raise InputError(f"gather_mlp_io: {len(token_ids)} prompts but {len(positions)} position lists.")
    mod_in, mod_out = _modules(lm, layer)
    same = mod_in is mod_out
    model = lm.model
    base = base_model_of(model)
    device = model.get_input_embeddings().weight.device
    xs: list[np.ndarray] = []
    ms: list[np.ndarray] = []
    prompts: list[np.ndarray] = []
    poss: list[np.ndarray] = []
    composes = True
    for i, (ids, pos) in enumerate(zip(token_ids, positions)):
        pos = np.asarray(list(pos), dtype=np.int64)
        if pos.size == 0:
            continue
        n = len(ids)
        if pos.min() < 0 or pos.max() >= n:
            raise InputError(f"gather_mlp_io: a position of prompt {i} is outside its {n} tokens.")
        tap = _Tap(torch.as_tensor(pos), same)
        store = tap.store
        hooks = [Hook(mod_in, tap.pre_in, "pre", with_kwargs=True), Hook(mod_in, tap.post_in)]
        if not same:
            hooks += [Hook(mod_out, tap.pre_out, "pre", with_kwargs=True), Hook(mod_out, tap.post_out)]
        try:
            with installed(hooks):
                ids_t = torch.tensor([list(ids)], dtype=torch.long, device=device)
                base(input_ids=ids_t, use_cache=False)
        except _StopForward:
            pass
        if "x" not in store or "m" not in store:
            raise UnsupportedArchitectureError(
                f"{lm.info.architecture}: block {layer}'s MLP did not run during the forward "
                "(the adapter's mlp_input / mlp_output modules were not called)."
            )
        if not same:
            a, b = store.get("in_out"), store.get("out_in")
            ok = a is not None and b is not None and (a is b or (a.shape == b.shape and torch.equal(a, b)))
            composes = composes and bool(ok)
        xs.append(store["x"].numpy())
        ms.append(store["m"].numpy())
        prompts.append(np.full(pos.size, i, dtype=np.int64))
        poss.append(pos)
    if not composes:
        raise UnsupportedArchitectureError(
            f"{lm.info.architecture}: in block {layer} the MLP output module does not read the MLP's own "
            "output, so the block's MLP cannot be evaluated alone (anatomy needs f(x) = out(in(x)))."
        )
    D = lm.info.hidden_size
    cat = lambda parts, shape, dt: np.concatenate(parts) if parts else np.zeros(shape, dt)
    return MlpSamples(
        layer=int(layer),
        x=cat(xs, (0, D), np.float32).astype(np.float32),
        m=cat(ms, (0, D), np.float32).astype(np.float32),
        prompt=cat(prompts, (0,), np.int64),
        position=cat(poss, (0,), np.int64),
        composes=composes,
    )


class LayerMlp:
    """f(x) = block `layer`'s MLP contribution for MLP input x, the block's MLP alone (§9); an
    `analysis.anatomy.MlpFn`.

    f(x) = out(in(x)) when the adapter's output module differs from its input module (Gemma:
    post_feedforward_layernorm(mlp(x))), else in(x). Call with float numpy or torch [N, D] (or [D]);
    returns float32 numpy of the same shape. Evaluated in chunks of `chunk` rows, in the model's
    dtype, on the module's device, without gradients.
    """

    def __init__(self, lm: LoadedModel, layer: int, chunk: int = 256) -> None:
        self.layer = int(layer)
        self.mod_in, self.mod_out = _modules(lm, layer)
        self.chunk = int(chunk)
        p = next(self.mod_in.parameters(), None)
        self.device = p.device if p is not None else torch.device("cpu")
        self.dtype = p.dtype if p is not None else torch.float32

    @torch.no_grad()
    def __call__(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        one = t.ndim == 1
        t = t.reshape(1, -1) if one else t
        outs = []
        for s in range(0, t.shape[0], self.chunk):
            xb = t[s : s + self.chunk].to(self.device, self.dtype)[None]  # [1, n, D]: blocks expect [B, T, D]
            y = _first(self.mod_in(xb))
            if self.mod_out is not self.mod_in:
                y = _first(self.mod_out(y))
            outs.append(y[0].float().cpu())
        out = torch.cat(outs).numpy() if outs else np.zeros((0, t.shape[-1]), np.float32)
        return out[0] if one else out


__all__ = ["LayerMlp", "MlpSamples", "gather_mlp_io"]
