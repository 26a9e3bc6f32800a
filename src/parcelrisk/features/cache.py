"""Values derived from fitted state, kept beside the objects they derive from, not on them.

A fitted estimator stays as ``fit`` left it (scikit-learn's contract: ``transform`` and
``predict`` add no attributes), so it pickles and compares without its caches; yet what
scoring derives from it (lookup tables, recently computed probabilities) is built once
per fitted object and reused while that object lives.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class DerivedCache(Generic[T]):
    """One value per live source object, built by ``build(source)`` on first use.

    Entries are keyed by the source's identity and dropped when it is collected, so a
    refitted estimator (new fitted attributes) gets values of its own. The value must not
    refer to its source (the entry would keep it alive). Building is serialised: a value
    is built once even when threads ask for it together.
    """

    def __init__(self, build: Callable[[Any], T]):
        self._build = build
        self._entries: dict[int, tuple[weakref.ref, T]] = {}
        self._lock = threading.Lock()

    def get(self, source: Any) -> T:
        """The value derived from ``source`` (which must support weak references)."""
        hit = self._entries.get(id(source))
        if hit is not None and hit[0]() is source:
            return hit[1]
        with self._lock:
            hit = self._entries.get(id(source))
            if hit is not None and hit[0]() is source:
                return hit[1]
            value = self._build(source)
            key = id(source)
            self._entries[key] = (weakref.ref(source, lambda ref: self._forget(key, ref)), value)
            return value

    def _forget(self, key: int, ref: weakref.ref) -> None:
        if self._entries.get(key, (None,))[0] is ref:  # not a newer entry under the same id
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
