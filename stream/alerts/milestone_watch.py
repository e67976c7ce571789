"""The milestones' shell: each evaluation of the alert service, read GMV, locate the milestones
(:mod:`stream.alerts.milestones`, pure), write what changed to the ``milestones`` table and
announce what is due to the webhooks.

Reading every second of the festival every second would not scale (11 days are ~1 M seconds),
so the GMV is kept per minute: every ``FULL_EVERY_S`` the whole table is summed per minute, in
between only the minutes from an hour before the newest window (where new rows and nearly
all late corrections land). The minute in which each figure is crossed is found from the
minute totals, then that minute's seconds are read and the exact second found, with the
cumulative GMV of the minutes before it (integer fen: exact). So a late correction within the
last hour moves a milestone on the next evaluation, an older one within ``FULL_EVERY_S``.
(GMV per second is a sum of paid amounts, never negative, so the running total never falls
and the minute whose end first reaches a figure holds the second that does.)

Announcements: a milestone is announced once its second is settled (behind the drop rule's
horizon: ``margin_seconds`` of event time behind a window written ``settle_seconds`` ago), so a
second still filling is not announced and then moved by the rest of its own rows; then once
per figure, ever: the table keeps each figure's announcement (``waiting`` -> ``pending`` ->
``delivered`` / ``failed``, or ``none``), which the service reads back on start. A figure first
found more than an hour of event time after its second (the service started on a festival
already under way, or was down that long) is recorded as ``old`` and not announced. A milestone
that a late correction moves later is rewritten (the wall follows) but not announced again.
Announcements still ``pending`` when the service stopped are sent again on start (at least
once, within an hour; ``X-Gmv-Milestone`` lets a receiver drop a repeat).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from stream.alerts import milestones as ms
from stream.alerts import payload as payload_mod
from stream.alerts import store
from stream.alerts.config import MilestoneOptions, Webhook
from stream.alerts.delivery import Deliverable, Dispatcher

log = logging.getLogger("gmv.alerts.milestones")

LIVE_SPAN_S = 3600  # minutes from this far before the newest window are read on every evaluation
FULL_EVERY_S = 30.0  # wall seconds between sums over the whole table (late rows older than the span)
REDELIVER_WITHIN_S = 3600  # announcements left pending by a stop are sent again on start if this recent


class MilestoneWatch:
    """Keeps the ``milestones`` table in step with the rollups; see the module docstring.

    ``run``: reads (``run(sql, params) -> rows``); ``recorder``: writes ``milestones`` rows
    (a :class:`store.Recorder` for that table); ``dispatcher``: the alert service's webhooks.
    """

    def __init__(self, options: MilestoneOptions, hooks: tuple[Webhook, ...], run: store.Run, db: str,
                 recorder: store.Recorder, dispatcher: Dispatcher, now_ms: Callable[[], int],
                 secret: str | None, dashboard_url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.figures = options.figures_fen
        self.hooks, self.run, self.db = hooks, run, db
        self.recorder, self.dispatcher, self.now_ms = recorder, dispatcher, now_ms
        self.secret, self.dashboard_url, self.clock = secret, dashboard_url, clock
        self.stored: dict[int, ms.Record] = {}
        self._lock = threading.Lock()  # stored: the evaluation and the webhook workers both update it
        self._restored = False
        self._failing = False
        self._minutes: dict[int, int] = {}  # minute (epoch s) -> GMV fen
        self._full_at = float("-inf")
        self._seconds: dict[int, tuple[int, list[tuple[int, int]]]] = {}  # settled minute -> (total, rows)

    @property
    def enabled(self) -> bool:
        return bool(self.figures)

    def step(self, progress: store.Progress | None, horizon: int | None) -> list[ms.Record]:
        """One evaluation on what ClickHouse answered (``progress`` None: orders_per_second is
        empty); the records written. Never raises: a failure is logged once and tried again."""
        if not self.enabled:
            return []
        try:
            if not self._restored:
                self._restore()
            changed = self._evaluate(progress, horizon)
        except Exception as exc:  # noqa: BLE001 - ClickHouse refused or went away: try again next time
            if not self._failing:
                log.error("milestones: not evaluated (%s); trying again every evaluation", _short(exc))
            self._failing = True
            return []
        if self._failing:
            log.info("milestones: evaluated again")
        self._failing = False
        return changed

    def flush(self) -> None:
        self.recorder.flush()

    # -- restore ---------------------------------------------------------------------------------

    def _restore(self) -> None:
        """The stored milestones (and their announcements); pending announcements are sent again."""
        records = store.read_milestones(self.run, self.db)
        with self._lock:
            self.stored = {r.figure_fen: r for r in records}
            self._restored = True
        now = self.now_ms()
        for record in records:
            if record.announce == ms.PENDING and now - record.announced_ms <= REDELIVER_WITHIN_S * 1000:
                self._submit(record)  # at least once: X-Gmv-Milestone lets a receiver drop a repeat
        if records:
            log.info("milestones: %s passed before the start", ", ".join(ms.label(r.figure_fen) for r in records))

    # -- evaluate --------------------------------------------------------------------------------

    def _evaluate(self, progress: store.Progress | None, horizon: int | None) -> list[ms.Record]:
        if progress is None:  # no rollups (yet, or any more): nothing passed, nothing to move
            self._minutes, self._seconds, self._full_at = {}, {}, float("-inf")
            return []
        split = self._refresh_minutes(progress.newest_window)
        found = self._locate(split)
        now = self.now_ms()
        with self._lock:
            changed = ms.reconcile(found, self.stored, now, progress.newest_window)
            for record in changed:
                self._log_change(self.stored.get(record.figure_fen), record)
                self._write(record)
            for record in ms.due(self.stored, horizon):
                self._announce(record, now)
        return changed

    def _refresh_minutes(self, newest: int) -> int:
        """Bring the per-minute GMV up to date; the first minute re-read on every evaluation."""
        split = (newest - LIVE_SPAN_S) // 60 * 60
        if self.clock() - self._full_at >= FULL_EVERY_S:
            started = self.clock()
            self._minutes = dict(store.read_minute_gmv(self.run, self.db))
            self._full_at = started
        else:
            live = store.read_minute_gmv(self.run, self.db, split)
            for minute in [m for m in self._minutes if m >= split]:
                del self._minutes[minute]
            self._minutes.update(live)
        return split

    def _locate(self, split: int) -> list[ms.Milestone]:
        """Each reached figure's second: its minute from the minute totals, then that minute's seconds."""
        crossings = ms.milestones(sorted(self._minutes.items()), self.figures)  # (figure, minute, total at its end)
        by_minute: dict[int, list[ms.Milestone]] = {}
        for crossing in crossings:
            by_minute.setdefault(crossing.second, []).append(crossing)
        found: list[ms.Milestone] = []
        for minute, here in sorted(by_minute.items()):
            before = here[0].gmv_fen - self._minutes[minute]  # the cumulative GMV of the minutes before
            rows = self._seconds_of(minute, split)
            found += ms.milestones(rows, [c.figure_fen for c in here], before_fen=before)
        self._seconds = {m: v for m, v in self._seconds.items() if m in by_minute}
        return found

    def _seconds_of(self, minute: int, split: int) -> list[tuple[int, int]]:
        """The minute's per-second GMV: read again while the minute is in the live span or its
        total changed, else the rows read before."""
        total = self._minutes[minute]
        cached = self._seconds.get(minute)
        if minute < split and cached is not None and cached[0] == total:
            return cached[1]
        rows = store.read_second_gmv(self.run, self.db, minute, minute + 60)
        self._seconds[minute] = (total, rows)
        return rows

    # -- write, announce --------------------------------------------------------------------------

    def _write(self, record: ms.Record) -> None:
        """Store ``record`` (the caller holds the lock)."""
        self.stored[record.figure_fen] = record
        self.recorder.record(store.MilestoneRow(record))

    def _log_change(self, old: ms.Record | None, new: ms.Record) -> None:
        if old is None:
            log.info("MILESTONE %s", ms.message(new))
        elif old.second != new.second:
            log.info("milestone %s moved from %s to %s by a late correction (%s)", ms.label(new.figure_fen),
                     ms.when(old.second), ms.when(new.second),
                     "not announced again" if new.announce != ms.WAITING else "not announced yet")

    def _announce(self, record: ms.Record, now: int) -> None:
        """Queue the one announcement of ``record`` (the caller holds the lock)."""
        if not self.hooks:
            self._write(dataclasses.replace(record, announce=ms.NONE))
            return
        pending = dataclasses.replace(record, announce=ms.PENDING, announced_ms=now)
        self._write(pending)
        self._submit(pending)

    def _submit(self, record: ms.Record) -> None:
        body = payload_mod.encode(payload_mod.milestone_payload(record, self.dashboard_url))
        self.dispatcher.submit(record, body, payload_mod.milestone_headers(record, body, self.secret), self.hooks,
                               on_done=self._announced)

    def _announced(self, item: Deliverable, delivery: str, attempts: int) -> None:
        """A webhook worker: every webhook took the announcement (or one failed for good)."""
        assert isinstance(item, ms.Record)
        with self._lock:
            current = self.stored.get(item.figure_fen, item)
            self._write(dataclasses.replace(current, announce=delivery, attempts=current.attempts + attempts))


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
