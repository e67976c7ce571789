"""Odd names in the data, in a real browser: a brand named like an HTML tag that runs script, one
in Chinese with an emoji, and one written in the markup Plotly itself reads in its text (a link,
bold, an entity) are shown as the text they are, on the wall and in explore; no element is made
from them and no script runs. (Plotly shows a tag it does not know, such as ``<img>``, as text,
but makes a link of ``<a href>``, bold of ``<b>`` and ``<`` of ``&lt;``: names are escaped for it.)"""
from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By

from tests.support import synthetic
from tests.support.browser import console, insert, texts, wait_until

pytestmark = pytest.mark.slow

TAG = "<img src=x onerror=alert(1)>"
CHINESE = "花西子🌸"
MARKUP = '<a href="https://evil.example/">Free</a> <b>gift</b> &lt;3'

# Before any page script runs: record alert(), confirm() and prompt() instead of blocking on them.
RECORD_DIALOGS = """
window.__dialogs = [];
for (const name of ['alert', 'confirm', 'prompt']) {
  window[name] = function (message) { window.__dialogs.push(name + ':' + message); };
}
"""


@pytest.fixture
def odd(clickhouse_settings):
    """The known rows, plus the three brands selling most in the same 5 minutes (in beauty), in
    today's top brands too."""
    written = int(time.time() * 1000)
    tables = synthetic.known_rows(written)
    window = synthetic.utc_naive(synthetic.KNOWN_NOW.replace(second=0))
    day = synthetic.utc_naive(synthetic.KNOWN_NOW.replace(hour=0, minute=0, second=0))
    brands, top = tables[synthetic.BRANDS_5MIN.table], tables[synthetic.TOP_BRANDS_DAY.table]
    for brand, gmv in ((TAG, 7_000_000), (CHINESE, 6_000_000), (MARKUP, 5_000_000)):
        brands[1].append(synthetic.row(synthetic.BRANDS_5MIN, written, window_start=window, brand=brand,
                                       category="Beauty & Cosmetics", late=0, orders_created=1, orders_paid=1,
                                       gmv_fen=gmv))
        for ranking in ("", "Beauty & Cosmetics"):
            top[1].append(synthetic.row(synthetic.TOP_BRANDS_DAY, written, window_start=day, ranking=ranking,
                                        brand=brand, category="Beauty & Cosmetics", orders_created=1, orders_paid=1,
                                        gmv_fen=gmv))
    insert(clickhouse_settings, tables)
    return clickhouse_settings


def tick_labels(browser, graph: str) -> list[str]:
    """The y-axis labels of a bar chart as the browser shows them (their text content)."""
    return texts(browser, f"#{graph} .ytick text")


def nothing_ran(browser) -> None:
    made = browser.execute_script(
        "return [document.querySelectorAll('img').length, document.querySelectorAll('[onerror]').length,"
        " document.querySelectorAll('.js-plotly-plot a, .js-plotly-plot b').length, window.__dialogs.slice()];")
    assert made == [0, 0, 0, []], made


def test_odd_brand_names_are_text_on_the_wall_and_in_explore(browser, dashboard, odd):
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_DIALOGS})
    url = dashboard(odd).url

    browser.get(url + "/")
    wait_until(lambda: {TAG, CHINESE, MARKUP} <= set(tick_labels(browser, "wall-fig-brands")),
               what="the three brands on the wall")
    labels = tick_labels(browser, "wall-fig-brands")
    assert labels[-3:] == [MARKUP, CHINESE, TAG]  # the three best sellers, largest on top
    nothing_ran(browser)
    assert console(browser) == []

    browser.get(url + "/explore")
    wait_until(lambda: {TAG, CHINESE, MARKUP} <= set(tick_labels(browser, "explore-fig-brand")),
               what="the three brands in explore")
    nothing_ran(browser)

    # a brand as the filter: in the dropdown, the URL and the charts, as text
    browser.get(url + "/explore?brand=" + quote(TAG))
    wait_until(lambda: browser.find_element(By.ID, "explore-total").text.startswith("GMV ¥70,000.00"),
               what="the brand's total")
    assert TAG in browser.find_element(By.ID, "explore-brand").text
    wait_until(lambda: TAG in tick_labels(browser, "explore-fig-brand"), what="the brand's bar, highlighted")
    nothing_ran(browser)

    browser.get(url + "/explore?category=" + quote("Beauty & Cosmetics") + "&brand=" + quote(CHINESE))
    wait_until(lambda: browser.find_element(By.ID, "explore-total").text.startswith("GMV ¥60,000.00"),
               what="the brand's total in its category")
    assert CHINESE in browser.find_element(By.ID, "explore-brand").text
    nothing_ran(browser)
    assert console(browser) == []
