"""Last year's festival for the alert tests, written here rather than by ``gmv simulate``'s history
writer, so the alert tests check the reader against an independent writer: rows in the rollup
shape (``orders_per_second``, last year's own timestamps) in ``Settings.history_database``,
migrated with the rollups' migrations."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np

from stream.settings import Settings
from stream.stack import clickhouse, migrations

SECOND_COLUMNS = ("window_start", "late", "orders_created", "orders_paid", "gmv_fen", "refunds", "refund_fen",
                  "cancellations", "written_ms")


@contextlib.contextmanager
def history_database(settings: Settings, migrate: bool = True) -> Iterator[str]:
    """``settings.history_database``, migrated (unless ``migrate`` is False: then it does not exist
    until the test migrates it with :func:`migrate_history`), dropped at the end."""
    if migrate:
        migrate_history(settings)
    try:
        yield settings.history_database
    finally:
        with clickhouse.connect(settings, "admin") as client:
            client.execute(f"DROP DATABASE IF EXISTS {settings.history_database}")


def migrate_history(settings: Settings) -> None:
    with clickhouse.connect(settings, "admin") as client:
        migrations.apply(client, settings.history_database)


def second_rows(rows: list[tuple[int, int, int, int]]) -> list[tuple]:
    """orders_per_second rows from (second, late, orders_created, written_ms)."""
    return [(datetime.fromtimestamp(s, tz=timezone.utc).replace(tzinfo=None), late, n, n, 100 * n, 0, 0, 0, written)
            for s, late, n, written in rows]


def insert_seconds(settings: Settings, database: str, rows: list[tuple[int, int, int, int]]) -> None:
    if rows:
        with clickhouse.connect(settings, "writer") as client:
            client.execute(f"INSERT INTO {database}.orders_per_second ({', '.join(SECOND_COLUMNS)}) VALUES",
                           second_rows(rows))


def write_counts(settings: Settings, start: int, counts: np.ndarray, written_ms: int = 1_600_000_000_000) -> None:
    """Last year's orders created per second from ``start`` (last year's epoch s) into the history
    database, a row for each second with orders (as the job writes them)."""
    insert_seconds(settings, settings.history_database,
                   [(start + i, 0, int(n), written_ms) for i, n in enumerate(counts) if n])
