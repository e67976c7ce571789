"""Browser fixtures, built on tests/support/browser.py (which bench/screenshots.py also uses).

``browser``: a fresh headless Chromium (1920x1080, its downloads in the test's tmp_path);
``dashboard(settings, **kwargs)``: ``create_app`` served in a thread on a free port, stopped at
the end; ``proxy_factory(port, delay_s)``: a TCP relay in front of ClickHouse a test can cut.
"""
from __future__ import annotations

import tempfile

import pytest

from tests.support.browser import Served, TcpProxy, chromium, serve


@pytest.fixture
def browser(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium(profile=tempfile.mkdtemp(dir=tmp_path), downloads=downloads)
    yield driver
    driver.quit()


@pytest.fixture
def dashboard():
    """``start(settings, **kwargs)``: serve ``create_app(settings, **kwargs)`` in this process."""
    served: list[Served] = []

    def start(settings, **kwargs) -> Served:
        served.append(serve(settings, **kwargs))
        return served[-1]

    yield start
    for s in served:
        s.stop()


@pytest.fixture
def proxy_factory():
    proxies: list[TcpProxy] = []

    def make(target_port: int, delay_s: float = 0.0) -> TcpProxy:
        proxies.append(TcpProxy(target_port, delay_s))
        return proxies[-1]

    yield make
    for p in proxies:
        p.cut()
