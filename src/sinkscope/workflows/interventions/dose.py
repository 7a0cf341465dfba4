"""Dose-response (docs/method.md §4 (c) steering and (d) induction): one token, a grid of strengths.

At block b and token t, for each value v of the grid, block b's MLP output is edited
  induce:  m' = m + v u          (u = unit(h_p^b) from the clean pass; typically a non-sink t)
  rescale: m' = v m / ||m||      (the paper's steering; typically at a sink, v = the new norm)
and the text is re-run. Per value:
  score     (1/(L-b)) sum_{l >= b} s_t^l, the token's mean layer score from block b on (§1);
  lifetime  |{l : |cos(h_t^l, h_p^l)| >= tau}|, the token's sink-like layers (§2);
plus its class (§3, 'none' when sink-like nowhere), the outcome against the clean run (removed /
weakened / unchanged / strengthened and the promoted flag, §4 "Outcomes"), ||m'||, m'.u and the NLL
change on the rest of the text. The clean run's score and lifetime are the reference lines of the plot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sinkscope.analysis import DetectConfig
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import write_dir_atomic, write_json
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.interventions.core import Target, apply_plans, check_layer, clean_for
from sinkscope.workflows.interventions.result import InterventionResult
from sinkscope.workflows.interventions.spec import InterventionSpec, parse_grid
from sinkscope.workflows.scan import ScanResult

DoseMode = Literal["induce", "rescale"]
DOSE_MODES = ("induce", "rescale")
DOSE_COLUMNS = (
    "value",
    "mode",
    "score",
    "lifetime",
    "longest_run",
    "kind",
    "outcome",
    "promoted",
    "birth",
    "mean_score",
    "mlp_norm",
    "mlp_proj",
    "delta_nll_mean",
    "delta_nll_max",
)


def _longest(mask: np.ndarray) -> int:
    best = run = 0
    for v in mask:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


@dataclass(eq=False)
class DoseResult:
    """Score and lifetime of one token against the strength of an edit at block `layer`.

    table: one row per grid value (`DOSE_COLUMNS`); clean_score / clean_lifetime / clean_kind:
    the same token in the clean run; runs: the `InterventionResult` of each value.
    """

    mode: str
    layer: int
    position: int
    token: str
    primary: int
    direction_norm: float
    clean_score: float
    clean_lifetime: int
    clean_kind: str
    clean_mlp_norm: float
    table: pd.DataFrame
    clean: ScanResult
    runs: list[InterventionResult]

    def monotone(self, column: str = "score", tol: float = 0.0) -> bool:
        """Whether `column` is non-decreasing in the grid value (within `tol`)."""
        t = self.table.sort_values("value")
        v = t[column].to_numpy(dtype=np.float64)
        return bool(np.all(np.diff(v) >= -tol))

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "layer": self.layer,
            "position": self.position,
            "token": self.token,
            "primary": self.primary,
            "direction_norm": self.direction_norm,
            "clean_score": self.clean_score,
            "clean_lifetime": self.clean_lifetime,
            "clean_kind": self.clean_kind,
            "clean_mlp_norm": self.clean_mlp_norm,
            "score_monotone": self.monotone("score"),
            "lifetime_monotone": self.monotone("lifetime"),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "rows": self.table.to_dict(orient="records")}

    def plot(self, stem: str | Path) -> list[Path]:
        """Score and lifetime against the grid value; writes STEM.png and STEM.svg."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        stem = Path(stem)
        t = self.table.sort_values("value")
        x = t["value"].to_numpy(dtype=np.float64)
        label = "ALPHA (m' = m + ALPHA u)" if self.mode == "induce" else "NORM (m' = NORM m/||m||)"
        fig = Figure(figsize=(9, 3.6), constrained_layout=True)  # no pyplot: the caller's backend is left alone
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2)
        for ax, col, ref, ylab in (
            (axes[0], "score", self.clean_score, "mean score, layers >= b"),
            (axes[1], "lifetime", self.clean_lifetime, "lifetime (sink-like layers)"),
        ):
            ax.plot(x, t[col].to_numpy(dtype=np.float64), marker="o")
            ax.axhline(ref, linestyle="--", color="grey", label="clean run")
            ax.set_xlabel(label)
            ax.set_ylabel(ylab)
            ax.grid(alpha=0.3)
        axes[0].legend(loc="best", fontsize=8)
        fig.suptitle(f"{self.mode} at block {self.layer}, token {self.position} {self.token!r} (docs/method.md §4)", fontsize=10)
        paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
        for p in paths:
            fig.savefig(p, dpi=120)
        return paths

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """DIR/dose.parquet, dose.json, dose.png, dose.svg and clean/ (the clean scan), atomically."""

        def write(d: Path) -> None:
            self.table.to_parquet(d / "dose.parquet", index=False)
            write_json(d / "dose.json", self.to_dict())
            self.plot(d / "dose")
            self.clean.write_into(d / "clean")

        return write_dir_atomic(path, write, overwrite=overwrite)


def dose_response(
    lm: LoadedModel,
    text: str | tuple[str, str] | None = None,
    *,
    layer: int,
    position: int,
    mode: DoseMode = "induce",
    grid: str | Sequence[float] = (0, 50, 100, 200),
    config: DetectConfig | None = None,
    chat: bool = False,
    generate: int = 0,
    clean: ScanResult | None = None,
    prompt: int = 0,
    batch_size: int = 1,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    **thresholds: Any,
) -> DoseResult:
    """Sweep `mode` ("induce": ALPHA, "rescale": NORM) over `grid` at block `layer`, token
    `position` (docs/method.md §4 (c), (d)). With `out`, the table and the plot (PNG + SVG) are written
    there atomically (see `DoseResult.save`)."""
    if mode not in DOSE_MODES:
        raise InputError(f"dose mode '{mode}' is not valid; allowed: {', '.join(DOSE_MODES)}.")
    values = parse_grid(grid, "grid")
    specs = [InterventionSpec(mode, v) for v in values]  # validates (rescale: NORM >= 0)
    layer = check_layer(lm, layer)
    if isinstance(position, (list, tuple)):
        if len(position) != 1:
            raise InputError(f"dose-response takes one position (got {list(position)}).")
        position = position[0]
    clean, pr, positions = clean_for(
        lm, text, position, config=config, thresholds=thresholds, clean=clean, prompt=prompt,
        chat=chat, generate=generate, query_block=None, caller="dose_response",
    )
    t = positions[0]
    if out is not None and Path(out).exists() and not overwrite:
        raise InputError(f"output folder '{out}' already exists; choose another --out or pass --overwrite.")

    def tick(k: int) -> None:
        tick.done += k  # type: ignore[attr-defined]
        if progress is not None:
            progress(tick.done, len(specs))  # type: ignore[attr-defined]

    tick.done = 0  # type: ignore[attr-defined]
    runs = apply_plans(lm, [Target(clean, pr, layer, (t,), s) for s in specs], batch_size=batch_size, progress=tick)
    det = clean.findings.detections[0]
    rows = []
    for spec, res in zip(specs, runs):
        edet = res.intervened.findings.detections[0]
        eff = res.targets.iloc[0]
        rows.append(
            {
                "value": float(spec.value),  # type: ignore[arg-type]
                "mode": mode,
                "score": float(eff["score_after"]),
                "lifetime": int(edet.scanned[:, t].sum()),
                "longest_run": _longest(edet.scanned[:, t]),
                "kind": str(eff["kind_after"]),
                "outcome": str(eff["outcome"]),
                "promoted": bool(eff["promoted"]),
                "birth": float(eff["birth_after"]),
                "mean_score": float(eff["mean_score_after"]),
                "mlp_norm": float(eff["mlp_norm_after"]),
                "mlp_proj": float(eff["mlp_proj_after"]),
                "delta_nll_mean": res.nll.mean,
                "delta_nll_max": res.nll.max,
            }
        )
    first = runs[0].targets.iloc[0]
    result = DoseResult(
        mode=mode,
        layer=layer,
        position=t,
        token=str(clean.prompts[0].tokens[t]),
        primary=det.p,
        direction_norm=runs[0].direction_norm,
        clean_score=float(first["score_before"]),
        clean_lifetime=int(det.scanned[:, t].sum()),
        clean_kind=str(first["kind_before"]),
        clean_mlp_norm=float(first["mlp_norm_before"]),
        table=pd.DataFrame(rows, columns=list(DOSE_COLUMNS)),
        clean=clean,
        runs=runs,
    )
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result


__all__ = ["DOSE_COLUMNS", "DOSE_MODES", "DoseMode", "DoseResult", "dose_response"]
