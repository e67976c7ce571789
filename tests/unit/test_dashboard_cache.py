"""The shared cache: TTL, single flight across threads, remembered failures, refresh-ahead."""
from __future__ import annotations

import threading

import pytest

from dashboard.cache import SharedCache

DEADLINE_S = 10


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    c = SharedCache(clock=clock, error_ttl=1.0)
    yield c
    c.close()


def counting(value="v"):
    calls = []

    def load():
        calls.append(1)
        return f"{value}{len(calls)}"
    return load, calls


def test_a_value_is_reused_within_its_ttl_and_reloaded_after(cache, clock):
    load, calls = counting()
    assert cache.get("k", load, ttl=1.0) == "v1"
    clock.now += 0.9
    assert cache.get("k", load, ttl=1.0) == "v1"
    clock.now += 0.2
    assert cache.get("k", load, ttl=1.0) == "v2"
    assert len(calls) == 2 and cache.stats["hits"] == 1


def test_concurrent_callers_of_one_key_share_one_load(cache):
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_load():
        calls.append(1)
        started.set()
        assert release.wait(DEADLINE_S)
        return "answer"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow_load, ttl=5)))
               for _ in range(50)]
    for t in threads:
        t.start()
    assert started.wait(DEADLINE_S)
    # every other caller is now waiting on the one load (or about to): let it finish
    deadline = threading.Event()
    for _ in range(200):
        if cache.stats["waits"] >= 49:
            break
        deadline.wait(0.01)
    release.set()
    for t in threads:
        t.join(DEADLINE_S)
    assert results == ["answer"] * 50
    assert len(calls) == 1


def test_a_failure_reaches_every_waiter_and_is_remembered_briefly(cache, clock):
    calls = []

    def broken():
        calls.append(1)
        raise ConnectionError("down")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            cache.get("k", broken, ttl=1.0)
    assert len(calls) == 1  # not retried by every poll while the error is fresh
    clock.now += 1.5
    assert cache.get("k", lambda: "back", ttl=1.0) == "back"


def test_last_value_survives_a_failed_reload(cache, clock):
    cache.get("k", lambda: "good", ttl=1.0)
    clock.now += 2
    with pytest.raises(ConnectionError):
        cache.get("k", lambda: (_ for _ in ()).throw(ConnectionError("down")), ttl=1.0)
    assert cache.last_value("k") == "good"
    assert cache.last_value("other", "none") == "none"


def test_refresh_ahead_answers_at_once_and_refreshes_in_the_background(cache, clock):
    cache.get("k", lambda: "old", ttl=1.0, refresh_ahead=True)
    clock.now += 5
    refreshed, release = threading.Event(), threading.Event()

    def slow_new():
        assert release.wait(DEADLINE_S)
        refreshed.set()
        return "new"

    assert cache.get("k", slow_new, ttl=1.0, refresh_ahead=True) == "old"  # did not wait
    release.set()
    assert refreshed.wait(DEADLINE_S)
    for _ in range(500):  # the refresh thread stores the value right after the loader returns
        if cache.last_value("k") == "new":
            break
        refreshed.wait(0.01)
    assert cache.get("k", slow_new, ttl=1.0, refresh_ahead=True) == "new"


def test_old_entries_are_evicted(clock):
    cache = SharedCache(max_entries=3, clock=clock)
    for i in range(10):
        cache.get(i, lambda i=i: i, ttl=60)
    assert cache.last_value(9) == 9 and cache.last_value(0) is None
    cache.close()
