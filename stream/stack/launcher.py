"""The parts of the local stack, in start order, and what each needs to run.

Kafka: a single-node KRaft broker, ``java -cp 'jars/kafka/*' kafka.Kafka``.
ClickHouse: the system's ``clickhouse-server`` with a config written from
``infra/clickhouse/`` into the state folder.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from string import Template

from stream import logs
from stream.errors import GmvError
from stream.settings import ENV_VARS, INFRA_DIR, Settings
from stream.stack import jars
from stream.stack.processes import Part


def gmv_command(*args: str) -> list[str]:
    """``gmv ARGS`` as a part's command; a ``--log-level`` other than the default is passed on."""
    return [sys.executable, "-m", "stream.cli", *logs.passed_on(), *args]


def _gmv_part(name: str, args: tuple[str, ...], healthy: Callable[[Settings], bool],
              url: Callable[[Settings], str], port: str = "", **extra) -> Part:
    """A part that runs ``gmv ARGS``, listening on the port of the setting ``port`` if it has one."""
    env_name = {field: env for env, (field, _) in ENV_VARS.items()}.get(port, "")
    return Part(name=name, ports=lambda s: {env_name: getattr(s, port)} if port else {},
                command=lambda s: gmv_command(*args), healthy=healthy, url=url, **extra)


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


def _kafka_dir(settings: Settings) -> Path:
    return settings.home / "kafka"


def _kafka_prepare(settings: Settings) -> None:
    java = java_binary()
    classpath = jars.classpath(settings, "kafka")
    config_dir = _kafka_dir(settings)
    data_dir = settings.data_dir / "kafka"
    config_dir.mkdir(parents=True, exist_ok=True)
    template = Template((INFRA_DIR / "kafka" / "server.properties").read_text())
    (config_dir / "server.properties").write_text(
        template.substitute(
            host=settings.kafka_host,
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            data_dir=data_dir,
            partitions=settings.kafka_partitions,
        )
    )
    if (data_dir / "meta.properties").exists():
        return
    # First start: format the KRaft storage with a new cluster id. It is passed as --cluster-id=ID
    # because a base64 id can start with "-", which the tool's parser would take for an option.
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    result = subprocess.run(
        [java, "-cp", ":".join(map(str, classpath)), "kafka.tools.StorageTool", "format",
         f"--cluster-id={cluster_id}", "-c", str(config_dir / "server.properties")],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise GmvError(f"kafka: formatting storage in {data_dir} failed: "
                       f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")


def _kafka_command(settings: Settings) -> list[str]:
    classpath = ":".join(map(str, jars.classpath(settings, "kafka")))
    return [
        java_binary(), *KAFKA_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={INFRA_DIR / 'kafka' / 'log4j2.yaml'}",
        "-cp", classpath, "kafka.Kafka", str(_kafka_dir(settings) / "server.properties"),
    ]


def _kafka_healthy(settings: Settings) -> bool:
    from stream.stack.kafka_admin import cluster_ready

    return cluster_ready(settings)


def _kafka_after_start(settings: Settings) -> None:
    from stream.stack.kafka_admin import create_topics

    create_topics(settings)


KAFKA = Part(
    name="kafka",
    ports=lambda s: {"GMV_KAFKA_PORT": s.kafka_port, "GMV_KAFKA_CONTROLLER_PORT": s.kafka_controller_port},
    prepare=_kafka_prepare,
    command=_kafka_command,
    healthy=_kafka_healthy,
    after_start=_kafka_after_start,
    url=lambda s: f"kafka://{s.kafka_bootstrap}",
)

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


def _clickhouse_dir(settings: Settings) -> Path:
    return settings.home / "clickhouse"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _clickhouse_prepare(settings: Settings) -> None:
    clickhouse_command_prefix()
    config_dir = _clickhouse_dir(settings)
    data_dir = settings.data_dir / "clickhouse"
    for folder in (config_dir, data_dir / "tmp", data_dir / "user_files", data_dir / "format_schemas"):
        folder.mkdir(parents=True, exist_ok=True)
    values = {
        "log_dir": settings.log_dir,
        "data_dir": data_dir,
        "tcp_port": settings.clickhouse_port,
        "http_port": settings.clickhouse_http_port,
        "writer_sha256": _sha256(settings.writer_password),
        "reader_sha256": _sha256(settings.reader_password),
    }
    for name in ("config.xml", "users.xml"):
        template = Template((INFRA_DIR / "clickhouse" / name).read_text())
        (config_dir / name).write_text(template.substitute(values))
        (config_dir / name).chmod(0o600)  # users.xml holds password hashes


def _clickhouse_command(settings: Settings) -> list[str]:
    return [*clickhouse_command_prefix(), f"--config-file={_clickhouse_dir(settings) / 'config.xml'}"]


def _clickhouse_healthy(settings: Settings) -> bool:
    url = f"http://{settings.clickhouse_host}:{settings.clickhouse_http_port}/ping"
    with urllib.request.urlopen(url, timeout=1) as response:
        return response.read().strip() == b"Ok."


def _clickhouse_after_start(settings: Settings) -> None:
    from stream.stack import clickhouse, migrations

    with clickhouse.connect(settings, "writer") as client:
        migrations.apply(client, settings.clickhouse_database)


CLICKHOUSE = Part(
    name="clickhouse",
    ports=lambda s: {"GMV_CLICKHOUSE_PORT": s.clickhouse_port,
                     "GMV_CLICKHOUSE_HTTP_PORT": s.clickhouse_http_port},
    prepare=_clickhouse_prepare,
    command=_clickhouse_command,
    healthy=_clickhouse_healthy,
    after_start=_clickhouse_after_start,
    url=lambda s: f"clickhouse://{s.clickhouse_host}:{s.clickhouse_port} (HTTP {s.clickhouse_http_port})",
)

# -- the Flink job (embedded local cluster) and its rollup loader ----------------------------


def _job_healthy(settings: Settings) -> bool:
    from stream.job.runner import JOB_NAME, running_jobs

    return any(j.get("name") == JOB_NAME for j in running_jobs("127.0.0.1", settings.flink_port))


JOB = _gmv_part("job", ("job",), _job_healthy, lambda s: f"http://127.0.0.1:{s.flink_port}/jobs/overview",
                port="flink_port")

# -- Dashboard ------------------------------------------------------------------------------


def _dashboard_prepare(settings: Settings) -> None:
    settings.dashboard_logins()  # a bad GMV_DASHBOARD_USERS_FILE stops `gmv up` with its one-line error


def _dashboard_healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.dashboard_port}/", timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as exc:  # with credentials configured it asks for them: it is up
        return exc.code == 401 and settings.dashboard_login_required


DASHBOARD = _gmv_part("dashboard", ("dashboard",), _dashboard_healthy,
                      lambda s: f"http://127.0.0.1:{s.dashboard_port}/ (wall; /explore, /alerts)",
                      port="dashboard_port", prepare=_dashboard_prepare)

# -- Alerts ---------------------------------------------------------------------------------


def _alerts_prepare(settings: Settings) -> None:
    from stream.alerts import config, service

    config.load(config.config_path())  # a bad rules file stops `gmv up` with its one-line error
    service.heartbeat_path(settings).unlink(missing_ok=True)  # healthy only once this run evaluates


def _alerts_healthy(settings: Settings) -> bool:
    from stream.alerts.service import heartbeat_fresh

    return heartbeat_fresh(settings)


def _alerts_url(settings: Settings) -> str:
    from stream.alerts.config import config_path

    return f"rules {config_path()}, history in {settings.clickhouse_database}.alert_events"


ALERTS = _gmv_part("alerts", ("alerts",), _alerts_healthy, _alerts_url, prepare=_alerts_prepare)

# -- a live simulator, so `make run` shows a moving festival ----------------------------------

LIVE_RATE = 500  # orders per second
LIVE_STATUS_EVERY_S = 60  # its status line into simulator.log once a minute (`gmv simulate`: every 5 s)


def _orders_flowing(settings: Settings) -> bool:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        parts = [TopicPartition(settings.orders_topic, p)
                 for p in consumer.partitions_for_topic(settings.orders_topic) or ()]
        return sum(consumer.end_offsets(parts).values()) > 0
    finally:
        consumer.close()


SIMULATOR = _gmv_part(
    "simulator",
    ("simulate", "--clock", "live", "--rate", str(LIVE_RATE), "--sink", "kafka",
     "--status-every", str(LIVE_STATUS_EVERY_S)),
    _orders_flowing,
    lambda s: f"live festival stream, {LIVE_RATE} orders/s into {s.orders_topic}",
)

PARTS: dict[str, Part] = {p.name: p for p in (KAFKA, CLICKHOUSE, JOB, SIMULATOR, DASHBOARD, ALERTS)}
# Names the CLI accepts; parts that do not exist yet are refused with a clear message.
PART_NAMES = ("kafka", "clickhouse", "job", "simulator", "alerts", "dashboard")


def select(names: list[str] | None) -> list[Part]:
    """Parts named on the command line (all of them when none), in start order."""
    if not names:
        return list(PARTS.values())
    unknown = [n for n in names if n not in PART_NAMES]
    if unknown:
        raise GmvError(f"unknown part {unknown[0]!r}; parts are: {', '.join(PART_NAMES)}.")
    missing = [n for n in names if n not in PARTS]
    if missing:
        raise GmvError(f"part {missing[0]!r} is not built yet; available now: {', '.join(PARTS)}.")
    return [p for name, p in PARTS.items() if name in names]
