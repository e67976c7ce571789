"""ClickHouse connections (clickhouse-driver, native protocol) for each role.

``admin`` runs migrations, ``writer`` writes rollups and alert history, ``reader``
is the dashboard's read-only user.
"""
from __future__ import annotations

from clickhouse_driver import Client

from stream.settings import Settings

ROLES = ("admin", "writer", "reader")


def connect(settings: Settings, role: str = "writer", database: str | None = None, **kwargs) -> Client:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    user, password = {
        "admin": ("default", ""),
        "writer": ("gmv_writer", settings.writer_password),
        "reader": ("gmv_reader", settings.reader_password),
    }[role]
    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=user,
        password=password,
        database=database or "default",
        connect_timeout=3,
        send_receive_timeout=30,
        **kwargs,
    )
