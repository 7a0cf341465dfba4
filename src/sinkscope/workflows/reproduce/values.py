"""Number handling shared by the statistics, the verdicts and the document: one float coercion
(NaN / inf / None -> None) and the two ways a number is written (`fmt_num`, `fmt_pct`)."""

from __future__ import annotations

import math
from typing import Any

MISSING = "–"  # how the document writes a missing number


def as_float(x: Any) -> float | None:
    """`float(x)` when it is finite; None for None, NaN, inf and anything not a number."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_num(x: Any, d: int = 2) -> str:
    """`d` decimals; scientific notation (d - 1 decimals, at least 1) when |x| >= 1e4 or
    0 < |x| < 10^-d; `MISSING` when `as_float(x)` is None."""
    v = as_float(x)
    if v is None:
        return MISSING
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 10 ** (-d)):
        return f"{v:.{max(d - 1, 1)}e}"
    return f"{v:.{d}f}"


def fmt_duration(seconds: Any) -> str:
    """A wall time for the documents: '< 1 s', 'N s' below a minute, else 'X.Y min';
    `MISSING` when not a number."""
    v = as_float(seconds)
    if v is None:
        return MISSING
    if v < 1:
        return "< 1 s"
    return f"{v:.0f} s" if v < 60 else f"{v / 60:.1f} min"


def fmt_pct(x: Any) -> str:
    """A share as a whole percentage (0.125 -> '12%'); `MISSING` when not a number."""
    v = as_float(x)
    return MISSING if v is None else f"{v:.0%}"
