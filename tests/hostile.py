"""The property behind "no input makes the service return 500", shared by hostile tests."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from parcelrisk.contract import ContractError
from parcelrisk.policy import Policy
from parcelrisk.predict import decide


def assert_scored_or_refused(model, batches: Iterable[list[dict]]) -> None:
    """Every batch scores (finite probabilities, JSON-safe results) or raises ContractError.

    The service answers a ContractError with a 422 and anything else with a 500, so any
    other exception fails. Both outcomes must occur, or the batches tested too little.
    """
    scored = refused = 0
    for batch in batches:
        try:
            results = decide(model, batch, Policy())
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


def mutated_batches(
    records: list[dict],
    fields: Sequence[str],
    values: Sequence[Any],
    *,
    n: int,
    seed: int,
    stray: str,
) -> list[list[dict]]:
    """``n`` seeded batches of 1-5 records with 1-4 fields each dropped or set to one of
    ``values``; now and then a record gets the key ``stray`` that it must not have."""
    rng = random.Random(seed)
    batches = []
    for _ in range(n):
        batch = [dict(r) for r in rng.sample(records, rng.randint(1, 5))]
        for record in batch:
            for name in rng.sample(list(fields), rng.randint(1, 4)):
                if rng.random() < 0.15:
                    record.pop(name, None)
                else:
                    record[name] = rng.choice(values)
            if rng.random() < 0.05:
                record[stray] = 1
        batches.append(batch)
    return batches
