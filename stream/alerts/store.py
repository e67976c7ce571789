"""Every SQL statement of the alert service: the rollups it judges and the history it keeps.

Reads take ``run(sql, params) -> rows`` (clickhouse-driver's ``execute``, or a chDB adapter
in the tests) and the database name (a validated identifier from settings); values are bound
parameters. Only what ClickHouse 18.16 (Debian's, the local stack's) and current servers (the
Docker image's) both accept.

- :func:`read_progress`: how far the pipeline got, and how long ago (stall and completeness);
- :func:`read_counts`: orders created per second, late corrections added in (``FINAL``); the
  same on the history database gives last year's (:mod:`stream.alerts.last_year`);
- :func:`read_extent`: the first and last second of a database's orders_per_second, and a
  fingerprint that changes when rows are added (what last year's history covers);
- :func:`read_rejections`: messages received and rejected per minute (``pipeline_events``);
- :func:`read_history` / :class:`Recorder`: the ``alert_events`` table (migration 004), one row
  per state change, rewritten (same key, newer ``written_ms``) as its delivery progresses;
- :func:`read_minute_gmv`, :func:`read_second_gmv`: GMV per minute and per second (``FINAL``,
  late rows added in), for the milestones;
- :func:`read_milestones` / :class:`MilestoneRow`: the ``milestones`` table (migration 006), one
  row per figure, rewritten when its second moves or its announcement progresses;
- :func:`read_first_delivery_rollup`: each festival day's earliest delivered event time (``FINAL``);
- :func:`read_first_deliveries` / :class:`FirstDeliveryRow`: the ``first_deliveries`` table
  (migration 012), one row per festival day, rewritten when it moves or its announcement progresses.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from stream.alerts.first_delivery import FirstDelivery
from stream.alerts.milestones import Record
from stream.alerts.rules import Alert, Rejections
from stream.contract import ROLLUPS

SECONDS = ROLLUPS["orders_second"].table
PIPELINE = ROLLUPS["pipeline_events"].table
FIRST_DELIVERY = ROLLUPS["parcel_first_delivery"].table

log = logging.getLogger("gmv.alerts.store")

Run = Callable[..., list]  # run(sql, params) -> rows
HINT_SPAN_S = 3600  # progress is read over the last hour of windows when a previous answer is known


@dataclass(frozen=True)
class Progress:
    """The newest orders_per_second row now, and the newest one written by ``settled_ms``."""

    newest_window: int  # epoch s
    newest_written_ms: int
    settled_window: int | None  # newest window written at or before settled_ms (None: none yet)


def read_progress(run: Run, db: str, settled_ms: int, hint: int | None = None) -> Progress | None:
    """How far the rollups reach; None when orders_per_second is empty.

    Reads only the last hour of windows when ``hint`` (a previous newest window) is given and
    that hour holds a settled row, else the whole table. No ``FINAL``: an older version of a
    row was also written when it says it was.
    """
    sql = (f"SELECT toUInt32(max(window_start)), max(written_ms), "
           f"toUInt32(maxIf(window_start, written_ms <= %(settled)s)), countIf(written_ms <= %(settled)s), "
           f"count() FROM {db}.{SECONDS}")
    params = {"settled": int(settled_ms)}
    if hint:
        rows = run(sql + " WHERE window_start >= toDateTime(%(since)s)", {**params, "since": int(hint) - HINT_SPAN_S})
        if rows and int(rows[0][3]):
            return _progress(rows[0])
    rows = run(sql, params)
    return _progress(rows[0]) if rows and int(rows[0][4]) else None


def _progress(row: tuple) -> Progress:
    newest, written, settled, n_settled, _ = row
    return Progress(int(newest), int(written), int(settled) if int(n_settled) else None)


def read_oldest(run: Run, db: str) -> int | None:
    """The first window of orders_per_second (where history begins), None when empty."""
    rows = run(f"SELECT toUInt32(min(window_start)), count() FROM {db}.{SECONDS}", {})
    return int(rows[0][0]) if rows and int(rows[0][1]) else None


@dataclass(frozen=True)
class Extent:
    """The first and last window of orders_per_second (epoch s), its rows and newest ``written_ms``."""

    first: int
    last: int
    rows: int
    written_ms: int


def read_extent(run: Run, db: str) -> Extent | None:
    """What orders_per_second holds, from first to last second; None when it is empty. No
    ``FINAL``: a replaced version spans the same windows, and the count and newest write
    still change when rows are added."""
    rows = run(f"SELECT toUInt32(min(window_start)), toUInt32(max(window_start)), count(), max(written_ms) "
               f"FROM {db}.{SECONDS}", {})
    if not rows or not int(rows[0][2]):
        return None
    first, last, n, written = rows[0]
    return Extent(int(first), int(last), int(n), int(written))


def read_counts(run: Run, db: str, start: int, end: int) -> np.ndarray:
    """Orders created in each second of [start, end): on-time and late rows summed, newest
    version of each (``FINAL``); 0 for a second without a row (nothing was ordered in it)."""
    sql = (f"SELECT toUInt32(window_start) AS s, sum(orders_created) FROM {db}.{SECONDS} FINAL "
           f"WHERE window_start >= toDateTime(%(start)s) AND window_start < toDateTime(%(end)s) GROUP BY s")
    counts = np.zeros(max(0, end - start), dtype=np.int64)
    for second, orders in run(sql, {"start": int(start), "end": int(end)}):
        if start <= int(second) < end:
            counts[int(second) - start] = int(orders)
    return counts


def read_rejections(run: Run, db: str, start: int, end: int) -> Rejections:
    """Messages received (every one but heartbeats) and rejected, per reason, in each minute of
    Kafka time in [start, end): both sources added, newest version of each row (``FINAL``)."""
    sql = (f"SELECT toUInt32(window_start) AS m, kind, reason, sum(events) FROM {db}.{PIPELINE} FINAL "
           f"WHERE window_start >= toDateTime(%(start)s) AND window_start < toDateTime(%(end)s) "
           f"AND kind IN ('received', 'rejected') GROUP BY m, kind, reason")
    minutes: dict[int, tuple[int, dict[str, int]]] = {}
    for minute, kind, reason, n in run(sql, {"start": int(start), "end": int(end)}):
        received, reasons = minutes.get(int(minute), (0, {}))
        if kind == "received":
            received += int(n)
        else:
            reasons[reason] = reasons.get(reason, 0) + int(n)
        minutes[int(minute)] = (received, reasons)
    return Rejections(minutes)


# -- GMV for the milestones -----------------------------------------------------------------


def read_minute_gmv(run: Run, db: str, start: int | None = None) -> list[tuple[int, int]]:
    """``(minute, gmv_fen)`` of every minute from ``start`` (epoch s; None: all of them) that has
    rows: on-time and late rows summed, newest version of each (``FINAL``)."""
    where = "" if start is None else " WHERE window_start >= toDateTime(%(start)s)"
    sql = (f"SELECT intDiv(toUInt32(window_start), 60) * 60 AS m, sum(gmv_fen) FROM {db}.{SECONDS} FINAL"
           f"{where} GROUP BY m ORDER BY m")
    return [(int(m), int(fen)) for m, fen in run(sql, {} if start is None else {"start": int(start)})]


def read_second_gmv(run: Run, db: str, start: int, end: int) -> list[tuple[int, int]]:
    """``(second, gmv_fen)`` of each second of [start, end) that has rows (late rows added in, ``FINAL``)."""
    sql = (f"SELECT toUInt32(window_start) AS s, sum(gmv_fen) FROM {db}.{SECONDS} FINAL "
           f"WHERE window_start >= toDateTime(%(start)s) AND window_start < toDateTime(%(end)s) GROUP BY s ORDER BY s")
    return [(int(s), int(fen)) for s, fen in run(sql, {"start": int(start), "end": int(end)})]


MILESTONES = "milestones"
MILESTONE_COLUMNS = ("figure_fen", "passed_second", "gmv_fen", "first_second", "recorded_ms", "moved_ms",
                     "announce", "announced_ms", "attempts")


def _utc(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class MilestoneRow:
    """One milestones row (``written_ms`` is set when it is written); the key is the figure."""

    record: Record

    def values(self, written_ms: int) -> tuple:
        r = self.record
        return (r.figure_fen, _utc(r.second), r.gmv_fen, _utc(r.first_second), r.recorded_ms, r.moved_ms,
                r.announce, r.announced_ms, r.attempts, written_ms)

    @property
    def key(self) -> tuple:
        return (self.record.figure_fen,)


def read_milestones(run: Run, db: str) -> list[Record]:
    """Every stored milestone (newest version of each row), smallest figure first."""
    cols = ", ".join(f"toUInt32({c})" if c.endswith("_second") else c for c in MILESTONE_COLUMNS)
    rows = run(f"SELECT {cols} FROM {db}.{MILESTONES} FINAL ORDER BY figure_fen", {})
    return [Record(int(f), int(s), int(g), int(first), int(rec), int(moved), str(ann), int(ann_ms), int(att))
            for f, s, g, first, rec, moved, ann, ann_ms, att in rows]


# -- the first delivery of each festival day ------------------------------------------------


def read_first_delivery_rollup(run: Run, db: str) -> dict[int, int]:
    """Festival day (epoch s) -> its earliest delivered event time (epoch ms), newest version of
    each row (``FINAL``: one per day). A 0 (a day emptied) is no delivery: left out."""
    sql = (f"SELECT toUInt32(window_start) AS d, min(first_delivered_ms) FROM {db}.{FIRST_DELIVERY} FINAL "
           f"WHERE first_delivered_ms > 0 GROUP BY d")
    return {int(day): int(ms) for day, ms in run(sql, {})}


FIRST_DELIVERIES = "first_deliveries"
FIRST_DELIVERY_COLUMNS = ("window_start", "delivered_ms", "first_delivered_ms", "recorded_ms", "moved_ms",
                          "announce", "announced_delivered_ms", "previous_delivered_ms", "announced_ms", "attempts")


@dataclass(frozen=True)
class FirstDeliveryRow:
    """One first_deliveries row (``written_ms`` is set when it is written); the key is the day."""

    record: FirstDelivery

    def values(self, written_ms: int) -> tuple:
        r = self.record
        return (_utc(r.day), r.delivered_ms, r.first_delivered_ms, r.recorded_ms, r.moved_ms, r.announce,
                r.announced_delivered_ms, r.previous_delivered_ms, r.announced_ms, r.attempts, written_ms)

    @property
    def key(self) -> tuple:
        return (self.record.day,)


def read_first_deliveries(run: Run, db: str) -> list[FirstDelivery]:
    """Every stored first delivery (newest version of each row), oldest festival day first."""
    cols = ", ".join("toUInt32(window_start)" if c == "window_start" else c for c in FIRST_DELIVERY_COLUMNS)
    rows = run(f"SELECT {cols} FROM {db}.{FIRST_DELIVERIES} FINAL ORDER BY window_start", {})
    return [FirstDelivery(int(day), int(at), int(first), int(rec), int(moved), str(ann), int(said), int(before),
                          int(ann_ms), int(att))
            for day, at, first, rec, moved, ann, said, before, ann_ms, att in rows]


# -- history ------------------------------------------------------------------------------

COLUMNS = ("event_ms", "rule", "severity", "state", "observed", "baseline", "window_start", "window_seconds",
           "message", "delivery", "attempts", "fencing_token")


@dataclass(frozen=True)
class Row:
    """One alert_events row (``written_ms`` is set when it is written); ``fencing_token``: the
    lease of the leader that wrote it (0 without a standby)."""

    alert: Alert
    delivery: str
    attempts: int = 0
    fencing_token: int = 0

    def values(self, written_ms: int) -> tuple:
        a = self.alert
        window = datetime.fromtimestamp(a.window_start, tz=timezone.utc).replace(tzinfo=None)
        return (a.event_ms, a.rule, a.severity, a.state, float(a.observed), float(a.baseline), window,
                a.window_seconds, a.message, self.delivery, self.attempts, self.fencing_token, written_ms)

    @property
    def key(self) -> tuple:
        return self.alert.event_ms, self.alert.rule, self.alert.state


def read_history(run: Run, db: str, limit: int = 1000) -> list[dict]:
    """The newest alert_events rows (newest version of each), newest first, as dicts."""
    cols = ", ".join("toUInt32(window_start)" if c == "window_start" else c for c in COLUMNS)
    sql = f"SELECT {cols} FROM {db}.alert_events FINAL ORDER BY event_ms DESC, rule LIMIT {int(limit)}"
    return [dict(zip(COLUMNS, r)) for r in run(sql, {})]


class Recorder:
    """Writes history rows (or, given ``table`` and ``columns``, the rows of another table, such
    as :class:`MilestoneRow` or :class:`FirstDeliveryRow`); keeps them (in order) while ClickHouse
    is down and writes them later.

    A row's versions get increasing ``written_ms`` so the newest (delivered/failed after
    pending) wins in the ReplacingMergeTree even within one millisecond.
    """

    def __init__(self, insert: Callable[[str, list], object], db: str, now_ms: Callable[[], int],
                 table: str = "alert_events", columns: tuple[str, ...] = COLUMNS) -> None:
        self.insert, self.db, self.now_ms = insert, db, now_ms
        self.table, self.columns = table, columns
        self._lock = threading.Lock()
        self._queue: list[tuple] = []
        self._versions: dict[tuple, int] = {}

    def record(self, row: Row | MilestoneRow | FirstDeliveryRow) -> None:
        with self._lock:
            version = max(self.now_ms(), self._versions.get(row.key, 0) + 1)
            self._versions[row.key] = version
            self._queue.append(row.values(version))
        self.flush()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    def flush(self) -> bool:
        """Write what is queued; False (rows kept) when ClickHouse refuses."""
        with self._lock:
            if not self._queue:
                return True
            rows = list(self._queue)
            try:
                self.insert(f"INSERT INTO {self.db}.{self.table} ({', '.join(self.columns)}, written_ms) VALUES",
                            rows)
            except Exception as exc:  # noqa: BLE001 - keep the rows whatever went wrong, retry later
                log.warning("%s not written yet (%d rows kept): %s", self.table, len(rows),
                            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                return False
            del self._queue[:len(rows)]
            return True
