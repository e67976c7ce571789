"""Webhook delivery and alert history against real servers: a real HTTP receiver on a local port (or a
port nobody listens on), the session's ClickHouse, the dashboard's /alerts page on the same rows."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest

from dashboard import explore_state
from dashboard import queries as q
from dashboard.db import Database
from dashboard.pages import Context
from dashboard.pages import alerts as alerts_page
from stream import probes, registry
from stream.alerts import store
from stream.alerts.config import DEFAULT_PATH, parse
from stream.alerts.receiver import Receiver
from stream.alerts.service import AlertService, heartbeat_path
from stream.probes import wait_for
from stream.stack import clickhouse, processes
from tests.support.stack import fresh_settings

# the columns these rows give (measures added later take their default, 0)
SECOND_COLUMNS = ("(window_start, late, orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations, "
                  "written_ms)")

pytestmark = pytest.mark.slow

SECRET = "s3cret-for-tests-7f2a"
TOKEN = "T000-B000-tokentokentoken"  # in the webhook's path: must not reach logs or ClickHouse
T0 = 1_636_560_000


def config(url: str, attempts: int = 3, **service):
    return parse({
        "service": {"dashboard_url": "http://wall.example:8050", **service},
        "rules": [{"name": "pipeline-stall", "kind": "stall", "severity": "critical", "stale_seconds": 5,
                   "cooldown_seconds": 0}],
        "webhooks": [{"name": "ops", "url": url, "attempts": attempts, "backoff_seconds": 0.05,
                      "timeout_seconds": 2}],
    })


def stale_rollups(settings, age_s: float = 60) -> None:
    """One orders_per_second row written ``age_s`` ago: the stall rule fires on the first evaluation."""
    written = int((time.time() - age_s) * 1000)
    row = (datetime.fromtimestamp(T0, tz=timezone.utc).replace(tzinfo=None), 0, 5, 4, 500, 0, 0, 0, written)
    with clickhouse.connect(settings, "writer") as client:
        client.execute(f"INSERT INTO {settings.clickhouse_database}.orders_per_second {SECOND_COLUMNS} VALUES",
                       [row])


def history(settings) -> list[dict]:
    with clickhouse.connect(settings, "writer") as client:
        return store.read_history(client.execute, settings.clickhouse_database)


def wait_delivery(settings, timeout: float = 20) -> dict:
    rows: list[dict] = []

    def settled() -> bool:
        rows[:] = history(settings)
        return bool(rows) and rows[0]["delivery"] not in ("pending",)

    assert wait_for(settled, timeout), f"still pending: {rows}"
    return rows[0]


@pytest.fixture
def service_factory(clickhouse_settings):
    made = []

    def make(cfg, **kwargs):
        # watch_from_ms=0: judge the stale rows at once (the service's grace after a start is off)
        service = AlertService(cfg, clickhouse_settings, secret=SECRET, watch_from_ms=0, **kwargs)
        made.append(service)
        service.start()
        return service

    yield make
    for service in made:
        service.close()


def test_a_receiver_that_is_down_gets_retries_and_the_failure_is_logged_and_stored(
        clickhouse_settings, service_factory, caplog):
    caplog.set_level(logging.INFO)
    url = f"http://127.0.0.1:{probes.free_port()}/services/{TOKEN}"  # nobody listens there
    stale_rollups(clickhouse_settings)
    service = service_factory(config(url, attempts=3))
    (alert,) = service.step()
    assert alert.state == "firing"
    row = wait_delivery(clickhouse_settings)
    assert (row["rule"], row["state"], row["delivery"], row["attempts"]) == ("pipeline-stall", "firing", "failed", 3)
    log = caplog.text
    assert "attempt 1/3 failed (connection refused); retrying in 0.1 s" in log
    assert "attempt 2/3 failed" in log and "FAILED after 3 attempts (connection refused)" in log
    assert "webhook ops (http://127.0.0.1:" in log
    assert_no_secrets(clickhouse_settings, log)


def test_retries_until_the_receiver_answers_then_the_signature_verifies(clickhouse_settings, service_factory,
                                                                        caplog):
    caplog.set_level(logging.INFO)
    stale_rollups(clickhouse_settings)
    with Receiver(statuses=[503, 429, 200]) as receiver:
        service = service_factory(config(receiver.url + "/" + TOKEN, attempts=4))
        (alert,) = service.step()
        row = wait_delivery(clickhouse_settings)
        assert (row["delivery"], row["attempts"]) == ("delivered", 3)
        assert receiver.answered == [503, 429, 200]
        (got,) = receiver.received
    # the receiver recomputes the HMAC-SHA256 of the raw body with the shared secret
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Signature"], expected)
    assert got.headers["X-Gmv-Alert"] == f"pipeline-stall/firing/{alert.event_ms}"
    body = json.loads(got.body)
    assert {k: body[k] for k in ("rule", "kind", "severity", "state", "window_seconds", "window_start_epoch")} == {
        "rule": "pipeline-stall", "kind": "stall", "severity": "critical", "state": "firing",
        "window_seconds": 1, "window_start_epoch": T0}
    assert body["observed"] >= 60 and body["baseline"] == 5
    assert body["window_start"] == "2021-11-11T00:00:00+08:00"
    assert "no new rollup" in body["text"] and body["link"] in body["text"]
    link = urlsplit(body["link"])
    assert (link.scheme, link.netloc, link.path) == ("http", "wall.example:8050", "/explore")
    state, notes = explore_state.parse("?" + link.query)  # the dashboard reads the link as a custom range
    assert notes == [] and (state.range, state.start, state.end) == ("custom", "2021-11-10T23:59", "2021-11-11T00:01")
    assert "retrying in 0.1 s" in caplog.text and "delivered (HTTP 200, attempt 3/4" in caplog.text
    assert_no_secrets(clickhouse_settings, caplog.text)


def test_a_refusal_that_retrying_cannot_fix_fails_at_once(clickhouse_settings, service_factory):
    stale_rollups(clickhouse_settings)
    with Receiver(statuses=[404]) as receiver:
        service_factory(config(receiver.url, attempts=5)).step()
        row = wait_delivery(clickhouse_settings)
    assert (row["delivery"], row["attempts"]) == ("failed", 1)


def test_a_restart_keeps_the_firing_alert_and_delivers_what_was_pending(clickhouse_settings, service_factory):
    stale_rollups(clickhouse_settings)
    down = f"http://127.0.0.1:{probes.free_port()}/hook"
    first = service_factory(config(down, attempts=20))  # long backoff ahead: stopped while pending
    (fired,) = first.step()
    assert wait_for(lambda: history(clickhouse_settings)[:1] and history(clickhouse_settings)[0]["delivery"]
                    == "pending", 10)
    first.close()
    with Receiver() as receiver:
        second = service_factory(config(receiver.url))
        assert receiver.wait(lambda got: len(got) == 1, 10), "the pending alert was not delivered again"
        assert second.states["pipeline-stall"].firing
        assert second.step() == []  # still stale, still firing: no second page
        row = wait_delivery(clickhouse_settings)
        assert (row["event_ms"], row["delivery"]) == (fired.event_ms, "delivered")
        stale_rollups(clickhouse_settings, age_s=0)
        (resolved,) = second.step()
        assert resolved.state == "resolved"
        assert receiver.wait(lambda got: [g.json()["state"] for g in got] == ["firing", "resolved"], 10)


def test_the_alerts_page_shows_the_history_and_the_default_rules(clickhouse_settings, service_factory):
    stale_rollups(clickhouse_settings)
    with Receiver() as receiver:
        service = service_factory(config(receiver.url))
        service.step()
        wait_delivery(clickhouse_settings)
        stale_rollups(clickhouse_settings, age_s=0)
        service.step()
        assert wait_for(lambda: [r["delivery"] for r in history(clickhouse_settings)] == ["delivered"] * 2, 10)
    database = Database(clickhouse_settings)  # as the dashboard reads: gmv_reader
    try:
        events = q.alert_events(database.run, clickhouse_settings.clickhouse_database)
    finally:
        database.close()
    assert [(e["rule"], e["state"], e["delivery"], e["attempts"]) for e in events] == [
        ("pipeline-stall", "resolved", "delivered", 1), ("pipeline-stall", "firing", "delivered", 1)]
    rows = alerts_page.history_rows(events)
    assert rows[1]["window"] == "11-11 00:00:00 +1 s" and rows[1]["state"] == "firing"
    assert alerts_page.firing_now(events) == []
    rules, note = alerts_page.load_rules(DEFAULT_PATH)  # the shipped config, as /alerts shows it
    assert note == "" and [(r["name"], r["kind"]) for r in rules] == [("throughput-drop", "drop"),
                                                                     ("pipeline-stall", "stall"),
                                                                     ("rejected-spike", "rejected")]
    layout = alerts_page.layout(Context(settings=clickhouse_settings, db=None, alerts_config=DEFAULT_PATH, state={}),
                                {})
    assert "throughput-drop" in json.dumps(layout.to_plotly_json(), default=str)


def test_gmv_up_starts_the_alerts_part_and_gmv_down_stops_it(clickhouse_settings, tmp_path, monkeypatch):
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rules]]\nname = "stall"\nkind = "stall"\nstale_seconds = 30\n')
    monkeypatch.setenv("GMV_ALERTS_CONFIG", str(rules))
    settings = clickhouse_settings.replace(home=tmp_path / "home", jars_dir=clickhouse_settings.jars_dir)
    state = processes.start(registry.ALERTS, settings)
    try:
        assert state.up and heartbeat_path(settings).exists()
        beat = json.loads(heartbeat_path(settings).read_text())
        assert beat["evaluations"] >= 1 and beat["firing"] == []
    finally:
        assert processes.stop(registry.ALERTS, settings)
    assert not processes.state(registry.ALERTS, settings).up
    log = processes.log_path(settings, "alerts").read_text()
    assert "alerts: 1 rules" in log and "Traceback" not in log


def assert_no_secrets(settings, log_text: str) -> None:
    assert SECRET not in log_text and TOKEN not in log_text
    with clickhouse.connect(settings, "writer") as client:
        dump = client.execute(f"SELECT * FROM {settings.clickhouse_database}.alert_events")
    assert dump and SECRET not in repr(dump) and TOKEN not in repr(dump)


def test_clickhouse_down_pages_a_stall_and_the_history_is_written_when_it_is_back(tmp_path):
    """A private ClickHouse, stopped under the service: the stall pages at once through the webhook,
    the history row waits in memory and lands when ClickHouse is back."""
    settings = fresh_settings(tmp_path / "home")
    processes.start(registry.CLICKHOUSE, settings)
    try:
        stale_rollups(settings, age_s=0)
        with Receiver() as receiver:
            cfg = config(receiver.url)
            service = AlertService(cfg, settings, secret=SECRET)
            service.start()
            try:
                assert service.step() == []  # fresh
                processes.stop(registry.CLICKHOUSE, settings)
                raised: list = []
                assert wait_for(lambda: bool(raised.extend(service.step()) or raised), 20, interval=0.5)
                assert raised[0].rule == "pipeline-stall" and "ClickHouse is not answering" in raised[0].message
                assert receiver.wait(lambda got: len(got) == 1, 10)
                assert wait_for(lambda: service.recorder.waiting == 2, 10)  # pending, then delivered: kept
                processes.start(registry.CLICKHOUSE, settings)
                service.step()
                assert service.recorder.waiting == 0
                (row,) = history(settings)
                assert (row["rule"], row["state"], row["delivery"]) == ("pipeline-stall", "firing", "delivered")
            finally:
                service.close()
    finally:
        processes.stop(registry.CLICKHOUSE, settings)


def milestone_config(url: str):
    return parse({
        "service": {"dashboard_url": "http://wall.example:8050", "margin_seconds": 0, "settle_seconds": 0},
        "webhooks": [{"name": "ops", "url": url, "attempts": 2, "backoff_seconds": 0.05, "timeout_seconds": 2}],
        "milestones": {"figures_fen": [50_000, 100_000, 10**12]},
    })


def gmv_seconds(settings, *rows: tuple[int, int, int]) -> None:
    """orders_per_second rows from (second, late, gmv_fen), written a second ago."""
    written = int(time.time() * 1000) - 1000
    values = [(datetime.fromtimestamp(s, tz=timezone.utc).replace(tzinfo=None), late, 1, 1, fen, 0, 0, 0, written)
              for s, late, fen in rows]
    with clickhouse.connect(settings, "writer") as client:
        client.execute(f"INSERT INTO {settings.clickhouse_database}.orders_per_second {SECOND_COLUMNS} VALUES",
                       values)


def test_each_milestone_is_announced_once_signed_not_again_when_it_moves_nor_after_a_restart(
        clickhouse_settings, service_factory):
    gmv_seconds(clickhouse_settings, *[(T0 + i, 0, 1_000) for i in range(120)])  # ¥500 in T0+49, ¥1,000 in T0+99
    db = clickhouse_settings.clickhouse_database
    with Receiver() as receiver:
        cfg = milestone_config(receiver.url)
        service = service_factory(cfg)
        service.step()
        assert receiver.wait(lambda got: len(got) == 2, 10), receiver.received
        with clickhouse.connect(clickhouse_settings, "writer") as client:
            assert wait_for(lambda: [r.announce for r in store.read_milestones(client.execute, db)]
                            == ["delivered", "delivered"], 10)
        first, second = receiver.received
        for got in (first, second):
            expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(got.headers["X-Signature"], expected)  # as the alerts are signed
        assert [g.headers["X-Gmv-Milestone"] for g in (first, second)] == ["50000", "100000"]
        body = first.json()
        assert {k: body[k] for k in ("kind", "figure", "figure_fen", "second_epoch", "gmv_fen")} == {
            "kind": "milestone", "figure": "¥500", "figure_fen": 50_000, "second_epoch": T0 + 49, "gmv_fen": 50_000}
        assert body["second"] == "2021-11-11T00:00:49+08:00" and "passed ¥500 at 11-11 00:00:49 CST" in body["text"]
        assert urlsplit(body["link"]).netloc == "wall.example:8050"

        # a late correction moves both milestones earlier: the table follows, nothing is announced again
        gmv_seconds(clickhouse_settings, (T0 + 5, 1, 20_000))
        service.step()
        with clickhouse.connect(clickhouse_settings, "writer") as client:
            moved = store.read_milestones(client.execute, db)
        assert [(r.second, r.first_second, r.announce) for r in moved] == [
            (T0 + 29, T0 + 49, "delivered"), (T0 + 79, T0 + 99, "delivered")]
        assert service.dispatcher.idle() and len(receiver.received) == 2
        service.close()

        # a restart reads the announcements back: still nothing sent again
        again = service_factory(cfg)
        again.step()
        again.step()
        assert again.dispatcher.idle() and len(receiver.received) == 2
        assert again.milestones.stored[100_000].second == T0 + 79
