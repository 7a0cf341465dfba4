"""Figures of the long-trace protocol, drawn from a model entry of long_results.json alone (so they
can be redrawn without a model), in the report's style (`report.figures.new_figure`,
`write_figure_set`):

- depth           histogram of the distinct secondary sinks' birth relative depth (birth / (L - 1)) in
                  ten bins, one bar group per region (template prefix, rest of prompt, generated)
- birth_lifetime  the (birth, lifetime) count matrix (the paper's heatmap), levels outlined
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sinkscope.report.figures import new_figure, write_figure_set
from sinkscope.workflows.reproduce.long_stats import DEPTH_BINS, REGIONS, birth_lifetime_matrix

LONG_FIGURES = ("depth", "birth_lifetime")
REGION_COLOURS = {"template": "#999999", "prompt": "#E69F00", "generated": "#0072B2"}  # Okabe-Ito
DPI = 130


def fig_depth(entry: dict[str, Any]):
    """Birth relative-depth histogram per region (general mode)."""
    g = entry["general"]
    fig = new_figure(4.6, 3.0)
    ax = fig.add_subplot()
    width = (DEPTH_BINS[1] - DEPTH_BINS[0]) / (len(REGIONS) + 1)
    for i, r in enumerate(REGIONS):
        counts = np.asarray(g["regions"][r]["rel_birth_hist"])
        ax.bar(DEPTH_BINS[:-1] + (i + 0.5) * width, counts, width=width, align="edge", color=REGION_COLOURS[r],
               label=f"{r} ({int(counts.sum())})")
    ax.axvspan(0.25, 0.75, color="#F0F0F0", zorder=-1, lw=0)
    ax.set_xlim(0, 1)
    ax.set_xlabel("birth relative depth (birth / (L - 1))")
    ax.set_ylabel("distinct secondary sinks")
    ax.set_title(f"{entry['name']}: where secondary sinks are born ({g['n_secondary']})", loc="left")
    ax.legend(loc="upper right")
    return fig


def fig_birth_lifetime(entry: dict[str, Any]):
    """(birth, lifetime) counts of the distinct secondary sinks, the levels outlined."""
    from matplotlib.patches import Rectangle

    g = entry["general"]
    n_layers = int(g["n_layers"])
    fig = new_figure(4.6, 3.4)
    ax = fig.add_subplot()
    if not g["birth_lifetime"]:
        ax.text(0.5, 0.5, "no secondary sinks", ha="center", va="center", transform=ax.transAxes, color="#777777")
        ax.set_axis_off()
        return fig
    c = birth_lifetime_matrix(g["birth_lifetime"], n_layers).T.astype(float)  # rows: lifetime
    im = ax.imshow(np.ma.masked_where(c == 0, c), origin="lower", aspect="auto", cmap="YlOrBr", vmin=0,
                   vmax=max(1.0, c.max()), extent=(-0.5, n_layers - 0.5, -0.5, n_layers + 0.5),
                   interpolation="nearest")
    for lv in g["levels"]["levels"]:
        (b0, b1), (m0, m1) = lv["birth"], lv["lifetime"]
        ax.add_patch(Rectangle((b0 - 0.5, m0 - 0.5), b1 - b0 + 1, m1 - m0 + 1, fill=False, ec="#0072B2", lw=1.2,
                               ls="--"))
    ax.set_xlabel("birth layer")
    ax.set_ylabel("lifetime (layers)")
    ax.set_title(f"{entry['name']}: {g['levels']['n_levels']} level(s), {g['n_secondary']} sinks", loc="left")
    fig.colorbar(im, ax=ax, pad=0.01, fraction=0.05).set_label("count")
    return fig


def write_long_figures(entry: dict[str, Any], out_dir: Path, rel_to: Path) -> dict[str, str]:
    """out_dir/{depth,birth_lifetime}.png; name -> path relative to `rel_to`, '/' separators."""
    import matplotlib

    matplotlib.use("Agg")
    makers = {"depth": lambda: fig_depth(entry), "birth_lifetime": lambda: fig_birth_lifetime(entry)}
    paths = write_figure_set(makers, out_dir, ("png",), dpi=DPI)
    return {p.stem: os.path.relpath(p, rel_to).replace(os.sep, "/") for p in paths}
