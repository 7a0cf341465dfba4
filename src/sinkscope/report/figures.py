"""Paper figures (matplotlib, Agg): the same plots as the HTML report, as PNG and SVG.

    write_figures(res, "run/figures")  ->  heatmap, weakening, normlaw, levels  (.png and .svg)

- heatmap    layer x position sink score s_j^l (mean over heads, docs/method.md §1) of one prompt, log
             colour scale, with the sink records marked above it.
- weakening  primary score s_p^l, head fraction F_p^l and secondary mass per layer, and ||h_p^l||
             on a log scale, with the secondary births (docs/method.md §6); pooled over prompts.
- normlaw    ||m_t^b|| against the mean score and against the lifetime of every secondary sink,
             with the isotonic fit and the correlations (docs/method.md §5).
- levels     counts of secondary sinks per (birth, lifetime) cell with the levels outlined (§7).

Layers without attention probabilities (a hybrid's linear-attention / Mamba / convolution / MLP-only
blocks, docs/method.md §11) are drawn as hatched grey bands labelled `NO_ATTENTION` in every figure with a layer axis.

The module also holds the small numpy helpers the HTML report shares (pooling, colour range,
sink-class names and colours); matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.core.fileio import write_file_atomic
from sinkscope.report.types import ScanLike

# Sink classes as shown to people: the record kind, with "primary" split into the primary
# position itself and other tokens that behave like it. Okabe-Ito colours (colour-blind safe).
KIND_ORDER = ("primary", "primary-like", "secondary", "noise", "unclassified")
KIND_COLOURS = {
    "primary": "#0072B2",
    "primary-like": "#56B4E9",
    "secondary": "#E69F00",
    "noise": "#9A9A9A",
    "unclassified": "#CC79A7",
}
CMAP = "magma_r"  # light for the many near-zero keys, dark for sinks: readable on a white page
FIGURE_NAMES = ("heatmap", "weakening", "normlaw", "levels")
NO_ATTENTION = "no attention probabilities"  # the label of a non-softmax layer (docs/method.md §11)


def mark_non_attention(axes: Sequence[Any], layers: Sequence[int], axis: str = "x") -> None:
    """Hatched grey band over each layer in `layers` (layers along `axis` of every ax), one legend
    entry `NO_ATTENTION` on the first ax."""
    for k, ax in enumerate(axes):
        span = ax.axvspan if axis == "x" else ax.axhspan
        for j, layer in enumerate(layers):
            span(layer - 0.5, layer + 0.5, facecolor="#E4E4E4", edgecolor="#9A9A9A", hatch="///", lw=0,
                 zorder=0.5, label=NO_ATTENTION if k == 0 and j == 0 else None)


# ---- shared numpy helpers ------------------------------------------------------------------------
def kind_label(kind: str, is_primary_position: bool) -> str:
    """The display class of a sink record: 'primary' only at the primary position itself."""
    if kind == "primary" and not is_primary_position:
        return "primary-like"
    return str(kind)


def record_labels(records: pd.DataFrame) -> list[str]:
    if "is_primary_position" in records.columns:
        flags = records["is_primary_position"].to_numpy(dtype=bool)
    else:
        flags = np.zeros(len(records), dtype=bool)
    return [kind_label(k, bool(f)) for k, f in zip(records["kind"].astype(str), flags)]


def maxpool(a: np.ndarray, k: int) -> np.ndarray:
    """Max over consecutive groups of k along the last axis (the last group may be shorter).

    Max, not mean, so that a one-token sink stays visible when many positions share a pixel.

    Shapes:
        a: [..., T] any leading axes.
        returns: [..., Tk] with Tk = ceil(T / k), a's dtype; `a` itself when k <= 1.
    """
    if k <= 1:
        return a
    t = a.shape[-1]
    n = -(-t // k)
    pad = n * k - t
    if pad:
        fill = np.full(a.shape[:-1] + (pad,), -np.inf if a.dtype.kind == "f" else 0, dtype=a.dtype)
        a = np.concatenate([a, fill], axis=-1)
    return a.reshape(a.shape[:-1] + (n, k)).max(axis=-1)


def clip_from(n_queries: np.ndarray, min_queries: int) -> int:
    """First position of the trailing run of keys seen by fewer than `min_queries` queries (at some layer).

    Those late keys are averaged over very few queries and saturate any colour scale
    (docs/method.md pitfall "Late keys look like sinks"), so colour ranges are taken over the
    positions before it.

    Shapes:
        n_queries: [L, T] (or [T]) n_t^l, the number of queries that see key t.

    Returns:
        The position, T when no key is cut.
    """
    nq = np.asarray(n_queries)
    ok = nq.min(axis=0) >= min_queries if nq.ndim == 2 else nq >= min_queries
    bad = np.flatnonzero(~ok)
    t = ok.shape[0]
    # walk back over the trailing non-classifiable run
    end = t
    for j in bad[::-1]:
        if j == end - 1:
            end = j
        else:
            break
    return int(end) if end > 0 else t


def score_range(ls: np.ndarray, limit: int | None = None) -> tuple[float, float]:
    """(vmin, vmax) of a log colour scale for sink scores.

    vmax = the largest score among positions < limit, vmin = max(median of the positive scores,
    vmax / 1e4). Starting at the median leaves the typical key pale, so the few cells that draw
    attention stand out.

    Shapes:
        ls: [L, T] per-layer scores (docs/method.md §1).

    Returns:
        (vmin, vmax); (1e-4, 1.0) when no score is positive.
    """
    a = np.asarray(ls, dtype=np.float64)
    if limit is not None and 0 < limit < a.shape[-1]:
        a = a[..., :limit]
    pos = a[np.isfinite(a) & (a > 0)]
    if pos.size == 0:
        return 1e-4, 1.0
    vmax = float(pos.max())
    vmin = max(float(np.median(pos)), vmax * 1e-4)
    if not vmin < vmax:
        vmin = vmax / 10
    return vmin, vmax


def colour_lut(name: str = CMAP) -> np.ndarray:
    """Lookup table of a matplotlib colour map.

    Shapes:
        returns: [256, 3] uint8 RGB.
    """
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def colourise(mat: np.ndarray, vmin: float, vmax: float, lut: np.ndarray) -> np.ndarray:
    """RGB image of `mat` on a log scale [vmin, vmax] (values <= 0 get the lowest colour).

    Shapes:
        mat: [R, K] with R = rows, K = columns of the image (e.g. [L, T] scores).
        lut: [256, 3] uint8 (`colour_lut`).
        returns: [R, K, 3] uint8.
    """
    a = np.asarray(mat, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (np.log10(np.maximum(a, 1e-30)) - np.log10(vmin)) / (np.log10(vmax) - np.log10(vmin))
    idx = np.clip(np.nan_to_num(x, nan=0.0) * 255, 0, 255).astype(np.uint8)
    return lut[idx]


def prompt_records(res: ScanLike, i: int) -> pd.DataFrame:
    """The sink records of prompt `i`, by position."""
    s = res.sinks
    rec = s[s["prompt"] == i] if "prompt" in s.columns else s
    return rec.sort_values("position", kind="stable") if "position" in rec.columns else rec


# ---- figures ------------------------------------------------------------------------------------
STYLE = {  # matplotlib rcParams of every sinkscope figure (reproducible SVG: fixed hash salt)
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "svg.fonttype": "none",
    "svg.hashsalt": "sinkscope",
    "font.family": "DejaVu Sans",
}


def new_figure(w: float, h: float):
    """A matplotlib Figure of w x h inches (constrained layout, 100 dpi; no pyplot state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def fig_heatmap(res: ScanLike, prompt: int = 0, max_cols: int = 2000):
    """Layer x position heatmap of s_j^l (mean over heads) for one prompt, log colour scale."""
    from matplotlib.colors import LogNorm

    pt = res.prompts[prompt]
    det = res.findings.detections[prompt]
    ls = np.asarray(det.layer_scores, dtype=np.float64)
    n_layers, t = ls.shape
    lim = clip_from(pt.n_queries, res.config.min_queries)
    vmin, vmax = score_range(ls, lim)
    k = max(1, -(-t // max_cols))
    img = maxpool(ls, k)
    fig = new_figure(7.2, 3.0)
    ax = fig.add_subplot()
    im = ax.imshow(
        np.clip(img, vmin, None),
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap=CMAP,
        norm=LogNorm(vmin=vmin, vmax=vmax, clip=True),
        extent=(-0.5, img.shape[1] * k - 0.5, -0.5, n_layers - 0.5),
    )
    ax.set_xlim(-0.5, t - 0.5)
    ax.set_xlabel("token position" + (f"  (max over {k} positions per column)" if k > 1 else ""))
    ax.set_ylabel("layer")
    model = res.manifest.get("model", {}).get("ref", "")
    fig.suptitle(f"sink score $s_j^\\ell$ (mean over heads) · {model} · prompt {prompt} · T = {t}",
                 x=0.01, ha="left", fontsize=9.5)
    rec = prompt_records(res, prompt)
    labels = record_labels(rec)
    for kind in ("secondary", "primary-like", "primary", "unclassified"):
        pos = rec["position"].to_numpy()[[lab == kind for lab in labels]] if len(rec) else []
        if len(pos):
            ax.scatter(pos, np.full(len(pos), n_layers - 0.5 + 0.9), marker="v", s=14,
                       color=KIND_COLOURS[kind], clip_on=False, label=kind, zorder=3, linewidths=0)
    mark_non_attention([ax], res.findings.no_attention_layers, axis="y")
    if len(rec) or res.findings.no_attention_layers:
        fig.legend(loc="outside upper right", ncol=5, handletextpad=0.2, columnspacing=0.8)
    cb = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.04)
    cb.set_label("score (log)")
    return fig


def fig_weakening(res: ScanLike):
    """Primary score, head fraction and secondary mass per layer; primary norm (log); births."""
    from matplotlib.ticker import MaxNLocator

    pooled = res.findings.layers_pooled
    layers_df = res.layers
    n_prompts = res.findings.n_prompts
    x = pooled["layer"].to_numpy()
    fig = new_figure(6.4, 4.2)
    gs = fig.add_gridspec(2, 1, height_ratios=[1.6, 1.0])
    ax = fig.add_subplot(gs[0])
    axn = fig.add_subplot(gs[1], sharex=ax)
    win = pooled["in_window"].to_numpy(dtype=float) >= 0.5
    if win.any():
        a, b = int(x[win][0]), int(x[win][-1])
        for axx in (ax, axn):
            axx.axvspan(a - 0.5, b + 0.5, color="#EEF3F8", alpha=0.45, zorder=0, lw=0)  # translucent: bars drawn on a twin axis show through
        ax.text(a - 0.3, 1.02, "primary window", transform=ax.get_xaxis_transform(), fontsize=7, color="#5B7083")
    if n_prompts > 1:
        for _, g in layers_df.groupby("prompt"):
            ax.plot(g["layer"], g["primary_score"], color=KIND_COLOURS["primary"], alpha=0.15, lw=0.7)
            axn.plot(g["layer"], g["primary_norm"], color="#333333", alpha=0.15, lw=0.7)
    mark_non_attention([ax, axn], res.findings.no_attention_layers)
    mean_lbl = " (mean over prompts)" if n_prompts > 1 else ""
    ax.plot(x, pooled["primary_score"], "-o", ms=2.5, color=KIND_COLOURS["primary"], lw=1.6,
            label=f"primary score $s_p^\\ell${mean_lbl}")
    ax.plot(x, pooled["primary_head_fraction"], "--", color=KIND_COLOURS["primary-like"], lw=1.2,
            label=f"head fraction $F_p^\\ell$(ε={res.config.eps:g})")
    ax.plot(x, pooled["secondary_mass"], "-", color=KIND_COLOURS["secondary"], lw=1.4, label="secondary mass")
    births = pooled["births_total"].to_numpy(dtype=float) if "births_total" in pooled else pooled["births"].to_numpy(dtype=float)
    wk = res.findings.weakening
    if wk.dip_layer is not None and np.isfinite(wk.dip_ratio):
        ax.annotate(f"dip: layer {wk.dip_layer}, {wk.dip_ratio:.2f}× plateau",
                    (wk.dip_layer, wk.dip_score), xytext=(0, -18), textcoords="offset points",
                    ha="center", fontsize=7, color="#333333",
                    arrowprops={"arrowstyle": "-", "color": "#777777", "lw": 0.6})
    ax.set_ylabel("score / fraction")
    ax.set_ylim(0, max(1.0, float(np.nanmax(pooled[["primary_score", "primary_head_fraction", "secondary_mass"]].to_numpy())) * 1.05))
    axn.semilogy(x, np.maximum(pooled["primary_norm"].to_numpy(dtype=float), 1e-9), "-o", ms=2.5, color="#333333",
                 lw=1.4, label="$\\|h_p^\\ell\\|$")
    axn.set_ylabel("primary norm (log)")
    axn.set_xlabel("layer")
    if births.sum() > 0:
        axb = axn.twinx()
        axb.bar(x, births, width=0.7, color=KIND_COLOURS["secondary"], alpha=0.55, label="secondary births")
        axb.set_ylabel("births", color="#9C6B00")
        axb.spines["right"].set_visible(True)
        axb.set_ylim(0, births.max() * 2.2)
        axb.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        axb.set_zorder(axn.get_zorder() - 1)
        axn.patch.set_visible(False)
        for l in x[births > 0]:
            ax.axvline(l, color=KIND_COLOURS["secondary"], lw=0.6, ls=":", zorder=1)
        h1, l1 = axn.get_legend_handles_labels()
        h2, l2 = axb.get_legend_handles_labels()
        axn.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7)
    else:
        axn.legend(loc="upper left", fontsize=7)
    ax.legend(loc="upper left", fontsize=7, ncol=1)
    ax.set_title("primary-sink weakening", loc="left")
    ax.tick_params(labelbottom=False)
    return fig


def _corr_text(c) -> str:
    if c.reason and not np.isfinite(c.spearman):
        return c.reason
    lo, hi = c.spearman_ci
    return f"Spearman ρ = {c.spearman:.2f} [{lo:.2f}, {hi:.2f}]   Pearson r = {c.pearson:.2f}   n = {c.n}"


def _log_ticks(axis, values: np.ndarray) -> None:
    """Readable log-axis labels: 1-2-5 ticks as plain numbers when the data spans < 3 decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    v = values[values > 0]
    if v.size and np.log10(v.max() / v.min()) < 3:
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        axis.set_minor_formatter(NullFormatter())


def fig_normlaw(res: ScanLike):
    """||m_t^b|| vs mean score (log-log) and vs lifetime, with isotonic fits and correlations."""
    from matplotlib.ticker import MaxNLocator

    nl = res.findings.norm_law
    sec = res.findings.secondary
    fig = new_figure(7.2, 3.0)
    axes = fig.subplots(1, 2)
    x = sec["mlp_norm"].to_numpy(dtype=float) if len(sec) else np.array([])
    for ax, ycol, corr, fit, ylabel in (
        (axes[0], "mean_score", nl.score, nl.fit_score, "mean score over lifetime"),
        (axes[1], "lifetime", nl.lifetime, nl.fit_lifetime, "lifetime (layers)"),
    ):
        y = sec[ycol].to_numpy(dtype=float) if len(sec) else np.array([])
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
        if ok.any():
            ax.scatter(x[ok], y[ok], s=16, color=KIND_COLOURS["secondary"], edgecolor="#7A5200", linewidths=0.4,
                       alpha=0.85, zorder=3, label="secondary sinks")
            if fit.x:
                ax.step(fit.x, fit.y_fit, where="post", color="#333333", lw=1.2, label="isotonic fit", zorder=2)
            ax.set_xscale("log")
            _log_ticks(ax.xaxis, x[ok])
            if ycol == "mean_score" and (y[ok] > 0).all():
                ax.set_yscale("log")
                _log_ticks(ax.yaxis, y[ok])
            else:
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(loc="upper left", fontsize=7)
        else:
            ax.text(0.5, 0.5, "no secondary sinks", ha="center", va="center", transform=ax.transAxes, color="#777777")
        ax.set_xlabel("MLP output norm at birth $\\|m_t^b\\|$")
        ax.set_ylabel(ylabel)
        ax.set_title(_corr_text(corr), loc="left", fontsize=7.5)
    fig.suptitle("norm law", x=0.01, ha="left", fontsize=9.5)
    return fig


def fig_levels(res: ScanLike):
    """(birth, lifetime) counts of secondary sinks with the levels outlined."""
    from matplotlib.patches import Rectangle

    lv = res.findings.levels
    counts = np.asarray(lv.counts)
    fig = new_figure(4.6, 3.4)
    ax = fig.add_subplot()
    if lv.n_sinks == 0:
        ax.text(0.5, 0.5, "no secondary sinks", ha="center", va="center", transform=ax.transAxes, color="#777777")
        ax.set_axis_off()
        return fig
    nz_b, nz_m = np.nonzero(counts)
    b0, b1 = max(0, nz_b.min() - 2), min(counts.shape[0] - 1, nz_b.max() + 2)
    m0, m1 = max(0, nz_m.min() - 2), min(counts.shape[1] - 1, nz_m.max() + 2)
    sub = counts[b0 : b1 + 1, m0 : m1 + 1].T.astype(float)  # rows: lifetime, cols: birth
    masked = np.ma.masked_where(sub == 0, sub)
    im = ax.imshow(masked, origin="lower", aspect="auto", cmap="YlOrBr", vmin=0, vmax=max(1, sub.max()),
                   extent=(b0 - 0.5, b1 + 0.5, m0 - 0.5, m1 + 0.5), interpolation="nearest")
    ax.set_facecolor("#FAFAFA")
    if sub.size <= 400:
        for (mi, bi), v in np.ndenumerate(sub):
            if v:
                ax.text(b0 + bi, m0 + mi, f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * sub.max() else "#222222")
    for i, level in enumerate(lv.levels):
        (lb0, lb1), (lm0, lm1) = level.birth_range, level.lifetime_range
        ax.add_patch(Rectangle((lb0 - 0.5, lm0 - 0.5), lb1 - lb0 + 1, lm1 - lm0 + 1, fill=False,
                               ec="#0072B2", lw=1.2, ls="--"))
        ax.text(lb1 + 0.55, lm1 + 0.45, f"L{i} {level.share:.0%}", fontsize=7, color="#0072B2", va="top")
    shown = [layer for layer in res.findings.no_attention_layers if b0 <= layer <= b1]
    mark_non_attention([ax], shown)
    if shown:
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("birth layer")
    ax.set_ylabel("lifetime (layers)" + (" (attention layers)" if res.findings.no_attention_layers else ""))
    ax.set_title(f"sink levels: {lv.n_levels} over {lv.n_sinks} secondary sinks", loc="left")
    cb = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.05)
    cb.set_label("count")
    return fig


def save_figure(fig, path: Path, fmt: str, dpi: int = 200) -> None:
    """Save `fig` as `fmt` atomically, with reproducible metadata (no dates or software stamps)."""
    kw: dict[str, Any] = {"format": fmt}
    if fmt == "png":
        kw.update(dpi=dpi, metadata={"Software": None})
    elif fmt == "svg":
        kw["metadata"] = {"Date": None, "Creator": None}
    write_file_atomic(path, lambda f: fig.savefig(f, **kw))


def write_figure_set(makers: Mapping[str, Callable[[], Any]], out_dir: str | Path,
                     formats: tuple[str, ...] = ("png", "svg"), *, dpi: int = 200) -> list[Path]:
    """Draw each figure of `makers` (name -> function returning a Figure) under STYLE and save it as
    out_dir/NAME.FMT for every format (atomically, PNG at `dpi`, see `save_figure`). Returns the
    paths in order."""
    import matplotlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with matplotlib.rc_context(STYLE):
        for name, make in makers.items():
            fig = make()
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                save_figure(fig, path, fmt, dpi)
                written.append(path)
    return written


def write_figures(res: ScanLike, out_dir: str | Path, *, prompt: int = 0, formats: tuple[str, ...] = ("png", "svg"),
                  names: Sequence[str] = FIGURE_NAMES, dpi: int = 200) -> list[Path]:
    """Write the figures `names` (default: heatmap of `prompt`, weakening, normlaw, levels) as
    out_dir/NAME.FMT, PNG at `dpi`. Each file is written atomically (temporary file + os.replace).
    Returns the paths, in the order of `names`."""
    makers = {
        "heatmap": lambda: fig_heatmap(res, prompt),
        "weakening": lambda: fig_weakening(res),
        "normlaw": lambda: fig_normlaw(res),
        "levels": lambda: fig_levels(res),
    }
    return write_figure_set({name: makers[name] for name in names}, out_dir, formats, dpi=dpi)
