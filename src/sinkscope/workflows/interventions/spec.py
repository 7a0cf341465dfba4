"""Intervention specs (docs/method.md §4 "Causal check") and the edits they make to MLP outputs.

A spec is one of

    project-out     m' = m - (m . u) u          remove the component along the primary direction
    zero            m' = 0
    rescale:NORM    m' = NORM * m / ||m||        the paper's steering (m = 0 stays 0)
    induce:ALPHA    m' = m + ALPHA * u           push a non-sink token along the primary direction

where m = m_t^b is what block b's MLP adds to the residual stream at token t, and
u = h_p^b / ||h_p^b|| is the unit primary-sink direction: the primary sink's residual state after
block b, taken from a clean (un-intervened) capture of the same text.

An `EditPlan` (layer, positions, spec, u) is one prompt's edit: `EditPlan.edit` is the
`capture.engine.PromptEdit` callback, called inside the MLP-output forward hook (the same hook point
the capture reads m from, so no model code is patched) with that prompt's rows of m. `edit_for`
keys plans by prompt index for `capture(edits=...)`, so the capture's batch order (rows sorted by
length) can never apply one prompt's edit to another. Only the targeted rows of layer b are
replaced; every other row and layer is left as the model computed it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from sinkscope.capture.engine import PromptEdit
from sinkscope.core.errors import InputError

ModeKind = Literal["project-out", "zero", "rescale", "induce"]
MODE_KINDS: tuple[str, ...] = get_args(ModeKind)
ALLOWED = "project-out, zero, rescale:NORM (NORM a number >= 0), induce:ALPHA (ALPHA a number)"


@dataclass(frozen=True)
class InterventionSpec:
    """A parsed intervention mode: `kind` and, for rescale / induce, its `value` (NORM / ALPHA)."""

    kind: ModeKind
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MODE_KINDS:
            raise InputError(f"intervention kind {self.kind!r} is not valid; allowed: {ALLOWED}.")
        if self.kind in ("rescale", "induce"):
            if self.value is None or not math.isfinite(float(self.value)):
                got = "no number" if self.value is None else f"'{self.kind}:{self.value}'"
                raise InputError(f"mode {self.kind} needs a finite number (got {got}); allowed: {ALLOWED}.")
            if self.kind == "rescale" and self.value < 0:
                raise InputError(f"mode rescale:{self.value:g} has a negative norm; NORM must be >= 0.")
        elif self.value is not None:
            raise InputError(f"mode {self.kind} takes no value (got {self.value!r}); allowed: {ALLOWED}.")

    @property
    def needs_direction(self) -> bool:
        return self.kind in ("project-out", "induce")

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"

    def apply(self, m: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        """The edited rows m' from the MLP output rows m and the unit direction u (docs/method.md §4).

        zero: m' = 0; rescale: m' = value * m / ||m||; project-out: m' = m - (m . u) u;
        induce: m' = m + value * u.

        Shapes:
            m: [k, D] float32 the targeted rows, k = number of edited positions.
            u: [D] float32 unit direction, or None (zero and rescale only).
            returns: [k, D] float32.

        Raises:
            InputError: project-out or induce without a direction u.
        """
        if self.kind == "zero":
            return torch.zeros_like(m)
        if self.kind == "rescale":
            n = m.norm(dim=-1, keepdim=True)
            return torch.where(n > 0, m * (float(self.value) / n.clamp_min(1e-30)), m)
        if u is None:
            raise InputError(f"mode {self} needs the primary-sink direction u.")
        if self.kind == "project-out":
            return m - (m @ u)[:, None] * u[None, :]
        return m + float(self.value) * u[None, :]  # induce


def parse_mode(mode: str | InterventionSpec) -> InterventionSpec:
    """`"project-out" | "zero" | "rescale:NORM" | "induce:ALPHA"` -> `InterventionSpec`.

    Raises `InputError` naming the bad spec and the allowed forms.
    """
    if isinstance(mode, InterventionSpec):
        return mode
    if not isinstance(mode, str) or not mode.strip():
        raise InputError(f"mode {mode!r} is not a valid intervention; allowed: {ALLOWED}.")
    text = mode.strip().lower().replace("_", "-")
    kind, sep, arg = text.partition(":")
    if kind not in MODE_KINDS:
        raise InputError(f"mode '{mode}' is not a valid intervention; allowed: {ALLOWED}.")
    if kind in ("project-out", "zero"):
        if sep:
            raise InputError(f"mode '{mode}': {kind} takes no value; allowed: {ALLOWED}.")
        return InterventionSpec(kind)  # type: ignore[arg-type]
    if not sep or not arg:
        raise InputError(f"mode '{mode}': {kind} needs a number, e.g. '{kind}:100'; allowed: {ALLOWED}.")
    try:
        value = float(arg)
    except ValueError:
        raise InputError(f"mode '{mode}': '{arg}' is not a number; allowed: {ALLOWED}.") from None
    return InterventionSpec(kind, value)  # type: ignore[arg-type]


def parse_grid(grid: str | Sequence[float], name: str = "grid") -> list[float]:
    """'0,50,100' (or a sequence of numbers) -> [0.0, 50.0, 100.0]; finite numbers, at least one."""
    items: Sequence = grid.split(",") if isinstance(grid, str) else grid
    out: list[float] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            v = float(item)
        except (TypeError, ValueError):
            raise InputError(f"{name} '{grid}' is not a comma-separated list of numbers (bad item {item!r}).") from None
        if not math.isfinite(v):
            raise InputError(f"{name} '{grid}' holds a non-finite value ({item!r}); give finite numbers.")
        out.append(v)
    if not out:
        raise InputError(f"{name} is empty; give at least one value, e.g. 0,50,100,200.")
    return out


def unit(v: np.ndarray) -> np.ndarray:
    """The unit vector v / ||v||, in float64.

    Shapes:
        v: [D] the vector.
        returns: [D] float64.

    Raises:
        InputError: v is zero or not finite.
    """
    v = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(v))
    if not math.isfinite(n) or n == 0.0:
        raise InputError("the primary-sink direction h_p^b is zero or not finite; cannot project on it.")
    return v / n


@dataclass(frozen=True)
class EditPlan:
    """Edit m_t^layer at `positions` with `spec`; `direction` is the unit u (None for zero / rescale)."""

    layer: int
    positions: tuple[int, ...]
    spec: InterventionSpec
    direction: np.ndarray | None = None

    def apply_rows(self, m: torch.Tensor) -> torch.Tensor:
        """The edited targeted rows, in m's dtype (computed in float32 by `InterventionSpec.apply`).

        Shapes:
            m: [k, D] the targeted rows (any dtype), k = number of edited positions.
            returns: [k, D] in m's dtype.
        """
        u = None
        if self.direction is not None:
            u = torch.as_tensor(self.direction, dtype=torch.float32, device=m.device)
        return self.spec.apply(m.float(), u).to(m.dtype)

    def edit(self, layer: int, m: torch.Tensor) -> torch.Tensor | None:
        """The `PromptEdit` of this plan: one prompt's MLP output at block `layer`, edited.

        At the plan's layer, a copy of m with only the rows at `positions` replaced
        (`apply_rows`); None (the model's own output, untouched) at every other layer.

        Shapes:
            m: [T, D] one prompt's MLP output at block `layer`.
            returns: [T, D] in m's dtype, or None.
        """
        if layer != self.layer:
            return None
        out = m.clone()
        idx = torch.as_tensor(self.positions, dtype=torch.long, device=m.device)
        out[idx] = self.apply_rows(m[idx])
        return out


def edit_for(plans: Sequence[EditPlan | None]) -> dict[int, PromptEdit]:
    """`capture(edits=...)` for plans[i] applied to prompt i (None: prompt i is not edited)."""
    return {i: plan.edit for i, plan in enumerate(plans) if plan is not None}


__all__ = [
    "ALLOWED",
    "MODE_KINDS",
    "EditPlan",
    "InterventionSpec",
    "ModeKind",
    "edit_for",
    "parse_grid",
    "parse_mode",
    "unit",
]
