"""Every page on a generated festival (two days of rollups, thousands of brands, an alert
history), the one the README's pictures show: each page draws all its charts with no console
entry, and the wall's GMV is the sum of the generated rows (superseded versions left out), its
newest milestone the one those rows pass.
The pictures go to tmp_path; ``make screenshots`` (bench/screenshots.py) writes docs/*.png."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from stream.alerts import milestones as ms
from stream.alerts.config import DEFAULT_PATH
from stream.contract import ROLLUPS, VERSION_COLUMN
from tests.support import showcase
from tests.support.browser import console, cut_texts, select_one, wait_until

pytestmark = pytest.mark.slow


def newest_versions(cols: dict, measure: str) -> dict[tuple, int]:
    """``measure`` of the newest version of each key row (window_start, late), from the generated columns."""
    return newest_of(cols, [c.name for c in ROLLUPS["orders_second"].keys], measure)


def newest_of(cols: dict, keys: list[str], measure: str) -> dict[tuple, int]:
    """``measure`` of the newest version of each row of ``keys``."""
    newest: dict[tuple, tuple[int, int]] = {}
    for key, written, value in zip(zip(*(cols[k].tolist() for k in keys)), cols[VERSION_COLUMN].tolist(),
                                   cols[measure].tolist()):
        if key not in newest or written > newest[key][0]:
            newest[key] = (written, value)
    return {key: value for key, (_, value) in newest.items()}


def newest_versions_sum(cols: dict, measure: str) -> int:
    return sum(newest_versions(cols, measure).values())


def test_every_page_draws_the_festival(browser, dashboard, clickhouse_settings, tmp_path):
    tables = showcase.fill(clickhouse_settings, int(time.time() * 1000))
    truth = newest_versions_sum(tables[ROLLUPS["orders_second"].table], "gmv_fen")
    assert truth == select_one(clickhouse_settings, "SELECT sum(gmv_fen) FROM {db}.orders_per_second FINAL")
    url = dashboard(clickhouse_settings, alerts_config=DEFAULT_PATH).url  # the shipped rules file
    showcase.take(browser, url, tmp_path)  # waits until each page has drawn all its charts
    assert console(browser) == []
    browser.get(url + "/")
    fen = wait_until(lambda: browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen"), what="the wall")
    assert int(fen) == truth
    seconds = newest_versions(tables[ROLLUPS["orders_second"].table], "gmv_fen")
    *_, newest = ms.milestones([(key[0], fen) for key, fen in seconds.items()], ms.DEFAULT_FIGURES_FEN)
    # today's buyers at a festival's size, their texts within their boxes at 1920x1080
    buyers = ROLLUPS["buyers_second"]
    new = newest_of(tables[buyers.table], [c.name for c in buyers.keys], "new_buyers")
    now_s = max(key[0] for key in seconds)
    day0 = (now_s + 8 * 3600) // 86400 * 86400 - 8 * 3600
    today = sum(n for (second, _), n in new.items() if second >= day0)
    assert today > 100_000
    wait_until(lambda: browser.find_element(By.ID, "wall-buyers").text == f"{today:,}", what=f"{today:,} buyers")
    assert cut_texts(browser) == []
    banner = browser.find_element(By.ID, "wall-milestone")
    assert (banner.get_attribute("data-figure"), banner.get_attribute("data-second")) == (
        str(newest.figure_fen), str(newest.second))
    # last year's Nov 10-11 is in the history: the growth on it, a projection, the countdown to the end
    wait_until(lambda: browser.find_element(By.ID, "wall-ly-growth").text.endswith("%"), what="the growth")
    assert browser.find_element(By.ID, "wall-ly-projection").text.startswith("¥")
    assert browser.find_element(By.ID, "wall-countdown").text == "02:41:19"  # 21:18:41 to midnight
    browser.get(url + "/alerts")
    rules = wait_until(lambda: browser.find_element(By.ID, "alerts-rules").text, what="the rules")
    assert "throughput-drop" in rules and "pipeline-stall" in rules
    wait_until(lambda: "41.5" in browser.find_element(By.ID, "alerts-history").text, what="the history")
    assert "1 firing now: throughput-drop" in browser.find_element(By.ID, "alerts-summary").text
    assert console(browser) == []
