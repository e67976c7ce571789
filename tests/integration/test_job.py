"""The Flink job end to end: real Kafka, the real job on Flink's embedded cluster, real ClickHouse.

Each test simulates a seeded festival stream with duplicates, late and malformed events,
and waits (with a deadline) until `gmv verify` finds the rollups equal to the simulator's
ledger, to the fen.
"""
from __future__ import annotations

import json
import time

import pytest

from stream.contract import EXPLORE, ROLLUPS
from stream.job import verify
from stream.probes import wait_for
from stream.stack import clickhouse, migrations
from tests.support.stack import simulate, wait_exact

pytestmark = pytest.mark.slow

EVENTS = 200_000


def test_rollups_equal_the_ledger_with_duplicates_late_and_malformed_events(running_job, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulate(running_job, ledger)
    wait_exact(running_job, ledger)
    _, report = verify.verify(clickhouse.connect(running_job, "reader"), running_job.clickhouse_database, ledger)
    assert report["gmv_fen"] > 0 and sum(report["rejected"].values()) > 0
    # every tier of the explore path was closed by the run's last heartbeat, and compared
    assert {r.name for r in ROLLUPS.values() if r.path == EXPLORE} <= set(report["tiers"])


def test_every_migration_and_verify_query_runs_on_a_current_clickhouse():
    from tests.support.chdb_engine import ChdbClient

    client = ChdbClient()
    try:
        migrations.apply(client, "gmv_verify")
        assert verify.rollup_totals(client, "gmv_verify") == {}
        assert verify.rejected_totals(client, "gmv_verify") == {}
    finally:
        client.close()


def paid(event_id: str, consumer: str, event_ms: int, vip: bool = False) -> bytes:
    """A valid paid order event of ``consumer`` (schemas/order.schema.json)."""
    return json.dumps({
        "event_id": event_id, "event_time": event_ms, "order_id": event_id.split(":")[0], "consumer_id": consumer,
        "status": "paid", "brand": "Xiaomi", "category": "electronics", "province": "Zhejiang", "channel": "app",
        "vip": vip, "items": 1, "list_fen": 1000, "discount_fen": 0, "paid_fen": 1000, "promotion": "none",
        "wave": "wave2", "presale_phase": "none"}).encode()


def buyer_rows(settings) -> dict[tuple, int]:
    """Every buyers row (newest versions), zero rows too: {(table, second, vip): count}."""
    found = {}
    with clickhouse.connect(settings, "reader") as client:
        for rollup, column in (("buyers_second", "new_buyers"), ("buyers_minute", "buyers")):
            table = ROLLUPS[rollup].table
            for window, vip, n in client.execute(f"SELECT toUInt32(window_start) AS w, vip, sum({column}) FROM "
                                                 f"{settings.clickhouse_database}.{table} FINAL GROUP BY w, vip"):
                found[(rollup, window, vip)] = int(n)
    return found


def nonzero(rows: dict[tuple, int]) -> dict[tuple, int]:
    return {key: n for key, n in rows.items() if n}


def test_a_late_payment_moves_its_buyer_to_the_earlier_second(running_job):
    """Consumer a pays at T+10 s, then a late payment of a at T+5 s arrives: a is a new buyer of
    T+5 s, no longer of T+10 s (that row goes to 0, not left at 1). VIP b pays twice in the minute:
    one new buyer, one buyer of the minute. c pays at T+20 s on time."""
    from kafka import KafkaProducer

    minute = (int(time.time()) - 120) // 60 * 60
    t = minute * 1000
    producer = KafkaProducer(bootstrap_servers=running_job.kafka_bootstrap)
    send = lambda value: producer.send(running_job.orders_topic, value=value, partition=0)  # noqa: E731
    for value in (paid("a1:p", "a", t + 10_000), paid("b1:p", "b", t + 12_000, vip=True),
                  paid("b2:p", "b", t + 15_000, vip=True), paid("c1:p", "c", t + 20_000)):
        send(value)
    producer.flush()
    before = {("buyers_second", minute + 10, 0): 1, ("buyers_second", minute + 12, 1): 1,
              ("buyers_second", minute + 20, 0): 1, ("buyers_minute", minute, 0): 2, ("buyers_minute", minute, 1): 1}
    # compared without zero rows: under load the job was seen writing VIP b as new at T+15 s and
    # then taking it back (a row of 0: no buyer, as readers count it); the sums are what matter
    assert wait_for(lambda: nonzero(buyer_rows(running_job)) == before, 120), buyer_rows(running_job)
    send(paid("a2:p", "a", t + 5_000))  # late: 15 s behind its partition's newest event
    send(paid("a2:p", "a", t + 5_000))  # and redelivered
    producer.flush()
    producer.close()
    after = {**before, ("buyers_second", minute + 10, 0): 0, ("buyers_second", minute + 5, 0): 1}
    assert wait_for(lambda: nonzero(buyer_rows(running_job)) == nonzero(after), 120), buyer_rows(running_job)
    assert buyer_rows(running_job)[("buyers_second", minute + 10, 0)] == 0  # its row went to 0, not left at 1
