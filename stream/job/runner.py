"""The PyFlink job's shell: connectors, checkpoints, where it runs. The logic is ``stream.job.rollup_sql``.

Kafka raw topics -> Flink SQL (parse, reject, dedup, continuous aggregates + late corrections)
-> one upsert-kafka rollup topic per rollup -> ``stream.job.loader`` -> ClickHouse.
Rollup rows are keyed by window and dimensions, and carry the aggregate's running value, so
a newer row replaces an older one and replays overwrite, never add.
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stream.errors import GmvError
from stream.job import aggregates, rollup_sql
from stream.settings import Settings
from stream.stack import jars
from stream.stack.processes import pid_alive

JOB_NAME = "gmv-rollups"
CLUSTER_RESTART_DELAY_MS = 500  # first wait before the job restarts on a standalone cluster after a failure
CONSUMER_GROUP = "gmv-job"


@dataclass(frozen=True)
class JobOptions:
    parallelism: int = 2
    watermark_delay_ms: int = 200
    dedup_ttl: str = "1 h"  # how long a redelivered event id is still recognised
    late_ttl: str = "7 d"
    checkpoint_interval_ms: int = 5000
    cluster: str | None = None  # HOST:PORT of a Flink REST endpoint; None = embedded local cluster
    from_checkpoint: bool = True
    jvm_heap: str = "1024m"

    def __post_init__(self) -> None:
        if not 1 <= self.parallelism <= 64:
            raise GmvError(f"--parallelism {self.parallelism} is out of range; use 1-64.")
        if self.watermark_delay_ms < 0:
            raise GmvError("--watermark-delay-ms must be >= 0.")
        if self.cluster is not None:
            host, _, port = self.cluster.rpartition(":")
            if not host or not port.isdigit():
                raise GmvError(f"--cluster {self.cluster!r} is not HOST:PORT.")


def checkpoint_dir(settings: Settings) -> Path:
    """Checkpoints of this pipeline only: one folder per (topic prefix, database), so a job on
    other topics never resumes from state that is not its own."""
    pipeline = f"{settings.topic_prefix or 'default-'}{settings.clickhouse_database}"
    return settings.home / "flink" / "checkpoints" / pipeline


def latest_checkpoint(settings: Settings) -> Path | None:
    """The newest completed checkpoint (a ``chk-N`` folder with ``_metadata``) of any earlier run."""
    completed = list(checkpoint_dir(settings).glob("*/chk-*/_metadata"))
    if not completed:
        return None
    return max(completed, key=lambda p: p.stat().st_mtime).parent


def scratch_dir(settings: Settings) -> Path:
    """The embedded cluster's scratch space for one job process: RocksDB's working copies, the
    table planner's unpacked jar, blobs. Flink leaves it behind when its JVM is stopped rather
    than closed (~280 MB a run), so it lives in the state folder and is removed: by the job at
    exit, or by the next start when a kill left it (``clear_stale_scratch``)."""
    return settings.home / "flink" / "tmp" / f"job-{os.getpid()}"


def clear_stale_scratch(settings: Settings) -> None:
    """Remove the scratch folders of job processes that no longer run."""
    for folder in scratch_dir(settings).parent.glob("job-*"):
        pid = folder.name.removeprefix("job-")
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def remove_scratch(settings: Settings) -> None:
    shutil.rmtree(scratch_dir(settings), ignore_errors=True)


def flink_config(settings: Settings, options: JobOptions) -> dict[str, str]:
    connector = jars.classpath(settings, "flink") + jars.classpath(settings, "udf")
    config = {
        "pipeline.name": JOB_NAME,
        "pipeline.jars": ";".join(p.resolve().as_uri() for p in connector),
        "parallelism.default": str(options.parallelism),
        "table.local-time-zone": "UTC",
        # No idle timeout: excluding a quiet partition would let the watermark pass events it
        # holds back. Producers send per-partition heartbeats instead (see stream.job.rollup_sql).
        "table.exec.state.ttl": options.dedup_ttl,
        "table.exec.sink.upsert-materialize": "NONE",  # keys are unique per statement
        # Optimise a view shared by several INSERTs once, so each message is parsed and
        # deduplicated once rather than once per consumer of the view.
        "table.optimizer.reuse-optimize-block-with-digest-enabled": "true",
        # Chained operators hand rows on without copying them (Flink SQL's operators do not keep a
        # row they have passed on); the copies were 9% of the job's CPU in its profile.
        "pipeline.object-reuse": "true",
        # No mini-batch (stream.job.aggregates): the rollups are event-time windows, which its
        # processing-time batches would close at once on a replay; the sinks of the rows that change
        # on every event keep the last row per key instead (see _upsert_sink).
        # The live path's seconds close when the watermark passes them: emitted every 50 ms, it
        # trails the newest event by the watermark delay plus at most this.
        "pipeline.auto-watermark-interval": "50 ms",
        "execution.buffer-timeout.interval": "10 ms",
        "execution.checkpointing.interval": f"{options.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.dir": checkpoint_dir(settings).resolve().as_uri(),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "3",
        "execution.checkpointing.incremental": "true",
        "state.backend.type": "rocksdb",
        # A bloom filter per SST file: most lookups are of keys never seen (every new event id in
        # the dedup, every new brand or consumer of the day), which it answers without reading
        # the files. Measured: +27% events/s at parallelism 1.
        "state.backend.rocksdb.use-bloom-filter": "true",
        "taskmanager.memory.managed.size": "256m",
        "restart-strategy.type": "exponential-delay",
        "rest.port": str(settings.flink_port),
        "rest.address": "127.0.0.1",
    }
    if options.cluster:
        host, _, port = options.cluster.rpartition(":")
        config.update({"execution.target": "remote", "rest.address": host, "rest.port": port})
        # A lost TaskManager fails the job at once (its network connections break); it restarts
        # on the slots left after half a second (the default's first wait is 1 s, growing to a
        # minute), and waits at most 10 s between tries while no slots are free.
        config.update({"restart-strategy.exponential-delay.initial-backoff": f"{CLUSTER_RESTART_DELAY_MS} ms",
                       "restart-strategy.exponential-delay.max-backoff": "10 s",
                       "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
                       "restart-strategy.exponential-delay.reset-backoff-threshold": "1 min"})
    if options.from_checkpoint and (checkpoint := latest_checkpoint(settings)):
        config["execution.state-recovery.path"] = checkpoint.resolve().as_uri()
    return config


def _kafka_source(name: str, topic: str, settings: Settings, options: JobOptions) -> str:
    columns = rollup_sql.source_columns(rollup_sql.RollupOptions(options.watermark_delay_ms))
    return f"""CREATE TEMPORARY TABLE {name} ({columns}
) WITH (
    'connector' = 'kafka',
    'topic' = '{topic}',
    'properties.bootstrap.servers' = '{settings.kafka_bootstrap}',
    'properties.group.id' = '{settings.topic_prefix}{CONSUMER_GROUP}',
    'properties.auto.offset.reset' = 'earliest',
    'scan.startup.mode' = 'group-offsets',
    'format' = 'raw'
)"""


# How long the sink of rows that change on every event (late corrections, buyers, the pipeline's
# counts) keeps the newest row of each key before writing what it holds: each such row is written
# at most about once a second, not once per event.
BUFFER_FLUSH = "1 s"


def sink_name(rollup: str, buffered: bool = False) -> str:
    return f"sink_{rollup}{'_buffered' if buffered else ''}"


def _upsert_sink(name: str, topic: str, settings: Settings, buffered: bool = False) -> str:
    """The rollup's upsert sink; ``buffered``, one that writes the newest row per key once a
    ``BUFFER_FLUSH`` (into the same topic: the keys it writes are its own, late = 1 or continuous)."""
    columns, keys = rollup_sql.sink_columns(name)
    buffer = (f",\n    'sink.buffer-flush.max-rows' = '20000',\n    'sink.buffer-flush.interval' = '{BUFFER_FLUSH}'"
              if buffered else "")
    return f"""CREATE TEMPORARY TABLE {sink_name(name, buffered)} (
    {columns},
    PRIMARY KEY ({keys}) NOT ENFORCED
) WITH (
    'connector' = 'upsert-kafka',
    'topic' = '{topic}',
    'properties.bootstrap.servers' = '{settings.kafka_bootstrap}',
    'key.format' = 'json',
    'value.format' = 'json'{buffer}
)"""


def _rejected_sink(settings: Settings) -> str:
    return f"""CREATE TEMPORARY TABLE sink_rejected (
    {rollup_sql.REJECTED_COLUMNS}
) WITH (
    'connector' = 'kafka',
    'topic' = '{settings.rejected_topic}',
    'properties.bootstrap.servers' = '{settings.kafka_bootstrap}',
    'format' = 'json'
)"""


def statements(settings: Settings, options: JobOptions) -> tuple[list[str], list[str]]:
    """(DDL and views, INSERTs) of the whole job for these settings."""
    ropts = rollup_sql.RollupOptions(options.watermark_delay_ms, options.late_ttl)
    ddl = [
        *rollup_sql.FUNCTIONS,
        _kafka_source("orders_raw", settings.orders_topic, settings, options),
        _kafka_source("logistics_raw", settings.logistics_topic, settings, options),
        *[_upsert_sink(name, topic, settings, buffered)
          for name, topic in settings.rollup_topics.items() for buffered in (False, True)],
        _rejected_sink(settings),
        *rollup_sql.parsed_views("orders_raw", "logistics_raw", ropts),
        *rollup_sql.valid_views(ropts),
    ]
    sinks = {name: sink_name(name) for name in settings.rollup_topics} | {"rejected": "sink_rejected"}
    buffered = {name: sink_name(name, True) for name in settings.rollup_topics} | {"rejected": "sink_rejected"}
    views, inserts = aggregates.rollup_statements(sinks, ropts, buffered)
    return ddl + views, inserts


def table_environment(settings: Settings, options: JobOptions):
    # The embedded cluster lives in PyFlink's gateway JVM: cap its heap for a shared 2-core box,
    # and keep its temporary files (Flink's io.tmp.dirs default to java.io.tmpdir) in the scratch folder.
    os.environ.setdefault("JVM_ARGS", f"-Xmx{options.jvm_heap} -Xms256m")
    scratch = scratch_dir(settings)
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ["JVM_ARGS"] += f" -Djava.io.tmpdir={scratch.resolve()}"
    # Flink's own log beside the other parts' logs (by default it goes inside the PyFlink package,
    # one file shared and overwritten by every job on the machine).
    flink_logs = settings.log_dir / "flink"
    flink_logs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FLINK_LOG_DIR", str(flink_logs.resolve()))
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = Configuration()
    for key, value in flink_config(settings, options).items():
        config.set_string(key, value)
    env_settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(config).build()
    return TableEnvironment.create(env_settings)


def submit(settings: Settings, options: JobOptions):
    """Declare everything and start the job; returns the TableResult (job runs in the background)."""
    checkpoint_dir(settings).mkdir(parents=True, exist_ok=True)
    t_env = table_environment(settings, options)
    ddl, inserts = statements(settings, options)
    for statement in ddl:
        t_env.execute_sql(statement)
    statement_set = t_env.create_statement_set()
    for insert in inserts:
        statement_set.add_insert_sql(insert)
    return statement_set.execute()


def running_jobs(host: str, port: int, timeout: float = 2.0) -> list[dict]:
    """Jobs a Flink REST endpoint reports as RUNNING (empty if it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/jobs/overview", timeout=timeout) as resp:
            jobs = json.load(resp).get("jobs", [])
    except (OSError, ValueError):
        return []
    return [j for j in jobs if j.get("state") == "RUNNING"]


TERMINAL_STATES = ("FAILED", "CANCELED", "FINISHED")


def live_job(host: str, port: int) -> str | None:
    """The id of this job on a Flink cluster, if it runs there (or is restarting): a job process
    started again adopts it rather than submitting a second one."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/jobs/overview", timeout=5) as resp:
            jobs = json.load(resp).get("jobs", [])
    except (OSError, ValueError):
        return None
    live = [j for j in jobs if j.get("name") == JOB_NAME and j.get("state") not in TERMINAL_STATES]
    return max(live, key=lambda j: j.get("start-time", 0))["jid"] if live else None


def job_state(host: str, port: int, jid: str) -> str | None:
    """The job's state on a Flink cluster; "UNKNOWN" when the cluster does not know the job (a
    JobManager started again forgets it); None when the cluster does not answer."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/jobs/{jid}", timeout=5) as resp:
            return str(json.load(resp).get("state"))
    except urllib.error.HTTPError as exc:
        return "UNKNOWN" if exc.code == 404 else None
    except (OSError, ValueError):
        return None
