"""Start ZooKeeper for a test on free ports (the same parts `gmv up` runs), and a real client:
ZooKeeper's own command-line client from the same jars."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from stream import probes
from stream.settings import Settings
from stream.stack import jars
from stream.stack.servers import java_binary
from stream.stack.zookeeper import zookeeper_node
from tests.support.stack import running


def free_zookeeper_port(nodes: int) -> int:
    """A port p with p .. p + 3 * nodes - 1 free (a node's three ports follow the first node's)."""
    while True:
        port = probes.free_port()
        if port + 3 * nodes < 65535 and not any(probes.port_in_use(port + i) for i in range(3 * nodes)):
            return port


@contextmanager
def running_zookeeper(settings: Settings, nodes: int = 1) -> Iterator[Settings]:
    """ZooKeeper with ``nodes`` nodes on free ports for the block; yields the settings naming it."""
    settings = settings.replace(zookeeper_nodes=nodes, zookeeper_port=free_zookeeper_port(nodes))
    with running([zookeeper_node(n) for n in range(nodes)], settings):
        yield settings


def zk_cli(settings: Settings, node: int, *command: str) -> str:
    """Run one command of ZooKeeper's client (``create /a x``, ``get /a``) against ``node``; its output."""
    classpath = ":".join(map(str, jars.classpath(settings, "zookeeper")))
    port = settings.zookeeper_node_ports(node)[0]
    result = subprocess.run([java_binary(), "-cp", classpath, "org.apache.zookeeper.ZooKeeperMain",
                             "-server", f"127.0.0.1:{port}", *command],
                            capture_output=True, text=True, timeout=60, check=False)
    return result.stdout + result.stderr


def free_run(n: int, step: int = 1) -> int:
    """A port p with p, p + step, ... p + step * (n - 1) all free."""
    while True:
        port = probes.free_port()
        if port + step * n < 65535 and not any(probes.port_in_use(port + step * i) for i in range(n)):
            return port


def replicated_settings(settings: Settings, replicas: int = 2, nodes: int = 1) -> Settings:
    """``settings`` with ``replicas`` ClickHouse replicas and ``nodes`` ZooKeeper nodes on free ports."""
    tcp, http, interserver = distinct_runs(3, replicas)
    return settings.replace(clickhouse_replicas=replicas, clickhouse_port=tcp, clickhouse_http_port=http,
                            clickhouse_interserver_port=interserver, zookeeper_nodes=nodes,
                            zookeeper_port=free_zookeeper_port(nodes))


def distinct_runs(count: int, n: int) -> list[int]:
    """``count`` free port runs of ``n`` ports each that do not overlap."""
    runs: list[int] = []
    while len(runs) < count:
        port = free_run(n)
        if all(abs(port - other) >= n for other in runs):
            runs.append(port)
    return runs


def replicated_parts(settings: Settings) -> list:
    """ZooKeeper's nodes and the ClickHouse replicas, in start order."""
    from stream.stack.servers import clickhouse_replica

    return ([zookeeper_node(n) for n in range(settings.zookeeper_nodes)]
            + [clickhouse_replica(r) for r in range(settings.clickhouse_replicas)])
