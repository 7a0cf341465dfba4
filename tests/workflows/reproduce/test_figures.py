"""reproduce.figures: the three per-model PNGs, drawn by report.figures at 130 dpi."""

from __future__ import annotations

import struct

from sinkscope.workflows.reproduce import write_model_figures
from tests.workflows.reproduce.numbers import two_prompt_scan


def test_write_model_figures(tmp_path):
    out = tmp_path / "docs"
    got = write_model_figures(two_prompt_scan(change_at=30), out / "reproduction" / "m", rel_to=out)
    assert got == {k: f"reproduction/m/{k}.png" for k in ("normlaw", "weakening", "levels")}
    for rel in got.values():
        data = (out / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # report.figures draws the norm-law figure 7.2 x 3.0 inches: 936 x 390 pixels at 130 dpi
    w, h = struct.unpack(">II", (out / got["normlaw"]).read_bytes()[16:24])
    assert (w, h) == (936, 390)
    assert sorted(p.name for p in (out / "reproduction" / "m").iterdir()) == ["levels.png", "normlaw.png", "weakening.png"]
