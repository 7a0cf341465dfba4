import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from sinkscope.analysis import label_cells, levels
from sinkscope.core.errors import InputError


def _records(cells):
    rows = []
    for birth, life, n, tok in cells:
        rows += [{"birth": birth, "lifetime": life, "kind": "secondary", "token": tok}] * n
    return pd.DataFrame(rows)


def test_two_levels_and_a_tiny_cluster():
    df = _records(
        [
            (5, 7, 20, " "),
            (5, 8, 15, " "),
            (6, 7, 15, "\n"),
            (6, 8, 10, " "),  # A: 60
            (12, 3, 12, "."),
            (13, 4, 12, "."),
            (14, 3, 12, ","),  # B: 36 (13,4 touches both)
            (20, 10, 4, "x"),  # tiny: 4 %
        ]
    )
    df = pd.concat([df, _records([(1, 1, 30, "n")]).assign(kind="noise")])  # ignored
    lv = levels(df, n_layers=24)
    assert lv.n_sinks == 100 and lv.n_clusters == 3 and lv.n_levels == 2
    a, b = lv.levels
    assert (a.birth_range, a.lifetime_range, a.count) == ((5, 6), (7, 8), 60)
    assert a.share == pytest.approx(0.60)
    assert a.top_tokens == ((" ", 45), ("\n", 15))
    assert (b.birth_range, b.lifetime_range, b.count) == ((12, 14), (3, 4), 36)
    assert b.share == pytest.approx(0.36)
    assert b.top_tokens[0] == (".", 24)
    assert lv.counts.shape == (24, 25) and lv.counts[5, 7] == 20 and lv.counts.sum() == 100
    frame = lv.to_frame()
    assert frame["birth_min"].tolist() == [5, 12]
    # the tiny cluster becomes a level once min_share allows it
    assert levels(df, 24, min_share=0.04).n_levels == 3


def test_tolerance():
    df = _records([(5, 5, 10, "a"), (7, 5, 10, "b")])  # two layers apart
    assert levels(df, 12, tol=1).n_levels == 2
    assert levels(df, 12, tol=2).n_levels == 1
    assert levels(df, 12, tol=0).n_clusters == 2


def test_label_cells_matches_ndimage_for_tol_1():
    rng = np.random.default_rng(0)
    mask = rng.random((30, 31)) < 0.15
    ours, n = label_cells(mask, 1)
    ref, m = ndimage.label(mask, structure=np.ones((3, 3)))
    assert n == m
    # same partition (labels may be numbered differently)
    pairs = set(zip(ours[mask].tolist(), ref[mask].tolist()))
    assert len(pairs) == n


def test_empty_and_bad():
    lv = levels(pd.DataFrame({"birth": [], "lifetime": [], "kind": []}), 10)
    assert lv.n_levels == 0 and lv.n_sinks == 0
    with pytest.raises(InputError):
        levels(_records([(12, 3, 1, "a")]), n_layers=10)
    with pytest.raises(InputError):
        levels(_records([(1, 3, 1, "a")]), n_layers=10, min_share=2)


def test_ordering_deterministic():
    df = _records([(10, 2, 10, "a"), (2, 9, 10, "b"), (2, 2, 10, "c")])
    lv = levels(df.sample(frac=1.0, random_state=1), 12)
    assert [(l.birth_range[0], l.lifetime_range[0]) for l in lv.levels] == [(2, 2), (2, 9), (10, 2)]


def test_levels_deterministic_equal():
    df = _records([(5, 5, 10, "a"), (9, 2, 3, "b")])
    assert levels(df, 12) == levels(df.iloc[::-1], 12)
