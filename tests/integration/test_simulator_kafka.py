"""Round trip through a real broker: simulate into Kafka, consume, compare with the ledger."""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict

import jsonschema
import pytest
from kafka import KafkaConsumer

from stream.contract import MEASURES
from stream.settings import SCHEMAS_DIR
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.faults import Faults
from stream.simulator.run import RunOptions, run
from stream.simulator.sinks import KafkaSink

pytestmark = pytest.mark.slow
EVENTS = 6000


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text()))


def consume_all(settings, expected: int, timeout: float = 60.0) -> list:
    """Every message of the run's two topics, polling until ``expected`` arrived or the deadline."""
    consumer = KafkaConsumer(settings.orders_topic, settings.logistics_topic,
                             bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None)
    records, deadline = [], time.monotonic() + timeout

    def complete() -> bool:  # every event, and the closing heartbeat on each partition of both topics
        beats = sum(r.value.startswith(b'{"heartbeat"') for r in records)
        return len(records) - beats >= expected and beats >= 2 * settings.kafka_partitions

    try:
        while not complete() and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def plain_totals(records, settings) -> dict:
    """Per-second order measures, logistics counts, malformed per topic: parse, validate, dedupe."""
    schemas = {settings.orders_topic: validator("order"), settings.logistics_topic: validator("logistics")}
    seen, seconds, parcels, bad = set(), defaultdict(lambda: [0] * 7), Counter(), Counter()
    heartbeats = Counter()
    for record in records:
        try:
            event = json.loads(record.value)
        except ValueError:
            event = None
        if isinstance(event, dict) and event.get("heartbeat") is True:
            heartbeats[record.topic] += 1  # watermark keep-alives, not events
            continue
        if not isinstance(event, dict) or not schemas[record.topic].is_valid(event):
            bad[record.topic] += 1
            continue
        assert record.key == event["order_id"].encode()  # keyed by order id
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        if record.topic == settings.logistics_topic:
            parcels[(event["event_time"] // 1000, event["status"])] += 1
            continue
        status, paid = event["status"], event["paid_fen"]
        row = seconds[event["event_time"] // 1000]
        for i, value in enumerate((status == "created", status == "paid" and event["presale_phase"] != "deposit",
                                   paid * (status == "paid"), status == "refunded", paid * (status == "refunded"),
                                   status == "cancelled", status == "paid" and event["presale_phase"] == "deposit")):
            row[i] += int(value)
    assert heartbeats[settings.orders_topic] >= settings.kafka_partitions  # at least the closing one
    return {"seconds": dict(seconds), "parcels": dict(parcels), "bad": bad}


def test_simulated_events_round_trip_through_kafka(kafka_settings, tmp_path):
    ledger_path = tmp_path / "ledger.jsonl"
    options = RunOptions(clock=ClockSpec("replay", local_ms(2021, 11, 11, 10), 600), rate=300, paced=False,
                         events=EVENTS, seed=9, faults=Faults(duplicates=0.05, malformed=0.03))
    stats = run(DEFAULT.replace(delay_compression=500.0), options, KafkaSink(kafka_settings), ledger_path)
    records = consume_all(kafka_settings, EVENTS)
    events = [r for r in records if not r.value.startswith(b"{\"heartbeat\"")]
    assert len(events) == EVENTS == stats.messages

    truth = plain_totals(records, kafka_settings)
    lines = [json.loads(line) for line in ledger_path.read_text().splitlines()]
    seconds = {r["window"]: [r[m] for m in MEASURES] for r in lines if r["kind"] == "orders_second"}
    parcels = {(r["window"], r["status"]): r["events"] for r in lines if r["kind"] == "logistics_second"}
    summary = lines[-1]
    assert seconds == truth["seconds"]
    assert parcels == truth["parcels"]
    assert summary["malformed_sent"] == {"orders": truth["bad"][kafka_settings.orders_topic],
                                         "logistics": truth["bad"][kafka_settings.logistics_topic]}
    assert summary["duplicates_sent"] > 0


def test_a_second_festival_clock_run_continues_after_the_first(kafka_settings):
    """`make run`'s clock: Nov 11 from 19:58; started again, it goes on after the newest event in
    the topics instead of sending the same evening twice."""
    import os
    import subprocess
    import sys

    from stream.simulator.sinks import newest_event_ms

    def festival_run() -> None:
        cmd = [sys.executable, "-m", "stream.cli", "simulate", "--clock", "festival", "--rate", "max",
               "--scale", "0.01", "--events", "3000", "--status-every", "0"]
        result = subprocess.run(cmd, env={**os.environ, **kafka_settings.to_env()}, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr

    assert newest_event_ms(kafka_settings) is None
    festival_run()
    first = [json.loads(r.value) for r in consume_all(kafka_settings, 3000)]
    first_times = [e["event_time"] for e in first if "heartbeat" not in e]
    newest_after_first = newest_event_ms(kafka_settings)
    assert newest_after_first is not None and newest_after_first >= max(first_times)
    festival_run()
    both = [json.loads(r.value) for r in consume_all(kafka_settings, 6000)]
    first_ids = {e["event_id"] for e in first if "heartbeat" not in e}
    second = [e for e in both if "heartbeat" not in e and e["event_id"] not in first_ids]
    assert len(second) == 3000  # no event id of the first run again
    assert min(e["event_time"] for e in second) > newest_after_first
