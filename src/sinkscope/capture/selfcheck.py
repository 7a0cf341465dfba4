"""The run-time self-check of the residual decomposition the analysis relies on (docs/method.md "Notation").

The capture reads m^l from the module the adapter row names (`capture.adapters`) and derives
a^l = h^l - h^{l-1} - m^l. That derivation is only right if the row is right, so on the first
batch of every capture the attention branch is ALSO read independently, from the output of the
module the row names as `attn_output` (times `branch_scale_attr`), and per block and real token

    r_t^l = || h_t^l - h_t^{l-1} - a_t^l - m_t^l || / ( ||h_t^{l-1}|| + ||a_t^l|| + ||m_t^l|| )

must stay under `tolerance(dtype)`. On a hybrid's blocks without softmax attention (docs/method.md
§11) a^l is the output of their token mixer (Mamba, short convolution), which the row's
`attn_output` then names (`mamba`, `conv`), so the check covers every block. Where a block adds
parallel mixers (Falcon-H1: attention and Mamba side by side, `Adapter.parallel`) a^l is read as
their scaled sum, so the check tests that the attention module's output, scaled, is exactly what
the block adds beside the Mamba branch (§11). Where a block adds one branch only
(`Adapter.single_branch`, Nemotron-H) the missing branch is zero. The denominator bounds every partial sum the block forms, so
rounding in the block's two additions (2u each, u the unit roundoff of the model dtype) and in
this float32 recomputation (3 more) cannot exceed ~5u of it; a wrong row (an MLP read before a
post-norm, a missing branch scale, the wrong submodule) leaves a residue of order 0.1-1.
`tolerance` = min(32u, 2e-2) with u = eps/2: float32 1.9e-6, float16 1.6e-2, bfloat16 2e-2 (32u
would be 0.125, too loose; 2e-2 is ~5u, above the 2u-per-addition bound and 5x below a 10% residue).

A failed (or impossible) check disables the formation columns (`FORMATION_FIELDS` are NaN for
every prompt), is recorded in `CaptureSettings.self_check` (so in the manifest) and warned about
with the family and what failed; interventions, which edit m^l, are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch

from sinkscope.capture.adapters import Adapter

# The PromptTrace arrays that depend on the decomposition h^l = h^{l-1} + a^l + m^l.
FORMATION_FIELDS = ("mlp_norm", "attn_norm", "mlp_cos_resid", "mlp_cos_mlp", "attn_cos_resid", "mlp_cand")


def tolerance(dtype: torch.dtype) -> float:
    """Largest relative residue accepted for a model run in `dtype` (see the module docstring)."""
    u = torch.finfo(dtype).eps / 2 if dtype.is_floating_point else torch.finfo(torch.float32).eps / 2
    return float(min(32 * u, 2e-2))


@dataclass
class SelfCheck:
    """Outcome of the self-check of one capture.

    status      "passed"; "failed" (a residue over tolerance, or a module the row names is
                missing: formation columns disabled); "skipped" (post-LN blocks, where the
                decomposition does not hold and formation columns are NaN by design, or
                the check was switched off).
    family      model_type whose adapter row was checked.
    tolerance   the threshold on the relative residue r (module docstring).
    max_residue the largest r over blocks and real tokens of the first batch (None if not measured;
                inf where the named modules' outputs do not even have the residual's shape).
    worst_layer the block where it is reached.
    message     what was checked, or what failed.
    """

    status: Literal["passed", "failed", "skipped"]
    family: str
    tolerance: float
    max_residue: float | None = None
    worst_layer: int | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def residue_rows(
    h: torch.Tensor, hin: torch.Tensor, a: torch.Tensor, m: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """The largest relative residue max_t r_t per prompt row, on h's device (no host sync).

    r_t = ||h_t - hin_t - a_t - m_t|| / (||hin_t|| + ||a_t|| + ||m_t||), over the tokens where
    `valid` is True (all when None); computed in float32 from any dtype. Tensors of different
    shapes (not a residual branch) give inf.

    Shapes:
        h, hin, a, m: [B, T, D] block output, block input, attention and MLP branch outputs.
        valid: [B, T] bool real tokens, or None.
        returns: [B] float32.
    """
    if not (h.shape == hin.shape == a.shape == m.shape):  # not a residual branch at all (an inner projection)
        return torch.full(h.shape[:1], float("inf"), device=h.device)
    hf, hi, af, mf = (x.float() for x in (h, hin, a, m))
    r = (hf - hi - af - mf).norm(dim=-1)
    den = (hi.norm(dim=-1) + af.norm(dim=-1) + mf.norm(dim=-1)).clamp_min(1e-30)
    rel = r / den
    if valid is not None:
        rel = rel.masked_fill(~valid, 0.0)
    return rel.amax(dim=-1) if rel.shape[-1] else torch.zeros(rel.shape[:1], device=h.device)


def judge(
    family: str,
    adapter: Adapter,
    mlp_out: Sequence[torch.nn.Module | None],
    attn_out: Sequence[torch.nn.Module | None],
    residue: Sequence[float],
    dtype: torch.dtype,
) -> SelfCheck:
    """The outcome from what the first batch measured: `residue[l]` (NaN where block l was not
    measured) and the modules the row resolved to in each block (None where none was found)."""
    tol = tolerance(dtype)
    if adapter.residual != "pre":
        return SelfCheck("skipped", family, tol, message=f"{family}: post-LN blocks, no additive decomposition")
    row = f"adapter row of {family!r}"
    off = "formation columns (MLP / attention contributions) disabled"
    for what, mods, names in (("MLP", mlp_out, adapter.mlp_output), ("attention", attn_out, adapter.attn_output)):
        missing = [layer for layer, m in enumerate(mods) if m is None]
        if adapter.single_branch:  # one branch per block: only a block with neither is missing one
            missing = [layer for layer in missing if mlp_out[layer] is None and attn_out[layer] is None]
        if missing:
            return SelfCheck("failed", family, tol, message=(
                f"{family}: no {what} output module {list(names)} in block(s) {missing} ({row}); {off}"))
    res = np.asarray(residue, dtype=np.float64)
    if np.isnan(res).any():
        layers = np.flatnonzero(np.isnan(res)).tolist()
        return SelfCheck("failed", family, tol, message=(
            f"{family}: block(s) {layers} ran without the MLP / attention modules of the {row}; {off}"))
    worst = int(res.argmax())
    if not np.isfinite(res[worst]):
        return SelfCheck("failed", family, tol, None, worst, message=(
            f"{family}: at block {worst} the modules of the {row} give outputs that are not the residual's "
            f"shape (not residual branches); {off}"))
    if res[worst] > tol:
        return SelfCheck("failed", family, tol, float(res[worst]), worst, message=(
            f"{family}: h^l - h^(l-1) != a^l + m^l at block {worst} (relative residue {res[worst]:.2e} > "
            f"tolerance {tol:.1e}): the {row} does not name what the block adds (a post-branch norm or "
            f"scale it does not know?); {off}"))
    return SelfCheck("passed", family, tol, float(res[worst]), worst, message=(
        f"{family}: h^l - h^(l-1) = a^l + m^l on every block (max relative residue {res[worst]:.1e})"))


__all__ = ["FORMATION_FIELDS", "SelfCheck", "judge", "residue_rows", "tolerance"]
