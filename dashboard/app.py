"""The Dash app's shell: navigation from the page registry, routing, and the app factory.

``create_app(settings)`` builds a complete app (its own database access and cache), so
tests and the benchmark can run several in one process; ``serve(settings)`` runs one with
waitress on ``settings.dashboard_port`` (``gmv dashboard``). When the settings configure
credentials, the app asks for them (:mod:`dashboard.auth`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl

import dash
from dash import Input, Output, State, dcc, html

from dashboard import auth
from dashboard.cache import SharedCache
from dashboard.db import Database
from dashboard.pages import Context, Page, registry
from stream.alerts.config import config_path
from stream.settings import Settings

ASSETS = Path(__file__).with_name("assets")
def create_app(settings: Settings, *, alerts_config: Path | None = None,
               cache: SharedCache | None = None) -> dash.Dash:
    """A complete dashboard app reading ``settings``' ClickHouse rollups as ``gmv_reader``."""
    ctx = Context(settings=settings, db=Database(settings, cache),
                  alerts_config=alerts_config or config_path(), state={})
    pages = registry()
    app = dash.Dash(__name__, title="11.11 GMV", update_title=None, assets_folder=str(ASSETS),
                    serve_locally=True, compress=False)
    app.layout = _shell(pages)
    # Pages are swapped in by the router; validate callbacks against every page's layout.
    app.validation_layout = html.Div([_shell(pages), *[p.layout(ctx, {}) for p in pages]])
    _register_router(app, ctx, pages)
    for page in pages:
        page.register(app, ctx)
    # logins and the kiosk wall, when credentials are configured (not on loopback by default)
    auth.protect(app, settings, router_output="shell-page",
                 kiosk_prefixes=[p.id_prefix for p in pages if p.kiosk])
    app.server.extensions["gmv"] = ctx  # the benchmark and tests read ctx.db's counters here
    return app


def _shell(pages: list[Page]) -> html.Div:
    nav = html.Nav([html.Span("11.11 GMV", className="shell-logo"),
                    *[dcc.Link(p.name, href=p.path, id=f"shell-link-{p.name.lower()}", className="shell-link")
                      for p in pages]], id="shell-nav", className="shell-nav")
    return html.Div([dcc.Location(id="shell-url"), nav, html.Div(id="shell-page", className="shell-page")],
                    className="shell")


def _register_router(app: dash.Dash, ctx: Context, pages: list[Page]) -> None:
    by_path = {p.path: p for p in pages}

    @app.callback(Output("shell-page", "children"), Output("shell-nav", "className"),
                  *[Output(f"shell-link-{p.name.lower()}", "className") for p in pages],
                  Input("shell-url", "pathname"), State("shell-url", "search"))
    def route(pathname, search):
        params = dict(parse_qsl((search or "").lstrip("?")))
        page = by_path.get((pathname or "/").rstrip("/") or "/")
        if auth.is_kiosk():  # a wall screen on its kiosk cookie: no navigation, no controls
            params["kiosk"] = "1"
        kiosk = params.get("kiosk", "") in auth.KIOSK_FLAGS
        links = [f"shell-link{' active' if p is page else ''}" for p in pages]
        nav = "shell-nav hidden" if kiosk else "shell-nav"
        if page is None:
            return html.Div(["No page at this address. ", dcc.Link("Go to the wall", href="/")],
                            className="not-found"), nav, *links
        return page.layout(ctx, params), nav, *links


def serve(settings: Settings, host: str = "127.0.0.1") -> None:
    """Serve the dashboard on ``settings.dashboard_port`` until interrupted (``gmv dashboard``).

    Beyond loopback it refuses to start without credentials (:func:`auth.require_credentials`)."""
    from waitress import serve as waitress_serve

    auth.require_credentials(settings, host)

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" chatter
    app = create_app(settings)
    # Threads answer polls; one slow query never blocks other screens (they wait on the cache).
    waitress_serve(app.server, host=host, port=settings.dashboard_port, threads=16, ident="gmv")
