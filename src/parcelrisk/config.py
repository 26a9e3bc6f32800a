"""Model settings read from a YAML file (``configs/model.yaml`` by default)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from parcelrisk.contract.history_keys import parse_history
from parcelrisk.model import check_lgbm_params

DEFAULT_CONFIG = Path("configs/model.yaml")


#: Inspection budgets reported by the evaluation, as shares of all test parcels.
BUDGETS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)


@dataclass(frozen=True)
class ModelConfig:
    """Settings of training and evaluation (see ``configs/model.yaml``).

    Lanes and reasons are not model settings: they are the scoring policy
    (:mod:`parcelrisk.policy`, ``configs/policy.yaml``), read when scoring.
    """

    value_threshold: float = 800.0
    test_days: float = 14.0
    weighting: str = "calibration"
    max_weight: float = 100.0
    random_state: int = 0
    #: pseudo-count of the entity history's smoothed violation rates
    history_smoothing: float = 5.0
    #: history keys to keep (None: the defaults; a column mapping's own ``history:`` wins)
    history: tuple[tuple[str, ...], ...] | None = None
    #: latest share of the labelled training rows that early stopping watches
    validation_fraction: float = 0.2
    #: boosting stops after this many rounds without a better validation loss
    early_stopping_rounds: int = 50
    #: after the evaluation, refit on every labelled row to the end of the data and export that
    refit: bool = True
    #: the evaluation's replayed history counts an outcome this long after its outcome_at
    outcome_delay_days: float = 0.0
    lgbm: dict[str, Any] = field(default_factory=dict)
    budgets: tuple[float, ...] = BUDGETS


def load_config(path: str | Path | None = None) -> ModelConfig:
    """Read settings from YAML; a missing default file gives the built-in defaults.

    Raises
    ------
    ValueError
        On unknown keys (naming them and the known ones) or invalid values.
    FileNotFoundError
        If an explicitly given file does not exist.
    """
    if path is None and not DEFAULT_CONFIG.is_file():
        return ModelConfig()
    path = Path(path or DEFAULT_CONFIG)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    known = {f.name for f in fields(ModelConfig)}
    if "lanes" in raw:
        raise ValueError(
            f"{path}: 'lanes' is no longer a model setting; lane thresholds are the scoring "
            "policy's (configs/policy.yaml, or --policy / PARCELRISK_POLICY): remove it here"
        )
    if "calibration_fraction" in raw:
        raise ValueError(
            f"{path}: 'calibration_fraction' is no longer a setting: the calibration is fitted on "
            "the early-stopping window (validation_fraction) and the booster then refit on "
            "every labelled parcel; remove it here"
        )
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {unknown}; known: {sorted(known)}")
    if "budgets" in raw:
        raw["budgets"] = tuple(float(b) for b in raw["budgets"])
    if "history" in raw:
        raw["history"] = parse_history(raw["history"], str(path))
    if not isinstance(raw.get("lgbm", {}), dict):
        raise ValueError(f"{path}: lgbm must map LightGBM parameters to values")
    check_lgbm_params(raw.get("lgbm") or {}, f"{path}: lgbm")
    return ModelConfig(**raw)
