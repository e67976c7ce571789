"""Benchmark the Flink job: sustained throughput at parallelism 1 and 2, and freshness.

Starts a private Kafka and ClickHouse (free ports, temp folder) with the project's launcher.

- Throughput: N events are loaded into Kafka first; the job then starts from the beginning, and
  the rate is how fast its committed Kafka lag falls (see ``throughput``).
- Freshness: the simulator runs live at a steady rate while the job runs; for every
  per-second window, event -> visible latency = written_ms - event time, with the window's
  orders spread evenly over its second. Prints p50 and p99 over all orders after a warm-up
  (the job's first seconds, while its JIT warms, are reported apart as the worst window).

Usage: .venv/bin/python bench/bench_job.py [--events 300000] [--rates 1000,2000,3000] [--seconds 60]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stack_support import fresh_settings, unique_suffix

from stream import clickhouse, job, kafka_admin, migrations, services, stack
from stream.services import wait_for


def fresh_pipeline(base):
    settings = base.replace(topic_prefix=f"b{unique_suffix()}-", clickhouse_database=f"bench_{unique_suffix()}",
                            flink_port=services.free_port())
    kafka_admin.create_topics(settings)
    with clickhouse.connect(settings, "writer") as client:
        migrations.apply(client, settings.clickhouse_database)
    return settings


def simulate(settings, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "stream.cli", "simulate", *args],
                   env={**os.environ, **settings.to_env()}, check=True, capture_output=True)


def job_command(parallelism: int) -> list[str]:
    return [sys.executable, "-m", "stream.cli", "job", "--parallelism", str(parallelism)]


def lag(settings) -> int | None:
    return kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{job.CONSUMER_GROUP}",
                                    (settings.orders_topic, settings.logistics_topic))


def throughput(base, events: int, parallelism: int) -> float:
    """Events/s while the job drains a backlog, from the fall of its committed Kafka lag.

    The job commits offsets at each checkpoint (every 5 s), so the lag falls in steps; the rate
    is the fall between the first and the last step over the time between them, which leaves out
    the job's start-up and needs no guess of the checkpoint slack.
    """
    settings = fresh_pipeline(base)
    simulate(settings, "--clock", "replay", "--speed", "120", "--rate", "max", "--scale", "0.01",
             "--events", str(events), "--seed", "5")
    part = dataclasses.replace(stack.JOB, command=lambda s: job_command(parallelism))
    services.start(part, settings)
    steps: list[tuple[float, int]] = []  # (when, lag) each time the committed lag changes
    try:
        def drained() -> bool:
            now = lag(settings)
            if now is not None and (not steps or now != steps[-1][1]):
                steps.append((time.monotonic(), now))
            return now == 0
        if not wait_for(drained, 900, interval=0.25):
            raise SystemExit(f"throughput: the job did not drain {events:,} events in 900 s (lag {lag(settings)})")
    finally:
        services.stop(part, settings)
    if len(steps) < 3:
        raise SystemExit("throughput: fewer than 3 checkpoints while draining; use more --events")
    (t0, lag0), (t1, lag1) = steps[0], steps[-1]
    return (lag0 - lag1) / (t1 - t0)


WARMUP_S = 10


def freshness(base, rate: int, seconds: int) -> tuple[float, float, int, float, float]:
    settings = fresh_pipeline(base)
    services.start(stack.JOB, settings)
    try:
        simulate(settings, "--clock", "live", "--rate", str(rate), "--duration", str(seconds))
        wait_for(lambda: lag(settings) == 0, 120, interval=0.5)
        with clickhouse.connect(settings, "reader") as client:
            windows = client.execute(
                f"SELECT toUnixTimestamp(window_start), orders_created, written_ms "
                f"FROM {settings.clickhouse_database}.orders_per_second FINAL WHERE late = 0")
    finally:
        services.stop(stack.JOB, settings)
    if len(windows) < seconds // 2:
        raise SystemExit(f"freshness: only {len(windows)} on-time windows in ClickHouse after {seconds} s "
                         f"(job lag {lag(settings)}); see {settings.log_dir / 'job.log'}")
    windows = sorted(windows)[:-2]  # the last two hold the closing heartbeat, not steady traffic
    warmup_worst = max((w - s * 1000 - 1000) / 1000 for s, _, w in windows[:WARMUP_S])
    windows = windows[WARMUP_S:]
    closed_after = [(w - s * 1000 - 1000) / 1000 for s, _, w in windows]  # window end -> visible
    samples = []
    for start, orders, written_ms in windows:
        offsets = (np.arange(orders) + 0.5) / max(orders, 1) * 1000  # orders spread over the second
        samples.append(written_ms - (start * 1000 + offsets))
    latencies = np.concatenate(samples) / 1000
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)), len(latencies), float(np.median(closed_after)), warmup_worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rates", default="1000,2000,3000", help="orders/s of the freshness runs")
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        base = fresh_settings(Path(home))
        services.start(stack.KAFKA, base)
        services.start(stack.CLICKHOUSE, base)
        try:
            for parallelism in (1, 2):
                rate = throughput(base, args.events, parallelism)
                print(f"throughput  parallelism {parallelism}: {rate:,.0f} events/s ({args.events:,} events)", flush=True)
            for rate in map(int, args.rates.split(",")):
                p50, p99, n, closed, warmup = freshness(base, rate, args.seconds)
                print(f"freshness   at {rate:,} orders/s live for {args.seconds} s: event -> visible in ClickHouse "
                      f"p50 {p50:.2f} s, p99 {p99:.2f} s ({n:,} orders after a {WARMUP_S} s warm-up); "
                      f"a window is visible a median {closed:.2f} s after it ends "
                      f"(worst during warm-up {warmup:.2f} s)", flush=True)
        finally:
            services.stop(stack.CLICKHOUSE, base)
            services.stop(stack.KAFKA, base)


if __name__ == "__main__":
    main()
