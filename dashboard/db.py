"""How the dashboard reaches ClickHouse: the read-only user, a small connection pool, the
shared cache in front, and a counter of the queries that really ran.

The SQL itself lives in :mod:`dashboard.queries`; it calls :meth:`Database.run`, or any
callable of the same shape (tests hand it a chDB-backed one).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import NetworkError, ServerException, SocketTimeoutError

from dashboard.cache import SharedCache
from dashboard.queries import Tier
from stream.errors import GmvError
from stream.settings import Settings
from stream.stack import clickhouse

# A dashboard query that takes longer than this is a bug or an overloaded server; the reader
# profile allows 30 s, far longer than any screen should wait.
QUERY_TIMEOUT_S = 10


class DataUnavailable(GmvError):
    """ClickHouse could not answer; the message is one sentence for the screen."""


class _ConnectionLost(Exception):
    """The connection failed (its cause is the driver's error); the query may be tried again."""


class Database:
    """Runs SQL for the pages: cached per (sql, params), on pooled ``gmv_reader`` connections."""

    def __init__(self, settings: Settings, cache: SharedCache | None = None, pool_size: int = 4) -> None:
        self.settings = settings
        self.database = settings.clickhouse_database
        self.cache = cache or SharedCache()
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._count_lock = threading.Lock()
        self.queries_run = 0  # statements actually sent to ClickHouse (cache misses)

    def run(self, sql: str, params: dict[str, Any] | None = None, tier: Tier | None = None) -> list[tuple]:
        """Rows of ``sql`` with ``params`` bound by clickhouse-driver (``%(name)s``), from the
        shared cache when ``tier`` allows. Raises :class:`DataUnavailable`."""
        params = params or {}
        if tier is None:
            return self._execute(sql, params)
        key = (sql, tuple(sorted((k, _hashable(v)) for k, v in params.items())))
        return self.cache.get(key, lambda: self._execute(sql, params), tier.ttl, tier.refresh_ahead)

    def _execute(self, sql: str, params: dict[str, Any]) -> list[tuple]:
        # With replicas, a pooled connection to a replica that died is retried once at once: the
        # reconnect goes to the first replica that answers (alt_hosts), so the screen never notices.
        tries = 2 if self.settings.replicated else 1
        for tried in range(1, tries + 1):
            try:
                return self._execute_once(sql, params)
            except _ConnectionLost as lost:
                if tried == tries:
                    raise DataUnavailable(
                        f"ClickHouse at {self.settings.clickhouse_host}:{self.settings.clickhouse_port} "
                        f"is unreachable ({_short(lost.__cause__ or lost)})") from None
        raise AssertionError("unreachable")

    def _execute_once(self, sql: str, params: dict[str, Any]) -> list[tuple]:
        with self._client() as client:
            with self._count_lock:
                self.queries_run += 1
            try:
                return client.execute(sql, params, settings={"max_execution_time": QUERY_TIMEOUT_S})
            except (NetworkError, SocketTimeoutError, OSError, EOFError) as exc:
                client.disconnect()  # reconnect on the next use
                raise _ConnectionLost() from exc
            except ServerException as exc:
                raise DataUnavailable(f"ClickHouse refused a dashboard query ({_short(exc)})") from None
            except DriverError as exc:
                client.disconnect()
                raise DataUnavailable(f"ClickHouse client error ({_short(exc)})") from None

    @contextmanager
    def _client(self) -> Iterator[Any]:
        self._slots.acquire()  # at most pool_size statements at once; more callers queue here
        try:
            client = self._pool.get_nowait()
        except queue.Empty:
            client = self._new_client()
        try:
            yield client
        finally:
            self._pool.put(client)
            self._slots.release()

    def _new_client(self):
        client = clickhouse.connect(self.settings, "reader", database=self.database)
        # The driver's default waits 30 s on a silent socket; a wall screen should say "stale" sooner.
        client.connection.send_receive_timeout = QUERY_TIMEOUT_S
        return client

    def close(self) -> None:
        while not self._pool.empty():
            self._pool.get_nowait().disconnect()
        self.cache.close()


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, set)) else value


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
