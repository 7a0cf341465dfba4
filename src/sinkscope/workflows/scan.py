"""`scan`: text -> capture -> `Trace` -> analysis -> `Findings`, wrapped in a `ScanResult`.

A `ScanResult` is what every command produces and every report reads. On disk (`save`):

    DIR/manifest.json     versions, model ref and weight hash, dtype, every threshold, timings
    DIR/sinks.parquet     one row per sink record (docs/method.md §3, with §4 formation columns)
    DIR/layers.parquet    per prompt and layer: primary score, head fraction, norm, secondary mass (§6)
    DIR/massive.parquet   massive activations (prior-work metric)
    DIR/findings.json     the summary, norm law (§5), weakening (§6) and levels (§7)
    DIR/prompts/NNNN.npz  the per-prompt reduced arrays (per-head scores etc., see PromptTrace)

Writes are atomic: everything goes to a temporary sibling folder that is renamed into place
only when complete, so an interrupted scan leaves no partial DIR.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from sinkscope.analysis import AnalysisConfig, DetectConfig, Findings, analyze
from sinkscope.analysis.detection import PAPER_CANDIDATES
from sinkscope.analysis.summary import Summary
from sinkscope.capture.engine import PromptEdit, capture
from sinkscope.capture.inputs import Input, Prompt, as_inputs, form_counts, prepare
from sinkscope.capture.trace import CaptureSettings, PromptTrace, Trace
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import write_dir_atomic, write_json
from sinkscope.core.hashing import sha256_files
from sinkscope.core.version import __version__, command_line
from sinkscope.models.base import LoadedModel

FORMAT_VERSION = 1

#: the stages of `run_pipeline`
Stage = Literal["prepare", "capture", "analysis"]



@dataclass
class ScanResult:
    """The result of `scan`: the reduced trace, the findings, and the manifest.

    res.sinks          DataFrame, one row per sink record (prompt, position, token, kind, birth, ...)
    res.layers         DataFrame, per prompt x layer (docs/method.md §6)
    res.scores(i)      float32 [layers, heads, tokens], docs/method.md §1 per-head score of prompt i
    res.tokens(i)      list[str]
    res.norm_law()     docs/method.md §5;  res.levels() docs/method.md §7;  res.findings.summary()
    res.properties()   docs/method.md §8 (key / value norms, tidy DataFrames)
    res.gates          DataFrame per layer x head: mean output gate at the primary, secondary sinks and
                       ordinary tokens (docs/method.md §12; empty for ungated models)
    res.learned_sink   DataFrame per layer x head: learned sink mass beside the primary's score (§13)
    """

    trace: Trace
    findings: Findings
    manifest: dict[str, Any] = field(default_factory=dict)

    # ---- accessors ---------------------------------------------------------------------------
    @property
    def config(self) -> AnalysisConfig:
        """The `AnalysisConfig` of the analysis (every threshold, docs/method.md §1-§7): the
        findings' own (`Findings.config`), the one source of the setting."""
        return self.findings.config

    @property
    def prompts(self) -> list[PromptTrace]:
        return self.trace.prompts

    @property
    def sinks(self) -> pd.DataFrame:
        return self.findings.sinks

    @property
    def layers(self) -> pd.DataFrame:
        return self.findings.layers

    @property
    def gates(self) -> pd.DataFrame:
        return self.findings.gates

    @property
    def learned_sink(self) -> pd.DataFrame:
        return self.findings.learned_sink

    def scores(self, i: int = 0) -> np.ndarray:
        """The per-head sink scores s_j^{l,h} of prompt `i` (docs/method.md §1).

        Shapes:
            returns: [L, H, T] float32 (`PromptTrace.scores`).
        """
        return self.trace.prompts[i].scores

    def tokens(self, i: int = 0) -> list[str]:
        return list(self.trace.prompts[i].tokens)

    def norm_law(self):
        return self.findings.norm_law

    def levels(self):
        return self.findings.levels

    def summary(self) -> Summary:
        """The findings' typed headline numbers (`Findings.summary`)."""
        return self.findings.summary()

    def properties(self, kinds: tuple[str, ...] = ("secondary",)):
        """docs/method.md §8: residual / key / value norms and the value each sink returns, per layer
        (`sinkscope.analysis.properties.SinkProperties`; no model run, cached in the findings)."""
        return self.findings.properties(kinds)

    def reanalyze(self, **overrides: Any) -> "ScanResult":
        """The same capture, analysed with other thresholds (no model run).

        `overrides` are `AnalysisConfig` fields (tau, k, levels_min_share, n_boot, ...); every other
        threshold stays as this result's (not the defaults). The manifest records the new config.
        """
        cfg = AnalysisConfig.coerce(self.config, **overrides)
        manifest = {**self.manifest, **cfg.manifest_entries()}
        manifest.pop("analysis_defaulted", None)
        return ScanResult(self.trace, analyze(self.trace.prompts, cfg), manifest)

    # ---- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the result folder atomically (see module docstring)."""
        return write_dir_atomic(path, self.write_into, overwrite=overwrite)

    def write_into(self, d: Path) -> None:
        """Write the result's files (the layout of `save`) into folder `d`, created if missing;
        not atomic by itself (`save` and the intervention results call it inside a temporary folder)."""
        d.mkdir(parents=True, exist_ok=True)
        (d / "prompts").mkdir()
        for i, p in enumerate(self.trace.prompts):
            p.save(d / "prompts" / f"{i:04d}.npz")
        self.findings.sinks.to_parquet(d / "sinks.parquet", index=False)
        self.findings.layers.to_parquet(d / "layers.parquet", index=False)
        self.findings.massive.to_parquet(d / "massive.parquet", index=False)
        write_json(d / "findings.json", self.findings.to_dict())
        write_json(d / "manifest.json", self.manifest)

    @classmethod
    def load(cls, path: str | Path) -> "ScanResult":
        """Read a folder written by `save`; the analysis is recomputed from the stored arrays with
        the manifest's config ("thresholds" + "analysis", `AnalysisConfig.from_manifest`). A manifest
        written before "analysis" existed gets the documented defaults of those fields, and
        `manifest["analysis_defaulted"]` lists them."""
        d = Path(path)
        mf = d / "manifest.json"
        if not mf.exists():
            raise InputError(f"'{d}' is not a sinkscope result folder (no manifest.json).")
        try:
            manifest = json.loads(mf.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise damaged(d, f"manifest.json is not valid JSON ({e})") from None
        prompts = _load_prompts(d, manifest)
        settings = CaptureSettings(**manifest.get("capture", {}))
        trace = Trace(prompts=prompts, settings=settings, timings=manifest.get("timings", {}))
        cfg, defaulted = AnalysisConfig.from_manifest(manifest)
        if defaulted:
            manifest["analysis_defaulted"] = defaulted
        return cls(trace, analyze(prompts, cfg), manifest)

    def __repr__(self) -> str:
        """A one-line summary (model, prompts, tokens, record counts per class), not the arrays."""
        return f"{type(self).__name__}({self._repr_fields()})"

    def _repr_fields(self) -> str:
        model = (self.manifest.get("model") or {}).get("ref", "?")
        n_tokens = sum(p.n_tokens for p in self.prompts)
        kinds = self.sinks.loc[~self.sinks["is_primary_position"], "kind"].value_counts()
        counts = ", ".join(
            f"{label}={int(kinds.get(kind, 0))}"
            for label, kind in (("secondary", "secondary"), ("primary_like", "primary"), ("noise", "noise"),
                                ("unclassified", "unclassified"))
        )
        return (f"model={model!r}, mode={self.config.mode!r}, prompts={len(self.prompts)}, tokens={n_tokens}, "
                f"layers={self.findings.n_layers}, {counts}")

    def _repr_html_(self) -> str:
        try:
            from sinkscope.report.html import notebook_html

            return notebook_html(self)
        except ImportError:
            return f"<pre>{self.summary()}</pre>"


def damaged(folder: Path, why: str) -> InputError:
    """The error of a result folder whose files cannot be read (a copy cut short, a full disk)."""
    return InputError(f"result folder '{folder}' is damaged: {why}. Nothing was written; re-run the command that "
                      "made it (manifest.json \"command\") into a new --out, or restore the folder from a copy.")


def _load_prompts(d: Path, manifest: dict[str, Any]) -> list[PromptTrace]:
    """The stored prompts of a result folder, after checking every file `save` writes is there and
    readable (the tables' parquet footers, each .npz; `damaged` otherwise). Region bounds missing
    from an older .npz are taken from the manifest's "prompts"."""
    import pyarrow.parquet as pq

    for name in ("sinks.parquet", "layers.parquet", "massive.parquet"):
        f = d / name
        if not f.is_file():
            raise damaged(d, f"{name} is missing")
        try:
            pq.read_metadata(f)
        except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid / OSError for a cut file
            raise damaged(d, f"{name} cannot be read ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    rows = manifest.get("prompts") or []
    files = sorted((d / "prompts").glob("*.npz"))
    if rows and len(files) != len(rows):
        raise damaged(d, f"prompts/ holds {len(files)} .npz file(s), the manifest lists {len(rows)} prompt(s)")
    prompts = []
    for f in files:
        try:
            prompts.append(PromptTrace.load(f))
        except Exception as e:  # noqa: BLE001 - zipfile / numpy errors of a cut file
            raise damaged(d, f"prompts/{f.name} cannot be read ({type(e).__name__}: {e})") from None
    for pt, row in zip(prompts, rows):
        if pt.n_prompt_tokens is None and "n_prompt_tokens" in row:
            pt.n_prompt_tokens = int(row["n_prompt_tokens"])
            pt.n_template_tokens = int(row.get("n_template_tokens", 0))
    return prompts


def _hash_source(source: str | None) -> str | None:
    """sha256 of the weights at `source` (a file, or a folder's safetensors), like `ModelInfo.source_hash`."""
    if not source:
        return None
    p = Path(source)
    files = [p] if p.is_file() else sorted(p.glob("*.safetensors")) if p.is_dir() else []
    return sha256_files(files)[0] if files else None


def build_manifest(
    lm: LoadedModel,
    cfg: DetectConfig,
    settings: CaptureSettings,
    prompts: list[Prompt],
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
    heads: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The run's manifest. `heads`: (query heads, key/value heads) as the captured tensors had them
    (docs/method.md "Capture"); the config's counts only when not given."""
    import torch
    import transformers

    info = lm.info
    n_heads, n_kv = heads if heads is not None else (info.n_heads, info.n_kv_heads)
    return {
        "format_version": FORMAT_VERSION,
        "sinkscope_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "model": {
            "ref": info.ref,
            "model_type": info.model_type,
            "architecture": info.architecture,
            "n_layers": info.n_layers,
            "n_heads": n_heads,
            "n_kv_heads": n_kv,
            "hidden_size": info.hidden_size,
            "is_causal": info.is_causal,  # False: an encoder (bidirectional attention)
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
        **AnalysisConfig.coerce(cfg).manifest_entries(),  # mode, thresholds, analysis
        "capture": settings.to_dict(),
        "prompts": [
            {"source": p.source, "form": p.form, "n_tokens": len(p.token_ids), "n_prompt_tokens": p.n_prompt_tokens,
             "n_template_tokens": p.n_template_tokens} for p in prompts
        ],
        "timings": timings,
        **(extra or {}),
    }


class Progress:
    """What `run_pipeline` reports as it goes (override what you need; the base does nothing).

    start(stage, total, prompts)   a stage begins: "prepare" (prompts empty), "capture" (the
                                   prepared prompts, captured shortest first) or "analysis" (total 1)
    advance(stage, done, total)    `done` of `total` prompts prepared / captured so far
    end(stage)                     the stage is over
    """

    def start(self, stage: Stage, total: int, prompts: Sequence[Prompt]) -> None:
        pass

    def advance(self, stage: Stage, done: int, total: int) -> None:
        pass

    def end(self, stage: Stage) -> None:
        pass


class _Ticks(Progress):
    """The plain `progress(stage, done, total)` callback as a `Progress` (prepare and capture steps)."""

    def __init__(self, fn: Callable[[str, int, int], None]) -> None:
        self.fn = fn

    def advance(self, stage: Stage, done: int, total: int) -> None:
        self.fn(stage, done, total)


def run_pipeline(
    lm: LoadedModel,
    cfg: DetectConfig,
    *,
    inputs: Sequence[Any] | None = None,
    prompts: list[Prompt] | None = None,
    chat: bool = False,
    generate: int = 0,
    batch_size: int = 1,
    query_block: int | None = None,
    with_nll: bool = False,
    edits: Mapping[int, PromptEdit] | None = None,
    check: Callable[[list[Prompt]], None] | None = None,
    progress: Progress | Callable[[str, int, int], None] | None = None,
    extra: dict[str, Any] | None = None,
    prepare_s: float = 0.0,
    analyse: Callable[[list[Prompt], Trace, dict[str, float]], Any] | None = None,
) -> Any:
    """The one scan pipeline: prepare -> capture -> analyse, into a `ScanResult`.

    prepare  `inputs` (what `capture.inputs.prepare` takes: (text, source) pairs or `Input`s)
             tokenised, with `generate` greedy tokens and the chat template when `chat`; or
             `prompts` already prepared (interventions, stored traces; `prepare_s` is then the
             caller's preparation time). Exactly one of the two.
    check    called on the prepared prompts before the capture (a failing check stops before
             the expensive pass, e.g. the positions of an intervention).
    capture  `capture_prompts` (batch_size, query_block, with_nll; `edits[i]` changes prompt i's
             MLP outputs in flight, docs/method.md §4).
    analyse  `scan_result`: `analyze` with `cfg`, the manifest (with `extra` appended) and the
             timings prepare_s, capture_s, analysis_s, total_s. `analyse(prompts, trace, timings)`
             replaces it (the interventions' edited runs: one capture, one result per prompt) and
             its value is returned.

    `progress` is a `Progress`, or a plain callback progress(stage, done, total) of the prepare
    and capture steps (`sinkscope.scan`'s protocol).
    """
    if (inputs is None) == (prompts is None):
        raise InputError("run_pipeline: give either inputs (to prepare) or prepared prompts, not both.")
    obs = progress if isinstance(progress, Progress) else _Ticks(progress) if progress is not None else Progress()
    n = len(inputs if inputs is not None else prompts)  # type: ignore[arg-type]
    done = {"prepare": 0, "capture": 0}

    def tick(stage: Stage) -> Callable[[int], None]:
        def f(k: int) -> None:
            done[stage] += k
            obs.advance(stage, done[stage], n)

        return f

    t0 = time.perf_counter()
    if prompts is None:
        obs.start("prepare", n, [])
        prompts = prepare(lm, list(inputs or []), chat=chat, generate_tokens=generate, progress=tick("prepare"))
        obs.end("prepare")
        prepare_s = time.perf_counter() - t0
    if check is not None:
        check(prompts)
    t1 = time.perf_counter()
    obs.start("capture", n, prompts)
    trace = capture_prompts(lm, prompts, cfg, batch_size=batch_size, query_block=query_block, with_nll=with_nll,
                            edits=edits, progress=tick("capture"))
    obs.end("capture")
    timings = {"prepare_s": prepare_s, "capture_s": time.perf_counter() - t1}
    obs.start("analysis", 1, prompts)
    res = analyse(prompts, trace, timings) if analyse is not None else scan_result(lm, prompts, trace, cfg, timings,
                                                                                   extra=extra)
    obs.end("analysis")
    return res


def scan(
    lm: LoadedModel,
    texts: str | list[str] | list[tuple[str, str]] | list[list[int]] | list[Input],
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
    """Scan `texts` with `lm` and analyse them (docs/method.md §1-§7): `run_pipeline` on them.

    `texts` is a string, or a list of strings, (text, source) pairs, token-id lists (`[[ids...]]`,
    used exactly as given) or `Input`s (prompt + response and the other forms of
    `sinkscope.capture.inputs`). Thresholds (tau, k,
    min_queries, levels_min_share, n_boot, ...; see `AnalysisConfig`) may be passed as keywords or
    as a `config` (not both).
    `progress(stage, done, total)` is called as work advances (stages "prepare", "capture").
    """
    pairs = as_inputs(texts)
    if config is not None and thresholds:
        raise InputError("give thresholds either as a config (config=) or as keywords, not both.")
    cfg = AnalysisConfig.coerce(config) if config is not None else AnalysisConfig(mode=mode, **thresholds)  # type: ignore[arg-type]
    return run_pipeline(lm, cfg, inputs=pairs, chat=chat, generate=generate, batch_size=batch_size,
                        query_block=query_block, with_nll=with_nll, progress=progress,
                        extra={"generate": generate, "chat": chat,
                               "inputs": {"api": len(pairs), "forms": form_counts(pairs)}})


def capture_prompts(
    lm: LoadedModel,
    prompts: list[Prompt],
    cfg: DetectConfig,
    *,
    batch_size: int = 1,
    query_block: int | None = None,
    with_nll: bool = False,
    edits: Mapping[int, PromptEdit] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """The capture stage of `scan`: run the model over prepared `prompts` (`capture.engine.capture`).

    `edits[i]` changes prompt i's MLP outputs in flight (interventions, docs/method.md §4), keyed by
    the prompt's index in `prompts` whatever batch row the capture puts it in.
    """
    settings = CaptureSettings(
        n_candidates=max(cfg.n_candidates, PAPER_CANDIDATES[True]),  # paper mode is computable on any capture
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
        progress=progress,
        edits=edits,
    )
    for pt, p in zip(trace.prompts, prompts):  # the region bounds and the chat flag (docs/method.md §3)
        pt.n_prompt_tokens, pt.n_template_tokens, pt.chat = p.n_prompt_tokens, p.n_template_tokens, p.chat
    return trace


def scan_result(
    lm: LoadedModel,
    prompts: list[Prompt],
    trace: Trace,
    cfg: DetectConfig,
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> ScanResult:
    """The analysis stage of `scan`: analyse a captured `trace` of `prompts` into a `ScanResult`.

    `timings` holds prepare_s and capture_s; analysis_s and total_s (their sum) are added, and all
    four go into the trace's timings and the manifest (with `extra` keys appended).
    """
    t0 = time.perf_counter()
    findings = analyze(trace.prompts, cfg)
    timings = {**timings, "analysis_s": time.perf_counter() - t0}
    timings["total_s"] = timings["prepare_s"] + timings["capture_s"] + timings["analysis_s"]
    trace.timings.update(timings)
    first = trace.prompts[0] if trace.prompts else None
    heads = (int(first.scores.shape[1]), int(first.key_norm.shape[1])) if first is not None else None
    manifest = build_manifest(lm, cfg, trace.settings, prompts, timings, extra=extra, heads=heads)
    return ScanResult(trace, findings, manifest)
