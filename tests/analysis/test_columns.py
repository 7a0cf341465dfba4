"""The column registry (sinkscope.analysis.columns) against docs/method.md and the modules it drives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from sinkscope.analysis import columns as C
from sinkscope.analysis.detection import RECORD_COLUMNS, detect
from sinkscope.analysis.findings import analyze
from sinkscope.analysis.formation import FORMATION_COLUMNS
from tests.analysis.synth import make_trace, spec24

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs/method.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
SRC = ROOT / "src" / "sinkscope"


def _section(n: int) -> str:
    """The text of "## §n ..." up to the next level-2 heading."""
    m = re.search(rf"^## §{n} .*?$(.*?)(?=^## )", DOC, flags=re.M | re.S)
    assert m, f"docs/method.md has no section §{n}"
    return m.group(1)


def _table_rows(text: str) -> dict[str, str]:
    """{column: definition} of the rows of the "| column | definition |" tables in `text`."""
    rows, in_table = {}, False
    for line in text.splitlines():
        line = line.strip()
        if line == "| column | definition |":
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            in_table = False
        m = re.fullmatch(r"\| `([a-z_0-9]+)` \| (.*) \|", line) if in_table else None
        if m:
            rows[m.group(1)] = m.group(2).replace("\\|", "|")
    return rows


@pytest.mark.parametrize("col", C.COLUMNS, ids=lambda c: c.name)
def test_entry_matches_method_document(col):
    rows = _table_rows(_section(col.section))
    assert col.name in rows, f"docs/method.md §{col.section} has no table row for `{col.name}`"
    assert rows[col.name] == col.description, (
        f"`{col.name}`: the registry says {col.description!r}, docs/method.md §{col.section} says {rows[col.name]!r}")


def test_every_documented_sink_column_is_registered():
    documented = set(_table_rows(DOC))
    assert documented == set(C.BY_NAME), f"documented, not registered: {documented - set(C.BY_NAME)}; " \
        f"registered, not documented: {set(C.BY_NAME) - documented}"


def test_entries_are_well_formed():
    assert len(C.BY_NAME) == len(C.COLUMNS)
    labels = [c.label for c in C.COLUMNS]
    assert len(set(labels)) == len(labels), "two columns share a label"
    for c in C.COLUMNS:
        assert c.label.isascii() and c.description and "\n" not in c.description
        assert f"## §{c.section} " in DOC
    keys = [c.summary.key for c in C.summarised() if c.summary]
    assert len(set(keys)) == len(keys)
    with pytest.raises(KeyError, match="no per-sink column 'nope'"):
        C.column("nope")


def test_registry_drives_the_record_tables():
    pt = make_trace(spec24())
    det = detect(pt)
    assert RECORD_COLUMNS == C.names("detection") and FORMATION_COLUMNS == C.names("formation")
    f = analyze([pt])
    assert set(f.sinks.columns) == set(C.BY_NAME)
    for name, dtype in C.dtypes().items():
        assert str(f.sinks[name].dtype) == dtype, name
    assert list(det.records.columns) == list(RECORD_COLUMNS)
    s, d = f.summary(), f.summary().to_dict()
    sec = f.secondary
    assert len(sec) and set(s.medians) == {c.name for c in C.summarised()}
    for c in C.summarised():
        v = sec[c.name].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        assert v.size and s.median(c.name) == d[c.summary.key] == pytest.approx(float(np.median(v)))


def test_typeset():
    assert C.typeset("||m||") == "‖m‖" and C.typeset("x base") == "× base" and C.typeset("mean s") == "mean s"


def _literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_no_other_module_spells_a_label():
    """Abbreviated labels (the ones that differ from the column's name) live in the registry only: no
    string literal of another module, nor of the page script, is one of them or its typeset form."""
    labels = {c.label for c in C.COLUMNS if c.label != c.name} | {c.display for c in C.COLUMNS if c.label != c.name}
    # plain words that other tables use for their own columns (the levels table's "count", ...)
    labels -= {"queries", "baseline", "coverage", "region", "token", "prompt", "run", "anti"}
    hits = []
    for path in SRC.rglob("*.py"):
        if path.name == "columns.py" and path.parent.name == "analysis":
            continue
        found = _literals(path) & labels
        hits += [f"{path.relative_to(SRC)}: {x!r}" for x in sorted(found)]
    js = (SRC / "report" / "assets" / "report.js").read_text(encoding="utf-8")
    hits += [f"report.js: {x!r}" for x in sorted(labels) if f'"{x}"' in js or f"'{x}'" in js]
    assert not hits, "column labels spelled outside sinkscope.analysis.columns: " + "; ".join(hits)
