"""Grouped contributions and row mappings equal pandas' own results bit for bit.

Reasons are logged and replayed exactly, so the fast paths of ``parcelrisk.explain`` must
give the very floats of ``by_feature.T.groupby(groups, sort=False).sum().T`` (a
Kahan-compensated sum) and the very values of ``to_dict("records")``.
"""

import math

import numpy as np
import pandas as pd
import pytest

from parcelrisk.explain import (
    Explanation,
    compensated_group_sums,
    feature_group,
    group_sums,
    records,
)
from parcelrisk.features.pipeline import PARTS


def _names(rng: np.random.Generator) -> list[str]:
    """Every declared feature's column, a few extra inputs and one of no group, shuffled."""
    names = [f"{kind.PART}__{spec.name}" for kind in PARTS.values() for spec in kind.FEATURES]
    names += [f"extra__f{i}" for i in range(3)] + ["unknown__f0"]
    return [names[i] for i in rng.permutation(len(names))]


def _contributions(rng: np.random.Generator, rows: int, names: list[str]) -> pd.DataFrame:
    """Contributions over many magnitudes, so rounding order shows in the last bits."""
    scale = 10.0 ** rng.uniform(-9, 4, size=(rows, len(names)))
    values = rng.standard_normal((rows, len(names))) * scale
    return pd.DataFrame(values, columns=names, index=pd.RangeIndex(rows) + 7)


def _pandas(by_feature: pd.DataFrame) -> pd.DataFrame:
    return by_feature.T.groupby([feature_group(c) for c in by_feature.columns], sort=False).sum().T


def _explanation(by_feature: pd.DataFrame) -> Explanation:
    n = len(by_feature)
    return Explanation(by_feature, np.zeros(n), np.zeros(n), by_feature, 1.0, 0.0)


@pytest.mark.parametrize("rows", [1, 2, 10, 15_000])
def test_group_sums_equal_pandas_bit_for_bit(rows):
    rng = np.random.default_rng(rows)
    by_feature = _contributions(rng, rows, _names(rng))
    expected = _pandas(by_feature)
    assert compensated_group_sums(by_feature) is not None  # the numpy twin is taken
    names, sums = group_sums(by_feature)
    assert names == expected.columns.tolist()
    assert sums.dtype == np.float64
    assert np.array_equal(sums.view(np.uint64), expected.to_numpy().view(np.uint64))
    pd.testing.assert_frame_equal(_explanation(by_feature).by_group, expected, check_exact=True)


def test_a_plain_sum_would_not_do():
    rng = np.random.default_rng(0)
    by_feature = _contributions(rng, 2_000, _names(rng))
    expected = _pandas(by_feature).to_numpy()
    groups = np.array([feature_group(c) for c in by_feature.columns])
    plain = np.column_stack(
        [by_feature.to_numpy()[:, groups == g].sum(axis=1) for g in _pandas(by_feature).columns]
    )
    assert not np.array_equal(plain, expected)  # the comparison above can tell them apart


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf, 1e308])
def test_missing_and_overflowing_contributions_fall_back_to_pandas(special):
    rng = np.random.default_rng(1)
    by_feature = _contributions(rng, 5, _names(rng))
    by_feature.iloc[1, 3] = special
    by_feature.iloc[2, :] = special
    # every special value makes a sum of row 2 that is not finite (1e308s overflow)
    assert compensated_group_sums(by_feature) is None
    names, sums = group_sums(by_feature)
    assert names == _pandas(by_feature).columns.tolist()
    assert np.array_equal(sums, _pandas(by_feature).to_numpy(), equal_nan=True)
    by_group = _explanation(by_feature).by_group
    pd.testing.assert_frame_equal(by_group, _pandas(by_feature), check_exact=True)


def test_integer_columns_among_float_ones_are_summed_as_floats_as_by_pandas():
    rng = np.random.default_rng(2)
    by_feature = _contributions(rng, 50, _names(rng))
    by_feature[by_feature.columns[4]] = rng.integers(-5, 5, size=50)
    assert compensated_group_sums(by_feature) is not None
    _, sums = group_sums(by_feature)
    assert np.array_equal(sums, _pandas(by_feature).to_numpy())


def test_non_float_contributions_fall_back_to_pandas():
    by_feature = pd.DataFrame({"routing__a": [1, 2], "filer_x": [3, 4]})
    assert compensated_group_sums(by_feature) is None
    expected = _pandas(by_feature)
    names, sums = group_sums(by_feature)
    assert names == expected.columns.tolist() and np.array_equal(sums, expected.to_numpy())
    pd.testing.assert_frame_equal(_explanation(by_feature).by_group, expected)


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    return a is b or a == b or (pd.isna(a) and pd.isna(b))


def assert_records_equal(frame: pd.DataFrame) -> None:
    """``records(frame)`` reads as ``frame.to_dict("records")``: keys, values and types."""
    expected = frame.to_dict("records")
    rows = records(frame)
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert list(row) == list(want) and len(row) == len(want)
        assert all(_same(row[k], want[k]) for k in want), [
            (k, row[k], want[k]) for k in want if not _same(row[k], want[k])
        ]
        assert dict(row.items()) == {k: row[k] for k in want}


def test_records_read_as_to_dict():
    frame = pd.DataFrame(
        {
            "f": [1.5, np.nan, -0.0],
            "i": np.array([1, 2, 3], dtype=np.int64),
            "b": [True, False, True],
            "s": pd.Series(["a", None, "c"], dtype="str"),
            "o": pd.Series(["x", 2, None], dtype=object),
            "nb": pd.Series([True, None, False], dtype="boolean"),
            "ni": pd.Series([1, None, 3], dtype="Int64"),
            "t": pd.to_datetime(["2026-01-01", None, "2026-01-03"], utc=True),
            "c": pd.Categorical(["u", "v", None]),
        }
    )
    assert_records_equal(frame)
    assert_records_equal(frame.iloc[[1]])
    assert_records_equal(frame.iloc[:0])


def test_records_refuse_missing_columns_like_a_dict():
    row = records(pd.DataFrame({"a": [1.0]}))[0]
    assert row.get("b", "default") == "default" and "b" not in row and "a" in row
    with pytest.raises(KeyError):
        row["b"]


def test_records_with_a_repeated_column_read_its_last_one():
    frame = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.warns(UserWarning, match="not unique"):
        expected = frame.to_dict("records")
    assert dict(records(frame)[0]) == expected[0]
    assert list(records(frame)[0]) == ["a"] and len(records(frame)[0]) == 1
    assert math.isclose(records(frame)[0]["a"], 2.0)
