"""Bring-your-own-data tests: the example table in examples/byo/, trained once via the CLI.

The example is 20,000 generated declarations reshaped into a customs table of another
shape (examples/byo/make_table.py); figures asserted here are measured on exactly it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from parcelrisk.cli import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "byo"
DATA, MAPPING = EXAMPLE / "declarations.csv", EXAMPLE / "mapping.yaml"


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> SimpleNamespace:
    """`parcelrisk train --data declarations.csv --mapping mapping.yaml --out DIR`, run once."""
    root = tmp_path_factory.mktemp("byo")
    args = ["train", "--data", str(DATA), "--mapping", str(MAPPING), "--out", str(root / "model")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return SimpleNamespace(root=root, model=root / "model", output=result.output)
