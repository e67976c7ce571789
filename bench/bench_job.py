"""Benchmark the Flink job: sustained throughput at parallelism 1 and 2, and freshness.

Starts a private Kafka and ClickHouse (free ports, temp folder) with the project's launcher.

- Throughput: N events are loaded into Kafka first; the job then starts from the beginning, and
  the rate is how fast its committed Kafka lag falls (see ``throughput``).
- Freshness: the simulator runs live at a steady rate while the job runs. The bench's orders
  and per-second rollup topics stamp records with the broker's arrival time (LogAppendTime), so
  each order event's path splits into stages: event time -> reached Kafka (the producer),
  reached Kafka -> its window's row visible in ClickHouse (``written_ms``), and per window,
  window end -> rollup in Kafka (the job) -> visible (the loader). p50 and p99 of each, after
  a warm-up.

Usage: .venv/bin/python bench/bench_job.py [--events 300000] [--parallelisms 1,2] [--rates 1000,2000,3000]
                                           [--seconds 60]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream import probes
from stream.job import runner
from stream.probes import wait_for
from stream.stack import clickhouse, kafka_admin, launcher, migrations, processes
from tests.support.stack import fresh_settings, unique_suffix


def fresh_pipeline(base):
    settings = base.replace(topic_prefix=f"b{unique_suffix()}-", clickhouse_database=f"bench_{unique_suffix()}",
                            flink_port=probes.free_port())
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
    return kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{runner.CONSUMER_GROUP}",
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
    part = dataclasses.replace(launcher.JOB, command=lambda s: job_command(parallelism))
    processes.start(part, settings)
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
        processes.stop(part, settings)
    if len(steps) < 3:
        raise SystemExit("throughput: fewer than 3 checkpoints while draining; use more --events")
    (t0, lag0), (t1, lag1) = steps[0], steps[-1]
    return (lag0 - lag1) / (t1 - t0)


WARMUP_S = 10


def stamp_on_arrival(settings) -> None:
    """Kafka stamps each record of these topics with the broker's clock when it arrives
    (LogAppendTime), so a record's timestamp says when it reached Kafka."""
    from kafka.admin import ConfigResource, ConfigResourceType

    client = kafka_admin.admin(settings)
    try:
        client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                             configs={"message.timestamp.type": "LogAppendTime"})
                              for topic in (settings.orders_topic, settings.rollup_topics["orders_second"])])
    finally:
        client.close()


def read_topic(settings, topic: str) -> list:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000, max_poll_records=20000)
    try:
        return list(consumer)
    finally:
        consumer.close()


def order_arrivals(settings) -> np.ndarray:
    """(event time ms, reached Kafka ms) of every order event, heartbeats left out."""
    rows = [(event["event_time"], record.timestamp) for record in read_topic(settings, settings.orders_topic)
            if "event_id" in (event := json.loads(record.value))]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def rollup_arrivals(settings) -> dict[int, int]:
    """On-time per-second window start (s) -> when its first rollup record reached Kafka (ms)."""
    arrivals: dict[int, int] = {}
    for record in read_topic(settings, settings.rollup_topics["orders_second"]):
        key = json.loads(record.key)
        if key["late"] == 0:
            arrivals.setdefault(key["window_start"], record.timestamp)
    return arrivals


def pct(values, q: float) -> float:
    return float(np.percentile(values, q)) / 1000


def freshness(base, rate: int, seconds: int) -> dict[str, tuple[float, float]]:
    """p50 and p99 (s) of each stage between an order event and its window's row in ClickHouse.

    Per order event (every one, from the orders topic): end to end (event time -> visible) and
    from the moment it reached Kafka (what the pipeline adds to a producer's delay). Per window:
    window end -> its rollup in Kafka (the job) and rollup in Kafka -> visible (the loader).
    """
    settings = fresh_pipeline(base)
    stamp_on_arrival(settings)
    processes.start(launcher.JOB, settings)
    try:
        simulate(settings, "--clock", "live", "--rate", str(rate), "--duration", str(seconds))
        wait_for(lambda: lag(settings) == 0, 120, interval=0.5)
        with clickhouse.connect(settings, "reader") as client:
            visible = dict(client.execute(
                f"SELECT toUnixTimestamp(window_start), written_ms "
                f"FROM {settings.clickhouse_database}.orders_per_second FINAL WHERE late = 0"))
    finally:
        processes.stop(launcher.JOB, settings)
    if len(visible) < seconds // 2:
        raise SystemExit(f"freshness: only {len(visible)} on-time windows in ClickHouse after {seconds} s "
                         f"(job lag {lag(settings)}); see {settings.log_dir / 'job.log'}")
    # Steady state: leave out the warm-up and the last two windows (the closing heartbeat's).
    steady = sorted(visible)[WARMUP_S:-2]
    first, last = steady[0], steady[-1]
    events = order_arrivals(settings)
    in_steady = (events[:, 0] // 1000 >= first) & (events[:, 0] // 1000 <= last)
    events = events[in_steady]
    window = events[:, 0] // 1000
    shown = np.array([visible.get(int(w), -1) for w in window])
    on_time = shown >= 0  # an event behind the watermark is in a correction row instead
    rollups = rollup_arrivals(settings)
    job_stage = [rollups[w] - (w + 1) * 1000 for w in steady if w in rollups]
    loader_stage = [visible[w] - rollups[w] for w in steady if w in rollups]
    stages = {
        "event -> visible (end to end)": shown[on_time] - events[on_time, 0],
        "event -> reached Kafka (producer)": events[:, 1] - events[:, 0],
        "reached Kafka -> visible": shown[on_time] - events[on_time, 1],
        "window end -> rollup in Kafka (job)": job_stage,
        "rollup in Kafka -> visible (loader)": loader_stage,
    }
    slowest = sorted((visible[w] - (w + 1) * 1000, w) for w in steady)[-3:]
    print("    slowest windows (second of the minute: window end -> rollup in Kafka + -> visible): "
          + ", ".join(f":{w % 60:02d} {(rollups.get(w, 0) - (w + 1) * 1000) / 1000:.2f}+"
                      f"{(visible[w] - rollups.get(w, 0)) / 1000:.2f} s" for _, w in reversed(slowest)))
    return {name: (pct(v, 50), pct(v, 99)) for name, v in stages.items()} | {
        "_counts": (int(on_time.sum()), len(steady))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--parallelisms", default="1,2", help="of the throughput runs ('' for none)")
    parser.add_argument("--rates", default="1000,2000,3000", help="orders/s of the freshness runs ('' for none)")
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        base = fresh_settings(Path(home))
        processes.start(launcher.KAFKA, base)
        processes.start(launcher.CLICKHOUSE, base)
        try:
            for parallelism in [int(p) for p in args.parallelisms.split(",") if p]:
                rate = throughput(base, args.events, parallelism)
                print(f"throughput  parallelism {parallelism}: {rate:,.0f} events/s ({args.events:,} events)",
                      flush=True)
            for rate in [int(r) for r in args.rates.split(",") if r]:
                stages = freshness(base, rate, args.seconds)
                events, windows = stages.pop("_counts")
                print(f"freshness   at {rate:,} orders/s live for {args.seconds} s ({events:,} order events in "
                      f"{windows} one-second windows after a {WARMUP_S} s warm-up):", flush=True)
                for name, (p50, p99) in stages.items():
                    print(f"    {name:<38} p50 {p50:5.2f} s   p99 {p99:5.2f} s", flush=True)
        finally:
            processes.stop(launcher.CLICKHOUSE, base)
            processes.stop(launcher.KAFKA, base)


if __name__ == "__main__":
    main()
