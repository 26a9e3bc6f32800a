"""Where the bring-your-own-data example lives, and how its tests run the CLI.

Its own module (not the conftest) so that the byo tests and the customs tests, each with
a conftest of their own, import the right constants.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "byo"
DATA, MAPPING = EXAMPLE / "declarations.csv", EXAMPLE / "mapping.yaml"
#: The registered model name the example's runs use (one name per kind of table).
NAME = "parcelrisk-byo"


def train_args(out: Path) -> list[str]:
    """`parcelrisk train` on the example table, testing on its latest 20% of rows."""
    return ["train", "--data", str(DATA), "--mapping", str(MAPPING), "--out", str(out),
            "--test-fraction", "0.2", "--name", NAME]  # fmt: skip


def in_home(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Work in ``home`` with its own embedded MLflow store."""
    mp.chdir(home)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mp.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")  # see tests/model/test_tracking.py
