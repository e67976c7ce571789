"""Which tier answers which part of a range (dashboard.queries.plan): closed days from the day
tier, closed hours from the hour tier, the rest from the finest; a window only once its rows are
there and it ended a settle margin before the newest second; series buckets only from tiers
they are multiples of."""
from __future__ import annotations

from datetime import datetime

from dashboard import queries as q
from stream.contract import FESTIVAL_TZ

TOTALS = q.TOTALS
SECOND, HOUR, DAY = TOTALS
NOV10 = int(datetime(2021, 11, 10, tzinfo=FESTIVAL_TZ).timestamp())  # a festival day: 16:00 UTC
NOV11 = NOV10 + 86400


def every(rollup, start: int, end: int) -> set[int]:
    return set(range(start, end, rollup.window_s))


def test_closed_days_then_hours_then_seconds():
    start, end, newest = NOV10 - 2 * 3600 - 60, NOV11 + 5 * 3600 + 30, NOV11 + 5 * 3600 + 29
    present = {"orders_hour": every(HOUR, NOV10 - 86400, NOV11 + 86400), "orders_day": {NOV10 - 86400, NOV10}}
    assert q.plan(TOTALS, start, end, present, newest - q.SETTLE_S) == [
        q.Piece(DAY, ((NOV10, NOV11),)),
        q.Piece(HOUR, ((NOV10 - 7200, NOV10), (NOV11, NOV11 + 4 * 3600))),
        q.Piece(SECOND, ((start, NOV10 - 7200), (NOV11 + 4 * 3600, end)))]


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


def test_buckets_take_only_tiers_they_are_multiples_of():
    present = {"orders_hour": every(HOUR, NOV10, NOV11), "orders_day": {NOV10}}
    settled = NOV11 + 3600
    assert q.plan(TOTALS, NOV10, NOV11, present, settled, bucket=3600) == [q.Piece(HOUR, ((NOV10, NOV11),))]
    assert q.plan(TOTALS, NOV10, NOV11, present, settled, bucket=300) == [q.Piece(SECOND, ((NOV10, NOV11),))]
    # 1-day buckets are festival days, as the day tier's windows are (from 16:00 UTC)
    assert q.plan(TOTALS, NOV10, NOV11, present, settled, bucket=86400) == [q.Piece(DAY, ((NOV10, NOV11),))]
    # 2-hour buckets take hours; 30-minute ones only seconds
    assert q.plan(TOTALS, NOV10, NOV11, present, settled, bucket=7200) == [q.Piece(HOUR, ((NOV10, NOV11),))]
    assert q.plan(TOTALS, NOV10, NOV11, present, settled, bucket=1800) == [q.Piece(SECOND, ((NOV10, NOV11),))]
    assert q.plan(TOTALS, NOV10, NOV11, present, settled) == [q.Piece(DAY, ((NOV10, NOV11),))]


def test_candidates_lie_within_the_range():
    assert q.candidates(HOUR, NOV11 + 1, NOV11 + 3 * 3600, NOV11 + 86400) == [NOV11 + 3600, NOV11 + 7200]
    assert q.candidates(DAY, NOV10 - 1, NOV11 + 86400, NOV11 + 86400) == [NOV10, NOV11]
    assert q.candidates(DAY, NOV10, NOV11 + 86399, NOV11 + 86400) == [NOV10]
    assert q.candidates(HOUR, NOV11, NOV11 + 1800, NOV11 + 86400) == []
    assert q.plan(TOTALS, NOV11, NOV11, {}, NOV11 + 86400) == []


def test_the_explore_families_start_at_5_minutes():
    cube, cube_hour, _ = q.CUBE
    present = {"cube_hour": {NOV11}}
    assert q.plan(q.CUBE, NOV11 - 300, NOV11 + 3900, present, NOV11 + 86400) == [
        q.Piece(cube_hour, ((NOV11, NOV11 + 3600),)),
        q.Piece(cube, ((NOV11 - 300, NOV11), (NOV11 + 3600, NOV11 + 3900)))]
    assert q.grain({"category": "Apparel", "vip": "1"}) == q.grain({"brand": "x", "category": "y"}) == 300
