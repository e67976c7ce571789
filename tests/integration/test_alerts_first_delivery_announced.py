"""The first delivery of each festival day against real servers: hand-written
parcel_first_delivery_per_day rows in the session's ClickHouse, the alert service's evaluations,
a real HTTP receiver on a local port; the record read back as the wall would read it."""
from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone

import pytest

from stream.alerts.config import parse
from stream.alerts.receiver import Receiver
from stream.alerts.service import AlertService
from stream.contract import ROLLUPS
from stream.probes import wait_for
from stream.stack import clickhouse

pytestmark = pytest.mark.slow

SECRET = "s3cret-for-tests-7f2a"
DAY = 1_636_560_000  # 2021-11-11 00:00:00 CST: the festival day's midnight (the rollup's window_start)
NEXT_DAY = DAY + 86_400
AT_13_27 = (DAY + 13 * 60 + 27) * 1000 + 400  # 00:13:27.400
AT_12_05 = (DAY + 12 * 60 + 5) * 1000  # 00:12:05, shown later by a late event
SECOND_COLUMNS = ("(window_start, late, orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations, "
                  "written_ms)")


def utc(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).replace(tzinfo=None)


def config(url: str):
    return parse({
        "service": {"dashboard_url": "http://wall.example:8050", "margin_seconds": 0, "settle_seconds": 0},
        "webhooks": [{"name": "ops", "url": url, "attempts": 2, "backoff_seconds": 0.05, "timeout_seconds": 2}],
        "milestones": {"figures_fen": [10**15]},  # never reached here: every POST is a first delivery's
    })


def orders_until(settings, end: int) -> None:
    """orders_per_second rows for every second of the day up to ``end``, written a second ago:
    the pipeline's progress, which settles the first delivery's second."""
    written = int(time.time() * 1000) - 1000
    rows = [(utc(s), 0, 1, 1, 100, 0, 0, 0, written) for s in range(DAY, end)]
    with clickhouse.connect(settings, "writer") as client:
        client.execute(f"INSERT INTO {settings.clickhouse_database}.orders_per_second {SECOND_COLUMNS} VALUES", rows)


def first_delivery_row(settings, day: int, first_delivered_ms: int) -> None:
    """A parcel_first_delivery_per_day row as the loader writes it: a newer version of the day's row."""
    table = ROLLUPS["parcel_first_delivery"].table
    with clickhouse.connect(settings, "writer") as client:
        client.execute(f"INSERT INTO {settings.clickhouse_database}.{table} (window_start, first_delivered_ms, "
                       f"written_ms) VALUES", [(utc(day), first_delivered_ms, int(time.time() * 1000))])


def wall_reads(settings) -> list[tuple]:
    """The record as a dashboard reads it: the table's newest rows, by SQL."""
    with clickhouse.connect(settings, "writer") as client:
        return client.execute(
            f"SELECT toUInt32(window_start), delivered_ms, first_delivered_ms, announce, announced_delivered_ms, "
            f"previous_delivered_ms FROM {settings.clickhouse_database}.first_deliveries FINAL ORDER BY window_start")


def test_the_first_delivery_is_announced_once_then_once_more_when_a_late_event_moves_it_earlier(
        clickhouse_settings):
    orders_until(clickhouse_settings, DAY + 20 * 60)  # settled well past both times
    first_delivery_row(clickhouse_settings, DAY, AT_13_27)
    first_delivery_row(clickhouse_settings, NEXT_DAY, 0)  # a day emptied: no delivery, ignored
    made: list[AlertService] = []

    def service(url: str) -> AlertService:
        made.append(AlertService(config(url), clickhouse_settings, secret=SECRET, watch_from_ms=0))
        made[-1].start()
        return made[-1]

    try:
        with Receiver() as receiver:
            alerts = service(receiver.url)
            alerts.step()
            assert receiver.wait(lambda got: len(got) == 1, 10), receiver.received
            assert wait_for(lambda: [r[3] for r in wall_reads(clickhouse_settings)] == ["delivered"], 10)
            assert wall_reads(clickhouse_settings) == [(DAY, AT_13_27, AT_13_27, "delivered", AT_13_27, 0)]
            [first] = receiver.received
            expected = hmac.new(SECRET.encode(), first.body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(first.headers["X-Signature"], expected)
            assert first.headers["X-Gmv-First-Delivery"] == f"{DAY}/{AT_13_27}"
            body = first.json()
            assert (body["state"], body["day"], body["delivered_ms"], body["after_start"]) == (
                "first", "2021-11-11", AT_13_27, "00:13:27")
            assert "first parcel delivered 00:13:27 after the start (11-11 00:13:27 CST)" in body["text"]

            # the same reading again: nothing is sent
            alerts.step()
            assert alerts.dispatcher.idle() and len(receiver.received) == 1

            # a late event shows an earlier delivery: the record moves, the correction is sent once
            first_delivery_row(clickhouse_settings, DAY, AT_12_05)
            alerts.step()
            assert receiver.wait(lambda got: len(got) == 2, 10), receiver.received
            assert wait_for(lambda: [r[3] for r in wall_reads(clickhouse_settings)] == ["delivered"], 10)
            assert wall_reads(clickhouse_settings) == [(DAY, AT_12_05, AT_13_27, "delivered", AT_12_05, AT_13_27)]
            moved = receiver.received[1].json()
            assert (moved["state"], moved["after_start"], moved["previous_delivered_ms"]) == (
                "moved", "00:12:05", AT_13_27)
            assert ("moved: first parcel delivered 00:12:05 after the start (11-11 00:12:05 CST), "
                    "earlier than the 00:13:27 announced before") in moved["text"]
            alerts.step()
            assert alerts.dispatcher.idle() and len(receiver.received) == 2

            # a later reading (the rollup rewritten to a later time) is ignored: the record keeps 00:12:05
            first_delivery_row(clickhouse_settings, DAY, AT_13_27)
            alerts.step()
            assert alerts.dispatcher.idle() and len(receiver.received) == 2
            assert wall_reads(clickhouse_settings)[0][1] == AT_12_05
            alerts.close()

            # a restart (or a standby taking over) reads the record back: nothing is sent again
            first_delivery_row(clickhouse_settings, DAY, AT_12_05)
            again = service(receiver.url)
            again.step()
            again.step()
            assert again.dispatcher.idle() and len(receiver.received) == 2
            assert again.first_delivery.stored[DAY].delivered_ms == AT_12_05
            assert wall_reads(clickhouse_settings) == [(DAY, AT_12_05, AT_13_27, "delivered", AT_12_05, AT_13_27)]
    finally:
        for made_service in made:
            made_service.close()
