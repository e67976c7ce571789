"""Long-running commands stop within a few seconds of SIGTERM even when their neighbour is gone,
and say what they did not deliver."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from stream import registry
from stream.probes import port_answers, wait_for
from stream.stack import kafka_admin, processes
from tests.support.stack import fresh_settings

pytestmark = pytest.mark.slow

PROMPT_S = 10.0  # "within a few seconds": the simulator waits 5 s for messages in flight


def sigterm_and_time(proc: subprocess.Popen) -> tuple[float, str]:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    return time.monotonic() - t0, out


def test_simulator_stops_promptly_with_kafka_gone_and_counts_what_it_did_not_deliver(tmp_path):
    settings = fresh_settings(tmp_path / "home")
    processes.start(registry.KAFKA, settings)
    try:
        kafka_admin.create_topics(settings)
        cmd = [sys.executable, "-m", "stream.cli", "simulate", "--clock", "live", "--rate", "300",
               "--status-every", "0", "--ledger", str(tmp_path / "ledger.jsonl")]
        simulator = subprocess.Popen(cmd, env={**os.environ, **settings.to_env()}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        assert wait_for(lambda: sum(kafka_admin.end_offsets(settings, (settings.orders_topic,)).values()) > 500, 60)
        os.killpg(processes.state(registry.KAFKA, settings).pid, signal.SIGKILL)
        assert wait_for(lambda: not port_answers(settings.kafka_port), 30)
        assert wait_for(lambda: simulator.poll() is not None, 3) is False  # still sending into the void
        took, out = sigterm_and_time(simulator)
    finally:
        processes.stop(registry.KAFKA, settings)
    print(f"simulate stopped {took:.1f} s after SIGTERM with Kafka gone")
    assert took < PROMPT_S, out
    assert simulator.returncode == 1, out
    # kafka-python's own warnings of the outage come first (one line each); then one line of ours
    last = out.strip().splitlines()[-1]
    assert last.startswith("gmv: ") and "were not delivered to Kafka" in last, out
    assert "Traceback" not in out, out
    assert (tmp_path / "ledger.jsonl").exists()  # the ground truth of what it made is still written


def test_job_alerts_and_dashboard_stop_promptly_with_kafka_and_clickhouse_gone(tmp_path):
    settings = fresh_settings(tmp_path / "home")
    servers, parts = (registry.KAFKA, registry.CLICKHOUSE), (registry.JOB, registry.ALERTS, registry.DASHBOARD)
    took: dict[str, float] = {}
    try:
        for part in (*servers, *parts):
            processes.start(part, settings)
        pids = {part.name: processes.state(part, settings).pid for part in parts}
        for part in servers:
            os.killpg(processes.state(part, settings).pid, signal.SIGKILL)
        assert wait_for(lambda: not port_answers(settings.kafka_port)
                        and not port_answers(settings.clickhouse_port), 30)
        for name, pid in pids.items():
            t0 = time.monotonic()
            os.kill(pid, signal.SIGTERM)
            # the part's whole process group (for the job: gmv job, Flink's JVM, its workers) has exited
            if wait_for(lambda pid=pid: not processes._group_alive(pid), 60, interval=0.2):
                took[name] = time.monotonic() - t0
    finally:
        for part in (*parts, *servers):
            processes.stop(part, settings)
    print("stopped after SIGTERM with Kafka and ClickHouse gone: "
          + ", ".join(f"{name} {s:.1f} s" for name, s in took.items()))
    assert set(took) == set(pids) and all(s < PROMPT_S for s in took.values()), took
    for name in pids:
        log = (settings.log_dir / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in log.split(f"==== gmv: starting {name}")[-1], log[-3000:]
