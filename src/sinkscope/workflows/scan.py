"""`scan`: text -> capture -> `Trace` -> analysis -> `Findings`, wrapped in a `ScanResult`.

A `ScanResult` is what every command produces and every report reads. On disk (`save`):

    DIR/manifest.json     versions, model ref and weight hash, dtype, every threshold, timings
    DIR/sinks.parquet     one row per sink record (METHOD.md §3, with §4 formation columns)
    DIR/layers.parquet    per prompt and layer: primary score, head fraction, norm, secondary mass (§6)
    DIR/massive.parquet   massive activations (prior-work metric)
    DIR/findings.json     the summary, norm law (§5), weakening (§6) and levels (§7)
    DIR/prompts/NNNN.npz  the per-prompt reduced arrays (per-head scores etc., see PromptTrace)

Writes are atomic: everything goes to a temporary sibling folder that is renamed into place
only when complete, so an interrupted scan leaves no partial DIR.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from sinkscope.analysis import DetectConfig, Findings, analyze
from sinkscope.capture.engine import capture
from sinkscope.capture.inputs import Prompt, prepare
from sinkscope.capture.trace import CaptureSettings, PromptTrace, Trace
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable, write_dir_atomic
from sinkscope.models.base import LoadedModel

FORMAT_VERSION = 1


def _version() -> str:
    from sinkscope.core.version import __version__

    return __version__


@dataclass
class ScanResult:
    """The result of `scan`: the reduced trace, the findings, and the manifest.

    res.sinks          DataFrame, one row per sink record (prompt, position, token, kind, birth, ...)
    res.layers         DataFrame, per prompt x layer (METHOD.md §6)
    res.scores(i)      float32 [layers, heads, tokens], METHOD.md §1 per-head score of prompt i
    res.tokens(i)      list[str]
    res.norm_law()     METHOD.md §5;  res.levels() METHOD.md §7;  res.findings.summary()
    res.properties()   METHOD.md §8 (key / value norms, tidy DataFrames)
    """

    trace: Trace
    findings: Findings
    config: DetectConfig
    manifest: dict[str, Any] = field(default_factory=dict)

    # ---- accessors ---------------------------------------------------------------------------
    @property
    def prompts(self) -> list[PromptTrace]:
        return self.trace.prompts

    @property
    def sinks(self) -> pd.DataFrame:
        return self.findings.sinks

    @property
    def layers(self) -> pd.DataFrame:
        return self.findings.layers

    def scores(self, i: int = 0) -> np.ndarray:
        return self.trace.prompts[i].scores

    def tokens(self, i: int = 0) -> list[str]:
        return list(self.trace.prompts[i].tokens)

    def norm_law(self):
        return self.findings.norm_law

    def levels(self):
        return self.findings.levels

    def summary(self) -> dict[str, Any]:
        return self.findings.summary()

    def properties(self, kinds: tuple[str, ...] = ("secondary",)):
        """METHOD.md §8: residual / key / value norms and the value each sink returns, per layer
        (`sinkscope.analysis.properties.SinkProperties`; no model run, cached in the findings)."""
        return self.findings.properties(kinds)

    def reanalyze(self, **overrides: Any) -> "ScanResult":
        """The same capture, analysed with other thresholds (no model run)."""
        cfg = DetectConfig(**{**self.config.to_dict(), **overrides})
        manifest = dict(self.manifest)
        manifest["thresholds"] = cfg.to_dict()
        return ScanResult(self.trace, analyze(self.trace.prompts, cfg), cfg, manifest)

    # ---- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the result folder atomically (see module docstring)."""
        return write_dir_atomic(path, self._write, overwrite=overwrite)

    def _write(self, d: Path) -> None:
        (d / "prompts").mkdir()
        for i, p in enumerate(self.trace.prompts):
            p.save(d / "prompts" / f"{i:04d}.npz")
        self.findings.sinks.to_parquet(d / "sinks.parquet", index=False)
        self.findings.layers.to_parquet(d / "layers.parquet", index=False)
        self.findings.massive.to_parquet(d / "massive.parquet", index=False)
        (d / "findings.json").write_text(json.dumps(jsonable(self.findings.to_dict()), indent=2))
        (d / "manifest.json").write_text(json.dumps(jsonable(self.manifest), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "ScanResult":
        """Read a folder written by `save`; the analysis is recomputed from the stored arrays."""
        d = Path(path)
        mf = d / "manifest.json"
        if not mf.exists():
            raise InputError(f"'{d}' is not a sinkscope result folder (no manifest.json).")
        manifest = json.loads(mf.read_text())
        files = sorted((d / "prompts").glob("*.npz"))
        prompts = [PromptTrace.load(f) for f in files]
        settings = CaptureSettings(**manifest.get("capture", {}))
        trace = Trace(prompts=prompts, settings=settings, timings=manifest.get("timings", {}))
        cfg = DetectConfig(**manifest["thresholds"])
        return cls(trace, analyze(prompts, cfg), cfg, manifest)

    def _repr_html_(self) -> str:
        try:
            from sinkscope.report.html import notebook_html

            return notebook_html(self)
        except ImportError:
            return f"<pre>{self.summary()}</pre>"


def _hash_source(source: str | None) -> str | None:
    if not source:
        return None
    p = Path(source)
    files = [p] if p.is_file() else sorted(p.glob("*.safetensors")) if p.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def build_manifest(
    lm: LoadedModel,
    cfg: DetectConfig,
    settings: CaptureSettings,
    prompts: list[Prompt],
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import torch
    import transformers

    info = lm.info
    return {
        "format_version": FORMAT_VERSION,
        "sinkscope_version": _version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv else None,
        "model": {
            "ref": info.ref,
            "model_type": info.model_type,
            "architecture": info.architecture,
            "n_layers": info.n_layers,
            "n_heads": info.n_heads,
            "n_kv_heads": info.n_kv_heads,
            "hidden_size": info.hidden_size,
            "adds_bos": info.adds_bos,
            "source": info.source,
            "source_hash": info.source_hash or _hash_source(info.source),
        },
        "dtype": settings.dtype,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": np.__version__,
        },
        "mode": cfg.mode,
        "thresholds": cfg.to_dict(),
        "capture": settings.to_dict(),
        "prompts": [
            {"source": p.source, "n_tokens": len(p.token_ids), "n_prompt_tokens": p.n_prompt_tokens} for p in prompts
        ],
        "timings": timings,
        **(extra or {}),
    }


def scan(
    lm: LoadedModel,
    texts: str | list[str] | list[tuple[str, str]],
    mode: str = "general",
    *,
    chat: bool = False,
    generate: int = 0,
    batch_size: int = 1,
    query_block: int | None = None,
    with_nll: bool = False,
    config: DetectConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    **thresholds: Any,
) -> ScanResult:
    """Scan `texts` with `lm` and analyse them (METHOD.md §1-§7).

    `texts` is a string, a list of strings, or (text, source) pairs. Thresholds (tau, k,
    min_queries, ...; see `DetectConfig`) may be passed as keywords or as a `config`.
    `progress(stage, done, total)` is called as work advances (stages "prepare", "capture").
    """
    if isinstance(texts, str):
        texts = [texts]
    pairs = [t if isinstance(t, tuple) else (t, f"text {i}") for i, t in enumerate(texts)]
    cfg = config or DetectConfig(mode=mode, **thresholds)
    t0 = time.perf_counter()
    done = {"prepare": 0, "capture": 0}

    def tick(stage: str):
        def f(k: int) -> None:
            done[stage] += k
            if progress is not None:
                progress(stage, done[stage], len(pairs))

        return f

    prompts = prepare(lm, pairs, chat=chat, generate_tokens=generate, progress=tick("prepare"))
    t1 = time.perf_counter()
    settings = CaptureSettings(
        n_candidates=cfg.n_candidates,
        dtype=lm.info.dtype,
        query_block=query_block,
        with_nll=with_nll,
        batch_size=batch_size,
    )
    trace = capture(
        lm,
        [p.text for p in prompts],
        [p.token_ids for p in prompts],
        [p.tokens for p in prompts],
        settings,
        progress=tick("capture"),
    )
    t2 = time.perf_counter()
    findings = analyze(trace.prompts, cfg)
    t3 = time.perf_counter()
    timings = {"prepare_s": t1 - t0, "capture_s": t2 - t1, "analysis_s": t3 - t2, "total_s": t3 - t0}
    trace.timings.update(timings)
    manifest = build_manifest(
        lm, cfg, settings, prompts, timings, extra={"generate": generate, "chat": chat}
    )
    return ScanResult(trace, findings, cfg, manifest)
