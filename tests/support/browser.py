"""Headless Chromium and the app served in a thread, for the browser tests and bench/screenshots.py.

:func:`chromium` starts Debian's chromium + chromedriver with Selenium (headless, 1920x1080,
console log kept; each test checks ``console(driver) == []`` at the end); :func:`serve` runs
``create_app(settings)`` on a free port in a thread (the test's own ClickHouse database).
The pytest fixtures built on them are in tests/browser/conftest.py.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from werkzeug.serving import make_server

from dashboard.app import create_app
from stream import probes
from stream.stack import clickhouse
from tests.support import synthetic

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DEADLINE_S = 30


def wait_until(condition: Callable[[], object], timeout: float = DEADLINE_S, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - the page is still being built (stale element, not there yet)
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def wait_callbacks_settled(driver, polls: int = 3) -> None:
    """Until no Dash callback has been in flight for ``polls`` polls in a row (the renderer shows
    ``._dash-loading-callback`` while one is; a control echoing a value the page just gave it
    starts another right after): a click on a chart being redrawn is lost with its old drag layer."""
    idle = [0]

    def settled() -> bool:
        busy = driver.execute_script("return !!document.querySelector('._dash-loading-callback')")
        idle[0] = 0 if busy else idle[0] + 1
        return idle[0] >= polls

    wait_until(settled, what="no Dash callback in flight")


def texts(driver, css: str) -> list[str]:
    """The text content of every element matching ``css``, read in one script: a chart redrawn
    between finding its elements and reading them would leave stale references."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent);", css)


def console(driver) -> list[dict]:
    """Every browser console entry since the last call (any level: a clean page logs nothing)."""
    return driver.get_log("browser")


def cut_texts(browser) -> list[str]:
    """Texts of the panels and numbers wider or taller than their box: cut off, or drawn over a
    neighbour (a panel's title squeezed by what is under it)."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#wall-root .panel *, #wall-root .kpi *, #wall-root .hero-ly *'))"
        ".filter(e => e instanceof HTMLElement && !e.children.length && e.textContent.trim()"
        " && (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1))"
        ".map(e => (e.id || e.className) + ': ' + e.textContent);")


def set_viewport(driver, width: int, height: int) -> None:
    driver.set_window_size(width, height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def chromium(profile: Path, downloads: Path | None = None) -> webdriver.Chrome:
    """A fresh headless Chromium (its profile in ``profile``) with a 1920x1080 viewport; files it
    downloads go to ``downloads`` (``driver.download_dir``)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={profile}", "--window-size=1920,1080"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.download_dir = downloads
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    set_viewport(driver, 1920, 1080)
    return driver


@dataclass
class Served:
    url: str  # base URL, no trailing slash
    app: object  # the dash.Dash app
    server: object  # the werkzeug server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.app.server.extensions["gmv"].db.close()


def serve(settings, **kwargs) -> Served:
    """Start ``create_app(settings, **kwargs)`` on a free port in this process (a thread)."""
    app = create_app(settings, **kwargs)
    server = make_server("127.0.0.1", probes.free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Served(f"http://127.0.0.1:{server.server_port}", app, server, thread)


def insert(settings, tables: dict[str, tuple[str, list[tuple]]]) -> None:
    """Insert ``{table: (columns, rows)}`` (see :func:`synthetic.known_rows`) as the writer."""
    with clickhouse.connect(settings, "writer") as writer:
        synthetic.insert_rows(writer, settings.clickhouse_database, tables)


def select_one(settings, sql: str):
    with clickhouse.connect(settings, "reader") as reader:
        return reader.execute(sql.format(db=settings.clickhouse_database))[0][0]


class TcpProxy:
    """A TCP relay in front of ClickHouse that a test can cut (or slow down), to see what
    the page does when the database stops answering. Real sockets, no mock."""

    def __init__(self, target_port: int, delay_s: float = 0.0) -> None:
        self.target_port, self.delay_s = target_port, delay_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if slow and self.delay_s:
                    time.sleep(self.delay_s)  # the simulated slowness itself, not a synchronisation
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and break the open ones, like a server that went away."""
        self.open = False
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
