"""Counting past events per entity, strictly before a point in time, without loops.

An :class:`EventIndex` holds events (an entity key, a time, and values to add up) sorted
by ``(key, time)``. Asked for a set of queries ``(key, time)``, it answers how many
events of that key happened strictly before that time and the sums of their values,
with one ``searchsorted`` over a composite ``key * 2**32 + seconds`` integer.

Values are counts (whole numbers: an event's 1, a cue's 0 or 1, a correction's -1), so
sums over several indexes, in any order, are exact: a history kept in several indexes
(a stored state, the events appended since, a batch's own) answers what one index of all
its events would, to the bit.
"""

from __future__ import annotations

import numpy as np

_SHIFT = np.int64(2**32)


def seconds(times) -> np.ndarray:
    """Whole seconds since the epoch of a datetime-like array (UTC)."""
    return np.asarray(times, dtype="datetime64[s]").astype(np.int64)


def _sorted_search(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``searchsorted`` (left) with the needles sorted first: about twice as fast at scale."""
    if len(needles) < 2 or np.all(needles[1:] >= needles[:-1]):
        return np.searchsorted(haystack, needles, side="left")
    order = np.argsort(needles, kind="stable")
    out = np.empty(len(needles), dtype=np.intp)
    out[order] = np.searchsorted(haystack, needles[order], side="left")
    return out


class EventIndex:
    """Events of many entities, ready to answer "how many before time t" for any entity.

    Parameters
    ----------
    keys
        Non-negative integer entity codes, one per event.
    times
        Event times in whole seconds since the epoch.
    values
        Optional 2-D array (events x columns) of numbers to sum per query.
    """

    def __init__(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray | None = None):
        keys = np.asarray(keys, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        if keys.size and (keys.min() < 0 or keys.max() >= 2**31):
            raise ValueError("entity codes must lie in [0, 2**31)")
        composite = keys * _SHIFT + times
        order = np.argsort(composite, kind="stable")
        if values is None:
            values = np.zeros((len(keys), 0))
        values = np.asarray(values, dtype=np.float64)
        values = values.reshape(len(keys), values.shape[-1] if values.ndim > 1 else 1)
        self._sorted(composite[order], times[order], values[order])

    def _sorted(self, composite: np.ndarray, times: np.ndarray, values: np.ndarray) -> None:
        self._composite, self._times = composite, times
        # prefix sums with a leading zero row: sum of events [i, j) = csum[j] - csum[i]
        self._csum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])

    def merged(self, later: EventIndex) -> EventIndex:
        """One index of this one's events and ``later``'s, in linear time (both are sorted:
        ``later``'s events go after equal ones of this index). An index with no events
        adds nothing and is not copied."""
        if not len(later):
            return self
        if not len(self):
            return later
        at = np.searchsorted(self._composite, later._composite, side="right")
        out = EventIndex.__new__(EventIndex)
        out._sorted(
            np.insert(self._composite, at, later._composite),
            np.insert(self._times, at, later._times),
            np.insert(np.diff(self._csum, axis=0), at, np.diff(later._csum, axis=0), axis=0),
        )
        return out

    def _bounds(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, dtype=np.int64)
        return (
            _sorted_search(self._composite, keys * _SHIFT),
            _sorted_search(self._composite, keys * _SHIFT + np.asarray(times)),
        )

    def count_before(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Number of events of each key strictly before each time."""
        start, stop = self._bounds(keys, times)
        return stop - start

    def sum_before(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Sums of the value columns over events of each key strictly before each time."""
        start, stop = self._bounds(keys, times)
        return self._csum[stop] - self._csum[start]

    def first_time(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Time of the first event of each key before each time (NaN if there is none)."""
        start, stop = self._bounds(keys, times)
        out = np.full(len(start), np.nan)
        seen = stop > start
        out[seen] = self._times[start[seen]]
        return out

    def count_and_sum_before(self, keys: np.ndarray, times: np.ndarray):
        """:meth:`count_before` and :meth:`sum_before` together, searching each bound once."""
        start, stop = self._bounds(keys, times)
        return stop - start, self._csum[stop] - self._csum[start]

    def history(
        self, keys: np.ndarray, times: np.ndarray, window: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each query: events before the time, events in the ``window`` seconds before
        it, and the time of the first event (NaN if none), searching each bound once."""
        base = np.asarray(keys, dtype=np.int64) * _SHIFT
        times = np.asarray(times)
        start = _sorted_search(self._composite, base)
        stop = _sorted_search(self._composite, base + times)
        since = _sorted_search(self._composite, base + (times - window))
        first = np.full(len(start), np.nan)
        seen = stop > start
        first[seen] = self._times[start[seen]]
        return stop - start, stop - since, first

    def __len__(self) -> int:
        return len(self._composite)


def combined_count(indexes: list[EventIndex], keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Events before each time over several indexes (e.g. a stored state and a new batch)."""
    return sum(ix.count_before(keys, times) for ix in indexes)
