"""The README's pictures of the three pages (docs/wall.png, explore.png, alerts.png) from a real run.

    .venv/bin/python bench/screenshots.py [--out docs]      (or: make screenshots)

Starts every part as `make run` does (Kafka, ClickHouse, the Flink job and its loader, the
simulator on the festival clock with last year's history written first, the dashboard and the
alert service) in a temp folder on free ports, lets the festival run past the 20:00 spike, the
first milestones and the first delivery (parcel delays compressed 720x, as make run does), and
photographs the wall and explore with headless Chromium (1920x1080).
Then it stops the simulator until the pipeline-stall rule pages, starts it again until the
alert resolves, and photographs the alerts page: every number in the pictures went through
simulator -> Kafka -> job -> ClickHouse. Everything is stopped at the end; the pictures are the
only files written. Fails (exit 1) if a page logged anything to the browser console. Takes
about five minutes.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium.webdriver.common.by import By

from stream import registry
from stream.stack import clickhouse, processes
from tests.support import browser
from tests.support.browser import wait_until
from tests.support.stack import fresh_settings

RUN_S = 150  # wall seconds of festival before the pictures: 10 festival minutes past 19:58


def plots_drawn(driver) -> int:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".filter(g => g.data && g.data.length).length")


def alert_states(settings) -> list[tuple[str, str]]:
    with clickhouse.connect(settings, "reader") as client:
        return client.execute(f"SELECT rule, state FROM {settings.clickhouse_database}.alert_events "
                              "ORDER BY event_ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the pictures (default docs/)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)  # the alerts page names its rules file relative to here: infra/alerts.toml
    with tempfile.TemporaryDirectory(prefix="gmv-screenshots-") as home:
        settings = fresh_settings(Path(home)).replace(parcel_replay=720.0)  # as make run: parcels delivered
        parts = list(registry.parts(settings).values())
        driver = None
        shots = {name: out / f"{name}.png" for name in ("wall", "explore", "alerts")}
        try:
            for part in parts:
                print(f"starting {part.name}", flush=True)
                processes.start(part, settings)
            started = time.monotonic()
            driver = browser.chromium(Path(home) / "chromium")
            url = f"http://127.0.0.1:{settings.dashboard_port}"
            driver.get(url + "/")
            wait_until(lambda: driver.find_element(By.ID, "wall-gmv").get_attribute("data-fen"), timeout=120,
                       what="the wall's GMV")
            wait_until(lambda: time.monotonic() - started > RUN_S, timeout=RUN_S + 10, what="the festival to run")
            wait_until(lambda: driver.find_element(By.ID, "wall-milestone").text, timeout=60, what="a milestone")
            wait_until(lambda: plots_drawn(driver) >= 6, what="the wall's charts")
            wait_until(lambda: driver.find_element(By.ID, "wall-first-delivery").text.startswith("first parcel"),
                       timeout=60, what="the first delivery")
            wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#wall-map-flows tr"), timeout=60,
                       what="the map's flows")
            driver.save_screenshot(str(shots["wall"]))
            driver.get(url + "/explore")
            wait_until(lambda: plots_drawn(driver) >= 5, what="explore's charts")
            wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#explore-table td"), what="explore's table")
            driver.save_screenshot(str(shots["explore"]))
            # A real alert: no events for a while -> the stall rule pages; events again -> it resolves.
            processes.stop(registry.SIMULATOR, settings)
            wait_until(lambda: ("pipeline-stall", "firing") in alert_states(settings), timeout=120,
                       what="the stall alert")
            processes.start(registry.SIMULATOR, settings)
            wait_until(lambda: ("pipeline-stall", "resolved") in alert_states(settings), timeout=120,
                       what="the stall alert to resolve")
            driver.get(url + "/alerts")
            wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#alerts-rules td"), what="the rules")
            wait_until(lambda: "resolved" in driver.find_element(By.ID, "alerts-history").text, what="the history")
            driver.save_screenshot(str(shots["alerts"]))
            logged = browser.console(driver)
        finally:
            if driver is not None:
                driver.quit()
            for part in reversed(parts):
                processes.stop(part, settings)
    for path in shots.values():
        print(f"wrote {os.path.relpath(path)}")
    if logged:
        print(f"the pages logged to the browser console: {logged}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
