"""Fault suite: two alert services (``GMV_ALERTS_STANDBY=1``: parts alerts and alerts-2, real
processes) share a lease in a real ZooKeeper; a real HTTP receiver takes the pages.

1. kill -9 of the leader while a throughput drop is firing: the standby takes over within a few
   seconds (measured from the kill to its first evaluation as leader), does not page the firing
   alert again, and sends the recovery; then the new leader is killed with that recovery in flight
   (the receiver has taken the POST, the sender dies before the answer): the next leader delivers
   it again with the same ``X-Gmv-Alert`` key, so the receiver acts on each page exactly once.
2. SIGSTOP of the leader past its ZooKeeper session: the standby takes over, and the old leader,
   continued, pages nothing (it finds its session ended and stands by).

Rollup rows are written by the test (tests/support/alert_feed.py), as in test_restarts.py.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from stream import registry
from stream.alerts import store
from stream.alerts.lease import SESSION_TIMEOUT_S
from stream.alerts.payload import EVENT_HEADER, TOKEN_HEADER
from stream.alerts.receiver import Receiver
from stream.probes import wait_for
from stream.stack import clickhouse, processes
from tests.support.alert_feed import ALERTS_TOML, DROP, LOW, NORMAL, WINDOW, Feeder, heartbeat, kill_9, part_settings
from tests.support.zookeeper import running_zookeeper

pytestmark = pytest.mark.slow

TAKEOVER_BOUND_S = SESSION_TIMEOUT_S + 5  # the dead leader's session expires, then restore + one evaluation
SLOW_RECEIVER_TOML = ALERTS_TOML.replace("attempts = 5", "attempts = 5\ntimeout_seconds = 30")


@pytest.fixture
def standby_settings(clickhouse_settings, tmp_path, monkeypatch):
    """The test's database and state folder, GMV_ALERTS_STANDBY=1, and a ZooKeeper of its own."""
    settings = part_settings(clickhouse_settings, tmp_path).replace(alerts_standby=1)
    with running_zookeeper(settings) as with_zookeeper:
        yield with_zookeeper


def drop_pages(receiver: Receiver, received=None) -> list[tuple[str, int]]:
    """(state, fencing token) of each throughput-drop page taken, in order."""
    items = receiver.received if received is None else received
    return [(r.json()["state"], int(r.headers[TOKEN_HEADER])) for r in items if r.json()["rule"] == DROP]


def leader_evaluating(settings, name: str, feeder: Feeder, timeout: float) -> bool:
    """Wait until ``name`` leads and has judged windows written after this call."""
    target = feeder.next_window + WINDOW

    def judged() -> bool:
        beat = heartbeat(settings, name)
        return beat.get("role") == "leader" and (beat.get("newest_window") or 0) >= target

    return wait_for(judged, timeout, interval=0.05)


def drop_history(settings) -> list[tuple[str, str, int]]:
    with clickhouse.connect(settings, "writer") as client:
        rows = store.read_history(client.execute, settings.clickhouse_database)
    return sorted((r["state"], r["delivery"], int(r["fencing_token"])) for r in rows if r["rule"] == DROP)


def start_both(settings) -> None:
    processes.start(registry.ALERTS, settings)  # first in the election: the leader
    processes.start(registry.ALERTS_2, settings)  # healthy while it stands by
    assert heartbeat(settings, "alerts-2")["role"] == "standby", heartbeat(settings, "alerts-2")


def both_running(settings, toml: str, receiver, feeder, tmp_path, monkeypatch) -> None:
    """Both services on ``toml``'s rules, paging ``receiver``: the first one leads and evaluates."""
    rules = tmp_path / "alerts.toml"
    rules.write_text(toml.replace("{url}", receiver.url))
    monkeypatch.setenv("GMV_ALERTS_CONFIG", str(rules))
    start_both(settings)
    assert leader_evaluating(settings, "alerts", feeder, 30), heartbeat(settings)


def test_kill_9_of_the_alert_leader_standby_takes_over_and_each_page_arrives_once(
        standby_settings, tmp_path, monkeypatch):
    settings = standby_settings
    with Receiver() as receiver, Feeder(settings) as feeder:
        try:
            both_running(settings, SLOW_RECEIVER_TOML, receiver, feeder, tmp_path, monkeypatch)
            feeder.rate = LOW
            assert receiver.wait(lambda got: len(drop_pages(receiver)) == 1, 30), drop_pages(receiver)
            (_, first_token), = drop_pages(receiver)
            assert wait_for(lambda: drop_history(settings) == [("firing", "delivered", first_token)], 10)

            # 1. kill -9 of the leader, the drop still on: the standby leads within seconds, pages nothing again
            kill_9(registry.ALERTS, settings)
            killed = time.monotonic()
            assert leader_evaluating(settings, "alerts-2", feeder, 30), heartbeat(settings, "alerts-2")
            takeover_s = time.monotonic() - killed
            assert heartbeat(settings, "alerts-2")["firing"] == [DROP]
            assert drop_pages(receiver) == [("firing", first_token)]
            processes.start(registry.ALERTS, settings)  # back, as the standby now
            assert heartbeat(settings, "alerts")["role"] == "standby"

            # 2. the recovery, held in flight by the receiver while its sender (alerts-2) is killed
            held = receiver.hold_next()
            feeder.rate = NORMAL
            assert receiver.wait(lambda got: len(drop_pages(receiver)) == 2, 30), drop_pages(receiver)
            kill_9(registry.ALERTS_2, settings)
            held.set()
            assert receiver.wait(lambda got: len(drop_pages(receiver)) == 3, 30), drop_pages(receiver)
            assert leader_evaluating(settings, "alerts", feeder, 30), heartbeat(settings)  # and nothing more
        finally:
            for part in (registry.ALERTS_2, registry.ALERTS):
                processes.stop(part, settings)
        assert feeder.error is None, feeder.error

    (fired, t1), (recovered, t2), (again, t3) = drop_pages(receiver)
    assert (fired, recovered, again) == ("firing", "resolved", "resolved") and t1 < t2 < t3  # each leader newer
    resolved_keys = [r.headers[EVENT_HEADER] for r in receiver.received if r.json()["rule"] == DROP][1:]
    assert resolved_keys[0] == resolved_keys[1]  # the redelivery carries the same key...
    assert drop_pages(receiver, receiver.unique()) == [("firing", t1), ("resolved", t2)]  # ...so acted on once
    assert receiver.fenced == []
    assert drop_history(settings) == [("firing", "delivered", t1), ("resolved", "delivered", t3)]
    assert takeover_s <= TAKEOVER_BOUND_S, takeover_s
    for name in ("alerts", "alerts-2"):
        assert "Traceback" not in processes.log_path(settings, name).read_text()
    print(f"\nalert leader kill -9: the standby evaluated as leader {takeover_s:.2f} s after the kill "
          f"(ZooKeeper session timeout {SESSION_TIMEOUT_S:g} s)")


def test_a_paused_leader_pages_nothing_after_its_session_ended(standby_settings, tmp_path, monkeypatch):
    settings = standby_settings
    with Receiver() as receiver, Feeder(settings) as feeder:
        try:
            both_running(settings, ALERTS_TOML, receiver, feeder, tmp_path, monkeypatch)
            paused = processes.state(registry.ALERTS, settings).pid
            os.killpg(paused, signal.SIGSTOP)
            try:
                assert leader_evaluating(settings, "alerts-2", feeder, 30), heartbeat(settings, "alerts-2")
                feeder.rate = LOW  # the drop starts while the old leader is paused...
                assert receiver.wait(lambda got: len(drop_pages(receiver)) == 1, 30), drop_pages(receiver)
            finally:  # ...and it continues while the drop still shows (its own rules would fire)
                os.killpg(paused, signal.SIGCONT)
            # the old leader, continued, finds its session ended: it stands by with a new candidate
            assert wait_for(lambda: heartbeat(settings, "alerts").get("role") == "standby", 20), heartbeat(settings)
            assert leader_evaluating(settings, "alerts-2", feeder, 30)
        finally:
            for part in (registry.ALERTS_2, registry.ALERTS):
                processes.stop(part, settings)
        assert feeder.error is None, feeder.error
    ((state, token),) = drop_pages(receiver)
    assert state == "firing" and token == receiver.newest_token  # sent by the standby that took over
    assert receiver.fenced == []  # it did not even try: its lease check came first
    log = processes.log_path(settings, "alerts").read_text()
    assert "standing by" in log and "Traceback" not in log

