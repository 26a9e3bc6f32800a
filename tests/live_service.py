"""The real `bentoml serve` process on 127.0.0.1 for end-to-end service tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def bentoml_serve(root: Path, env: dict[str, str], timeout: float = 120) -> Iterator[str]:
    """Serve ``parcelrisk.serving.service:ParcelRisk`` from ``root``; yield its base URL.

    ``env`` is added to the environment (model, audit store, API key, ...); the process
    is stopped on exit.
    """
    port = free_port()
    env = {
        **os.environ,
        **env,
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    bentoml = Path(sys.executable).parent / "bentoml"
    log_path = root / "serve.log"  # a file, not a pipe: a chatty server can never block
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [str(bentoml), "serve", "parcelrisk.serving.service:ParcelRisk",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"bentoml serve exited: {log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"bentoml serve did not become ready in {timeout:.0f} s")
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
