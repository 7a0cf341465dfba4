"""Capture: run the model once per batch and keep only reduced statistics (a `Trace`).

The single instrumentation point (docs/method.md "Capture"):
  * the attention-interface function (`capture.attention`), switched on for the duration of the
    capture with `model.set_attn_implementation("sinkscope")`, the previous implementation of
    every config restored exactly afterwards (`sinkscope_attention`); the active `Recorder` is
    held in a ContextVar (`attention.recording`), so concurrent or nested captures stay apart;
  * forward hooks on each decoder block (input h^{l-1}, output h^l) and on the module whose
    output is the block's MLP contribution m^l (declared in `capture.adapters`; the blocks are the
    ModuleList the row's `blocks` names), installed with the other hooks by `capture.hooks.installed`.
On the first batch the output of each block's attention module is hooked too, and
h^l - h^{l-1} = a^l + m^l is checked per block (`capture.selfcheck`): a wrong or missing adapter
row disables the formation columns (recorded in `CaptureSettings.self_check`, warned about),
never silently wrong numbers. Routing is decided by observation (docs/method.md §11): the recorder
notes which modules of each block called the attention function on the first batch
(`Recorder.callers`), and `adapters.check_attention_calls` refuses by block and class an attention
module that did not; a hybrid's blocks without softmax attention keep NaN attention statistics. Head
counts and the hidden size are read from the tensors (never from config fields). Where the adapter
row declares an output gate, its logits are read by a hook and reduced per head (§12); learned sink
logits' mass comes from the attention function (§13). The model's last hidden state (HF's
`hidden_states[-1]`, the final norm's output, which paper mode reads: `Recorder.record_final`) is
reduced after the forward. Hidden states are reduced on the fly, for the whole padded batch at
once, on the device where each layer lives (so accelerate `device_map` splits and CPU offload work),
to norms and cosines that stay there as tensors; `Recorder.finish` moves them to CPU numpy once per
batch (one transfer per statistic and device, no host sync inside the forward) and checks
finiteness once. Query blocks are sized from the free memory of the layer's device
(`choose_query_block`). Nothing
of size T x T or L x T x D is kept. The arrays kept and their shapes are documented in one place,
`sinkscope.capture.trace.PromptTrace`, and listed in one registry, `capture.trace.ARRAYS`, from which
the recorder allocates and fills them (`Recorder._fill`). The caller's `CaptureSettings` are never
changed: the `Trace` carries the settings the capture used (attention path, matmul dtype, query block,
adapter row, attention layers, self-check), all of which go to the manifest.

Batches are right-padded: with a causal mask no real query ever sees a pad key, and pad queries
are excluded from the per-key sums, so a batch gives exactly the single-prompt numbers.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from sinkscope.capture import attention as attn_fn
from sinkscope.capture import twopass
from sinkscope.capture.adapters import (
    Adapter,
    adapter_for,
    adapter_row,
    attention_layers,
    check_attention_calls,
    resolve,
)
from sinkscope.capture.device import choose_query_block, to_host
from sinkscope.capture.hooks import Hook, installed
from sinkscope.capture.selfcheck import FORMATION_FIELDS, SelfCheck, judge, residue_rows, tolerance
from sinkscope.capture.trace import ARRAYS, TENSOR_DIMS, ArraySpec, CaptureSettings, PromptTrace, Trace
from sinkscope.core.errors import NumericalError, UnsupportedArchitectureError
from sinkscope.models.base import LoadedModel

if TYPE_CHECKING:
    from transformers import PretrainedConfig

_EPS = 1e-12
# The arrays the recorder makes and fills (`capture.trace.ARRAYS`), and each by the statistic it is reported as.
RECORDED: tuple[ArraySpec, ...] = tuple(a for a in ARRAYS if a.recorded)
BY_STAT: dict[str, ArraySpec] = {a.source: a for a in RECORDED}

# An intervention on MLP outputs: called as edit(layer, m [B, T, D]) inside the MLP hook; returns
# the replacement tensor, or None to leave the layer untouched (see sinkscope.workflows.interventions).
MlpEdit = Callable[[int, torch.Tensor], "torch.Tensor | None"]
# The same for ONE prompt: called as edit(layer, m [T_i, D]) with that prompt's own rows (no padding);
# `capture(edits={i: ...})` keys them by prompt index, so the batch order never mixes prompts.
PromptEdit = Callable[[int, torch.Tensor], "torch.Tensor | None"]


def rows_edit(edits: Mapping[int, PromptEdit] | None, idx: Sequence[int], lengths: Sequence[int]) -> MlpEdit | None:
    """The batch `MlpEdit` that applies edits[i] to the batch row r where prompt i = idx[r] sits
    (capture orders rows by length, not by prompt index); None when no prompt of the batch is edited."""
    todo = [(r, edits[i], n) for r, (i, n) in enumerate(zip(idx, lengths)) if edits and i in edits]
    if not todo:
        return None

    def edit(layer: int, m: torch.Tensor) -> torch.Tensor | None:
        out = None
        for r, fn, n in todo:
            new = fn(layer, m[r, :n])
            if new is not None:
                out = m.clone() if out is None else out
                out[r, :n] = new
        return out

    return edit


def find_blocks(lm: LoadedModel) -> torch.nn.ModuleList:
    """The ModuleList of the model's L transformer blocks: at the adapter row's `blocks` path inside the
    decoder / encoder stack (`base_model_of`; `capture.adapters.Adapter.blocks`), never guessed. A
    model where that path is not a ModuleList of L blocks is refused, naming the path and the
    ModuleLists of length L it does hold."""
    adapter = adapter_for(lm.info.model_type)
    base = base_model_of(lm.model)
    n_layers = lm.info.n_layers
    mod = resolve(base, (adapter.blocks,))
    if isinstance(mod, torch.nn.ModuleList) and len(mod) == n_layers and n_layers > 0:
        return mod
    held = [name for name, m in base.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers]
    found = "a ModuleList of length " + str(len(mod)) if isinstance(mod, torch.nn.ModuleList) else (
        type(mod).__name__ if mod is not None else "nothing")
    raise UnsupportedArchitectureError(
        f"{lm.info.architecture} (model_type {lm.info.model_type!r}, adapter row {adapter_row(lm.info.model_type)!r}): "
        f"the row's block container `{adapter.blocks}` of {type(base).__name__} is {found}, not the {n_layers} "
        f"transformer blocks. ModuleLists of {n_layers} modules it holds: {held or 'none'}; set `blocks` in the "
        "family's row of sinkscope/capture/adapters.py."
    )


def block_layer_map(blocks: Sequence[torch.nn.Module]) -> dict[int, int]:
    """id(module) -> layer index for every module inside each block: how a recorder's `layer_of`
    tells which layer an attention call comes from."""
    return {id(sub): layer for layer, block in enumerate(blocks) for sub in block.modules()}


def base_model_of(model: torch.nn.Module) -> torch.nn.Module:
    """The model's decoder / encoder stack (HF's `base_model`). Llama4ForCausalLM declares the
    prefix "language_model" but holds its stack as `model`, so its `base_model` is itself: then
    the `model` child is the stack."""
    base = getattr(model, "base_model", model)
    child = getattr(model, "model", None)
    return child if base is model and isinstance(child, torch.nn.Module) else base


def _resolve(block: torch.nn.Module, names: Sequence[str]) -> torch.nn.Module | None:
    """The module at the first of the dotted `names` found in `block` (`adapters.resolve`)."""
    mod = resolve(block, names)
    return mod if isinstance(mod, torch.nn.Module) else None


def mlp_modules(lm: LoadedModel, which: Literal["output", "input"] = "output") -> list[torch.nn.Module | None]:
    """Per block, the module whose output (which="output") or input (which="input") is the MLP's."""
    adapter = adapter_for(lm.info.model_type)
    blocks = find_blocks(lm)
    names = adapter.mlp_output if which == "output" else adapter.mlp_input
    return [_resolve(b, names) for b in blocks]


def gate_values(g: torch.Tensor, n_heads: int, layout: str) -> torch.Tensor:
    """The output gate per head and token (docs/method.md §12).

    gate_{h,t} = mean over the head's gate logits g of sigmoid(g), from the gate module's output
    (`OutputGate`).

    Args:
        n_heads: H, the number of query heads.
        layout: "q_halves" keeps the last half of each head's k = 2d query-projection outputs (the
            gate), "per_head" all k of them.

    Shapes:
        g: [B, T, H * k] the gate module's output, k = per-head outputs.
        returns: [B, H, T] float32.
    """
    x = g.float().reshape(g.shape[0], g.shape[1], n_heads, -1)
    if layout == "q_halves":
        x = x[..., x.shape[-1] // 2 :]
    return torch.sigmoid(x).mean(dim=-1).transpose(1, 2)


def _first(x: Any) -> torch.Tensor:
    return x[0] if isinstance(x, (tuple, list)) else x


def _cos_rows(a: torch.Tensor, a_norm: torch.Tensor, b: torch.Tensor, b_norm: torch.Tensor) -> torch.Tensor:
    """cos between each row of a [B, C, D] and each row of b [B, n, D] -> [B, C, n] (per batch row)."""
    return torch.bmm(a, b.transpose(1, 2)) / (a_norm[:, :, None] * b_norm[:, None, :]).clamp_min(_EPS)


def _centred_cos(hf: torch.Tensor, valid: torch.Tensor | None, c: int) -> torch.Tensor:
    """cos(x_t - mean, x_c - mean) for the first `c` rows c of each batch row of hf [B, T, D], the
    mean taken over the real tokens of the row (`valid` [B, T], None: all) -> [B, c, T]."""
    if valid is None:
        mean = hf.mean(dim=1, keepdim=True)
    else:
        w = valid[..., None].to(hf.dtype)
        mean = (hf * w).sum(dim=1, keepdim=True) / w.sum(dim=1, keepdim=True)
    cen = hf - mean
    cn = cen.norm(dim=-1)
    return _cos_rows(cen[:, :c], cn[:, :c], cen, cn)


def _lower_median(x: torch.Tensor) -> torch.Tensor | float:
    """torch.median's convention (the lower middle value) of all entries of x; numpy's partition is
    ~10x faster on CPU (a float there); on an accelerator a 0-d tensor, so nothing syncs."""
    if x.device.type != "cpu":
        flat = x.flatten()
        return torch.kthvalue(flat, (flat.numel() - 1) // 2 + 1).values
    a = x.detach().reshape(-1).numpy()
    k = (a.size - 1) // 2
    return float(np.partition(a, k)[k])


class Recorder:
    """Receives attention sums and block outputs during one forward; fills the per-prompt arrays
    of `PromptTrace` (`out[b]`, one dict per batch row; shapes documented there)."""

    # Device types whose layers' statistics go to `out` as soon as the block ends instead of once
    # per batch: CPU tensors are host memory already (nothing to batch), and keeping them across
    # layers fragments the heap between the blocks' large temporaries (measured +0.1-0.6 GB peak RSS).
    host_at_block_end: tuple[str, ...] = ("cpu",)
    # A capture measures the model as it is: no simulated KV-cache eviction (`AttentionSink.kv_policy`).
    kv_policy: None = None

    def __init__(
        self,
        lm: LoadedModel,
        lengths: list[int],
        padded_len: int,
        n_candidates: int,
        query_block: int | None,
        edit: MlpEdit | None = None,
        check: bool = False,
    ) -> None:
        info = lm.info
        self.edit = edit
        self.family = info.model_type
        self.lengths = lengths
        self.padded_len = padded_len
        self.n_layers = info.n_layers
        self.n_candidates = n_candidates
        self.query_block_override = query_block
        self.adapter: Adapter = adapter_for(info.model_type)
        self.blocks = find_blocks(lm)
        self.layer_map = block_layer_map(self.blocks)
        self.mlp_out = [_resolve(b, self.adapter.mlp_output) for b in self.blocks]
        self.attention_layers = attention_layers(self.blocks, self.adapter)  # expected; observed: `callers`
        scale_attr = self.adapter.branch_scale_attr
        self.branch_scale = getattr(lm.model.config.get_text_config(), scale_attr, None) if scale_attr else None
        # Self-check (first batch): the attention branch read independently, residues per layer.
        self.check = check and self.adapter.residual == "pre"
        # Per block, the (module, block attribute scaling it) whose outputs add up to a^l: one module, or
        # the parallel mixers of `Adapter.parallel` (Falcon-H1); [] where the row's modules are missing.
        self.attn_parts = [self._attn_parts(b) for b in self.blocks] if self.check else []
        self.attn_out = [parts[0][0] if parts else None for parts in self.attn_parts]
        self.residue = [float("nan")] * info.n_layers
        self._attn: torch.Tensor | None = None
        self.calls = [0] * info.n_layers
        # Observation (docs/method.md §11): the modules of each block that called the attention function.
        self.callers: list[list[torch.nn.Module]] = [[] for _ in range(info.n_layers)]
        self._members = [{id(m) for m in b.modules()} for b in self.blocks]
        self._current: int | None = None
        gate = self.adapter.output_gate
        self.gate_mods = [_resolve(b, (gate.module,)) for b in self.blocks] if gate is not None else []
        self._gate: torch.Tensor | None = None
        self.block_used: int | None = None
        # The device the running block computes on (its input's; set by its pre-hook): query blocks
        # are sized from that device's memory (device_map splits, offloaded weights included).
        self._device: torch.device | None = None
        # Per layer, the statistics of the whole batch as tensors on that layer's device; moved to
        # the host once per batch by `finish` (not per layer and row: no sync inside the forward).
        self._dev: list[dict[str, Any]] = [{} for _ in range(info.n_layers)]
        self._hin: torch.Tensor | None = None
        self._mlp: torch.Tensor | None = None
        self._valid_cache: dict[torch.device, torch.Tensor] = {}
        # The arrays of `capture.trace.ARRAYS` the recorder fills, per batch row. Head counts and the
        # hidden size are read from the tensors the model produces (never from config fields): the
        # arrays sized by them are made on first sight (`_fill`), the others here.
        self.out: list[dict[str, Any]] = [
            {a.name: None if a.tensor_sized else a.empty({"L": info.n_layers, "T": n, "C": n_candidates}) for a in RECORDED}
            for n in lengths
        ]

    def _attn_parts(self, block: torch.nn.Module) -> list[tuple[torch.nn.Module, str | None]]:
        if self.adapter.parallel:
            parts = [(_resolve(block, (name,)), attr) for name, attr in self.adapter.parallel]
            return [] if any(m is None for m, _ in parts) else parts  # type: ignore[misc]
        mod = _resolve(block, self.adapter.attn_output)
        return [(mod, None)] if mod is not None else []

    # ---- what the attention function asks -------------------------------------------------
    def layer_of(self, module: torch.nn.Module) -> int | None:
        """The block `module` belongs to (the running block when a module is shared between blocks,
        Zamba2's shared transformer), recorded as a caller of the attention function (§11)."""
        cur = self._current
        layer = cur if cur is not None and id(module) in self._members[cur] else self.layer_map.get(id(module))
        if layer is not None and not any(m is module for m in self.callers[layer]):
            self.callers[layer].append(module)
        return layer

    def _valid(self, device: torch.device) -> torch.Tensor | None:
        if all(n == self.padded_len for n in self.lengths):
            return None
        if device not in self._valid_cache:
            pos = torch.arange(self.padded_len, device=device)[None, :]
            lens = torch.tensor(self.lengths, device=device)[:, None]
            self._valid_cache[device] = pos < lens
        return self._valid_cache[device]

    def key_valid(self, device: torch.device) -> torch.Tensor | None:
        """The real (unpadded) keys of the batch on `device`; None when no prompt is padded.

        Shapes:
            returns: [B, T] bool, True at positions < the prompt's length (T = padded length).
        """
        return self._valid(device)

    def query_valid(self, device: torch.device) -> torch.Tensor | None:
        """The real queries as column-sum weights on `device`; None when no prompt is padded.

        Shapes:
            returns: [B, T] float32, 1 for a real query, 0 for padding (T = padded length).
        """
        v = self._valid(device)
        return None if v is None else v.float()

    def query_block(self, batch: int, heads: int, n_keys: int) -> int:
        block = choose_query_block(batch, heads, n_keys, self.query_block_override, self._device)
        self.block_used = block
        return block

    def record_attention(
        self,
        layer: int,
        colsum: torch.Tensor,
        n_visible: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        sliding_window: int | None,
        is_causal: bool,
        sink_mass: torch.Tensor | None = None,
    ) -> None:
        """Keep one attention layer's sums on the device until `finish` (docs/method.md §1).

        s_j = colsum_j / n_j with n_j the number of real queries that see key j, counted by the
        attention function from the mask its softmax applied (`n_visible`); a key no query sees gets
        NaN. `sink_mass`: 1 - sum_j A_ij per query where learned sink logits join the softmax (§13).
        The output gate read by the gate hook (§12) is reduced here, where the number of query heads
        is known; ||k_j|| and ||v_j|| are taken per KV head.

        Args:
            layer: the block index l.
            sliding_window: the layer's window, None for full attention (not used here).
            is_causal: whether the layer's mask was causal (not used here).

        Shapes:
            colsum: [B, H, T] float32 attention received per key, summed over real queries.
            n_visible: [B, T] int32 real queries that see each key.
            key, value: [B, KV, T, d] the layer's keys and values, d = head dim.
            sink_mass: [B, H, T] float32, or None.
        """
        self.calls[layer] += 1
        st = self._dev[layer]
        st.update(colsum=colsum, n_visible=n_visible, key_norm=key.float().norm(dim=-1), value_norm=value.float().norm(dim=-1))
        if sink_mass is not None:
            st["sink_logit_mass"] = sink_mass
        if self._gate is not None:
            st["output_gate"] = gate_values(self._gate, colsum.shape[1], self.adapter.output_gate.layout)  # type: ignore[union-attr]
            self._gate = None

    # ---- block hooks -------------------------------------------------------------------------
    def block_pre_hook(self, layer: int) -> Callable[[torch.nn.Module, tuple, dict], None]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            self._hin = args[0] if args else kwargs.get("hidden_states")
            self._mlp = None
            self._current = layer
            self._device = self._hin.device if isinstance(self._hin, torch.Tensor) else None

        return hook

    def mlp_hook(self, layer: int) -> Callable[[torch.nn.Module, tuple, Any], Any]:
        """Reads m^l; when an `edit` is set (interventions), the edit's return value replaces it."""

        s = self.branch_scale

        def hook(module: torch.nn.Module, args: tuple, output: Any) -> Any:
            raw = _first(output)
            hin = self._hin
            # Llama 4's MoE returns its output flattened to [B * T, D] (the block views it back).
            flat = hin is not None and raw.dim() == 2 and hin.dim() == 3 and raw.shape == (hin.shape[0] * hin.shape[1], hin.shape[2])
            if flat:
                raw = raw.view(hin.shape)
            m = raw * s if s is not None else raw  # what the block adds (`Adapter.branch_scale_attr`)
            new = self.edit(layer, m) if self.edit is not None else None
            if new is not None:
                m = new
                new_raw = new / s if s is not None else new
                new_raw = new_raw.reshape(-1, new_raw.shape[-1]) if flat else new_raw
                output = (new_raw, *output[1:]) if isinstance(output, tuple) else new_raw
            self._mlp = m
            return output if new is not None else None

        return hook

    def block_hook(self, layer: int) -> Callable[[torch.nn.Module, tuple, dict, Any], None]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            h = _first(output)
            self._current = None
            if self.adapter.single_branch:  # the branch this block does not have adds zero
                if self._mlp is None and self.mlp_out[layer] is None:
                    self._mlp = torch.zeros_like(h)
                if self.check and self._attn is None and not self.attn_parts[layer]:
                    self._attn = torch.zeros_like(h)
            if self.check:
                self._check(layer, h)
            m = self._mlp if self.adapter.residual == "pre" else None
            self._reduce(layer, h, self._hin, m if m is not None and m.shape == h.shape else None)
            self._hin, self._mlp, self._attn = None, None, None
            if h.device.type in self.host_at_block_end:
                self.finish([layer])

        return hook

    def attn_hook(self, layer: int, scale_attr: str | None = None) -> Callable[[torch.nn.Module, tuple, Any], None]:
        """Reads (part of) a^l for the self-check: the module's output times `branch_scale_attr` and,
        for a parallel mixer, the block's own multiplier `scale_attr`; parallel parts are summed."""
        s = self.branch_scale
        block = self.blocks[layer]

        def hook(module: torch.nn.Module, args: tuple, output: Any) -> None:
            a = _first(output)
            a = a * s if s is not None else a
            if scale_attr is not None:
                a = a * getattr(block, scale_attr)
            self._attn = a if self._attn is None else self._attn + a

        return hook

    def gate_hook(self, layer: int) -> Callable[[torch.nn.Module, tuple, Any], None]:
        """Keeps the gate logits the adapter row's `output_gate` module emits (docs/method.md §12)."""

        def hook(module: torch.nn.Module, args: tuple, output: Any) -> None:
            self._gate = _first(output)

        return hook

    def _check(self, layer: int, h: torch.Tensor) -> None:
        """Relative residue of h^l - h^{l-1} = a^l + m^l at this block (`capture.selfcheck`), over the
        real tokens of every row; a device tensor until `finish` (no sync inside the forward)."""
        if self._hin is None or self._mlp is None or self._attn is None:
            return  # recorded as missing by `self_check_result`
        self._dev[layer]["residue"] = residue_rows(h, self._hin, self._attn, self._mlp, self._valid(h.device))

    def self_check_result(self, dtype: torch.dtype) -> SelfCheck:
        """The outcome of the check on this (first) batch; see `capture.selfcheck.judge`."""
        return judge(self.family, self.adapter, self.mlp_out, self.attn_out, self.residue, dtype)

    def complete(self, sizes: Mapping[str, int]) -> None:
        """After the batch: required arrays no layer filled (a prompt batch where no layer reported
        them) are NaN of the sizes observed in the capture (`sizes`: H, KV, D)."""
        for o, n in zip(self.out, self.lengths):
            dims = {"L": self.n_layers, "T": n, "C": self.n_candidates, **sizes}
            for a in RECORDED:
                if o[a.name] is None and not a.optional:
                    o[a.name] = a.empty(dims)

    def sizes(self) -> dict[str, int]:
        """The tensor-read sizes (H, KV, D) as the arrays of this batch showed them (absent: not seen)."""
        seen: dict[str, int] = {}
        for a in RECORDED:
            arr = self.out[0][a.name]
            if a.tensor_sized and arr is not None:
                seen.update({d: int(arr.shape[i]) for i, d in enumerate(a.dims) if d in TENSOR_DIMS})
        return seen

    @torch.no_grad()
    def _reduce(self, layer: int, h: torch.Tensor, hin: torch.Tensor | None, m: torch.Tensor | None) -> None:
        """The per-token statistics of block `layer` for the whole padded batch at once, on h's
        device (pad positions are computed and dropped by `finish`); mean-centring uses the real
        tokens of each row only."""
        C = min(self.n_candidates, h.shape[1])
        st = self._dev[layer]
        hf = h.float()
        rn = hf.norm(dim=-1)  # [B, T]; a NaN/inf anywhere in h_t makes it non-finite (checked in `finish`)
        # Candidate rows are copied (.clone()): a slice would keep the whole [B, T, D] block output alive.
        st.update(resid_norm=rn, resid_cos=_cos_rows(hf[:, :C], rn[:, :C], hf, rn), resid_cand=hf[:, :C].clone())
        st["resid_cos_centred"] = _centred_cos(hf, self._valid(h.device), C)
        absval = hf.abs()
        st["act_max"], st["act_argmax"] = absval.max(dim=-1)
        meds = [_lower_median(absval[b, :n]) for b, n in enumerate(self.lengths)]
        st["act_median"] = torch.stack(meds) if h.device.type != "cpu" else torch.tensor(meds)  # type: ignore[arg-type]
        del absval
        if hin is not None and layer == 0:
            st["embed_norm"] = hin.float().norm(dim=-1)
        if m is not None and hin is not None:
            mf = m.float()
            a = hf - hin.float() - mf
            mn, an = mf.norm(dim=-1), a.norm(dim=-1)
            st.update(
                mlp_norm=mn,
                mlp_cand=mf[:, :C].clone(),
                attn_norm=an,
                mlp_cos_resid=_cos_rows(hf[:, :C], rn[:, :C], mf, mn),
                mlp_cos_mlp=_cos_rows(mf[:, :C], mn[:, :C], mf, mn),
                attn_cos_resid=_cos_rows(hf[:, :C], rn[:, :C], a, an),
            )

    @torch.no_grad()
    def record_final(self, last: torch.Tensor | None) -> None:
        """Record the states paper mode reads at the last layer (docs/method.md §3).

        f = HF's `hidden_states[-1]`, which is the model's `last_hidden_state` (the final norm's
        output, or the last block's output in a model without a final norm) wherever transformers ties
        the two (`last_state_is_output`); reduced like a block output to ||f_t||, cos(f_t, f_c) and the
        centred cosine, one host transfer per batch. `last` None (not tied): f = h^{L-1}, copied from
        the block statistics (call after `finish`).

        Shapes:
            last: [B, T, D] the model's last hidden state (T = padded length), or None.

        Raises:
            NumericalError: the last hidden state has NaN or inf at a real token.
        """
        if last is None:
            for o in self.out:
                o["final_norm"][:] = o["resid_norm"][-1]
                o["final_cos"][:] = o["resid_cos"][-1]
                o["final_cos_centred"][:] = o["resid_cos_centred"][-1]
            return
        C = min(self.n_candidates, last.shape[1])
        ff = last.float()
        fn = ff.norm(dim=-1)
        norm = to_host([fn])[0]
        cos = to_host([_cos_rows(ff[:, :C], fn[:, :C], ff, fn)])[0]
        cen = to_host([_centred_cos(ff, self._valid(last.device), C)])[0]
        for b, n in enumerate(self.lengths):
            if not np.isfinite(norm[b, :n]).all():
                raise NumericalError(
                    f"non-finite values (NaN or inf) in the model's last hidden state (prompt row {b}); "
                    "try --dtype float32 or check the weights."
                )
            c = min(self.n_candidates, n)
            o = self.out[b]
            o["final_norm"][:] = norm[b, :n]
            o["final_cos"][:c] = cos[b, :c, :n]
            o["final_cos_centred"][:c] = cen[b, :c, :n]

    def finish(self, layers: Sequence[int] | None = None) -> None:
        """Move the statistics of `layers` (default: every layer still held; after the forward) to
        the host, one transfer per field and device, check their finiteness, and fill `out` (one
        dict per batch row). Layers on CPU are finished as soon as their block ends (block_hook)."""
        todo = set(range(len(self._dev))) if layers is None else set(layers)
        dev = [d if i in todo else {} for i, d in enumerate(self._dev)]
        self._dev = [{} if i in todo else d for i, d in enumerate(self._dev)]
        host: dict[str, dict[int, np.ndarray]] = {}
        # n_visible first: `_fill` turns colsum into scores with the n_queries it wrote.
        for name in sorted({name for d in dev for name in d}, key=lambda x: (x != "n_visible", x)):
            held = [i for i, d in enumerate(dev) if name in d]
            host[name] = dict(zip(held, to_host([dev[i][name] for i in held])))
        for layer, rn in sorted(host.get("resid_norm", {}).items()):  # [B, T] per layer, in block order
            for b, n in enumerate(self.lengths):
                if not np.isfinite(rn[b, :n]).all():
                    raise NumericalError(
                        f"non-finite values (NaN or inf) in the output of block {layer} (prompt row {b}); "
                        "try --dtype float32 or check the weights."
                    )
        for layer, r in host.pop("residue", {}).items():
            self.residue[layer] = float(r.max())
        for b, n in enumerate(self.lengths):
            o = self.out[b]
            c = min(self.n_candidates, n)
            for name, per_layer in host.items():
                for layer, x in per_layer.items():
                    self._fill(o, name, layer, x[b], n, c)

    def _sized(self, o: dict[str, Any], spec: ArraySpec, x: np.ndarray, n: int) -> np.ndarray:
        """o[spec.name], made (NaN) on first sight with the sizes the tensors have (H, KV, D from the
        axes of `x`, one layer's statistic); a layer whose tensors disagree with an earlier layer's is
        refused by name."""
        arr = o[spec.name]
        if arr is not None and not spec.tensor_sized:
            return arr
        per_layer = spec.dims[0] == "L"
        rest = spec.dims[1:] if per_layer else spec.dims
        dims = {"L": self.n_layers, "T": n, "C": self.n_candidates}
        dims.update({d: int(x.shape[i]) for i, d in enumerate(rest) if d in TENSOR_DIMS})
        shape = spec.shape(dims)
        if arr is None:
            arr = o[spec.name] = spec.empty(dims)
        elif arr.shape != shape:
            raise UnsupportedArchitectureError(
                f"{self.family}: layers report {spec.name} of different shapes ({arr.shape[1:]} and {shape[1:]}); "
                "sinkscope needs the same number of heads in every attention layer."
            )
        return arr

    def _fill(self, o: dict[str, Any], stat: str, layer: int, x: np.ndarray, n: int, c: int) -> None:
        """Write one layer's row-b statistic `x` (padded to T tokens and min(C, T) candidates) into the
        prompt's array that `capture.trace.ARRAYS` names for it: its T axes cut to the prompt's n
        tokens, its C axes to its c candidates. Scores are colsum / n_queries (docs/method.md §1; a key
        no query sees is NaN): n_queries is filled first (`finish`)."""
        spec = BY_STAT[stat]
        arr = self._sized(o, spec, x, n)
        per_layer = spec.dims[0] == "L"
        rest = spec.dims[1:] if per_layer else spec.dims
        cut = tuple(slice(0, n) if d == "T" else slice(0, c) if d == "C" else slice(None) for d in rest)
        value = x[cut]
        if stat == "colsum":
            nq = o["n_queries"][layer]
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(nq > 0, value / np.maximum(nq, 1)[None, :], np.nan)
        arr[((layer,) if per_layer else ()) + cut] = value

    def hooks(self) -> list[Hook]:
        """The recorder's hooks (`capture.hooks`): per block a pre-hook (h^{l-1}) and a hook (h^l), the
        MLP output module's (m^l), on the self-check batch the attention parts' (a^l), and the gate's."""
        out: list[Hook] = []
        for layer, block in enumerate(self.blocks):
            out.append(Hook(block, self.block_pre_hook(layer), "pre", with_kwargs=True))
            out.append(Hook(block, self.block_hook(layer), "post", with_kwargs=True))
            if self.mlp_out[layer] is not None:
                out.append(Hook(self.mlp_out[layer], self.mlp_hook(layer)))
            if self.check:
                out.extend(Hook(mod, self.attn_hook(layer, attr)) for mod, attr in self.attn_parts[layer])
            if self.gate_mods and self.gate_mods[layer] is not None:
                out.append(Hook(self.gate_mods[layer], self.gate_hook(layer)))
        return out

    @contextmanager
    def hooked(self) -> Iterator[Recorder]:
        """The recorder's `hooks` installed and this recorder the attention function's sink
        (`attention.recording`: a ContextVar, so only this context sees it)."""
        with installed(self.hooks(), self):
            yield self


def _attn_configs(model: torch.nn.Module) -> list[PretrainedConfig]:
    """Every config whose attention implementation `set_attn_implementation` may change: the
    model's, its sub-configs (at any depth) and those of nested `PreTrainedModel`s (by identity)."""
    found: dict[int, PretrainedConfig] = {}
    todo = [model.config] + [getattr(m, "config", None) for m in model.modules() if m is not model]
    while todo:
        cfg = todo.pop()
        if cfg is None or id(cfg) in found or not hasattr(cfg, "_attn_implementation_internal"):
            continue
        found[id(cfg)] = cfg
        todo.extend(getattr(cfg, key, None) for key in getattr(cfg, "sub_configs", {}) or {})
    return list(found.values())


@contextmanager
def sinkscope_attention(model: torch.nn.Module) -> Iterator[None]:
    """Switch `model` to the sinkscope attention function for the duration of the block.

    Afterwards (on success and on error) every config's attention implementation is exactly what
    it was, "unset" (None) included: the attribute HF reads (`_attn_implementation_internal`) is
    saved per config (`_attn_configs`) and written back, not re-derived by `set_attn_implementation`.
    """
    attn_fn.register()
    saved = [(cfg, cfg._attn_implementation_internal) for cfg in _attn_configs(model)]
    try:
        model.set_attn_implementation(attn_fn.NAME)
        yield
    finally:
        for cfg, before in saved:
            cfg._attn_implementation_internal = before


def _first_batch_check(
    rec: Recorder, dtype: torch.dtype, enabled: bool, edits: Mapping[int, PromptEdit] | None
) -> SelfCheck:
    """The self-check outcome of the first batch (warned about, or raised with `edits`, on failure)."""
    if not enabled:
        return SelfCheck("skipped", rec.family, tolerance(dtype), message="self-check switched off")
    check = rec.self_check_result(dtype)
    if check.status == "failed":
        if edits:
            raise UnsupportedArchitectureError(f"self-check failed, cannot intervene on m^l: {check.message}")
        warnings.warn(f"sinkscope self-check failed: {check.message}", RuntimeWarning, stacklevel=3)
    return check


def last_state_is_output(base: torch.nn.Module) -> bool:
    """Whether HF's `output_hidden_states=True` puts the model's `last_hidden_state` as its last entry:
    transformers overwrites `hidden_states[-1]` with it unless the config sets
    `tie_last_hidden_states=False` (`utils.output_capturing.capture_outputs`); models that build the
    tuple by hand append the final norm's output too. docs/method.md §3."""
    return getattr(base.config, "tie_last_hidden_states", None) is not False


def _input_device(model: torch.nn.Module) -> torch.device:
    return model.get_input_embeddings().weight.device


@torch.no_grad()
def chunked_nll(lm: LoadedModel, hidden: torch.Tensor, ids: torch.Tensor, n: int) -> np.ndarray:
    """Next-token NLL from the final hidden states, in chunks of 256 positions (no full logits).

    nll_t = -log softmax(logits(f_t))[x_{t+1}], with the model's logit scale and soft-cap
    (the adapter's `logit_scale_attr` / `logit_softcap_attr`).

    Args:
        n: the number of real tokens T (the positions of `hidden` and `ids` read).

    Shapes:
        hidden: [T, D] the final hidden states of one prompt.
        ids: [T] int64 token ids.
        returns: [T - 1] float32, the NLL of token t + 1 given tokens 0..t.

    Raises:
        UnsupportedArchitectureError: the model has no LM head.
    """
    head = lm.model.get_output_embeddings()
    if head is None:
        raise UnsupportedArchitectureError(f"{lm.info.architecture} has no LM head: NLL is not defined.")
    adapter = adapter_for(lm.info.model_type)
    cap = getattr(lm.model.config, adapter.logit_softcap_attr or "", None) if adapter.logit_softcap_attr else None
    scale = getattr(lm.model.config, adapter.logit_scale_attr, None) if adapter.logit_scale_attr else None
    out = np.empty(max(n - 1, 0), dtype=np.float32)
    for s in range(0, n - 1, 256):
        e = min(s + 256, n - 1)
        x = hidden[s:e].to(head.weight.device)
        logits = head(x).float()
        if scale is not None:
            logits = logits * scale if adapter.logit_scale_multiplies else logits / scale
        if cap:
            logits = torch.tanh(logits / cap) * cap
        logp = torch.log_softmax(logits, dim=-1)
        tgt = ids[s + 1 : e + 1].to(logp.device)
        out[s:e] = (-logp.gather(-1, tgt[:, None])[:, 0]).cpu().numpy()
    return out


def capture(
    lm: LoadedModel,
    texts: Sequence[str],
    token_ids: Sequence[Sequence[int]],
    tokens: Sequence[Sequence[str]],
    settings: CaptureSettings | None = None,
    progress: Callable[[int], None] | None = None,
    edits: Mapping[int, PromptEdit] | None = None,
    self_check: bool = True,
) -> Trace:
    """Run the model over `token_ids` (one list per prompt) and return the reduced `Trace`.

    `progress(k)` is called after each batch with the number of prompts done in it. `edits[i]`
    modifies prompt i's MLP outputs in flight (interventions; `PromptEdit`, keyed by the index in
    `token_ids` whatever batch row the prompt lands in); the capture then describes the edited run.

    `settings` are not changed: the returned `Trace.settings` is a copy with what the capture used
    and observed (query block, attention path and matmul dtype in force, attention layers, self-check).

    `self_check` (default on): on the first batch, verify h^l - h^{l-1} = a^l + m^l per block from
    an independent reading of the attention branch (`capture.selfcheck`). The outcome is stored in
    `Trace.settings.self_check` (a `SelfCheck` dict, written to the manifest); on failure the formation
    columns are NaN for every prompt, a warning names the family and what failed, and `edits`
    (which need m^l) raise `UnsupportedArchitectureError`.
    """
    if edits and any(m is None for m in mlp_modules(lm)):
        raise UnsupportedArchitectureError(
            f"{lm.info.architecture}: no additive MLP output to intervene on (post-LN encoder blocks)."
        )
    given = settings or CaptureSettings()
    path, matmul = twopass.in_force()  # a caller's `twopass.attention_path` block, unless the settings say
    settings = replace(
        given,
        attention_path=given.attention_path if given.attention_path != "auto" else path,
        matmul_dtype=given.matmul_dtype if given.matmul_dtype != "auto" else matmul,
    )
    attention_layers: list[bool] | None = None
    model = lm.model
    base = base_model_of(model)
    device = _input_device(model)
    prompts: list[PromptTrace | None] = [None] * len(token_ids)
    # Sort by length so batches pad little; results are put back in input order.
    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    t0 = time.perf_counter()
    block_used = None
    check: SelfCheck | None = None
    # (query heads, KV heads, hidden size): from the tensors of the first batch that showed them; the
    # config's counts only until then (a layer-free batch cannot occur: every capture has attention).
    sizes: dict[str, int] = {"H": lm.info.n_heads, "KV": lm.info.n_kv_heads, "D": lm.info.hidden_size}
    ties = last_state_is_output(base)
    with sinkscope_attention(model), twopass.attention_path(settings.attention_path, settings.matmul_dtype):
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            lengths = [len(token_ids[i]) for i in idx]
            T = max(lengths)
            pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : lengths[r]] = torch.tensor(list(token_ids[i]), dtype=torch.long)
            ids = ids.to(device)
            rec = Recorder(
                lm, lengths, T, settings.n_candidates, settings.query_block,
                edit=rows_edit(edits, idx, lengths), check=self_check and check is None,
            )
            with rec.hooked(), torch.no_grad():
                out = base(input_ids=ids, use_cache=False)
            # Routing decided by what the model did (docs/method.md §11), before any number is kept.
            attention_layers = check_attention_calls(
                f"{lm.info.architecture} (model_type {lm.info.model_type!r})", rec.blocks, rec.adapter, rec.callers,
                bool(getattr(model, "_supports_attention_backend", False)),
            )
            rec.finish()  # statistics to the host, once for the batch
            sizes.update(rec.sizes())
            rec.complete(sizes)
            rec.record_final(out.last_hidden_state if ties else None)
            block_used = rec.block_used
            if check is None:
                check = _first_batch_check(rec, out.last_hidden_state.dtype, self_check, edits)
            hidden = out.last_hidden_state if settings.with_nll else None
            for r, i in enumerate(idx):
                arrays = rec.out[r]
                nll = chunked_nll(lm, hidden[r, : lengths[r]], ids[r, : lengths[r]], lengths[r]) if hidden is not None else None
                prompts[i] = PromptTrace(
                    text=texts[i],
                    tokens=list(tokens[i]),
                    token_ids=np.asarray(token_ids[i], dtype=np.int64),
                    nll=nll,
                    **arrays,
                )
            del out, hidden, rec
            if progress is not None:
                progress(len(idx))
    settings = replace(
        settings,
        query_block=settings.query_block or block_used,
        attention_layers=attention_layers if attention_layers is not None else settings.attention_layers,
        self_check=check.to_dict() if check is not None else settings.self_check,
        adapter_row=adapter_row(lm.info.model_type),
    )
    if check is not None:
        if check.status == "failed":
            for p in prompts:
                for name in FORMATION_FIELDS:
                    arr = getattr(p, name) if p is not None else None
                    if arr is not None:
                        arr[...] = np.nan
    return Trace(
        prompts=[p for p in prompts if p is not None],
        settings=settings,
        timings={"capture_s": time.perf_counter() - t0},
    )


__all__ = ["capture", "PromptEdit", "rows_edit", "Recorder", "find_blocks", "mlp_modules", "choose_query_block"]
