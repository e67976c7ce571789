"""Last year's festival for the alert tests and bench/alerts_false_positives.py, written here rather
than by ``gmv simulate``'s history writer, so the alert service's reader is checked against rows
it did not make: rows in the rollup shape (``orders_per_second``, last year's own timestamps) in
``Settings.history_database``, migrated with the rollups' migrations; the orders themselves from
the simulator's arrival process (:func:`orders_created`) or from the test's own draws."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np

from stream.settings import Settings
from stream.simulator import orders as orders_mod
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, FESTIVAL_TZ
from stream.simulator.run import RunOptions, Simulation
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


def orders_created(start: int, seconds: int, scale: float, seed: int) -> np.ndarray:
    """Orders created in each second of [start, start + seconds), as the simulator makes them."""
    config = DEFAULT.replace(year=datetime.fromtimestamp(start, FESTIVAL_TZ).year, scale=scale)
    options = RunOptions(clock=ClockSpec("replay", start * 1000, 86400.0), rate=None, paced=False, seed=seed,
                         batch_orders=1 << 21)
    sim = Simulation(config, options)
    counts = np.zeros(seconds, dtype=np.int64)
    end_ms = (start + seconds) * 1000
    while sim.frontier < end_ms:
        tick_end = min(sim.next_replay_end(), end_ms)
        t0, _, origins = sim.arrivals(tick_end)
        sim.frontier = tick_end
        created = t0[origins != orders_mod.GHOST_FINAL] // 1000 - start  # ghosts enter at their final payment
        counts += np.bincount(created, minlength=seconds)[:seconds]
    return counts
