"""Benchmark the Flink job: throughput draining a backlog, and freshness at stepped live rates.

Starts a private Kafka and ClickHouse (free ports, temp folder) with the project's launcher;
every run has topics and a database of its own.

- Throughput: N events are loaded into Kafka first; the job then starts from the beginning, and
  the rate is how fast its committed Kafka lag falls (see ``throughput``). At each parallelism,
  on the embedded cluster (``gmv job``) and on a standalone cluster (a JobManager and a
  TaskManager from PyFlink's scripts, ``gmv job --cluster``). It also counts the rollup rows
  the job wrote per 1,000 events: what the loader and ClickHouse must absorb.
- Freshness: ``--workers`` simulator processes send live at a steady total rate while the job
  runs. The orders topic stamps each record with the broker's arrival time (LogAppendTime).
  The run's ClickHouse tables keep every version of a row (MergeTree instead of
  ReplacingMergeTree), so each version's ``written_ms`` says when that value became visible.
  A row's ``orders_created`` only grows, so the k-th order created in a window or breakdown row
  (by arrival in Kafka) became visible with the first version counting at least k of them.
  Per created order: event time -> visible in orders_per_second (the per-second totals), and
  -> visible in each of its breakdown rows (orders_per_minute: category, province, channel,
  brand; the drill-down pairs; the cube); p50 and p99 after a warm-up. ``--step`` raises the
  rate by ``--factor`` until p99 of either passes 2 s.

Usage: .venv/bin/python bench/bench_job.py [--events 300000] [--parallelisms 1,2] [--clusters embedded,standalone]
                                           [--rates 1000,2000] [--step] [--seconds 60] [--workers 2] [--json OUT]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream import probes
from stream.contract import CUBE_DIMENSIONS, ROLLUPS
from stream.job import loader, runner
from stream.probes import wait_for
from stream.stack import clickhouse, kafka_admin, launcher, migrations, processes
from tests.support.stack import fresh_settings, unique_suffix

TARGET_P99_S = 2.0
WARMUP_S = 10


def fresh_pipeline(base, all_versions: bool = False):
    """Topics and a database of their own; with ``all_versions`` the rollup tables keep every
    version of a row (MergeTree), so a bench can see when each value became visible."""
    settings = base.replace(topic_prefix=f"b{unique_suffix()}-", clickhouse_database=f"bench_{unique_suffix()}",
                            flink_port=probes.free_port())
    kafka_admin.create_topics(settings)
    with clickhouse.connect(settings, "writer") as client:
        if all_versions:
            client.execute(f"CREATE DATABASE IF NOT EXISTS {settings.clickhouse_database}")
            for migration in migrations.migrations():
                for statement in migration.statements(settings.clickhouse_database):
                    client.execute(statement.replace("ReplacingMergeTree(written_ms)", "MergeTree"))
        else:
            migrations.apply(client, settings.clickhouse_database)
    return settings


def simulate(settings, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "stream.cli", "simulate", *args],
                   env={**os.environ, **settings.to_env()}, check=True, capture_output=True)


PROJECT = Path(__file__).resolve().parents[1]


def job_part(tree: Path, parallelism: int, cluster: str | None, recording: Path | None = None):
    """``gmv job`` of the checkout at ``tree`` (its code and its built Java function), so one bench
    can run today's main and the new code one after the other on the same servers. With
    ``recording``, the embedded cluster's JVM records a JFR profile there (see bench/jfr_top.py)."""
    command = ["env", f"PYTHONPATH={tree}", sys.executable, "-m", "stream.cli", "job",
               "--parallelism", str(parallelism), *(["--cluster", cluster] if cluster else [])]
    env = {"GMV_JARS_DIR": str(tree / "var" / "jars")}
    if recording:
        env["JVM_ARGS"] = (f"-Xmx{runner.JobOptions.jvm_heap} -Xms256m -XX:StartFlightRecording="
                           f"filename={recording},settings=profile,dumponexit=true")
    return dataclasses.replace(launcher.JOB, command=lambda s: command, env=lambda s: env)


def lag(settings, group: str = runner.CONSUMER_GROUP, topics: tuple[str, ...] | None = None) -> int | None:
    topics = topics or (settings.orders_topic, settings.logistics_topic)
    return kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{group}", topics)


# -- baselines -------------------------------------------------------------------------------


def baselines(base, records: int, runs: int = 3) -> dict:
    """Kafka's own ProducerPerformance and ConsumerPerformance on this broker (median of ``runs``):
    what every rate of the job is quoted against."""
    from stream.stack import kafka_perf

    rates = kafka_perf.measure(base, records, runs=runs)
    produced, consumed = ([r.per_second for r in side] for side in rates)
    return {"records": records, "runs": runs, "produce_per_s": float(np.median(produced)),
            "consume_per_s": float(np.median(consumed)), "produce_runs": produced, "consume_runs": consumed}


# -- throughput ------------------------------------------------------------------------------


@contextlib.contextmanager
def running_job(settings, tree: Path, parallelism: int, cluster: str | None, recording: Path | None = None):
    """The job, from start until every task runs, to its stop. On a standalone cluster ``gmv job
    --cluster`` submits and stays to load; its health is the cluster's (every task RUNNING)."""
    part = job_part(tree, parallelism, cluster, recording)
    if cluster is None:
        processes.start(part, settings)
        try:
            yield
        finally:
            processes.stop(part, settings)
        return
    from tests.support.flink_cluster import all_tasks_running

    rest = int(cluster.rpartition(":")[2])
    log = settings.log_dir / "job-on-cluster.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as output:
        # cwd away from any checkout: `python -m` puts the working folder first on the path
        job = subprocess.Popen(part.command(settings), env={**os.environ, **settings.to_env(), **part.env(settings)},
                               cwd=settings.home, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: all_tasks_running(rest), 180):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise SystemExit(f"throughput: the job did not start on the cluster; the end of {log}:\n{tail}")
        yield
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(timeout=60)


def throughput(base, tree: Path, events: int, parallelism: int, cluster: str | None = None,
               recording: Path | None = None) -> dict:
    """Events/s while the job drains a backlog, from the fall of its committed Kafka lag.

    The job commits offsets at each checkpoint (every 5 s), so the lag falls in steps; the rate
    is the fall between the first and the last step over the time between them, which leaves out
    the job's start-up and needs no guess of the checkpoint slack.
    """
    settings = fresh_pipeline(base)
    simulate(settings, "--clock", "replay", "--speed", "120", "--rate", "max", "--scale", "0.01",
             "--events", str(events), "--seed", "5")
    steps: list[tuple[float, int]] = []  # (when, lag) each time the committed lag changes
    with running_job(settings, tree, parallelism, cluster, recording):
        def drained() -> bool:
            now = lag(settings)
            if now is not None and (not steps or now != steps[-1][1]):
                steps.append((time.monotonic(), now))
            return now == 0
        if not wait_for(drained, 900, interval=0.25):
            raise SystemExit(f"throughput: the job did not drain {events:,} events in 900 s (lag {lag(settings)})")
    if len(steps) < 3:
        raise SystemExit("throughput: fewer than 3 checkpoints while draining; use more --events")
    (t0, lag0), (t1, lag1) = steps[0], steps[-1]
    written = kafka_admin.end_offsets(settings, tuple(settings.rollup_topics.values()))
    return {"events_per_s": (lag0 - lag1) / (t1 - t0), "events": events,
            "rollup_rows_per_1000_events": {name: written[topic] * 1000 / events
                                            for name, topic in settings.rollup_topics.items()}}


# -- freshness -------------------------------------------------------------------------------


def stamp_on_arrival(settings) -> None:
    """Kafka stamps each record of the orders topic with the broker's clock when it arrives
    (LogAppendTime), so a record's timestamp says when it reached Kafka."""
    from kafka.admin import ConfigResource, ConfigResourceType

    client = kafka_admin.admin(settings)
    try:
        client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.orders_topic,
                                             configs={"message.timestamp.type": "LogAppendTime"})])
    finally:
        client.close()


def created_orders(settings) -> list[tuple[dict, int]]:
    """Every order-created event of the orders topic, with when it reached Kafka (ms)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(settings.orders_topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000,
                             max_poll_records=20000)
    try:
        found = []
        for record in consumer:
            event = json.loads(record.value)
            if event.get("status") == "created":
                found.append((event, record.timestamp))
        return found
    finally:
        consumer.close()


# table -> (its key columns after window_start, the keys of one event's rows in it)
KEYS = {
    "orders_second": ((), lambda e: [()]),
    "dimensions_minute": (("dimension", "value"),
                          lambda e: [(d, str(int(e[d])) if d == "vip" else e[d]) for d in CUBE_DIMENSIONS]),
}


def visible_at(settings, rollup: str, events: list[tuple[dict, int]]) -> np.ndarray:
    """For each (created event, its row in ``rollup``), in event order then row order: how long
    after its event time a version counting it was written (ms), NaN if none did. Events are
    ranked within a row by their arrival in Kafka."""
    declared = ROLLUPS[rollup]
    columns, keys_of = KEYS[rollup]
    select = ", ".join(("toUInt32(window_start)", *columns, "late", "orders_created", "written_ms"))
    with clickhouse.connect(settings, "reader") as client:
        rows = client.execute(f"SELECT {select} FROM {settings.clickhouse_database}.{declared.table} "
                              f"ORDER BY written_ms")
    # A row's on-time and late parts are versioned apart; what a reader sees is their sum.
    versions: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    latest: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for *key, late, count, written in rows:
        parts = latest[tuple(key)]
        parts[int(late)] = int(count)
        versions[tuple(key)].append((sum(parts), int(written)))
    members: dict[tuple, list[int]] = defaultdict(list)
    slots = []  # (event index, its row)
    for i, (event, _) in enumerate(events):
        window = event["event_time"] // 1000 // declared.window_s * declared.window_s
        for key in keys_of(event):
            members[(window, *key)].append(len(slots))
            slots.append(i)
    arrival = np.array([reached for _, reached in events])
    shown = np.full(len(slots), np.nan)
    for key, members_of_row in members.items():
        ranked = sorted(members_of_row, key=lambda slot: arrival[slots[slot]])
        found = versions.get(key, [])
        counts = np.maximum.accumulate(np.array([c for c, _ in found] or [0]))
        at = np.searchsorted(counts, np.arange(1, len(ranked) + 1), side="left")
        for slot, a in zip(ranked, at):
            if a < len(found):
                shown[slot] = found[a][1]
    event_ms = np.array([events[i][0]["event_time"] for i in slots], dtype=np.float64)
    return shown - event_ms, np.array(slots)


def freshness(base, tree: Path, rate: int, seconds: int, workers: int, parallelism: int = 2) -> dict:
    """p50/p99 (s) from an order's event time to when it is visible in ClickHouse: in the
    per-second totals, and in every breakdown row (each table apart, and all together)."""
    settings = fresh_pipeline(base, all_versions=True)
    stamp_on_arrival(settings)
    part = job_part(tree, parallelism, None)
    processes.start(part, settings)
    try:
        senders = [subprocess.Popen([sys.executable, "-m", "stream.cli", "simulate", "--clock", "live",
                                     "--rate", str(rate / workers), "--duration", str(seconds), "--seed", str(w)],
                                    env={**os.environ, **settings.to_env()}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for w in range(workers)]
        for sender in senders:
            sender.wait(timeout=seconds + 120)
        rollup_topics = tuple(settings.rollup_topics.values())
        wait_for(lambda: lag(settings) == 0 and lag(settings, loader.CONSUMER_GROUP, rollup_topics) == 0, 180,
                 interval=0.5)
    finally:
        processes.stop(part, settings)
    events = created_orders(settings)
    if not events:
        raise SystemExit(f"freshness: no orders reached Kafka; see {settings.log_dir}")
    # Ranks count every order of a row; the figures leave out the warm-up and the last 2 s.
    times = np.array([e["event_time"] for e, _ in events])
    steady = (times >= times.min() + WARMUP_S * 1000) & (times <= times.max() - 2000)
    result = {"tree": str(tree), "rate": rate, "seconds": seconds, "workers": workers,
              "created_orders": int(steady.sum())}
    producer = np.array([r - e["event_time"] for e, r in events], dtype=np.float64)
    result["producer"] = _percentiles(producer[steady])
    breakdowns = []
    for rollup in KEYS:
        delays, of_event = visible_at(settings, rollup, events)
        delays = delays[steady[of_event]]
        result[rollup] = _percentiles(delays)
        if rollup != "orders_second":
            breakdowns.append(delays)
    result["breakdowns"] = _percentiles(np.concatenate(breakdowns))
    result["ok"] = {k: result[k]["p99"] is not None and result[k]["p99"] <= TARGET_P99_S
                    and not result[k]["missing"] for k in ("orders_second", "breakdowns")}
    return result


def _percentiles(delays_ms: np.ndarray) -> dict:
    seen = delays_ms[~np.isnan(delays_ms)]
    return {"p50": float(np.percentile(seen, 50)) / 1000 if len(seen) else None,
            "p99": float(np.percentile(seen, 99)) / 1000 if len(seen) else None,
            "missing": int(np.isnan(delays_ms).sum())}


def stepped(base, label: str, tree: Path, start: int, factor: float, seconds: int, workers: int,
            most: int) -> list[dict]:
    """Freshness at ``start``, ``start * factor``, ... until p99 passes the target for both the
    per-second totals and the breakdown rows (or ``most`` steps)."""
    results, rate = [], start
    for _ in range(most):
        results.append({"label": label, **freshness(base, tree, rate, seconds, workers)})
        _print_freshness(results[-1])
        if not any(results[-1]["ok"].values()):
            break
        rate = int(rate * factor)
    return results


def _print_freshness(r: dict) -> None:
    def fmt(p: dict) -> str:
        p50, p99 = p["p50"], p["p99"]
        text = f"p50 {p50:5.2f} s  p99 {p99:5.2f} s" if p99 is not None else "no rows"
        return text + (f"  ({p['missing']:,} never visible)" if p["missing"] else "")

    print(f"freshness   {r['label']}: {r['rate']:,} orders/s for {r['seconds']} s, {r['workers']} simulators "
          f"({r['created_orders']:,} orders created after a {WARMUP_S} s warm-up): "
          + ", ".join(f"{k} p99 {'<=' if ok else '>'} 2 s" for k, ok in r["ok"].items()), flush=True)
    for name in ("producer", *KEYS, "breakdowns"):
        print(f"    {name:<22} {fmt(r[name])}", flush=True)


def _throughput_on(base, where: str, home: Path, tree: Path, events: int, parallelism: int,
                   profile: Path | None) -> dict:
    if where != "standalone":
        if profile is None:
            return throughput(base, tree, events, parallelism)
        import jfr_top

        recording = profile / f"{tree.name}-p{parallelism}.jfr"
        recording.parent.mkdir(parents=True, exist_ok=True)
        result = throughput(base, tree, events, parallelism, recording=recording)
        summary = jfr_top.summarize(recording)
        print("\n".join(f"    profile {tree.name}: {line}" for line in jfr_top.lines(summary)), flush=True)
        return {**result, "profile": summary}
    from tests.support.flink_cluster import standalone_cluster

    with standalone_cluster(home / f"flink-{unique_suffix()}") as (rest, _env):
        return throughput(base, tree, events, parallelism, f"127.0.0.1:{rest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", type=int, default=500_000, metavar="N",
                        help="messages Kafka's own producer and consumer tools move, 3 runs (0: skip)")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--parallelisms", default="1,2", help="of the throughput runs ('' for none)")
    parser.add_argument("--clusters", default="embedded", help="embedded,standalone: where the throughput runs go")
    parser.add_argument("--rates", default="1000,2000", help="orders/s of the freshness runs ('' for none)")
    parser.add_argument("--step", action="store_true", help="step the rate from the first of --rates up by --factor")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="simulator processes sending at once")
    parser.add_argument("--trees", default=f"new={PROJECT}",
                        help="LABEL=DIR,...: checkouts whose job to measure, one after the other "
                             "(e.g. main=/tmp/main,new=.; each needs its jars: `gmv setup` there)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the embedded job's JVM with Java Flight Recorder into DIR; print the top frames")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    trees = {label: Path(d).resolve() for label, _, d in (t.partition("=") for t in args.trees.split(",") if t)}
    report: dict = {"baselines": None, "throughput": [], "freshness": []}
    with tempfile.TemporaryDirectory() as home:
        base = fresh_settings(Path(home))
        processes.start(launcher.KAFKA, base)
        processes.start(launcher.CLICKHOUSE, base)
        try:
            if args.baselines:
                report["baselines"] = b = baselines(base, args.baselines)
                _save(report, args.json)
                print(f"baseline    kafka ProducerPerformance {b['produce_per_s']:,.0f} messages/s, "
                      f"ConsumerPerformance {b['consume_per_s']:,.0f} messages/s "
                      f"(median of {b['runs']}, {args.baselines:,} x 380 B)", flush=True)
            for where in [c for c in args.clusters.split(",") if c]:
                for parallelism in [int(p) for p in args.parallelisms.split(",") if p]:
                    for label, tree in trees.items():
                        r = _throughput_on(base, where, Path(home), tree, args.events, parallelism, args.profile)
                        report["throughput"].append({"label": label, "cluster": where, "parallelism": parallelism,
                                                     **r})
                        _save(report, args.json)
                        rows = ", ".join(f"{k} {v:,.0f}" for k, v in r["rollup_rows_per_1000_events"].items())
                        ratio = (f" = {r['events_per_s'] / report['baselines']['consume_per_s']:.1%} of the raw "
                                 "consume rate" if report["baselines"] else "")
                        print(f"throughput  {label}: {where} cluster, parallelism {parallelism}: "
                              f"{r['events_per_s']:,.0f} events/s{ratio} ({args.events:,} events); "
                              f"rollup rows per 1,000 events: {rows}", flush=True)
            rates = [int(r) for r in args.rates.split(",") if r]
            for label, tree in trees.items():
                if args.step and rates:
                    report["freshness"] += stepped(base, label, tree, rates[0], args.factor, args.seconds,
                                                   args.workers, most=8)
                    _save(report, args.json)
                    continue
                for rate in rates:
                    report["freshness"].append({"label": label,
                                                **freshness(base, tree, rate, args.seconds, args.workers)})
                    _print_freshness(report["freshness"][-1])
                    _save(report, args.json)
        finally:
            processes.stop(launcher.CLICKHOUSE, base)
            processes.stop(launcher.KAFKA, base)
    _save(report, args.json)


def _save(report: dict, path: Path | None) -> None:
    """Write the report so far (a long bench that fails late keeps what it measured)."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
