"""Apache ZooKeeper, which coordinates the ClickHouse replicas (GMV_CLICKHOUSE_REPLICAS >= 2).

Each node is ``java -cp 'jars/zookeeper/*' org.apache.zookeeper.server.quorum.QuorumPeerMain
zoo.cfg`` with a config written from ``infra/zookeeper/`` into the state folder: one node by
default (standalone), GMV_ZOOKEEPER_NODES of them (parts zookeeper, zookeeper-2, ...) as one
quorum. Health is the ``srvr`` four-letter word: a node that answers it with its mode serves
clients.
"""
from __future__ import annotations

import socket
from pathlib import Path
from string import Template

from stream.errors import GmvError
from stream.probes import wait_for
from stream.settings import INFRA_DIR, Settings
from stream.stack import jars
from stream.stack.processes import Part

ZOOKEEPER_HEAP = ["-Xms64m", "-Xmx256m"]
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def node_name(node: int) -> str:
    """Part name of local node ``node`` (0-based): zookeeper, zookeeper-2, zookeeper-3, ..."""
    return "zookeeper" if node == 0 else f"zookeeper-{node + 1}"


def four_letter_word(port: int, word: str, host: str = "127.0.0.1", timeout: float = 1.0) -> str:
    """A four-letter command's answer (``ruok`` -> ``imok``; ``srvr`` -> version, mode, counts)."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(word.encode())
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def mode(port: int, host: str = "127.0.0.1") -> str | None:
    """standalone, leader or follower when the node serves clients; None when it does not (yet)."""
    try:
        answer = four_letter_word(port, "srvr", host)
    except OSError:
        return None
    found = [line.split(":", 1)[1].strip() for line in answer.splitlines() if line.startswith("Mode:")]
    return found[0] if found else None


def serving(settings: Settings) -> bool:
    """Whether every local node serves clients (a quorum has formed)."""
    return all(mode(settings.zookeeper_node_ports(n)[0]) for n in range(settings.zookeeper_nodes))


def zoo_cfg(settings: Settings, node: int, data_dir: Path) -> str:
    """The config of one node; with several nodes each lists the whole quorum."""
    servers = ""
    if settings.zookeeper_nodes > 1:
        servers = "\n".join(f"server.{n + 1}=127.0.0.1:{settings.zookeeper_node_ports(n)[1]}:"
                            f"{settings.zookeeper_node_ports(n)[2]}" for n in range(settings.zookeeper_nodes))
    template = Template((INFRA_DIR / "zookeeper" / "zoo.cfg").read_text())
    return template.substitute(data_dir=data_dir, client_port=settings.zookeeper_node_ports(node)[0],
                               servers=servers)


def _config_path(settings: Settings, node: int) -> Path:
    return settings.home / node_name(node) / "zoo.cfg"


def _prepare(settings: Settings, node: int) -> None:
    jars.classpath(settings, "zookeeper")  # missing jars: one line naming `make setup`
    data_dir = settings.data_dir / node_name(node)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "myid").write_text(f"{node + 1}\n")
    config = _config_path(settings, node)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(zoo_cfg(settings, node, data_dir))


def _command(settings: Settings, node: int) -> list[str]:
    from stream.stack.servers import java_binary

    classpath = ":".join(map(str, jars.classpath(settings, "zookeeper")))
    return [java_binary(), *ZOOKEEPER_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlogback.configurationFile={INFRA_DIR / 'zookeeper' / 'logback.xml'}",
            "-cp", classpath, MAIN_CLASS, str(_config_path(settings, node))]


def _healthy(settings: Settings, node: int) -> bool:
    port = settings.zookeeper_node_ports(node)[0]
    if settings.zookeeper_nodes == 1:
        return mode(port) is not None
    # A node of a quorum serves only once a majority is up, which needs the next nodes started
    # too: its answering `ruok` is its health. The last node waits for the quorum (_after_start).
    try:
        return four_letter_word(port, "ruok") == "imok"
    except OSError:
        return False


def _after_start(settings: Settings, node: int) -> None:
    if node != settings.zookeeper_nodes - 1:
        return
    if not wait_for(lambda: serving(settings), settings.start_timeout):
        raise GmvError(f"zookeeper: the {settings.zookeeper_nodes} nodes did not form a quorum within "
                       f"{settings.start_timeout:.0f} s; read {settings.log_dir}/zookeeper*.log for the cause.")


def zookeeper_node(node: int) -> Part:
    """Local node ``node`` (0-based) of the GMV_ZOOKEEPER_NODES that gmv up runs beside replicas."""
    return Part(
        name=node_name(node),
        ports=lambda s: dict(zip((f"GMV_ZOOKEEPER_PORT (+{3 * node})" if node else "GMV_ZOOKEEPER_PORT",),
                                 s.zookeeper_node_ports(node)[:1])),
        prepare=lambda s: _prepare(s, node),
        command=lambda s: _command(s, node),
        healthy=lambda s: _healthy(s, node),
        after_start=lambda s: _after_start(s, node),
        url=lambda s: f"zookeeper://127.0.0.1:{s.zookeeper_node_ports(node)[0]}",
    )


ZOOKEEPER = zookeeper_node(0)
