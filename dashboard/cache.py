"""A shared, short-lived, single-flight cache: many screens, one database query.

Every poll of every open screen asks the cache, keyed by query and parameters. Within a
key's time to live the answer comes from memory; when it has expired, the first caller
runs the query and every concurrent caller of the same key waits for that one result
(single flight) instead of sending its own. So 50 wall screens cost the database what one
costs. Failures are remembered for ``error_ttl`` too, so a database that is down is not
hammered by every screen either.

``refresh_ahead`` keys (slow aggregates that change rarely) answer with the expired value
at once and refresh it in the background, so no poll waits on a slow query except the
very first one.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
_MISSING = object()


@dataclass
class _Entry:
    value: Any = _MISSING
    error: BaseException | None = None
    expires: float = float("-inf")
    loaded_at: float = float("-inf")
    flight: threading.Event | None = None  # set while a load runs; waiters wait on it
    used: float = field(default_factory=time.monotonic)


class SharedCache:
    """TTL cache with single-flight loads, negative caching and optional refresh-ahead."""

    def __init__(self, max_entries: int = 1024, error_ttl: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, refresh_workers: int = 2) -> None:
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._error_ttl = error_ttl
        self._clock = clock
        self._refresher = ThreadPoolExecutor(refresh_workers, thread_name_prefix="gmv-cache-refresh")
        self.stats: Counter[str] = Counter()

    def get(self, key: Hashable, loader: Callable[[], Any], ttl: float, refresh_ahead: bool = False) -> Any:
        """The value of ``key``: cached if younger than ``ttl`` seconds, else ``loader()``'s
        (run once however many threads ask at the same time). Raises what the loader raised."""
        while True:
            with self._lock:
                entry = self._entry(key)
                now = self._clock()
                if now < entry.expires:
                    self.stats["hits"] += 1
                    return self._result(entry)
                has_value = entry.value is not _MISSING
                if refresh_ahead and has_value:
                    if entry.flight is None:
                        entry.flight = threading.Event()
                        self._refresher.submit(self._load, key, entry, loader, ttl, True)
                    self.stats["stale_served"] += 1
                    return entry.value
                if entry.flight is None:
                    entry.flight = flight = threading.Event()
                    leader = True
                else:
                    flight, leader = entry.flight, False
            if leader:
                self._load(key, entry, loader, ttl, False)
                with self._lock:
                    return self._result(entry)
            self.stats["waits"] += 1
            flight.wait()
            with self._lock:  # the answer of the flight waited for, even if its TTL already ran out
                if entry.value is not _MISSING or entry.error is not None:
                    return self._result(entry)

    def last_value(self, key: Hashable, default: Any = None) -> Any:
        """The newest value ever loaded for ``key`` (even if expired or a later load failed)."""
        with self._lock:
            entry = self._entries.get(key)
            return default if entry is None or entry.value is _MISSING else entry.value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        self._refresher.shutdown(wait=False, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------------

    def _entry(self, key: Hashable) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            self._evict()
        else:
            self._entries.move_to_end(key)
        entry.used = self._clock()
        return entry

    def _evict(self) -> None:
        # Oldest first, never an entry whose load is under way (its waiters hold it).
        for key in list(self._entries):
            if len(self._entries) <= self._max:
                return
            if self._entries[key].flight is None:
                del self._entries[key]

    def _result(self, entry: _Entry) -> Any:
        if entry.error is not None:
            raise entry.error
        return entry.value

    def _load(self, key: Hashable, entry: _Entry, loader: Callable[[], Any], ttl: float,
              background: bool) -> None:
        started = self._clock()
        try:
            value = loader()
        except Exception as exc:  # noqa: BLE001 - any failure is remembered briefly and shared by waiters
            self.stats["errors"] += 1
            with self._lock:
                if background:  # keep serving the old value; try again after error_ttl
                    entry.expires = self._clock() + self._error_ttl
                    log.warning("background refresh of %r failed: %s", key, exc)
                else:
                    entry.error, entry.expires = exc, self._clock() + self._error_ttl
                self._land(entry)
            return
        self.stats["loads"] += 1
        with self._lock:
            entry.value, entry.error = value, None
            entry.loaded_at = started
            entry.expires = started + ttl  # measured from the start: the data is that old
            self._land(entry)

    @staticmethod
    def _land(entry: _Entry) -> None:
        flight, entry.flight = entry.flight, None
        if flight is not None:
            flight.set()
