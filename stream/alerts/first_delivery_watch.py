"""The first delivery's shell: each evaluation of the alert service, read each festival day's
earliest delivered event time (``parcel_first_delivery_per_day``, one row a day: read whole),
decide (:mod:`stream.alerts.first_delivery`, pure), write what changed to ``first_deliveries``
(which the wall reads) and announce what is due to the milestone webhooks.

As for the GMV milestones (:mod:`stream.alerts.milestone_watch`, whose dispatcher, recorder and
webhooks this shares): a time is announced once its second is settled, then never again; a move
earlier is announced once, saying ``moved``; the table keeps each day's announcement, which the
service reads back on start (a restarted service, or a standby taking over, announces nothing
twice), and announcements still ``pending`` when the service stopped are sent again on start (at
least once, within an hour; ``X-Gmv-First-Delivery`` lets a receiver drop a repeat).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from stream.alerts import first_delivery as fd
from stream.alerts import payload as payload_mod
from stream.alerts import store
from stream.alerts.config import Webhook
from stream.alerts.delivery import Deliverable, Dispatcher
from stream.alerts.milestones import NONE, PENDING, when

log = logging.getLogger("gmv.alerts.first_delivery")

REDELIVER_WITHIN_S = 3600  # announcements left pending by a stop are sent again on start if this recent


class FirstDeliveryWatch:
    """Keeps ``first_deliveries`` in step with the rollup; see the module docstring.

    ``run``: reads (``run(sql, params) -> rows``); ``recorder``: writes ``first_deliveries`` rows
    (a :class:`store.Recorder` for that table); ``dispatcher``: the alert service's webhooks.
    """

    def __init__(self, hooks: tuple[Webhook, ...], run: store.Run, db: str, recorder: store.Recorder,
                 dispatcher: Dispatcher, now_ms: Callable[[], int], secret: str | None, dashboard_url: str) -> None:
        self.hooks, self.run, self.db = hooks, run, db
        self.recorder, self.dispatcher, self.now_ms = recorder, dispatcher, now_ms
        self.secret, self.dashboard_url = secret, dashboard_url
        self.stored: dict[int, fd.FirstDelivery] = {}  # festival day -> its record
        self._lock = threading.Lock()  # stored: the evaluation and the webhook workers both update it
        self._restored = False
        self._failing = False

    def step(self, newest: int | None, horizon: int | None) -> list[fd.FirstDelivery]:
        """One evaluation (``newest``: the newest window the pipeline wrote, None: none; ``horizon``:
        the end of the settled windows); the records written. Never raises: a failure is logged
        once and tried again."""
        try:
            if not self._restored:
                self._restore()
            changed = self._evaluate(newest, horizon)
        except Exception as exc:  # noqa: BLE001 - ClickHouse refused or went away: try again next time
            if not self._failing:
                log.error("first delivery: not evaluated (%s); trying again every evaluation", _short(exc))
            self._failing = True
            return []
        if self._failing:
            log.info("first delivery: evaluated again")
        self._failing = False
        return changed

    def flush(self) -> None:
        self.recorder.flush()

    def _restore(self) -> None:
        """The stored records (and their announcements); pending announcements are sent again."""
        records = store.read_first_deliveries(self.run, self.db)
        with self._lock:
            self.stored = {r.day: r for r in records}
            self._restored = True
        now = self.now_ms()
        for record in records:
            if record.announce == PENDING and now - record.announced_ms <= REDELIVER_WITHIN_S * 1000:
                self._submit(record)  # at least once: X-Gmv-First-Delivery lets a receiver drop a repeat

    def _evaluate(self, newest: int | None, horizon: int | None) -> list[fd.FirstDelivery]:
        readings = store.read_first_delivery_rollup(self.run, self.db)
        now = self.now_ms()
        with self._lock:
            changed = fd.reconcile(readings, self.stored, now, newest)
            for record in changed:
                self._log_change(self.stored.get(record.day), record)
                self._write(record)
            for record in fd.due(self.stored, horizon):
                self._announce(record, now)
        return changed

    def _write(self, record: fd.FirstDelivery) -> None:
        """Store ``record`` (the caller holds the lock)."""
        self.stored[record.day] = record
        self.recorder.record(store.FirstDeliveryRow(record))

    def _log_change(self, old: fd.FirstDelivery | None, new: fd.FirstDelivery) -> None:
        text = fd.message(new.day, new.delivered_ms)
        if old is None:
            log.info("FIRST DELIVERY of %s: %s", fd.day_label(new.day), text)
        else:
            log.info("first delivery of %s moved from %s to %s by a late event", fd.day_label(new.day),
                     when(old.delivered_ms // 1000), when(new.delivered_ms // 1000))

    def _announce(self, record: fd.FirstDelivery, now: int) -> None:
        """Queue the announcement of ``record``'s current time (the caller holds the lock)."""
        if not self.hooks:
            self._write(fd.announcing(record, now, NONE))
            return
        pending = fd.announcing(record, now, PENDING)
        self._write(pending)
        self._submit(pending)

    def _submit(self, record: fd.FirstDelivery) -> None:
        body = payload_mod.encode(payload_mod.first_delivery_payload(record, self.dashboard_url))
        self.dispatcher.submit(record, body, payload_mod.first_delivery_headers(record, body, self.secret),
                               self.hooks, on_done=self._announced)

    def _announced(self, item: Deliverable, delivery: str, attempts: int) -> None:
        """A webhook worker: every webhook took the announcement (or one failed for good). An
        announcement overtaken by a newer one (the day moved again meanwhile) is not recorded:
        the record's state is the newest announcement's."""
        assert isinstance(item, fd.FirstDelivery)
        with self._lock:
            current = self.stored.get(item.day, item)
            if current.announced_delivered_ms != item.announced_delivered_ms or current.announce != PENDING:
                return
            self._write(dataclasses.replace(current, announce=delivery, attempts=current.attempts + attempts))


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
