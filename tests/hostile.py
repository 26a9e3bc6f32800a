"""The property behind "no input makes the service return 500", shared by hostile tests."""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

from parcelrisk.predict import decide
from parcelrisk.validation import ContractError


def assert_scored_or_refused(model, batches: Iterable[list[dict]]) -> None:
    """Every batch scores (finite probabilities, JSON-safe results) or raises ContractError.

    The service answers a ContractError with a 422 and anything else with a 500, so any
    other exception fails. Both outcomes must occur, or the batches tested too little.
    """
    scored = refused = 0
    for batch in batches:
        try:
            results = decide(model, batch)
        except ContractError as err:
            assert err.problems and json.dumps(err.to_dicts())  # JSON-safe for the 422 body
            refused += 1
            continue
        scored += 1
        assert len(results) == len(batch)
        for r in results:
            assert np.isfinite(r["probability"]) and 0 <= r["probability"] <= 1
            assert r["lane"] in ("inspect", "review", "release")
            json.dumps(r, allow_nan=False)
    assert scored and refused, f"scored {scored}, refused {refused}: both paths must occur"
