"""Customs-register tests: the example table in examples/customs/, trained once via the CLI.

The table is made by its own generator (examples/customs/make_table.py): 30,000
declarations over 540 days, a day-only date, net mass in whole kilograms (zeros where a
parcel weighs under half a kilogram), item prices in won and every row labelled.
Training runs in a fresh working directory, so its MLflow store (``mlflow.db``,
``mlartifacts/``) and reports are its own.
"""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
import pytest
from typer.testing import CliRunner

from customs_example import DATA, MAPPING, NAME, in_home
from parcelrisk.cli import app


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> SimpleNamespace:
    """`parcelrisk train` on the register, testing on its latest quarter of rows."""
    root = tmp_path_factory.mktemp("customs")
    args = ["train", "--data", str(DATA), "--mapping", str(MAPPING), "--out",
            str(root / "model"), "--test-fraction", "0.25", "--name", NAME]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        in_home(mp, root)
        result = CliRunner().invoke(app, args)
        mlflow.set_tracking_uri(None)
    assert result.exit_code == 0, result.output
    return SimpleNamespace(root=root, model=root / "model", output=result.output)
