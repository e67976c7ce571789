"""Which tier answers which part of a range (dashboard.queries.plan): closed days from the day
tier (UTC days), closed hours from the hour tier, the rest from the finest; a window only once its
rows are there and it ended a settle margin before the newest second; series buckets (aligned in
Shanghai time) only from tiers whose windows each lie within one bucket."""
from __future__ import annotations

from datetime import datetime, timezone

from dashboard import queries as q
from stream.contract import FESTIVAL_TZ

TOTALS = q.TOTALS
SECOND, HOUR, DAY = TOTALS
NOV10 = int(datetime(2021, 11, 10, tzinfo=FESTIVAL_TZ).timestamp())  # a festival day: from 16:00 UTC
NOV11 = NOV10 + 86400
UTC10 = int(datetime(2021, 11, 10, tzinfo=timezone.utc).timestamp())  # a UTC day: from 08:00 in Shanghai
UTC11 = UTC10 + 86400


def every(rollup, start: int, end: int) -> set[int]:
    return set(range(start, end, rollup.window_s))


def test_closed_days_then_hours_then_seconds():
    start, end, newest = UTC10 - 2 * 3600 - 60, UTC11 + 5 * 3600 + 30, UTC11 + 5 * 3600 + 29
    present = {"orders_hour": every(HOUR, UTC10 - 86400, UTC11 + 86400), "orders_day": {UTC10 - 86400, UTC10}}
    assert q.plan(TOTALS, start, end, present, newest - q.SETTLE_S) == [
        q.Piece(DAY, ((UTC10, UTC11),)),
        q.Piece(HOUR, ((UTC10 - 7200, UTC10), (UTC11, UTC11 + 4 * 3600))),
        q.Piece(SECOND, ((start, UTC10 - 7200), (UTC11 + 4 * 3600, end)))]


def test_a_festival_day_takes_hours_a_festival_span_its_utc_days():
    present = {"orders_hour": every(HOUR, NOV10 - 86400, NOV11 + 86400), "orders_day": {UTC10, UTC11}}
    settled = NOV11 + 86400
    # Nov 10 in Shanghai is 16:00 UTC on the 9th to 16:00 UTC on the 10th: no UTC day inside it
    assert q.plan(TOTALS, NOV10, NOV11, present, settled) == [q.Piece(HOUR, ((NOV10, NOV11),))]
    # two festival days: the UTC day inside them, hours at both edges
    assert q.plan(TOTALS, NOV10, NOV11 + 86400, present, settled) == [
        q.Piece(DAY, ((UTC10, UTC11),)), q.Piece(HOUR, ((NOV10, UTC10), (UTC11, NOV11 + 86400)))]


def test_a_window_is_closed_once_settled_and_present():
    hour = NOV11 + 3600
    present = {"orders_hour": {NOV11, hour}}
    # the second hour ended 59 s before the newest second: its rows may still be loading
    plan = q.plan(TOTALS, NOV11, hour + 3600 + 59, present, hour + 3600 + 59 - q.SETTLE_S)
    assert plan == [q.Piece(HOUR, ((NOV11, hour),)), q.Piece(SECOND, ((hour, hour + 3600 + 59),))]
    plan = q.plan(TOTALS, NOV11, hour + 3600 + 60, present, hour + 3600 + 60 - q.SETTLE_S)
    assert plan == [q.Piece(HOUR, ((NOV11, hour + 3600),)), q.Piece(SECOND, ((hour + 3600, hour + 3600 + 60),))]
    # an hour the tier lacks (its job restarted, a history without it) is read from the seconds
    present = {"orders_hour": {hour}}
    assert q.plan(TOTALS, NOV11, hour + 3600, present, NOV11 + 86400) == [
        q.Piece(HOUR, ((hour, hour + 3600),)), q.Piece(SECOND, ((NOV11, hour),))]


def test_buckets_take_only_tiers_whose_windows_lie_within_one():
    present = {"orders_hour": every(HOUR, UTC10, UTC11), "orders_day": {UTC10}}
    settled = UTC11 + 3600
    assert q.plan(TOTALS, UTC10, UTC11, present, settled, bucket=3600) == [q.Piece(HOUR, ((UTC10, UTC11),))]
    assert q.plan(TOTALS, UTC10, UTC11, present, settled, bucket=300) == [q.Piece(SECOND, ((UTC10, UTC11),))]
    # 1-day buckets are festival days (from 16:00 UTC): a UTC day straddles two, so hours
    assert q.plan(TOTALS, UTC10, UTC11, present, settled, bucket=86400) == [q.Piece(HOUR, ((UTC10, UTC11),))]
    assert q.bucket_start(UTC10 + 3600, 86400) == NOV10 and q.bucket_start(UTC10 + 16 * 3600, 86400) == NOV11
    # 2-hour buckets take hours; 30-minute ones only seconds
    assert q.plan(TOTALS, UTC10, UTC11, present, settled, bucket=7200) == [q.Piece(HOUR, ((UTC10, UTC11),))]
    assert q.plan(TOTALS, UTC10, UTC11, present, settled, bucket=1800) == [q.Piece(SECOND, ((UTC10, UTC11),))]
    assert q.plan(TOTALS, UTC10, UTC11, present, settled) == [q.Piece(DAY, ((UTC10, UTC11),))]


def test_candidates_lie_within_the_range():
    assert q.candidates(HOUR, NOV11 + 1, NOV11 + 3 * 3600, NOV11 + 86400) == [NOV11 + 3600, NOV11 + 7200]
    assert q.candidates(DAY, UTC10 - 1, UTC11 + 86400, UTC11 + 86400) == [UTC10, UTC11]
    assert q.candidates(DAY, UTC10, UTC11 + 86399, UTC11 + 86400) == [UTC10]
    assert q.candidates(HOUR, NOV11, NOV11 + 1800, NOV11 + 86400) == []
    assert q.plan(TOTALS, NOV11, NOV11, {}, NOV11 + 86400) == []


def test_the_explore_families_start_at_5_minutes():
    cube, cube_hour, _ = q.CUBE
    present = {"cube_hour": {NOV11}}
    assert q.plan(q.CUBE, NOV11 - 300, NOV11 + 3900, present, NOV11 + 86400) == [
        q.Piece(cube_hour, ((NOV11, NOV11 + 3600),)),
        q.Piece(cube, ((NOV11 - 300, NOV11), (NOV11 + 3600, NOV11 + 3900)))]
    assert q.grain({"category": "Apparel", "vip": "1"}) == q.grain({"brand": "x", "category": "y"}) == 300
