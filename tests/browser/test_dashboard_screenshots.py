"""Screenshots of each page at 1920x1080 (docs/wall.png, docs/explore.png, docs/alerts.png), from
a replayed-looking festival: Nov 10 and Nov 11 2021 up to 21:18:42 CST, generated rollups."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from browser_support import DOCS, console, wait_until
from selenium.webdriver.common.by import By

from dashboard import synthetic
from stream.stack import clickhouse

pytestmark = pytest.mark.slow

RULES = """
[[rules]]
name = "throughput_drop"
severity = "page"
description = "orders/s below half of the same minute's 15-minute baseline"
window_seconds = 60
drop_ratio = 0.5

[[rules]]
name = "rollup_stall"
severity = "page"
description = "no new per-second rollup for 30 s"
stall_seconds = 30

[[rules]]
name = "rejected_spike"
severity = "ticket"
description = "more than 1% of events rejected in a minute"
max_rejected_share = 0.01
"""


def _alerts(now_ms: int) -> list[tuple]:
    def at(h, m, s):
        return datetime(2021, 11, 11, h, m, s) - timedelta(hours=8)

    rows = [  # event offset ms, rule, severity, state, observed, baseline, window, seconds, message, delivery, tries
        (-5_000_000, "rollup_stall", "page", "firing", 41.0, 30.0, at(19, 58, 0), 30,
         "no per-second rollup for 41 s", "delivered", 1),
        (-4_950_000, "rollup_stall", "page", "resolved", 2.0, 30.0, at(19, 58, 50), 30,
         "rollups flowing again", "delivered", 1),
        (-1_200_000, "throughput_drop", "page", "firing", 38.0, 92.5, at(21, 0, 0), 60,
         "orders/s 38 vs baseline 92.5 (-59%)", "failed", 3),
        (-1_020_000, "throughput_drop", "page", "resolved", 88.0, 92.5, at(21, 3, 0), 60,
         "orders/s back to 88", "delivered", 1),
        (-60_000, "rejected_spike", "ticket", "firing", 0.013, 0.01, at(21, 17, 0), 60,
         "1.3% of events rejected (invalid_json)", "pending", 0),
    ]
    return [(now_ms + off, *rest, now_ms) for off, *rest in rows]


@pytest.fixture
def festival(clickhouse_settings):
    now_ms = int(time.time() * 1000)
    tables = synthetic.generate(synthetic.Festival(
        start=datetime(2021, 11, 10, tzinfo=synthetic.FESTIVAL_TZ),
        end=datetime(2021, 11, 11, 21, 18, 42, tzinfo=synthetic.FESTIVAL_TZ),
        orders_per_s=12.0, brands=5000, written_at_ms=now_ms - 2000))
    with clickhouse.connect(clickhouse_settings, "writer") as writer:
        synthetic.insert(writer, clickhouse_settings.clickhouse_database, tables)
        writer.execute(f"INSERT INTO {clickhouse_settings.clickhouse_database}.alert_events VALUES",
                       _alerts(now_ms))
    return clickhouse_settings


def plots_drawn(browser, n: int) -> bool:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".filter(g => g.data && g.data.length).length") >= n


def test_screenshots(browser, dashboard, festival, tmp_path):
    rules = tmp_path / "alerts.toml"
    rules.write_text(RULES)
    url = dashboard(festival, alerts_config=rules).url
    browser.get(url + "/")
    wait_until(lambda: browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen"), what="the wall")
    wait_until(lambda: plots_drawn(browser, 6), what="six wall charts")
    browser.save_screenshot(str(DOCS / "wall.png"))
    browser.get(url + "/explore")
    wait_until(lambda: plots_drawn(browser, 5), what="five explore charts")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#explore-table td"), what="the table")
    browser.save_screenshot(str(DOCS / "explore.png"))
    browser.get(url + "/alerts")
    wait_until(lambda: "rejected_spike" in browser.find_element(By.ID, "alerts-history").text, what="history")
    browser.save_screenshot(str(DOCS / "alerts.png"))
    assert console(browser) == []
