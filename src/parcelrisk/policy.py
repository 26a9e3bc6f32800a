"""The scoring policy: lanes and reasons, set at scoring time, not frozen into a model.

A policy is a small YAML file (``configs/policy.yaml`` is the default: the one shipped
with the code in a bento, else the working directory's; :func:`policy_file`): a version,
the lane thresholds on the calibrated probability and how many reasons a decision gives.
It is validated when the CLI or the service starts; its SHA-256 (of its canonical JSON form)
and version are written into every logged decision, and the audit store keeps each
policy used, so a logged decision is replayed with the policy it was made under.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from parcelrisk.paths import BESIDE_CODE

#: The default policy file, in the working directory (a source checkout).
DEFAULT_POLICY = Path("configs/policy.yaml")
#: The policy shipped with the code: ``make bento`` puts ``configs/`` beside the code, as
#: it puts the model there (:data:`parcelrisk.tracking.SHIPPED_MODELS`).
SHIPPED_POLICY = BESIDE_CODE / DEFAULT_POLICY
#: Environment variable naming the policy file of the service (and of the CLI).
POLICY_ENV = "PARCELRISK_POLICY"
LANES = ("inspect", "review", "release")
DIRECTIONS = ("raises", "lowers", "both")
_KEYS = {"version", "lanes", "reasons"}


class PolicyError(ValueError):
    """A policy file that cannot be used: every problem, with the value and what is allowed."""


@dataclass(frozen=True)
class Policy:
    """Lane thresholds and the reason policy of scoring (see ``configs/policy.yaml``)."""

    version: str = "1"
    inspect: float = 0.5
    review: float = 0.2
    top: int = 3
    direction: str = "both"

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise PolicyError("invalid policy: " + "; ".join(problems))

    @property
    def lanes(self) -> dict[str, float]:
        """The thresholds: ``{"inspect": ..., "review": ...}``."""
        return {"inspect": self.inspect, "review": self.review}

    def to_dict(self) -> dict[str, Any]:
        """The policy in the form of its file."""
        return {
            "version": self.version,
            "lanes": self.lanes,
            "reasons": {"top": self.top, "direction": self.direction},
        }

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (formatting and comments aside)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def lane(self, probability: np.ndarray) -> np.ndarray:
        """Lane of each probability: inspect, review or release (thresholds inclusive)."""
        p = np.asarray(probability, dtype=float)
        review = np.where(p >= self.review, "review", "release")
        return np.where(p >= self.inspect, "inspect", review).astype(object)


def _problems(p: Policy) -> list[str]:
    out = []
    if not isinstance(p.version, str) or not p.version.strip():
        out.append(f"version must be a non-empty string, got {p.version!r}")
    for name in ("inspect", "review"):
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            out.append(f"lanes.{name} must be a number from 0 to 1, got {value!r}")
    if not out and p.review > p.inspect:
        out.append(f"lanes need review <= inspect, got review={p.review}, inspect={p.inspect}")
    if isinstance(p.top, bool) or not isinstance(p.top, int) or p.top < 1:
        out.append(f"reasons.top must be a whole number >= 1, got {p.top!r}")
    if p.direction not in DIRECTIONS:
        out.append(f"reasons.direction must be one of {list(DIRECTIONS)}, got {p.direction!r}")
    return out


def policy_from_dict(raw: Any, source: str = "(dict)") -> Policy:
    """A policy from the parsed content of its file; :class:`PolicyError` names every problem."""
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{source}: a policy is a mapping with keys {sorted(_KEYS)}")
    problems = [f"unknown key {k!r} (known: {sorted(_KEYS)})" for k in raw if k not in _KEYS]
    lanes, reasons = raw.get("lanes", {}), raw.get("reasons", {})
    for name, part, known in (("lanes", lanes, {"inspect", "review"}),
                              ("reasons", reasons, {"top", "direction"})):  # fmt: skip
        if not isinstance(part, Mapping):
            problems.append(f"{name} must be a mapping with keys {sorted(known)}")
            continue
        problems += [f"unknown key {name}.{k!r} (known: {sorted(known)})"
                     for k in part if k not in known]  # fmt: skip
    if problems:
        raise PolicyError(f"{source}: " + "; ".join(problems))
    values = {"version": raw.get("version", Policy.version), **lanes, **reasons}
    try:
        return Policy(**values)
    except PolicyError as err:
        raise PolicyError(f"{source}: {err}") from None


def policy_file() -> Path | None:
    """The file :func:`load_policy` reads when it is named none: ``$PARCELRISK_POLICY``;
    else the policy shipped with the code (:data:`SHIPPED_POLICY`, a bento's own); else
    ``configs/policy.yaml`` in the working directory (a source checkout); else None (the
    built-in default :class:`Policy` holds).

    Found from the code before the working directory, as the shipped model is: BentoML runs
    the service's start-up check where ``bentoml serve`` was started and its workers in the
    bento, and both must read the same policy.
    """
    if named := os.environ.get(POLICY_ENV):
        return Path(named)
    for file in (SHIPPED_POLICY, DEFAULT_POLICY.absolute()):
        if file.is_file():
            return file
    return None


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy of ``path``, else of :func:`policy_file`: ``$PARCELRISK_POLICY``, the
    policy shipped with the code, ``configs/policy.yaml`` of the working directory.

    With none of them the built-in default :class:`Policy` holds, equal to the shipped file.

    Raises
    ------
    FileNotFoundError
        If a named file does not exist.
    PolicyError
        If the file is not a valid policy.
    """
    file = Path(path) if path else policy_file()
    if file is None:
        return Policy()
    if not file.is_file():
        raise FileNotFoundError(f"policy file {file} does not exist")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PolicyError(f"{file} is not valid YAML: {err}") from None
    return policy_from_dict(raw, str(file))
