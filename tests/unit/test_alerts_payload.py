"""The webhook body, its signature and its dashboard link (pure); the retry schedule."""
from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import pytest

from dashboard import explore_state
from stream.alerts import payload as p
from stream.alerts.config import Webhook
from stream.alerts.delivery import backoff
from stream.alerts.rules import Alert

T = 1_636_632_090  # 2021-11-11 20:01:30 CST
DROP = Alert("throughput-drop", "drop", "critical", "firing", 12.345678, 45.6, T, 60,
             "orders/s fell to 12.3, 27% of last year's same 60 s x today's ratio 1.26 45.6", 1_700_000_000_123)


def test_the_payload_has_what_a_pager_needs():
    doc = p.payload(DROP, "http://wall.example:8050/")
    assert {k: doc[k] for k in ("rule", "kind", "severity", "state", "observed", "baseline", "window_seconds",
                                "event_ms", "unit")} == {
        "rule": "throughput-drop", "kind": "drop", "severity": "critical", "state": "firing", "observed": 12.346,
        "baseline": 45.6, "window_seconds": 60, "event_ms": 1_700_000_000_123, "unit": "orders/s"}
    assert (doc["window_start"], doc["window_end"]) == ("2021-11-11T20:01:30+08:00", "2021-11-11T20:02:30+08:00")
    assert doc["text"].startswith(":rotating_light: *[CRITICAL] throughput-drop firing*: orders/s fell to 12.3")
    assert f"<{doc['link']}|Open the dashboard>" in doc["text"]


def test_the_link_opens_the_minutes_around_the_window_in_explore():
    link = urlsplit(p.explore_link("http://wall.example:8050/", T, T + 60))
    assert (link.netloc, link.path) == ("wall.example:8050", "/explore")
    state, notes = explore_state.parse("?" + link.query)
    assert notes == [] and (state.range, state.start, state.end) == ("custom", "2021-11-11T20:00", "2021-11-11T20:03")
    # a one-second window (a stall) still opens a two-minute view
    state, _ = explore_state.parse("?" + urlsplit(p.explore_link("http://x", T - 60, T - 59)).query)
    assert (state.start, state.end) == ("2021-11-11T19:59", "2021-11-11T20:01")


def test_the_signature_is_the_hmac_of_the_exact_body():
    body = p.encode(p.payload(DROP, "http://x"))
    headers = p.headers(DROP, body, "s3cret")
    assert headers["X-Signature"] == hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert p.verify(body, "s3cret", headers["X-Signature"])
    assert not p.verify(body + b" ", "s3cret", headers["X-Signature"])
    assert not p.verify(body, "other", headers["X-Signature"]) and not p.verify(body, "s3cret", None)
    assert "X-Signature" not in p.headers(DROP, body, None)  # no secret: unsigned
    assert headers["X-Gmv-Alert"] == "throughput-drop/firing/1700000000123"
    assert json.loads(body) == p.payload(DROP, "http://x") and body == p.encode(json.loads(body))


@pytest.mark.parametrize("attempt, seconds", [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0)])
def test_backoff_doubles_up_to_its_cap(attempt, seconds):
    assert backoff(Webhook(name="ops", url="http://x", backoff_seconds=1, max_backoff_seconds=30), attempt) == seconds
