"""kill -9 of one TaskManager of the standalone Flink cluster (GMV_FLINK_TASKMANAGERS=2) under a
seeded stream with a ledger: the job, spread over both TaskManagers, restarts from its last
checkpoint on the survivor's spare slots while the supervisor starts the killed one again; the
rollups end exact to the fen and the wall shows the ledger's GMV. It prints how long the wall's
newest second stood still (the staleness the kill caused) and each Flink process's memory.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from stream import registry
from stream.contract import ROLLUPS
from stream.probes import wait_for
from stream.stack import clickhouse, flink_cluster, processes
from tests.support.faults import checkpoint_folders, finish, sent_some, start_simulator
from tests.support.stack import fresh_settings

pytestmark = pytest.mark.slow

CLUSTER = ("kafka", "clickhouse", "flink-jobmanager", "flink-taskmanager", "flink-taskmanager-2")


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory):
    settings = fresh_settings(tmp_path_factory.mktemp("tm-kill")).replace(flink_taskmanagers=2, start_timeout=300.0)
    parts = registry.parts(settings)
    try:
        for name in CLUSTER:
            processes.start(parts[name], settings)
        yield settings
    finally:
        processes.stop_all(parts.values(), settings, echo=lambda line: None)


def newest_second(settings) -> int:
    """The newest per-second window in ClickHouse (what the wall shows as "now"), epoch s."""
    with clickhouse.connect(settings, "reader") as client:
        table = f"{settings.clickhouse_database}.{ROLLUPS['orders_second'].table}"
        return int(client.execute(f"SELECT toUInt32(max(window_start)) FROM {table}")[0][0])


def longest_stall(settings, since: float, until: threading.Event) -> list[float]:
    """Watch the wall's newest second from ``since`` (monotonic) until ``until`` is set; the
    result gets [the longest time it stood still, when (s after ``since``) it moved again]."""
    stall = [0.0, 0.0]
    last, moved_at = newest_second(settings), since
    while not until.wait(0.25):
        now, newest = time.monotonic(), newest_second(settings)
        if newest > last:
            if now - moved_at > stall[0]:
                stall[:] = [now - moved_at, now - since]
            last, moved_at = newest, now
    return stall


def rss_mb(pid: int) -> float:
    """Resident memory of a part: every process of its group (the scripts exec into the JVM)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid:
            total += int(fields[21]) * 4096
    return total / 2**20


def spread(settings) -> dict[str, int]:
    """Slots in use per TaskManager."""
    return {name: tm["slotsNumber"] - tm["freeSlots"]
            for name, tm in flink_cluster.registered_taskmanagers(settings).items()}


def test_taskmanager_kill_9_under_load(cluster_stack, tmp_path):
    settings = cluster_stack
    parts = registry.parts(settings)
    job, taskmanagers = parts["job"], [parts["flink-taskmanager"], parts["flink-taskmanager-2"]]
    processes.start(job, settings)
    processes.start(parts["dashboard"], settings)
    assert wait_for(lambda: all(spread(settings).get(tm.name, 0) >= 1 for tm in taskmanagers), 60), spread(settings)

    assert wait_for(lambda: checkpoint_folders(settings)[1], 90)  # a checkpoint to restart from
    ledger = tmp_path / "ledger.jsonl"
    simulator = start_simulator(settings, ledger)
    assert wait_for(lambda: sent_some(settings), 60)
    assert simulator.poll() is None, "the simulator finished before the fault"
    memory = {p.name: rss_mb(processes.state(p, settings).pid) for p in (parts["flink-jobmanager"], *taskmanagers)}
    stop = threading.Event()
    supervisor = threading.Thread(target=processes.supervise, args=(taskmanagers, settings, stop),
                                  kwargs={"every_s": 1.0}, daemon=True)
    supervisor.start()  # `gmv up --wait`: starts the killed TaskManager again
    fault_at = time.monotonic()
    os.killpg(processes.state(taskmanagers[1], settings).pid, signal.SIGKILL)  # the JVM and all
    done, stall = threading.Event(), []
    watcher = threading.Thread(target=lambda: stall.extend(longest_stall(settings, fault_at, done)), daemon=True)
    watcher.start()
    try:
        recovered = finish(settings, simulator, ledger, fault_at)
    finally:
        done.set()
        watcher.join(10)
        stop.set()
        supervisor.join(30)
    assert processes.state(taskmanagers[1], settings).restarts >= 1  # the supervisor's new TaskManager
    print(f"taskmanager kill -9: the wall's newest second stood still {stall[0]:.1f} s (moving again "
          f"{stall[1]:.1f} s after the kill); exact, the wall showed the ledger's GMV {recovered:.1f} s after "
          "the kill; RSS under load before the kill: " + ", ".join(f"{n} {mb:.0f} MB" for n, mb in memory.items()))
