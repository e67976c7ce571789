"""The first delivery of each festival day as pure functions: what the rollup says -> what to
record, when to announce it, and what the announcement says.

No I/O here. The rollup ``parcel_first_delivery_per_day`` holds, per festival day (its
midnight, Asia/Shanghai, epoch s), the earliest delivered event time (epoch ms) the job has seen;
a late event that shows an earlier delivery rewrites it. The alert service keeps one record per
festival day (table ``first_deliveries``, migration 012, which the wall reads) and announces it
through the milestone webhooks: once when it is first found, and once more for each move to an
earlier time. Never the same time twice: a record remembers the time its latest announcement
says.

- :func:`reconcile`: the readings against the records -> the records to (re)write;
- :func:`due`: the records whose (new) time is to be announced now; :func:`announcing`: a record
  as its announcement is queued;
- :func:`message`: ``first parcel delivered 00:13:27 after the start (11-11 00:13:27 CST)``, or
  ``moved: ...`` for a correction.

The shell (:mod:`stream.alerts.first_delivery_watch`) reads the rollup, calls these, writes the
table and queues the announcements.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from stream.alerts.milestones import NEWS_WITHIN_S, OLD, WAITING, when
from stream.contract import FESTIVAL_TZ
from stream.parcels import first_delivery_text


@dataclass(frozen=True)
class FirstDelivery:
    """One row of ``first_deliveries``: a festival day's first delivery as now known, and its
    announcements."""

    day: int  # epoch s: the festival day's midnight (Asia/Shanghai), the rollup's window_start
    delivered_ms: int  # the earliest delivered event time of the day (epoch ms), as now known
    first_delivered_ms: int  # delivered_ms as first recorded (a late event may have moved it since)
    recorded_ms: int  # wall clock: when the service first recorded it
    moved_ms: int = 0  # wall clock: when it last moved earlier (0: never)
    announce: str = WAITING  # the latest announcement: waiting | pending | delivered | failed | none | old
    announced_delivered_ms: int = 0  # the time the latest announcement says (0: none queued yet)
    previous_delivered_ms: int = 0  # the time the announcement before it said (0: the latest is the first)
    announced_ms: int = 0  # wall clock: when the latest announcement was queued
    attempts: int = 0  # webhook tries in all

    @property
    def seconds_after_start(self) -> int:
        """Whole seconds from the festival day's midnight to the first delivery."""
        return max(0, self.delivered_ms // 1000 - self.day)

    @property
    def is_correction(self) -> bool:
        """The latest announcement moves an earlier one (it says 'moved')."""
        return self.previous_delivered_ms != 0

    @property
    def label(self) -> str:
        """How logs name it: ``first delivery of 2021-11-11``."""
        return f"first delivery of {day_label(self.day)}"


def reconcile(readings: Mapping[int, int], stored: Mapping[int, FirstDelivery], now_ms: int,
              newest: int | None = None) -> list[FirstDelivery]:
    """The records to write, from ``readings`` (festival day -> earliest delivered ms; days
    without a delivery left out):

    - a day not stored: a new record, waiting to be announced; or OLD (recorded, never
      announced) when found more than NEWS_WITHIN_S of event time after it (``newest``: the
      newest window the pipeline wrote, epoch s), as after a start on a festival under way;
    - an earlier time than stored (a late event): the record moves (``moved_ms`` now) and waits
      to announce the correction, unless it is OLD;
    - the same or a later time: nothing (a first delivery only ever moves earlier; a later
      reading, such as a job rebuilt from an older checkpoint, does not undo what was seen).
    """
    changed = []
    for day, delivered_ms in sorted(readings.items()):
        old = stored.get(day)
        if old is None:
            news = newest is None or newest - delivered_ms // 1000 <= NEWS_WITHIN_S
            changed.append(FirstDelivery(day, delivered_ms, delivered_ms, now_ms, announce=WAITING if news else OLD))
        elif delivered_ms < old.delivered_ms:
            changed.append(dataclasses.replace(old, delivered_ms=delivered_ms, moved_ms=now_ms,
                                               announce=OLD if old.announce == OLD else WAITING))
    return changed


def due(stored: Mapping[int, FirstDelivery], horizon: int | None) -> list[FirstDelivery]:
    """Records whose time is still to be announced and is settled: its second before ``horizon``
    (the exclusive end of the windows the pipeline has finished, as for the drop rule and the GMV
    milestones; None: none finished), so a delivery an event still in flight may move is not
    announced first. A time already announced is never due again."""
    if horizon is None:
        return []
    return [r for _, r in sorted(stored.items())
            if r.announce == WAITING and r.delivered_ms != r.announced_delivered_ms
            and r.delivered_ms // 1000 < horizon]


def announcing(record: FirstDelivery, now_ms: int, state: str) -> FirstDelivery:
    """``record`` as its announcement of its current time is queued (``state``: pending, or none
    without a webhook): a correction when an earlier time was announced before."""
    return dataclasses.replace(record, announce=state, announced_ms=now_ms,
                               announced_delivered_ms=record.delivered_ms,
                               previous_delivered_ms=record.announced_delivered_ms)


def after_start(delivered_ms: int, day: int) -> str:
    """``00:13:27``: from the festival day's midnight to ``delivered_ms``, whole seconds."""
    hours, rest = divmod(max(0, delivered_ms // 1000 - day), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def day_label(day: int) -> str:
    """``2021-11-11``: the festival day (its date in Shanghai)."""
    return datetime.fromtimestamp(day, FESTIVAL_TZ).strftime("%Y-%m-%d")


def message(day: int, delivered_ms: int, previous_ms: int = 0) -> str:
    """One sentence for the webhook: ``first parcel delivered 00:13:27 after the start (11-11
    00:13:27 CST)``; with ``previous_ms`` (the time announced before) a correction, which starts
    ``moved: `` and names the time it replaces."""
    text = f"{first_delivery_text(max(0, delivered_ms // 1000 - day))} ({when(delivered_ms // 1000)})"
    if not previous_ms:
        return text
    return f"moved: {text}, earlier than the {after_start(previous_ms, day)} announced before"
