"""The base of every feature transformer: the features it declares and how it is called.

A transformer declares the features it makes once, as :class:`FeatureSpec` in its
``FEATURES`` (name and input group); the names it gives out, the input groups of
explanations and the evidence of reasons all come from there. It computes them on
:class:`Columns` (``transform_columns``); ``transform`` gives them as a frame.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

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
        """Names of the features :meth:`transform` returns."""
        return np.asarray([spec.name for spec in self.feature_specs()], dtype=object)

    def transform(self, X: pd.DataFrame | Columns) -> pd.DataFrame:
        """The features of a frame (or :class:`Columns`) of declarations, one row each."""
        cols = Columns.of(X)
        return as_frame(self.transform_columns(cols), cols.index)


@functools.cache
def _declared(cls: type[FeatureTransformer]) -> dict[str, FeatureSpec]:
    return {spec.name: spec for spec in cls.FEATURES}
