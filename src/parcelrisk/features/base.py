"""The base of every feature transformer: the features it declares and how it is called.

A transformer declares the features it makes once, as :class:`FeatureSpec` in its
``FEATURES`` (name and input group); the names it gives out, the input groups of
explanations and the evidence of reasons all come from there. It computes them on
:class:`Columns` (``transform_columns``); ``transform`` gives them as a frame.

A transformer reads declarations by column name, so it is fitted on a pandas frame of
declarations (:func:`validate_declarations` refuses anything else and records the frame's
columns as ``feature_names_in_``). Later frames may carry fewer columns (scoring requests
have no outcomes) or more: ``transform`` reads the inputs it needs by name.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from parcelrisk.features.columns import Columns, as_frame
from parcelrisk.features.groups import FeatureSpec


class FeatureTransformer(TransformerMixin, BaseEstimator):
    """A feature transformer of declarations: subclasses declare ``FEATURES`` and ``PART``
    and define ``transform_columns(cols) -> dict of arrays``, one per declared feature in
    the declared order."""

    #: The features the transformer makes, in the order it makes them.
    FEATURES: ClassVar[tuple[FeatureSpec, ...]] = ()
    #: Its part's name in the feature union: the prefix of its features' column names.
    PART: ClassVar[str] = ""

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """The features :meth:`transform` makes, in order (``FEATURES`` unless the
        parameters choose them)."""
        return self.FEATURES

    @classmethod
    def spec_of(cls, feature: str) -> FeatureSpec | None:
        """The declaration of a feature this kind of transformer makes (None if none)."""
        return _declared(cls).get(feature)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the features :meth:`transform` returns.

        Parameters
        ----------
        input_features
            The input columns, if given: they must be those seen in ``fit``
            (``feature_names_in_``). The names out do not depend on them.
        """
        check_is_fitted(self)
        _check_input_features(self, input_features)
        return np.asarray([spec.name for spec in self.feature_specs()], dtype=object)

    def transform(self, X: pd.DataFrame | Columns) -> pd.DataFrame:
        """The features of a frame (or :class:`Columns`) of declarations, one row each."""
        check_is_fitted(self)
        if not isinstance(X, pd.DataFrame | Columns):
            raise TypeError(_not_a_table(self, X, "transform"))
        cols = Columns.of(X)
        return as_frame(self.transform_columns(cols), cols.index)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # a missing input gives missing features, no error
        tags.input_tags.string = True  # descriptions, names, codes
        return tags


def validate_declarations(transformer: FeatureTransformer, X) -> None:
    """Check that ``X`` is a frame of declarations to fit on, and record its columns as
    the transformer's input (``n_features_in_``, ``feature_names_in_``).

    Raises
    ------
    TypeError
        If ``X`` is not a pandas DataFrame (an array has no column names to read by).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(_not_a_table(transformer, X, "fit"))
    validate_data(transformer, X, reset=True, skip_check_array=True)


def check_strings(value, name: str) -> None:
    """Refuse a parameter that is not a tuple or list of strings (column names, terms)."""
    if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a tuple or list of strings, got {value!r}")


def _not_a_table(transformer: FeatureTransformer, X, method: str) -> str:
    found = f"a scipy sparse {type(X).__name__}" if sparse.issparse(X) else type(X).__name__
    return (
        f"{type(transformer).__name__} reads declarations by column name: {method} takes a "
        f"pandas DataFrame of declarations, got {found}"
    )


def _check_input_features(transformer: FeatureTransformer, input_features) -> None:
    """Refuse ``input_features`` that are not the columns the transformer was fitted on."""
    if input_features is None:
        return
    given = np.asarray(input_features, dtype=object)
    name = type(transformer).__name__
    seen = getattr(transformer, "feature_names_in_", None)
    if seen is None:
        if len(given) != transformer.n_features_in_:
            raise ValueError(
                f"input_features has {len(given)} names, but {name} was fitted on "
                f"{transformer.n_features_in_} columns"
            )
        return
    if len(given) != len(seen):
        raise ValueError(
            f"input_features has {len(given)} names, but {name} was fitted on {len(seen)} "
            f"columns (feature_names_in_)"
        )
    differ = np.flatnonzero(given != seen)
    if len(differ):
        i = differ[0]
        raise ValueError(
            f"input_features are not the columns {name} was fitted on (feature_names_in_): "
            f"name {i} is {given[i]!r}, fitted on {seen[i]!r}"
        )


@functools.cache
def _declared(cls: type[FeatureTransformer]) -> dict[str, FeatureSpec]:
    return {spec.name: spec for spec in cls.FEATURES}
