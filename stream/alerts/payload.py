"""What a webhook receives: a JSON body, its HMAC-SHA256 signature, and a link to the dashboard.

Pure functions. The body is compact JSON (UTF-8) with the fields listed in :func:`payload`,
including ``text`` (what Slack-style receivers display). ``X-Signature`` is the hex
HMAC-SHA256 of the exact body bytes with the shared secret (``$GMV_WEBHOOK_SECRET``); a
receiver recomputes it over the raw body and compares in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from urllib.parse import urlencode

from stream.alerts import first_delivery as fd
from stream.alerts import milestones as ms
from stream.alerts.rules import FIRING, Alert
from stream.contract import FESTIVAL_TZ

SECRET_ENV = "GMV_WEBHOOK_SECRET"  # shared secret of the X-Signature header; never logged or stored
SIGNATURE_HEADER = "X-Signature"
EVENT_HEADER = "X-Gmv-Alert"  # rule/state/event_ms: the same on every retry, so receivers can dedupe
TOKEN_HEADER = "X-Gmv-Fencing-Token"  # the sending leader's lease number (stream.alerts.lease); rises with each leader
MILESTONE_HEADER = "X-Gmv-Milestone"  # the figure in fen: the same on every retry and restart
FIRST_DELIVERY_HEADER = "X-Gmv-First-Delivery"  # festival day (epoch s)/delivered ms: one per time announced
USER_AGENT = "gmv-alerts/1"
MINUTE = 60
UNITS = {"drop": "orders/s", "stall": "seconds since the newest rollup", "rejected": "% of messages rejected"}


def explore_link(dashboard_url: str, window_start: int, window_end: int) -> str:
    """The dashboard's explore view of the minutes around a window (``/explore?range=custom&from=
    2021-11-11T20:01&to=2021-11-11T20:03``, Shanghai time, as ``dashboard/explore_state.py`` reads it)."""
    start = window_start // MINUTE * MINUTE - MINUTE  # the minute before, to see the change
    end = max(-(-window_end // MINUTE) * MINUTE, start + 2 * MINUTE)
    query = urlencode([("range", "custom"), ("from", _minute(start)), ("to", _minute(end))], safe=":")
    return f"{dashboard_url.rstrip('/')}/explore?{query}"


def _minute(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).strftime("%Y-%m-%dT%H:%M")


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).isoformat()


def text(alert: Alert, link: str) -> str:
    """One line for chat (Slack mrkdwn: ``<url|label>``)."""
    icon = ":rotating_light:" if alert.state == FIRING else ":white_check_mark:"
    return (f"{icon} *[{alert.severity.upper()}] {alert.rule} {alert.state}*: {alert.message}. "
            f"<{link}|Open the dashboard>")


def payload(alert: Alert, dashboard_url: str) -> dict:
    """The JSON document POSTed for ``alert``."""
    link = explore_link(dashboard_url, alert.window_start, alert.window_end)
    return {
        "rule": alert.rule,
        "kind": alert.kind,
        "severity": alert.severity,
        "state": alert.state,
        "observed": round(alert.observed, 3),
        "baseline": round(alert.baseline, 3),
        "unit": UNITS.get(alert.kind, ""),
        "window_start": _iso(alert.window_start),
        "window_end": _iso(alert.window_end),
        "window_start_epoch": alert.window_start,
        "window_seconds": alert.window_seconds,
        "event_ms": alert.event_ms,
        "message": alert.message,
        "link": link,
        "text": text(alert, link),
    }


def encode(document: dict) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def signature(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of ``body`` with ``secret``: the ``X-Signature`` header."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return header is not None and hmac.compare_digest(signature(body, secret), header)


def headers(alert: Alert, body: bytes, secret: str | None) -> dict[str, str]:
    out = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
           EVENT_HEADER: f"{alert.rule}/{alert.state}/{alert.event_ms}"}
    if secret:
        out[SIGNATURE_HEADER] = signature(body, secret)
    return out


# -- milestones ---------------------------------------------------------------------------


def milestone_payload(record: ms.Record, dashboard_url: str) -> dict:
    """The JSON document POSTed when festival GMV passes a figure (once per figure)."""
    link = explore_link(dashboard_url, record.second, record.second + 1)
    message = ms.message(record)
    return {
        "rule": "milestone",  # rule, severity, state, message and text as in an alert's body, so a
        "kind": "milestone",  # receiver written for alerts takes a milestone too
        "severity": "info",
        "state": "passed",
        "figure_fen": record.figure_fen,
        "figure": ms.label(record.figure_fen),
        "second": _iso(record.second),
        "second_epoch": record.second,
        "gmv_fen": record.gmv_fen,
        "recorded_ms": record.recorded_ms,
        "message": message,
        "link": link,
        "text": f":tada: *GMV milestone {ms.label(record.figure_fen)}*: {message}. <{link}|Open the dashboard>",
    }


def milestone_headers(record: ms.Record, body: bytes, secret: str | None) -> dict[str, str]:
    out = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
           MILESTONE_HEADER: str(record.figure_fen),
           EVENT_HEADER: f"milestone/passed/{record.figure_fen}"}  # one per figure, ever: a receiver dedupes on it
    if secret:
        out[SIGNATURE_HEADER] = signature(body, secret)
    return out


# -- the first delivery of a festival day ---------------------------------------------------


def first_delivery_payload(record: fd.FirstDelivery, dashboard_url: str) -> dict:
    """The JSON document POSTed when a festival day's first delivery is found (state ``first``)
    or a late event moves it earlier (state ``moved``): of the time the record's latest
    announcement says."""
    delivered_ms, before = record.announced_delivered_ms, record.previous_delivered_ms
    second = delivered_ms // 1000
    link = explore_link(dashboard_url, second, second + 1)
    message = fd.message(record.day, delivered_ms, before)
    moved = bool(before)
    return {
        "rule": "first-delivery",  # rule, severity, state, message and text as in an alert's body
        "kind": "first_delivery",
        "severity": "info",
        "state": "moved" if moved else "first",
        "day": fd.day_label(record.day),
        "day_epoch": record.day,
        "delivered": datetime.fromtimestamp(delivered_ms / 1000, FESTIVAL_TZ).isoformat(timespec="milliseconds"),
        "delivered_ms": delivered_ms,
        "after_start": fd.after_start(delivered_ms, record.day),
        "seconds_after_start": max(0, second - record.day),
        "previous_delivered_ms": before,  # 0: the first announcement of the day
        "recorded_ms": record.recorded_ms,
        "message": message,
        "link": link,
        "text": f":package: *{'First delivery moved' if moved else 'First delivery'} {fd.day_label(record.day)}*: "
                f"{message}. <{link}|Open the dashboard>",
    }


def first_delivery_headers(record: fd.FirstDelivery, body: bytes, secret: str | None) -> dict[str, str]:
    key = f"{record.day}/{record.announced_delivered_ms}"  # one per time announced: a receiver dedupes on it
    state = "moved" if record.previous_delivered_ms else "first"
    out = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
           FIRST_DELIVERY_HEADER: key, EVENT_HEADER: f"first-delivery/{state}/{key}"}
    if secret:
        out[SIGNATURE_HEADER] = signature(body, secret)
    return out
