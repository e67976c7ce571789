"""The drop rule's ``last_year`` baseline on the real ClickHouse: last year's rows in the history
database (``Settings.history_database``, migrated like the rollups, last year's own timestamps,
late corrections and rewritten rows among them) and today's in the rollups. A dip last year had
too does not page (a median rule on the same rows does); a drop last year did not have pages
against last year's same window x today's ratio. Without history the rule judges against the
median and the service says so once, then once more when history appears."""
from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest

from stream.alerts import store
from stream.alerts.config import parse
from stream.alerts.rules import FIRING
from stream.alerts.service import AlertService
from stream.contract import FESTIVAL_TZ
from stream.history import same_moment_last_year
from tests.support.last_year import history_database, insert_seconds, migrate_history

pytestmark = pytest.mark.slow

T0 = int(datetime(2021, 11, 11, 10, 0, tzinfo=FESTIVAL_TZ).timestamp())  # today's first second
LY0 = same_moment_last_year(T0)  # 2020-11-11 10:00 CST
WALL_MS = 1_700_000_000_000
W = 10  # window seconds

CONFIG = parse({
    "service": {"margin_seconds": 0, "settle_seconds": 0},
    "rules": [
        {"name": "drop-last-year", "kind": "drop", "window_seconds": W, "baseline_windows": 4,
         "baseline": "last_year", "min_expected_orders": 50, "cooldown_seconds": 0},
        {"name": "drop-median", "kind": "drop", "window_seconds": W, "baseline_windows": 4,
         "baseline": "median", "min_expected_orders": 50, "cooldown_seconds": 0},
    ],
})


def today(settings, rates: list[float], first_window: int = 0) -> None:
    """Today's rows: ``rates[i]`` orders/s in window ``first_window + i`` (each second a row)."""
    rows = [(T0 + (first_window + i) * W + s, 0, int(rate), WALL_MS - 10_000)
            for i, rate in enumerate(rates) for s in range(W)]
    insert_seconds(settings, settings.clickhouse_database, rows)


def last_year(settings, rates: list[float]) -> None:
    """Last year's rows from LY0, ``rates[i]`` orders/s in window i, written the ways the job
    writes them: a window's orders split between the on-time row and a late correction, and
    some rows written twice (an older version with other counts, replaced)."""
    rows = []
    for i, rate in enumerate(rates):
        for s in range(W):
            second, n = LY0 + i * W + s, int(rate)
            if s == 0:  # a late correction: 3 of that second's orders
                rows += [(second, 0, n - 3, 1_600_000_000_000), (second, 1, 3, 1_600_000_005_000)]
            elif s == 1:  # rewritten: the newer version counts
                rows += [(second, 0, 999, 1_600_000_000_000), (second, 0, n, 1_600_000_001_000)]
            else:
                rows.append((second, 0, n, 1_600_000_000_000))
    insert_seconds(settings, settings.history_database, rows)


def service_on(settings, now: dict) -> AlertService:
    service = AlertService(CONFIG, settings, clock=lambda: now["ms"] / 1000)
    service.start()
    return service


def test_a_dip_last_year_had_too_does_not_page_a_drop_it_did_not_have_does(clickhouse_settings):
    settings = clickhouse_settings
    now = {"ms": WALL_MS}
    with history_database(settings):
        # last year: 100/s, a 30/s dip in window 4, 100/s again, and 90/s where today will drop
        last_year(settings, [100, 100, 100, 100, 30, 100, 100, 100, 100, 90])
        today(settings, [126, 126, 126, 126, 38])  # today 1.26x last year, the same dip
        service = service_on(settings, now)
        try:
            raised = service.step()
            windows = service.last.windows
            assert windows.horizon == T0 + 5 * W and windows.history == (T0, T0 + 10 * W)
            assert windows.last_year_between(T0, T0 + 5 * W).reshape(5, W).sum(axis=1).tolist() == [
                1000, 1000, 1000, 1000, 300]  # late rows added in, the newer version of a rewritten row
            # the median calls it a drop (38 of 126); last year expected 1.26 x 30 = 37.8
            assert [(a.rule, a.state) for a in raised] == [("drop-median", FIRING)]
            assert service.baselines == {"drop-last-year": "last_year"}
            # later, today drops to 20/s where last year held 90/s
            today(settings, [126, 126, 126, 126, 20], first_window=5)
            now["ms"] += 1000
            fired = [a for a in service.step() if a.rule == "drop-last-year"]
            # every horizon since the last step is judged: the first 10 s below half are T0+87..96,
            # 3 s at 126/s and 7 s at 20/s (51.8/s) where last year had 3 s at 100/s and 7 s at 90/s
            assert [(a.state, a.window_start, a.observed) for a in fired] == [(FIRING, T0 + 87, 51.8)]
            assert fired[0].baseline == pytest.approx(1.26 * 93)  # 1.26 (median of the ratios) x 93/s
            assert "last year's same 10 s x today's ratio 1.26" in fired[0].message
            (row,) = [r for r in store.read_history(service.run, settings.clickhouse_database)
                      if r["rule"] == "drop-last-year"]
            assert row["baseline"] == pytest.approx(1.26 * 93)
        finally:
            service.close()
        # a restart while it fires: the alert stays firing, with the ratio that gives its baseline
        restarted = service_on(settings, now)
        try:
            state = restarted.states["drop-last-year"]
            assert state.firing and state.level.ratio == pytest.approx(1.26)
            now["ms"] += 1000
            assert [a for a in restarted.step() if a.rule == "drop-last-year"] == []  # no second page
        finally:
            restarted.close()


def test_without_history_the_rule_judges_against_the_median_and_says_so_once(clickhouse_settings, caplog,
                                                                              tmp_path):
    settings = clickhouse_settings
    now = {"ms": WALL_MS}
    caplog.set_level(logging.INFO, logger="gmv.alerts")
    with history_database(settings, migrate=False):  # the database does not exist yet
        today(settings, [126, 126, 126, 126, 126])
        service = AlertService(CONFIG, settings, clock=lambda: now["ms"] / 1000, heartbeat=tmp_path / "beat")
        service.start()
        try:
            assert service.step() == []
            now["ms"] += 1000
            assert service.step() == []
            said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alerts: drop-last-year:")]
            assert len(said) == 1, said
            assert said[0].startswith("alerts: drop-last-year: no history for last year's 2020-11-11 10:00 CST (")
            assert f"{settings.history_database} cannot be read (Code: 81" in said[0]
            assert "doesn't exist" in said[0]  # ClickHouse's reason, from the line after the code
            assert "judged against the trailing median" in said[0] and "\n" not in said[0]
            assert json.loads((tmp_path / "beat").read_text())["baselines"] == {
                "drop-last-year": "median (no history)"}
            # a drop pages against the median meanwhile, and says what it was judged against
            today(settings, [20], first_window=5)
            now["ms"] += 1000
            (fired,) = [a for a in service.step() if a.rule == "drop-last-year"]
            assert fired.baseline == pytest.approx(126.0)
            assert "the trailing median (no history for last year here)" in fired.message
            # history is written while the service runs: used within a refresh, and said once
            migrate_history(settings)
            last_year(settings, [100] * 12)
            today(settings, [126] * 4, first_window=6)
            now["ms"] += 61_000
            resolved = [a for a in service.step() if a.rule == "drop-last-year"]
            assert [a.state for a in resolved] == ["resolved"]
            assert service.baselines["drop-last-year"] == "last_year"
            said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alerts: drop-last-year:")]
            assert len(said) == 2 and said[1].startswith("alerts: drop-last-year: judged against last year (")
            assert f"{settings.history_database} covers 2020-11-11 10:00 to 2020-11-11 10:01 CST" in said[1]
        finally:
            service.close()


def test_history_that_does_not_cover_the_moment_is_no_history(clickhouse_settings):
    """History for another date (say, only Nov 1-3 last year): the rule judges on the median."""
    settings = clickhouse_settings
    now = {"ms": WALL_MS}
    with history_database(settings):
        insert_seconds(settings, settings.history_database,
                       [(LY0 - 8 * 86400 + s, 0, 100, 1_600_000_000_000) for s in range(600)])
        today(settings, [126, 126, 126, 126, 20])
        service = service_on(settings, now)
        try:
            fired = [a for a in service.step() if a.rule == "drop-last-year"]
            assert [a.state for a in fired] == [FIRING] and "no history for last year here" in fired[0].message
            assert service.baselines == {"drop-last-year": "median (no history)"}
            assert service.last.windows.history == (T0 - 8 * 86400, T0 - 8 * 86400 + 600)
        finally:
            service.close()


def test_history_of_per_minute_totals_is_spread_over_each_minute(clickhouse_settings):
    """Last year imported as minutes (each total on its minute's first second, as `gmv history
    import` takes them): windows that do not start on the minute get their share of each."""
    settings = clickhouse_settings
    now = {"ms": WALL_MS}
    config = parse({"service": {"margin_seconds": 0, "settle_seconds": 0},
                    "rules": [{"name": "drop", "kind": "drop", "window_seconds": 60, "baseline_windows": 4,
                               "baseline": "last_year", "min_expected_orders": 50, "cooldown_seconds": 0}]})
    with history_database(settings):
        # last year: 100/s, then 40/s from 10:04 on, as per-minute totals
        insert_seconds(settings, settings.history_database,
                       [(LY0 + 60 * m, 0, 6000 if m < 4 else 2400, 1_600_000_000_000) for m in range(-20, 20)])
        offset = T0 + 30  # today's windows run from :30 to :30
        insert_seconds(settings, settings.clickhouse_database,
                       [(offset + s, 0, 126 if s < 240 else 38, WALL_MS - 10_000) for s in range(300)])
        service = AlertService(config, settings, clock=lambda: now["ms"] / 1000)
        service.start()
        try:
            assert service.step() == []  # 38/s where last year had fallen to 40/s: 1.26 x 40 = 50.4 expected
            windows = service.last.windows
            assert windows.last_year_between(offset, offset + 300).tolist() == [100.0] * 210 + [40.0] * 90
            # then today falls to 10/s
            insert_seconds(settings, settings.clickhouse_database,
                           [(offset + 300 + s, 0, 10, WALL_MS - 10_000) for s in range(60)])
            now["ms"] += 1000
            (fired,) = service.step()  # the first 60 s below half: 32 s at 38/s and 28 s at 10/s
            assert fired.window_start == offset + 268 and fired.observed == pytest.approx((32 * 38 + 28 * 10) / 60)
            assert fired.baseline == pytest.approx(1.26 * 40)
        finally:
            service.close()
