"""Outcome of an edit on a sink: removed / weakened / unchanged / strengthened (docs/method.md §4,
"Outcomes").

An intervention edits block b's MLP output at token t and re-runs the text. Everything before b is
bit-identical, so the comparison looks at layers l >= b only. In each run (clean, edited) the
token's state from b on is (`sink_state`):

    S       = {l >= b : t is sink-like at l and l is scanned}          (§2, §3)
    ratio   = mean_{l in S} s_t^l / mean_{l in S} b_t^l                (§3's score_ratio, on S)
    is_sink = S non-empty and ratio >= k   (paper mode: S non-empty; the paper has no k rule)
    score   = (1 / (L - b)) sum_{l >= b} s_t^l                         (sink or not)

and with `margin` (`AnalysisConfig.outcome_margin`, default 0.1) the outcome is, first rule that
applies (`edit_outcome`):

    promoted     = kind_after == 'primary' and kind_before != 'primary'
    strengthened   promoted, or score_after >= (1 + margin) x score_before
    removed        is_sink before, not is_sink after, and score_after <= score_before
    weakened       score_after <= (1 - margin) x score_before
    unchanged      otherwise

So "removed" never includes a promotion or a higher score: a sink that is no longer sink-like
while its score rose by less than the margin is "unchanged" (its attention did not change beyond
the margin; the row's |S| and ratio show it is no longer sink-like). A sink that is no longer a
sink is never "weakened", and a token that was no sink before the edit is never "removed".
`promoted` is kept as its own flag next to the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from sinkscope.analysis.config import DEFAULTS
from sinkscope.analysis.detection import Detection

EditOutcome = Literal["removed", "weakened", "unchanged", "strengthened"]
EDIT_OUTCOMES: tuple[str, ...] = get_args(EditOutcome)


@dataclass(frozen=True)
class SinkState:
    """Token t from the edited block b on, in one run (docs/method.md §4 "Outcomes").

    kind      the token's §3 class in that run ('none' when it has no record).
    layers    |S|, its scanned sink-like layers l >= b.
    ratio     mean s_t^l over S / mean b_t^l over S (NaN when S is empty or the baseline is undefined;
              inf for a zero baseline and a positive score, as §3's score_ratio).
    score     mean s_t^l over all l >= b.
    is_sink   S non-empty and ratio >= k (paper mode: S non-empty).
    """

    kind: str
    layers: int
    ratio: float
    score: float
    is_sink: bool


@dataclass(frozen=True)
class Outcome:
    """`edit_outcome`'s answer: the outcome, the `promoted` flag and the relative score change
    (score_after - score_before) / score_before (NaN for a zero score before)."""

    outcome: EditOutcome
    promoted: bool
    score_change: float


def sink_state(det: Detection, t: int, start: int) -> SinkState:
    """Whether token t is a sink, and how strongly, over layers >= `start` (docs/method.md §4 "Outcomes").

    Formulas in the module docstring; k and the mode are `det.config`'s.

    Returns:
        The `SinkState` of token t in the run `det` describes.
    """
    rec = det.records[det.records["position"] == t]
    kind = str(rec["kind"].iloc[0]) if len(rec) else "none"
    layers = start + np.flatnonzero(det.scanned[start:, t])
    score = float(np.nanmean(det.layer_scores[start:, t])) if det.n_layers > start else float("nan")
    if layers.size == 0:
        return SinkState(kind, 0, float("nan"), score, False)
    num = float(det.layer_scores[layers, t].mean())
    base = det.baseline[layers, t]
    den = float(np.nanmean(base)) if np.isfinite(base).any() else float("nan")
    if not (np.isfinite(num) and np.isfinite(den)):
        ratio = float("nan")
    elif den == 0.0:
        ratio = float("inf") if num > 0 else float("nan")
    else:
        ratio = num / den
    confirmed = det.config.mode == "paper" or bool(ratio >= det.config.k)  # NaN never confirms
    return SinkState(kind, int(layers.size), ratio, score, confirmed)


def edit_outcome(before: SinkState, after: SinkState, margin: float = DEFAULTS.outcome_margin) -> Outcome:
    """Classify an edit's effect on one token (docs/method.md §4 "Outcomes").

    The first rule that applies: strengthened (promoted to primary-like, or score >= (1 + margin) x
    before), removed (a sink before, no sink after, score not higher), weakened (score <= (1 -
    margin) x before), unchanged.

    Returns:
        An `Outcome`.
    """
    b, a = before.score, after.score
    change = (a - b) / b if np.isfinite(a) and np.isfinite(b) and b != 0 else float("nan")
    promoted = after.kind == "primary" and before.kind != "primary"
    higher = bool(np.isfinite(a) and np.isfinite(b) and a >= (1.0 + margin) * b and a > b)
    lower = bool(np.isfinite(a) and np.isfinite(b) and a <= (1.0 - margin) * b and a < b)
    rose = bool(np.isfinite(a) and np.isfinite(b) and a > b)  # any rise: never "removed" (NaN: not known to rise)
    if promoted or higher:
        out: EditOutcome = "strengthened"
    elif before.is_sink and not after.is_sink and not rose:
        out = "removed"
    elif lower:
        out = "weakened"
    else:
        out = "unchanged"
    return Outcome(out, promoted, float(change))


def outcome_counts(outcomes: list[str] | np.ndarray, promoted: list[bool] | np.ndarray) -> dict[str, int]:
    """Counts of the intervention outcomes over rows (docs/method.md §4 "Outcomes").

    Every outcome is present, zeros included; "promoted" counts the flag, a subset of strengthened.

    Shapes:
        outcomes: [N] outcome names, with N = number of rows.
        promoted: [N] bool.

    Returns:
        {"removed": n, "weakened": n, "unchanged": n, "strengthened": n, "promoted": n}.
    """
    vals = [str(x) for x in outcomes]
    out = {o: sum(v == o for v in vals) for o in EDIT_OUTCOMES}
    out["promoted"] = int(np.asarray(promoted, dtype=bool).sum())
    return out


__all__ = ["EDIT_OUTCOMES", "EditOutcome", "Outcome", "SinkState", "edit_outcome", "outcome_counts", "sink_state"]
