"""What the report layer reads from a scan: the `ScanLike` protocol.

`sinkscope.workflows.scan.ScanResult` satisfies it; it lives in a higher layer, so the report
names only the attributes it reads (structural typing) and never imports it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from sinkscope.analysis.config import DetectConfig
from sinkscope.analysis.findings import Findings
from sinkscope.analysis.summary import Summary
from sinkscope.capture.trace import PromptTrace, Trace


class ScanLike(Protocol):
    """A scan result as the report sees it (read-only).

    trace        the reduced capture (`Trace`); prompts = trace.prompts
    findings     the analysis (`Findings`): detections, sinks, layers, norm law, levels, weakening,
                 and the cached docs/method.md §8 properties (`findings.properties(kinds)`)
    config       the thresholds the findings were computed with
    manifest     the run's manifest dict (model, dtype, prompts' sources, created, ...)
    sinks        one row per sink record (= findings.sinks)
    layers       per prompt x layer table (= findings.layers)
    scores(i)    float32 [L, H, T] per-head scores of prompt i (docs/method.md §1)
    tokens(i)    the tokens of prompt i
    summary()    the headline numbers (= findings.summary())
    """

    @property
    def trace(self) -> Trace: ...

    @property
    def findings(self) -> Findings: ...

    @property
    def config(self) -> DetectConfig: ...

    @property
    def manifest(self) -> dict[str, Any]: ...

    @property
    def prompts(self) -> list[PromptTrace]: ...

    @property
    def sinks(self) -> pd.DataFrame: ...

    @property
    def layers(self) -> pd.DataFrame: ...

    def scores(self, i: int = 0) -> np.ndarray:
        """The per-head sink scores s_j^{l,h} of prompt `i` (docs/method.md §1).

        Shapes:
            returns: [L, H, T] float32.
        """
        ...

    def tokens(self, i: int = 0) -> list[str]: ...

    def summary(self) -> Summary: ...


__all__ = ["ScanLike"]
