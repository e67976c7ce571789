from datetime import datetime

import pytest
from clickhouse_driver.errors import ServerException

from stream.stack import clickhouse, migrations
from tests.support.chdb_engine import ChdbClient

pytestmark = pytest.mark.slow

COLUMNS = "window_start, late, orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations, written_ms"


def test_migrations_are_idempotent(clickhouse_settings):
    db = clickhouse_settings.clickhouse_database
    with clickhouse.connect(clickhouse_settings, "admin") as client:
        assert migrations.apply(client, db) == []  # the fixture applied them already
        recorded = client.execute(f"SELECT version FROM {db}.schema_migrations FINAL ORDER BY version")
    assert [r[0] for r in recorded] == [m.version for m in migrations.migrations()]


def test_round_trip_and_rewrites_replace(clickhouse_settings):
    db = clickhouse_settings.clickhouse_database
    second = datetime(2021, 11, 11, 0, 0, 1)
    with clickhouse.connect(clickhouse_settings, "writer") as writer:
        writer.execute(f"INSERT INTO {db}.orders_per_second ({COLUMNS}) VALUES",
                       [(second, 0, 10, 8, 123_456_789_01, 1, 500, 2, 1)])
        # the same window written again (a replay) with a newer version replaces, never adds
        writer.execute(f"INSERT INTO {db}.orders_per_second ({COLUMNS}) VALUES",
                       [(second, 0, 10, 8, 123_456_789_01, 1, 500, 2, 2)])
    with clickhouse.connect(clickhouse_settings, "reader") as reader:
        rows = reader.execute(f"SELECT orders_created, gmv_fen FROM {db}.orders_per_second FINAL")
    assert rows == [(10, 123_456_789_01)]


def test_the_reader_cannot_write(clickhouse_settings):
    db = clickhouse_settings.clickhouse_database
    with clickhouse.connect(clickhouse_settings, "reader") as reader, \
            pytest.raises(ServerException, match="readonly"):
        reader.execute(f"INSERT INTO {db}.orders_per_second ({COLUMNS}) VALUES",
                       [(datetime(2021, 11, 11), 0, 1, 1, 1, 0, 0, 0, 1)])


def test_a_wrong_password_is_refused(clickhouse_settings):
    bad = clickhouse_settings.replace(reader_password="wrong")
    with pytest.raises(ServerException), clickhouse.connect(bad, "reader") as reader:
        reader.execute("SELECT 1")


def test_every_migration_also_runs_on_a_current_clickhouse():
    client = ChdbClient()
    try:
        assert migrations.apply(client, "gmv_chdb") == [m.version for m in migrations.migrations()]
        assert migrations.apply(client, "gmv_chdb") == []
        client.execute(f"INSERT INTO gmv_chdb.orders_per_second ({COLUMNS}) VALUES",
                       [(datetime(2021, 11, 11), 0, 3, 2, 999, 0, 0, 0, 1),
                        (datetime(2021, 11, 11), 0, 3, 2, 999, 0, 0, 0, 2)])
        assert client.execute("SELECT sum(gmv_fen) FROM gmv_chdb.orders_per_second FINAL") == [(999,)]
    finally:
        client.close()
