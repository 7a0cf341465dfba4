"""The one registry of the per-sink columns (the rows of `sinks.parquet`, docs/method.md §3, §4).

Every column a sink record carries is declared here once: its dtype in `sinks.parquet`, its unit,
its short label, its one-line description (the text of its row in the column tables of
docs/method.md, which a test compares), the section of docs/method.md that defines it, where it is
shown, and how a run summarises it. Everything else is generated from `COLUMNS`:

    detection.RECORD_COLUMNS / the records' dtypes     (source "detection")
    formation.FORMATION_COLUMNS                         (source "formation")
    Findings.summary()'s medians, `compare`'s medians  (`summary`)
    the console's sink table and its legend, `--top`'s help (`console`)
    the report's sink table, its header titles, hover text and glossary (`report`, `hover`)
    the notebook's sink table (`notebook`)

Adding a statistic: compute it (detection.py or formation.py), add one `Column` here, and its row to
the column table of docs/method.md. No other module spells a column's label (a test checks it).

This module imports nothing heavy: the CLI reads it for its help text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["detection", "formation", "findings"]
Dtype = Literal["int64", "float64", "bool", "object"]
Unit = Literal["", "position", "layer", "layers", "score", "ratio", "cosine", "norm", "share", "count"]


@dataclass(frozen=True)
class RunSummary:
    """How a run summarises a column: the median over the run's secondary sinks (finite values only),
    stored as `key` in the findings' summary and in `compare`'s table under `label`."""

    key: str
    label: str
    how: Literal["median"] = "median"


@dataclass(frozen=True)
class Column:
    """One per-sink column.

    name         the column of `sinks.parquet`.
    dtype        its pandas dtype there.
    unit         what its values count or measure ("" for identifiers and classes).
    label        the short header (console, report, notebook); ASCII, the page typesets it
                 (`typeset`).
    description  one line, the column's row in docs/method.md's column table (§`section`).
    section      N of the "§N" of docs/method.md that defines it.
    source       the module that computes it (detection.py, formation.py) or `analyze` (findings).
    summary      how a run summarises it (None: it is not summarised).
    console      a column of `sinkscope scan`'s sink table (its legend explains the label).
    report       shown by default in the report's sink table (every column is there, hidden or not).
    hover        a row of the report's token hover text.
    notebook     a column of the notebook summary's sink table.
    """

    name: str
    dtype: Dtype
    unit: Unit
    label: str
    description: str
    section: int
    source: Source
    summary: RunSummary | None = None
    console: bool = False
    report: bool = False
    hover: bool = False
    notebook: bool = False

    @property
    def display(self) -> str:
        """The label as the page shows it (`typeset`)."""
        return typeset(self.label)


def typeset(label: str) -> str:
    """An ASCII label in typographic form: "||m||" -> "‖m‖", a leading "x " -> "× "."""
    out = label.replace("||", "‖")
    return "× " + out[2:] if out.startswith("x ") else out


_D, _F, _A = "detection", "formation", "findings"

#: every per-sink column, in the order of the report's sink table (docs/method.md §3, §4)
COLUMNS: tuple[Column, ...] = (
    Column("prompt", "int64", "", "prompt", "index of the prompt in the run", 3, _A,
           console=True, notebook=True),
    Column("position", "int64", "position", "pos", "token position t", 3, _D,
           console=True, report=True, notebook=True),
    Column("token", "object", "", "token", "the token's text", 3, _D,
           console=True, report=True, notebook=True),
    Column("token_id", "int64", "", "token id", "the token's id in the vocabulary", 3, _D),
    Column("kind", "object", "", "kind",
           "class: primary (the primary position), primary-like, secondary, noise or unclassified", 3, _D,
           console=True, report=True, notebook=True),
    Column("is_primary_position", "bool", "", "primary position", "t = p: the primary's own row", 3, _D),
    Column("primary_like", "bool", "", "like primary", "kind is primary (the primary or a primary-like token)",
           3, _D),
    Column("region", "object", "", "region",
           "template, prompt or generated: the region of the token's position (§3 Regions)", 3, _A,
           console=True, report=True),
    Column("rel_birth", "float64", "ratio", "rel. birth",
           "birth / (L - 1) (0 for L = 1): the one relative depth, as `rel_depth` in layers.parquet and in "
           "the reproduction", 3, _D,
           summary=RunSummary("median_rel_birth", "median birth (relative depth)")),
    Column("birth", "int64", "layer", "birth", "first sink-like layer: min S_t", 3, _D,
           summary=RunSummary("median_birth", "median birth (block)"),
           console=True, report=True, hover=True, notebook=True),
    Column("death", "int64", "layer", "death", "last sink-like layer: max S_t", 3, _D,
           console=True, report=True, hover=True),
    Column("lifetime", "int64", "layers", "life", "|S_t|: the number of sink-like layers (they need not be "
           "contiguous)", 3, _D,
           summary=RunSummary("median_lifetime", "median lifetime (blocks)"),
           console=True, report=True, hover=True, notebook=True),
    Column("longest_run", "int64", "layers", "run", "longest run of consecutive layers in S_t", 3, _D),
    Column("coverage", "float64", "share", "coverage", "|S_t ∩ W| / |W|: the share of the primary window "
           "covered", 3, _D),
    Column("mean_score", "float64", "score", "mean s", "mean of s_t^l over S_t", 3, _D,
           console=True, report=True, hover=True, notebook=True),
    Column("peak_score", "float64", "score", "peak s", "max of s_t^l over S_t", 3, _D,
           console=True, report=True, hover=True),
    Column("score_ratio", "float64", "ratio", "x base",
           "mean_score / baseline: a sink needs >= k (NaN if the baseline is undefined, inf for a zero "
           "baseline and a positive score)", 3, _D,
           console=True, report=True, hover=True),
    Column("baseline", "float64", "score", "baseline", "mean over S_t of the baseline b_t^l (below)", 3, _D),
    Column("n_queries", "int64", "count", "queries", "min_l n_t^l: the fewest queries that see the key", 3, _D,
           report=True, hover=True),
    Column("anti_aligned", "bool", "", "anti",
           "more than half of S_t has cos(h_t^l, h_p^l) < 0 (counted as sink-like through |cos| >= tau)", 3, _D),
    Column("attention_share", "float64", "share", "attn share",
           "mean over S_t of share_t^l = n_t^l s_t^l / sum_j n_j^l s_j^l: the key's share of its layer's "
           "attention mass (§1)", 3, _D,
           summary=RunSummary("median_attention_share", "median share of the layer's attention"),
           console=True, report=True, hover=True),
    Column("mlp_cos_primary", "float64", "cosine", "cos(m,h_p)",
           "cos(m_t^b, h_p^b), signed: alignment with the primary's residual state", 4, _F,
           summary=RunSummary("median_mlp_cos", "median MLP cos(m, h_p)"),
           console=True, report=True, hover=True, notebook=True),
    Column("mlp_norm", "float64", "norm", "||m||", "||m_t^b||: the norm of the MLP output at birth", 4, _F,
           console=True, report=True, hover=True, notebook=True),
    Column("attn_norm", "float64", "norm", "||a||", "||a_t^b||: the norm of the attention output at birth", 4, _F),
    Column("mlp_cos_primary_mlp", "float64", "cosine", "cos(m,m_p)",
           "cos(m_t^b, m_p^b), signed: alignment with the primary's own MLP output", 4, _F, report=True),
    Column("attn_cos_primary", "float64", "cosine", "cos(a,h_p)", "cos(a_t^b, h_p^b), signed", 4, _F),
    Column("mlp_cos_oriented", "float64", "cosine", "cos (oriented)",
           "mlp_cos_primary, sign-flipped for anti-aligned records (the direction the sink really takes)", 4, _F,
           summary=RunSummary("median_mlp_cos_oriented", "median MLP cos (oriented)")),
    Column("mlp_share", "float64", "share", "MLP share",
           "proj_mlp / (proj_mlp + proj_attn): the MLP's share of the move along the primary direction (NaN "
           "when the sum vanishes, and it can leave [0, 1] when the two have opposite signs)", 4, _F,
           summary=RunSummary("median_mlp_share", "median MLP share"),
           console=True, report=True, hover=True),
    Column("proj_mlp", "float64", "norm", "proj m", "mlp_cos_primary x mlp_norm: the projection of m_t^b on the "
           "unit primary direction", 4, _F),
    Column("proj_attn", "float64", "norm", "proj a", "attn_cos_primary x attn_norm: the projection of a_t^b on "
           "the unit primary direction", 4, _F),
    Column("jump_norm", "float64", "norm", "jump", "||h_t^b|| - ||h_t^{b-1}||: the change of the token's norm at "
           "birth (||h_t^{-1}|| = the embedding's norm), not the norm of the change", 4, _F),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
SINK_COLUMNS = COLUMNS  # the name the package exports (`sinkscope.analysis.SINK_COLUMNS`)


def column(name: str) -> Column:
    """The registry entry of column `name` (KeyError names the known columns)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no per-sink column {name!r}; known: {', '.join(BY_NAME)}") from None


def names(source: Source | None = None) -> tuple[str, ...]:
    """The column names (of one `source`), in registry order."""
    return tuple(c.name for c in COLUMNS if source is None or c.source == source)


def dtypes(source: Source | None = None) -> dict[str, str]:
    """{name: dtype} of the columns (of one `source`) with a fixed dtype (the others are text)."""
    return {c.name: c.dtype for c in COLUMNS if (source is None or c.source == source) and c.dtype != "object"}


def summarised() -> tuple[Column, ...]:
    """The columns a run summarises (`Column.summary` set), in registry order."""
    return tuple(c for c in COLUMNS if c.summary is not None)


def console_columns(regions: bool = False) -> tuple[Column, ...]:
    """The console sink table's columns; `region` only with `regions` (prompts with a response)."""
    return tuple(c for c in COLUMNS if c.console and (regions or c.name != "region"))


def legend(cols: tuple[Column, ...]) -> str:
    """"label = description" for each column whose label is not its name, joined by "; " (the legend
    printed under a table and the `--top` help)."""
    return "; ".join(f"{c.label} = {c.description}" for c in cols if c.label != c.name)


__all__ = [
    "BY_NAME", "COLUMNS", "SINK_COLUMNS", "Column", "RunSummary", "column", "console_columns", "dtypes", "legend", "names",
    "summarised", "typeset",
]
