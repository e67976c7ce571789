"""The infrastructure servers of the local stack and what each needs to run (the application
parts and the registry of every part are in :mod:`stream.registry`).

Kafka: KRaft brokers, ``java -cp 'jars/kafka/*' kafka.Kafka``: one by default, GMV_KAFKA_BROKERS
of them (parts kafka, kafka-2, ...) each also a voter of the controller quorum.
ClickHouse: the system's ``clickhouse-server`` with a config written from
``infra/clickhouse/`` into the state folder: one server, or GMV_CLICKHOUSE_REPLICAS replicas
(parts clickhouse, clickhouse-2, ...) of replicated tables coordinated by ZooKeeper
(:mod:`stream.stack.zookeeper`).
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path
from string import Template

from stream.errors import GmvError
from stream.probes import wait_for
from stream.settings import INFRA_DIR, Settings
from stream.stack import jars
from stream.stack.processes import Part

# -- Kafka -------------------------------------------------------------------------------

KAFKA_HEAP = ["-Xms256m", "-Xmx768m"]


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    if candidate and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise GmvError(
            "java is not on PATH; install Java 17 (apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME, then run again."
        )
    return found


def _broker_name(broker: int) -> str:
    """Part name of local broker ``broker`` (0-based): kafka, kafka-2, kafka-3, ..."""
    return "kafka" if broker == 0 else f"kafka-{broker + 1}"


def _kafka_dir(settings: Settings, broker: int = 0) -> Path:
    return settings.home / _broker_name(broker)


def _cluster_id(settings: Settings) -> str:
    """The KRaft cluster id every local broker formats its storage with (made once, kept)."""
    path = settings.home / "kafka" / "cluster.id"
    first = settings.data_dir / "kafka" / "meta.properties"  # a first broker formatted before this file existed
    if not path.exists() and first.exists():
        found = [line.split("=", 1)[1] for line in first.read_text().splitlines() if line.startswith("cluster.id=")]
        if found:
            path.write_text(found[0].strip())
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
    return path.read_text().strip()


def _kafka_prepare(settings: Settings, broker: int) -> None:
    java = java_binary()
    classpath = jars.classpath(settings, "kafka")
    config_dir = _kafka_dir(settings, broker)
    data_dir = settings.data_dir / _broker_name(broker)
    config_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = settings.kafka_broker_ports(broker)
    voters = ",".join(f"{b + 1}@127.0.0.1:{settings.kafka_broker_ports(b)[1]}" for b in range(settings.kafka_brokers))
    template = Template((INFRA_DIR / "kafka" / "server.properties").read_text())
    (config_dir / "server.properties").write_text(
        template.substitute(
            node_id=broker + 1,
            voters=voters,
            host=settings.kafka_host,
            port=port,
            controller_port=controller_port,
            data_dir=data_dir,
            partitions=settings.kafka_partitions,
            replication=settings.kafka_replicas,
            min_isr=settings.kafka_min_insync,
        )
    )
    if (data_dir / "meta.properties").exists():
        return
    # First start: format the KRaft storage with the cluster's id. It is passed as --cluster-id=ID
    # because a base64 id can start with "-", which the tool's parser would take for an option.
    result = subprocess.run(
        [java, "-cp", ":".join(map(str, classpath)), "kafka.tools.StorageTool", "format",
         f"--cluster-id={_cluster_id(settings)}", "-c", str(config_dir / "server.properties")],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise GmvError(f"{_broker_name(broker)}: formatting storage in {data_dir} failed: "
                       f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")


def _kafka_command(settings: Settings, broker: int) -> list[str]:
    classpath = ":".join(map(str, jars.classpath(settings, "kafka")))
    return [
        java_binary(), *KAFKA_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={INFRA_DIR / 'kafka' / 'log4j2.yaml'}",
        "-cp", classpath, "kafka.Kafka", str(_kafka_dir(settings, broker) / "server.properties"),
    ]


def _kafka_healthy(settings: Settings, broker: int) -> bool:
    from stream.probes import port_answers
    from stream.stack.kafka_admin import cluster_ready

    if settings.kafka_brokers == 1:
        return cluster_ready(settings)
    # One broker of several serves clients only once a quorum of controllers has a leader, which
    # needs the next brokers up too: its own controller answering is its health. The last broker
    # waits for the whole cluster (see _kafka_after_start).
    return port_answers(settings.kafka_broker_ports(broker)[1])


def _kafka_after_start(settings: Settings, broker: int) -> None:
    from stream.stack.kafka_admin import create_topics, whole_cluster_ready

    if broker != settings.kafka_brokers - 1:
        return
    if settings.kafka_brokers > 1 and not wait_for(lambda: whole_cluster_ready(settings), settings.start_timeout):
        raise GmvError(f"kafka: the {settings.kafka_brokers} brokers did not form a cluster within "
                       f"{settings.start_timeout:.0f} s; read {settings.log_dir}/kafka*.log for the cause.")
    create_topics(settings)


def kafka_broker(broker: int) -> Part:
    """Local broker ``broker`` (0-based) of the GMV_KAFKA_BROKERS that gmv up runs."""
    return Part(
        name=_broker_name(broker),
        # setting to change -> port (a later broker's ports follow from the first one's)
        ports=lambda s: dict(zip((f"GMV_KAFKA_PORT (+{2 * broker})", f"GMV_KAFKA_CONTROLLER_PORT (+{2 * broker})")
                                 if broker else ("GMV_KAFKA_PORT", "GMV_KAFKA_CONTROLLER_PORT"),
                                 s.kafka_broker_ports(broker))),
        prepare=lambda s: _kafka_prepare(s, broker),
        command=lambda s: _kafka_command(s, broker),
        healthy=lambda s: _kafka_healthy(s, broker),
        after_start=lambda s: _kafka_after_start(s, broker),
        url=lambda s: f"kafka://{s.kafka_host}:{s.kafka_broker_ports(broker)[0]}",
    )


KAFKA = kafka_broker(0)


# -- ClickHouse ----------------------------------------------------------------------------


def clickhouse_command_prefix() -> list[str]:
    """The server binary: Debian's ``clickhouse-server``, or the single ``clickhouse`` binary."""
    for name in ("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"):
        found = shutil.which(name)
        if found:
            return [found]
    single = shutil.which("clickhouse")
    if single:
        return [single, "server"]
    raise GmvError(
        "no ClickHouse server binary found (clickhouse-server or clickhouse); run `make setup`, "
        "which installs Debian's clickhouse-server."
    )


def replica_name(replica: int) -> str:
    """Part name of local ClickHouse replica ``replica`` (0-based): clickhouse, clickhouse-2, ..."""
    return "clickhouse" if replica == 0 else f"clickhouse-{replica + 1}"


def _clickhouse_dir(settings: Settings, replica: int = 0) -> Path:
    return settings.home / replica_name(replica)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def replication_config(settings: Settings, replica: int) -> str:
    """The part of a replica's config.xml that makes it one of GMV_CLICKHOUSE_REPLICAS: empty
    for a single server."""
    if not settings.replicated:
        return ""
    zookeeper = "\n".join(f"        <node><host>{host}</host><port>{port}</port></node>"
                          for host, port in settings.zookeeper_hosts)
    cluster = "\n".join(f"                <replica><host>{settings.clickhouse_host}</host>"
                        f"<port>{settings.clickhouse_replica_ports(r)[0]}</port></replica>"
                        for r in range(settings.clickhouse_replicas))
    template = Template((INFRA_DIR / "clickhouse" / "replication.xml").read_text())
    return template.substitute(interserver_port=settings.clickhouse_replica_ports(replica)[2],
                               replica_name=replica_name(replica), zookeeper_nodes=zookeeper,
                               cluster_replicas=cluster)


def _clickhouse_prepare(settings: Settings, replica: int) -> None:
    clickhouse_command_prefix()
    config_dir = _clickhouse_dir(settings, replica)
    data_dir = settings.data_dir / replica_name(replica)
    for folder in (config_dir, data_dir / "tmp", data_dir / "user_files", data_dir / "format_schemas"):
        folder.mkdir(parents=True, exist_ok=True)
    tcp_port, http_port, _ = settings.clickhouse_replica_ports(replica)
    values = {
        "log_dir": settings.log_dir,
        "log_name": f"{replica_name(replica)}-server",
        "data_dir": data_dir,
        "tcp_port": tcp_port,
        "http_port": http_port,
        "replication": replication_config(settings, replica),
        "writer_sha256": _sha256(settings.writer_password),
        "reader_sha256": _sha256(settings.reader_password),
    }
    for name in ("config.xml", "users.xml"):
        template = Template((INFRA_DIR / "clickhouse" / name).read_text())
        (config_dir / name).write_text(template.substitute(values))
        (config_dir / name).chmod(0o600)  # users.xml holds password hashes


def _clickhouse_command(settings: Settings, replica: int) -> list[str]:
    return [*clickhouse_command_prefix(), f"--config-file={_clickhouse_dir(settings, replica) / 'config.xml'}"]


def _clickhouse_healthy(settings: Settings, replica: int) -> bool:
    url = f"http://{settings.clickhouse_host}:{settings.clickhouse_replica_ports(replica)[1]}/ping"
    with urllib.request.urlopen(url, timeout=1) as response:
        return response.read().strip() == b"Ok."


def _answers_ping(settings: Settings, replica: int) -> bool:
    try:
        return _clickhouse_healthy(settings, replica)
    except OSError:
        return False


def _clickhouse_after_start(settings: Settings, replica: int) -> None:
    from stream.stack import clickhouse, migrations

    if not settings.replicated:
        with clickhouse.connect(settings, "writer") as client:
            migrations.apply(client, settings.clickhouse_database)
            migrations.apply(client, settings.history_database)  # last year's rollups, read by the wall and alerts
        return
    # Replicas migrate together, statement by statement (see migrations.apply_replicated): the last
    # one to start does it, or any one that starts again while every replica answers.
    last = replica == settings.clickhouse_replicas - 1
    clients = []
    try:
        for r in range(settings.clickhouse_replicas):
            if r != replica and not _answers_ping(settings, r):  # down (killed, restarting): not migrated now
                if not last:
                    return  # the last replica's start migrates them all
                continue
            clients.append(clickhouse.connect_replica(settings, r, "writer", check=True))
        for database in (settings.clickhouse_database, settings.history_database):
            migrations.apply_replicated(clients, database)
    finally:
        for client in clients:
            client.disconnect()


def clickhouse_replica(replica: int) -> Part:
    """Local ClickHouse server ``replica`` (0-based) of the GMV_CLICKHOUSE_REPLICAS gmv up runs."""
    names: tuple[str, ...] = ("GMV_CLICKHOUSE_PORT", "GMV_CLICKHOUSE_HTTP_PORT")
    if replica:
        names = tuple(f"{name} (+{replica})" for name in names)
    return Part(
        name=replica_name(replica),
        ports=lambda s: dict(zip(names, s.clickhouse_replica_ports(replica)[:2])),
        prepare=lambda s: _clickhouse_prepare(s, replica),
        command=lambda s: _clickhouse_command(s, replica),
        healthy=lambda s: _clickhouse_healthy(s, replica),
        after_start=lambda s: _clickhouse_after_start(s, replica),
        url=lambda s: (f"clickhouse://{s.clickhouse_host}:{s.clickhouse_replica_ports(replica)[0]} "
                       f"(HTTP {s.clickhouse_replica_ports(replica)[1]})"),
    )


CLICKHOUSE = clickhouse_replica(0)
