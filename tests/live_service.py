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


def start_serving(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path, str]:
    """Start ``bentoml serve parcelrisk.serving.service:ParcelRisk`` in ``root``: the process,
    the file its output goes to and its base URL.

    ``env`` is added to the environment (model, audit store, API key, ...). Each process
    gets a BentoML home of its own: ``bentoml serve`` empties the Prometheus directory of
    its home when it starts, which would wipe the metrics of another service using it.
    """
    port = free_port()
    env = {
        **os.environ,
        "BENTOML_HOME": str(root / "bentoml-home"),
        **env,
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    bentoml = Path(sys.executable).parent / "bentoml"
    log_path = root / "serve.log"  # a file, not a pipe: a chatty server can never block
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(bentoml), "serve", "parcelrisk.serving.service:ParcelRisk",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, log_path, f"http://127.0.0.1:{port}"


@contextmanager
def bentoml_serve(root: Path, env: dict[str, str], timeout: float = 120) -> Iterator[str]:
    """Serve the service from ``root`` (see :func:`start_serving`); yield its base URL.

    The process is stopped on exit.
    """
    proc, log_path, base = start_serving(root, env)
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


def lines_naming(log_path: Path, text: str, count: int, timeout: float = 10) -> list[str]:
    """The lines of ``log_path`` that contain ``text``, once there are ``count`` of them or
    ``timeout`` seconds have passed (whichever is first).

    BentoML writes its access-log line after the response is sent, so a client can read the
    log before the line is there.
    """
    deadline = time.monotonic() + timeout
    while True:
        named = [line for line in log_path.read_text().splitlines() if text in line]
        if len(named) >= count or time.monotonic() >= deadline:
            return named
        time.sleep(0.1)
