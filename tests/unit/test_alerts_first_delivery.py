"""The first delivery of each festival day, the pure part: what to record from the rollup's
reading, when to announce it (once per time, a move earlier once more) and the webhook body."""
from __future__ import annotations

import dataclasses
import json

from stream.alerts import first_delivery as fd
from stream.alerts import payload
from stream.alerts.first_delivery import FirstDelivery

DAY = 1_636_560_000  # 2021-11-11 00:00:00 CST, the festival day's midnight
NEXT_DAY = DAY + 86_400
AT_13_27 = (DAY + 13 * 60 + 27) * 1000 + 250  # 00:13:27.250
AT_12_05 = (DAY + 12 * 60 + 5) * 1000  # 00:12:05
NOW = 1_700_000_000_000  # the wall clock


def stored(*records: FirstDelivery) -> dict[int, FirstDelivery]:
    return {r.day: r for r in records}


def test_a_new_day_is_recorded_waiting_and_announced_once_settled():
    [new] = fd.reconcile({DAY: AT_13_27}, {}, NOW, newest=DAY + 900)
    assert new == FirstDelivery(DAY, AT_13_27, AT_13_27, NOW, announce="waiting")
    assert new.seconds_after_start == 13 * 60 + 27
    # settled once the pipeline has finished the windows up to its second
    assert fd.due(stored(new), horizon=DAY + 13 * 60 + 27) == []
    assert fd.due(stored(new), horizon=None) == []
    assert fd.due(stored(new), horizon=DAY + 13 * 60 + 28) == [new]
    queued = fd.announcing(new, NOW + 5, "pending")
    assert (queued.announce, queued.announced_delivered_ms, queued.previous_delivered_ms, queued.announced_ms) == (
        "pending", AT_13_27, 0, NOW + 5)
    assert fd.due(stored(queued), horizon=DAY + 3600) == []


def test_the_same_reading_again_changes_nothing_and_announces_nothing():
    record = dataclasses.replace(FirstDelivery(DAY, AT_13_27, AT_13_27, NOW), announce="delivered",
                                 announced_delivered_ms=AT_13_27)
    assert fd.reconcile({DAY: AT_13_27}, stored(record), NOW + 1000, newest=DAY + 900) == []
    assert fd.due(stored(record), horizon=DAY + 3600) == []


def test_an_earlier_reading_moves_the_record_and_announces_the_correction_once():
    announced = dataclasses.replace(FirstDelivery(DAY, AT_13_27, AT_13_27, NOW), announce="delivered",
                                    announced_delivered_ms=AT_13_27, announced_ms=NOW)
    [moved] = fd.reconcile({DAY: AT_12_05}, stored(announced), NOW + 60_000, newest=DAY + 900)
    assert (moved.delivered_ms, moved.first_delivered_ms, moved.recorded_ms, moved.moved_ms, moved.announce) == (
        AT_12_05, AT_13_27, NOW, NOW + 60_000, "waiting")
    assert fd.due(stored(moved), horizon=DAY + 3600) == [moved]
    correction = fd.announcing(moved, NOW + 61_000, "pending")
    assert (correction.announced_delivered_ms, correction.previous_delivered_ms, correction.is_correction) == (
        AT_12_05, AT_13_27, True)
    # announced: the same time read again is not due again
    done = dataclasses.replace(correction, announce="delivered")
    assert fd.reconcile({DAY: AT_12_05}, stored(done), NOW + 62_000, newest=DAY + 900) == []
    assert fd.due(stored(done), horizon=DAY + 3600) == []


def test_a_move_before_the_first_announcement_is_announced_as_the_first():
    waiting = FirstDelivery(DAY, AT_13_27, AT_13_27, NOW)
    [moved] = fd.reconcile({DAY: AT_12_05}, stored(waiting), NOW + 1000, newest=DAY + 900)
    queued = fd.announcing(moved, NOW + 2000, "pending")
    assert (queued.announced_delivered_ms, queued.previous_delivered_ms, queued.is_correction) == (AT_12_05, 0, False)


def test_a_later_reading_is_ignored():
    record = dataclasses.replace(FirstDelivery(DAY, AT_12_05, AT_12_05, NOW), announce="delivered",
                                 announced_delivered_ms=AT_12_05)
    assert fd.reconcile({DAY: AT_13_27}, stored(record), NOW + 1000, newest=DAY + 900) == []


def test_each_festival_day_is_its_own_record():
    next_first = (NEXT_DAY + 7) * 1000
    found = fd.reconcile({NEXT_DAY: next_first, DAY: AT_13_27}, {}, NOW, newest=NEXT_DAY + 60)
    assert [(r.day, r.delivered_ms, r.seconds_after_start, r.announce) for r in found] == [
        (DAY, AT_13_27, 807, "old"),  # found over an hour (event time) after it: recorded, not announced
        (NEXT_DAY, next_first, 7, "waiting")]
    # an old record that moves stays old: nothing was announced, so there is nothing to correct
    [moved] = fd.reconcile({DAY: AT_12_05}, stored(*found), NOW + 1, newest=NEXT_DAY + 60)
    assert (moved.delivered_ms, moved.announce) == (AT_12_05, "old")
    assert fd.due(stored(moved), horizon=NEXT_DAY + 3600) == []


def test_the_message_says_the_time_after_the_start_and_a_move():
    assert fd.message(DAY, AT_13_27) == "first parcel delivered 00:13:27 after the start (11-11 00:13:27 CST)"
    assert fd.message(DAY, AT_12_05, previous_ms=AT_13_27) == (
        "moved: first parcel delivered 00:12:05 after the start (11-11 00:12:05 CST), "
        "earlier than the 00:13:27 announced before")
    assert fd.after_start((DAY + 27 * 3600 + 61) * 1000, DAY) == "27:01:01"
    assert fd.day_label(NEXT_DAY) == "2021-11-12"


def test_the_webhook_body_and_headers_of_a_first_and_a_moved_announcement():
    first = fd.announcing(FirstDelivery(DAY, AT_13_27, AT_13_27, NOW), NOW, "pending")
    body = payload.first_delivery_payload(first, "http://wall.example:8050")
    assert {k: body[k] for k in ("rule", "kind", "state", "day", "day_epoch", "delivered_ms", "after_start",
                                 "seconds_after_start", "previous_delivered_ms")} == {
        "rule": "first-delivery", "kind": "first_delivery", "state": "first", "day": "2021-11-11",
        "day_epoch": DAY, "delivered_ms": AT_13_27, "after_start": "00:13:27", "seconds_after_start": 807,
        "previous_delivered_ms": 0}
    assert body["delivered"] == "2021-11-11T00:13:27.250+08:00"
    assert "first parcel delivered 00:13:27 after the start" in body["text"]
    assert body["link"].startswith("http://wall.example:8050/explore?range=custom&from=2021-11-11T00:12")
    encoded = payload.encode(body)
    headers = payload.first_delivery_headers(first, encoded, "s3cret")
    assert headers["X-Gmv-First-Delivery"] == f"{DAY}/{AT_13_27}"
    assert headers["X-Gmv-Alert"] == f"first-delivery/first/{DAY}/{AT_13_27}"
    assert payload.verify(encoded, "s3cret", headers["X-Signature"])
    assert json.loads(encoded) == body

    moved = fd.announcing(dataclasses.replace(first, delivered_ms=AT_12_05, announce="waiting"), NOW + 1, "pending")
    body = payload.first_delivery_payload(moved, "http://wall.example:8050")
    assert (body["state"], body["after_start"], body["previous_delivered_ms"]) == ("moved", "00:12:05", AT_13_27)
    assert body["text"].startswith(":package: *First delivery moved 2021-11-11*: moved: first parcel delivered "
                                   "00:12:05 after the start")
    headers = payload.first_delivery_headers(moved, payload.encode(body), None)
    assert headers["X-Gmv-Alert"] == f"first-delivery/moved/{DAY}/{AT_12_05}" and "X-Signature" not in headers


class FakeDispatcher:
    """What the watch queued: (record, headers, on_done), as the webhook workers would take them."""

    def __init__(self) -> None:
        self.queued: list[tuple] = []

    def submit(self, item, body, headers, hooks, on_done=None) -> None:
        self.queued.append((item, headers, on_done))


def watch(readings: dict[int, int], stored_rows: list[tuple] | None = None):
    """A FirstDeliveryWatch on a fake ClickHouse: the rollup answers ``readings``, the table
    ``stored_rows``; rows written are kept in ``written``."""
    from stream.alerts import store
    from stream.alerts.config import parse
    from stream.alerts.first_delivery_watch import FirstDeliveryWatch

    def run(sql, params):
        if "first_deliveries" in sql:
            return list(stored_rows or [])
        return list(readings.items())

    written: list[tuple] = []
    recorder = store.Recorder(lambda sql, rows: written.extend(rows), "gmv", lambda: NOW,
                              table=store.FIRST_DELIVERIES, columns=store.FIRST_DELIVERY_COLUMNS)
    hooks = parse({"webhooks": [{"name": "ops", "url": "http://a.test/x"}]}).webhooks
    dispatcher = FakeDispatcher()
    fdw = FirstDeliveryWatch(hooks, run, "gmv", recorder, dispatcher, lambda: NOW, None,  # type: ignore[arg-type]
                             "http://wall")
    return fdw, dispatcher, written


def test_an_announcement_overtaken_by_a_move_does_not_overwrite_the_correction():
    readings = {DAY: AT_13_27}
    fdw, dispatcher, written = watch(readings)
    fdw.step(newest=DAY + 900, horizon=DAY + 900)
    [(first, headers, on_done)] = dispatcher.queued
    assert headers["X-Gmv-First-Delivery"] == f"{DAY}/{AT_13_27}"
    readings[DAY] = AT_12_05  # a late event, while the first announcement is still being sent
    fdw.step(newest=DAY + 900, horizon=DAY + 900)
    assert [h["X-Gmv-Alert"] for _, h, _ in dispatcher.queued] == [
        f"first-delivery/first/{DAY}/{AT_13_27}", f"first-delivery/moved/{DAY}/{AT_12_05}"]
    on_done(first, "delivered", 1)  # the first one's outcome arrives late: the correction stays pending
    assert (fdw.stored[DAY].announce, fdw.stored[DAY].announced_delivered_ms) == ("pending", AT_12_05)
    correction = dispatcher.queued[1][0]
    dispatcher.queued[1][2](correction, "delivered", 2)
    assert (fdw.stored[DAY].announce, fdw.stored[DAY].attempts) == ("delivered", 2)
    # the rows written, in order: found, announced, moved, correction announced, delivered
    assert [(r[1], r[5]) for r in written] == [(AT_13_27, "waiting"), (AT_13_27, "pending"), (AT_12_05, "waiting"),
                                               (AT_12_05, "pending"), (AT_12_05, "delivered")]


def test_on_start_a_pending_announcement_is_sent_again_a_delivered_one_is_not():
    def row(day: int, at: int, announce: str) -> tuple:
        """A first_deliveries row as read back (the day as epoch s), announced 5 s ago."""
        return (day, at, at, NOW - 5000, 0, announce, at, 0, NOW - 5000, 1)

    next_first = (NEXT_DAY + 9) * 1000
    fdw, dispatcher, written = watch({DAY: AT_13_27, NEXT_DAY: next_first},
                                     [row(DAY, AT_13_27, "delivered"), row(NEXT_DAY, next_first, "pending")])
    fdw.step(newest=NEXT_DAY + 60, horizon=NEXT_DAY + 60)
    assert [item.day for item, _, _ in dispatcher.queued] == [NEXT_DAY]  # only the pending one, again
    assert written == []  # nothing changed
