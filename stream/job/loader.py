"""Drain the job's rollup topics into ClickHouse, losing nothing when ClickHouse is down.

Each rollup topic is an upsert log keyed by window and dimensions. The loader
inserts a polled batch (the last value per key) with ``written_ms`` = now, and
commits the Kafka offsets only after ClickHouse accepted the insert; if
ClickHouse is down it retries the same batch with backoff. A crash replays
from the last commit: rewriting a key with a newer ``written_ms`` replaces the
row (ReplacingMergeTree), so nothing is counted twice.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import orjson

from stream.contract import EXPLORE_LANE, MINUTES_LANE, ROLLUPS, SECONDS_LANE, TEXT, VERSION_COLUMN
from stream.errors import GmvError
from stream.settings import Settings
from stream.stack import clickhouse

log = logging.getLogger("gmv.loader")

# rollup name -> (ClickHouse table, columns in the order of the insert, without written_ms)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (rollup.table, rollup.column_names) for name, rollup in ROLLUPS.items()
}
CONSUMER_GROUP = "gmv-loader"
# A lane idle this long checks that its partitions hold nothing unread (see Loader._check_not_stalled).
STALL_CHECK_S = 10.0

# Each lane is a consumer and a ClickHouse connection of its own (stream.contract's lanes): the
# per-second rollups never queue behind the live minutes (on one lane the seconds once waited
# seconds behind the breakdowns), nor those behind the burst of rows a closing window brings on the
# explore path (every brand and cube row of the 5 minutes, hour or day at once).
LANES: tuple[tuple[str, ...], ...] = tuple(
    tuple(name for name, rollup in ROLLUPS.items() if rollup.lane == lane)
    for lane in (SECONDS_LANE, MINUTES_LANE, EXPLORE_LANE)
)


def to_row(columns: tuple[str, ...], value: dict, written_ms: int) -> tuple:
    """One ClickHouse row from a rollup message value.

    ``window_start`` stays epoch seconds: clickhouse-driver writes an int to a DateTime column as
    it is, which is exact and skips a time zone conversion per row.
    """
    return (*(value[column] for column in columns), written_ms)


# The values of a deleted key: what its row is rewritten with.
_ZEROS = {name: {c.name: "" if c.kind == TEXT else 0 for c in rollup.values} for name, rollup in ROLLUPS.items()}


def batch_rows(messages: Iterable[tuple[str, bytes | None, bytes | None]], written_ms: int
               ) -> dict[str, list[tuple]]:
    """Rows per rollup from (rollup, key, value) messages, keeping the last value per key.

    A tombstone (value None: the job deleted the key, as the buyers rollups do when a second's
    or a minute's last buyer moves to an earlier one, and the top brands when a brand leaves a
    ranking) is written as the key with every value zero (0, or '' for text), which replaces the
    row the key had. (The other rollups only grow, so never delete a key.)
    """
    latest: dict[str, dict[bytes, dict]] = {}
    for rollup, key, value in messages:
        if value is None:
            if not key:
                continue  # nothing to replace
            row = _ZEROS[rollup] | orjson.loads(key)
        else:
            row = orjson.loads(value)
        latest.setdefault(rollup, {})[key or b""] = row
    return {
        rollup: [to_row(TABLES[rollup][1], v, written_ms) for v in by_key.values()]
        for rollup, by_key in latest.items()
    }


def unread(end_offsets: dict, positions: dict) -> int:
    """Messages waiting past the lane's position, summed over its partitions."""
    return sum(max(0, end - positions.get(tp, end)) for tp, end in end_offsets.items())


class LaneStalled(RuntimeError):
    """The consumer polls nothing while its partitions hold unread messages."""


def insert(client, database: str, rows: dict[str, list[tuple]]) -> int:
    count = 0
    for rollup, batch in rows.items():
        table, columns = TABLES[rollup]
        client.execute(f"INSERT INTO {database}.{table} ({', '.join(columns)}, {VERSION_COLUMN}) VALUES", batch)
        count += len(batch)
    return count


class Loader:
    """Poll the rollup topics, insert into ClickHouse, then commit; retry while ClickHouse is down."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None,
                 rollups: Iterable[str] = tuple(TABLES)) -> None:
        from kafka import KafkaConsumer

        self.settings = settings
        self.stop = stop or threading.Event()
        self.topic_to_rollup = {settings.rollup_topics[name]: name for name in rollups}
        # Each lane takes every partition of its topics itself (assign) rather than joining a
        # consumer group. The group id still holds its committed offsets, so a restart resumes;
        # what it avoids is the group join and subscription, which once left a loader polling
        # nothing for minutes while the job's rollups waited in Kafka.
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"{settings.topic_prefix}{CONSUMER_GROUP}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=20000,
        )
        partitions = self._partitions()
        self.consumer.assign(partitions)
        self.client = None
        log.info("loading %s (%d partitions) into ClickHouse %s", ", ".join(self.topic_to_rollup),
                 len(partitions), settings.clickhouse_database)

    def _partitions(self, timeout: float = 60.0) -> list:
        """Every partition of the rollup topics, waiting while a just-created topic's metadata settles."""
        from kafka import TopicPartition

        deadline = time.monotonic() + timeout
        while True:
            found = {topic: self.consumer.partitions_for_topic(topic) for topic in self.topic_to_rollup}
            missing = [topic for topic, parts in found.items() if not parts]
            if not missing:
                return [TopicPartition(topic, p) for topic, parts in found.items() for p in sorted(parts)]
            if time.monotonic() > deadline or self.stop.is_set():
                raise GmvError(f"loader: rollup topics {', '.join(missing)} do not exist in Kafka at "
                               f"{self.settings.kafka_bootstrap}; run `gmv topics` (or `gmv up`) first.")
            self.stop.wait(0.5)  # partitions_for_topic refetches metadata for an unknown topic

    def _client(self):
        if self.client is None:
            self.client = clickhouse.connect(self.settings, "writer")
        return self.client

    def _insert_until_done(self, rows: dict[str, list[tuple]]) -> None:
        # With replicas the first retry is at once: its new connection goes to a replica that answers.
        delay, failed = (0.0 if self.settings.replicated else 0.5), 0
        while not self.stop.is_set():
            try:
                insert(self._client(), self.settings.clickhouse_database, rows)
                if failed:
                    log.info("ClickHouse insert succeeded after %d failed tries", failed)
                return
            except Exception as exc:  # noqa: BLE001 - ClickHouse down or restarting: keep the batch, retry
                failed += 1
                log.warning("ClickHouse insert failed (%s); retrying in %.1f s", str(exc).splitlines()[0], delay)
                if self.client is not None:
                    self.client.disconnect()
                    self.client = None
                self.stop.wait(delay)
                delay = min(max(delay * 2, 0.5), 5.0)
        raise InterruptedError("stopped before the batch was written")

    def _check_not_stalled(self) -> None:
        """Raise :class:`LaneStalled` when the partitions hold messages this consumer is not getting.

        kafka-python's poll() swallows some fetch failures (a request timed out, then a connection
        object already collected) and keeps returning nothing; only an exception makes the lane
        reconnect, so the lane compares its position with the end offsets when it has been idle."""
        partitions = list(self.consumer.assignment())
        ends = self.consumer.end_offsets(partitions)
        waiting = unread(ends, {tp: self.consumer.position(tp) for tp in partitions})
        if waiting:
            raise LaneStalled(f"polled nothing for {STALL_CHECK_S:.0f} s while {waiting} messages wait "
                              f"in its partitions")

    def run(self) -> None:
        try:
            idle_since = time.monotonic()
            while not self.stop.is_set():
                polled = self.consumer.poll(timeout_ms=200)
                messages = [(self.topic_to_rollup[tp.topic], m.key, m.value)
                            for tp, records in polled.items() for m in records]
                if not messages:
                    if time.monotonic() - idle_since >= STALL_CHECK_S:
                        self._check_not_stalled()
                        idle_since = time.monotonic()
                    continue
                rows = batch_rows(messages, int(time.time() * 1000))
                try:
                    self._insert_until_done(rows)
                except InterruptedError:
                    return  # offsets not committed: the batch is loaded again on restart
                self.consumer.commit()
                idle_since = time.monotonic()
        finally:
            self.consumer.close(autocommit=False)
            if self.client is not None:
                self.client.disconnect()


def run_lanes(settings: Settings, stop: threading.Event) -> None:
    """Load every rollup, one thread per lane (see LANES), each riding out Kafka restarts (see
    :func:`_lane`). Returns once ``stop`` is set and every lane has finished."""
    threads = [threading.Thread(target=_lane, args=(settings, stop, rollups), name=f"loader-{rollups[0]}",
                                daemon=True)
               for rollups in LANES]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(0.2)  # short joins, so Ctrl-C reaches the main thread's signal handler


# Kafka restarting (or unreachable) is waited out: backoff from 0.5 s doubling to this.
MAX_BACKOFF_S = 5.0


def _lane(settings: Settings, stop: threading.Event, rollups: tuple[str, ...]) -> None:
    """One lane until ``stop``: any failure (a broker restart, a lost connection, a commit that
    failed) closes the lane's consumer and starts it again from the last committed offsets,
    with backoff. Reloading a batch whose commit was lost is harmless (rows are upserts). A lane
    never takes the job down with it: the embedded Flink cluster shares this process."""
    delay, failures = 0.5, 0
    while not stop.is_set():
        try:
            loader = Loader(settings, stop, rollups=rollups)
        except Exception as exc:  # noqa: BLE001 - Kafka down at start: wait for it like any outage
            failures += 1
            log.warning("loader %s: cannot reach Kafka (%s); retry %d in %.1f s", rollups[0], _short(exc),
                        failures, delay)
            stop.wait(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        if failures:
            log.info("loader %s: Kafka reachable again after %d failed tries", rollups[0], failures)
        failures, delay = 0, 0.5
        try:
            loader.run()
            return  # stopped
        except Exception as exc:  # noqa: BLE001 - same: start the lane again from its committed offsets
            failures = 1
            log.warning("loader %s: %s; reconnecting in %.1f s", rollups[0], _short(exc), delay)
            stop.wait(delay)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
