"""parcelrisk: explainable risk scoring for low-value e-commerce parcels at the border."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("parcelrisk")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
