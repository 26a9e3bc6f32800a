"""Bring-your-own-data tests: the example table in examples/byo/, trained once via the CLI.

The example is 20,000 generated declarations reshaped into a customs table of another
shape (examples/byo/make_table.py); figures asserted here are measured on exactly it.
Training runs in a fresh working directory, so its MLflow store (``mlflow.db``,
``mlartifacts/``) and reports are its own.
"""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
import pytest
from typer.testing import CliRunner

from byo_example import in_home, train_args
from parcelrisk.cli import app


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


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory) -> SimpleNamespace:
    """The same training with ``--no-refit`` (and not tracked): the exported model is the
    evaluated one, fitted before the test window, so ``evaluate`` can score that window."""
    root = tmp_path_factory.mktemp("byo-evaluated")
    args = [*train_args(root / "model"), "--no-refit", "--no-track"]
    with pytest.MonkeyPatch.context() as mp:
        in_home(mp, root)
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return SimpleNamespace(root=root, model=root / "model", output=result.output)
