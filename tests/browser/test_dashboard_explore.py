"""Explore in a real browser: drill-down changes the charts and the URL, the URL restores the
view, SQL in the URL is only ever a value, the CSV is what the table shows, any combination of
the cube's fields is answered exactly, and a selection the rollups cannot answer says why."""
from __future__ import annotations

import csv
import time
from datetime import datetime
from urllib.parse import unquote

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from stream.contract import FESTIVAL_TZ
from stream.stack import clickhouse
from tests.support import synthetic
from tests.support.browser import console, insert, select_one, wait_callbacks_settled, wait_until
from tests.support.parcel_rows import KNOWN_PARCELS, known_parcel_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def known(clickhouse_settings):
    insert(clickhouse_settings, synthetic.known_rows(int(time.time() * 1000)))
    return clickhouse_settings


def text(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def bar_names(browser, dim: str) -> list[str]:
    data = browser.execute_script(
        f"var g = document.querySelector('#explore-fig-{dim} .js-plotly-plot'); return g && g.data;")
    return list(data[0]["customdata"]) if data else []


def annotation(browser, chart: str) -> str:
    return browser.execute_script(
        f"var g = document.querySelector('#explore-fig-{chart} .js-plotly-plot');"
        "return g && g.layout && g.layout.annotations ? g.layout.annotations[0].text : '';")


def click_bar(browser, dim: str, name: str) -> None:
    wait_callbacks_settled(browser)
    index = bar_names(browser, dim).index(name)
    bars = browser.find_elements(By.CSS_SELECTOR, f"#explore-fig-{dim} .bars .point path")
    # a real pointer click at the bar: Plotly's drag layer above it turns that into clickData
    ActionChains(browser).move_to_element(bars[index]).click().perform()


def test_drill_down_updates_charts_and_url_and_the_url_restores_it(browser, dashboard, known):
    url = dashboard(known).url
    browser.get(url + "/explore")
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥40,423.48"), what="today's total")
    wait_until(lambda: bar_names(browser, "brand") == ["Verix Studio", "Kalon Lab", "Lumora Home"],
               what="all brands, largest last")
    click_bar(browser, "category", "Apparel")
    wait_until(lambda: "category=Apparel" in browser.current_url, what="the URL")
    wait_until(lambda: bar_names(browser, "brand") == ["Verix Studio", "Lumora Home"], what="Apparel's brands")
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥30,300.03"), what="Apparel's total")
    wait_until(lambda: bar_names(browser, "province") == ["Guangdong", "Zhejiang"], what="Apparel's provinces")
    link = browser.current_url
    assert console(browser) == []

    browser.get(url + "/")  # somewhere else, then the link again
    browser.get(link)
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥30,300.03"), what="restored total")
    assert "Apparel" in text(browser, "explore-category")
    wait_until(lambda: bar_names(browser, "brand") == ["Verix Studio", "Lumora Home"], what="restored bars")
    click_bar(browser, "brand", "Lumora Home")
    wait_until(lambda: "brand=Lumora+Home" in browser.current_url, what="brand in the URL")
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥25,000.00"), what="the pair's total")
    assert console(browser) == []


def test_province_drills_into_its_channels(browser, dashboard, known):
    browser.get(dashboard(known).url + "/explore?province=Guangdong&metric=gmv_fen")
    wait_until(lambda: bar_names(browser, "channel") == ["app", "livestream"], what="Guangdong's channels")
    assert text(browser, "explore-total").startswith("GMV ¥20,423.48")
    assert console(browser) == []


MAP_JS = """
var g = document.querySelector('#explore-fig-map .js-plotly-plot');
if (!g || !g.data) return null;
var markers = g.data.filter(function (t) { return t.name === 'GMV'; });
return {values: markers.length ? [markers[0].text, markers[0].marker.color] : null,
        routes: g.data.filter(function (t) { return t.mode === 'lines' && t.name.indexOf(' → ') > 0; })
                      .map(function (t) { return [t.name, t.customdata[0]]; }),
        rings: g.data.filter(function (t) { return t.name === 'parcels within a province'; })
                     .map(function (t) { return [t.text, t.customdata]; })};
"""


def test_the_map_shades_provinces_by_the_selections_gmv_and_draws_the_ranges_flows(browser, dashboard, known):
    insert(known, known_parcel_rows(int(time.time() * 1000)))
    url = dashboard(known).url
    browser.get(url + "/explore?metric=gmv_fen")
    wait_until(lambda: (browser.execute_script(MAP_JS) or {}).get("values"), what="the map")
    found = browser.execute_script(MAP_JS)
    assert dict(zip(*found["values"])) == KNOWN_PARCELS["map_fen"]
    # today's flows, every minute of them: the open minute's and the one before the wall's 10 too
    assert found["routes"] == [["Zhejiang → Beijing", 200], ["Zhejiang → Guangdong", 7]]
    assert found["rings"] == [[["Guangdong"], [2]]]
    # a category: the provinces' GMV of its orders; a province: the parcels going there
    browser.get(url + "/explore?metric=gmv_fen&category=Apparel&province=Guangdong")
    wait_until(lambda: dict(zip(*((browser.execute_script(MAP_JS) or {}).get("values") or ([], [])))) == {
        "Guangdong": 1_000_000 + 30_003, "Zhejiang": 2_000_000}, what="Apparel's provinces")
    assert browser.execute_script(MAP_JS)["routes"] == [["Zhejiang → Guangdong", 7]]
    assert console(browser) == []


@pytest.mark.parametrize("search", [
    "?category=x'%20OR%201=1--",
    "?brand=Kalon%20Lab'%3B%20DROP%20TABLE%20brands_per_5min%3B--&category=Apparel",
    "?brand=%25(start)s')%20UNION%20SELECT%201--",
])
def test_sql_in_the_url_changes_nothing_and_errors_cleanly(browser, dashboard, known, search):
    count = "SELECT count() FROM {db}.brands_per_5min"
    before = select_one(known, count)
    browser.get(dashboard(known).url + "/explore" + search)
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥0.00 · 0 orders"), what="an empty result")
    wait_until(lambda: "no rollups" in annotation(browser, "series"), what="the empty chart's note")
    assert "'" in unquote(browser.current_url)  # kept as the value it was, not executed
    assert select_one(known, count) == before
    assert console(browser) == []


def test_bad_parameters_are_reported_on_the_page(browser, dashboard, known):
    browser.get(dashboard(known).url + "/explore?metric=gmv_fen;DROP&range=forever")
    def both_notes() -> bool:  # one read of the notice: it is re-rendered while the view loads
        notice = text(browser, "explore-notice")
        return "ignored metric" in notice and "ignored range" in notice

    wait_until(both_notes, what="the notes")
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥40,423.48"), what="the view")
    assert console(browser) == []


def test_csv_download_is_the_table(browser, dashboard, known):
    browser.get(dashboard(known).url + "/explore?category=Apparel")
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥30,300.03"), what="the view")
    browser.find_element(By.ID, "explore-csv").click()
    path = browser.download_dir / "gmv-explore.csv"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, what="the download")
    rows = list(csv.DictReader(path.open()))
    assert [(r["window_start_cst"], r["gmv_fen"], r["gmv_yuan"]) for r in rows] == [
        ("2021-11-11T20:00:00+08:00", "3030003", "30300.03")]
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#explore-table td")]
    assert "2021-11-11 20:00" in cells and "¥30,300.03" in cells
    assert console(browser) == []


def test_a_control_change_rewrites_the_url(browser, dashboard, known):
    browser.get(dashboard(known).url + "/explore")
    wait_until(lambda: text(browser, "explore-total").startswith("GMV ¥40,423.48"), what="the view")
    browser.find_element(By.ID, "explore-metric").click()
    option = wait_until(lambda: next(o for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]")
                                     if o.text == "orders created"), what="the measure options")
    option.click()
    wait_until(lambda: "metric=orders_created" in browser.current_url, what="the URL")
    wait_until(lambda: bar_names(browser, "category")[-1] == "Apparel", what="bars by orders")
    assert browser.execute_script(
        "return document.querySelector('#explore-fig-category .js-plotly-plot').data[0].text") == ["1", "3"]
    assert console(browser) == []


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def test_category_by_province_and_a_vip_click_are_the_orders_summed(browser, dashboard, clickhouse_settings):
    """A generated evening: the headline of category x province, then x VIP after a click on
    the VIP bars, equals the generator's own orders summed here, as far as the cube's 5-minute
    windows have closed (the page says up to when)."""
    fest = synthetic.Festival(start=datetime(2021, 11, 11, 0, 0, tzinfo=FESTIVAL_TZ),
                              end=datetime(2021, 11, 11, 1, 0, tzinfo=FESTIVAL_TZ), orders_per_s=0.2, brands=200)
    tables, orders = synthetic.generate_with_orders(fest)
    with clickhouse.connect(clickhouse_settings, "writer") as writer:
        synthetic.insert(writer, clickhouse_settings.clickhouse_database, tables)
    category, province = "Apparel", "Guangdong"
    closed = orders["t"] < int(fest.end.timestamp()) - 300  # the last 5 minutes are still open
    mine = (orders["category"] == category) & (orders["province"] == province) & closed
    assert mine.sum() > 10
    browser.get(dashboard(clickhouse_settings).url
                + f"/explore?range=custom&from=2021-11-11T00:00&to=2021-11-11T01:00&category={category}"
                + f"&province={province}")
    expected = f"GMV {yuan(int(orders['gmv_fen'][mine].sum()))} · {int(mine.sum()):,} orders"
    wait_until(lambda: text(browser, "explore-total").startswith(expected), what=expected)
    assert "cube up to 00:55" in text(browser, "explore-notice")
    assert "5-minute buckets" in text(browser, "explore-notice")
    wait_until(lambda: sorted(bar_names(browser, "vip")) == ["0", "1"], what="the VIP bars")
    assert "not in the rollups" not in browser.find_element(By.TAG_NAME, "body").text.lower()
    assert not any("nothing holds" in annotation(browser, d) for d in ("series", "channel", "vip", "wave"))
    assert "nothing holds brand by province" in annotation(browser, "brand").replace("<br>", " ")
    click_bar(browser, "vip", "1")
    wait_until(lambda: "vip=1" in browser.current_url, what="vip in the URL")
    assert f"category={category}" in browser.current_url and f"province={province}" in browser.current_url
    vip = mine & (orders["vip"] == 1)
    expected = f"GMV {yuan(int(orders['gmv_fen'][vip].sum()))} · {int(vip.sum()):,} orders"
    wait_until(lambda: text(browser, "explore-total").startswith(expected), what=expected)
    assert console(browser) == []


def test_brand_by_province_says_why_and_shows_no_numbers(browser, dashboard, known):
    browser.get(dashboard(known).url + "/explore?brand=Kalon%20Lab&province=Guangdong")
    sentence = "The rollups keep brand only on its own and with its category, so nothing holds brand by province."
    wait_until(lambda: text(browser, "explore-total") == sentence, what="the sentence as the headline")
    wait_until(lambda: annotation(browser, "series").replace("<br>", " ") == sentence, what="the chart's note")
    wait_until(lambda: bar_names(browser, "wave") == [] and "nothing holds" in annotation(browser, "wave"),
               what="the wave chart's note")
    assert "¥0.00" not in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.ID, "explore-csv").click()
    path = browser.download_dir / "gmv-explore.csv"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, what="the download")
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("window_start_cst,")  # a header, no zeros
    assert console(browser) == []


def test_buyers_answer_the_vip_filter_and_say_why_not_another(browser, dashboard, known):
    """New buyers from the buyers rollups: by VIP, exact; with a category, the sentence instead."""
    span = "/explore?range=custom&from=2021-11-11T19:00&to=2021-11-11T21:00&metric=new_buyers"
    url = dashboard(known).url
    browser.get(url + span)
    wait_until(lambda: text(browser, "explore-total").startswith("13 new buyers"), what="the hour's new buyers")
    wait_until(lambda: bar_names(browser, "vip") == ["1", "0"], what="new buyers by VIP")
    assert "VIP only" in annotation(browser, "category")
    browser.get(url + span + "&vip=1")
    wait_until(lambda: text(browser, "explore-total").startswith("2 new buyers"), what="the VIPs' new buyers")
    browser.get(url + span + "&category=Apparel")
    sentence = "The rollups keep buyers per second and minute by VIP only, so nothing holds buyers by category"
    wait_until(lambda: text(browser, "explore-total").startswith(sentence), what="the sentence as the headline")
    assert console(browser) == []
