"""What the fault cases share: a paced seeded stream with a ledger, the kill, and the checks that
follow (every message in Kafka once, `gmv verify` exact, the wall showing the ledger's GMV)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from stream import probes
from stream.probes import wait_for
from stream.stack import kafka_admin, processes
from tests.support.stack import FAULTS, differences, pipeline_diagnosis

# ~40 s of sending at this pace: the fault lands while the simulator is still sending.
EVENTS, ORDERS_PER_S = 40_000, 800


def start_simulator(settings, ledger, events: int = EVENTS) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "stream.cli", "simulate", "--clock", "replay", "--start", "2021-11-11T19:55+08:00",
           "--speed", "60", "--rate", str(ORDERS_PER_S), "--scale", "0.01", "--events", str(events),
           "--seed", "23", "--ledger", str(ledger), "--status-every", "0", *FAULTS]
    return subprocess.Popen(cmd, env={**os.environ, **settings.to_env()}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def kill_9(part, settings) -> None:
    """kill -9 of the part's whole process group, as a crash would leave it (pid file and all)."""
    os.killpg(processes.state(part, settings).pid, signal.SIGKILL)
    assert wait_for(lambda: not probes.port_answers(next(iter(part.ports(settings).values()))), 30)


def checkpoint_folders(settings) -> tuple[set[Path], set[Path]]:
    """(every ``chk-N`` folder of this pipeline's jobs, the completed ones). Flink's JobManager makes
    a checkpoint's folder when it triggers it and writes ``_metadata`` into it as its last step."""
    from stream.job import runner

    folders = set(runner.checkpoint_dir(settings).glob("*/chk-*"))
    return folders, {f for f in folders if (f / "_metadata").exists()}


def kill_9_during_a_checkpoint(part, settings, timeout: float = 90) -> tuple[Path, int]:
    """kill -9 of the part (the job) while a checkpoint is in progress, caused rather than hoped for:
    from the moment Flink makes a new checkpoint's folder the whole process group is frozen
    (SIGSTOP), which holds that checkpoint open; the frozen folder without ``_metadata`` proves it
    had not completed, and the kill lands then. A checkpoint that completed before the freeze (or
    the first one, with nothing to resume from) is let go (SIGCONT) and the next one is taken.
    Returns (the checkpoint the kill interrupted, checkpoints let go before it)."""
    group = processes.state(part, settings).pid
    seen, _ = checkpoint_folders(settings)
    let_go = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folders, _ = checkpoint_folders(settings)
        if not folders - seen:
            time.sleep(0.002)  # a directory listing: cheap enough to look every 2 ms
            continue
        os.killpg(group, signal.SIGSTOP)
        folders, completed = checkpoint_folders(settings)
        open_now = sorted(folders - seen - completed)
        if open_now and completed:  # held open, and an earlier one to resume from
            os.killpg(group, signal.SIGKILL)
            assert wait_for(lambda: not probes.port_answers(next(iter(part.ports(settings).values()))), 30)
            return open_now[0], let_go
        os.killpg(group, signal.SIGCONT)
        seen, let_go = folders, let_go + 1
    raise AssertionError(f"no checkpoint started within {timeout:.0f} s ({let_go} let go); "
                         f"folders: {sorted(checkpoint_folders(settings)[0])}")


def wall_payload(settings) -> dict | None:
    """What the wall shows: its poll callback's answer, posted over HTTP as the browser does."""
    body = {"output": "wall-payload.data", "outputs": {"id": "wall-payload", "property": "data"},
            "inputs": [{"id": "wall-request", "property": "data", "value": {"seq": 1, "t": 0}}],
            "changedPropIds": ["wall-request.data"], "state": []}
    request = urllib.request.Request(f"http://127.0.0.1:{settings.dashboard_port}/_dash-update-component",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["response"]["wall-payload"]["data"]
    except OSError:
        return None


def wall_gmv_fen(settings) -> int | None:
    """The festival GMV the wall shows, or None while it shows none."""
    payload = wall_payload(settings)
    return payload["gmv"]["fen"] if payload and payload.get("ok") and payload.get("has_data") else None


class WallWatch:
    """Polls the wall's feed over HTTP in a thread, as a screen does, and keeps the age of the data
    each answer showed (now minus its ``as_of_ms``) and the answers that showed none."""

    def __init__(self, settings, every_s: float = 0.25) -> None:
        self.settings, self.every_s = settings, every_s
        self.ages_s: list[float] = []
        self.at_s: list[float] = []  # when each age was seen, from the watch's start
        self.failed: list[str] = []
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WallWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            payload = wall_payload(self.settings)
            if not payload or not payload.get("ok") or not payload.get("has_data"):
                self.failed.append(str(payload and payload.get("error")))
                continue
            self.ages_s.append(time.time() - payload["as_of_ms"] / 1000)
            self.at_s.append(time.monotonic() - self._started)

    @property
    def oldest_s(self) -> float:
        return max(self.ages_s, default=float("inf"))

    @property
    def oldest_at_s(self) -> float:
        """When the oldest data was shown, from the watch's start."""
        return self.at_s[self.ages_s.index(self.oldest_s)] if self.ages_s else float("nan")


def ledger_gmv(ledger) -> int:
    from stream.contract import MEASURES
    from stream.job.verify import ledger_totals

    with open(ledger) as f:
        expected, _ = ledger_totals(f)
    at = MEASURES.index("gmv_fen")
    return sum(v[at] for k, v in expected.items() if k[0] == "orders_second")


def finish(settings, simulator: subprocess.Popen, ledger, fault_at: float, timeout: float = 240) -> float:
    """The simulator delivered everything; the rollups equal the ledger and the wall shows its GMV.
    Returns the recovery time (s from the fault until the wall showed the ledger's GMV)."""
    out, _ = simulator.communicate(timeout=timeout)
    assert simulator.returncode == 0, out
    assert "not delivered" not in out, out
    sent = int(re.search(r"sent (\d+) events", out).group(1))
    assert messages_in_kafka(settings) == sent  # each message once: none lost, none sent twice
    found: list = []

    def exact() -> bool:
        found[:] = differences(settings, ledger)
        return not found

    if not wait_for(exact, timeout, interval=2):
        raise AssertionError(f"{len(found)} differences, first: {found[:3]}\n{pipeline_diagnosis(settings)}")
    expected = ledger_gmv(ledger)
    assert wait_for(lambda: wall_gmv_fen(settings) == expected, 60), (wall_gmv_fen(settings), expected)
    recovered = time.monotonic() - fault_at
    return recovered


def messages_in_kafka(settings) -> int:
    """Messages in the raw topics, heartbeats left out (they are not events)."""
    from kafka import KafkaConsumer

    topics = (settings.orders_topic, settings.logistics_topic)
    total = sum(kafka_admin.end_offsets(settings, topics).values())
    consumer = KafkaConsumer(*topics, bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=20000)
    read = events = 0
    deadline = time.monotonic() + 60
    try:
        while read < total:
            assert time.monotonic() < deadline, f"read {read} of {total} messages back"
            for records in consumer.poll(timeout_ms=500).values():
                read += len(records)
                events += sum(not r.value.startswith(b'{"heartbeat"') for r in records)
        return events
    finally:
        consumer.close()


def sent_some(settings) -> bool:
    ends = kafka_admin.end_offsets(settings, (settings.orders_topic,))
    return sum(ends.values()) >= EVENTS // 5
