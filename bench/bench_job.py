"""Benchmark the Flink job: throughput draining a backlog, rows written, and freshness at stepped live rates.

Starts a private Kafka and ClickHouse (free ports, temp folder) with the project's launcher;
every run has topics and a database of its own, laid out as the measured checkout declares them
(its contract's rollup topics, its own migrations), so today's main and the new code run one after
the other on the same servers (``--trees main=DIR,new=.``).

- Throughput: N events are loaded into Kafka first (ending with a heartbeat that closes every
  window of their festival day); the job then starts from the beginning, and the rate is how fast
  its committed Kafka lag falls once the first ``WARMUP_SHARE`` is drained (the JVM compiles the
  job's code for tens of seconds after a start; see ``throughput``). At each parallelism, on the
  embedded cluster (``gmv job``) and on a standalone cluster (``gmv job --cluster``). It also
  counts the rollup rows the job wrote per 1,000 events once every window has closed: what the
  loader and ClickHouse must absorb.
- Rows ClickHouse receives: ClickHouse's own count of inserted rows (``system.events``
  InsertedRows) over the issue's festival replay (``INSERTED_REPLAY``: 150,000 events at 3,000
  orders/s from Nov 11 20:00, 1% duplicates and late), per event, as the run leaves it (the last
  minute closed) and once every window of the day has closed.
- Freshness: ``--workers`` simulator processes send live at a steady total rate while the job
  runs. The orders topic stamps each record with the broker's arrival time (LogAppendTime).
  The run's ClickHouse tables keep every version of a row (MergeTree instead of
  ReplacingMergeTree), so each version's ``written_ms`` says when that value became visible.
  A row's ``orders_created`` only grows, so the k-th order created in a window or breakdown row
  (by arrival in Kafka) became visible with the first version counting at least k of them.
  Per created order: event time -> visible in the per-second totals, in each of its live
  breakdown rows, and in its brand's row of the day's top brands (for brands already ranked);
  p50 and p99 after a warm-up. ``--step`` raises the rate by ``--factor`` until p99 passes 2 s.
  Explore's rows (written once a window closes): how long after their window closed they were
  visible, over a run long enough to close a 5-minute window (``--explore-seconds``).

Usage: .venv/bin/python bench/bench_job.py [--events 1000000] [--parallelisms 1,2] [--clusters embedded,standalone]
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
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream import probes, registry
from stream.contract import CUBE_DIMENSIONS
from stream.job import loader, runner
from stream.probes import wait_for
from stream.stack import clickhouse, kafka_admin, migrations, processes
from tests.support.stack import fresh_settings, unique_suffix

TARGET_P99_S = 2.0
# Freshness is measured once the job has run this long under the step's rate (its JVM compiles the
# job's code under load for tens of seconds after a start), over the --seconds that follow.
WARMUP_S = 30
# The share of a backlog drained before the throughput is measured: the JVM spends the job's first
# tens of seconds compiling its code (the C2 compiler took a third of a core for a minute).
WARMUP_SHARE = 0.2
# The festival replay, whose inserted rows per event are measured (stream.cli simulate args).
INSERTED_REPLAY = ("--clock", "replay", "--start", "2021-11-11T20:00+08:00", "--speed", "1", "--rate", "3000",
                   "--events", "150000", "--duplicates", "0.01", "--late", "0.01", "--late-by", "30")


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a checkout's contract declares: rollup name -> (topic suffix, table, window s, path)."""

    rollups: dict[str, tuple[str, str, int, str]]

    def topics(self, prefix: str) -> dict[str, str]:
        return {name: f"{prefix}{topic}" for name, (topic, *_) in self.rollups.items()}

    def table(self, name: str) -> str:
        return self.rollups[name][1]


def layout(tree: Path) -> Layout:
    """The rollups of the checkout at ``tree``, read by its own code (a subprocess)."""
    code = ("import json; from stream.contract import ROLLUPS as R; print(json.dumps({n: (r.topic(), r.table, "
            "r.window_s, getattr(r, 'path', 'live')) for n, r in R.items()}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree,
                         capture_output=True, text=True, check=True).stdout
    return Layout({n: tuple(v) for n, v in json.loads(out).items()})


def fresh_pipeline(base, tree: Path, all_versions: bool = False):
    """Topics and a database of their own, as ``tree`` lays them out; with ``all_versions`` the
    rollup tables keep every version of a row (MergeTree), so a bench can see when each value
    became visible."""
    settings = base.replace(topic_prefix=f"b{unique_suffix()}-", clickhouse_database=f"bench_{unique_suffix()}",
                            flink_port=probes.free_port())
    rollup_topics = tuple(layout(tree).topics(settings.topic_prefix).values())
    kafka_admin.create_topics(settings, (settings.orders_topic, settings.logistics_topic, settings.rejected_topic,
                                         *rollup_topics))
    directory = tree / "schemas" / "clickhouse"
    with clickhouse.connect(settings, "writer") as client:
        if all_versions:
            client.execute(f"CREATE DATABASE IF NOT EXISTS {settings.clickhouse_database}")
            for migration in migrations.migrations(directory):
                for statement in migration.statements(settings.clickhouse_database):
                    client.execute(statement.replace("ReplacingMergeTree(written_ms)", "MergeTree"))
        else:
            migrations.apply(client, settings.clickhouse_database, directory)
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
    return dataclasses.replace(registry.JOB, command=lambda s: command, env=lambda s: env)


def lag(settings, group: str = runner.CONSUMER_GROUP, topics: tuple[str, ...] | None = None) -> int | None:
    topics = topics or (settings.orders_topic, settings.logistics_topic)
    return kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{group}", topics)


def loaded(settings, tree: Path) -> bool:
    """The job has committed every event and the loader every rollup row of ``tree``'s topics."""
    topics = tuple(layout(tree).topics(settings.topic_prefix).values())
    return lag(settings) == 0 and lag(settings, loader.CONSUMER_GROUP, topics) == 0


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


def steady_rate(steps: list[tuple[float, int]], events: int) -> float:
    """Events/s from the committed lag's steps (time, lag): from the first step with at least
    ``WARMUP_SHARE`` of the backlog drained to the last. The job commits offsets at each
    checkpoint (every 5 s), so the lag falls in steps; rating between two of them needs no guess
    of the checkpoint slack, and leaves out the start-up and the first compilation of the code."""
    warm = next((i for i, (_, left) in enumerate(steps) if left <= events * (1 - WARMUP_SHARE)), 0)
    (t0, lag0), (t1, lag1) = steps[warm], steps[-1]
    if len(steps) - warm < 3:
        raise SystemExit("throughput: fewer than 3 checkpoints after the warm-up; use more --events")
    return (lag0 - lag1) / (t1 - t0)


def throughput(base, tree: Path, events: int, parallelism: int, cluster: str | None = None,
               recording: Path | None = None) -> dict:
    """Events/s while the job drains a backlog (:func:`steady_rate`), and the rollup rows it
    wrote per 1,000 events once the backlog's last heartbeat had closed every window of its day."""
    settings = fresh_pipeline(base, tree)
    simulate(settings, "--clock", "replay", "--speed", "120", "--rate", "max", "--scale", "0.01",
             "--events", str(events), "--seed", "5", "--close", "day")
    steps: list[tuple[float, int]] = []  # (when, lag) each time the committed lag changes
    with running_job(settings, tree, parallelism, cluster, recording):
        def drained() -> bool:
            now = lag(settings)
            if now is not None and (not steps or now != steps[-1][1]):
                steps.append((time.monotonic(), now))
            return now == 0
        if not wait_for(drained, 1800, interval=0.25):
            raise SystemExit(f"throughput: the job did not drain {events:,} events in 1800 s (lag {lag(settings)})")
    topics = layout(tree).topics(settings.topic_prefix)
    written = kafka_admin.end_offsets(settings, tuple(topics.values()))
    return {"events_per_s": steady_rate(steps, events), "events": events,
            "rollup_rows_per_1000_events": {name: written[topic] * 1000 / events for name, topic in topics.items()}}


# -- rows ClickHouse receives -----------------------------------------------------------------


def inserted_rows(settings) -> int:
    with clickhouse.connect(settings, "admin") as admin:
        rows = admin.execute("SELECT value FROM system.events WHERE event = 'InsertedRows'")
    return int(rows[0][0]) if rows else 0


def rows_received(base, tree: Path) -> dict:
    """ClickHouse's inserted rows per event over :data:`INSERTED_REPLAY` with the job and its
    loader running: as the replay leaves the windows (its last heartbeat closes the last minute),
    then once a heartbeat has closed every window of the day (the explore path's 5 minutes,
    hours and day, written once each)."""
    settings = fresh_pipeline(base, tree)
    before = inserted_rows(settings)
    with running_job(settings, tree, 1, None):
        simulate(settings, *INSERTED_REPLAY, "--ledger", str(settings.home / "inserted.jsonl"))
        wait_for(lambda: loaded(settings, tree), 300, interval=0.5)
        as_left = inserted_rows(settings) - before
        summary = json.loads((settings.home / "inserted.jsonl").read_text().splitlines()[-1])
        close_day(settings, summary["last_event_ms"])
        wait_for(lambda: loaded(settings, tree), 300, interval=0.5)
        wait_for(lambda: lag(settings) == 0 and _quiet(settings, tree), 120, interval=1.0)
        closed = inserted_rows(settings) - before
    events = int(INSERTED_REPLAY[INSERTED_REPLAY.index("--events") + 1])
    return {"events": events, "inserted_rows": as_left, "per_event": as_left / events,
            "inserted_rows_all_closed": closed, "per_event_all_closed": closed / events}


def close_day(settings, newest_ms: int) -> None:
    """A heartbeat to every partition past the end of the festival day of ``newest_ms``: every
    window of that day closes (as ``gmv simulate --close day`` ends a run)."""
    from stream.simulator.run import closing_heartbeat_ms
    from stream.simulator.sinks import KafkaSink

    sink = KafkaSink(settings)
    try:
        sink.heartbeat(closing_heartbeat_ms(newest_ms, "day"))
    finally:
        sink.close(timeout_s=30.0)


def _quiet(settings, tree: Path, for_s: float = 3.0) -> bool:
    """No rollup topic of ``tree`` grew for ``for_s`` seconds (the job wrote what the heartbeat closed)."""
    topics = tuple(layout(tree).topics(settings.topic_prefix).values())
    before = kafka_admin.end_offsets(settings, topics)
    time.sleep(for_s)  # measuring an interval of no growth, not waiting for an event
    return kafka_admin.end_offsets(settings, topics) == before and loaded(settings, tree)


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


def _flag(event: dict, field: str) -> str:
    return str(int(event[field])) if field == "vip" else event[field]


# Today's main declared its breakdowns differently (kept here to measure it beside the new code):
# per minute by category, province, channel and brand, two drill-down pairs, and the cube.
_MAIN_DIMENSIONS = ("category", "province", "channel", "brand")
_MAIN_PAIRS = (("category", "brand"), ("province", "channel"))

# rollup -> (key columns after window_start, the keys of one event's rows in it). A checkout is
# measured on those of its rollups that are here: the per-second totals ("seconds"), and its live
# breakdowns ("breakdowns": the new code's dimension rows, main's breakdown, pair and cube rows).
KEYS = {
    "orders_second": ((), lambda e: [()]),
    "dimensions_second": (("dimension", "value"), lambda e: [(d, _flag(e, d)) for d in CUBE_DIMENSIONS]),
    "orders_minute": (("dimension", "value"), lambda e: [(d, e[d]) for d in _MAIN_DIMENSIONS]),
    "orders_minute_pair": (("parent_dimension", "parent_value", "dimension", "value"),
                           lambda e: [(p, e[p], c, e[c]) for p, c in _MAIN_PAIRS]),
    "orders_minute_cube": (CUBE_DIMENSIONS, lambda e: [tuple(int(e[d]) if d == "vip" else e[d]
                                                             for d in CUBE_DIMENSIONS)]),
}
TOP = "top_brands"
EXPLORE_FIRST = ("cube_5min", "brands_5min")  # the explore path's finest windows


def _versions(settings, table: str, columns: tuple[str, ...], late: bool) -> dict[tuple, list[tuple[int, int]]]:
    """Every version of each row of ``table``: key -> [(orders_created counted, written_ms)] in
    the order written (a row's on-time and late parts are versioned apart; a reader sees their sum)."""
    select = ", ".join(("toUInt32(window_start)", *columns, "late" if late else "0", "orders_created", "written_ms"))
    with clickhouse.connect(settings, "reader") as client:
        rows = client.execute(f"SELECT {select} FROM {settings.clickhouse_database}.{table} ORDER BY written_ms")
    versions: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    latest: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for *key, part, count, written in rows:
        parts = latest[tuple(key)]
        parts[int(part)] = int(count)
        versions[tuple(key)].append((sum(parts), int(written)))
    return versions


def _visible(members: dict[tuple, list[int]], versions, arrival: np.ndarray, shown: np.ndarray) -> None:
    """For each row's members (slots, ranked within the row by Kafka arrival), when the first
    version counting them was written."""
    for key, slots in members.items():
        ranked = sorted(slots, key=lambda slot: arrival[slot])
        found = versions.get(key, [])
        counts = np.maximum.accumulate(np.array([c for c, _ in found] or [0]))
        at = np.searchsorted(counts, np.arange(1, len(ranked) + 1), side="left")
        for slot, a in zip(ranked, at):
            if a < len(found):
                shown[slot] = found[a][1]


def visible_at(settings, lay: Layout, rollup: str, events: list[tuple[dict, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For each (created event, its row in ``rollup``), in event order then row order: how long
    after its event time a version counting it was written (ms), NaN if none did. Events are
    ranked within a row by their arrival in Kafka."""
    window_s = lay.rollups[rollup][2]
    columns, keys_of = KEYS[rollup]
    versions = _versions(settings, lay.table(rollup), columns, late=True)
    members: dict[tuple, list[int]] = defaultdict(list)
    slots = []  # (event index) per (event, row)
    for i, (event, _) in enumerate(events):
        window = event["event_time"] // 1000 // window_s * window_s
        for key in keys_of(event):
            members[(window, *key)].append(len(slots))
            slots.append(i)
    shown = np.full(len(slots), np.nan)
    _visible(members, versions, np.array([events[i][1] for i in slots]), shown)
    event_ms = np.array([events[i][0]["event_time"] for i in slots], dtype=np.float64)
    return shown - event_ms, np.array(slots)


def top_visible_at(settings, lay: Layout, events: list[tuple[dict, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The same for each created order of a brand in the day's overall top brands: when its brand's
    ranking row first counted it. Only brands already ranked when the order reached Kafka count
    (a brand that enters the ranking brings its whole day at once, which says when it entered, not
    how fresh the ranking is)."""
    from stream.contract import festival_day_start

    versions = _versions(settings, lay.table(TOP), ("ranking", "brand"), late=False)
    first = {key: found[0][1] for key, found in versions.items()}
    members: dict[tuple, list[int]] = defaultdict(list)
    slots = []
    for i, (event, arrived) in enumerate(events):
        key = (festival_day_start(event["event_time"] // 1000), "", event["brand"])
        if key in first and first[key] <= arrived:
            members[key].append(len(slots))
            slots.append(i)
    # A ranked brand's row counts every order of its day: the orders that reached Kafka before the
    # row first appeared come first, so a member's rank in the row is theirs plus its own.
    before = Counter((festival_day_start(e["event_time"] // 1000), "", e["brand"]) for e, _ in events)
    shift = {key: before[key] - len(slots_of) for key, slots_of in members.items()}
    shown = np.full(len(slots), np.nan)
    _visible(members, {k: [(c - shift[k], w) for c, w in versions[k]] for k in members},
             np.array([events[i][1] for i in slots]), shown)
    event_ms = np.array([events[i][0]["event_time"] for i in slots], dtype=np.float64)
    return shown - event_ms, np.array(slots, dtype=np.int64)


def explore_delays(settings, lay: Layout, last_event_ms: int) -> dict:
    """How long after its window closed each row of the explore path's finest windows became
    visible (s): written_ms minus the window's end (event time, live clock), over the windows the
    stream closed (those ending before its last event; the run's last heartbeat closes the rest
    ahead of the clock); p50/p99 and the count."""
    found = []
    with clickhouse.connect(settings, "reader") as client:
        for name in (n for n in EXPLORE_FIRST if n in lay.rollups):
            window_s = lay.rollups[name][2]
            found += client.execute(
                f"SELECT written_ms - (toUInt32(window_start) + {window_s}) * 1000 FROM "
                f"{settings.clickhouse_database}.{lay.table(name)} WHERE late = 0 AND "
                f"(toUInt32(window_start) + {window_s}) * 1000 <= {int(last_event_ms)}")
    delays = np.array([float(d) for d, in found])
    return _percentiles(delays) | {"rows": len(delays)}


def freshness(base, tree: Path, rate: int, seconds: int, workers: int, parallelism: int = 2) -> dict:
    """p50/p99 (s) from an order's event time to when it is visible in ClickHouse: in the
    per-second totals, in its live breakdown rows (each table apart, and all together), and in the
    top brands; and, when the run closed an explore window, how long after closing its rows came."""
    lay = layout(tree)
    settings = fresh_pipeline(base, tree, all_versions=True)
    stamp_on_arrival(settings)
    part = job_part(tree, parallelism, None)
    processes.start(part, settings)
    try:
        senders = [subprocess.Popen([sys.executable, "-m", "stream.cli", "simulate", "--clock", "live",
                                     "--rate", str(rate / workers), "--duration", str(seconds + WARMUP_S),
                                     "--seed", str(w)],
                                    env={**os.environ, **settings.to_env()}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for w in range(workers)]
        for sender in senders:
            sender.wait(timeout=seconds + WARMUP_S + 120)
        wait_for(lambda: loaded(settings, tree), 180, interval=0.5)
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
    for rollup in (r for r in KEYS if r in lay.rollups):
        delays, of_event = visible_at(settings, lay, rollup, events)
        delays = delays[steady[of_event]]
        result[rollup] = _percentiles(delays)
        if rollup != "orders_second":
            breakdowns.append(delays)
    result["breakdowns"] = _percentiles(np.concatenate(breakdowns))
    series = ["orders_second", "breakdowns"]
    if TOP in lay.rollups:
        delays, of_event = top_visible_at(settings, lay, events)
        result[TOP] = _percentiles(delays[steady[of_event]] if len(of_event) else delays)
        series.append(TOP)
    result["explore"] = explore_delays(settings, lay, int(times.max()))
    result["ok"] = {k: result[k]["p99"] is not None and result[k]["p99"] <= TARGET_P99_S
                    and not result[k]["missing"] for k in series}
    return result


def _percentiles(delays_ms: np.ndarray) -> dict:
    seen = delays_ms[~np.isnan(delays_ms)]
    return {"p50": float(np.percentile(seen, 50)) / 1000 if len(seen) else None,
            "p99": float(np.percentile(seen, 99)) / 1000 if len(seen) else None,
            "missing": int(np.isnan(delays_ms).sum())}


def stepped(base, label: str, tree: Path, start: int, factor: float, seconds: int, workers: int,
            most: int) -> list[dict]:
    """Freshness at ``start``, ``start * factor``, ... until p99 passes the target for every
    series measured (or ``most`` steps)."""
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
    for name in ("producer", *(k for k in (*KEYS, TOP) if k in r), "breakdowns"):
        print(f"    {name:<22} {fmt(r[name])}", flush=True)
    if r.get("explore", {}).get("rows"):
        print(f"    {'explore (after close)':<22} {fmt(r['explore'])} over {r['explore']['rows']:,} rows", flush=True)


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
    parser.add_argument("--events", type=int, default=1_000_000,
                        help=f"backlog of each throughput run (the first {WARMUP_SHARE:.0%} warms the JVM up)")
    parser.add_argument("--parallelisms", default="1,2", help="of the throughput runs ('' for none)")
    parser.add_argument("--clusters", default="embedded", help="embedded,standalone: where the throughput runs go")
    parser.add_argument("--rates", default="1000,2000", help="orders/s of the freshness runs ('' for none)")
    parser.add_argument("--step", action="store_true", help="step the rate from the first of --rates up by --factor")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="simulator processes sending at once")
    parser.add_argument("--inserted", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the rows ClickHouse receives per event over the festival replay")
    parser.add_argument("--explore-seconds", type=int, default=330,
                        help="one live run this long at the first of --rates, which closes a 5-minute window: how "
                             "long after closing explore's rows come (0: skip)")
    parser.add_argument("--trees", default=f"new={PROJECT}",
                        help="LABEL=DIR,...: checkouts whose job to measure, one after the other "
                             "(e.g. main=/tmp/main,new=.; each needs its jars: `gmv setup` there)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the embedded job's JVM with Java Flight Recorder into DIR; print the top frames")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    trees = {label: Path(d).resolve() for label, _, d in (t.partition("=") for t in args.trees.split(",") if t)}
    report: dict = {"baselines": None, "throughput": [], "freshness": [], "inserted": [], "explore": []}
    with tempfile.TemporaryDirectory() as home:
        base = fresh_settings(Path(home))
        processes.start(registry.KAFKA, base)
        processes.start(registry.CLICKHOUSE, base)
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
            for label, tree in trees.items() if args.inserted else ():
                r = rows_received(base, tree)
                report["inserted"].append({"label": label, **r})
                _save(report, args.json)
                print(f"inserted    {label}: ClickHouse InsertedRows over the festival replay ({r['events']:,} "
                      f"events): {r['per_event']:.3f} per event as the replay leaves it, "
                      f"{r['per_event_all_closed']:.3f} once every window of the day has closed", flush=True)
            rates = [int(r) for r in args.rates.split(",") if r]
            for label, tree in trees.items() if args.explore_seconds and rates else ():
                r = {"label": label, **freshness(base, tree, rates[0], args.explore_seconds, args.workers)}
                report["explore"].append(r)
                _save(report, args.json)
                _print_freshness(r)
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
            processes.stop(registry.CLICKHOUSE, base)
            processes.stop(registry.KAFKA, base)
    _save(report, args.json)


def _save(report: dict, path: Path | None) -> None:
    """Write the report so far (a long bench that fails late keeps what it measured)."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
