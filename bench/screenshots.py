"""The README's pictures of the three pages: docs/wall.png, docs/explore.png, docs/alerts.png.

    .venv/bin/python bench/screenshots.py [--out docs]      (or: make screenshots)

Starts a private ClickHouse with the project's launcher (free ports, a temp folder), writes the
generated festival of ``tests.support.showcase`` into it (rollups of Nov 10 and Nov 11 2021 up
to 21:18:42 CST, as if replayed and written just now, and an alert history of the rules in
infra/alerts.toml), serves the app in this process with the repository's infra/alerts.toml,
and drives headless Chromium (1920x1080) through the wall, explore and alerts pages, saving a
picture of each once it has drawn everything. Everything is stopped at the end; the pictures
are the only files written. Fails (exit 1) if a page logged anything to the browser console.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stream.alerts.config import DEFAULT_PATH
from stream.stack import launcher, processes
from tests.support import browser, showcase
from tests.support.stack import fresh_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the pictures (default docs/)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The alerts page says where its rules come from: run from the repository so it reads
    # "from infra/alerts.toml", not a path of this machine.
    os.chdir(ROOT)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    rules = DEFAULT_PATH.relative_to(ROOT)
    with tempfile.TemporaryDirectory(prefix="gmv-screenshots-") as home:
        settings = fresh_settings(Path(home))
        processes.start(launcher.CLICKHOUSE, settings)
        served = driver = None
        try:
            started = time.monotonic()
            tables = showcase.fill(settings, int(time.time() * 1000))
            rows = sum(len(cols["window_start"]) for cols in tables.values())
            print(f"festival: {rows:,} rollup rows written in {time.monotonic() - started:.1f} s")
            served = browser.serve(settings, alerts_config=rules)
            driver = browser.chromium(Path(home) / "chromium")
            shots = showcase.take(driver, served.url, out)
            logged = browser.console(driver)
        finally:
            if driver is not None:
                driver.quit()
            if served is not None:
                served.stop()
            processes.stop(launcher.CLICKHOUSE, settings)
    for path in shots.values():
        print(f"wrote {os.path.relpath(path)}")
    if logged:
        print(f"the pages logged to the browser console: {logged}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
