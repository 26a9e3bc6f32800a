"""The command line: generate writes a valid file; every command refuses bad arguments,
files and stores clearly (one line, exit code 2), and early: before heavy imports."""

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parcelrisk.audit import AuditStore, Decision
from parcelrisk.cli import app
from parcelrisk.contract import read_declarations, write_declarations
from parcelrisk.synth import summarize

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_output(monkeypatch):
    """Rich wraps messages at the terminal's width, also within long paths: no wrapping."""
    monkeypatch.setenv("COLUMNS", "1000")


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


def flat(text: str) -> str:
    """Output on one line."""
    return " ".join(text.split())


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"parcelrisk {version('parcelrisk')}\n"


# Every invocation here answers before a heavy module is imported: help, the version,
# usage errors, and files, dates and stores checked as the command line is read.
COMMANDS = ("generate", "train", "tune", "evaluate", "score", "report", "audit", "audit show",
            "audit replay")  # fmt: skip
LIGHT = [
    ["--help"],
    ["--version"],
    *([*command.split(), "--help"] for command in COMMANDS),
    ["train"],
    ["train", "--data", "nope.csv"],
    ["tune", "--data", "nope.parquet", "--trials", "1", "--minutes", "1", "--out", "t.yaml"],
    ["evaluate", "--data", "nope.parquet"],
    ["score", "nope.csv", "--out", "scores.csv"],
    ["score", "nope.csv", "--out", "scores.txt"],
    ["generate", "--rows", "0", "--out", "x.csv"],
    ["generate", "--out", "x.txt"],
    ["report", "--batch", "--day", "2025-13-01"],
    ["report", "P1"],
    ["audit", "replay", "--since", "yesterday"],
    ["audit", "show", "P1"],
    ["audit", "show", "P1", "--db", "notaurl"],
]
HEAVY = ("pandas", "lightgbm", "mlflow", "bentoml")
_RUN_LIGHT = f"""
import json, sys
from parcelrisk.cli import app
out = []
for argv in json.loads(sys.argv[1]):
    try:
        app(argv, prog_name="parcelrisk")
    except SystemExit as exit:
        code = exit.code
    out.append([argv, code, [m for m in {HEAVY!r} if m in sys.modules]])
print(json.dumps(out), file=sys.__stdout__)
"""


def test_help_usage_and_early_errors_import_no_heavy_module(tmp_path):
    src = Path(__file__).parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", _RUN_LIGHT, json.dumps(LIGHT)], cwd=tmp_path, env=env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    results = json.loads(done.stdout.splitlines()[-1])
    assert [argv for argv, _, _ in results] == LIGHT
    for argv, code, heavy in results:
        assert heavy == [], f"parcelrisk {' '.join(argv)} imported {heavy}"
        assert code == (0 if "--help" in argv or "--version" in argv else 2), argv
    assert list(tmp_path.iterdir()) == []  # nothing written, no store created


@pytest.mark.parametrize(
    "args",
    [["audit", "show", "P1"], ["audit", "replay"], ["report", "P1"], ["report", "--batch"]],
)
def test_reading_commands_never_create_a_store(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error: audit store sqlite:///audit.db does not exist (no SQLite file audit.db)" in (
        flat(result.output)
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", "audit store URL 'notaurl' is not a SQLAlchemy URL (e.g. sqlite:///audit.db"),
        ("foo://x/y", "audit store foo://x/y: SQLAlchemy knows no database 'foo'"),
        ("mysql://u@127.0.0.1:1/x", "audit store mysql://u@127.0.0.1:1/x: the database driver "
                                    "is not installed (No module named 'MySQLdb')"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/x",
         "cannot open the audit store postgresql+psycopg://u:***@127.0.0.1:1/x: "),
        ("sqlite:////nonexistent/dir/a.db", "audit store sqlite:////nonexistent/dir/a.db does not "
                                            "exist (no SQLite file /nonexistent/dir/a.db)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", [["audit", "show", "P"], ["audit", "replay"], ["report", "P"]])
def test_an_unusable_store_url_is_a_one_line_error(tmp_path, url, message, command):
    result = runner.invoke(app, [*command, "--db", url, "--models-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert flat(result.output).startswith(f"error: {message}")
    assert "Traceback" not in result.output and "secret" not in result.output


def _store_with_one_decision(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    decision = Decision("r1", "P1", {"parcel_id": "P1"}, "v1", 0.2, "review", None)
    AuditStore(url).append_decisions([decision])
    return url


def test_replay_of_a_store_without_decisions_is_an_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    AuditStore(url)  # the tables, no decision
    result = runner.invoke(app, ["audit", "replay", "--db", url, "--models-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert flat(result.output) == f"error: nothing to replay: no decision is logged in {url}"


def test_replay_since_after_the_last_decision_says_which_days_are_logged(tmp_path):
    url = _store_with_one_decision(tmp_path)
    today = datetime.now(UTC).date()
    args = ["audit", "replay", "--db", url, "--models-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--since", "2999-01-01T02:00+02:00"])
    assert result.exit_code == 2, result.output
    assert flat(result.output) == (
        "error: nothing to replay: no decision was logged at or after 2999-01-01 00:00:00 UTC "
        "(--since is when decisions were logged, not when parcels were declared); 1 decision(s) "
        f"logged in {url} from {today} to {today} (UTC)"
    )
    result = runner.invoke(app, [*args, "--since", "May 1st"])
    assert result.exit_code == 2, result.output
    assert "--since 'May 1st' is not an ISO 8601 date or time" in flat(result.output)


def test_a_batch_report_of_a_day_without_decisions_names_the_logged_days(tmp_path):
    url = _store_with_one_decision(tmp_path)
    today = datetime.now(UTC).date()
    out = tmp_path / "day.html"
    args = ["report", "--batch", "--day", "2025-05-01", "--db", url, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert flat(result.output) == (
        f"error: no decision was logged on 2025-05-01 (UTC) in {url}: the day is when "
        "decisions were logged, not when parcels were declared; 1 decision(s) logged in "
        f"{url} from {today} to {today} (UTC)"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["score", "nope.csv", "--out", "scores.csv", "--model", "no-such-model"],
        ["evaluate", "--data", "nope.csv", "--model", "no-such-model"],
    ],
)
def test_a_missing_data_file_is_found_before_any_model_is_loaded(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert flat(result.output) == "error: [Errno 2] declarations file not found: 'nope.csv'"


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--no-track", "--data"],
        ["tune", "--trials", "1", "--minutes", "1", "--out", "t.yaml", "--data"],
    ],
)
def test_a_file_with_a_header_only_is_refused(tmp_path, monkeypatch, valid_frame, command):
    monkeypatch.chdir(tmp_path)
    write_declarations(valid_frame, "header.csv")
    Path("header.csv").write_text(Path("header.csv").read_text().splitlines()[0] + "\n")
    result = runner.invoke(app, [*command, "header.csv"])
    assert result.exit_code == 2, result.output
    assert flat(result.output) == "error: header.csv has no rows"


def test_a_target_not_met_points_to_its_explanation():
    from parcelrisk.cli import _print_targets, console

    with console.capture() as met:
        _print_targets([("ece <= 0.02", "0.0174", True)])
    with console.capture() as missed:
        _print_targets([("ece <= 0.02", "0.0174", True), ("p@1% >= 2x legacy", "1.88x", False)])
    assert "docs/model.md" not in met.get()
    assert "'Results on the default generated data', says what limits it" in flat(missed.get())
