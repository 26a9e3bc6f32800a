"""Where the customs register example lives, and how its tests run the CLI.

Its own module (not the conftest) so that the customs tests and the byo tests, each with
a conftest of their own, import the right constants.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "customs"
DATA, MAPPING = EXAMPLE / "declarations.csv", EXAMPLE / "mapping.yaml"
#: The registered model name of the customs register's runs.
NAME = "parcelrisk-customs"


def in_home(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Work in ``home`` with its own embedded MLflow store."""
    mp.chdir(home)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mp.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")  # see tests/model/test_tracking.py
