"""Paper figures for sink properties (docs/method.md §8) and the anatomy of formation (§9), matplotlib (Agg).

    fig_properties(res_or_props, prompt=0)   ||h_t^l||, mean ||k_t^l||, mean ||v_t^l|| per layer (log
                                             scale): the primary, every secondary sink of the prompt,
                                             the non-sink mean; the birth layer(s) marked.
    fig_anatomy(result)                      alpha curves of every signed PC: cos(f(mu + alpha u), m_p)
                                             and ||f(mu + alpha u)|| (log), effective directions in
                                             colour, the threshold dashed.
    write_properties_figures(res, DIR) / write_anatomy_figures(result, DIR) -> DIR/NAME.{png,svg}

matplotlib is imported only when a figure is drawn; files are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sinkscope.analysis.properties import SinkProperties
from sinkscope.report.figures import new_figure, write_figure_set
from sinkscope.report.types import ScanLike

if TYPE_CHECKING:
    from sinkscope.analysis.anatomy import AnatomyResult

PRIMARY_COLOUR = "#0072B2"
SECONDARY_COLOUR = "#E69F00"
NON_SINK_COLOUR = "#6B6B6B"
# Okabe-Ito-ish cycle for the effective directions of the anatomy curves.
DIRECTION_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def sink_properties(res_or_props: ScanLike | SinkProperties) -> SinkProperties:
    """The docs/method.md §8 properties to draw: `res_or_props` itself, or the ones the scan's findings
    carry (`res.findings.properties()`, computed once by the analysis and cached; never here)."""
    return res_or_props if isinstance(res_or_props, SinkProperties) else res_or_props.findings.properties()


def busiest_prompt(props: SinkProperties) -> int:
    """The prompt with the most secondary sinks (0 when there are none)."""
    s = props.summary
    s = s[s["group"] == "secondary"]
    if not len(s):
        return int(props.layers["prompt"].min()) if len(props.layers) else 0
    return int(s["prompt"].value_counts().sort_index().idxmax())


def fig_properties(res_or_props: ScanLike | SinkProperties, prompt: int | None = None):
    """Three panels (docs/method.md §8): ||h||, mean key norm, mean value norm against the layer, log y."""
    props = sink_properties(res_or_props)
    prompt = busiest_prompt(props) if prompt is None else int(prompt)
    lay = props.layers[props.layers["prompt"] == prompt]
    summ = props.summary[props.summary["prompt"] == prompt]
    births = sorted(summ.loc[summ["group"] == "secondary", "birth"].unique())
    fig = new_figure(8.4, 2.7)
    axes = fig.subplots(1, 3, sharex=True)
    panels = (("resid_norm", "residual norm ||h||"), ("key_norm", "key norm ||k|| (mean over KV heads)"),
              ("value_norm", "value norm ||v|| (mean over KV heads)"))
    for ax, (col, title) in zip(axes, panels):
        first_sec = True
        for (grp, _pos), df in lay.groupby(["group", "position"], sort=False):
            df = df.sort_values("layer")
            y = df[col].to_numpy(dtype=float)
            x = df["layer"].to_numpy()
            if grp == "primary":
                ax.plot(x, y, color=PRIMARY_COLOUR, lw=1.8, label="primary", zorder=3)
            elif grp == "non-sink":
                ax.plot(x, y, color=NON_SINK_COLOUR, lw=1.5, ls="--", label="non-sink mean", zorder=2)
            elif grp == "secondary":
                ax.plot(x, y, color=SECONDARY_COLOUR, lw=0.9, alpha=0.75,
                        label="secondary sinks" if first_sec else None, zorder=1)
                first_sec = False
        for b in births:
            ax.axvline(b, color=SECONDARY_COLOUR, lw=0.8, ls=":", zorder=0)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8.5)
        ax.set_xlabel("layer")
    if births:
        axes[0].text(births[0], axes[0].get_ylim()[1], f" birth {births[0]}", va="top", ha="left",
                     fontsize=7, color=SECONDARY_COLOUR)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper right", ncol=3)
    fig.suptitle(f"sink properties (docs/method.md §8) · prompt {prompt}", x=0.01, ha="left", fontsize=9.5)
    return fig


def fig_anatomy(result: AnatomyResult) -> Any:
    """Alpha curves of §9: cos(y, m_p) and ||y|| for y = f(base + alpha u) over the signed PCs."""
    cur: pd.DataFrame = result.curves
    dirs: pd.DataFrame = result.directions
    eff = set(dirs.loc[dirs["effective"], "direction"])
    thr = float(result.config.threshold)
    fig = new_figure(8.0, 3.0)
    ax_c, ax_n = fig.subplots(1, 2)
    colours: dict[str, str] = {}
    for name, df in cur.groupby("direction", sort=False):
        df = df.sort_values("alpha")
        is_eff = name in eff
        if is_eff:
            colours[name] = DIRECTION_COLOURS[len(colours) % len(DIRECTION_COLOURS)]
        kw = dict(color=colours.get(name, "#B8B8B8"), lw=1.6 if is_eff else 0.8, alpha=1.0 if is_eff else 0.7,
                  ls="-" if name.startswith("+") else "--", label=name if is_eff else None, zorder=3 if is_eff else 1)
        ax_c.plot(df["alpha"], df["cos_primary_mlp"], marker="o" if is_eff else None, ms=2.5, **kw)
        ax_n.plot(df["alpha"], df["out_norm"], **{**kw, "label": None})
    for v in (thr, -thr):
        ax_c.axhline(v, color="#444444", lw=0.7, ls=":")
    ax_c.set_ylim(-1.05, 1.05)
    ax_c.set_xlabel(f"alpha (x {result.config.alpha_unit})")
    ax_c.set_ylabel("cos(f(base + alpha u), m_p)")
    ax_n.set_yscale("log")
    ax_n.set_xlabel(f"alpha (x {result.config.alpha_unit})")
    ax_n.set_ylabel("||f(base + alpha u)||")
    if eff:
        fig.legend(loc="outside right upper", title="effective")
    layer = "" if result.layer is None else f" at block {result.layer}"
    fig.suptitle(
        f"anatomy of formation{layer} (docs/method.md §9): {len(eff)} of {len(dirs)} signed PCs effective "
        f"(|cos| > {thr:g})\ngrey: the others; solid +PC, dashed -PC",
        x=0.01, ha="left", fontsize=9.5,
    )
    return fig


def write_properties_figures(res_or_props: ScanLike | SinkProperties, out_dir: str | Path, *, prompt: int | None = None,
                             formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """out_dir/properties.{png,svg}."""
    return write_figure_set({"properties": lambda: fig_properties(res_or_props, prompt)}, out_dir, formats)


def write_anatomy_figures(result: AnatomyResult, out_dir: str | Path, *, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """out_dir/anatomy.{png,svg}."""
    return write_figure_set({"anatomy": lambda: fig_anatomy(result)}, out_dir, formats)


__all__ = [
    "busiest_prompt",
    "sink_properties",
    "fig_anatomy",
    "fig_properties",
    "write_anatomy_figures",
    "write_properties_figures",
]
