"""Bring-your-own-data tests: the example table in examples/byo/, trained once via the CLI.

The example is 20,000 generated declarations reshaped into a customs table of another
shape (examples/byo/make_table.py); figures asserted here are measured on exactly it.
Training runs in a fresh working directory, so its MLflow store (``mlflow.db``,
``mlartifacts/``) and reports are its own.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from typer.testing import CliRunner

from parcelrisk.cli import app

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


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> SimpleNamespace:
    """`parcelrisk train ... --mapping mapping.yaml --out DIR`, run once in a fresh store."""
    root = tmp_path_factory.mktemp("byo")
    with pytest.MonkeyPatch.context() as mp:
        in_home(mp, root)
        result = CliRunner().invoke(app, train_args(root / "model"))
        mlflow.set_tracking_uri(None)
    assert result.exit_code == 0, result.output
    return SimpleNamespace(root=root, model=root / "model", output=result.output)
