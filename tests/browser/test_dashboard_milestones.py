"""GMV milestones on the wall, end to end: per-second rollups in ClickHouse, the alert service's own
evaluation loop writing the milestones table, the wall in Chromium showing them; a late correction
moves a milestone earlier and the wall follows."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from selenium.webdriver.common.by import By

from stream.alerts.config import parse
from stream.alerts.service import AlertService
from stream.stack import clickhouse
from tests.support.browser import console, select_one, wait_until

# the columns these rows give (measures added later take their default, 0)
SECOND_COLUMNS = ("(window_start, late, orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations, "
                  "written_ms)")

pytestmark = pytest.mark.slow

T = 1_636_632_000  # 2021-11-11 20:00:00 CST
CONFIG = parse({"service": {"interval_seconds": 0.2, "margin_seconds": 0, "settle_seconds": 0},
                "milestones": {"figures_fen": [10_000, 15_000]}})  # ¥100 and ¥150


def seconds(settings, *rows: tuple[int, int, int]) -> None:
    """orders_per_second rows from (second, late, gmv_fen), as the job's loader writes them."""
    written = int(time.time() * 1000)
    values = [(datetime.fromtimestamp(s, tz=timezone.utc).replace(tzinfo=None), late, 1, 1, fen, 0, 0, 0, written)
              for s, late, fen in rows]
    with clickhouse.connect(settings, "writer") as client:
        client.execute(f"INSERT INTO {settings.clickhouse_database}.orders_per_second {SECOND_COLUMNS} VALUES",
                       values)


@pytest.fixture
def alert_service(clickhouse_settings):
    """The alert service's evaluation loop (``run_forever``, as ``gmv alerts`` runs it) in a thread."""
    stop = threading.Event()
    service = AlertService(CONFIG, clickhouse_settings)
    thread = threading.Thread(target=service.run_forever, args=(stop,), daemon=True)
    thread.start()
    yield service
    stop.set()
    thread.join(10)


def banner(browser) -> tuple[str, str, str]:
    element = browser.find_element(By.ID, "wall-milestone")
    return element.get_attribute("data-second"), element.get_attribute("data-figure"), element.text


# read in one go: the timeline is drawn again on every poll, so elements found earlier go stale
TIMELINE_JS = """
return Array.from(document.querySelectorAll("#wall-milestones .ms-item")).map(function (i) {
  return [i.dataset.second, i.querySelector(".ms-figure").textContent, i.querySelector(".ms-time").textContent,
          i.classList.contains("ms-moved"), i.title];
});
"""


def timeline(browser) -> list[tuple[str, str, str]]:
    return [tuple(item[:3]) for item in browser.execute_script(TIMELINE_JS)]


def test_a_late_correction_moves_a_milestone_and_the_wall_follows(browser, dashboard, clickhouse_settings,
                                                                  alert_service):
    # 1,000 fen a second from 20:00:00: ¥100 is passed in 20:00:09, ¥150 in 20:00:14
    seconds(clickhouse_settings, *[(T + i, 0, 1_000) for i in range(20)])
    browser.get(dashboard(clickhouse_settings).url + "/")
    wait_until(lambda: banner(browser)[:2] == (str(T + 14), "15000"), what="the banner at 20:00:14")
    assert banner(browser)[2] == "¥150 passed at 20:00:14 CST"
    assert "milestone-new" in browser.find_element(By.ID, "wall-milestone").get_attribute("class")
    assert timeline(browser) == [(str(T + 9), "¥100", "20:00:09"), (str(T + 14), "¥150", "20:00:14")]
    assert not any(moved for *_, moved, _ in browser.execute_script(TIMELINE_JS))

    # a late event for 20:00:02 (a late = 1 row): 5,000 fen more from there on, so ¥100 is reached
    # in 20:00:04 and ¥150 in 20:00:09
    seconds(clickhouse_settings, (T + 2, 1, 5_000))
    wait_until(lambda: banner(browser)[0] == str(T + 9), what="the banner moved to 20:00:09")
    assert banner(browser)[2] == "¥150 passed at 20:00:09 CST"
    wait_until(lambda: timeline(browser) == [(str(T + 4), "¥100", "20:00:04"), (str(T + 9), "¥150", "20:00:09")],
               what="the timeline moved")
    (*_, moved_100, _), (*_, moved_150, note) = browser.execute_script(TIMELINE_JS)
    assert moved_100 and moved_150
    assert "first recorded as 20:00:14, moved by a late correction" in note
    # in ClickHouse each moved milestone replaced its row: one per figure, the first second kept
    assert select_one(clickhouse_settings, "SELECT count() FROM {db}.milestones FINAL") == 2
    assert select_one(clickhouse_settings, "SELECT toUInt32(first_second) FROM {db}.milestones FINAL "
                                           "WHERE figure_fen = 15000") == T + 14
    assert alert_service.evaluations > 0
    assert console(browser) == []
