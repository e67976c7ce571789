"""The dashboard shared beyond loopback, in a real browser: a login opens every page and the
CSV, a wrong password is refused, the kiosk token shows the live wall and nothing else, and
Dash's own endpoints refuse requests that carry no credentials. One server for the module."""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from dashboard.auth import KIOSK_COOKIE, KIOSK_REFUSED
from stream.stack import clickhouse, migrations
from tests.support import synthetic
from tests.support.browser import console, insert, serve, wait_until
from tests.support.dash_http import CALLBACKS, callback_body
from tests.support.stack import unique_suffix

pytestmark = pytest.mark.slow

USER, PASSWORD = "ops", "correct-horse-battery"
TOKEN = "wall-screen-token-4f9c2a7e1b"
GMV = synthetic.KNOWN["festival_gmv_fen"]


@pytest.fixture(scope="module")
def shared(clickhouse_server):
    """The dashboard with a login and a kiosk token, on its own database of known rollups."""
    settings = clickhouse_server.replace(clickhouse_database=f"test_{unique_suffix()}",
                                         dashboard_users=f"{USER}:{PASSWORD}", dashboard_kiosk_token=TOKEN)
    with clickhouse.connect(settings, "admin") as client:
        migrations.apply(client, settings.clickhouse_database)
    insert(settings, synthetic.known_rows(int(time.time() * 1000)))
    served = serve(settings)
    yield settings, served
    served.stop()
    with clickhouse.connect(settings, "admin") as client:
        client.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")


def http(url: str, body: dict | None = None, user: str | None = None, password: str = "",
         cookie: str = "") -> tuple[int, str]:
    """Status and text of a GET (or a JSON POST), with basic credentials and/or a cookie."""
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"} if body else {})
    if user is not None:
        request.add_header("Authorization", basic(user, password))
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def log_in(browser, user: str, password: str) -> None:
    """What a browser does once its user has answered the login prompt: send the credentials
    with every request (headless Chromium shows no prompt, and credentials in the URL break
    the page's own fetches: Chromium refuses to build a request from a URL that holds them)."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": basic(user, password)}})


def gmv_fen(browser) -> int | None:
    value = browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen")
    return int(value) if value else None


def test_a_login_opens_every_page_and_the_csv(browser, shared):
    _, served = shared
    log_in(browser, USER, PASSWORD)
    browser.get(served.url + "/")
    wait_until(lambda: gmv_fen(browser) == GMV, what="the wall's GMV")
    assert browser.find_element(By.ID, "shell-nav").is_displayed()
    browser.find_element(By.ID, "shell-link-explore").click()
    wait_until(lambda: browser.find_element(By.ID, "explore-total").text.startswith("GMV ¥"), what="explore")
    browser.find_element(By.ID, "explore-csv").click()
    path = browser.download_dir / "gmv-explore.csv"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, what="the CSV")
    assert path.read_text().startswith("window_start_cst,") and len(path.read_text().splitlines()) > 1
    browser.find_element(By.ID, "shell-link-alerts").click()
    wait_until(lambda: browser.find_element(By.ID, "alerts-summary").text, what="the alerts page")
    assert console(browser) == []


def test_a_wrong_password_is_refused(shared):
    _, served = shared
    for user, password in ((USER, "wrong-horse-battery"), ("nobody", PASSWORD), (USER, "")):
        status, text = http(served.url + "/", user=user, password=password)
        assert (status, text) == (401, "Login required.\n"), (user, password)
    assert http(served.url + "/", user=USER, password=PASSWORD)[0] == 200


def test_the_kiosk_token_shows_the_live_wall_and_nothing_else(browser, shared):
    settings, served = shared
    browser.get(f"{served.url}/?kiosk={TOKEN}")
    wait_until(lambda: gmv_fen(browser) == GMV, what="the wall's GMV")
    assert browser.current_url == served.url + "/?kiosk=1"  # the token left the address bar
    assert not browser.find_element(By.ID, "shell-nav").is_displayed()
    table = synthetic.ORDERS_SECOND.table  # a new second arrives: the wall keeps polling on the cookie
    row = synthetic.row(synthetic.ORDERS_SECOND, int(time.time() * 1000), late=0, orders_created=1, orders_paid=1,
                        gmv_fen=777, window_start=synthetic.utc_naive(synthetic.KNOWN_NOW + timedelta(seconds=1)))
    insert(settings, {table: (synthetic.COLUMNS_BY_TABLE[table], [row])})
    wait_until(lambda: gmv_fen(browser) == GMV + 777, what="the live tick")
    assert console(browser) == []
    # the same browser (its kiosk cookie) asks the other pages' callbacks: refused
    app = served.app
    statuses = browser.execute_async_script(
        "var bodies = arguments[0], url = arguments[1], done = arguments[arguments.length - 1];"
        "Promise.all(bodies.map(b => fetch(url, {method: 'POST', body: JSON.stringify(b),"
        " headers: {'Content-Type': 'application/json'}}).then(r => r.status)))"
        ".then(done, e => done(String(e)));",
        [callback_body(app, "explore-download", {"explore-csv.n_clicks": 1}),
         callback_body(app, "explore-table"), callback_body(app, "alerts-history"),
         callback_body(app, "shell-page", {"shell-url.pathname": "/explore"}),
         callback_body(app, "wall-payload", {"wall-request.data": {"seq": 1}})], CALLBACKS)
    assert statuses == [403, 403, 403, 403, 200]  # 403, not 401: no login prompt on a wall
    for page in ("/explore", "/alerts"):
        browser.get(served.url + page)
        assert browser.find_element(By.TAG_NAME, "body").text == KIOSK_REFUSED.strip()
    cookie = f"{KIOSK_COOKIE}={browser.get_cookie(KIOSK_COOKIE)['value']}"  # the same pass, outside the browser
    assert http(served.url + "/alerts", cookie=cookie)[0] == 403
    assert http(served.url + CALLBACKS, callback_body(app, "explore-download", {"explore-csv.n_clicks": 1}),
                cookie=cookie)[0] == 403
    assert http(served.url + CALLBACKS, callback_body(app, "wall-payload", {"wall-request.data": {"seq": 2}}),
                cookie=cookie)[0] == 200
    assert all(" 403 " in entry["message"] for entry in console(browser))  # only the refusals


def test_dash_endpoints_refuse_requests_without_credentials(shared):
    _, served = shared
    app, url = served.app, served.url
    csv_request = callback_body(app, "explore-download", {"explore-csv.n_clicks": 1})
    for path in ("/_dash-layout", "/_dash-dependencies", "/"):
        assert http(url + path)[0] == 401, path
    for body in (csv_request, callback_body(app, "wall-payload", {"wall-request.data": {"seq": 1}}),
                 callback_body(app, "shell-page", {"shell-url.pathname": "/"}), callback_body(app, "alerts-history")):
        assert http(url + CALLBACKS, body)[0] == 401, body["output"]
        assert http(url + CALLBACKS, body, user=USER, password="wrong-horse-battery")[0] == 401
    status, text = http(url + CALLBACKS, csv_request, user=USER, password=PASSWORD)  # the same, logged in
    assert status == 200 and "window_start_cst" in json.loads(text)["response"]["explore-download"]["data"]["content"]
    assert http(url + "/_dash-layout", user=USER, password=PASSWORD)[0] == 200
