"""Feature transformers grouped by the source they come from, and the feature pipeline."""

from parcelrisk.features.pipeline import build_features

__all__ = ["build_features"]
