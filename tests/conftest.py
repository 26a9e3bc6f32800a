"""Shared test fixtures.

``valid_frame``: a small hand-built valid frame covering every contract column;
``generated``: a medium generated data set on the default settings;
``postgres_url``: a throwaway PostgreSQL server for the audit store tests;
``new_postgres_database``: a fresh database on it, as often as asked.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from parcelrisk.synth import generate

#: This run's bytecode cache and the PYTHONDONTWRITEBYTECODE it replaced (pytest_configure).
_PYCACHE = pytest.StashKey[tuple[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Settings of the processes the suite starts, made before the xdist workers start
    (they, and every command, server and notebook kernel started by a test, inherit them).

    ``OMP_WAIT_POLICY=PASSIVE``: LightGBM fits with 2 OpenMP threads; under `make test`
    two workers share 2 cores, and OpenMP's default spin-waiting threads then burn the
    core the other worker needs (measured on 4 LightGBM-heavy modules on 2 cores: 142 to
    216 s by default, 86 to 101 s passive). It changes how idle threads wait, not what
    they compute. A value already set is kept.

    Bytecode: where writing it is off (``PYTHONDONTWRITEBYTECODE``), each process a run
    starts would compile every module it imports from source again (~10 s for one
    `parcelrisk` command; a run starts dozens of processes). They write and read it in a
    cache of this run (``PYTHONPYCACHEPREFIX``), outside the source tree, removed at the end.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        cache = tempfile.mkdtemp(prefix="parcelrisk-pycache-")
        config.stash[_PYCACHE] = cache, os.environ.pop("PYTHONDONTWRITEBYTECODE")
        os.environ["PYTHONPYCACHEPREFIX"] = cache


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PYCACHE in config.stash:
        cache, dont_write = config.stash[_PYCACHE]
        os.environ["PYTHONDONTWRITEBYTECODE"] = dont_write
        del os.environ["PYTHONPYCACHEPREFIX"]
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture
def valid_frame() -> pd.DataFrame:
    """Five valid declarations in typed columns; rows 3 and 4 were inspected."""
    nan = np.nan
    return pd.DataFrame(
        {
            "parcel_id": [f"P{i:08d}" for i in range(1, 6)],
            "declared_at": pd.to_datetime(
                [
                    "2025-03-01T08:15:00Z",
                    "2025-03-01T09:00:00+08:00",
                    "2025-03-02T10:30:15.123456Z",
                    "2025-03-02T23:59:59-05:00",
                    "2025-03-03T00:00:00Z",
                ],
                utc=True,
                format="ISO8601",
            ),
            "filer_code": ["FLR001", "FLR002", "FLR001", "FLR003", "FLR002"],
            "filer_type": ["marketplace", "carrier", None, "broker", "forwarder"],
            "seller_id": ["S1", "S2", "S3", "S1", "S4"],
            "seller_name": ["Shenzhen Trading Co.", "Acme Ltd", "深圳市贸易有限公司", "X", "Y"],
            "seller_country": ["CN", "HK", "CN", "VN", "US"],
            "marketplace": ["MarketA", "MarketB", None, "MarketA", "MarketC"],
            "seller_account_age_days": [120.5, 3.0, nan, 0.0, 800.0],
            "recipient_id": ["C1", "C2", None, "C1", "C3"],
            "recipient_name": ["Jane Doe", "John Roe", "A B", "C D", "E F"],
            "recipient_address": ["1 Main St", "2 Elm St", "3 Oak Ave", "4 Pine Rd", "5 Ash Ln"],
            "recipient_city": ["Springfield", None, "Austin", "Miami", "Reno"],
            "recipient_state": ["IL", "CA", "TX", "FL", None],
            "recipient_zip": ["62701", "90001", "73301", "33101", "89501"],
            "recipient_address_type": ["residential", "commercial", "forwarder", "po_box", None],
            "description": ["Cotton T-Shirt", "Running Shoes", "Phone Case", "Handbag", "Toy"],
            "hts_code": ["6109.10.0012", "6404199060", None, "420221", "95030000"],
            "origin_country": ["CN", "CN", "HK", "VN", "CN"],
            "quantity": [2, 1, 3, 1, 10],
            "declared_value_usd": [25.0, 40.0, 0.0, 120.0, 15.5],
            "listed_price_usd": [14.99, 39.99, nan, 150.0, 1.55],
            "weight_kg": [0.5, 0.9, 0.1, 0.7, 1.25],
            "mode": ["air", "mail", "truck", "ocean", "rail"],
            "carrier": ["CarrierX", "PostY", "CarrierX", "ShipZ", "RailQ"],
            "port_of_entry": ["2720", "4701", "2304", "5201", "3901"],
            "export_country": ["CN", "HK", "MX", "VN", "CN"],
            "lading_port": ["CNSZX", "HKHKG", None, "VNSGN", "CNSHA"],
            "freight_cost_usd": [6.5, 4.0, nan, 2.5, 3.0],
            "inspected": [False, False, False, True, True],
            "inspection_reason": [None, None, None, "rule", "random"],
            "inspection_propensity": [0.02, 0.01, 0.02, 0.9, 0.01],
            "violation_found": pd.array([None, None, None, True, False], dtype="boolean"),
            "violation_type": [None, None, None, "counterfeit", None],
            "outcome_at": pd.to_datetime(
                [None, None, None, "2025-03-05T12:00:00Z", "2025-03-06T09:30:00Z"], utc=True
            ),
            "gt_violation_prob": [0.05, 0.02, 0.1, 0.95, 0.03],
            "gt_violation": [False, False, False, True, False],
            "gt_violation_type": [None, None, None, "counterfeit", None],
            "gt_bad_actor": [False, False, False, True, False],
            "gt_mechanisms": np.array([0, 0, 4, 3, 0], dtype=np.int64),
        }
    )


@pytest.fixture(scope="session")
def generated() -> pd.DataFrame:
    """A medium generated data set on the default settings (rates are measured on it)."""
    return generate(rows=200_000, seed=0)


# --- a throwaway PostgreSQL server for the audit store -------------------------------------


def _postgres_bindir() -> Path | None:
    """Directory of a local PostgreSQL server's initdb and pg_ctl, if installed."""
    import glob

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    for initdb in [*candidates, *([found] if found else [])]:
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a fresh PostgreSQL server on 127.0.0.1, stopped after the session.

    Skipped where no server is installed, unless PARCELRISK_REQUIRE_POSTGRES is set (CI
    sets it: there the test must run).
    """
    bindir = _postgres_bindir()
    if bindir is None:
        if os.environ.get("PARCELRISK_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL server binaries not found (PARCELRISK_REQUIRE_POSTGRES is set)")
        pytest.skip("PostgreSQL server binaries not found")
    root = Path(tempfile.mkdtemp(prefix="parcelrisk-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o",
                    options, "-w", "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def new_postgres_database(postgres_url) -> Callable[[], str]:
    """A function that creates a fresh, empty database on the throwaway PostgreSQL server
    (``postgres_url``) and returns its URL."""
    import uuid

    import sqlalchemy as sa

    def new() -> str:
        name = f"audit_{uuid.uuid4().hex}"
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return postgres_url.rsplit("/", 1)[0] + f"/{name}"

    return new


@pytest.fixture(scope="session")
def empty_store(request) -> Callable[[str, Path], str]:
    """A function ``(store, root)`` giving the URL of an empty audit store: for
    ``"sqlite"`` a file in ``root``, for ``"postgresql"`` a fresh database on the throwaway
    PostgreSQL server (started only when first asked for)."""

    def url(store: str, root: Path) -> str:
        if store == "sqlite":
            return f"sqlite:///{root / 'audit.db'}"
        return request.getfixturevalue("new_postgres_database")()

    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, empty_store) -> str:
    """The URL of an empty audit store: a SQLite file, then a fresh database on the
    throwaway PostgreSQL server (``postgres_url``)."""
    return empty_store(request.param, tmp_path)  # a fresh database per test


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The README walk-through first: it is the longest module and runs its steps in order,
    so under ``pytest -n 2 --dist loadscope`` (``make test``) it starts at once on one
    worker while the other takes the rest."""
    items.sort(key=lambda item: "tests/walkthrough/" not in item.nodeid)
