"""Who may open the dashboard once it is shared beyond loopback: logins, and the kiosk wall.

Installed by :func:`protect` only when credentials are configured (``GMV_DASHBOARD_USERS``,
``GMV_DASHBOARD_USERS_FILE``, ``GMV_DASHBOARD_KIOSK_TOKEN``); on loopback without them (the
default, ``make run``) the dashboard is open as before. ``gmv dashboard --host`` anything but
loopback refuses to start without them (:func:`require_credentials`).

- **Logins**: HTTP basic auth through dash-auth, whose before-request check guards every route
  (pages, assets, ``/_dash-layout``, ``/_dash-dependencies``, ``/_dash-update-component``).
  Passwords are held as HMAC-SHA256 digests under a key made at start and compared with
  ``hmac.compare_digest``; an unknown name costs the same as a wrong password.
- **Kiosk**: a wall screen opens ``/?kiosk=TOKEN`` once; the answer is a redirect to
  ``/?kiosk=1`` (the token leaves the address bar) with a signed cookie (itsdangerous, keyed by
  the token, so a new token retires every wall's cookie; valid 30 days, renewed daily while
  the wall runs). That cookie lets a browser load the wall and nothing else: ``GET /``, Dash's
  scripts, layout and dependency list, the assets, and two kinds of callback request, the
  router's for the path ``/`` and the wall page's own (its outputs' ids start with
  ``wall-``). Explore, its CSV download, alerts and their callbacks answer it 403 (not 401:
  a wall's browser shows no login prompt and no request of it hangs on one).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

import dash
import flask
from dash_auth import BasicAuth
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from stream.errors import GmvError
from stream.settings import Settings

log = logging.getLogger(__name__)

REALM = "11.11 GMV dashboard"
KIOSK_FLAGS = ("1", "true", "yes")  # ?kiosk= values that only ask for the wall without controls
KIOSK_COOKIE = "gmv_kiosk"
KIOSK_MAX_AGE_S = 30 * 86400  # a wall screen off for longer opens /?kiosk=TOKEN again
KIOSK_RENEW_AFTER_S = 86400  # a running wall's cookie is re-issued once it is a day old
KIOSK_GET_PATHS = frozenset({"/", "/_dash-layout", "/_dash-dependencies", "/_favicon.ico"})
KIOSK_GET_PREFIXES = ("/assets/", "/_dash-component-suites/")
CALLBACKS_PATH = "/_dash-update-component"
KIOSK_REFUSED = "The kiosk pass opens the wall only; explore and alerts need a login, from another browser.\n"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address to listen on) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name, or "" (every address)


def require_credentials(settings: Settings, host: str) -> None:
    """Refuse to listen beyond loopback with nothing to ask visitors for (one line, exit 1)."""
    if is_loopback(host) or settings.dashboard_login_required:
        return
    raise GmvError(f"dashboard: --host {host} serves other machines, so it needs credentials: set "
                   "GMV_DASHBOARD_USERS=name:password[,name:password...] (or GMV_DASHBOARD_USERS_FILE=PATH, one "
                   "name:password a line) and, for wall screens, GMV_DASHBOARD_KIOSK_TOKEN.")


def is_kiosk() -> bool:
    """Whether the request being answered came in on a kiosk cookie (not a login)."""
    return flask.has_request_context() and flask.g.get("gmv_role") == "kiosk"


class Logins:
    """Names and password digests; :meth:`check` compares in constant time."""

    def __init__(self, logins: dict[str, str]) -> None:
        self._key = secrets.token_bytes(32)
        self._digests = {name: self._digest(password) for name, password in logins.items()}
        self._nobody = self._digest(secrets.token_urlsafe(24))  # compared against for unknown names

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

    def check(self, name: str, password: str) -> bool:
        equal = hmac.compare_digest(self._digest(password), self._digests.get(name, self._nobody))
        return equal and name in self._digests

    def __len__(self) -> int:
        return len(self._digests)


class KioskPass:
    """The kiosk token, and the signed cookie a wall screen gets for it."""

    def __init__(self, token: str) -> None:
        self._token = hashlib.sha256(token.encode()).digest()
        self._signer = URLSafeTimedSerializer(token, salt="gmv-dashboard-kiosk")

    def matches(self, given: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), self._token)

    def cookie(self) -> str:
        return self._signer.dumps("wall")

    def age(self, cookie: str) -> float | None:
        """Seconds since ``cookie`` was issued, or None when it is not a valid, current kiosk cookie."""
        if not cookie:
            return None
        try:
            value, issued = self._signer.loads(cookie, max_age=KIOSK_MAX_AGE_S, return_timestamp=True)
        except BadSignature:  # forged, made with an older token, or expired
            return None
        return time.time() - issued.timestamp() if value == "wall" else None


class DashboardAuth(BasicAuth):
    """dash-auth's basic auth with constant-time logins, plus the kiosk cookie's narrow scope."""

    def __init__(self, app: dash.Dash, logins: Logins, kiosk: KioskPass | None,
                 kiosk_callbacks: frozenset[str], router_callback: str) -> None:
        self.logins, self.kiosk = logins, kiosk
        self.kiosk_callbacks, self.router_callback = kiosk_callbacks, router_callback
        # these two run before dash-auth's check, added next
        app.server.before_request(self._malformed_callback)
        app.server.before_request(self._kiosk_entry)
        # auth_func satisfies BasicAuth's constructor; is_authorized below is what decides
        super().__init__(app, auth_func=logins.check)
        app.server.after_request(self._renew_kiosk_cookie)

    def is_authorized(self) -> bool:
        request = flask.request
        given = request.authorization
        if given is not None and given.type == "basic" and \
                self.logins.check(given.username or "", given.password or ""):
            flask.g.gmv_role = "user"
            return True
        age = self.kiosk.age(request.cookies.get(KIOSK_COOKIE, "")) if self.kiosk is not None else None
        if age is not None:
            if not self._kiosk_may():
                flask.g.gmv_role = "kiosk-refused"
                return False
            flask.g.gmv_role = "kiosk"
            flask.g.gmv_kiosk_renew = age > KIOSK_RENEW_AFTER_S
            return True
        return False

    def login_request(self) -> flask.Response:
        if flask.g.get("gmv_role") == "kiosk-refused":  # known, but not for this: no login prompt on a wall
            return flask.Response(KIOSK_REFUSED, status=403, mimetype="text/plain")
        return flask.Response("Login required.\n", status=401, mimetype="text/plain",
                              headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})

    def _kiosk_may(self) -> bool:
        """Whether this request is one the kiosk wall needs (see the module's docstring)."""
        request = flask.request
        if request.method in ("GET", "HEAD"):
            return request.path in KIOSK_GET_PATHS or request.path.startswith(KIOSK_GET_PREFIXES)
        if request.method != "POST" or request.path != CALLBACKS_PATH:
            return False
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return False
        output = body.get("output")
        if output in self.kiosk_callbacks:
            return True
        if output != self.router_callback:
            return False
        # the router's one input is the pathname; Dash passes inputs to the function by position
        inputs = body.get("inputs")
        if not (isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], dict)):
            return False
        pathname = inputs[0].get("value")
        return isinstance(pathname, str) and (pathname.rstrip("/") or "/") == "/"

    def _malformed_callback(self) -> Response | None:
        """400 for a callback request that is not a JSON object naming its output and inputs
        (dash-auth reads ``body["output"]`` before deciding, and would fail with a 500)."""
        request = flask.request
        if request.path != CALLBACKS_PATH or request.method != "POST":
            return None
        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("output"), str) and isinstance(body.get("inputs"), list):
            return None
        return flask.Response("Not a Dash callback request.\n", status=400, mimetype="text/plain")

    def _kiosk_entry(self) -> Response | None:
        """``GET /?kiosk=TOKEN``: the cookie, and a redirect to the same wall without the token."""
        request = flask.request
        given = request.args.get("kiosk", "")
        if self.kiosk is None or request.method not in ("GET", "HEAD") or request.path != "/" or not given \
                or given in KIOSK_FLAGS:
            return None
        if not self.kiosk.matches(given):
            log.warning("kiosk: a wrong token from %s", request.remote_addr)
            return None  # dash-auth's check answers 401 (unless the browser is logged in)
        query = [(k, v) for k, v in parse_qsl(request.query_string.decode(errors="replace")) if k != "kiosk"]
        response = flask.redirect("?" + urlencode([("kiosk", "1"), *query]), code=303)
        self._set_kiosk_cookie(response)
        log.info("kiosk: wall cookie issued to %s", request.remote_addr)
        return response

    def _set_kiosk_cookie(self, response: Response) -> None:
        assert self.kiosk is not None
        response.set_cookie(KIOSK_COOKIE, self.kiosk.cookie(), max_age=KIOSK_MAX_AGE_S, httponly=True,
                            samesite="Lax", secure=flask.request.is_secure)

    def _renew_kiosk_cookie(self, response: Response) -> Response:
        if flask.g.get("gmv_kiosk_renew"):
            self._set_kiosk_cookie(response)
        return response


def output_ids(callback: str) -> list[str]:
    """Component ids of a Dash callback key: ``id.prop`` or ``..id.prop...id.prop..``."""
    parts = callback[2:-2].split("...") if callback.startswith("..") else [callback]
    return [part.rsplit(".", 1)[0] for part in parts]


def callbacks_writing(app: dash.Dash, prefixes: Iterable[str]) -> frozenset[str]:
    """Keys of the callbacks whose every output id starts with one of ``prefixes``."""
    prefixes = tuple(prefixes)
    return frozenset(key for key in app.callback_map if all(i.startswith(prefixes) for i in output_ids(key)))


def protect(app: dash.Dash, settings: Settings, *, router_output: str,
            kiosk_prefixes: Iterable[str]) -> DashboardAuth | None:
    """Guard ``app`` (after every callback is registered) when ``settings`` configure credentials.

    ``router_output`` is an output id of the shell's router (a kiosk may ask it for ``/`` only);
    ``kiosk_prefixes`` are the id prefixes of the page(s) a kiosk cookie may reach.
    Raises :class:`~stream.settings.ConfigError` for a bad users file.
    """
    if not settings.dashboard_login_required:
        return None
    router = next(key for key in app.callback_map if router_output in output_ids(key))
    kiosk = KioskPass(settings.dashboard_kiosk_token) if settings.dashboard_kiosk_token else None
    return DashboardAuth(app, Logins(settings.dashboard_logins()), kiosk,
                         callbacks_writing(app, kiosk_prefixes), router)
