"""The command line: generate writes a valid file and refuses bad arguments clearly."""

import re

from typer.testing import CliRunner

from parcelrisk.cli import app
from parcelrisk.contract import read_declarations
from parcelrisk.synth import summarize

runner = CliRunner()


def test_generate_writes_a_valid_file_and_prints_its_summary(tmp_path):
    out = tmp_path / "parcels.parquet"
    result = runner.invoke(app, ["generate", "--rows", "3000", "--days", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = read_declarations(out, require_outcomes=True)
    assert len(frame) == 3000
    printed = dict(re.findall(r"│ (\w+) +│ ([-\d.]+) │", result.output))
    figures = summarize(frame)
    assert set(printed) == {
        "violation_rate", "bayes_roc_auc", "bayes_precision_at_budget", "inspected_rate",
        "random_inspected_rate", "rule_hit_rate", "random_hit_rate",
    }  # fmt: skip
    assert printed == {key: f"{figures[key]:.4f}" for key in printed}


def test_generate_refuses_an_unknown_file_format(tmp_path):
    result = runner.invoke(app, ["generate", "--rows", "10", "--out", str(tmp_path / "p.txt")])
    assert result.exit_code == 2
    assert "unsupported declarations file suffix '.txt'" in result.output
    assert not (tmp_path / "p.txt").exists()


def test_generate_refuses_zero_rows(tmp_path):
    result = runner.invoke(app, ["generate", "--rows", "0", "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    message = "Invalid value for '--rows': Input should be greater than or equal to 1"
    assert message in result.output
    assert not (tmp_path / "p.csv").exists()
