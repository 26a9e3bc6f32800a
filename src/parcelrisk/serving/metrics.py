"""parcelrisk's own Prometheus metrics, served at ``/metrics`` beside BentoML's.

They are made on first use, in a worker: BentoML points prometheus_client at its
multi-process directory when it starts a worker, and ``/metrics`` adds up every worker's
values. Importing this module makes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

#: Upper bounds (seconds) of the decision latency buckets: a one-parcel request takes a
#: few milliseconds, a request of 1,000 parcels about a second.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ServiceMetrics:
    """The metrics the service updates (prometheus_client objects)."""

    decisions: Any
    audit_write_failures: Any
    decision_seconds: Any
    outcomes: Any
    refused: Any


@functools.cache
def service_metrics() -> ServiceMetrics:
    """The service's metrics, made once per process."""
    from prometheus_client import Counter, Histogram

    return ServiceMetrics(
        decisions=Counter(
            "parcelrisk_decisions",
            "Decisions released by /score (each logged to the audit store), by lane and model",
            ["lane", "model_version"],
        ),
        audit_write_failures=Counter(
            "parcelrisk_audit_write_failures",
            "Requests whose audit store write failed (answered 503; nothing released)",
            ["endpoint"],
        ),
        decision_seconds=Histogram(
            "parcelrisk_decision_seconds",
            "Time to decide and log one /score request, in seconds",
            ["model_version"],
            buckets=LATENCY_BUCKETS,
        ),
        outcomes=Counter(
            "parcelrisk_outcomes_recorded", "Inspection outcomes recorded by /outcomes"
        ),
        refused=Counter(
            "parcelrisk_refused_requests",
            "Requests refused (4xx, and 503 for overload or an unavailable store), by route "
            "and status",
            ["route", "status"],
        ),
    )
