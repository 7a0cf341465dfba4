"""reproduce.values: the float coercion and the document's two number formats."""

from __future__ import annotations

import numpy as np

from sinkscope.workflows.reproduce.values import MISSING, as_float, fmt_duration, fmt_num, fmt_pct


def test_as_float():
    assert as_float(np.float32(0.5)) == 0.5 and as_float(3) == 3.0 and as_float("2.5") == 2.5
    assert [as_float(x) for x in (None, float("nan"), float("inf"), "x", [1])] == [None] * 5


def test_fmt_num():
    assert fmt_num(0.1234) == "0.12" and fmt_num(0.1234, 3) == "0.123" and fmt_num(7.0, 0) == "7"
    assert fmt_num(0) == "0.00"
    assert fmt_num(9.3e-4) == "9.3e-04"  # below 10^-2: scientific, d - 1 decimals
    assert fmt_num(12345.0, 1) == "1.2e+04"  # >= 1e4, at least 1 decimal
    assert fmt_num(0.4, 0) == "4.0e-01"
    assert fmt_num(None) == fmt_num(float("nan")) == MISSING == "–"


def test_fmt_pct():
    assert fmt_pct(0.125) == "12%" and fmt_pct(1) == "100%" and fmt_pct(8 / 9) == "89%"
    assert fmt_pct(None) == MISSING


def test_fmt_duration_reads_as_a_wall_time():
    assert [fmt_duration(x) for x in (0.55, 0, 1, 59.4, 63, 600)] == ["< 1 s", "< 1 s", "1 s", "59 s", "1.1 min", "10.0 min"]
    assert fmt_duration(None) == fmt_duration("n/a")
