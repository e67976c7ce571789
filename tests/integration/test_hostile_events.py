"""Hostile and odd messages through the real pipeline: Kafka -> the Flink job -> ClickHouse, and the
alert service with a real webhook receiver. One job start, to keep the suite short:

1. a few hundred valid orders (two of them from brands named ``<img src=x onerror=alert(1)>`` and
   ``花西子🌸``) and, among them, one of each hostile message of the README's table ("Hostile and
   odd input"): 1 MiB, nested 30,000 deep, not UTF-8, numbers past 2^63, NaN and Infinity, a field
   given twice, an event time of 1970, of 2100 and one eight days behind its partition. Each
   hostile message is in the rejected topic with its reason (the oversized one cut to 64 KiB, the
   bytes of the one that is not UTF-8 kept exactly); the valid orders' totals, the odd brands'
   too, are exact to the fen against a count made here; every message is counted as received;
2. then 10 s in which every message is malformed: the rejected-spike rule pages, signed, to the
   receiver (and had not paged before, on the few hostile messages alone);
3. and the Flink job is still RUNNING, with no exception in its history (never failed, never
   restarted).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import urllib.request

import pytest
from kafka import KafkaConsumer, KafkaProducer

from stream.alerts.config import parse
from stream.alerts.receiver import Receiver
from stream.alerts.service import AlertService
from stream.contract import MEASURES
from stream.job import rollup_sql
from stream.probes import wait_for
from stream.simulator.sinks import KafkaSink
from stream.stack import clickhouse
from tests.support.stack import pipeline_diagnosis

pytestmark = pytest.mark.slow

SECRET = "hostile-test-secret"
VALID = 400
TAG, CHINESE = "<img src=x onerror=alert(1)>", "花西子🌸"
BURST_S, BURST_RATE = 10, 60  # 10 s of nothing but malformed messages, 60 a second
STATUSES = ("created", "paid", "cancelled", "refunded")
MIB = 1024 * 1024


def order(i: int, now_ms: int, rng: random.Random, brand: str | None = None) -> dict:
    status = STATUSES[i % 4]
    list_fen = rng.randrange(100, 500_000)
    discount = rng.randrange(0, list_fen // 3)
    return {
        "event_id": f"h{i}:{status[0]}", "event_time": now_ms - rng.randrange(0, 3000), "order_id": f"h{i}",
        "consumer_id": f"c{i}", "status": status, "brand": brand or f"Brand {i % 7}", "category": "Beauty",
        "province": "Zhejiang", "channel": "app", "vip": False, "items": 1, "list_fen": list_fen,
        "discount_fen": discount, "paid_fen": list_fen - discount if status in ("paid", "refunded") else 0,
        "promotion": "none", "wave": "wave2", "presale_phase": "none",
    }


def encoded(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def raw(event: dict, old: str, new: str) -> bytes:
    """The event's JSON with one piece of text replaced (what no JSON library would write)."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    assert text.count(old) == 1, (text, old)
    return text.replace(old, new).encode()


def hostile(now_ms: int, rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(what, message, expected reason): one of each row of the README's table that is rejected."""
    base = order(9_000, now_ms, rng)
    base.update(status="paid", paid_fen=base["list_fen"] - base["discount_fen"])
    huge = dict(base, event_id="big", padding="")
    huge["padding"] = "x" * (MIB - len(encoded(huge)))
    deep = encoded(dict(base, event_id="deep"))[:-1] + b',"nested":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    paid = f'"paid_fen":{base["paid_fen"]}'
    cases = [
        ("1 MiB", encoded(huge), "too_large"),
        ("nested 30,000 deep", deep, "too_deep"),
        ("not UTF-8", encoded(dict(base, event_id="utf", brand="Brand X")).replace(b"Brand X", b"Brand \xff"),
         "bad_encoding"),
        ("an amount past 2^63", raw(dict(base, event_id="big-amount"), paid, '"paid_fen":18446744073709551616'),
         "bad_number"),
        ("an event time past 2^63", raw(dict(base, event_id="big-time"), f'"event_time":{base["event_time"]}',
                                        '"event_time":99999999999999999999'), "bad_number"),
        ("NaN", raw(dict(base, event_id="nan"), paid, '"paid_fen":NaN'), "not_json"),
        ("Infinity", raw(dict(base, event_id="inf"), paid, '"paid_fen":Infinity'), "not_json"),
        ("a field twice", raw(dict(base, event_id="twice"), paid, f'"paid_fen":1,{paid}'), "duplicate_field"),
        ("1970", encoded(dict(base, event_id="1970", event_time=1000)), "event_time_too_old"),
        ("2100", encoded(dict(base, event_id="2100", event_time=4_102_444_800_000)), "event_time_in_future"),
        ("eight days old", encoded(dict(base, event_id="old", event_time=now_ms - 8 * 86_400_000)),
         "event_time_too_old"),
    ]
    assert len(cases[0][1]) == MIB
    assert len(cases[1][1]) < rollup_sql.MAX_MESSAGE_BYTES
    return cases


def expected_totals(events: list[dict]) -> dict[str, int]:
    """The measures over the valid orders, counted here (README, the ledger's definitions)."""
    totals = dict.fromkeys(MEASURES, 0)
    for e in events:
        totals["orders_created"] += e["status"] == "created"
        totals["orders_paid"] += e["status"] == "paid" and e["presale_phase"] != "deposit"
        totals["gmv_fen"] += e["paid_fen"] if e["status"] == "paid" else 0
        totals["refunds"] += e["status"] == "refunded"
        totals["refund_fen"] += e["paid_fen"] if e["status"] == "refunded" else 0
        totals["cancellations"] += e["status"] == "cancelled"
        totals["deposits_paid"] += e["status"] == "paid" and e["presale_phase"] == "deposit"
    return totals


def clickhouse_totals(settings, brand: str | None = None) -> dict[str, int]:
    """The measures over all windows (late rows added in, newest versions): of every order
    from orders_per_second, or of one brand from its row of the day's live top brands (the test
    sends nine brands, so each is ranked)."""
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    table, where = ("top_brands_per_day", "WHERE ranking = '' AND brand = %(brand)s") if brand else \
        ("orders_per_second", "")
    try:
        with clickhouse.connect(settings, "reader") as client:
            row = client.execute(f"SELECT {sums} FROM {settings.clickhouse_database}.{table} FINAL {where}",
                                 {"brand": brand})[0]
    except Exception:  # noqa: BLE001 - not there yet
        return {}
    return {m: int(v or 0) for m, v in zip(MEASURES, row)}


def pipeline_counts(settings) -> dict[tuple[str, str], int]:
    with clickhouse.connect(settings, "reader") as client:
        rows = client.execute(f"SELECT kind, reason, sum(events) FROM {settings.clickhouse_database}."
                              "pipeline_events_per_minute FINAL WHERE source = 'orders' GROUP BY kind, reason")
    return {(kind, reason): int(n) for kind, reason, n in rows}


def rejected_records(settings, want: int, timeout: float = 120) -> dict[tuple[int, int], dict]:
    """The rejected topic's records by (partition, offset) of the message they are about."""
    consumer = KafkaConsumer(settings.rejected_topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    found: dict[tuple[int, int], dict] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < want and time.monotonic() < deadline:
            for message in consumer:
                record = json.loads(message.value)
                found[(record["kafka_partition"], record["kafka_offset"])] = record
    finally:
        consumer.close()
    return found


def flink(settings, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.flink_port}{path}", timeout=5) as resp:
        return json.load(resp)


def alerts_config(url: str):
    return parse({
        "service": {"interval_seconds": 1.0},
        "rules": [{"name": "rejected-spike", "kind": "rejected", "window_minutes": 2, "above_percent": 20,
                   "recover_percent": 10, "min_rejected": 100, "cooldown_seconds": 1}],
        "webhooks": [{"name": "test", "url": url, "attempts": 3, "backoff_seconds": 0.2}],
    })


def test_hostile_messages_are_rejected_with_their_reason_and_the_pipeline_goes_on(running_job):
    settings = running_job
    rng = random.Random(12)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", compression_type=None,
                             max_request_size=4 * MIB, linger_ms=5)
    sent: dict[tuple[int, int], tuple[str, bytes, str]] = {}

    def send(value: bytes, key: bytes, partition: int | None = None, what: str = "", reason: str = "") -> None:
        meta = producer.send(settings.orders_topic, value=value, key=key, partition=partition).get(timeout=30)
        if reason:
            sent[(meta.partition, meta.offset)] = (what, value, reason)

    with Receiver() as receiver:
        service = AlertService(alerts_config(receiver.url), settings, secret=SECRET)
        stop = threading.Event()
        loop = threading.Thread(target=service.run_forever, args=(stop,), daemon=True)
        loop.start()
        try:
            # 1. valid orders, the hostile messages among them (all in partition 0, after valid ones)
            now_ms = int(time.time() * 1000)
            valid = [order(i, now_ms, rng, brand={9: TAG, 13: CHINESE, 14: TAG}.get(i)) for i in range(VALID)]
            cases = hostile(now_ms, rng)
            for i, event in enumerate(valid):
                send(encoded(event), event["order_id"].encode(), partition=i % 4)
                if i % 30 == 29 and cases:
                    what, message, reason = cases.pop(0)
                    send(message, b"hostile", partition=0, what=what, reason=reason)
            assert not cases, "every hostile message sent between valid ones"
            producer.flush()
            # a producer's heartbeat moves event time past the orders: their seconds' windows close
            beat = KafkaSink(settings)
            beat.heartbeat(now_ms + 2000)
            beat.close()
            records = rejected_records(settings, len(sent))
            truth = expected_totals(valid)
            assert wait_for(lambda: clickhouse_totals(settings) == truth, 120), \
                f"{clickhouse_totals(settings)} != {truth}\n{pipeline_diagnosis(settings)}"
            assert receiver.received == [], "paged before the burst"

            # 2. 10 s of nothing but malformed messages
            burst, began = 0, time.monotonic()
            while time.monotonic() - began < BURST_S:
                for _ in range(BURST_RATE // 10):
                    send(b"<html><body>503 Service Unavailable</body></html>", b"burst", partition=burst % 4)
                    burst += 1
                time.sleep(max(0.0, began + burst / BURST_RATE - time.monotonic()))
            producer.flush()
            assert receiver.wait(lambda got: [r.json()["rule"] for r in got] == ["rejected-spike"], 60), \
                f"no page: {[r.json() for r in receiver.received]}"
            paged = receiver.received[0]
            print(f"\npaged {paged.at - (time.time() - (time.monotonic() - began)):.1f} s after the burst began")
        finally:
            stop.set()
            loop.join(15)
            producer.close()

    # every hostile message is in the rejected topic, with its reason
    got = {key: (sent[key][0], records[key]["reason"]) for key in sent if key in records}
    assert got == {key: (what, reason) for key, (what, _, reason) in sent.items()}
    by_what = {sent[key][0]: records[key] for key in sent}
    big = by_what["1 MiB"]
    assert (big["truncated"], big["msg_chars"]) == (1, MIB) and len(big["msg"].encode()) == rollup_sql.MAX_MESSAGE_BYTES
    assert big["msg"].startswith('{"event_id":"big"')
    bad = by_what["not UTF-8"]
    assert base64.b64decode(bad["msg_base64"]) == next(v for w, v, _ in sent.values() if w == "not UTF-8")
    assert "\ufffd" in bad["msg"] and bad["truncated"] == 0
    assert all(r["msg"] for r in by_what.values())  # the text of each (the old one's too) is kept

    # counted: the valid orders exactly, the odd brands' rows too (live, in the top brands); every message received
    assert clickhouse_totals(settings) == truth
    for brand in (TAG, CHINESE):
        mine = [e for e in valid if e["brand"] == brand]
        assert expected_totals(mine)["gmv_fen"] > 0
        assert clickhouse_totals(settings, brand) == expected_totals(mine), brand
    counts: dict[tuple[str, str], int] = {}

    def all_counted() -> bool:  # the burst's last messages may still be on their way
        counts.clear()
        counts.update(pipeline_counts(settings))
        rejected = sum(n for (kind, _), n in counts.items() if kind == "rejected")
        return counts.get(("received", "")) == VALID + len(sent) + burst and rejected == len(sent) + burst

    assert wait_for(all_counted, 60), counts
    assert counts[("rejected", "not_json")] == 2 + burst

    # the page: the burst, signed
    body = paged.json()
    assert body["state"] == "firing" and body["kind"] == "rejected" and body["observed"] > 20
    assert "not_json" in body["message"]
    assert hmac.compare_digest(paged.headers["X-Signature"], hmac.new(SECRET.encode(), paged.body,
                                                                      hashlib.sha256).hexdigest())
    # and the job never stopped
    jobs = flink(settings, "/jobs/overview")["jobs"]
    assert [j["state"] for j in jobs] == ["RUNNING"], jobs
    history = flink(settings, f"/jobs/{jobs[0]['jid']}/exceptions")
    assert not history.get("exceptionHistory", {}).get("entries"), history
