"""The built bento is self-contained: `make bento MODEL=...`, then `bentoml serve <tag>`
outside the repository serves the bento's own code, policy and model; the start-up check
(run where `bentoml serve` was started) and the workers (run in the bento) read the same
policy and open the same audit store, `audit.db` where `bentoml serve` was started."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from live_service import free_port
from parcelrisk.artifact import save_model
from parcelrisk.audit import open_store
from parcelrisk.policy import Policy
from parcelrisk.split import split_by_time
from parcelrisk.synth import generate
from parcelrisk.tracking import example_input
from parcelrisk.train import fit_model

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("uv") is None, reason="make bento exports uv.lock with uv"),
]


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of a deployment: no project settings, nothing on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PARCELRISK_", "MLFLOW_TRACKING"))}  # fmt: skip
    return {**env, "PYTHONPATH": "", "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip


def test_bento_serves_its_own_code_and_model(tmp_path):
    split = split_by_time(generate(rows=20_000, days=20, seed=2), 5)
    meta = {"version": "bento-1", "training_window": {"start": "x", "end": str(split.cutoff)}}
    model_dir = save_model(fit_model(split.train).pipeline, tmp_path / "parcelrisk-bento", meta)
    home = tmp_path / "bentoml-home"
    env = _clean_env(home)
    built = subprocess.run(
        ["make", "--no-print-directory", "bento", f"MODEL={model_dir}",
         f"BENTO_CTX={tmp_path / 'ctx'}", f"RUN={VENV_BIN}"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    tag = re.search(r'Successfully built Bento\(tag="([^"]+)"\)', built.stdout).group(1)
    bento = home / "bentos" / Path(*tag.split(":"))
    requirements = (bento / "env/python/requirements.txt").read_text()
    assert re.search(r"^lightgbm==", requirements, re.M), "locked requirements"
    assert not re.search(r"^(-e )?\.", requirements, re.M), "no install of a local path"
    # a policy of the bento's own, unlike the built-in default (which the check would read
    # if it looked for configs/ where it runs)
    shipped_policy = bento / "src" / "configs" / "policy.yaml"
    assert shipped_policy.is_file()
    policy = Policy(version="bento-policy")
    shipped_policy.write_text(yaml.safe_dump(policy.to_dict()))

    elsewhere = tmp_path / "elsewhere"  # no configs/, no PARCELRISK_AUDIT_URL or _POLICY
    elsewhere.mkdir()
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "bentoml"), "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
            cwd=elsewhere, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"bentoml serve {tag} exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"bentoml serve {tag} did not become ready: {log_path.read_text()[-3000:]}")
        parcel = json.loads(example_input(split.test, 1).to_json(orient="records"))
        answer = httpx.post(f"{base}/score", json={"parcels": parcel}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["model"]["version"] == "bento-1"
        served_policy = httpx.get(f"{base}/model", timeout=10).json()["policy"]
        assert served_policy["version"] == "bento-policy", served_policy
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    served = log_path.read_text()
    own = (bento / "src").resolve()
    model_line = f"serving model bento-1: {own / 'models/parcelrisk-bento'}, the model shipped with"
    assert model_line in served, served[-3000:]
    code = re.search(r"serving model bento-1: .*; code (\S+)", served).group(1)
    assert Path(code) == own / "parcelrisk", f"served code {code}, not the bento's own"
    # the check (BentoML's main process, in elsewhere/) and the worker read one policy...
    policies = re.findall(r"\] scoring policy (.*)", served)
    assert len(policies) >= 2, served[-3000:]  # the check's line and the worker's
    assert set(policies) == {f"bento-policy (SHA-256 {policy.sha256[:12]}): "
                             f"{own / 'configs/policy.yaml'}"}, policies  # fmt: skip
    # ...and open one store: audit.db where `bentoml serve` was started, none elsewhere
    assert sorted(tmp_path.rglob("audit.db")) == [elsewhere / "audit.db"]
    logged = open_store(f"sqlite:///{elsewhere / 'audit.db'}").decisions(
        request_id=answer.json()["request_id"])  # fmt: skip
    assert [d["policy_version"] for d in logged] == ["bento-policy"]
