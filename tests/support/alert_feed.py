"""What the alert fault tests share: rollup rows fed as the loader writes them (a throughput
drop on demand), the rules they run, and what the service and the receiver show."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import datetime, timezone

from stream import probes
from stream.alerts import service as alerts_service
from stream.contract import FESTIVAL_TZ
from stream.probes import wait_for
from stream.stack import processes
from tests.support import synthetic
from tests.support.browser import insert


def part_settings(settings, tmp_path):
    """The test's database on the session's ClickHouse, with its own state folder (pid files,
    logs, heartbeat) and dashboard port, so the part started here is this test's alone."""
    return settings.replace(home=tmp_path / "home", jars_dir=settings.jars_dir, dashboard_port=probes.free_port())


def kill_9(part, settings) -> None:
    """SIGKILL the part's whole process group (as the kernel's OOM killer or a crash would end
    it: no handler runs) and wait until no process of it is left; the stale pid file stays, as
    after a crash (``processes.start`` clears it)."""
    pid = processes.state(part, settings).pid
    assert pid, f"{part.name} is not running"
    os.killpg(pid, signal.SIGKILL)
    assert wait_for(lambda: not processes._group_alive(pid), 10, interval=0.05), f"{part.name} survived SIGKILL"


T0 = int(datetime(2021, 11, 11, 10, 0, tzinfo=FESTIVAL_TZ).timestamp())  # event time of the first window
NORMAL, LOW = 50, 5  # orders per event second
EVENT_SECONDS_PER_TICK, TICK_S = 4, 0.2  # the feeder: 20 event seconds of windows per wall second
WINDOW = 10
DROP = "throughput-drop"
ALERTS_TOML = f"""
[service]
interval_seconds = 0.5
margin_seconds = 2
settle_seconds = 0.5

[[rules]]
name = "{DROP}"
kind = "drop"
window_seconds = {WINDOW}
baseline_windows = 6
below_percent = 50
recover_percent = 70
baseline = "median"
min_expected_orders = 100
cooldown_seconds = 1        # short, so a page sent again after a restart is not hidden by a cooldown

[[rules]]
name = "pipeline-stall"
kind = "stall"
stale_seconds = 10
cooldown_seconds = 1

[[webhooks]]
name = "pager"
url = "{{url}}"
attempts = 5
backoff_seconds = 0.2
"""


def utc(epoch_s: int) -> datetime:
    """A DateTime column's value: UTC, without tzinfo."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).replace(tzinfo=None)


class Feeder:
    """The pipeline's part in this test: orders_per_second rows written as the loader writes
    them (``written_ms`` now), ``EVENT_SECONDS_PER_TICK`` windows every ``TICK_S``, at
    ``self.rate`` orders per second, in a thread, until stopped."""

    def __init__(self, settings) -> None:
        self.settings, self.rate = settings, NORMAL
        self.next_window = T0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def write(self, seconds: int) -> None:
        written, table = int(time.time() * 1000), synthetic.ORDERS_SECOND.table
        rows = [synthetic.row(synthetic.ORDERS_SECOND, written, late=0, orders_created=self.rate,
                              orders_paid=self.rate, gmv_fen=self.rate * 10_000, window_start=utc(self.next_window + i))
                for i in range(seconds)]
        insert(self.settings, {table: (synthetic.COLUMNS_BY_TABLE[table], rows)})
        self.next_window += seconds

    def _run(self) -> None:
        try:
            while not self.stop.wait(TICK_S):  # the feeder's pace, not a synchronisation
                self.write(EVENT_SECONDS_PER_TICK)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's assertions
            self.error = exc

    def __enter__(self) -> Feeder:
        self.write(8 * WINDOW)  # history for the drop rule's baseline: 7 windows and one to judge
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def heartbeat(settings, name: str = "alerts") -> dict:
    try:
        return json.loads(alerts_service.heartbeat_path(settings, name).read_text())
    except (OSError, ValueError):
        return {}


def pages(receiver, rule: str = DROP) -> list[str]:
    return [r.json()["state"] for r in receiver.received if r.json()["rule"] == rule]


