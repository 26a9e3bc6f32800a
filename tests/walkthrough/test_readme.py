"""The README followed step by step, as a new user would, in a copy of the repository.

Every bash and python block of the README's Use, Your own data and Serve sections is run
as written, in order, in a fresh copy of the source tree (the files git tracks, plus new
ones not ignored) with the project's installed environment linked in as ``.venv``, and
so are ``make serve`` and ``make notebooks``; ``make demo`` is checked to be the first
commands of Use, and ``make test`` is this suite. The only changes are the sizes in
:data:`SMALL` (and the demo's and notebooks' sizes, as make variables) and the service's
port, so that the walk takes minutes, not an hour. A block that fails, or a command it
names that does not exist, fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from live_service import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: The README's sizes and the smaller ones the walk uses instead (each must occur).
SMALL = {
    "--rows 1000000 --days 60": "--rows 40000 --days 24",
    "--rows 100000 --days 7": "--rows 5000 --days 7",
    "rows=100_000": "rows=20_000",
    "--trials 100 --minutes 15": "--trials 2 --minutes 1",
}
# and the service's port: `make serve PORT=...` on a free port instead of 3000
#: The demo's size, given to `make demo` as make variables.
SMALL_DEMO = {"ROWS": "40000", "DAYS": "24"}
INSTALLED = ".venv/.installed"  # `make -o` this: the environment is linked in, not built

pytestmark = pytest.mark.slow


def blocks(section: str, language: str) -> list[str]:
    """The code blocks in ``language`` of a README section ("## <section>"), made small."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no section {section!r}"
    found = re.findall(rf"^```{language}\n(.*?)^```", match[1], re.M | re.S)
    assert found, f"README section {section!r} has no {language} block"
    return [_small(code) for code in found]


def _small(code: str) -> str:
    for large, small in SMALL.items():
        code = code.replace(large, small)
    return code


def test_every_size_the_walk_changes_is_in_the_readme():
    for large in SMALL:
        assert large in README, large


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A copy of the source tree, with the installed environment as its ``.venv``."""
    root = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(Path(sys.executable).parents[1])
    return root


@pytest.fixture(scope="module")
def env(clone) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           # nor the settings of a `make test` this runs under (make would say where it is)
           if not k.startswith(("PARCELRISK_", "MLFLOW_TRACKING", "MAKE", "MFLAGS"))}  # fmt: skip
    out.update(
        PATH=f"{clone / '.venv' / 'bin'}:{os.environ['PATH']}",
        BENTOML_DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        # MLflow infers a logged model's requirements in a fresh interpreter (~10 s a run)
        MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT="1",
    )
    return out


def run(clone: Path, env: dict[str, str], command: list[str], timeout: float = 600) -> str:
    """Run a command in the clone; its output, or a failure showing the end of it."""
    done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command[:3]} failed ({done.returncode}):\n{output[-4000:]}"
    return output


def bash(clone, env, code: str) -> str:
    return run(clone, env, ["bash", "-euo", "pipefail", "-c", code])


def python(clone, env, code: str) -> str:
    return run(clone, env, [str(clone / ".venv" / "bin" / "python"), "-c", code])


def test_set_up_make_demo_runs_the_first_use_commands(clone, env):
    """`make demo` (after installing) is the first three commands of "Use", which the next
    test runs: it is not run twice."""
    assert "make demo" in blocks("Set-up", "bash")[0]
    small = [f"{k}={v}" for k, v in SMALL_DEMO.items()]
    recipe = run(clone, env, ["make", "-n", "-o", INSTALLED, "demo", *small])
    commands = [line.removeprefix(".venv/bin/") for line in recipe.splitlines()]
    (use,) = blocks("Use", "bash")
    assert commands == [re.sub(r"\s+#.*", "", line) for line in use.splitlines()[:3]]


def test_use_commands(clone, env):
    (code,) = blocks("Use", "bash")
    output = bash(clone, env, code)
    assert "model: models:/parcelrisk@champion (v1," in output  # evaluate's model
    assert (clone / "data" / "scores-last-day.parquet").is_file()
    assert (clone / "data" / "later.parquet").is_file()


def test_use_from_python(clone, env):
    output = python(clone, env, "\n".join(blocks("Use", "python")))
    assert "field 'origin_country' has value 'China'" in output


def test_your_own_data(clone, env):
    (code,) = blocks("Your own data", "bash")
    output = bash(clone, env, code)
    assert '"roc_auc"' in output  # evaluate --json
    for model in ("mine", "mine-evaluated", "mine-tuned"):
        assert (clone / "models" / model / "metadata.json").is_file(), model


def test_notebooks(clone, env):
    """`make notebooks` on a fresh tree (no notebooks/work yet), with small data."""
    assert "`make notebooks` runs both" in README
    assert not (clone / "notebooks" / "work").exists()
    small = "NOTEBOOK_PARAMS=-p rows 40000 -p days 24 -p test_days 5 -p stale_days 5"
    run(clone, env, ["make", "-o", INSTALLED, "notebooks", small])
    work = clone / "notebooks" / "work"
    assert (work / "01_retrain.ipynb").is_file() and (
        work / "02_explain_for_auditors.ipynb"
    ).is_file()
    assert list((work / "reports").glob("audit-*.html"))


@pytest.fixture(scope="module")
def served(clone, env) -> Iterator[dict[str, str]]:
    """`make serve` in the clone (on a free port instead of 3000), until the module ends."""
    port = str(free_port())
    env = {**env, "BENTOML_HOME": str(clone / "bentoml-home")}
    with (clone / "serve.log").open("ab") as log:
        server = subprocess.Popen(
            ["make", "-o", INSTALLED, "serve", f"PORT={port}"], cwd=clone, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                pytest.fail(
                    f"make serve did not start: {(clone / 'serve.log').read_text()[-3000:]}"
                )
            yield {**env, "PORT": port}
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def _on_port(code: str, port: str) -> str:
    assert "127.0.0.1:3000" in code
    return code.replace("127.0.0.1:3000", f"127.0.0.1:{port}")


def test_serve_and_the_auditor_commands(clone, served):
    score, outcomes, auditors = blocks("Serve", "bash")
    port = served["PORT"]
    answer = bash(clone, served, _on_port(score, port))
    assert '"parcel_id":"P1"' in answer.replace(" ", "") and '"lane"' in answer
    assert json.loads(bash(clone, served, _on_port(outcomes, port)))["recorded"] == 1
    (client,) = blocks("Serve", "python")
    printed = python(clone, served, _on_port(client, port))
    assert len(printed.strip().splitlines()) == 5  # one line per parcel
    log = (clone / "serve.log").read_text()
    assert "serving model " in log and "models:/parcelrisk@champion" in log
    output = bash(clone, served, auditors)
    assert "P1" in output and "replayed" in output
    for page in ("parcel.html", "day.html"):
        assert "<html" in (clone / page).read_text()[:500].lower(), page
