"""Explanations: exact TreeSHAP contributions, grouped into inputs a person understands.

Contributions are exact (path-dependent) TreeSHAP in margin space, as LightGBM's
``pred_contrib`` gives them, computed from per-leaf tables (:mod:`parcelrisk.treeshap`): for
each parcel, base value + sum of contributions = the booster's margin. The calibrated
log-odds are ``a * margin + b`` (Platt), so a contribution moves the calibrated log-odds
by ``a`` times its value. Engineered features are summed back into input groups (seller
history, recipient and address, description wording, declared value, ...) and each
group's contribution comes with a short reason text and the evidence behind it.

A contribution is also read in probability points (:func:`probability_points`): the
parcel's calibrated probability minus the probability its margin would give without that
contribution, times 100. Points of several groups do not add up to the probability (the
calibration is not linear); contributions add up to the margin exactly.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype
from pandas.core.dtypes.cast import maybe_box_native
from scipy.special import expit
from sklearn.pipeline import Pipeline

from parcelrisk.features.entities import history_records
from parcelrisk.features.groups import GROUPS, InputGroup
from parcelrisk.features.pipeline import feature_spec
from parcelrisk.model import features_of, matrix_values

#: The input groups explanations sum features into, by name. A feature's group is declared
#: with the feature, by the transformer that makes it (:mod:`parcelrisk.features.groups`).
INPUT_GROUPS: dict[str, InputGroup] = {group.name: group for group in GROUPS}
#: The group of a column that no feature transformer declares.
OTHER = "other"


@lru_cache(maxsize=4096)
def feature_group(name: str) -> str:
    """The input group of a feature matrix column, as its transformer declares it."""
    spec = feature_spec(name)
    return OTHER if spec is None or spec.group is None else spec.group.name


@dataclass(frozen=True)
class Explanation:
    """Exact TreeSHAP contributions of a batch of parcels.

    ``by_feature``: parcels x features, margin space; ``base_value``: expected margin;
    ``margin``: the booster's margin; ``features``: the feature matrix explained;
    ``calibration_slope`` and ``calibration_intercept``: ``a`` and ``b`` of the calibrated
    log-odds ``a * margin + b``.
    """

    by_feature: pd.DataFrame
    base_value: np.ndarray
    margin: np.ndarray
    features: pd.DataFrame
    calibration_slope: float
    calibration_intercept: float

    @property
    def calibration(self) -> tuple[float, float]:
        """``(a, b)`` of the calibrated log-odds ``a * margin + b``."""
        return self.calibration_slope, self.calibration_intercept

    @property
    def by_group(self) -> pd.DataFrame:
        """Contributions summed per input group (parcels x groups)."""
        if not all(d == np.float64 for d in self.by_feature.dtypes):
            return _pandas_group_sums(self.by_feature)  # with pandas' dtype of each sum
        names, sums = group_sums(self.by_feature)
        return pd.DataFrame(sums, index=self.by_feature.index, columns=names)


@dataclass(frozen=True)
class _Grouping:
    """Input groups of feature columns and the order in which their members are summed.

    ``names``: the groups in order of first appearance. ``order``: the groups, largest
    first. ``take[k, j]``: the column added at step ``k`` to the ``j``-th largest group;
    a group of ``m`` members is right-aligned, so it joins at step ``width - m`` and its
    members come in column order. ``active[k]``: how many groups take a column at step
    ``k`` (the largest ones, a prefix of ``order``).
    """

    names: tuple[str, ...]
    order: np.ndarray
    take: np.ndarray
    active: tuple[int, ...]


@lru_cache(maxsize=32)
def _grouping(columns: tuple[str, ...]) -> _Grouping:
    """The grouping of feature columns (computed once per column tuple)."""
    groups = [feature_group(c) for c in columns]
    names = tuple(dict.fromkeys(groups))
    members = [[i for i, g in enumerate(groups) if g == name] for name in names]
    order = sorted(range(len(names)), key=lambda g: -len(members[g]))
    width = max(map(len, members), default=0)
    take = np.zeros((width, len(names)), dtype=np.intp)
    for j, g in enumerate(order):
        take[width - len(members[g]) :, j] = members[g]
    active = tuple(sum(width - len(members[g]) <= k for g in order) for k in range(width))
    order_array = np.array(order, dtype=np.intp)
    for array in (take, order_array):
        array.setflags(write=False)
    return _Grouping(names, order_array, take, active)


def _compensated_sums(values: np.ndarray, grouping: _Grouping) -> np.ndarray:
    """Kahan-compensated sums of the members of each group, per row (rows x groups).

    The same recurrence, in the same order, as pandas' grouped float sum: each group adds
    its members in column order, starting from a sum and a compensation of zero.
    """
    by_column = values.T  # a column's values in one row of memory, as pandas stores them
    shape = (len(grouping.names), values.shape[0])
    total, compensation = np.zeros(shape), np.zeros(shape)
    t, y = np.empty(shape), np.empty(shape)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite sums are not used
        for step, n in zip(grouping.take, grouping.active, strict=True):
            np.subtract(by_column[step[:n]], compensation[:n], out=y[:n])
            np.add(total[:n], y[:n], out=t[:n])
            np.subtract(t[:n], total[:n], out=compensation[:n])
            compensation[:n] -= y[:n]
            total[:n] = t[:n]
    sums = np.empty_like(total)
    sums[grouping.order] = total
    return sums.T


def compensated_group_sums(by_feature: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
    """:func:`group_sums` in numpy, bit for bit pandas' values: group names and a parcels x
    groups array, or None when that equality cannot be promised this way (the
    contributions are not float64, or a sum is not finite: pandas skips NaN and resets its
    compensation after an overflow)."""
    grouping = _grouping(tuple(by_feature.columns.tolist()))
    values = by_feature.to_numpy()
    if not grouping.names or values.dtype != np.float64:
        return None
    sums = _compensated_sums(values, grouping)
    if not np.isfinite(sums).all():
        return None
    return list(grouping.names), sums


def group_sums(by_feature: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Contributions summed per input group, as group names (in order of first appearance)
    and a parcels x groups array: the values of
    ``by_feature.T.groupby(groups, sort=False).sum().T``.

    This is the seam of a speed twin: :func:`compensated_group_sums` gives pandas' very
    floats in numpy (measured 0.52 ms less per one-parcel request, 5% of a 100-parcel one)
    wherever it can promise them, pandas itself computes the others.
    """
    fast = compensated_group_sums(by_feature)
    if fast is not None:
        return fast
    sums = _pandas_group_sums(by_feature)
    return list(sums.columns), sums.to_numpy()


def _pandas_group_sums(by_feature: pd.DataFrame) -> pd.DataFrame:
    """Contributions summed per input group by pandas (parcels x groups)."""
    groups = [feature_group(c) for c in by_feature.columns]
    return by_feature.T.groupby(groups, sort=False).sum().T


def explain(model: Pipeline, declarations: pd.DataFrame) -> Explanation:
    """Exact TreeSHAP contributions of validated declarations (margin space)."""
    return explain_features(model[-1], features_of(model, declarations))


def explain_features(
    classifier, features: pd.DataFrame, margin: np.ndarray | None = None
) -> Explanation:
    """Exact TreeSHAP contributions of rows of an already computed feature matrix.

    History features depend on the batch a parcel was scored with, so explanations of a
    scored batch must use the matrix that batch was scored on. ``margin``: the model's
    margin of these rows when the caller already has it (it is predicted otherwise).
    """
    values = matrix_values(features)  # converted once, for both predictions
    contrib = classifier.contributions(values)
    if margin is None:
        margin = classifier.decision_function(values)
    return Explanation(
        by_feature=pd.DataFrame(contrib[:, :-1], columns=features.columns, index=features.index),
        base_value=contrib[:, -1],
        margin=np.asarray(margin),
        features=features,
        calibration_slope=float(classifier.calibration_[0]),
        calibration_intercept=float(classifier.calibration_[1]),
    )


def probability_points(margin, contribution, calibration: tuple[float, float]) -> np.ndarray:
    """Contributions in probability points: how much each moved the parcel's probability.

    ``100 * (p(margin) - p(margin - contribution))`` with ``p(m) = sigmoid(a * m + b)``, the
    calibrated probability (``calibration`` is ``(a, b)``): the parcel's probability minus
    the probability it would have without that contribution, in percentage points. Its
    sign is the contribution's (``a > 0``). ``margin`` and ``contribution`` broadcast
    (margins as a column against a parcels x groups array).

    Computed as ``sign(d) * sigmoid(h) * sigmoid(|d| - h) * (1 - exp(-|d|))``, ``d = a * c``,
    ``h`` the larger of the two calibrated log-odds: the same difference, without
    cancellation for small contributions or overflow for large ones.
    """
    a, b = calibration
    x = a * np.asarray(margin, float) + b
    d = a * np.asarray(contribution, float)
    high, size = np.maximum(x, x - d), np.abs(d)
    return 100 * np.sign(d) * expit(high) * expit(size - high) * -np.expm1(-size)


def points_words(points: float) -> str:
    """Probability points as a reason shows them: ``"+12.3 points"``, ``"-0.04 points"``."""
    if abs(points) >= 0.05:
        return f"{points:+.1f} points"
    if abs(points) >= 0.005:
        return f"{points:+.2f} points"
    return f"{'+' if points > 0 else '-'}less than 0.01 points"


def reason_text(points: float, direction: str, evidence: str) -> str:
    """A reason as auditors read it: ``"+12.3 points: raises risk: <evidence>"``
    (``direction``: ``"raises"`` or ``"lowers"``, by the sign of the contribution)."""
    return f"{points_words(points)}: {direction} risk: {evidence}"


def reasons(
    explanation: Explanation,
    declarations: pd.DataFrame | list[Mapping[str, Any]],
    *,
    top: int = 3,
    direction: str = "raises",
) -> list[list[dict]]:
    """Top reasons per parcel: input group, signed contribution (margin, log-odds), its effect
    in probability points (:func:`probability_points`), direction and text (see
    :func:`reason_text`).

    ``direction`` is ``"raises"`` (largest positive contributions), ``"lowers"`` (largest
    negative ones) or ``"both"`` (largest in absolute value).
    """
    if direction not in ("raises", "lowers", "both"):
        raise ValueError(f"direction must be 'raises', 'lowers' or 'both', got {direction!r}")
    names, values = group_sums(explanation.by_feature)
    points = probability_points(explanation.margin[:, None], values, explanation.calibration)
    key = {"raises": -values, "lowers": values, "both": -np.abs(values)}[direction]
    ranked = np.argsort(key, axis=1, kind="stable")[:, :top]
    features = records(explanation.features)
    parcels = declarations if isinstance(declarations, list) else records(declarations)
    members = _members(tuple(explanation.features.columns.tolist()))
    out = []
    for pos, columns in enumerate(ranked):
        row, moved = values[pos], points[pos]
        # a group that moved nothing is no reason (e.g. inputs a mapped table lacks)
        chosen = [
            c
            for c in columns
            if row[c] and (direction == "both" or (row[c] > 0) == (direction == "raises"))
        ]
        texts = [_evidence(names[c], members, features[pos], parcels[pos]) for c in chosen]
        out.append(
            [
                _reason(names[c], float(row[c]), float(moved[c]), text)
                for c, text in zip(chosen, texts, strict=True)
            ]
        )
    return out


def _reason(group: str, contribution: float, points: float, evidence: str) -> dict:
    direction = "raises" if contribution > 0 else "lowers"
    return {"group": group, "contribution": contribution, "points": points,
            "direction": direction, "text": reason_text(points, direction, evidence)}  # fmt: skip


class _Columns:
    """A frame's columns as lists of the values ``to_dict("records")`` gives, each column
    converted on first use (a column name given twice reads as its last column, as there)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.names = frame.columns.tolist()
        self.position = {name: i for i, name in enumerate(self.names)}
        self.unique = len(self.position) == len(self.names)
        self.converted: dict[Hashable, list] = {}

    def values(self, name: Hashable) -> list:
        """The column's values as Python objects (KeyError if there is no such column)."""
        if name not in self.converted:
            self.converted[name] = self._convert(self.position[name])
        return self.converted[name]

    def _convert(self, i: int) -> list:
        column = self.frame[self.names[i]] if self.unique else self.frame.iloc[:, i]
        values = list(column)
        if column.dtype == object or isinstance(column.dtype, ExtensionDtype):
            values = [maybe_box_native(v) for v in values]
        return values


class _Row(Mapping):
    """One row of a frame as a read-only mapping of column name to value."""

    __slots__ = ("_columns", "_pos")

    def __init__(self, columns: _Columns, pos: int):
        self._columns, self._pos = columns, pos

    def __getitem__(self, name: Hashable) -> Any:
        return self._columns.values(name)[self._pos]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._columns.position)

    def __len__(self) -> int:
        return len(self._columns.position)


def records(frame: pd.DataFrame) -> Sequence[Mapping[Hashable, Any]]:
    """The rows of ``frame`` as mappings with the values of ``frame.to_dict("records")``.

    A column is converted only when a row is first asked for it, so reading a few fields
    of a wide frame costs a few columns, not the whole frame. This is the seam of a speed
    twin of ``to_dict("records")`` (equal values and types, by test_group_sums): measured
    2.8 ms less per one-parcel request, 22% of a 100-parcel one.
    """
    columns = _Columns(frame)
    return [_Row(columns, pos) for pos in range(len(frame))]


@lru_cache(maxsize=32)
def _members(columns: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The columns of each input group, by the names their features are declared with."""
    members: dict[str, dict[str, str]] = {}
    for column in columns:
        spec = feature_spec(column)
        if spec is not None and spec.group is not None:
            members.setdefault(spec.group.name, {})[spec.name] = column
    return members


class _GroupFeatures(Mapping):
    """A parcel's values of one group's features, by their declared names."""

    __slots__ = ("_columns", "_values")

    def __init__(self, values: Mapping[str, Any], columns: Mapping[str, str]):
        self._values, self._columns = values, columns

    def __getitem__(self, name: str) -> Any:
        return self._values[self._columns[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def _evidence(group: str, members: dict[str, dict[str, str]], f, parcel) -> str:
    declared = INPUT_GROUPS.get(group)
    if declared is None:
        return group
    features = _GroupFeatures(f, members.get(group, {}))
    return "; ".join([declared.evidence(features, parcel), *history_records(features, parcel)])


def evidence(group: str, f: Mapping[str, Any], parcel: Mapping[str, Any]) -> str:
    """A sentence an auditor can check: what the parcel's data shows for this group.

    ``f`` maps feature matrix columns to the parcel's values, ``parcel`` field names to its
    inputs (dicts or pandas rows). The group's declared evidence reads the group's own
    features (:mod:`parcelrisk.features.groups`); a group not declared reads as its name.
    """
    return _evidence(group, _members(tuple(f.keys())), f, parcel)
