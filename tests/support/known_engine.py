"""The dashboard's reads on one engine with known rows in: chDB (in-process, a database of its own)
or Debian's ClickHouse 18.16 (the session server, read as ``gmv_reader``)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from dashboard.db import Database
from stream.stack import clickhouse, migrations
from tests.support import synthetic
from tests.support.chdb_engine import ChdbClient, ChdbRun


@contextmanager
def known_engine(request, rows: dict) -> Iterator[tuple]:
    """``(run, database, writer)`` on the engine ``request.param`` names ('chdb' or
    'clickhouse-18.16'), migrations applied and ``rows`` ({table: (columns, rows)}) inserted. The
    run is uncached, on the reader's pooled connections: tests may change rows between reads."""
    if request.param == "chdb":
        client = ChdbClient()
        db = f"dash_{uuid.uuid4().hex[:8]}"
        migrations.apply(client, db)
        synthetic.insert_rows(client, db, rows)
        try:
            yield ChdbRun(client), db, client
        finally:
            client.close()
        return
    settings = request.getfixturevalue("clickhouse_settings")
    db = settings.clickhouse_database
    with clickhouse.connect(settings, "writer") as writer:
        synthetic.insert_rows(writer, db, rows)
        database = Database(settings)
        try:
            yield (lambda sql, params=None, tier=None: database.run(sql, params)), db, writer
        finally:
            database.close()
