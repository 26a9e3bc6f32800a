"""Settings that name a file by a relative path mean the directory ``bentoml serve`` was
started in, for its start-up check and its workers alike (tests/service/test_bento.py
serves a bento that way)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parcelrisk.paths import absolute_sqlite_url, settings_made_absolute

NAMES = ("PARCELRISK_AUDIT_URL", "PARCELRISK_POLICY", "PARCELRISK_MODEL_DIR")


@pytest.mark.parametrize(
    ("url", "made"),
    [
        ("sqlite:///audit.db", "sqlite:////srv/start/audit.db"),
        ("sqlite+pysqlite:///d/a.db?timeout=5", "sqlite+pysqlite:////srv/start/d/a.db?timeout=5"),
        ("sqlite:////var/lib/audit.db", None),  # absolute: unchanged
        ("sqlite://", None),  # in memory
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://u:secret@db/audit", None),
        ("audit.db", None),  # not a URL: the audit store says so, with the URL as given
    ],
)
def test_a_relative_sqlite_file_is_made_absolute_and_nothing_else(url, made):
    assert absolute_sqlite_url(url, Path("/srv/start")) == (made or url)


def test_the_settings_are_made_absolute_for_later_processes_and_restored_on_failure(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    for name in NAMES:  # set first: monkeypatch then restores what the test sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("PARCELRISK_POLICY", "mine/policy.yaml")
    with pytest.raises(RuntimeError), settings_made_absolute():
        assert os.environ["PARCELRISK_POLICY"] == str(tmp_path / "mine/policy.yaml")
        raise RuntimeError  # a failed start-up check leaves the environment as it was
    assert os.environ["PARCELRISK_POLICY"] == "mine/policy.yaml"
    assert "PARCELRISK_AUDIT_URL" not in os.environ
    with settings_made_absolute():
        pass
    assert {name: os.environ.get(name) for name in NAMES} == {
        "PARCELRISK_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",  # the default's file
        "PARCELRISK_POLICY": str(tmp_path / "mine/policy.yaml"),
        "PARCELRISK_MODEL_DIR": None,  # unset stays unset: the model shipped, else the default
    }
    monkeypatch.setenv("PARCELRISK_MODEL_DIR", "/models/m")
    monkeypatch.chdir(tmp_path.parent)
    before = dict(os.environ)
    with settings_made_absolute():
        pass
    assert dict(os.environ) == before  # absolute already: nothing changes
