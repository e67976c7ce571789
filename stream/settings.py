"""One frozen, validated settings object for every part of the pipeline.

Environment variables are read here and nowhere else. Each is named as a
constant below with what it sets; an unknown ``GMV_*`` variable is rejected so
a typo (``GMV_KAFKA_PROT``) fails loudly instead of being ignored.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stream.contract import LOGISTICS_TOPIC, ORDERS_TOPIC, REJECTED_TOPIC, ROLLUPS
from stream.errors import GmvError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
INFRA_DIR = PROJECT_ROOT / "infra"
SCHEMAS_DIR = PROJECT_ROOT / "schemas"


def shown_path(path: Path) -> str:
    """A path as a user reads it: relative to the project when inside it (``infra/alerts.toml``)."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


class ConfigError(GmvError, ValueError):
    """A bad configuration value; its message is one sentence naming it and the fix."""


# name of env var -> (settings field, what it sets)
ENV_VARS: dict[str, tuple[str, str]] = {
    "GMV_HOME": ("home", "state folder: logs, pid files, data, jars (default ./var)"),
    "GMV_JARS_DIR": ("jars_dir", "where Maven-fetched jars are cached (default $GMV_HOME/jars)"),
    "GMV_KAFKA_HOST": ("kafka_host", "host of the Kafka broker (default 127.0.0.1)"),
    "GMV_KAFKA_PORT": ("kafka_port", "Kafka client port (default 9092)"),
    "GMV_KAFKA_CONTROLLER_PORT": ("kafka_controller_port", "KRaft controller port (default 9093)"),
    "GMV_KAFKA_PARTITIONS": ("kafka_partitions", "partitions per topic created by gmv up (default 4)"),
    "GMV_KAFKA_BROKERS": ("kafka_brokers", "brokers gmv up runs (default 1); broker N listens on "
                                           "GMV_KAFKA_PORT + 2(N-1), its controller on "
                                           "GMV_KAFKA_CONTROLLER_PORT + 2(N-1)"),
    "GMV_KAFKA_REPLICATION": ("kafka_replication", "replicas of each topic (default: the brokers, at most 3); "
                                                   "min.insync.replicas is this minus 1, at least 1"),
    "GMV_TOPIC_PREFIX": ("topic_prefix", "prefix of every topic name (default empty)"),
    "GMV_CLICKHOUSE_HOST": ("clickhouse_host", "host of the ClickHouse server (default 127.0.0.1); host1,host2,... "
                                               "for the replicas of a cluster, each at GMV_CLICKHOUSE_PORT"),
    "GMV_CLICKHOUSE_PORT": ("clickhouse_port", "ClickHouse native TCP port (default 9000)"),
    "GMV_CLICKHOUSE_HTTP_PORT": ("clickhouse_http_port", "ClickHouse HTTP port (default 8123)"),
    "GMV_CLICKHOUSE_REPLICAS": ("clickhouse_replicas", "ClickHouse replicas gmv up runs (default 1); replica N "
                                                       "listens on GMV_CLICKHOUSE_PORT, _HTTP_PORT and "
                                                       "_INTERSERVER_PORT + (N-1); 2 or more also start ZooKeeper"),
    "GMV_CLICKHOUSE_INTERSERVER_PORT": ("clickhouse_interserver_port", "port replicas fetch parts from each other "
                                                                       "on (default 9009)"),
    "GMV_ZOOKEEPER_PORT": ("zookeeper_port", "ZooKeeper client port (default 2181); node N listens on it + 3(N-1), "
                                             "its quorum and election ports on the next two"),
    "GMV_ZOOKEEPER_NODES": ("zookeeper_nodes", "ZooKeeper nodes gmv up runs with replicas (default 1; 3 survive "
                                               "losing one)"),
    "GMV_CLICKHOUSE_DATABASE": ("clickhouse_database", "database of the rollups (default gmv)"),
    "GMV_CLICKHOUSE_WRITER_PASSWORD": ("writer_password", "password of the gmv_writer user"),
    "GMV_CLICKHOUSE_READER_PASSWORD": ("reader_password", "password of the read-only gmv_reader user"),
    "GMV_DASHBOARD_PORT": ("dashboard_port", "port of the Dash app (default 8050)"),
    "GMV_DASHBOARD_USERS": ("dashboard_users", "dashboard logins, name:password,... (required beyond loopback)"),
    "GMV_DASHBOARD_USERS_FILE": ("dashboard_users_file", "file of dashboard logins, one name:password a line"),
    "GMV_DASHBOARD_KIOSK_TOKEN": ("dashboard_kiosk_token", "token a wall screen opens /?kiosk=TOKEN with"),
    "GMV_ALERTS_STANDBY": ("alerts_standby", "1: two alert services (alerts, alerts-2), one pages at a time by a "
                                             "lease in ZooKeeper (started with them); 0: one (default)"),
    "GMV_FLINK_PORT": ("flink_port", "REST port of the local Flink cluster (default 8081)"),
    "GMV_FLINK_TASKMANAGERS": ("flink_taskmanagers", "TaskManagers of a standalone Flink cluster gmv up runs "
                                                     "the job on (default 0: the job's own embedded cluster)"),
    "GMV_FLINK_RPC_PORT": ("flink_rpc_port", "RPC port of the standalone cluster's JobManager (default 6123)"),
    "GMV_HA": ("ha", "1: the highly available shape, each part with a second copy: 3 Kafka brokers, 2 ClickHouse "
                     "replicas + ZooKeeper, the job on 2 TaskManagers, 2 alert services (a setting named "
                     "beside it wins); 0: one of each (default)"),
    "GMV_START_TIMEOUT": ("start_timeout", "seconds a server may take to become healthy (default 90)"),
    "GMV_PARCEL_REPLAY": ("parcel_replay", "the factor the simulator divides parcel delays by, said on the wall "
                                           "(\"parcel delays compressed 720x\"; default 0: not said)"),
}

_PORT_FIELDS = (
    "kafka_port",
    "kafka_controller_port",
    "clickhouse_port",
    "clickhouse_http_port",
    "clickhouse_interserver_port",
    "zookeeper_port",
    "dashboard_port",
    "flink_port",
    "flink_rpc_port",
)
_ENV_BY_FIELD = {f: name for name, (f, _) in ENV_VARS.items()}


@dataclass(frozen=True)
class Settings:
    """Where every part lives. Build with :func:`load`; never mutate, use :meth:`replace`."""

    home: Path = PROJECT_ROOT / "var"
    jars_dir: Path | None = None
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_partitions: int = 4
    kafka_brokers: int = 1
    kafka_replication: int = 0  # 0: min(kafka_brokers, 3)
    topic_prefix: str = ""
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 9000
    clickhouse_http_port: int = 8123
    clickhouse_replicas: int = 1
    clickhouse_interserver_port: int = 9009
    zookeeper_port: int = 2181
    zookeeper_nodes: int = 1
    clickhouse_database: str = "gmv"
    writer_password: str = field(default="gmv-writer-local", repr=False)
    reader_password: str = field(default="gmv-reader-local", repr=False)
    dashboard_port: int = 8050
    dashboard_users: str = field(default="", repr=False)
    dashboard_users_file: Path | None = None
    dashboard_kiosk_token: str = field(default="", repr=False)
    alerts_standby: int = 0
    flink_port: int = 8081
    flink_taskmanagers: int = 0  # 0: the job runs its own embedded cluster
    ha: int = 0  # only read by load(): it fills the settings of HA_SHAPE
    flink_rpc_port: int = 6123
    start_timeout: float = 90.0
    parcel_replay: float = 0.0  # 0: parcel delays as they are (nothing said on the wall)

    def __post_init__(self) -> None:
        for name in _PORT_FIELDS:
            port = getattr(self, name)
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise ConfigError(f"{_label(name)}={port!r} is not a port number; use 1-65535.")
        if not 1 <= self.kafka_partitions <= 1000:
            raise ConfigError(
                f"{_label('kafka_partitions')}={self.kafka_partitions!r} is out of range; use 1-1000."
            )
        if not 1 <= self.kafka_brokers <= 9:
            raise ConfigError(f"{_label('kafka_brokers')}={self.kafka_brokers!r} is out of range; use 1-9.")
        if not 0 <= self.kafka_replication <= 9:
            raise ConfigError(f"{_label('kafka_replication')}={self.kafka_replication!r} is out of range; "
                              "use 1-9 (0: automatic).")
        if not 0 <= self.flink_taskmanagers <= 8:
            raise ConfigError(f"{_label('flink_taskmanagers')}={self.flink_taskmanagers!r} is out of range; "
                              "use 0-8 (0: the job's embedded cluster).")
        for name in ("kafka_port", "kafka_controller_port"):
            if getattr(self, name) + 2 * (self.kafka_brokers - 1) > 65535:
                raise ConfigError(f"{_label(name)}={getattr(self, name)} leaves no room for "
                                  f"{self.kafka_brokers} brokers' ports; use a lower port.")
        self._check_replicas()
        if len(self.clickhouse_hosts) > 1 and self.clickhouse_replicas > 1:
            raise ConfigError(f"{_label('clickhouse_host')} lists several hosts (a cluster's replicas) and "
                              f"{_label('clickhouse_replicas')} asks for local replicas; set one of them.")
        if not self.clickhouse_database.replace("_", "").isalnum():
            raise ConfigError(
                f"{_label('clickhouse_database')}={self.clickhouse_database!r} is not a plain "
                "identifier; use letters, digits and underscores."
            )
        if not (self.parcel_replay >= 0 and math.isfinite(self.parcel_replay)):
            raise ConfigError(f"{_label('parcel_replay')}={self.parcel_replay!r} is not a factor; use a number "
                              "above 0 (or 0: not compressed).")
        if self.start_timeout <= 0:
            raise ConfigError(f"{_label('start_timeout')} must be a positive number of seconds.")
        if self.jars_dir is None:
            object.__setattr__(self, "jars_dir", self.home / "jars")
        parse_logins(self.dashboard_users, _label("dashboard_users"))  # the file is read when the dashboard starts
        _check_kiosk_token(self.dashboard_kiosk_token)
        if self.ha not in (0, 1):
            raise ConfigError(f"{_label('ha')}={self.ha!r} is not 0 or 1.")
        if self.alerts_standby not in (0, 1):
            raise ConfigError(f"{_label('alerts_standby')}={self.alerts_standby!r} is not 0 or 1.")

    def _check_replicas(self) -> None:
        if not 1 <= self.clickhouse_replicas <= 5:
            raise ConfigError(f"{_label('clickhouse_replicas')}={self.clickhouse_replicas!r} is out of range; use 1-5.")
        if self.zookeeper_nodes not in (1, 3, 5):
            raise ConfigError(f"{_label('zookeeper_nodes')}={self.zookeeper_nodes!r} is not 1, 3 or 5; a quorum "
                              "needs an odd number of nodes.")
        for name in ("clickhouse_port", "clickhouse_http_port", "clickhouse_interserver_port"):
            if getattr(self, name) + self.clickhouse_replicas - 1 > 65535:
                raise ConfigError(f"{_label(name)}={getattr(self, name)} leaves no room for "
                                  f"{self.clickhouse_replicas} replicas' ports; use a lower port.")
        if self.zookeeper_port + 3 * self.zookeeper_nodes - 1 > 65535:
            raise ConfigError(f"{_label('zookeeper_port')}={self.zookeeper_port} leaves no room for "
                              f"{self.zookeeper_nodes} nodes' ports; use a lower port.")

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (and validated again)."""
        if "home" in changes and "jars_dir" not in changes and self.jars_dir == self.home / "jars":
            changes["jars_dir"] = None
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """These settings as GMV_* variables, so a child process loads exactly the same: each one
        that is not at its default, and each one this process's environment sets (which the child
        inherits). Defaults are left out so a checkout that predates a setting (`gmv bench
        --against`) still accepts the environment."""
        defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
        return {name: "" if getattr(self, field) is None else str(getattr(self, field))
                for name, (field, _) in ENV_VARS.items()
                if getattr(self, field) != defaults[field] or name in os.environ or field == "home"}

    @property
    def dashboard_login_required(self) -> bool:
        """Whether the dashboard asks for credentials: logins or a kiosk token are configured."""
        return bool(self.dashboard_users or self.dashboard_users_file or self.dashboard_kiosk_token)

    def dashboard_logins(self) -> dict[str, str]:
        """The dashboard's logins, name -> password, from ``GMV_DASHBOARD_USERS`` and the file
        ``GMV_DASHBOARD_USERS_FILE`` (read now). Raises :class:`ConfigError` in one line."""
        logins = parse_logins(self.dashboard_users, _label("dashboard_users"))
        path = self.dashboard_users_file
        if path is None:
            return logins
        label = _label("dashboard_users_file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{label}={str(path)!r} cannot be read ({exc.__class__.__name__}: "
                              f"{getattr(exc, 'strerror', None) or exc}); point it at a UTF-8 file of "
                              "name:password lines.") from None
        from_file = parse_logins(text, label, lines=True)
        twice = sorted(set(logins) & set(from_file))
        if twice:
            raise ConfigError(f"dashboard user {twice[0]!r} is in both {_label('dashboard_users')} and {label}; "
                              "keep one.")
        if not from_file:
            raise ConfigError(f"{label}={str(path)!r} lists no user; write one name:password a line.")
        return {**logins, **from_file}

    # Derived names, so no part writes a host, port or topic of its own.
    def kafka_broker_ports(self, broker: int) -> tuple[int, int]:
        """(client port, controller port) of local broker ``broker`` (0-based)."""
        return self.kafka_port + 2 * broker, self.kafka_controller_port + 2 * broker

    def clickhouse_replica_ports(self, replica: int) -> tuple[int, int, int]:
        """(native TCP, HTTP, interserver) ports of local ClickHouse replica ``replica`` (0-based)."""
        return (self.clickhouse_port + replica, self.clickhouse_http_port + replica,
                self.clickhouse_interserver_port + replica)

    @property
    def clickhouse_hosts(self) -> list[str]:
        """GMV_CLICKHOUSE_HOST split at commas: several hosts are the replicas of a real cluster."""
        return [host.strip() for host in self.clickhouse_host.split(",") if host.strip()]

    @property
    def replicated(self) -> bool:
        """Whether the rollups live on several ClickHouse replicas coordinated by ZooKeeper: local
        ones (GMV_CLICKHOUSE_REPLICAS) or a cluster's (several hosts in GMV_CLICKHOUSE_HOST)."""
        return self.clickhouse_replicas > 1 or len(self.clickhouse_hosts) > 1

    @property
    def uses_zookeeper(self) -> bool:
        """Whether `gmv up` runs ZooKeeper: for the replicas, or for the alert services' lease."""
        return self.replicated or bool(self.alerts_standby)

    def zookeeper_node_ports(self, node: int) -> tuple[int, int, int]:
        """(client, quorum, election) ports of local ZooKeeper node ``node`` (0-based)."""
        base = self.zookeeper_port + 3 * node
        return base, base + 1, base + 2

    @property
    def zookeeper_hosts(self) -> list[tuple[str, int]]:
        """(host, client port) of every ZooKeeper node, as ClickHouse and clients list them."""
        return [("127.0.0.1", self.zookeeper_node_ports(n)[0]) for n in range(self.zookeeper_nodes)]

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker, so a client finds the cluster while any one of them is down."""
        return ",".join(f"{self.kafka_host}:{self.kafka_broker_ports(b)[0]}" for b in range(self.kafka_brokers))

    @property
    def kafka_replicas(self) -> int:
        """Replicas of each topic: GMV_KAFKA_REPLICATION, else the local brokers (at most 3)."""
        return self.kafka_replication or min(self.kafka_brokers, 3)

    @property
    def kafka_min_insync(self) -> int:
        """Replicas that must have a message before it counts as written (acks=all)."""
        return max(1, self.kafka_replicas - 1)

    @property
    def history_database(self) -> str:
        """Last year's festival, in the same tables as the rollups (see stream/history.py)."""
        return f"{self.clickhouse_database}_history"

    @property
    def orders_topic(self) -> str:
        return self.topic_prefix + ORDERS_TOPIC

    @property
    def logistics_topic(self) -> str:
        return self.topic_prefix + LOGISTICS_TOPIC

    @property
    def rejected_topic(self) -> str:
        return self.topic_prefix + REJECTED_TOPIC

    @property
    def rollup_topics(self) -> dict[str, str]:
        """The job's output topics, one per rollup, drained into ClickHouse by the loader."""
        return {name: rollup.topic(self.topic_prefix) for name, rollup in ROLLUPS.items()}

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.orders_topic, self.logistics_topic, self.rejected_topic,
                *self.rollup_topics.values())

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


def _label(field_name: str) -> str:
    return _ENV_BY_FIELD.get(field_name, field_name)


MIN_PASSWORD = 8  # characters of a dashboard password
MIN_KIOSK_TOKEN = 16  # characters of the kiosk token
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def parse_logins(text: str, label: str, lines: bool = False) -> dict[str, str]:
    """``name:password`` entries, comma-separated (the variable) or one a line (the file, where
    lines starting with ``#`` are skipped); empty entries are skipped, and spaces around a name or
    a password. A password may hold colons, and commas in the file. Errors name the entry or
    the user, never a password."""
    logins: dict[str, str] = {}
    entries = text.splitlines() if lines else text.split(",")
    where = "line" if lines else "entry"
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or (lines and entry.startswith("#")):
            continue
        name, colon, password = entry.partition(":")
        name, password = name.strip(), password.strip()
        if not colon or not name or not password:
            raise ConfigError(f"{label}: {where} {number} is not name:password; give each user as "
                              "name:password.")
        if any(c.isspace() for c in name):
            raise ConfigError(f"{label}: {where} {number}: the user name {name!r} has a space; use a name "
                              "without spaces.")
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"{label}: the password of user {name!r} is shorter than {MIN_PASSWORD} "
                              "characters; use a longer one.")
        if name in logins:
            raise ConfigError(f"{label}: user {name!r} is listed twice; keep one.")
        logins[name] = password
    return logins


def _check_kiosk_token(token: str) -> None:
    if not token:
        return
    label = _label("dashboard_kiosk_token")
    if len(token) < MIN_KIOSK_TOKEN or not set(token) <= _TOKEN_CHARS:
        raise ConfigError(f"{label} must be at least {MIN_KIOSK_TOKEN} URL-safe characters (letters, digits, "
                          "- _ . ~); make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'.")


def _convert(field_name: str, raw: str) -> object:
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[field_name]
    env_name = _label(field_name)
    if "None" in str(kind) and raw == "":
        return None
    if "Path" in str(kind):
        return Path(raw).expanduser().resolve()
    if kind in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{env_name}={raw!r} is not a whole number.") from None
    if kind in ("float", float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{env_name}={raw!r} is not a number.") from None
    return raw


def load(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from the environment (``os.environ`` by default) plus explicit overrides.

    Raises :class:`ConfigError` for an unknown ``GMV_*`` variable or a bad value.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for name, raw in env.items():
        if not name.startswith("GMV_") or name in _IGNORED_ENV:
            continue
        if name not in ENV_VARS:
            known = ", ".join(sorted(ENV_VARS))
            raise ConfigError(f"unknown setting {name}; known settings are: {known}.")
        values[ENV_VARS[name][0]] = _convert(ENV_VARS[name][0], raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("ha"):
        values = {**HA_SHAPE, **values}  # a count set beside GMV_HA=1 wins
    return Settings(**values)  # type: ignore[arg-type]


# GMV_HA=1: a second copy of every stateful part (Kafka: three, so losing one keeps a quorum and
# min.insync.replicas 2).
HA_SHAPE: dict[str, object] = {"kafka_brokers": 3, "clickhouse_replicas": 2, "flink_taskmanagers": 2,
                               "alerts_standby": 1}


# Variables read by other modules of their own (alert secret); accepted here, never printed.
_IGNORED_ENV = {"GMV_WEBHOOK_SECRET", "GMV_ALERTS_CONFIG"}
