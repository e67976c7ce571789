"""A standalone Flink cluster run from PyFlink's own distribution (``bin/jobmanager.sh`` and
``bin/taskmanager.sh`` in the ``pyflink`` package, in the foreground): one JobManager and
``GMV_FLINK_TASKMANAGERS`` TaskManagers, each a plain local process that ``gmv up`` starts,
checks and supervises like any other part, for a job submitted with ``gmv job --cluster``.

Tuned so that losing a TaskManager costs seconds, not a minute: the JobManager declares a
killed TaskManager dead after two refused 1 s heartbeats (Flink's default waits for a 50 s
heartbeat timeout), every TaskManager has slots for the whole job (the survivor takes it at once, without
waiting for the supervisor's new TaskManager), and each keeps a local copy of its state so a task
restarted where it ran reads its state from its own disk.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import urllib.request
from pathlib import Path

from stream.settings import Settings
from stream.stack.processes import Part

# Every TaskManager can run the whole job (the job's parallelism, 2): with two of them the job
# runs one subtask on each, and either one alone still has the slots to take the job over.
SLOTS_PER_TASKMANAGER = 2
# ms. The JobManager asks every TaskManager each interval; a kill -9'd one refuses the connection
# at once, so it is declared dead after RPC_FAILURES refused heartbeats (about 2 s). One that
# answers late is only declared dead after the timeout: a TaskManager busy deploying the job on a
# loaded machine missed 5 s, and 30 s once, and was failed over and over.
HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, RPC_FAILURES = 1000, 60_000, 2


def flink_home() -> Path:
    """The Flink distribution inside the installed ``pyflink`` package (bin/, lib/, conf/)."""
    spec = importlib.util.find_spec("pyflink")
    assert spec is not None and spec.origin is not None, "pyflink is not installed"
    return Path(spec.origin).parent


def conf_dir(settings: Settings) -> Path:
    return settings.home / "flink" / "cluster" / "conf"


def taskmanager_name(number: int) -> str:
    """flink-taskmanager, flink-taskmanager-2, ... (``number`` 0-based), also its Flink resource id."""
    return "flink-taskmanager" + (f"-{number + 1}" if number else "")


def cluster_config(settings: Settings, java_opts: str) -> dict[str, str]:
    """The cluster's config.yaml (flat keys): loopback only, small memory, fast failure detection."""
    return {
        "env.java.opts.all": java_opts,  # the module opens Flink needs on Java 17, as shipped
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": str(settings.flink_rpc_port),
        "jobmanager.bind-host": "127.0.0.1",
        "jobmanager.memory.process.size": "1024m",
        "jobmanager.execution.failover-strategy": "region",
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": str(settings.flink_port),
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.host": "127.0.0.1",
        "taskmanager.numberOfTaskSlots": str(SLOTS_PER_TASKMANAGER),
        "taskmanager.load-balance.mode": "SLOTS",  # spread the job's subtasks over the TaskManagers
        # 2 GB (its heap ~0.9 GB): a TaskManager that takes the whole job over after a loss does
        # not stall in garbage collection while it restores and catches up
        "taskmanager.memory.process.size": "2048m",
        "taskmanager.memory.managed.size": "256m",  # RocksDB's, as the embedded cluster's
        "heartbeat.interval": str(HEARTBEAT_INTERVAL_MS),
        "heartbeat.timeout": str(HEARTBEAT_TIMEOUT_MS),
        "heartbeat.rpc-failure-threshold": str(RPC_FAILURES),
        # Deploying the whole job (~120 tasks) on one TaskManager of a loaded 2-core machine took
        # more than the default 10 s RPC timeout, failing the restart it was part of.
        "pekko.ask.timeout": "60 s",
        # local recovery: a TaskManager keeps a copy of each checkpoint of its tasks' state
        "execution.checkpointing.local-backup.enabled": "true",
        "execution.state-recovery.from-local": "true",
        "blob.storage.directory": str((settings.home / "flink" / "cluster" / "blobs").resolve()),
        "web.tmpdir": str((settings.home / "flink" / "cluster" / "web").resolve()),
    }


def _shipped_java_opts() -> str:
    text = (flink_home() / "conf" / "config.yaml").read_text()
    found = re.search(r"^\s+all: (.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else ""


def write_conf(settings: Settings) -> None:
    """The cluster's conf folder (the shipped one, log4j files and all, with our config.yaml)."""
    folder = conf_dir(settings)
    if not folder.exists():
        shutil.copytree(flink_home() / "conf", folder)
    lines = [f"{key}: {json.dumps(value)}" for key, value in cluster_config(settings, _shipped_java_opts()).items()]
    (folder / "config.yaml").write_text("\n".join(lines) + "\n")


def _env(settings: Settings) -> dict[str, str]:
    logs = settings.log_dir / "flink"
    logs.mkdir(parents=True, exist_ok=True)
    return {"FLINK_HOME": str(flink_home()), "FLINK_CONF_DIR": str(conf_dir(settings).resolve()),
            "FLINK_LOG_DIR": str(logs.resolve())}


def rest_get(settings: Settings, path: str, timeout: float = 2.0) -> dict:
    """A JSON answer of the JobManager's REST API ({} when it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.flink_port}{path}", timeout=timeout) as resp:
            answer = json.load(resp)
    except (OSError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}


def registered_taskmanagers(settings: Settings) -> dict[str, dict]:
    """TaskManagers the JobManager knows, by resource id (our part names)."""
    return {tm.get("id", ""): tm for tm in rest_get(settings, "/taskmanagers").get("taskmanagers", [])}


def _jobmanager_command(settings: Settings) -> list[str]:
    return ["bash", str(flink_home() / "bin" / "jobmanager.sh"), "start-foreground"]


def _taskmanager_command(settings: Settings, name: str) -> list[str]:
    scratch = (settings.home / "flink" / "cluster" / name).resolve()
    return ["bash", str(flink_home() / "bin" / "taskmanager.sh"), "start-foreground",
            "-D", f"taskmanager.resource-id={name}",
            "-D", f"taskmanager.state.local.root-dirs={scratch / 'local-state'}",
            "-D", f"io.tmp.dirs={scratch / 'tmp'}"]


def _taskmanager_prepare(settings: Settings, name: str) -> None:
    write_conf(settings)
    scratch = settings.home / "flink" / "cluster" / name
    shutil.rmtree(scratch / "tmp", ignore_errors=True)  # a killed TaskManager's leftovers
    (scratch / "tmp").mkdir(parents=True)


JOBMANAGER = Part(
    name="flink-jobmanager",
    ports=lambda s: {"GMV_FLINK_PORT": s.flink_port, "GMV_FLINK_RPC_PORT": s.flink_rpc_port},
    prepare=write_conf,
    command=_jobmanager_command,
    healthy=lambda s: "taskmanagers" in rest_get(s, "/overview"),
    env=_env,
    url=lambda s: f"http://127.0.0.1:{s.flink_port}/ (Flink's web UI)",
)


def taskmanager(number: int) -> Part:
    """TaskManager ``number`` (0-based): healthy once registered with the JobManager under its name."""
    name = taskmanager_name(number)
    return Part(
        name=name,
        ports=lambda s: {},  # its RPC and data ports are picked by the OS; the JobManager knows them
        prepare=lambda s: _taskmanager_prepare(s, name),
        command=lambda s: _taskmanager_command(s, name),
        healthy=lambda s: name in registered_taskmanagers(s),
        env=_env,
        url=lambda s: f"{SLOTS_PER_TASKMANAGER} slots, registered with the JobManager at 127.0.0.1:{s.flink_rpc_port}",
    )
