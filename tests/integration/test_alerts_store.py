"""The alert service's SQL on both engines (Debian's ClickHouse 18.16 and a current one, chDB), and
one evaluation of the service over rows whose meaning is known."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from dashboard import queries as q
from stream.alerts import store
from stream.alerts.config import parse
from stream.alerts.rules import FIRING, RESOLVED, Alert
from stream.alerts.service import AlertService
from stream.settings import load
from stream.stack import clickhouse, migrations
from tests.support.chdb_engine import ChdbClient, ChdbRun

T0 = 1_636_560_000  # 2021-11-11 00:00 CST
WRITTEN = 1_700_000_000_000


@pytest.fixture(params=["chdb", pytest.param("clickhouse-18.16", marks=pytest.mark.slow)])
def engine(request):
    """``(run, insert, database)`` on a migrated, empty database of one engine."""
    if request.param == "chdb":
        client = ChdbClient()
        db = f"alerts_{uuid.uuid4().hex[:8]}"
        migrations.apply(client, db)
        yield ChdbRun(client), client.execute, db
        client.close()
        return
    settings = request.getfixturevalue("clickhouse_settings")
    with clickhouse.connect(settings, "writer") as writer:
        yield (lambda sql, params=None, tier=None: writer.execute(sql, params)), writer.execute, \
            settings.clickhouse_database


def second_rows(*rows: tuple[int, int, int, int]) -> list[tuple]:
    """orders_per_second rows from (second, late, orders_created, written_ms)."""
    return [(datetime.fromtimestamp(s, tz=timezone.utc).replace(tzinfo=None), late, created, created, 100 * created,
             0, 0, 0, written) for s, late, created, written in rows]


def insert_seconds(insert, db, *rows) -> None:
    insert(f"INSERT INTO {db}.orders_per_second (window_start, late, orders_created, orders_paid, gmv_fen, refunds, "
           "refund_fen, cancellations, written_ms) VALUES", second_rows(*rows))


def test_reads_of_an_empty_database(engine):
    run, _, db = engine
    assert store.read_progress(run, db, WRITTEN) is None
    assert store.read_oldest(run, db) is None
    assert store.read_history(run, db) == []
    assert store.read_counts(run, db, T0, T0 + 3).tolist() == [0, 0, 0]


def test_counts_add_late_rows_take_the_newest_version_and_fill_gaps_with_zero(engine):
    run, insert, db = engine
    insert_seconds(insert, db, (T0, 0, 10, WRITTEN), (T0, 1, 2, WRITTEN + 5000),  # late correction added in
                   (T0 + 1, 0, 7, WRITTEN), (T0 + 1, 0, 9, WRITTEN + 1000),  # rewritten: the newer wins
                   (T0 + 3, 0, 4, WRITTEN + 2000))
    assert store.read_counts(run, db, T0 - 1, T0 + 5).tolist() == [0, 12, 9, 0, 4, 0]
    assert store.read_oldest(run, db) == T0
    progress = store.read_progress(run, db, settled_ms=WRITTEN + 1500)
    assert progress == store.Progress(newest_window=T0 + 3, newest_written_ms=WRITTEN + 5000, settled_window=T0 + 1)
    assert store.read_progress(run, db, settled_ms=WRITTEN - 1).settled_window is None
    # with a hint only the last hour is read; a hint far ahead falls back to the whole table
    assert store.read_progress(run, db, WRITTEN + 1500, hint=T0 + 3) == progress
    assert store.read_progress(run, db, WRITTEN + 1500, hint=T0 + 86400) == progress


def test_extent_is_the_first_and_last_second_and_changes_when_rows_are_added(engine):
    run, insert, db = engine
    assert store.read_extent(run, db) is None
    insert_seconds(insert, db, (T0 + 5, 0, 10, WRITTEN), (T0 + 3, 1, 2, WRITTEN + 1), (T0 + 90, 0, 0, WRITTEN))
    assert store.read_extent(run, db) == store.Extent(T0 + 3, T0 + 90, 3, WRITTEN + 1)
    insert_seconds(insert, db, (T0 + 5, 0, 11, WRITTEN + 7))  # a newer version: same span, new fingerprint
    extent = store.read_extent(run, db)
    assert (extent.first, extent.last, extent.written_ms) == (T0 + 3, T0 + 90, WRITTEN + 7)
    assert extent.rows in (3, 4)  # 3 once a merge has replaced the older version


def test_rejections_per_minute_take_the_newest_version_of_each_row(engine):
    run, insert, db = engine

    def at(minute: int) -> datetime:
        return datetime.fromtimestamp(T0 + 60 * minute, tz=timezone.utc).replace(tzinfo=None)

    insert(f"INSERT INTO {db}.pipeline_events_per_minute (window_start, source, kind, reason, events, written_ms) "
           "VALUES", [
               (at(0), "orders", "received", "", 100, WRITTEN), (at(0), "orders", "received", "", 150, WRITTEN + 1),
               (at(0), "logistics", "received", "", 50, WRITTEN),
               (at(0), "orders", "rejected", "not_json", 30, WRITTEN), (at(0), "logistics", "rejected", "not_json", 2,
                                                                         WRITTEN),
               (at(0), "orders", "rejected", "too_large", 1, WRITTEN),
               (at(0), "orders", "late", "", 7, WRITTEN),  # not a rejection
               (at(1), "orders", "received", "", 10, WRITTEN), (at(2), "orders", "rejected", "not_json", 9, WRITTEN),
           ])
    found = store.read_rejections(run, db, T0, T0 + 120)
    assert found.minutes == {T0: (200, {"not_json": 32, "too_large": 1}), T0 + 60: (10, {})}
    assert found.over(T0, T0 + 120) == (210, {"not_json": 32, "too_large": 1})
    assert store.read_rejections(run, db, T0 + 180, T0 + 240).minutes == {}


def test_history_rows_are_rewritten_as_delivery_progresses(engine):
    run, insert, db = engine
    clock = iter(range(WRITTEN, WRITTEN + 100))
    recorder = store.Recorder(insert, db, lambda: WRITTEN)  # the same millisecond every time
    fired = Alert("throughput-drop", "drop", "critical", FIRING, 12.5, 40.0, T0, 60, "orders/s fell", next(clock))
    recorder.record(store.Row(fired, "pending"))
    recorder.record(store.Row(fired, "failed", 4))
    resolved = Alert("throughput-drop", "drop", "critical", RESOLVED, 39.0, 40.0, T0 + 300, 60, "back", next(clock))
    recorder.record(store.Row(resolved, "delivered", 1))
    assert recorder.waiting == 0
    newest, oldest = store.read_history(run, db)
    assert (newest["state"], newest["delivery"], newest["attempts"]) == (RESOLVED, "delivered", 1)
    assert (oldest["state"], oldest["delivery"], oldest["attempts"], oldest["window_start"]) == (
        FIRING, "failed", 4, T0)
    # the dashboard's /alerts query reads the same rows
    assert [(e["state"], e["delivery"]) for e in q.alert_events(run, db)] == [(RESOLVED, "delivered"),
                                                                            (FIRING, "failed")]


def test_recorder_keeps_rows_while_clickhouse_refuses_them(engine):
    run, insert, db = engine
    down = {"on": True}

    def flaky(sql, rows):
        if down["on"]:
            raise ConnectionRefusedError("connection refused")
        return insert(sql, rows)

    recorder = store.Recorder(flaky, db, lambda: WRITTEN)
    alert = Alert("pipeline-stall", "stall", "critical", FIRING, 45.0, 30.0, T0, 1, "no new rollup", WRITTEN)
    recorder.record(store.Row(alert, "pending"))
    recorder.record(store.Row(alert, "delivered", 1))
    assert recorder.waiting == 2 and not recorder.flush()
    down["on"] = False
    assert recorder.flush() and recorder.waiting == 0
    (row,) = store.read_history(run, db)
    assert (row["delivery"], row["attempts"]) == ("delivered", 1)


CONFIG = parse({
    "service": {"margin_seconds": 5, "settle_seconds": 2},
    "rules": [{"name": "drop", "kind": "drop", "window_seconds": 10, "baseline_windows": 4, "baseline": "median",
               "min_expected_orders": 50},
              {"name": "stall", "kind": "stall", "stale_seconds": 30}],
})


def test_one_evaluation_judges_only_complete_windows(engine):
    """50 s at 10 orders/s, then the newest 10 s hold nothing: a drop only once those seconds are
    complete (behind the newest window by the margin, and written settle_seconds ago)."""
    run, insert, db = engine
    now = {"ms": WRITTEN}
    insert_seconds(insert, db, *[(T0 + i, 0, 10, WRITTEN - 60_000 + i * 1000) for i in range(50)])
    service = AlertService(CONFIG, load(env={}, clickhouse_database=db), clock=lambda: now["ms"] / 1000, run=run,
                           insert=insert)
    service.start()
    try:
        assert service.step() == []  # complete up to T0+45: too little history before it for a baseline
        # the pipeline writes seconds T0+50..T0+65 now, only the last with orders: T0+50..64 were empty
        insert_seconds(insert, db, (T0 + 65, 0, 10, WRITTEN))
        assert service.step() == []  # written 0 s ago: not settled yet
        now["ms"] += 2000
        (alert,) = service.step()  # settled: windows up to T0+65 - 5 s are complete; T0+50..64 hold nothing
        # each horizon since the last step is judged: the first window below half, T0+46..55, fires
        assert (alert.rule, alert.state, alert.observed, alert.baseline, alert.window_start) == (
            "drop", FIRING, 4.0, 10.0, T0 + 46)
        now["ms"] += 40_000  # nothing new for 42 s: a stall, and the drop rule sees nothing new
        (stall,) = service.step()
        assert (stall.rule, stall.state, stall.observed) == ("stall", FIRING, 42.0)
        (row, first) = store.read_history(run, db)
        assert (row["rule"], row["delivery"], first["rule"], first["delivery"]) == ("stall", "none", "drop", "none")
    finally:
        service.close()


MILESTONES = parse({"service": {"margin_seconds": 0, "settle_seconds": 0},
                    "milestones": {"figures_fen": [50_000, 100_000, 150_000, 10**12]}})


def test_milestones_follow_the_rollups_late_rows_move_them_and_a_restart_keeps_them(engine):
    """Three minutes at 1,000 fen a second: ¥500 is passed in T0+49, ¥1,000 in T0+99, ¥1,500 in
    T0+149. A late row moves them; one older than the span read every second, at the next full sum."""
    run, insert, db = engine
    now = {"ms": WRITTEN}
    insert_seconds(insert, db, *[(T0 + i, 0, 10, WRITTEN - 1000) for i in range(180)])  # 10 orders: 1,000 fen
    settings = load(env={}, clickhouse_database=db)
    service = AlertService(MILESTONES, settings, clock=lambda: now["ms"] / 1000, run=run, insert=insert)
    sums = {"at": 0.0}
    service.milestones.clock = lambda: sums["at"]  # when the whole table is summed again
    service.start()
    try:
        service.step()
        stored = store.read_milestones(run, db)
        assert [(r.figure_fen, r.second, r.gmv_fen, r.first_second, r.moved_ms, r.announce) for r in stored] == [
            (50_000, T0 + 49, 50_000, T0 + 49, 0, "none"), (100_000, T0 + 99, 100_000, T0 + 99, 0, "none"),
            (150_000, T0 + 149, 150_000, T0 + 149, 0, "none")]  # settled, no webhook: "none"
        assert [(p.figure_fen, p.second) for p in q.milestones(run, db)] == [
            (50_000, T0 + 49), (100_000, T0 + 99), (150_000, T0 + 149)]  # as the wall reads them
        # a late correction for T0+10: 30,000 fen more from there on
        insert_seconds(insert, db, (T0 + 10, 1, 300, WRITTEN))
        now["ms"] += 1000
        service.step()
        moved = store.read_milestones(run, db)
        assert [(r.second, r.gmv_fen, r.first_second, r.moved_ms, r.announce) for r in moved] == [
            (T0 + 19, 50_000, T0 + 49, WRITTEN + 1000, "none"), (T0 + 69, 100_000, T0 + 99, WRITTEN + 1000, "none"),
            (T0 + 119, 150_000, T0 + 149, WRITTEN + 1000, "none")]
        # two hours earlier, outside the span read every evaluation: seen at the next full sum
        insert_seconds(insert, db, (T0 - 7200, 1, 400, WRITTEN))
        service.step()
        assert store.read_milestones(run, db)[0].second == T0 + 19
        sums["at"] += 30
        service.step()
        assert [r.second for r in store.read_milestones(run, db)] == [T0 + 9, T0 + 29, T0 + 79]
    finally:
        service.close()
    again = AlertService(MILESTONES, settings, clock=lambda: now["ms"] / 1000, run=run, insert=insert)
    again.start()
    try:
        again.step()
        assert again.milestones.stored == {r.figure_fen: r for r in store.read_milestones(run, db)}
        assert again.milestones.step(service.last.progress, None) == []  # restored: nothing to rewrite
    finally:
        again.close()
