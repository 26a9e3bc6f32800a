"""The feature pipeline: raw declarations -> one numeric matrix, columns named by source.

Each column name starts with the source it comes from (``history__``, ``description__``,
``commodity__``, ``routing__``, ``category__``, ``party__``), which is how explanations
are grouped back into inputs a person understands.
"""

from __future__ import annotations

from sklearn.pipeline import FeatureUnion

from parcelrisk.features.commodity import CommodityFeatures
from parcelrisk.features.history import EntityHistory
from parcelrisk.features.party import PartyFeatures
from parcelrisk.features.routing import CategoryCodes, RoutingFeatures
from parcelrisk.features.text import DescriptionFeatures


def build_features(
    value_threshold: float = 800.0,
    history_smoothing: float = 5.0,
    category_min_count: int = 20,
) -> FeatureUnion:
    """The feature union, returning a pandas frame with prefixed column names."""
    union = FeatureUnion(
        [
            ("history", EntityHistory(smoothing=history_smoothing)),
            ("description", DescriptionFeatures()),
            ("commodity", CommodityFeatures(value_threshold=value_threshold)),
            ("routing", RoutingFeatures()),
            ("category", CategoryCodes(min_count=category_min_count)),
            ("party", PartyFeatures()),
        ]
    )
    return union.set_output(transform="pandas")
