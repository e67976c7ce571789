"""Helpers for tests that start their own servers (imported by name; conftest modules clash)."""
from __future__ import annotations

import uuid
from pathlib import Path

from stream import services
from stream.settings import PROJECT_ROOT, Settings, load

SHARED_JARS = PROJECT_ROOT / "var" / "jars"


def distinct_free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(services.free_port())
    return sorted(ports)


def fresh_settings(home: Path) -> Settings:
    """Settings for a private stack under ``home``: free ports, the shared jar cache, no env."""
    k, kc, ch, chh, dash, flink = distinct_free_ports(6)
    return load(
        env={},
        home=home,
        jars_dir=SHARED_JARS,
        kafka_port=k,
        kafka_controller_port=kc,
        clickhouse_port=ch,
        clickhouse_http_port=chh,
        dashboard_port=dash,
        flink_port=flink,
        start_timeout=120.0,
    )


def unique_suffix() -> str:
    return uuid.uuid4().hex[:10]
