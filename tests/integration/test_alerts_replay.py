"""Normal festival traffic never pages: a replay through the 20:00 spike, the midnight surge and the night
trough, written into ClickHouse as the pipeline would write it, evaluated as the live service would.

The per-second orders come from a real simulator ledger (``run(..., NullSink(), ledger)``, the code
behind ``gmv simulate --sink null --clock replay --ledger``). They are then written into a test
database one simulated wall second at a time, ``SPEED`` seconds of event time per wall second
(the rows of a second appear ``LAG_S`` after it ends), with the service evaluating after each
write on the same clock, with the shipped rules (infra/alerts.toml: the drop rule's baseline is
``last_year``). Last year's night (Nov 10-11 2020, its own flash-sale timetable, 1/1.26 of the
volume, another seed) is in the history database first, from the simulator's arrival process
(:func:`tests.support.last_year.orders_created`), not from ``gmv simulate``'s history writer.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from stream.alerts import config as config_mod
from stream.alerts.rules import DropRule, measure_drop
from stream.alerts.service import AlertService
from stream.history import same_moment_last_year
from stream.simulator import orders as orders_mod
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.run import RunOptions, Simulation, run
from stream.simulator.sinks import NullSink
from stream.stack import clickhouse
from tests.support.last_year import history_database, orders_created, write_counts

# the columns these rows give (measures added later take their default, 0)
SECOND_COLUMNS = ("(window_start, late, orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations, "
                  "written_ms)")

pytestmark = pytest.mark.slow

START_MS = local_ms(2021, 11, 10, 19) + 45 * 60_000  # Nov 10 19:45 CST: the 20:00 spike...
HOURS = 8.75  # ...the hush and the midnight surge, down to the night trough at 04:30 on Nov 11
SCALE = 0.003  # simulated orders per real order: ~2 orders/s in the trough, ~1,700/s at midnight
SPEED = 60  # event seconds the pipeline writes per wall second
LAG_S = 1  # a window's row appears this long after the window ends
WALL0 = 1_700_000_000  # the simulated wall clock's start (epoch s)


def replay_ledger(path: Path, monkeypatch) -> tuple[dict[int, int], np.ndarray]:
    """Orders created per second from the ledger, and the same from the simulator's arrivals
    (non-ghost orders by arrival second), recorded while it ran: bench/alerts_false_positives.py
    uses the latter over 11 days."""
    arrivals: list[np.ndarray] = []
    original = Simulation.arrivals

    def recording(self, end_ms, fixed=None):
        t0, waves, origins = original(self, end_ms, fixed)
        arrivals.append(t0[origins != orders_mod.GHOST_FINAL] // 1000)
        return t0, waves, origins

    monkeypatch.setattr(Simulation, "arrivals", recording)
    speed = 3600.0
    options = RunOptions(clock=ClockSpec("replay", START_MS, speed), rate=None, paced=False,
                         duration_s=HOURS * 3600 / speed, seed=11)
    run(DEFAULT.replace(year=2021, scale=SCALE), options, NullSink(), path, clock=lambda: 0.0)
    seconds = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "orders_second" and row["orders_created"]:
            seconds[row["window"]] = row["orders_created"]
    return seconds, np.concatenate(arrivals)


def test_a_replayed_festival_night_fires_no_alert(clickhouse_settings, tmp_path, monkeypatch):
    seconds, arrivals = replay_ledger(tmp_path / "ledger.jsonl", monkeypatch)
    start, end = START_MS // 1000, START_MS // 1000 + int(HOURS * 3600)
    by_arrival = np.bincount(arrivals - start, minlength=end - start)
    assert {start + i: int(n) for i, n in enumerate(by_arrival) if n} == seconds  # the bench's shortcut is exact

    cfg = config_mod.load(config_mod.DEFAULT_PATH)
    (drop,) = [r for r in cfg.rules if isinstance(r, DropRule)]
    assert drop.baseline == "last_year"
    now = {"s": float(WALL0)}
    with history_database(clickhouse_settings):
        then = same_moment_last_year(start) - 600  # history reaches past the night on either side
        write_counts(clickhouse_settings, then, orders_created(then, end - start + 1200, SCALE / 1.26, seed=2020))
        service = AlertService(cfg, clickhouse_settings, clock=lambda: now["s"])
        service.start()
        judged, evaluations, fallbacks = replay_night(service, drop, seconds, start, end, now)
    assert service.alerts == []
    assert fallbacks == 0 and service.baselines == {drop.name: "last_year"}  # last year's, throughout
    print(f"\nno alert in {evaluations} evaluations, {judged} of them judged, on last year's history")
    # not vacuous: the drop rule judged most of the night (all but the first baseline and the deepest trough)
    assert judged / evaluations > 0.8, (judged, evaluations)


def replay_night(service: AlertService, drop: DropRule, seconds: dict[int, int], start: int, end: int,
                 now: dict) -> tuple[int, int, int]:
    """Write the night SPEED seconds per simulated wall second and evaluate after each; (judged,
    evaluations, judged on the median for want of history)."""
    judged = evaluations = written = fallbacks = 0
    try:
        with clickhouse.connect(service.settings, "writer") as writer:
            for tick in range(1, (end - start) // SPEED + 1):
                now["s"] = WALL0 + tick
                newest = start + tick * SPEED - LAG_S  # windows before this one are written now
                write_seconds(writer, service.db, seconds, written, newest, int(now["s"] * 1000))
                written = newest
                assert service.step() == [], f"an alert at {datetime.fromtimestamp(newest, timezone.utc)}"
                windows = service.last.windows
                measure = measure_drop(drop, windows) if windows is not None else None
                evaluations += 1
                judged += measure is not None and measure.baseline * drop.window_seconds >= drop.min_expected_orders
                fallbacks += measure is not None and measure.fallback
    finally:
        service.close()
    return judged, evaluations, fallbacks


def write_seconds(writer, db: str, seconds: dict[int, int], since: int, until: int, written_ms: int) -> None:
    rows = [(datetime.fromtimestamp(s, tz=timezone.utc).replace(tzinfo=None), 0, seconds[s], seconds[s], 0, 0, 0, 0,
             written_ms) for s in range(max(since, min(seconds)), until) if s in seconds]
    if rows:
        writer.execute(f"INSERT INTO {db}.orders_per_second {SECOND_COLUMNS} VALUES", rows)
