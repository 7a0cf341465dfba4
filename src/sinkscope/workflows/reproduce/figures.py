"""Per-model figures of the reproduction document: `report.figures`' norm-law, weakening and
levels figures (the report's style), as PNG next to the document."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sinkscope.report.figures import write_figures

if TYPE_CHECKING:
    from sinkscope.workflows.scan import ScanResult

MODEL_FIGURES = ("normlaw", "weakening", "levels")  # the order of the document and of results.json
DPI = 130  # the committed docs/reproduction PNGs use 130 dpi (the report: 200)


def write_model_figures(res: ScanResult, out_dir: Path, rel_to: Path) -> dict[str, str]:
    """out_dir/{normlaw,weakening,levels}.png (`report.figures.write_figures`, each atomic);
    returns name -> path relative to `rel_to` (the document's folder), with '/' separators."""
    import matplotlib

    matplotlib.use("Agg")
    paths = write_figures(res, out_dir, formats=("png",), names=MODEL_FIGURES, dpi=DPI)
    return {p.stem: os.path.relpath(p, rel_to).replace(os.sep, "/") for p in paths}
