"""The festival the README's pictures show, and the walk through the pages that takes them.

Generated rollups of Nov 10 and Nov 11 2021 up to 21:18:42 CST (as if replayed and written
just now), plus an alert history of the rules in ``infra/alerts.toml``, the GMV milestones
of the default figures, as the alert service records them, and last year's Nov 10-11 in the
history database (simulated, as `gmv simulate --only-history` writes it).
tests/browser/test_dashboard_festival.py takes pictures of the pages with :func:`take` into its
tmp_path and checks what they show (the README's pictures come from a real run instead:
bench/screenshots.py).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from selenium.webdriver.common.by import By

from stream.alerts.config import parse
from stream.alerts.service import AlertService
from stream.contract import FESTIVAL_TZ
from stream.stack import clickhouse
from tests.support import synthetic
from tests.support.browser import wait_until

END = datetime(2021, 11, 11, 21, 18, 42, tzinfo=FESTIVAL_TZ)
PICTURES = ("wall", "explore", "alerts")


def festival(now_ms: int) -> synthetic.Festival:
    return synthetic.Festival(start=datetime(2021, 11, 10, tzinfo=FESTIVAL_TZ), end=END, orders_per_s=12.0,
                              brands=5000, written_at_ms=now_ms - 2000)


def _at(h: int, m: int, s: int) -> datetime:
    return synthetic.utc_naive(datetime(2021, 11, 11, h, m, s, tzinfo=FESTIVAL_TZ))


def alert_rows(now_ms: int) -> list[tuple]:
    """alert_events rows of the rules in infra/alerts.toml, with messages as the service words them."""
    rows = [  # event offset ms, rule, severity, state, observed, baseline, window, seconds, message, delivery, tries
        (-5_000_000, "pipeline-stall", "critical", "firing", 41.0, 30.0, _at(19, 58, 0), 1,
         ("no new rollup for 41 s (alert after 30 s); newest window 11-11 19:58:00 CST; the job or its loader "
          "is stopped or lagging, so drops are not judged until it catches up"), "delivered", 1),
        (-4_950_000, "pipeline-stall", "critical", "resolved", 1.2, 30.0, _at(19, 58, 50), 1,
         "rollups flowing again: the newest was written 1.2 s ago; newest window 11-11 19:58:50 CST",
         "delivered", 1),
        (-1_200_000, "throughput-drop", "critical", "firing", 38.0, 92.5, _at(21, 0, 0), 60,
         ("orders/s fell to 38.0, 41% of last year's same 60 s x today's ratio 1.26 92.5 (alert below 50%), "
          "over the 60 s from 11-11 21:00:00 CST"), "failed", 4),
        (-1_020_000, "throughput-drop", "critical", "resolved", 88.0, 92.5, _at(21, 3, 0), 60,
         ("orders/s back to 88.0, 95% of last year's same 60 s x today's ratio 1.26 92.5 (clears at 70%), "
          "over the 60 s from 11-11 21:03:00 CST"), "delivered", 1),
        (-60_000, "throughput-drop", "critical", "firing", 41.5, 90.1, _at(21, 17, 0), 60,
         ("orders/s fell to 41.5, 46% of last year's same 60 s x today's ratio 1.27 90.1 (alert below 50%), "
          "over the 60 s from 11-11 21:17:00 CST"), "pending", 0),
    ]
    return [(now_ms + off, *rest, now_ms) for off, *rest in rows]


def fill(settings, now_ms: int) -> dict[str, dict]:
    """Write the festival's rollups and the alert history into ``settings``' database, and last
    year's Nov 10-11 into its history database (as `gmv simulate --only-history` writes it);
    returns the generated columns per table."""
    tables = synthetic.generate(festival(now_ms))
    with clickhouse.connect(settings, "writer") as writer:
        synthetic.insert(writer, settings.clickhouse_database, tables)
        writer.execute(f"INSERT INTO {settings.clickhouse_database}.alert_events "
                   "(event_ms, rule, severity, state, observed, baseline, window_start, window_seconds, message, "
                   "delivery, attempts, written_ms) VALUES", alert_rows(now_ms))
    record_milestones(settings)
    write_last_year(settings)
    return tables


def write_last_year(settings) -> None:
    """Last year's Nov 10-11 at about this festival's volume (12 orders/s a festival day; the
    simulator's festival days average ~1,500 real orders/s), into the history database."""
    from stream.simulator import history
    from stream.simulator.clock import ClockSpec
    from stream.simulator.config import DEFAULT
    from stream.simulator.run import RunOptions

    start = datetime(2021, 11, 10, tzinfo=FESTIVAL_TZ)
    options = RunOptions(clock=ClockSpec("replay", int(start.timestamp()) * 1000, 600.0))
    history.write(settings, DEFAULT.replace(year=2021, scale=12 / 1500, delay_compression=24.0), options,
                  echo=lambda line: None)


def record_milestones(settings) -> None:
    """One evaluation of the alert service with the default milestones (no rules, no webhooks)."""
    service = AlertService(parse({}), settings)
    service.start()
    try:
        service.step()
    finally:
        service.close()


def plots_drawn(driver) -> int:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".filter(g => g.data && g.data.length).length")


def take(driver, url: str, out_dir: Path) -> dict[str, Path]:
    """Open each page, wait until it has drawn everything, and save ``out_dir/<page>.png``."""
    shots = {name: out_dir / f"{name}.png" for name in PICTURES}
    driver.get(url + "/")
    wait_until(lambda: driver.find_element(By.ID, "wall-gmv").get_attribute("data-fen"), what="the wall")
    wait_until(lambda: plots_drawn(driver) >= 6, what="six wall charts")
    wait_until(lambda: driver.find_element(By.ID, "wall-milestone").text, what="the milestone banner")
    driver.save_screenshot(str(shots["wall"]))
    driver.get(url + "/explore")
    wait_until(lambda: plots_drawn(driver) >= 5, what="five explore charts")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#explore-table td"), what="the table")
    driver.save_screenshot(str(shots["explore"]))
    driver.get(url + "/alerts")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#alerts-rules td"), what="the rules")
    wait_until(lambda: "41.5" in driver.find_element(By.ID, "alerts-history").text, what="the newest alert")
    driver.save_screenshot(str(shots["alerts"]))
    return shots
