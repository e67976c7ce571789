"""Apply the numbered ClickHouse migrations in ``schemas/clickhouse/`` idempotently.

Each file ``NNN_name.sql`` holds statements separated by ``;`` at the end of a
line; ``${database}`` stands for the rollup database, so tests can give each
test a database of its own. Applied versions are recorded in
``<database>.schema_migrations``; every statement is also ``IF NOT EXISTS``, but for
``ALTER TABLE ... ADD COLUMN`` (18.16 has no ``IF NOT EXISTS`` there): such a statement is
skipped when its column exists, so a migration cut short can be applied again.

With replicas (GMV_CLICKHOUSE_REPLICAS >= 2) every ``ReplacingMergeTree(v)`` table is created as
``ReplicatedReplacingMergeTree('/clickhouse/tables/<database>/<table>', '{replica}', v)`` (the
replica's name comes from its config's macros) on each replica, by :func:`apply_replicated`;
``schema_migrations`` stays a table of each replica's own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from stream.errors import GmvError
from stream.probes import wait_for
from stream.settings import SCHEMAS_DIR

MIGRATIONS_DIR = SCHEMAS_DIR / "clickhouse"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_ADD_COLUMN = re.compile(r"^ALTER TABLE (\w+)\.(\w+) ADD COLUMN (\w+) ", re.IGNORECASE)
_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)", re.IGNORECASE)
_REPLACING = re.compile(r"ENGINE = ReplacingMergeTree\((\w+)\)")
# An ALTER of a replicated table reaches the other replicas through ZooKeeper within this.
ALTER_REPLICATION_TIMEOUT_S = 60.0


def replicated(statement: str) -> str:
    """``statement`` with a ReplacingMergeTree table made a replicated one (others unchanged)."""
    match = _CREATE.match(statement)
    if not match:
        return statement
    database, table = match.groups()
    return _REPLACING.sub(
        lambda m: f"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{database}/{table}', "
                  f"'{{replica}}', {m.group(1)})", statement)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self, database: str, replicas: bool = False) -> list[str]:
        text = Template(self.path.read_text()).substitute(database=database)
        text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        found = [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]
        return [replicated(s) for s in found] if replicas else found


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
    done = _applied(client, database)
    applied = []
    for migration in migrations(directory):
        if migration.version in done:
            continue
        for statement in migration.statements(database):
            if not _column_exists(client, statement):
                client.execute(statement)
        _record(client, database, migration)
        applied.append(migration.version)
    return applied


def apply_replicated(clients: list, database: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the migrations to every replica (one client each) in step, creating replicated tables;
    return the versions applied to any of them.

    Each CREATE runs on every replica that lacks the migration, before the next statement, so each
    replica's table joins the others' with the same columns. An ALTER runs once (ZooKeeper carries
    it to the other replicas) and the next statement waits until every replica has the column.
    """
    done = [_applied(client, database) for client in clients]
    applied = []
    for migration in migrations(directory):
        behind = [client for client, versions in zip(clients, done) if migration.version not in versions]
        if not behind:
            continue
        for statement in migration.statements(database, replicas=True):
            if not _ADD_COLUMN.match(statement):
                for client in behind:
                    client.execute(statement)
                continue
            if not any(_column_exists(client, statement) for client in clients):
                behind[0].execute(statement)
            if not wait_for(lambda: all(_column_exists(c, statement) for c in clients),  # noqa: B023
                            ALTER_REPLICATION_TIMEOUT_S):
                raise GmvError(f"migration {migration.path.name}: a replica did not receive "
                               f"{statement[:80]!r} within {ALTER_REPLICATION_TIMEOUT_S:.0f} s; is ZooKeeper up?")
        for client in behind:
            _record(client, database, migration)
        applied.append(migration.version)
    return applied


def _applied(client, database: str) -> set[int]:
    """Versions recorded in ``database`` (created with its ``schema_migrations`` table if new)."""
    client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    return {row[0] for row in client.execute(f"SELECT version FROM {database}.schema_migrations")}


def _record(client, database: str, migration: Migration) -> None:
    client.execute(
        f"INSERT INTO {database}.schema_migrations (version, name, applied_at) VALUES",
        [(migration.version, migration.name, datetime.now(timezone.utc).replace(tzinfo=None))],
    )


def _column_exists(client, statement: str) -> bool:
    """Whether ``statement`` adds a column (``ALTER TABLE db.t ADD COLUMN c ...``) that exists."""
    match = _ADD_COLUMN.match(statement)
    if not match:
        return False
    database, table, column = match.groups()  # \w+ each: safe to put into the SQL text
    rows = client.execute(f"SELECT count() FROM system.columns "
                          f"WHERE database = '{database}' AND table = '{table}' AND name = '{column}'")
    return bool(rows and int(rows[0][0]))
