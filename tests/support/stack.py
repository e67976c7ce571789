"""Helpers for tests and benches that start their own servers: free ports, private settings, the seeded
simulation and the wait for exact rollups."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from stream import probes
from stream.job import verify
from stream.probes import wait_for
from stream.settings import PROJECT_ROOT, Settings, load
from stream.stack import clickhouse, processes

SHARED_JARS = PROJECT_ROOT / "var" / "jars"


@contextmanager
def running(parts: Sequence[processes.Part], settings: Settings) -> Iterator[Settings]:
    """Each part started in turn for the block and stopped after it, last first (a part that never
    started has nothing to stop)."""
    try:
        processes.start_all(parts, settings, echo=lambda line: None)
        yield settings
    finally:
        processes.stop_all(parts, settings, echo=lambda line: None)


def distinct_free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(probes.free_port())
    return sorted(ports)


def fresh_settings(home: Path) -> Settings:
    """Settings for a private stack under ``home``: free ports, the shared jar cache, no env."""
    k, kc, ch, chh, dash, flink, flink_rpc = distinct_free_ports(7)
    return load(
        env={},
        home=home,
        jars_dir=SHARED_JARS,
        kafka_port=k,
        kafka_controller_port=kc,
        clickhouse_port=ch,
        clickhouse_http_port=chh,
        dashboard_port=dash,
        flink_port=flink,
        flink_rpc_port=flink_rpc,
        start_timeout=120.0,
    )


def command_lines() -> list[str]:
    """Command lines of every live process (to prove a test left none of its own behind)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def unique_suffix() -> str:
    return uuid.uuid4().hex[:10]


# -- the pipeline end to end: a seeded simulation and the wait for exact rollups --------------

FAULTS = ["--duplicates", "0.02", "--late", "0.02", "--late-by", "30", "--malformed", "0.01"]


def simulate(settings, ledger, events=200_000, seed=11, start="2021-11-11T19:50+08:00", scale=0.01,
             delay_compression: float | None = None) -> None:
    """A compressed festival evening (or the replay from ``start``) into the settings' topics,
    with ground truth in ``ledger``. Its last heartbeat closes every window of the day (``--close
    day``), so the explore path's 5 minutes, hours and day are written and verified too.
    ``delay_compression``: parcel delays divided by it (the replay's default otherwise)."""
    started = time.monotonic()
    cmd = [sys.executable, "-m", "stream.cli", "simulate", "--clock", "replay",
           "--start", start, "--speed", "120", "--rate", "max", "--scale", str(scale),
           "--events", str(events), "--seed", str(seed), "--ledger", str(ledger), "--close", "day", *FAULTS,
           *(("--delay-compression", str(delay_compression)) if delay_compression else ())]
    result = subprocess.run(cmd, env={**os.environ, **settings.to_env()}, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    print(f"simulated {events} events in {time.monotonic() - started:.1f} s")


def differences(settings, ledger) -> list:
    try:
        with clickhouse.connect(settings, "reader") as client:
            return verify.verify(client, settings.clickhouse_database, ledger)[0]
    except Exception as exc:  # noqa: BLE001 - ClickHouse restarting: not exact yet
        return [exc]


def pipeline_diagnosis(settings) -> str:
    """Where the events stopped: the job's and the loader's Kafka lag, and the last lines of the logs."""
    from stream.job import loader, runner
    from stream.stack import kafka_admin

    lines = []
    for name, group, topics in (
        ("job", runner.CONSUMER_GROUP, (settings.orders_topic, settings.logistics_topic)),
        ("loader", loader.CONSUMER_GROUP, tuple(settings.rollup_topics.values())),
    ):
        try:
            lag = kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{group}", topics)
        except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure it explains
            lag = f"unknown ({exc})"
        lines.append(f"{name} lag: {lag} (None = never committed)")
    for log in (settings.log_dir / "job.log", *sorted((settings.log_dir / "flink").glob("*.log"))):
        lines += log_problems(log, also=("job:", "loader"))
    return "\n".join(lines)


def log_problems(log: Path, last: int = 15, also: tuple[str, ...] = ()) -> list[str]:
    """A header and the last warnings and errors of a log (plus lines holding any of ``also``)."""
    if not log.exists():
        return []
    marks = (" WARN ", " ERROR ", *also)
    found = [line for line in log.read_text(errors="replace").splitlines() if any(m in line for m in marks)]
    return [f"--- {log.name}: last warnings and errors ---", *found[-last:]]


def wait_exact(settings, ledger, timeout=240, diagnose=None) -> None:
    """Wait until the rollups equal the ledger; ``diagnose`` adds context to a failure."""
    diagnose = diagnose or (lambda: pipeline_diagnosis(settings))
    found: list = []

    def exact() -> bool:
        found[:] = differences(settings, ledger)
        return not found

    started = time.monotonic()
    if not wait_for(exact, timeout, interval=2):
        raise AssertionError(f"{len(found)} differences, first: {found[:3]}\n{diagnose()}")
    print(f"exact after {time.monotonic() - started:.1f} s")
