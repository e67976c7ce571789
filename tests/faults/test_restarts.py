"""Fault suite (issue 12): parts restarted under load, on real servers.

1. The alert service (``gmv alerts``, a real process) is stopped with SIGTERM and SIGKILL and
   started again while a throughput-drop alert fires, and the drop ends while it is down: a
   real webhook receiver must get exactly one "firing" page and exactly one "resolved".
2. The dashboard (``gmv dashboard``, a real process) is killed with SIGKILL under a wall open
   in headless Chromium: the page says it lost the server, and once the server is back it
   shows newer numbers by itself, as the same page (no reload). Then the same with a server
   that hangs (SIGSTOP, then SIGCONT).

Each test prints its recovery time (``pytest -s`` shows it), from the fault to the recovery
page arriving / the wall showing fresh numbers again. Rollup rows are written by the test
(no Kafka or Flink here): the faults are in the alert service and the dashboard.
"""
from __future__ import annotations

import os
import signal
import tempfile
import time
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from stream import registry
from stream.alerts import store
from stream.alerts.receiver import Receiver
from stream.probes import wait_for
from stream.stack import clickhouse, processes
from tests.support import synthetic
from tests.support.alert_feed import (
    ALERTS_TOML,
    DROP,
    LOW,
    NORMAL,
    WINDOW,
    Feeder,
    heartbeat,
    kill_9,
    pages,
    part_settings,
)
from tests.support.browser import chromium, console, insert, wait_until

pytestmark = pytest.mark.slow

SECRET = "fault-suite-secret"


# -- 1. the alert service ----------------------------------------------------------------------

def history(settings) -> list[dict]:
    with clickhouse.connect(settings, "writer") as client:
        return store.read_history(client.execute, settings.clickhouse_database)


def recorded(settings, state: str) -> list[dict]:
    return [r for r in history(settings) if r["rule"] == DROP and r["state"] == state]


def judges_new_windows(settings, feeder: Feeder, pid: int, timeout: float = 30) -> bool:
    """Wait until the service running as ``pid`` has evaluated, more than once, windows that
    were not written yet when this was called (the newest window a whole drop window ahead)."""
    target = feeder.next_window + WINDOW

    def judged() -> bool:
        beat = heartbeat(settings)
        return beat.get("pid") == pid and beat.get("evaluations", 0) >= 3 and (beat.get("newest_window") or 0) >= target

    return wait_for(judged, timeout)


def test_alert_service_restarts_while_firing_page_once_and_still_send_the_recovery(
        clickhouse_settings, tmp_path, monkeypatch):
    settings = part_settings(clickhouse_settings, tmp_path)
    with Receiver() as receiver, Feeder(settings) as feeder:
        rules = tmp_path / "alerts.toml"
        rules.write_text(ALERTS_TOML.replace("{url}", receiver.url))
        monkeypatch.setenv("GMV_ALERTS_CONFIG", str(rules))
        monkeypatch.setenv("GMV_WEBHOOK_SECRET", SECRET)
        try:
            processes.start(registry.ALERTS, settings)
            pid = processes.state(registry.ALERTS, settings).pid
            assert judges_new_windows(settings, feeder, pid), f"no evaluation: {heartbeat(settings)}"
            assert pages(receiver) == []

            feeder.rate = LOW  # orders fall to a tenth
            assert receiver.wait(lambda got: pages(receiver) == ["firing"], 30), pages(receiver)
            # the page is out and recorded as delivered: from here on the alert is simply "firing"
            assert wait_for(lambda: [r["delivery"] for r in recorded(settings, "firing")] == ["delivered"], 10)

            # a stop (SIGTERM, as `gmv down` does it), then a crash (SIGKILL), each started again while
            # the drop goes on: the restarted service judges new windows and must not page again
            for how in ("SIGTERM", "SIGKILL"):
                if how == "SIGTERM":
                    assert processes.stop(registry.ALERTS, settings)
                else:
                    kill_9(registry.ALERTS, settings)
                pid = processes.start(registry.ALERTS, settings).pid
                assert judges_new_windows(settings, feeder, pid), heartbeat(settings)
                assert heartbeat(settings)["firing"] == [DROP], f"after {how}: {heartbeat(settings)}"
                assert len(recorded(settings, "firing")) == 1, f"after {how}: {history(settings)}"
                assert pages(receiver) == ["firing"], f"after {how}: {pages(receiver)}"

            # a crash, and the orders come back while the service is down: the recovery must not be lost
            kill_9(registry.ALERTS, settings)
            fault = time.monotonic()
            feeder.rate = NORMAL
            processes.start(registry.ALERTS, settings)
            up_s = time.monotonic() - fault
            assert receiver.wait(lambda got: pages(receiver) == ["firing", "resolved"], 30), pages(receiver)
            recovery_s = time.monotonic() - fault
            pid = processes.state(registry.ALERTS, settings).pid
            assert judges_new_windows(settings, feeder, pid), heartbeat(settings)  # and nothing more is sent
        finally:
            processes.stop(registry.ALERTS, settings)
        assert feeder.error is None, feeder.error
    assert pages(receiver) == ["firing", "resolved"]  # one page, one recovery
    assert pages(receiver, "pipeline-stall") == []  # the restarts are not a stalled pipeline
    assert [(r["state"], r["delivery"]) for r in history(settings)] == [("resolved", "delivered"),
                                                                        ("firing", "delivered")]
    for item in receiver.received:
        assert item.headers["X-Signature"]
    log = processes.log_path(settings, "alerts").read_text()
    assert "Traceback" not in log
    assert log.count(f"still firing from before the restart: {DROP}") == 3  # one per restart
    print(f"\nalert service: SIGKILL, started again at once: healthy (evaluating) after {up_s:.2f} s; the "
          f"recovery page delivered {recovery_s:.2f} s after the kill")


# -- 2. the dashboard ------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path):
    driver = chromium(profile=tempfile.mkdtemp(dir=tmp_path))
    yield driver
    driver.quit()


def gmv_fen(browser) -> int | None:
    value = browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen")
    return int(value) if value else None


def stale(browser) -> bool:
    return "stale" in browser.find_element(By.ID, "wall-root").get_attribute("class").split()


def newer_second(settings, seconds_after: int, gmv: int) -> None:
    """One more orders_per_second row, ``seconds_after`` the known set's newest, written now."""
    table = synthetic.ORDERS_SECOND.table
    window = synthetic.utc_naive(synthetic.KNOWN_NOW + timedelta(seconds=seconds_after))
    row = synthetic.row(synthetic.ORDERS_SECOND, int(time.time() * 1000), late=0, orders_created=1, orders_paid=1,
                        gmv_fen=gmv, window_start=window)
    insert(settings, {table: (synthetic.COLUMNS_BY_TABLE[table], [row])})


def assert_only_failed_polls(entries: list[dict]) -> None:
    """The browser console during an outage: the wall's polls that failed (the network error,
    and Dash's "Callback failed" for each), and nothing else."""
    assert entries, "no poll failed"
    unexpected = [e for e in entries if "_dash-update-component" not in e["message"]
                  and "Callback failed: the server did not respond" not in e["message"]]
    assert unexpected == [], unexpected


def test_a_wall_open_through_a_dashboard_restart_shows_it_lost_the_server_then_recovers_without_reload(
        clickhouse_settings, tmp_path, browser):
    settings = part_settings(clickhouse_settings, tmp_path)
    insert(settings, synthetic.known_rows(int(time.time() * 1000)))
    known = synthetic.KNOWN["festival_gmv_fen"]
    try:
        processes.start(registry.DASHBOARD, settings)
        browser.get(f"http://127.0.0.1:{settings.dashboard_port}/")
        wait_until(lambda: gmv_fen(browser) == known, what="the wall's GMV")
        page = browser.execute_script("window.__marker = 1; return performance.timeOrigin;")
        assert console(browser) == []

        kill_9(registry.DASHBOARD, settings)
        fault = time.monotonic()
        wait_until(lambda: stale(browser), what="the wall marked stale after its server died")
        noticed_s = time.monotonic() - fault
        banner = browser.find_element(By.ID, "wall-banner")
        assert "banner-error" in banner.get_attribute("class").split()
        assert "dashboard server" in banner.text and "as of 2021-11-11 20:00:05 CST" in banner.text, banner.text
        assert gmv_fen(browser) == known  # the last numbers stay, greyed

        newer_second(settings, 1, 12_345)  # the festival goes on while the server is down
        began = time.monotonic()
        processes.start(registry.DASHBOARD, settings)
        up = time.monotonic()
        wait_until(lambda: gmv_fen(browser) == known + 12_345 and not stale(browser), what="fresh numbers again")
        fresh = time.monotonic()
        assert browser.execute_script("return [window.__marker, performance.timeOrigin];") == [1, page], \
            "the page was reloaded"
        assert "banner-hidden" in banner.get_attribute("class").split()
        assert browser.find_element(By.ID, "wall-asof").text == "as of 2021-11-11 20:00:06 CST"
        assert_only_failed_polls(console(browser))

        newer_second(settings, 2, 1_000)  # and it keeps polling: the next second shows too, cleanly
        wait_until(lambda: gmv_fen(browser) == known + 13_345, what="the next tick")
        assert console(browser) == []

        # a server that hangs instead (SIGSTOP: connections accepted by the kernel, never answered)
        pid = processes.state(registry.DASHBOARD, settings).pid
        os.killpg(pid, signal.SIGSTOP)
        try:
            hung = time.monotonic()
            wait_until(lambda: stale(browser), timeout=20, what="the wall marked stale under a hung server")
            hung_noticed_s = time.monotonic() - hung
            assert "did not answer for 10 s" in banner.text, banner.text
            newer_second(settings, 3, 1_000)
        finally:
            os.killpg(pid, signal.SIGCONT)
        resumed = time.monotonic()
        wait_until(lambda: gmv_fen(browser) == known + 14_345 and not stale(browser), what="fresh after SIGCONT")
        resumed_s = time.monotonic() - resumed
        assert browser.execute_script("return window.__marker;") == 1
        assert_only_failed_polls(console(browser))
        newer_second(settings, 4, 1_000)
        wait_until(lambda: gmv_fen(browser) == known + 15_345, what="the next tick")
        assert console(browser) == []
    finally:
        processes.stop(registry.DASHBOARD, settings)
    print(f"\ndashboard: SIGKILL -> wall marked stale in {noticed_s:.2f} s; started again after {began - fault:.2f} s "
          f"(healthy {up - began:.2f} s later); fresh numbers {fresh - up:.2f} s after it was healthy, "
          f"{fresh - fault:.2f} s after the kill")
    print(f"dashboard: SIGSTOP -> wall marked stale in {hung_noticed_s:.2f} s; SIGCONT -> fresh in {resumed_s:.2f} s")
