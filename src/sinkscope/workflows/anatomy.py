"""Anatomy of formation on a scan (docs/method.md §9): re-run the prompts up to block b, gather the MLP
inputs, dissect them with `analysis.anatomy.anatomy_core`, save the result folder.

    r = anatomy(lm, "runs/smol", layer=2)        # or a ScanResult; options: AnatomyConfig fields
    r.save("runs/smol/anatomy-b2")               # anatomy.json + pcs/curves/directions/samples.parquet

The model side goes through `capture.probe`: `gather_mlp_io` (x_t and m_t at block b, the forward
stopped after block b's MLP) and `LayerMlp` (f = block b's MLP alone). The formulas live in
`sinkscope.analysis.anatomy`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.analysis.anatomy import (
    AnatomyConfig,
    AnatomyResult,
    anatomy_core,
    birth_layer_counts,
    resolve_birth_layer,
)
from sinkscope.capture.probe import LayerMlp, MlpSamples, gather_mlp_io
from sinkscope.core.errors import InputError
from sinkscope.core.fileio import jsonable, write_dir_atomic
from sinkscope.models.base import LoadedModel
from sinkscope.workflows.scan import ScanResult

#: what `save_run` writes into its folder (`sinkscope anatomy`'s help text and final message list these)
ANATOMY_OUTPUTS = ("anatomy.json", "pcs.parquet", "curves.parquet", "directions.parquet", "samples.parquet",
                   "properties.parquet", "properties_summary.parquet", "anatomy.html", "anatomy.png", "anatomy.svg",
                   "properties.png", "properties.svg")

MLP_NORM_TOLERANCE = 0.05  # largest relative ||m_t^b|| difference (probe vs scan) of the same model and dtype


@dataclass(eq=False)
class AnatomyRun(AnatomyResult):
    """An `AnatomyResult` of a scan (what `anatomy` returns), with `save`."""

    def save(self, path: str | Path, overwrite: bool = False, extra: Callable[[Path], None] | None = None) -> Path:
        """`save_anatomy(self, path, overwrite, extra)`."""
        return save_anatomy(self, path, overwrite=overwrite, extra=extra)


def save_anatomy(
    result: AnatomyResult, path: str | Path, *, overwrite: bool = False, extra: Callable[[Path], None] | None = None
) -> Path:
    """Write DIR/anatomy.json (`result.to_dict()`) and NAME.parquet for each of `result.to_frames()`
    (pcs, curves, directions, samples) atomically (a temporary sibling folder renamed into place).
    `extra(tmp_dir)` may add files (the CLI adds the HTML fragment and the figures) before the rename."""

    def write(tmp: Path) -> None:
        (tmp / "anatomy.json").write_text(json.dumps(result.to_dict(), indent=2))
        for name, frame in result.to_frames().items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        if extra is not None:
            extra(tmp)

    return write_dir_atomic(path, write, overwrite=overwrite)


def save_run(result: AnatomyResult, res: ScanResult, path: str | Path, *, overwrite: bool = False) -> Path:
    """The folder of `sinkscope anatomy` (`ANATOMY_OUTPUTS`), atomically: `save_anatomy`'s files, the
    run's docs/method.md §8 properties (properties.parquet per layer, properties_summary.parquet),
    anatomy.html (`report.anatomy_html.anatomy_page`) and the figures (anatomy.*, properties.*)."""
    from sinkscope.report.anatomy_figures import write_anatomy_figures, write_properties_figures
    from sinkscope.report.anatomy_html import anatomy_page

    props = res.properties()

    def extra(d: Path) -> None:
        props.layers.to_parquet(d / "properties.parquet", index=False)
        props.summary.to_parquet(d / "properties_summary.parquet", index=False)
        (d / "anatomy.html").write_text(anatomy_page(result, res, props=props), encoding="utf-8")
        write_anatomy_figures(result, d)
        write_properties_figures(props, d)

    return save_anatomy(result, path, overwrite=overwrite, extra=extra)


def resolve_layer(res: ScanResult, layer: int | None) -> int:
    """`analysis.anatomy.resolve_birth_layer` on the run's sinks table and block count."""
    return resolve_birth_layer(res.sinks, int(res.findings.n_layers), layer)


def _load(res_or_run_dir: ScanResult | str | Path) -> tuple[ScanResult, str | None]:
    if isinstance(res_or_run_dir, (str, Path)):
        d = Path(res_or_run_dir)
        if not d.exists():
            raise InputError(f"run folder '{d}' not found; pass a folder written by `sinkscope scan --out`.")
        if not d.is_dir():
            raise InputError(f"'{d}' is not a folder; pass a folder written by `sinkscope scan --out`.")
        return ScanResult.load(d), str(d)
    return res_or_run_dir, None


def _config(config: AnatomyConfig | None, options: dict[str, Any]) -> AnatomyConfig:
    if config is not None and options:
        raise InputError("anatomy: pass either `config` or option keywords, not both.")
    known = set(AnatomyConfig.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"anatomy: unknown option(s) {unknown}; known options are {sorted(known)}.")
    return config or AnatomyConfig(**options)


def _check_model(lm: LoadedModel, res: ScanResult) -> None:
    """InputError when `lm` has another block count or hidden size than the run's model."""
    info, n_layers = lm.info, int(res.findings.n_layers)
    mf = res.manifest.get("model", {}) if isinstance(res.manifest, dict) else {}
    if info.n_layers != n_layers or (mf.get("hidden_size") not in (None, info.hidden_size)):
        raise InputError(
            f"the run was made with a model of {n_layers} blocks (hidden size {mf.get('hidden_size')}, "
            f"'{mf.get('ref')}'), but {info.ref} has {info.n_layers} blocks (hidden size {info.hidden_size}); "
            "pass the model the run was made with."
        )


@dataclass
class _Plan:
    """What to gather at block b: per re-run prompt (ascending run index `prompts`), its token ids,
    sink / contrast positions and primary position; the scan's m_p^b rows where recorded."""

    prompts: list[int]
    token_set: set[int]
    ids: list[list[int]] = field(default_factory=list)
    sink_pos: list[list[int]] = field(default_factory=list)
    non_pos: list[list[int]] = field(default_factory=list)
    primaries: list[int] = field(default_factory=list)
    m_primary_parts: list[np.ndarray] = field(default_factory=list)
    n_available: int = 0

    def positions(self) -> tuple[list[list[int]], np.ndarray]:
        """Positions per prompt (sinks, contrast, primary) and the group of each gathered row."""
        pos_list, groups = [], []
        for sink_pos, non_pos, p in zip(self.sink_pos, self.non_pos, self.primaries):
            pos_list.append(sink_pos + non_pos + [p])
            groups += ["sink"] * len(sink_pos) + ["non-sink"] * len(non_pos) + ["primary"]
        return pos_list, np.asarray(groups)


def _plan(res: ScanResult, b: int, born: pd.DataFrame, cfg: AnatomyConfig) -> _Plan:
    """The sinks born at b, the contrast positions (same token ids, never sink-like or not secondary,
    never the primary; a seeded subsample of at most `cfg.max_non_sink`), the primaries."""
    sinks = res.sinks
    plan = _Plan(prompts=sorted(int(i) for i in born["prompt"].unique()),
                 token_set={int(t) for t in born["token_id"].unique()})
    for i in plan.prompts:
        pt = res.prompts[i]
        det = res.findings.detections[i]
        p = int(det.p)
        sink_pos = sorted(int(t) for t in born.loc[born["prompt"] == i, "position"])
        tid = np.asarray(pt.token_ids)
        same = np.isin(tid, list(plan.token_set))
        if cfg.contrast == "never_sink_like":
            excluded = np.asarray(det.sink_like, dtype=bool).any(axis=0)
        else:
            sec = sinks[(sinks["prompt"] == i) & (sinks["kind"] == "secondary")]["position"].to_numpy(dtype=int)
            excluded = np.zeros(len(tid), dtype=bool)
            excluded[sec] = True
        excluded[sink_pos] = True
        excluded[p] = True
        plan.non_pos.append([int(t) for t in np.flatnonzero(same & ~excluded)])
        plan.ids.append([int(t) for t in tid])
        plan.sink_pos.append(sink_pos)
        plan.primaries.append(p)
        if pt.mlp_cand is not None and p < np.asarray(pt.mlp_cand).shape[1] and np.isfinite(pt.mlp_cand[b, p]).all():
            plan.m_primary_parts.append(np.asarray(pt.mlp_cand[b, p], dtype=np.float64))

    plan.n_available = sum(len(v) for v in plan.non_pos)
    if plan.n_available == 0:
        raise InputError(
            f"no contrast tokens: the token ids of the sinks born at block {b} "
            f"({sorted(plan.token_set)}) occur nowhere else in their prompts except as sinks; "
            "scan longer or more texts, or use contrast='not_secondary'."
        )
    if cfg.max_non_sink is not None and plan.n_available > cfg.max_non_sink:
        flat = [(k, t) for k, v in enumerate(plan.non_pos) for t in v]
        pick = np.sort(np.random.default_rng(cfg.seed).choice(len(flat), cfg.max_non_sink, replace=False))
        plan.non_pos = [[] for _ in plan.non_pos]
        for j in pick:
            plan.non_pos[flat[j][0]].append(flat[j][1])
    return plan


def _mlp_norm_error(res: ScanResult, plan: _Plan, got: MlpSamples, b: int, lm: LoadedModel) -> float:
    """Largest relative difference of the probe's ||m_t^b|| from the scan's (InputError above
    `MLP_NORM_TOLERANCE`: the run came from another model or dtype); NaN when nothing compares."""
    ref = np.array(
        [res.prompts[plan.prompts[int(k)]].mlp_norm[b, int(t)] for k, t in zip(got.prompt, got.position)],
        dtype=np.float64,
    )
    mine = np.linalg.norm(got.m.astype(np.float64), axis=1)
    ok = np.isfinite(ref) & (ref > 0)
    rel_err = float(np.max(np.abs(mine[ok] - ref[ok]) / ref[ok])) if ok.any() else float("nan")
    if ok.any() and rel_err > MLP_NORM_TOLERANCE:
        raise InputError(
            f"the MLP outputs at block {b} differ from the scan's by up to {rel_err:.0%}: the run was made "
            f"with another model or dtype than {lm.info.ref} ({lm.info.dtype}); pass the model the run was made with."
        )
    return rel_err


def anatomy(
    lm: LoadedModel,
    res_or_run_dir: ScanResult | str | Path,
    layer: int | None = None,
    *,
    config: AnatomyConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    **options: Any,
) -> AnatomyRun:
    """§9 on a scan: `anatomy(lm, res_or_run_dir, layer=b)`.

    `res_or_run_dir` is a `ScanResult` or a scan output folder. `layer` is the birth layer b
    (default: the birth layer with the most secondary sinks). Options are `AnatomyConfig` fields
    (or pass `config`). Only the prompts that hold a secondary sink born at b are re-run, each up to
    block b (`capture.probe.gather_mlp_io`), gathering x_t at:
      sinks      secondary sinks born at b;
      contrast   positions of the same token ids (pooled over those sinks) in the same prompts that
                 are never sink-like (config.contrast "never_sink_like") or not secondary sinks
                 ("not_secondary"); the primary position is always excluded;
      primary    the primary position p of each prompt: x_p = mean over prompts of x_p;
                 m_p = mean over prompts of mlp_cand[b, p] from the scan.
    The MLP contributions the probe reads are checked against the scan's ||m_t^b|| (mlp_norm):
    a relative difference above 5% means the run came from another model or dtype (InputError).
    `progress(stage, done, total)` is called at the start (0) and end (total) of each stage: the
    re-run ("re-run N prompt(s) to block b") and the analysis ("probe and directions").
    """
    cfg = _config(config, options)
    tick = progress or (lambda stage, done, total: None)
    res, run_dir = _load(res_or_run_dir)
    b = resolve_layer(res, layer)
    _check_model(lm, res)  # after the run-only errors, so those need no model
    born = res.sinks[(res.sinks["kind"] == "secondary") & (res.sinks["birth"] == b)]
    plan = _plan(res, b, born, cfg)
    pos_list, grp = plan.positions()
    rerun = f"re-run {len(plan.ids)} prompt(s) to block {b}"
    tick(rerun, 0, len(plan.ids))
    got = gather_mlp_io(lm, plan.ids, b, pos_list)
    tick(rerun, len(plan.ids), len(plan.ids))
    tick("probe and directions", 0, 1)
    rel_err = _mlp_norm_error(res, plan, got, b, lm)
    x_primary = np.mean(
        [got.x[(got.prompt == k) & (grp == "primary")][0].astype(np.float64) for k in range(len(plan.prompts))],
        axis=0,
    )
    if plan.m_primary_parts:
        m_primary, m_source = np.mean(plan.m_primary_parts, axis=0), "scan mlp_cand"
    else:
        m_primary, m_source = got.m[grp == "primary"].astype(np.float64).mean(axis=0), "probe"
    core = anatomy_core(got.x[grp == "sink"], got.x[grp == "non-sink"], LayerMlp(lm, b), x_primary, m_primary, cfg, layer=b)
    out = AnatomyRun(**{f.name: getattr(core, f.name) for f in fields(core)})
    tick("probe and directions", 1, 1)

    # samples with provenance, in the core's order (sinks, then non-sinks)
    order = np.concatenate([np.flatnonzero(grp == "sink"), np.flatnonzero(grp == "non-sink")])
    rows = []
    for r, j in enumerate(order):
        i = plan.prompts[int(got.prompt[j])]
        t = int(got.position[j])
        pt = res.prompts[i]
        rows.append({
            "prompt": i, "position": t, "token": str(pt.tokens[t]), "token_id": int(pt.token_ids[t]),
            "group": grp[j], "mlp_norm": float(core.samples["mlp_norm"].iloc[r]),
            "mlp_cos_primary": float(core.samples["mlp_cos_primary"].iloc[r]),
            "scan_mlp_norm": float(pt.mlp_norm[b, t]),
        })
    out.samples = pd.DataFrame(rows)
    info = lm.info
    out.meta = jsonable({
        "model": info.ref,
        "model_type": info.model_type,
        "dtype": info.dtype,
        "run_dir": run_dir,
        "layer": b,
        "n_layers": int(res.findings.n_layers),
        "birth_layers": birth_layer_counts(res.sinks),
        "prompts": plan.prompts,
        "primary_positions": plan.primaries,
        "token_ids": sorted(plan.token_set),
        "tokens": sorted({str(res.prompts[i].tokens[t]) for i, t in zip(born["prompt"], born["position"])}),
        "m_primary_source": m_source,
        "m_primary_norm": float(np.linalg.norm(m_primary)),
        "x_primary_norm": float(np.linalg.norm(x_primary)),
        "max_rel_mlp_norm_error": rel_err,
        "n_non_sink_available": plan.n_available,
    })
    return out


__all__ = ["ANATOMY_OUTPUTS", "MLP_NORM_TOLERANCE", "AnatomyConfig", "AnatomyRun", "anatomy", "resolve_layer", "save_anatomy",
           "save_run"]
