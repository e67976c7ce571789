"""Who may open the dashboard, request by request (Flask's test client, no servers): logins,
the kiosk cookie's narrow reach, and the refusal to listen beyond loopback without credentials."""
from __future__ import annotations

import base64
import os
import threading

import pytest

from dashboard import auth
from dashboard.app import create_app, serve
from stream import cli, probes
from stream.errors import GmvError
from stream.settings import load
from tests.support.dash_http import CALLBACKS, callback_body

TOKEN = "wall-token-0123456789abcdef"
USERS = "ops:correct-horse,lead:battery:staple"


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def app():
    # ClickHouse on a port nobody listens on: a callback that gets through answers "no data", fast
    settings = load(env={}, clickhouse_port=probes.free_port(), dashboard_users=USERS,
                    dashboard_kiosk_token=TOKEN)
    app = create_app(settings)
    yield app
    app.server.extensions["gmv"].db.close()


@pytest.fixture
def kiosk(app):
    """A test client holding the kiosk cookie, as a wall screen does after /?kiosk=TOKEN."""
    client = app.server.test_client()
    response = client.get(f"/?kiosk={TOKEN}&units=wan")
    assert response.status_code == 303 and response.headers["Location"] == "?kiosk=1&units=wan"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{auth.KIOSK_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert TOKEN not in cookie
    return client


def post(client, app, output_id: str, values: dict | None = None, **kwargs):
    return client.post(CALLBACKS, json=callback_body(app, output_id, values), **kwargs)


ROUTER = {"shell-url.search": ""}


def test_loopback_without_credentials_is_open_as_before():
    app = create_app(load(env={}, clickhouse_port=probes.free_port()))
    client = app.server.test_client()
    for path in ("/", "/explore", "/alerts", "/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 200, path
    body = callback_body(app, "shell-page", {"shell-url.pathname": "/explore", **ROUTER})
    assert client.post(CALLBACKS, json=body).status_code == 200


def test_without_credentials_everything_asks_for_a_login(app):
    client = app.server.test_client()
    for path in ("/", "/explore", "/alerts", "/_dash-layout", "/_dash-dependencies", "/assets/gmv.js"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    for output, values in (("wall-payload", {}), ("shell-page", {"shell-url.pathname": "/", **ROUTER}),
                           ("explore-download", {"explore-csv.n_clicks": 1})):
        assert post(client, app, output, values).status_code == 401, output


def test_a_login_opens_every_page_and_a_wrong_one_none(app):
    client = app.server.test_client()
    for name, password in (("ops", "correct-horse"), ("lead", "battery:staple")):
        assert client.get("/explore", headers=basic(name, password)).status_code == 200
        routed = post(client, app, "shell-page", {"shell-url.pathname": "/alerts", **ROUTER},
                      headers=basic(name, password))
        assert routed.status_code == 200 and "alerts-history" in routed.get_data(as_text=True)
    for headers in (basic("ops", "wrong-horse"), basic("nobody", "correct-horse"), basic("ops", ""),
                    {"Authorization": "Basic not-base64!"}, {"Authorization": f"Bearer {TOKEN}"}):
        assert client.get("/", headers=headers).status_code == 401, headers


def test_the_kiosk_cookie_reaches_the_wall_and_its_callbacks(app, kiosk):
    for path in ("/?kiosk=1&units=wan", "/", "/_dash-layout", "/_dash-dependencies", "/assets/gmv.js"):
        assert kiosk.get(path).status_code == 200, path
    routed = post(kiosk, app, "shell-page", {"shell-url.pathname": "/", **ROUTER})
    assert routed.status_code == 200
    text = routed.get_data(as_text=True)
    assert "wall-root" in text and "shell-nav hidden" in text  # a kiosk session hides the navigation
    payload = post(kiosk, app, "wall-payload", {"wall-request.data": {"seq": 1, "t": 0}})
    assert payload.status_code == 200 and '"seq":1' in payload.get_data(as_text=True).replace(" ", "")


def test_the_kiosk_cookie_opens_neither_explore_nor_csv_nor_alerts(app, kiosk):
    """Refused with 403 and no login prompt (a wall's browser has nobody to answer one)."""
    for path in ("/explore", "/alerts", "/explore?kiosk=1", "/_reload-hash", "/static/x.js"):
        response = kiosk.get(path)
        assert response.status_code == 403, path
        assert "WWW-Authenticate" not in response.headers and response.text == auth.KIOSK_REFUSED
    for pathname in ("/explore", "/alerts", "/nowhere"):
        body = callback_body(app, "shell-page", {"shell-url.pathname": pathname, **ROUTER})
        assert kiosk.post(CALLBACKS, json=body).status_code == 403, pathname
    for output, values in (("explore-table", {}), ("explore-download", {"explore-csv.n_clicks": 1}),
                           ("explore-brand", {"explore-brand.search_value": "a"}), ("alerts-history", {})):
        assert post(kiosk, app, output, values).status_code == 403, output
    # the router's key with another page's path put first among two inputs is refused too
    body = callback_body(app, "shell-page", {"shell-url.pathname": "/", **ROUTER})
    body["inputs"] = [{"id": "shell-url", "property": "pathname", "value": "/explore"}, *body["inputs"]]
    assert kiosk.post(CALLBACKS, json=body).status_code == 403


def test_a_malformed_callback_request_is_a_400_not_a_crash(app, kiosk):
    for client in (app.server.test_client(), kiosk):
        for body in ({"data": "not json", "content_type": "text/plain"}, {"json": [1, 2]}, {"json": {"inputs": []}},
                     {"json": {"output": "wall-payload.data", "inputs": "x"}}):
            assert client.post(CALLBACKS, **body).status_code == 400, body


def test_a_wrong_or_forged_kiosk_pass_is_refused(app):
    client = app.server.test_client()
    assert client.get("/?kiosk=wall-token-0123456789abcdeX").status_code == 401
    assert client.get(f"/explore?kiosk={TOKEN}").status_code == 401  # the token is taken on the wall only
    assert client.get("/?kiosk=1").status_code == 401  # the presentation flag is no pass
    other = auth.KioskPass("another-token-0123456789")
    client.set_cookie(auth.KIOSK_COOKIE, other.cookie())  # signed with another token: a rotated one
    assert client.get("/").status_code == 401
    client.set_cookie(auth.KIOSK_COOKIE, "wall")
    assert client.get("/").status_code == 401


def test_a_running_wall_gets_its_cookie_renewed(app, kiosk, monkeypatch):
    assert "Set-Cookie" not in kiosk.get("/_dash-layout").headers
    monkeypatch.setattr(auth, "KIOSK_RENEW_AFTER_S", -1)
    assert kiosk.get("/_dash-layout").headers["Set-Cookie"].startswith(f"{auth.KIOSK_COOKIE}=")
    refused = kiosk.get("/explore")
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers  # nothing renewed


def test_logins_compare_digests_only():
    logins = auth.Logins({"ops": "correct-horse"})
    assert logins.check("ops", "correct-horse")
    assert not logins.check("ops", "correct-hors") and not logins.check("Ops", "correct-horse")
    assert not logins.check("nobody", "correct-horse")
    assert "correct-horse" not in repr(vars(logins))


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True),
                                            ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                            ("", False), ("192.168.1.20", False), ("wall.example", False)])
def test_loopback_hosts(host, loopback):
    assert auth.is_loopback(host) is loopback


def test_beyond_loopback_it_refuses_to_start_without_credentials(monkeypatch, capsys):
    bare = load(env={})
    with pytest.raises(GmvError) as err:
        serve(bare, host="0.0.0.0")  # refused before any socket is opened
    assert "\n" not in str(err.value) and "GMV_DASHBOARD_USERS" in str(err.value)
    auth.require_credentials(bare, "127.0.0.1")
    auth.require_credentials(load(env={}, dashboard_users="ops:correct-horse"), "0.0.0.0")
    auth.require_credentials(load(env={}, dashboard_kiosk_token=TOKEN), "0.0.0.0")
    for name in [n for n in os.environ if n.startswith("GMV_")]:
        monkeypatch.delenv(name)
    assert cli.main(["dashboard", "--host", "0.0.0.0"]) == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("gmv: dashboard: --host 0.0.0.0 serves other machines")
    assert "GMV_DASHBOARD_USERS=name:password" in err_lines[0] and "GMV_DASHBOARD_KIOSK_TOKEN" in err_lines[0]


def test_gmv_up_counts_a_login_prompt_as_healthy(app):
    from werkzeug.serving import make_server

    from stream import registry

    server = make_server("127.0.0.1", probes.free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        assert registry._dashboard_healthy(load(env={}, dashboard_port=port, dashboard_kiosk_token=TOKEN))
        assert not registry._dashboard_healthy(load(env={}, dashboard_port=port))  # 401 where none was asked for
    finally:
        server.shutdown()
        thread.join(10)
