"""A current ClickHouse engine (chDB, in-process) behind clickhouse-driver's ``execute``.

Every DDL statement and query must run on Debian's ClickHouse 18.16 (the local stack) and
on a current ClickHouse (the Docker image, production); tests hand this client to the same code
they hand the real one.
"""
from __future__ import annotations

import json
from datetime import date, datetime

from chdb import session
from clickhouse_driver.util.escape import escape_params


def _literal(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"'{value:%Y-%m-%d %H:%M:%S}'"
    if isinstance(value, date):
        return f"'{value:%Y-%m-%d}'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class ChdbClient:
    """``execute(sql, rows=None)`` like clickhouse-driver: rows go after ``INSERT ... VALUES``."""

    def __init__(self) -> None:
        self.session = session.Session()

    def execute(self, sql: str, rows=None):
        if rows is not None:
            sql = sql + " " + ", ".join("(" + ", ".join(map(_literal, r)) + ")" for r in rows)
        result = self.session.query(sql, "JSONCompact")
        text = (result.data() if result is not None else "") or ""
        return [tuple(row) for row in json.loads(text)["data"]] if text.strip() else []

    def close(self) -> None:
        self.session.close()


class ChdbRun:
    """``run(sql, params, tier)`` on chDB, with the parameters bound exactly as clickhouse-driver
    binds them (its own escaping), so the same SQL text is tested on both engines."""

    class _Context:  # the part of clickhouse-driver's connection context that escaping reads
        class server_info:
            @staticmethod
            def get_timezone():
                return "UTC"

    def __init__(self, client: ChdbClient) -> None:
        self.client = client

    def __call__(self, sql, params=None, tier=None):
        return self.client.execute(sql % escape_params(params, self._Context()) if params else sql)
