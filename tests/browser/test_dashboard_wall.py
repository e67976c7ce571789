"""The wall in a real browser: exact GMV, ticking, kiosk, screen sizes, stale data, polling guards."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from flask import request
from selenium.webdriver.common.by import By

from dashboard import fmt
from dashboard.pages import wall
from tests.support import synthetic
from tests.support.browser import console, cut_texts, insert, select_one, set_viewport, texts, wait_until
from tests.support.parcel_rows import KNOWN_PARCELS, known_parcel_rows

pytestmark = pytest.mark.slow


def gmv_fen(browser) -> int | None:
    value = browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen")
    return int(value) if value else None


@pytest.fixture
def known(clickhouse_settings):
    written = int(time.time() * 1000)
    insert(clickhouse_settings, synthetic.known_rows(written))
    return clickhouse_settings


def test_wall_shows_the_exact_festival_gmv(browser, dashboard, known):
    truth = select_one(known, "SELECT sum(gmv_fen) FROM {db}.orders_per_second FINAL")
    assert truth == synthetic.KNOWN["festival_gmv_fen"]  # late row added, superseded version dropped
    browser.get(dashboard(known).url + "/")
    wait_until(lambda: gmv_fen(browser) == truth, what="the wall's GMV")
    element = browser.find_element(By.ID, "wall-gmv")
    assert element.text == fmt.money(truth) == "¥41,423.48"
    assert f"{truth} fen" in element.get_attribute("title")
    assert browser.find_element(By.ID, "wall-asof").text == "as of 2021-11-11 20:00:05 CST"
    # "now" is the second before the newest, which is still filling: no order in 20:00:04
    assert browser.find_element(By.ID, "wall-ops-now").text == "0"
    assert browser.find_element(By.ID, "wall-ops-peak").text == "10"
    assert browser.find_element(By.ID, "wall-parcels-created").text == "42"
    assert "fresh-green" in browser.find_element(By.ID, "wall-fresh").get_attribute("class")
    text = {i: browser.find_element(By.ID, i).text for i in (
        "wall-vip-share", "wall-vip-gmv", "wall-deposits", "wall-deposits-gmv", "wall-finals", "wall-finals-gmv")}
    (finals, finals_fen), (deposits, deposits_fen) = synthetic.KNOWN["finals"], synthetic.KNOWN["deposits"]
    assert text == {"wall-vip-share": synthetic.KNOWN["vip_share"],
                    "wall-vip-gmv": fmt.money(synthetic.KNOWN["vip_gmv_fen"]),
                    "wall-deposits": str(deposits), "wall-deposits-gmv": fmt.money(deposits_fen),
                    "wall-finals": str(finals), "wall-finals-gmv": fmt.money(finals_fen)}
    buyers = {i: browser.find_element(By.ID, i).text for i in ("wall-buyers", "wall-vip-buyers-share",
                                                                "wall-buyers-new", "wall-repeat-share")}
    assert buyers == {"wall-buyers": str(sum(synthetic.KNOWN["buyers_today"].values())),
                      "wall-vip-buyers-share": synthetic.KNOWN["buyers_vip_share"],
                      "wall-buyers-new": f"+{synthetic.KNOWN['new_buyers_now']} new / s",
                      "wall-repeat-share": synthetic.KNOWN["repeat_share"]}
    # today's top brands, the largest on top (the brand that left the ranking is not shown)
    expected = [b for b, _ in synthetic.KNOWN["top_brands"]]
    wait_until(lambda: texts(browser, "#wall-fig-brands .ytick text")[::-1] == expected, what="today's top brands")
    assert cut_texts(browser) == []  # 1920x1080 with the navigation bar: the least room
    assert console(browser) == []


MAP_VALUES_JS = """
function rows(id, keys) {
  return Array.from(document.querySelectorAll('#' + id + ' tr')).map(function (r) {
    return keys.map(function (k) { return r.getAttribute('data-' + k); });
  });
}
var graph = document.querySelector('#wall-fig-map .js-plotly-plot');
var markers = graph && graph.data ? graph.data.filter(function (t) { return t.name === 'GMV today'; }) : [];
return {values: rows('wall-map-values', ['province', 'fen']),
        flows: rows('wall-map-flows', ['origin', 'province', 'parcels']),
        exceptions: rows('wall-exceptions', ['carrier', 'parcels', 'with-exception']),
        shown: markers.length ? [markers[0].text, markers[0].marker.color] : null,
        traces: graph && graph.data ? graph.data.length : 0};
"""


def test_wall_shows_the_parcels_and_the_map(browser, dashboard, known):
    """Parcels in each stage, delivery times, the first delivery, exceptions by carrier and the
    map's values, read from the page, against the hand-worked answers of the rows inserted."""
    insert(known, known_parcel_rows(int(time.time() * 1000)))
    browser.get(dashboard(known.replace(parcel_replay=720.0)).url + "/")
    expected = KNOWN_PARCELS["texts"]
    wait_until(lambda: browser.find_element(By.ID, "wall-parcels-waiting_for_pickup").text == "120",
               what="the parcels")
    shown = {i: browser.find_element(By.ID, i).text for i in expected}
    assert shown == expected
    assert browser.find_element(By.ID, "wall-parcels-created").text == "42"  # parcel events today, as before
    assert browser.find_element(By.ID, "wall-parcel-replay").text == "parcel delays compressed 720x"
    found = browser.execute_script(MAP_VALUES_JS)
    assert found["values"] == [[p, str(fen)] for p, fen in sorted(KNOWN_PARCELS["map_fen"].items(),
                                                                  key=lambda kv: -kv[1])]
    assert found["flows"] == [["Zhejiang", "Guangdong", "7"], ["Guangdong", "Guangdong", "2"]]
    assert found["exceptions"] == [[c, str(n), str(e)] for c, n, e in (("Deppon", 16, 2), ("EMS", 8, 1),
                                                                         ("ZTO Express", 520, 12))]
    assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#wall-exceptions .exc-share")] == [
        "12.5%", "12.5%", "2.3%"]
    # the map drew its outlines, the route, the ring of parcels within Guangdong and the value markers
    wait_until(lambda: browser.execute_script(MAP_VALUES_JS)["traces"] == 34 + 1 + 1 + 1, what="the map")
    wait_until(lambda: browser.execute_script(MAP_VALUES_JS)["shown"] is not None, what="the map's values")
    names, fen = browser.execute_script(MAP_VALUES_JS)["shown"]
    assert dict(zip(names, fen)) == KNOWN_PARCELS["map_fen"]
    funnel = browser.execute_script("return document.querySelector('#wall-fig-parcels .js-plotly-plot').data[0].x;")
    assert funnel == [KNOWN_PARCELS["stages"][s] for s in wall.STAGE_LABELS]
    assert cut_texts(browser) == []
    assert console(browser) == []


def test_gmv_ticks_as_new_seconds_arrive(browser, dashboard, known):
    browser.get(dashboard(known).url + "/")
    wait_until(lambda: gmv_fen(browser) == synthetic.KNOWN["festival_gmv_fen"], what="first GMV")
    table = synthetic.ORDERS_SECOND.table
    row = synthetic.row(synthetic.ORDERS_SECOND, int(time.time() * 1000), late=0, orders_created=2, orders_paid=2,
                        gmv_fen=12_345, window_start=synthetic.utc_naive(synthetic.KNOWN_NOW + timedelta(seconds=1)))
    insert(known, {table: (synthetic.COLUMNS_BY_TABLE[table], [row])})
    wait_until(lambda: gmv_fen(browser) == synthetic.KNOWN["festival_gmv_fen"] + 12_345, what="the tick")
    assert browser.find_element(By.ID, "wall-asof").text == "as of 2021-11-11 20:00:06 CST"
    # a new second has begun, so 20:00:05 is complete: its 5 orders are "orders/s now"
    assert browser.find_element(By.ID, "wall-ops-now").text == "5"
    assert console(browser) == []


@pytest.mark.parametrize("width, height", [(1920, 1080), (3840, 2160)])
def test_kiosk_fits_the_screen_without_controls_or_scrolling(browser, dashboard, known, width, height):
    set_viewport(browser, width, height)
    browser.get(dashboard(known).url + "/?kiosk=1&units=yi")
    wait_until(lambda: gmv_fen(browser), what="numbers")
    assert browser.find_element(By.ID, "wall-gmv").text == "¥0.0004亿"
    assert not browser.find_element(By.ID, "shell-nav").is_displayed()
    assert not browser.find_element(By.ID, "wall-units").is_displayed()
    sizes = browser.execute_script(
        "var d = document.documentElement, w = document.getElementById('wall-root');"
        "return [d.scrollWidth, d.scrollHeight, window.innerWidth, window.innerHeight,"
        " w.scrollHeight, w.clientHeight, w.scrollWidth, w.clientWidth];")
    assert sizes[0] <= sizes[2] and sizes[1] <= sizes[3], f"page scrolls: {sizes}"
    assert sizes[4] <= sizes[5] and sizes[6] <= sizes[7], f"wall overflows: {sizes}"
    wait_until(lambda: browser.find_element(By.ID, "wall-vip-share").text == synthetic.KNOWN["vip_share"],
               what="the VIP share")
    assert cut_texts(browser) == []
    assert console(browser) == []


def test_units_switch_and_stay_in_the_url(browser, dashboard, known):
    browser.get(dashboard(known).url + "/")
    wait_until(lambda: gmv_fen(browser), what="numbers")
    browser.find_element(By.CSS_SELECTOR, "#wall-units input[value='wan']").click()
    wait_until(lambda: browser.find_element(By.ID, "wall-gmv").text == "¥4.14万", what="万 units")
    assert browser.current_url.endswith("/?units=wan")
    assert console(browser) == []


def test_clickhouse_down_keeps_the_last_numbers_marked_stale(browser, dashboard, known, proxy_factory):
    proxy = proxy_factory(known.clickhouse_port)
    browser.get(dashboard(known.replace(clickhouse_port=proxy.port)).url + "/")
    wait_until(lambda: gmv_fen(browser) == synthetic.KNOWN["festival_gmv_fen"], what="numbers")
    proxy.cut()
    root = browser.find_element(By.ID, "wall-root")
    wait_until(lambda: "stale" in root.get_attribute("class").split(), what="the stale marking")
    banner = browser.find_element(By.ID, "wall-banner")
    assert "No answer from ClickHouse" in banner.text and "as of 2021-11-11 20:00:05 CST" in banner.text
    assert gmv_fen(browser) == synthetic.KNOWN["festival_gmv_fen"]
    assert browser.find_element(By.ID, "wall-gmv").text == "¥41,423.48"
    assert console(browser) == []


def test_a_slow_database_never_piles_up_requests(browser, dashboard, known, proxy_factory):
    """Each poll's queries go through a relay that holds every packet 0.1 s, so an answer
    takes a few poll intervals (but less than the 10 s after which a request counts as lost):
    the browser must keep exactly one request in flight."""
    proxy = proxy_factory(known.clickhouse_port, delay_s=0.1)
    served = dashboard(known.replace(clickhouse_port=proxy.port))
    app_server = served.app.server
    seen = {"now": 0, "max": 0, "total": 0, "slowest": 0.0}
    lock = threading.Lock()

    @app_server.before_request
    def _enter():
        if request.path == "/_dash-update-component" and b"wall-payload" in request.get_data():
            with lock:
                seen["now"] += 1
                seen["total"] += 1
                seen["max"] = max(seen["max"], seen["now"])
            request.environ["gmv.poll"] = time.monotonic()

    @app_server.teardown_request
    def _leave(_exc):
        if request.environ.get("gmv.poll"):
            with lock:
                seen["now"] -= 1
                seen["slowest"] = max(seen["slowest"], time.monotonic() - request.environ["gmv.poll"])

    started = time.monotonic()
    browser.get(served.url + "/")
    wait_until(lambda: gmv_fen(browser) == synthetic.KNOWN["festival_gmv_fen"], what="numbers")
    wait_until(lambda: seen["total"] >= 3, what="three polls")
    elapsed = time.monotonic() - started
    assert seen["slowest"] > 1.0, f"no answer was slower than the 1 s interval: {seen}"
    assert seen["max"] == 1, seen
    assert seen["total"] < elapsed, f"{seen['total']} polls in {elapsed:.1f} s of 1 s ticks: they piled up"
    assert console(browser) == []


GUARDS_JS = """
var g = window.dash_clientside.gmv, nu = window.dash_clientside.no_update;
var ids = {texts: ["wall-asof"], figures: ["wall-fig-last"]};
function answer(seq, asOf) {
  return {seq: seq, ok: true, has_data: true, as_of_ms: asOf, fresh: "green",
          gmv: {fen: asOf, yuan: "¥" + asOf}, texts: {"wall-asof": "as of " + asOf},
          figures: {"wall-fig-last": {data: [], layout: {}}}};
}
function applied(out) { return out[4] !== nu; }
var shown = {seq: 5, as_of_ms: 2000, answered: 5};
var olderData = g.wallApply(answer(6, 1000), "yuan", shown, ids, "wall");
var olderSeq = g.wallApply(answer(4, 3000), "yuan", shown, ids, "wall");
var newer = g.wallApply(answer(7, 3000), "yuan", shown, ids, "wall");
var down = g.wallApply({seq: 8, ok: false, has_data: false, error: "gone"}, "yuan", newer[0], ids, "wall");
var lost = g.wallApply({seq: 9, ok: false, has_data: false, server_lost: true, error: "Gone."}, "yuan", newer[0],
                       ids, "wall");
var now = Date.now();
return {
  olderData: [applied(olderData), olderData[0].answered, olderData[0].as_of_ms],
  olderSeq: applied(olderSeq),
  newer: [applied(newer), newer[4], newer[0].as_of_ms],
  down: [down[1], down[4] === nu],
  lost: [lost[1], lost[2], lost[4] === nu, lost[0].answered],
  tickInFlight: g.wallTick(1, {seq: 3, t: now}, {answered: 2}) === nu,
  tickAnswered: g.wallTick(1, {seq: 3, t: now}, {answered: 3}).seq,
  tickAborted: g.wallTick(1, {seq: 3, t: now - 11000}, {answered: 2}) === nu,  // gmv.js answers it: wait
  tickLost: g.wallTick(1, {seq: 3, t: now - 21000}, {answered: 2}).seq,
};
"""


def test_clientside_guards_never_show_older_data_nor_pile_up(browser, dashboard, known):
    """The two polling traps, checked on the page's own clientside functions in the browser."""
    browser.get(dashboard(known).url + "/")
    wait_until(lambda: gmv_fen(browser), what="numbers")
    result = browser.execute_script(GUARDS_JS)
    assert result["olderData"] == [False, 6, 2000]  # answered, but older data is not shown
    assert result["olderSeq"] is False  # an answer to an older request is not shown
    assert result["newer"] == [True, "¥3000", 3000]
    assert result["down"] == ["wall stale", True]  # kept, greyed
    # a poll the dashboard server did not answer (gmv.js answers it on the page): kept, greyed, said
    assert result["lost"] == ["wall stale", "No answer from the dashboard server: the numbers below are stale, "
                              "as of 3000. Gone.", True, 9]
    assert result["tickInFlight"] is True  # no second request while one is in flight
    assert result["tickAnswered"] == 4 and result["tickLost"] == 4 and result["tickAborted"] is True
    assert console(browser) == []
