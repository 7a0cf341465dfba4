"""Terminal output of the `sinkscope anatomy` command (rich tables, docs/method.md §8 ratios of the
sinks born at b and §9 anatomy of formation)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

from sinkscope.analysis.anatomy import AnatomyResult
from sinkscope.analysis.properties import SinkProperties


def _fmt(v: Any) -> str:
    return "-" if v is None or not math.isfinite(float(v)) else f"{float(v):.3g}"


def print_anatomy(result: AnatomyResult, props: SinkProperties, console: Console) -> None:
    """The contrast, the linear probe, the top PC and the effective directions of `result`, the
    median lifetime value-norm ratio of the secondary sinks born at its block (`props`), then the
    strongest signed PCs."""
    fmt = _fmt
    c, p, s = result.contrast, result.probe, result.summary()
    tokens = ", ".join(repr(t) for t in result.meta.get("tokens", []))
    t = Table(title=f"anatomy of formation at block {result.layer} (docs/method.md §9)", show_header=False, title_justify="left")
    t.add_column(style="dim")
    t.add_column()
    t.add_row("samples", f"{result.n_sink} sinks, {result.n_non_sink} same-token non-sinks ({tokens})")
    t.add_row("cos(mean diff, primary MLP input)", fmt(c.cos_diff_primary))
    t.add_row("cos(f(mean sink) - f(mean non-sink), m_p)", fmt(c.cos_mlp_shift))
    t.add_row("cos(f(mean diff), m_p)", fmt(c.cos_mlp_of_diff))
    t.add_row("mean cos(f(x), m_p) sinks / non-sinks", f"{fmt(c.sink_mlp_cos)} / {fmt(c.non_sink_mlp_cos)}")
    if p is not None:
        t.add_row("linear probe (held-out)", f"accuracy {fmt(p.accuracy)}, balanced {fmt(p.balanced_accuracy)}, "
                                             f"chance {fmt(p.chance)} ({p.method})")
    else:
        t.add_row("linear probe", result.probe_reason or "-")
    t.add_row("top PC", f"explains {fmt(s['top_pc_explained_ratio'])} of the variance, "
                        f"{fmt(s['top_pc_diff_share'])} of ||d||^2")
    t.add_row("effective directions", f"{s['n_effective']} (|cos| > {result.config.threshold:g}), "
                                      f"their PCs explain {fmt(s['effective_diff_share'])} of ||d||^2")
    born = props.summary[(props.summary["group"] == "secondary") & (props.summary["birth"] == result.layer)]
    if len(born):
        t.add_row("value norm / non-sink (lifetime, median)", fmt(float(born["value_ratio_life"].median())))
    console.print(t)
    d = result.directions.sort_values(["effective", "max_abs_cos"], ascending=[False, False]).head(8)
    dt = Table(title="signed PCs (strongest first)", title_justify="left")
    for col in ("direction", "effective", "alpha", "||f||", "cos(f, m_p)", "share of ||d||^2"):
        dt.add_column(col, justify="right")
    for r in d.itertuples(index=False):
        dt.add_row(r.direction, "yes" if r.effective else "", fmt(r.alpha), fmt(r.out_norm), fmt(r.cos_primary_mlp),
                   fmt(r.diff_share))
    console.print(dt)


__all__ = ["print_anatomy"]
