"""The scoring policy: the shipped file, validation with every problem named, its hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from parcelrisk import policy
from parcelrisk.policy import Policy, PolicyError, load_policy, policy_file, policy_from_dict
from parcelrisk.tracking import SHIPPED_MODELS

SHIPPED = Path(__file__).parents[2] / "configs" / "policy.yaml"


def test_the_shipped_file_is_the_built_in_default():
    assert load_policy(SHIPPED) == Policy()


def test_without_any_file_the_default_holds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARCELRISK_POLICY", raising=False)
    assert load_policy() == Policy()
    monkeypatch.setenv("PARCELRISK_POLICY", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match=r"policy file .*missing\.yaml does not exist"):
        load_policy()


def test_the_policy_shipped_with_the_code_comes_before_the_working_directorys(
    tmp_path, monkeypatch
):
    """A bento's start-up check runs where ``bentoml serve`` was started, its workers in
    the bento: both read the policy beside the code, as they take the model beside it."""
    assert policy.SHIPPED_POLICY.parents[1] == SHIPPED_MODELS.parent  # one rule: beside the code
    assert not policy.SHIPPED_POLICY.exists()  # a source tree ships none (src/configs)
    start = tmp_path / "start"
    (start / "configs").mkdir(parents=True)
    (start / "configs" / "policy.yaml").write_text("version: start\n")
    monkeypatch.chdir(start)
    monkeypatch.delenv("PARCELRISK_POLICY", raising=False)
    assert load_policy().version == "start"  # a source checkout: the working directory's
    assert policy_file() == start / "configs" / "policy.yaml"
    shipped = tmp_path / "bento" / "src" / "configs" / "policy.yaml"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("version: shipped\n")
    monkeypatch.setattr(policy, "SHIPPED_POLICY", shipped)
    assert policy_file() == shipped and load_policy().version == "shipped"
    monkeypatch.setenv("PARCELRISK_POLICY", str(start / "configs" / "policy.yaml"))
    assert load_policy().version == "start"  # the variable names it before all


def test_the_environment_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "p.yaml"
    path.write_text("version: '7'\nlanes: {inspect: 0.4, review: 0.05}\n")
    monkeypatch.setenv("PARCELRISK_POLICY", str(path))
    assert load_policy() == Policy(version="7", inspect=0.4, review=0.05)


def test_every_problem_is_named_with_its_value():
    with pytest.raises(PolicyError, match=r"unknown key 'lane' .*; unknown key lanes\.'reviw'"):
        policy_from_dict({"lanes": {"inspect": 0.5, "reviw": 0.2}, "lane": 1})
    with pytest.raises(
        PolicyError,
        match=r"lanes\.inspect must be a number from 0 to 1, got 1\.5; "
        r"reasons\.top must be a whole number >= 1, got 0; "
        r"reasons\.direction must be one of \['raises', 'lowers', 'both'\], got 'up'",
    ):
        policy_from_dict({"lanes": {"inspect": 1.5}, "reasons": {"top": 0, "direction": "up"}})
    with pytest.raises(PolicyError, match=r"review <= inspect, got review=0\.6, inspect=0\.5"):
        Policy(review=0.6)
    with pytest.raises(PolicyError, match=r"version must be a non-empty string, got 2"):
        policy_from_dict({"version": 2})


def test_the_hash_covers_content_not_formatting(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(SHIPPED.read_text())
    b.write_text(yaml.safe_dump(Policy().to_dict()))  # no comments, other layout
    assert load_policy(a).sha256 == load_policy(b).sha256 == Policy().sha256
    assert Policy(review=0.21).sha256 != Policy().sha256


def test_lanes_are_inclusive_thresholds():
    got = Policy(inspect=0.5, review=0.2).lane(np.array([0.5, 0.4999, 0.2, 0.1999, 1.0, 0.0]))
    assert list(got) == ["inspect", "review", "review", "release", "inspect", "release"]
