"""The notebooks: committed without outputs, and executed end to end on small data.

Each notebook runs in a fresh working directory (as on a fresh clone) with a small
configuration: 40,000 generated parcels over 24 days, a 5-day test window, 60 trees, and
a policy with lanes low enough that every lane occurs. A cell that raises fails the test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SMALL = {"rows": 40_000, "days": 24, "seed": 0}


def committed_notebooks() -> list[Path]:
    """Every notebook in the source tree (hidden folders such as .venv skipped)."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found += [Path(folder) / f for f in files if f.endswith(".ipynb")]
    return sorted(found)


def test_both_notebooks_exist():
    names = {p.name for p in committed_notebooks()}
    assert {"01_retrain.ipynb", "02_explain_for_auditors.ipynb"} <= names


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: run `make strip`"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: p.name)
def test_notebook_has_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1


@pytest.fixture
def small_config(tmp_path) -> Path:
    settings = yaml.safe_load((ROOT / "configs" / "model.yaml").read_text())
    settings["test_days"] = 5
    settings["lgbm"]["n_estimators"] = 60
    settings["refit"] = False  # the model evaluated is the one exported: equal runs tie
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture
def small_policy(tmp_path) -> Path:
    policy = yaml.safe_load((ROOT / "configs" / "policy.yaml").read_text())
    policy["lanes"] = {"inspect": 0.3, "review": 0.1}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


@pytest.fixture
def kernel_env(monkeypatch):
    """The kernel inherits this environment: a local MLflow store, no slow pip inference."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow infers a logged model's requirements in a fresh interpreter (~10 s a run)
    monkeypatch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")


def run(name: str, out: Path, **parameters) -> nbformat.NotebookNode:
    """Execute a notebook from notebooks/ with papermill; a failing cell raises."""
    papermill.execute_notebook(
        NOTEBOOKS / name, out, parameters=parameters, cwd=NOTEBOOKS, kernel_name="python3",
        progress_bar=False,
    )  # fmt: skip
    return nbformat.read(out, as_version=4)


def texts(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text or markdown."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/markdown", ""), data.get("text/plain", "")]
    return "\n".join(parts)


def images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_retrain_notebook_promotes_into_an_empty_registry_and_keeps_an_equal_champion(
    tmp_path, small_config, kernel_env
):
    """The first run, into an empty registry and without a stand-in (stale_days=0), must
    promote; a second run on the same work_dir and data trains the same model again, which
    ties the champion and is kept (the rule promotes a higher score only)."""
    work = tmp_path / "work"
    params = {"work_dir": str(work), "config_path": str(small_config), **SMALL}
    nb = run("01_retrain.ipynb", tmp_path / "01-first.ipynb", stale_days=0, **params)
    out = texts(nb)
    assert "all 40,000 declarations satisfy the contract" in out
    assert "field 'origin_country' has value 'China'" in out
    assert "no champion: the new model will become champion" in out
    assert "### PROMOTED: parcelrisk v1 is the new champion\n\nReason: no champion yet" in out
    assert "@champion: v1\n@challenger: none\n" in out
    assert images(nb) == 4  # PR curve, precision at budget, calibration, importance by group

    # a champion now exists, so no stand-in is trained whatever stale_days says
    out = texts(run("01_retrain.ipynb", tmp_path / "01-again.ipynb", stale_days=5, **params))
    assert "stand-in" not in out and "champion: parcelrisk v1 (model " in out
    decision = re.search(r"### .*\n\nReason: .*", out)[0]
    kept = re.match(
        r"### KEPT: the champion stays; parcelrisk v2 is registered as challenger\n\n"
        r"Reason: champion v1 kept: (\d\.\d{4}) <= (\d\.\d{4}) ",
        decision,
    )
    assert kept and kept[1] == kept[2], decision  # the same model scores the same
    assert "@champion: v1\n@challenger: v2\n" in out
    assert (work / "mlflow.db").is_file() and (work / "mlartifacts").is_dir()
    assert len(list((work / "models").glob("parcelrisk-*/metadata.json"))) == 2
    assert not (NOTEBOOKS / "mlflow.db").exists() and not (NOTEBOOKS / "work").exists()


@pytest.mark.slow
def test_auditor_notebook_explains_logged_decisions_and_writes_reports(
    tmp_path, small_config, small_policy, kernel_env
):
    work = tmp_path / "work"
    nb = run("02_explain_for_auditors.ipynb", tmp_path / "02.ipynb", work_dir=str(work),
             config_path=str(small_config), policy_path=str(small_policy), **SMALL)  # fmt: skip
    out = texts(nb)
    assert "no model under models: training one (not registered)" in out
    assert "recomputed probabilities equal the logged ones: True" in out
    assert "lanes (policy 1): review from 10%, inspect from 30%" in out
    assert images(nb) >= 7  # waterfall, importance, beeswarm, 3 dependence plots, lanes
    reports = sorted((work / "reports").glob("audit-*.html"))
    assert len(reports) == 2
    for report in reports:
        assert "<img src='data:image/png;base64," in report.read_text()
    assert (work / "audit.db").is_file()
    assert not (NOTEBOOKS / "work").exists()
