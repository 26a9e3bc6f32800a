"""Live entity history: cost of one update, of a cold rebuild from the audit log, memory.

Usage: python bench/bench_live_history.py [--rows 1000000] [--days 60] [--train-days 7]

Generates ``--rows`` parcels over ``--days`` days (the demo's size by default), fits a
model (the default features, 60 trees) on the first ``--train-days`` days and measures,
with every later parcel (53 days of history by default) as what a service logged:

- **one update**: appending one parcel's declaration to a live history already holding
  the others, and the same for one outcome (ms each, median of 2,000), beside the
  reference of scoring that parcel alone in-process (the per-request work it adds to);
- **cold rebuild**: the parcels logged to a SQLite audit store as decisions, then a
  service's start-up read of that log (:meth:`HistoryFollower.rebuild`), in seconds and
  parcels/s, beside the reference of reading the same inputs back from the store;
- **a day in batch**: the last day scored as one table against the live history of the
  days before it, beside the same table without live history;
- **memory**: the live history's size (tracemalloc) holding the parcels, per million
  declarations, extrapolated to 60 million (linear: every structure grows with events).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from parcelrisk.artifact import LoadedModel
from parcelrisk.audit import AuditStore, Decision, Position
from parcelrisk.contract import DECLARATION_COLUMNS, to_records
from parcelrisk.features.live import LiveHistory, Outcomes
from parcelrisk.history_store import HistoryFollower
from parcelrisk.policy import Policy
from parcelrisk.predict import decide_frame, score
from parcelrisk.synth import generate
from parcelrisk.train import fit_model


def model_and_later(rows: int, days: int, train_days: int) -> tuple[LoadedModel, pd.DataFrame]:
    """A model fitted on the first ``train_days`` of generated data, and the later parcels
    (declarations only) in time order."""
    frame = generate(rows=rows, days=days, seed=0)
    cut = frame["declared_at"].min().floor("D") + pd.Timedelta(days=train_days)
    fitted = fit_model(frame[frame["declared_at"] < cut], lgbm_params={"n_estimators": 60})
    later = frame[frame["declared_at"] >= cut].sort_values("declared_at", kind="stable")
    model = LoadedModel(fitted.pipeline, {"version": "bench"}, Path("."))
    return model, later[list(DECLARATION_COLUMNS)].reset_index(drop=True)


def one_update(model, later: pd.DataFrame) -> None:
    live = LiveHistory.of(model.pipeline)
    live.append(later.iloc[:-2000])
    tail = later.iloc[-2000:]
    append, outcome, alone = [], [], []
    for i in range(len(tail)):
        one = tail.iloc[[i]]
        start = time.perf_counter()
        score(model.pipeline, one, Policy(), explain="none", live=live)
        alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        live.append(one)
        append.append(time.perf_counter() - start)
        start = time.perf_counter()
        live.append(None, Outcomes(one, np.array([one["declared_at"].iloc[0].value // 10**9 + 1]),
                                   np.array([True]), np.array([i % 2 == 0])))  # fmt: skip
        outcome.append(time.perf_counter() - start)
    ms = {k: 1000 * float(np.median(v)) for k, v in
          (("append", append), ("outcome", outcome), ("alone", alone))}  # fmt: skip
    print(f"one declaration appended: {ms['append']:.3f} ms; one outcome: {ms['outcome']:.3f} ms "
          f"(median of {len(tail):,}; history of {len(later) - len(tail):,} parcels, "
          f"{len(live.layers)} layers)")  # fmt: skip
    print(f"  reference, the parcel scored alone in-process: {ms['alone']:.3f} ms "
          f"(the update is {ms['append'] / ms['alone']:.2f}x of it)")  # fmt: skip


def cold_rebuild(model, later: pd.DataFrame) -> None:
    records = to_records(later)
    with tempfile.TemporaryDirectory() as tmp:
        store = AuditStore(f"sqlite:///{Path(tmp) / 'audit.db'}")
        start = time.perf_counter()
        for at in range(0, len(records), 10_000):
            store.append_decisions(
                Decision("bench", r["parcel_id"], r, model.version, 0.5, "release", None)
                for r in records[at : at + 10_000]
            )
        print(f"logging {len(records):,} decisions: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        store.inputs_between(Position(), store.position())
        read = time.perf_counter() - start
        follower = HistoryFollower(store, model)
        start = time.perf_counter()
        follower.rebuild()
        took = time.perf_counter() - start
        print(f"cold rebuild of {len(records):,} logged declarations: {took:.1f} s "
              f"({len(records) / took:,.0f} parcels/s; {took / len(records) * 1e6:.0f} s per "
              f"million)")  # fmt: skip
        print(f"  reference, reading their inputs back from the store: {read:.1f} s "
              f"(rebuild {took / read:.1f}x of it)")  # fmt: skip


def day_batch(model, later: pd.DataFrame) -> None:
    """The last day scored as one table (``decide_frame``, reasons for the inspect and
    review lanes) against the live history of every parcel before it, and without."""
    start_of_day = later["declared_at"].max().floor("D")
    before = later[later["declared_at"] < start_of_day]
    day = later[later["declared_at"] >= start_of_day]
    live = LiveHistory.of(model.pipeline)
    live.append(before)
    rates = {}
    for name, history in (("with", live), ("without", None)):
        start = time.perf_counter()
        decide_frame(model, day, Policy(), live=history)
        rates[name] = len(day) / (time.perf_counter() - start)
    print(f"a day of {len(day):,} parcels as one table against the live history of "
          f"{len(before):,}: {rates['with']:,.0f} parcels/s (target >= 30,000); reference, "
          f"without live history: {rates['without']:,.0f} parcels/s")  # fmt: skip


def memory(model, later: pd.DataFrame) -> None:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    live = LiveHistory.of(model.pipeline)
    live.append(later)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    per_million = size / len(later) * 1e6
    print(f"live history of {len(later):,} declarations: {size / 2**20:,.0f} MiB "
          f"({per_million / 2**30:.2f} GiB per million; 60 million: "
          f"{60 * per_million / 2**30:,.0f} GiB, extrapolated)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--train-days", type=int, default=7)
    args = parser.parse_args()
    model, later = model_and_later(args.rows, args.days, args.train_days)
    print(f"{len(later):,} parcels after {args.train_days} training days of {args.days}")
    one_update(model, later)
    day_batch(model, later)
    memory(model, later)
    cold_rebuild(model, later)


if __name__ == "__main__":
    main()
