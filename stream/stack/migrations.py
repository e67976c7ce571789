"""Apply the numbered ClickHouse migrations in ``schemas/clickhouse/`` idempotently.

Each file ``NNN_name.sql`` holds statements separated by ``;`` at the end of a
line; ``${database}`` stands for the rollup database, so tests can give each
test a database of its own. Applied versions are recorded in
``<database>.schema_migrations``; every statement is also ``IF NOT EXISTS``, but for
``ALTER TABLE ... ADD COLUMN`` (18.16 has no ``IF NOT EXISTS`` there): such a statement is
skipped when its column exists, so a migration cut short can be applied again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from stream.settings import SCHEMAS_DIR

MIGRATIONS_DIR = SCHEMAS_DIR / "clickhouse"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_ADD_COLUMN = re.compile(r"^ALTER TABLE (\w+)\.(\w+) ADD COLUMN (\w+) ", re.IGNORECASE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self, database: str) -> list[str]:
        text = Template(self.path.read_text()).substitute(database=database)
        text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path.name} is not named NNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a number in {directory}")
    return found


def apply(client, database: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the migrations not yet recorded in ``database``; return the versions applied.

    ``client`` is anything with clickhouse-driver's ``execute(sql, rows=None)``; ``directory`` is
    another checkout's migrations when a bench runs its job beside this one's.
    """
    client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in client.execute(f"SELECT version FROM {database}.schema_migrations")}
    applied = []
    for migration in migrations(directory):
        if migration.version in done:
            continue
        for statement in migration.statements(database):
            if not _column_exists(client, statement):
                client.execute(statement)
        client.execute(
            f"INSERT INTO {database}.schema_migrations (version, name, applied_at) VALUES",
            [(migration.version, migration.name, datetime.now(timezone.utc).replace(tzinfo=None))],
        )
        applied.append(migration.version)
    return applied


def _column_exists(client, statement: str) -> bool:
    """Whether ``statement`` adds a column (``ALTER TABLE db.t ADD COLUMN c ...``) that exists."""
    match = _ADD_COLUMN.match(statement)
    if not match:
        return False
    database, table, column = match.groups()  # \w+ each: safe to put into the SQL text
    rows = client.execute(f"SELECT count() FROM system.columns "
                          f"WHERE database = '{database}' AND table = '{table}' AND name = '{column}'")
    return bool(rows and int(rows[0][0]))
