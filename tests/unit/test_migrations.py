from pathlib import Path

import pytest

from stream.contract import ROLLUPS
from stream.stack import clickhouse, migrations
from tests.support.chdb_engine import ChdbClient
from tests.support.stack import unique_suffix


def test_migrations_are_numbered_and_unique():
    found = migrations.migrations()
    assert found, "schemas/clickhouse holds no migration"
    assert [m.version for m in found] == sorted({m.version for m in found})
    assert found[0].version == 1


def test_statements_substitute_the_database_and_drop_comments():
    for migration in migrations.migrations():
        statements = migration.statements("some_db")
        assert statements
        for sql in statements:
            assert "${" not in sql and "some_db." in sql
            assert not sql.rstrip().endswith(";")


def test_a_badly_named_file_is_refused(tmp_path: Path):
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"NNN_name\.sql"):
        migrations.migrations(tmp_path)


def test_ddl_avoids_what_clickhouse_18_16_lacks():
    banned = ["DateTime64", "TTL ", "toStartOfInterval", "WITH FILL", "SimpleAggregateFunction",
              "LowCardinality"]
    for migration in migrations.migrations():
        text = migration.path.read_text()
        for word in banned:
            assert word not in text, f"{migration.path.name} uses {word}"


def test_migrations_cut_short_apply_again():
    """Statements already run are skipped (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS): with
    the record of applied versions lost, every migration applies again without an error."""
    client = ChdbClient()
    try:
        every = [m.version for m in migrations.migrations()]
        assert migrations.apply(client, "cut_short") == every
        client.execute("DROP TABLE cut_short.schema_migrations")
        assert migrations.apply(client, "cut_short") == every
        columns = client.execute("SELECT name FROM system.columns WHERE database = 'cut_short' "
                                 "AND table = 'orders_per_second' AND name = 'deposits_paid'")
        assert columns == [("deposits_paid",)]  # added by 007
        assert _tables(client, "cut_short") >= {r.table for r in ROLLUPS.values()}
        assert not _tables(client, "cut_short") & DROPPED_BY_009
    finally:
        client.close()


# The tables of the per-minute breakdowns (with brand), the pairs and the per-minute cube.
DROPPED_BY_009 = {"orders_per_minute", "orders_per_minute_pair", "orders_per_minute_cube"}


def _tables(client, database: str) -> set[str]:
    return {name for (name,) in client.execute(f"SELECT name FROM system.tables WHERE database = '{database}'")}


def _upgrade_with_rows(client, database: str) -> None:
    """A database as 008 left it, its old tables holding rows: 009 applies, drops them and creates
    the new rollups' tables; the tables it keeps keep their rows."""
    every = migrations.migrations()
    with pytest.MonkeyPatch.context() as patch:  # the migrations up to 008 only, applied by the real code
        patch.setattr(migrations, "migrations", lambda *_: [m for m in every if m.version < 9])
        assert migrations.apply(client, database) == list(range(1, 9))
    for table in (*sorted(DROPPED_BY_009), "orders_per_second"):
        client.execute(f"INSERT INTO {database}.{table} (window_start, gmv_fen, written_ms) VALUES",
                       [(1_636_560_000, 12900, 1), (1_636_560_060, 5000, 1)])
    assert _tables(client, database) >= DROPPED_BY_009
    assert migrations.apply(client, database) == [m.version for m in every if m.version >= 9]  # 009 and later
    assert not _tables(client, database) & DROPPED_BY_009
    assert _tables(client, database) >= {r.table for r in ROLLUPS.values()}
    assert client.execute(f"SELECT count(), sum(gmv_fen) FROM {database}.orders_per_second") == [(2, 17900)]


def test_009_drops_the_old_tables_with_their_rows_on_a_current_clickhouse():
    client = ChdbClient()
    try:
        _upgrade_with_rows(client, "upgrade_009")
    finally:
        client.close()


@pytest.mark.slow
def test_009_drops_the_old_tables_with_their_rows_on_clickhouse_18_16(clickhouse_server):
    database = f"test_{unique_suffix()}"
    with clickhouse.connect(clickhouse_server, "admin") as client:
        try:
            assert client.execute("SELECT version()")[0][0].startswith("18.16")
            _upgrade_with_rows(client, database)
        finally:
            client.execute(f"DROP DATABASE IF EXISTS {database}")


def test_replicated_statements_make_each_replacing_table_a_replicated_one():
    statements = [s for m in migrations.migrations() for s in m.statements("gmv", replicas=True)]
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    assert creates and not any("ENGINE = ReplacingMergeTree" in s for s in creates)
    first = next(s for s in creates if "gmv.orders_per_second" in s)
    assert ("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/gmv/orders_per_second', '{replica}', "
            "written_ms)") in first
    assert [s for s in statements if s.startswith("ALTER")] == [
        s for m in migrations.migrations() for s in m.statements("gmv") if s.startswith("ALTER")]
