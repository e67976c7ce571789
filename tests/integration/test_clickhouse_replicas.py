"""GMV_CLICKHOUSE_REPLICAS=2: two ClickHouse servers of replicated tables beside ZooKeeper, as
`gmv up` runs them. A row written to one is read from the other; a client (and the dashboard's
query layer) switches to the live replica when one is killed -9; the returning replica catches up."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from dashboard.db import Database
from stream import probes
from stream.stack import clickhouse, migrations, processes
from tests.support.faults import kill_9
from tests.support.stack import fresh_settings, running
from tests.support.zookeeper import replicated_parts, replicated_settings

pytestmark = pytest.mark.slow
FESTIVAL_S = 1636632000  # 2021-11-11 20:00 China time


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    settings = replicated_settings(fresh_settings(tmp_path_factory.mktemp("replicas")))
    with running(replicated_parts(settings), settings):
        yield settings


def replica_tables(settings, replica: int) -> dict[str, str]:
    with clickhouse.connect_replica(settings, replica, "admin") as client:
        return dict(client.execute(f"SELECT name, engine FROM system.tables WHERE database = "
                                   f"'{settings.clickhouse_database}' AND name != 'schema_migrations'"))


def test_each_replica_has_every_table_replicated_and_migrating_again_changes_nothing(replicas):
    first, second = replica_tables(replicas, 0), replica_tables(replicas, 1)
    assert first == second and len(first) > 10
    assert set(first.values()) == {"ReplicatedReplacingMergeTree"}
    clients = [clickhouse.connect_replica(replicas, r, "admin") for r in range(2)]
    try:
        for database in (replicas.clickhouse_database, replicas.history_database):
            assert migrations.apply_replicated(clients, database) == []
    finally:
        for client in clients:
            client.disconnect()


def write_seconds(settings, seconds: range, client=None) -> None:
    """One orders_per_second row per second of ``seconds`` (gmv_fen = the second), through ``client``
    (by default one that knows every replica, as the loader's)."""
    rows = [(FESTIVAL_S + s, 0, s, int(time.time() * 1000)) for s in seconds]
    with client or clickhouse.connect(settings, "writer") as writer:
        writer.execute(f"INSERT INTO {settings.clickhouse_database}.orders_per_second "
                       "(window_start, late, gmv_fen, written_ms) VALUES", rows)


def gmv_on(settings, replica: int) -> tuple[int, int]:
    """(rows, sum of gmv_fen) of orders_per_second on one replica."""
    with clickhouse.connect_replica(settings, replica, "reader") as client:
        rows, total = client.execute(f"SELECT count(), sum(gmv_fen) FROM {settings.clickhouse_database}"
                                     ".orders_per_second FINAL")[0]
        return rows, total


def test_a_row_written_to_one_replica_is_read_from_the_other(replicas):
    write_seconds(replicas, range(0, 100), clickhouse.connect_replica(replicas, 0))
    expected = (100, sum(range(100)))
    assert probes.wait_for(lambda: gmv_on(replicas, 1) == expected, 30), gmv_on(replicas, 1)


def test_the_same_block_inserted_twice_is_kept_once(replicas):
    """What a loader that retries a batch on the other replica relies on, besides ReplacingMergeTree:
    a replicated table drops a block identical to one it already has."""
    rows = [(FESTIVAL_S + 500, 0, 7, 1)]
    for replica in (0, 1):
        with clickhouse.connect_replica(replicas, replica) as writer:
            writer.execute(f"INSERT INTO {replicas.clickhouse_database}.orders_per_second "
                           "(window_start, late, gmv_fen, written_ms) VALUES", rows)
    query = (f"SELECT count() FROM {replicas.clickhouse_database}.orders_per_second "
             f"WHERE window_start = toDateTime({FESTIVAL_S + 500})")  # without FINAL: every stored copy
    for replica in (0, 1):
        assert probes.wait_for(lambda: rows_on_where(replicas, replica, query) == 1, 30)  # noqa: B023


def rows_on_where(settings, replica: int, query: str) -> int:
    with clickhouse.connect_replica(settings, replica, "reader") as client:
        return client.execute(query)[0][0]


def test_a_replica_killed_9_reads_switch_to_the_other_and_it_catches_up_on_return(replicas):
    database = Database(replicas)
    sql = f"SELECT count(), sum(gmv_fen) FROM {replicas.clickhouse_database}.orders_per_second FINAL"
    try:
        before = database.run(sql)[0]  # the pool's connection is to the first replica
        first = replicated_parts(replicas)[-2]
        kill_9(first, replicas)
        started = time.monotonic()
        assert database.run(sql)[0] == before  # the same pooled client, now on the second replica
        failover_s = time.monotonic() - started
        write_seconds(replicas, range(1000, 1050))  # while the first replica is down
        expected = (before[0] + 50, before[1] + sum(range(1000, 1050)))
        assert database.run(sql)[0] == expected
        processes.start(first, replicas)
        assert probes.wait_for(lambda: gmv_on(replicas, 0) == expected, 60), gmv_on(replicas, 0)
        print(f"reads switched replica in {failover_s * 1000:.0f} ms")
        assert failover_s < 1.0
    finally:
        database.close()


def test_gmv_status_shows_each_replica_in_sync(replicas):
    result = subprocess.run([sys.executable, "-m", "stream.cli", "status"], env={**os.environ, **replicas.to_env()},
                            capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("replica ")]
    assert len(lines) == 2, result.stdout + result.stderr
    assert all("in sync, lag 0 s, queue 0" in line for line in lines), lines
    assert f":{replicas.clickhouse_port + 1} " in lines[1]
