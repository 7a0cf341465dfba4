"""sinkscope: find, measure and explain attention sinks in Hugging Face transformer LMs.

    import sinkscope
    lm = sinkscope.load_model("smollm2-135m")
    res = sinkscope.scan(lm, ["text one", "text two"], mode="general")
    res = sinkscope.scan(lm, [[1, 504, 3295]])          # token ids, used exactly as given
    res = sinkscope.scan(lm, [sinkscope.Input(source="q1", prompt="2+2?", response=" 4.")])
    res.sinks; res.scores(0); res.tokens(0); res.save("out"); sinkscope.ScanResult.load("out")

Layers (data flows one way): models -> capture (Trace) -> analysis (Findings) -> report.
The quantities are specified in docs/method.md (cited by section in every docstring).
"""

from __future__ import annotations

from sinkscope.core.errors import SinkscopeError
from sinkscope.core.version import __version__

__all__ = [
    "__version__", "load_model", "scan", "ScanResult", "SinkscopeError", "LoadedModel", "DetectConfig", "AnalysisConfig", "anatomy",
    "Input",
]


def __getattr__(name: str):
    # Lazy imports keep `import sinkscope` (and `sinkscope --help`) fast: torch loads on first use.
    if name == "load_model":
        from sinkscope.models import load_model

        return load_model
    if name in ("scan", "ScanResult"):
        from sinkscope.workflows import scan as _pipeline

        return getattr(_pipeline, name)
    if name == "Input":
        from sinkscope.capture.inputs import Input

        return Input
    if name == "LoadedModel":
        from sinkscope.models.base import LoadedModel

        return LoadedModel
    if name in ("DetectConfig", "AnalysisConfig"):
        from sinkscope.analysis import config as _config

        return getattr(_config, name)
    if name == "anatomy":
        from sinkscope.workflows.anatomy import anatomy

        return anatomy
    if name in ("intervene",):
        from sinkscope.workflows.interventions import intervene

        return intervene
    if name == "sweep":
        import importlib

        return importlib.import_module("sinkscope.workflows.sweep")
    raise AttributeError(f"module 'sinkscope' has no attribute '{name}'")
