"""The run-time self-check of the residual decomposition the analysis relies on (METHOD.md "Notation").

The capture reads m^l from the module the adapter row names (`capture.adapters`) and derives
a^l = h^l - h^{l-1} - m^l. That derivation is only right if the row is right, so on the first
batch of every capture the attention branch is ALSO read independently, from the output of the
module the row names as `attn_output` (times `branch_scale_attr`), and per block and real token

    r_t^l = || h_t^l - h_t^{l-1} - a_t^l - m_t^l || / ( ||h_t^{l-1}|| + ||a_t^l|| + ||m_t^l|| )

must stay under `tolerance(dtype)`. The denominator bounds every partial sum the block forms, so
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

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

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
def relative_residue(h: torch.Tensor, hin: torch.Tensor, a: torch.Tensor, m: torch.Tensor) -> float:
    """max_t r_t for one prompt row ([T, D] tensors, any dtype; computed in float32)."""
    if not (h.shape == hin.shape == a.shape == m.shape):
        return float("inf")  # a module that is not a residual branch at all (e.g. an MLP's inner projection)
    hf, hi, af, mf = (x.float() for x in (h, hin, a, m))
    r = (hf - hi - af - mf).norm(dim=-1)
    den = (hi.norm(dim=-1) + af.norm(dim=-1) + mf.norm(dim=-1)).clamp_min(1e-30)
    return float((r / den).max()) if r.numel() else 0.0


__all__ = ["FORMATION_FIELDS", "SelfCheck", "relative_residue", "tolerance"]
