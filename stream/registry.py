"""Every part of the local stack, in start order, and what each needs to run: the servers
(:mod:`stream.stack.servers`: Kafka brokers, ClickHouse) and the application parts (the job,
the simulator, the dashboard, the alert service). ``gmv up``/``status``/``down`` and the test
fixtures start what this module lists; ``stream/stack/`` knows nothing of the application.
"""
from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Callable

from stream import logs
from stream.errors import GmvError
from stream.settings import ENV_VARS, Settings
from stream.stack import flink_cluster
from stream.stack.processes import Part
from stream.stack.servers import CLICKHOUSE, KAFKA, clickhouse_replica, kafka_broker
from stream.stack.zookeeper import ZOOKEEPER, zookeeper_node

__all__ = ["ALERTS", "ALERTS_2", "CLICKHOUSE", "DASHBOARD", "JOB", "JOB_ON_CLUSTER", "KAFKA", "PARTS", "SIMULATOR",
           "ZOOKEEPER", "clickhouse_replica", "gmv_command", "kafka_broker", "parts", "select", "zookeeper_node"]


def gmv_command(*args: str) -> list[str]:
    """``gmv ARGS`` as a part's command; a ``--log-level`` other than the default is passed on."""
    return [sys.executable, "-m", "stream.cli", *logs.passed_on(), *args]


def _gmv_part(name: str, args: tuple[str, ...], healthy: Callable[[Settings], bool],
              url: Callable[[Settings], str], port: str = "", **extra) -> Part:
    """A part that runs ``gmv ARGS``, listening on the port of the setting ``port`` if it has one."""
    env_name = {field: env for env, (field, _) in ENV_VARS.items()}.get(port, "")
    return Part(name=name, ports=lambda s: {env_name: getattr(s, port)} if port else {},
                command=lambda s: gmv_command(*args), healthy=healthy, url=url, **extra)


# -- the Flink job (embedded local cluster, or the standalone one) and its rollup loader ------


def _job_healthy(settings: Settings) -> bool:
    from stream.job.runner import JOB_NAME, running_jobs

    return any(j.get("name") == JOB_NAME for j in running_jobs("127.0.0.1", settings.flink_port))


JOB = _gmv_part("job", ("job",), _job_healthy, lambda s: f"http://127.0.0.1:{s.flink_port}/jobs/overview",
                port="flink_port")

# With GMV_FLINK_TASKMANAGERS the job is submitted to the standalone cluster (its REST port is
# the JobManager's) and this process runs the loader; it adopts the job if the cluster runs it.
JOB_ON_CLUSTER = Part(name="job", ports=lambda s: {},
                      command=lambda s: gmv_command("job", "--cluster", f"127.0.0.1:{s.flink_port}"),
                      healthy=_job_healthy, url=lambda s: f"http://127.0.0.1:{s.flink_port}/#/job/running")

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


def _alerts_part(name: str) -> Part:
    """An alert service; with GMV_ALERTS_STANDBY=1 two of them (alerts, alerts-2) share a lease
    in ZooKeeper: the leader pages, the other stands by (healthy while it waits)."""

    def prepare(settings: Settings) -> None:
        from stream.alerts import config, service

        config.load(config.config_path())  # a bad rules file stops `gmv up` with its one-line error
        service.heartbeat_path(settings, name).unlink(missing_ok=True)  # healthy once this run beats

    def healthy(settings: Settings) -> bool:
        from stream.alerts.service import heartbeat_fresh

        return heartbeat_fresh(settings, name=name)

    def url(settings: Settings) -> str:
        from stream.alerts.config import config_path
        from stream.alerts.service import role
        from stream.settings import shown_path

        return (f"{role(settings, name)}rules {shown_path(config_path())}, history in "
                f"{settings.clickhouse_database}.alert_events")

    return _gmv_part(name, ("alerts", "--name", name), healthy, url, prepare=prepare)


ALERTS = _alerts_part("alerts")
ALERTS_2 = _alerts_part("alerts-2")  # the standby: a part only with GMV_ALERTS_STANDBY=1

# -- a simulator on the festival clock, so `make run` shows the festival within minutes --------

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


SIMULATOR = Part(
    name="simulator", ports=lambda s: {},
    # --history: last year's day first (about 8 s), so the wall compares with it from the start;
    # parcel delays compressed GMV_PARCEL_REPLAY times (make run: 720, parcels delivered within minutes;
    # unset: the replay's default), which the wall says
    command=lambda s: gmv_command("simulate", "--clock", "festival", "--rate", str(LIVE_RATE), "--sink", "kafka",
                                  "--status-every", str(LIVE_STATUS_EVERY_S), "--history",
                                  *(("--delay-compression", f"{s.parcel_replay:g}") if s.parcel_replay else ())),
    healthy=_orders_flowing,
    url=lambda s: f"Nov 11 from 19:58 China time at 4x (festival clock), {LIVE_RATE} orders/s into {s.orders_topic}, "
                  + (f"parcel delays compressed {s.parcel_replay:g}x, " if s.parcel_replay else "")
                  + f"last year in {s.history_database}",
)

PARTS: dict[str, Part] = {p.name: p for p in (KAFKA, CLICKHOUSE, JOB, SIMULATOR, DASHBOARD, ALERTS)}


def parts(settings: Settings) -> dict[str, Part]:
    """Every part for these settings, in start order: GMV_KAFKA_BROKERS brokers, the ZooKeeper
    nodes when ClickHouse is replicated (GMV_CLICKHOUSE_REPLICAS >= 2) or the alert services
    share a lease (GMV_ALERTS_STANDBY=1), GMV_CLICKHOUSE_REPLICAS ClickHouse servers, with
    GMV_FLINK_TASKMANAGERS a Flink JobManager and that many TaskManagers (the job then runs on
    them), then the rest (with alerts-2 after alerts)."""
    brokers = [kafka_broker(b) for b in range(settings.kafka_brokers)]
    coordination = [zookeeper_node(n) for n in range(settings.zookeeper_nodes)] if settings.uses_zookeeper else []
    replicas = [clickhouse_replica(r) for r in range(settings.clickhouse_replicas)]
    flink: list[Part] = []
    if settings.flink_taskmanagers:
        flink = [flink_cluster.JOBMANAGER, *(flink_cluster.taskmanager(n) for n in range(settings.flink_taskmanagers))]
    job = JOB_ON_CLUSTER if flink else JOB
    standby = [ALERTS_2] if settings.alerts_standby else []
    rest = [job if p is JOB else p for name, p in PARTS.items() if name not in ("kafka", "clickhouse")]
    return {p.name: p for p in (*brokers, *coordination, *replicas, *flink, *rest, *standby)}


def select(names: list[str] | None, settings: Settings) -> list[Part]:
    """Parts named on the command line (all of them when none), in start order. Naming
    ``kafka`` with several brokers means every broker; ``kafka-2`` means that one (the same for
    ``zookeeper`` and ``clickhouse``)."""
    available = parts(settings)
    if not names:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise GmvError(f"unknown part {unknown[0]!r}; parts are: {', '.join(available)}.")
    wanted = set(names)
    for group in ("kafka", "zookeeper", "clickhouse"):  # the first node's name stands for every node
        if group in names:
            wanted |= {n for n in available if n == group or n.startswith(f"{group}-")}
    return [p for name, p in available.items() if name in wanted]
