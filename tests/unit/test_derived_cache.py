"""Values derived from fitted state are built once per live object and kept beside it."""

from __future__ import annotations

import gc
import threading

import numpy as np

from parcelrisk.features.cache import DerivedCache


def test_a_value_is_built_once_per_source_and_dropped_with_it():
    built = []
    cache = DerivedCache(lambda source: built.append(source.copy()) or len(built))
    a, b = np.zeros(3), np.ones(3)
    assert cache.get(a) == cache.get(a) == 1
    assert cache.get(b) == 2  # another object, even an equal one, gets its own value
    assert cache.get(np.zeros(3)) == 3
    assert len(built) == 3
    del a
    gc.collect()
    assert len(cache) == 1  # b's entry only: the others went with their sources
    assert cache.get(b) == 2


def test_threads_asking_together_build_the_value_once():
    started = threading.Barrier(8)
    calls = []

    def build(source):
        calls.append(1)
        return object()

    cache = DerivedCache(build)
    source = np.arange(5)
    got = []

    def ask():
        started.wait()
        got.append(cache.get(source))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(v) for v in got}) == 1
