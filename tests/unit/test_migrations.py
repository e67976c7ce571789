from pathlib import Path

import pytest

from stream.stack import migrations


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
