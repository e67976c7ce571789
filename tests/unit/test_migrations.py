from pathlib import Path

import pytest

from stream.stack import migrations
from tests.support.chdb_engine import ChdbClient


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
                                 "AND table = 'orders_per_minute_cube' AND name = 'deposits_paid'")
        assert columns == [("deposits_paid",)]
    finally:
        client.close()
