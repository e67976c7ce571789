"""The alert service on the real pipeline: simulator -> Kafka -> Flink job -> ClickHouse -> alerts -> a real
HTTP receiver.

One run (one Flink start, to keep the suite short), in two acts:

1. the simulator's ``--outage`` (90% of the orders gone for a while) gives exactly one drop alert,
   delivered within 10 s of the windows showing the drop appearing in ClickHouse, then one
   recovery;
2. the job is stopped while the simulator goes on sending: a stall alert, and no drop alert
   (the cooldowns are 1 s here, so a false drop would show).

The drop rule's baseline is ``last_year``, as shipped: last year's orders per second are written
into the history database first, here from an independent computation (Poisson draws at 10.6
orders per event second, about 1/1.26 of the run's 13.3), not by ``gmv simulate``'s history
writer, so the alert service's reader is checked against rows it did not make.

Every delivery is signed; the receiver recomputes the HMAC. Meanwhile the GMV milestones (the
default figures) are recorded from the real rollups, exactly, and each is announced once.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import threading
from datetime import datetime

import numpy as np
import pytest

from stream import registry
from stream.alerts import milestones as ms
from stream.alerts import store
from stream.alerts.config import parse
from stream.alerts.receiver import Receiver
from stream.alerts.service import AlertService
from stream.history import same_moment_last_year
from stream.probes import wait_for
from stream.simulator.config import FESTIVAL_TZ
from stream.stack import clickhouse, processes
from tests.support.last_year import history_database, write_counts

pytestmark = pytest.mark.slow

SECRET = "pipeline-test-secret"
START = "2021-11-11T10:00+08:00"
SPEED = 30  # event seconds per wall second
RATE = 400  # orders per wall second: ~13 per event second, ~400 in a 30 s window
OUTAGE_AT, OUTAGE_FOR = 18, 8  # wall seconds into the run (event time: x SPEED)
RUN_FOR = 120  # wall seconds at most: the test stops the simulator once it has what it needs
WINDOW = 30


def alerts_config(url: str):
    return parse({
        "service": {"interval_seconds": 1.0, "margin_seconds": 5, "settle_seconds": 2.0},
        "rules": [
            {"name": "throughput-drop", "kind": "drop", "window_seconds": WINDOW, "baseline_windows": 10,
             "below_percent": 50, "recover_percent": 70, "baseline": "last_year", "min_expected_orders": 100,
             "cooldown_seconds": 1},
            {"name": "pipeline-stall", "kind": "stall", "stale_seconds": 12, "cooldown_seconds": 1},
        ],
        "webhooks": [{"name": "test", "url": url, "attempts": 3, "backoff_seconds": 0.2}],
    })


def simulate(settings) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "stream.cli", "simulate", "--clock", "replay", "--start", START,
           "--speed", str(SPEED), "--rate", str(RATE), "--duration", str(RUN_FOR), "--seed", "7",
           "--outage", f"{OUTAGE_AT}:{OUTAGE_FOR}", "--outage-depth", "0.9"]
    return subprocess.Popen(cmd, env={**os.environ, **settings.to_env()}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def states(received, rule: str) -> list[str]:
    return [r.json()["state"] for r in received if r.json()["rule"] == rule]


def first_written_ms(settings, since_window: int) -> int:
    """When ClickHouse first held a window at or after ``since_window`` (epoch ms of its first write)."""
    with clickhouse.connect(settings, "writer") as client:
        return int(client.execute(
            f"SELECT min(written_ms) FROM {settings.clickhouse_database}.orders_per_second "
            "WHERE window_start >= toDateTime(%(s)s)", {"s": since_window})[0][0])


def write_last_year(settings) -> None:
    """Last year's orders per second over the run's event hour and 10 minutes either side."""
    start = same_moment_last_year(int(datetime.fromisoformat(START).timestamp())) - 600
    write_counts(settings, start, np.random.default_rng(2020).poisson(10.6, RUN_FOR * SPEED + 1200))


def test_an_outage_pages_once_and_recovers_and_a_stopped_job_pages_a_stall_not_a_drop(running_job):
    settings = running_job
    with history_database(settings), Receiver() as receiver:
        write_last_year(settings)
        service = AlertService(alerts_config(receiver.url), settings, secret=SECRET)
        stop = threading.Event()
        loop = threading.Thread(target=service.run_forever, args=(stop,), daemon=True)
        loop.start()
        sim = simulate(settings)
        try:
            # act 1: the outage
            assert receiver.wait(lambda got: states(got, "throughput-drop") == ["firing", "resolved"], 150), \
                f"drop alerts: {[r.json()['text'] for r in receiver.received]}; simulator: {sim.poll()}"
            assert states(receiver.received, "pipeline-stall") == []
            # act 2: the job stops, the simulator goes on
            assert sim.poll() is None, "the simulator ended before the job could be stopped"
            processes.stop(registry.JOB, settings)
            assert receiver.wait(lambda got: states(got, "pipeline-stall") == ["firing"], 30)
            judged_after = service.evaluations + 5
            assert wait_for(lambda: service.evaluations >= judged_after, 15)  # five more evaluations...
            assert states(receiver.received, "throughput-drop") == ["firing", "resolved"]  # ...and no new drop
        finally:
            sim.terminate()
            sim.wait(30)
            stop.set()
            loop.join(15)
    received = receiver.received
    for item in received:  # every delivery verifies with the shared secret
        assert hmac.compare_digest(item.headers["X-Signature"],
                                   hmac.new(SECRET.encode(), item.body, hashlib.sha256).hexdigest())
    fired, resolved = [r for r in received if r.json()["rule"] == "throughput-drop"]
    assert "last year's same 30 s x " in fired.json()["message"], fired.json()["message"]
    assert service.baselines == {"throughput-drop": "last_year"}
    report_latency(settings, fired, resolved)
    history = [(r["rule"], r["state"], r["delivery"]) for r in
               store.read_history(clickhouse.connect(settings, "writer").execute, settings.clickhouse_database)]
    assert sorted(history) == [("pipeline-stall", "firing", "delivered"), ("throughput-drop", "firing", "delivered"),
                               ("throughput-drop", "resolved", "delivered")]
    check_milestones(settings, received)


def check_milestones(settings, received) -> None:
    """The milestones table holds what the rollups pass (exactly: recomputed here from every second,
    late rows added), and every milestone announced was announced once."""
    with clickhouse.connect(settings, "writer") as client:
        stored = store.read_milestones(client.execute, settings.clickhouse_database)
        rows = client.execute(f"SELECT toUInt32(window_start), gmv_fen FROM {settings.clickhouse_database}"
                              ".orders_per_second FINAL")
    expected = ms.milestones(rows, ms.DEFAULT_FIGURES_FEN)
    assert expected, "the run passed no milestone"
    assert [(r.figure_fen, r.second, r.gmv_fen) for r in stored] == [(m.figure_fen, m.second, m.gmv_fen)
                                                                      for m in expected]
    announced = [int(r.headers["X-Gmv-Milestone"]) for r in received if r.json()["rule"] == "milestone"]
    assert announced and len(set(announced)) == len(announced), announced
    assert set(announced) == {r.figure_fen for r in stored if r.announce == ms.DELIVERED}
    print(f"milestones: {', '.join(f'{ms.label(r.figure_fen)} at {ms.when(r.second)}' for r in stored)}; "
          f"{len(announced)} announced once each")


def report_latency(settings, fired, resolved) -> None:
    body = fired.json()
    start_s = int(datetime.fromisoformat(START).astimezone(FESTIVAL_TZ).timestamp())
    outage_begin, outage_end = start_s + OUTAGE_AT * SPEED, start_s + (OUTAGE_AT + OUTAGE_FOR) * SPEED
    span_end = body["window_start_epoch"] + body["window_seconds"]
    assert outage_begin - WINDOW < body["window_start_epoch"] < outage_end, "the drop judged is not the outage"
    back = resolved.json()  # judged against last year's same window x the ratio it fired with: its own baseline
    assert body["observed"] < 0.5 * body["baseline"] and back["observed"] >= 0.7 * back["baseline"]
    processed_ms = first_written_ms(settings, span_end - 1)  # the last window of the judged span appeared
    latency = fired.at - processed_ms / 1000
    since_outage = fired.at - first_written_ms(settings, outage_begin) / 1000
    print(f"\ndrop alert delivered {latency:.2f} s after the windows showing the drop were in ClickHouse "
          f"({since_outage:.2f} s after the first outage window was); observed {body['observed']:.1f} orders/s "
          f"vs baseline {body['baseline']:.1f}")
    assert 0 < latency < 10
