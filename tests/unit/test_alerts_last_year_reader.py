"""The reader of last year's history (stream/alerts/last_year.py) against a fake ``run``: the year's
shift, the hour blocks it keeps (history is read about once an hour, not every second), what it
does when history changes, is missing or cannot be read. The SQL itself runs on ClickHouse in
tests/integration/test_alerts_last_year.py and test_alerts_store.py."""
from __future__ import annotations

from datetime import datetime

import numpy as np

from stream.alerts.last_year import BLOCK_S, LastYear, spread_minutes
from stream.contract import FESTIVAL_TZ
from stream.history import same_moment_last_year

T0 = int(datetime(2021, 11, 11, 10, 0, 30, tzinfo=FESTIVAL_TZ).timestamp())
LY0 = same_moment_last_year(T0)  # 2020-11-11 10:00:30 CST: 365 days earlier


class FakeHistory:
    """Answers the reader's two queries from ``seconds`` ({last year's epoch s: orders})."""

    def __init__(self, seconds: dict[int, int], written_ms: int = 1) -> None:
        self.seconds, self.written_ms, self.queries, self.fail = seconds, written_ms, [], None

    def __call__(self, sql: str, params: dict) -> list:
        self.queries.append(("counts" if "sum(orders_created)" in sql else "extent", dict(params)))
        if self.fail:
            raise self.fail
        if "min(window_start)" in sql:
            if not self.seconds:
                return [(0, 0, 0, 0)]
            return [(min(self.seconds), max(self.seconds), len(self.seconds), self.written_ms)]
        return [(s, n) for s, n in self.seconds.items() if params["start"] <= s < params["end"]]


def test_reads_the_same_moments_last_year_an_hour_at_a_time():
    history = FakeHistory({LY0 + i: i % 7 for i in range(-4000, 4000)})
    reader = LastYear(history, "gmv_history", clock=lambda: 0.0)
    counts, covered = reader.read(T0, T0 + 660)
    assert covered == (T0 - 4000, T0 + 4000) and T0 - LY0 == 365 * 86400
    assert counts.tolist() == [i % 7 for i in range(660)]
    blocks = [q for q in history.queries if q[0] == "counts"]
    assert all(p["end"] - p["start"] == BLOCK_S and p["start"] % BLOCK_S == 0 for _, p in blocks)
    # a second later, and a thousand: nothing new is read until the next hour's block
    for step in range(1, 1000, 37):
        again, _ = reader.read(T0 + step, T0 + 660 + step)
        assert again.tolist() == [(i + step) % 7 for i in range(660)]
    assert len([q for q in history.queries if q[0] == "counts"]) <= len(blocks) + 1


def test_a_span_across_two_hours_is_joined_and_seconds_without_rows_are_zero():
    history = FakeHistory({LY0 - 31: 5, LY0 + 10: 3, LY0 + 5000: 1})
    counts, covered = LastYear(history, "h").read(T0 - 60, T0 + 60)
    assert covered == (T0 - 31, T0 + 5001)
    expected = np.zeros(120, dtype=np.int64)
    expected[29], expected[70] = 5, 3
    assert counts.tolist() == expected.tolist()


def test_outside_the_history_there_is_nothing_to_read():
    history = FakeHistory({LY0 + i: 1 for i in range(600)})
    reader = LastYear(history, "h")
    assert reader.read(T0 + 86400, T0 + 86400 + 60) == (None, (T0, T0 + 600))
    assert [q[0] for q in history.queries] == ["extent"]


def test_no_rows_or_no_database_is_no_history_with_a_reason_and_is_looked_for_again():
    now = {"s": 0.0}
    history = FakeHistory({})
    reader = LastYear(history, "gmv_history", clock=lambda: now["s"], refresh_s=60)
    assert reader.read(T0, T0 + 60) == (None, None)
    assert reader.why == "gmv_history.orders_per_second has no rows"
    history.fail = RuntimeError("Code: 81.\nDB::Exception: Database gmv_history doesn't exist. Stack trace:\n\n0. x")
    now["s"] = 30.0
    assert reader.read(T0, T0 + 60) == (None, None) and reader.why == "gmv_history.orders_per_second has no rows"
    now["s"] = 61.0  # looked for again after refresh_s
    assert reader.read(T0, T0 + 60) == (None, None)
    assert reader.why == "gmv_history cannot be read (Code: 81. DB::Exception: Database gmv_history doesn't exist.)"
    history.fail = None
    history.seconds = {LY0 + i: 2 for i in range(60)}
    now["s"] = 122.0
    counts, covered = reader.read(T0, T0 + 60)
    assert counts.tolist() == [2] * 60 and covered == (T0, T0 + 60)
    assert reader.describe() == "gmv_history covers 2020-11-11 10:00 to 2020-11-11 10:01 CST"


def test_history_rewritten_while_the_service_runs_is_read_again():
    now = {"s": 0.0}
    history = FakeHistory({LY0 + i: 1 for i in range(600)}, written_ms=1)
    reader = LastYear(history, "h", clock=lambda: now["s"], refresh_s=60)
    assert reader.read(T0, T0 + 10)[0].tolist() == [1] * 10
    history.seconds = {LY0 + i: 4 for i in range(600)}  # imported again: same span, newer rows
    history.written_ms = 2
    now["s"] = 30.0
    assert reader.read(T0, T0 + 10)[0].tolist() == [1] * 10  # kept until the next look
    now["s"] = 61.0
    assert reader.read(T0, T0 + 10)[0].tolist() == [4] * 10


def test_a_block_that_cannot_be_read_is_no_history_not_an_error():
    history = FakeHistory({LY0 + i: 1 for i in range(600)})
    reader = LastYear(history, "h", clock=lambda: 0.0)
    reader.covered(T0)
    history.fail = ConnectionError("connection refused")
    assert reader.read(T0, T0 + 10) == (None, None)
    assert reader.why == "h cannot be read (connection refused)"


def test_per_minute_totals_are_spread_over_their_minute():
    minutes = np.zeros(3600, dtype=np.int64)
    minutes[::60] = np.arange(60) * 60  # minute m: 60 m orders, all on its first second
    spread = spread_minutes(minutes)
    assert spread.tolist() == np.repeat(np.arange(60.0), 60).tolist() and spread.sum() == minutes.sum()
    seconds = minutes.copy()
    seconds[61] = 1  # one row off a minute's first second: per-second counts, as read
    assert spread_minutes(seconds) is seconds
    few = np.zeros(3600, dtype=np.int64)
    few[: 60 * 9: 60] = 5  # nine rows on minute starts could be chance at a trickle: left alone
    assert spread_minutes(few) is few


def test_history_imported_per_minute_gives_each_window_its_share_of_the_minutes_it_overlaps():
    minute0 = LY0 - 30  # 10:00:00 last year; T0 is 10:00:30
    history = FakeHistory({minute0 + 60 * m: 600 for m in range(-30, 30)})  # 10 orders/s, per minute
    counts, _ = LastYear(history, "h").read(T0, T0 + 60)  # half of 10:00, half of 10:01
    assert counts.sum() == 600 and set(counts.tolist()) == {10.0}
