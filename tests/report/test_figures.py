"""Paper figures and the shared numpy helpers (report/figures.py), and the §8 / §9 figures
(report/anatomy_figures.py), on synthetic results."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from sinkscope.report import figures as F
from sinkscope.report.anatomy_figures import busiest_prompt, sink_properties, write_properties_figures
from tests.report.reportsynth import synthetic_result


@pytest.fixture(scope="module")
def res2():
    return synthetic_result((400, 900))


def test_maxpool_clip_from_score_range():
    a = np.array([[0.1, 0.5, 0.2, 0.9, 0.3]])
    np.testing.assert_array_equal(F.maxpool(a, 2), [[0.5, 0.9, 0.3]])
    assert F.maxpool(a, 1) is a
    np.testing.assert_array_equal(F.maxpool(np.array([[1, 5, 2]], dtype=np.int32), 2), [[5, 2]])
    nq = np.tile(np.arange(20, 0, -1), (3, 1))
    assert F.clip_from(nq, 16) == 5  # positions 5.. are seen by < 16 queries
    assert F.clip_from(np.full((2, 4), 100), 16) == 4
    assert F.clip_from(np.full(4, 1), 16) == 4  # nothing classifiable: no clipping
    vmin, vmax = F.score_range(np.array([[1e-3, 2e-3, 0.5, 0.9]]), limit=3)
    assert vmax == 0.5 and vmin == pytest.approx(2e-3)
    assert F.score_range(np.zeros((2, 3))) == (1e-4, 1.0)


def test_kind_labels_and_records(res2):
    assert F.kind_label("primary", True) == "primary"
    assert F.kind_label("primary", False) == "primary-like"
    assert F.kind_label("secondary", False) == "secondary"
    df = pd.DataFrame({"kind": ["primary", "primary", "noise"], "is_primary_position": [True, False, False]})
    assert F.record_labels(df) == ["primary", "primary-like", "noise"]
    assert F.record_labels(df.drop(columns="is_primary_position")) == ["primary-like", "primary-like", "noise"]
    rec = F.prompt_records(res2, 1)
    assert (rec["prompt"] == 1).all() and len(rec) == int((res2.sinks["prompt"] == 1).sum())
    assert rec["position"].is_monotonic_increasing


def test_colour_lut_and_colourise():
    lut = F.colour_lut(F.CMAP)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0].sum() > lut[-1].sum()  # magma_r: light at the bottom, dark for sinks
    img = F.colourise(np.array([[0.0, 1e-3, 1e-2, 1.0]]), 1e-3, 1.0, lut)
    assert img.shape == (1, 4, 3)
    np.testing.assert_array_equal(img[0, 0], lut[0])  # <= 0 gets the lowest colour
    np.testing.assert_array_equal(img[0, 1], lut[0])
    np.testing.assert_array_equal(img[0, 3], lut[255])
    half = F.colourise(np.array([[0.1]]), 1e-2, 1.0, lut)  # half-way on the log scale
    np.testing.assert_array_equal(half[0, 0], lut[127])


def _check_files(paths):
    for p in paths:
        data = p.read_bytes()
        if p.suffix == ".png":
            assert data.startswith(b"\x89PNG") and len(data) > 10_000
        else:
            root = ET.fromstring(data)
            assert root.tag.endswith("svg")
            assert b"<text" in data or b"<g" in data


def test_figures(tmp_path, res2):
    paths = F.write_figures(res2, tmp_path / "figures")
    assert [p.name for p in paths] == [f"{n}.{e}" for n in F.FIGURE_NAMES for e in ("png", "svg")]
    _check_files(paths)
    assert not [p for p in (tmp_path / "figures").iterdir() if p.name.startswith(".")]


def test_figures_are_reproducible(tmp_path, res2):
    a = F.write_figures(res2, tmp_path / "a", formats=("svg",), names=("levels",))
    b = F.write_figures(res2, tmp_path / "b", formats=("svg",), names=("levels",))
    assert [p.name for p in a] == ["levels.svg"]
    assert a[0].read_bytes() == b[0].read_bytes()  # no dates, fixed hash salt


def test_figure_subset_and_dpi(tmp_path, res2):
    from PIL import Image

    lo = F.write_figures(res2, tmp_path / "lo", formats=("png",), names=("normlaw",), dpi=50)
    hi = F.write_figures(res2, tmp_path / "hi", formats=("png",), names=("normlaw",), dpi=100)
    assert Image.open(hi[0]).size[0] == pytest.approx(2 * Image.open(lo[0]).size[0], abs=2)


def test_figures_without_secondary_sinks(tmp_path):
    res = synthetic_result((400,)).reanalyze(k=1e9)  # nothing passes the score test
    assert res.summary().n_secondary == 0
    paths = F.write_figures(res, tmp_path)
    assert len(paths) == 8
    assert b"no secondary sinks" in (tmp_path / "levels.svg").read_bytes()


def test_write_figure_set_uses_the_style(tmp_path):
    seen = {}

    def make():
        import matplotlib

        seen["font"] = matplotlib.rcParams["font.size"]
        fig = F.new_figure(2, 1)
        fig.add_subplot().plot([0, 1], [0, 1])
        return fig

    paths = F.write_figure_set({"x": make}, tmp_path, formats=("svg",))
    assert [p.name for p in paths] == ["x.svg"]
    assert seen["font"] == F.STYLE["font.size"]


def test_properties_figures_read_the_findings(tmp_path, res2):
    props = sink_properties(res2)
    assert props is res2.findings.properties()  # the cached analysis, not a recomputation
    assert sink_properties(props) is props
    sec = props.summary[props.summary["group"] == "secondary"]
    counts = sec["prompt"].value_counts()
    assert busiest_prompt(props) == int(counts.idxmax())
    paths = write_properties_figures(res2, tmp_path)
    assert [p.name for p in paths] == ["properties.png", "properties.svg"]
    _check_files(paths)
