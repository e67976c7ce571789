"""ClickHouse connections (clickhouse-driver, native protocol) for each role.

``admin`` runs migrations, ``writer`` writes rollups and alert history, ``reader``
is the dashboard's read-only user. With GMV_CLICKHOUSE_REPLICAS >= 2 a connection lists every
replica (clickhouse-driver's ``alt_hosts``): it connects to the first that answers, so a client
that lost its replica reconnects to another one.
"""
from __future__ import annotations

from dataclasses import dataclass

from clickhouse_driver import Client

from stream.settings import Settings

ROLES = ("admin", "writer", "reader")
# Seconds to wait for a replica's TCP connection before trying the next one: long enough for a
# busy local server, short enough that a dead replica costs a poll well under a second.
REPLICA_CONNECT_TIMEOUT_S = 0.5


def _credentials(settings: Settings, role: str) -> tuple[str, str]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    return {
        "admin": ("default", ""),
        "writer": ("gmv_writer", settings.writer_password),
        "reader": ("gmv_reader", settings.reader_password),
    }[role]


def replica_addresses(settings: Settings) -> list[tuple[str, int]]:
    """(host, native port) of every replica, the first one first: a cluster's hosts listed in
    GMV_CLICKHOUSE_HOST, or the local replicas (ports one apart)."""
    hosts = settings.clickhouse_hosts
    if len(hosts) > 1:
        return [(host, settings.clickhouse_port) for host in hosts]
    return [(hosts[0], settings.clickhouse_replica_ports(r)[0]) for r in range(settings.clickhouse_replicas)]


def connect(settings: Settings, role: str = "writer", database: str | None = None, **kwargs) -> Client:
    """A client of the server, or of the first replica that answers when there are several."""
    user, password = _credentials(settings, role)
    (host, port), *others = replica_addresses(settings)
    if others:
        kwargs.setdefault("alt_hosts", ",".join(f"{h}:{p}" for h, p in others))
        kwargs.setdefault("connect_timeout", REPLICA_CONNECT_TIMEOUT_S)
    kwargs.setdefault("connect_timeout", 3)
    return Client(host=host, port=port, user=user, password=password, database=database or "default",
                  send_receive_timeout=30, **kwargs)


def connect_replica(settings: Settings, replica: int, role: str = "writer", check: bool = False) -> Client:
    """A client of one replica only (migrations, `gmv status`); ``check`` connects now, so a
    replica that is down raises here."""
    user, password = _credentials(settings, role)
    host, port = replica_addresses(settings)[replica]
    client = Client(host=host, port=port, user=user, password=password, connect_timeout=3,
                    send_receive_timeout=30)
    if check:
        client.execute("SELECT 1")
    return client


@dataclass(frozen=True)
class ReplicaState:
    """How one replica's replicated tables stand (system.replicas)."""

    tables: int
    readonly: int  # tables that take no writes: ZooKeeper unreachable, or the session lost
    lag_s: int  # the largest absolute_delay: how far its newest part is behind the other replica's
    queue: int  # fetches and merges still to do

    def text(self) -> str:
        if not self.tables:
            return "no replicated tables"
        if self.readonly:
            state = f"READ-ONLY {self.readonly} of {self.tables} tables (is ZooKeeper up?)"
        elif self.lag_s or self.queue:
            state = "catching up"
        else:
            state = "in sync"
        return f"{state}, lag {self.lag_s} s, queue {self.queue} ({self.tables} tables)"


def replica_state(client, databases: tuple[str, ...]) -> ReplicaState:
    """The replication state of the replica ``client`` is connected to, over ``databases``."""
    tables, readonly, lag, queue = client.execute(
        "SELECT count(), countIf(is_readonly), max(absolute_delay), sum(queue_size) FROM system.replicas "
        "WHERE has(%(databases)s, database)", {"databases": list(databases)})[0]
    return ReplicaState(int(tables), int(readonly), int(lag or 0), int(queue or 0))
