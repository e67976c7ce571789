"""A loader lane whose consumer silently stops getting records reconnects by itself.

kafka-python's poll() can swallow fetch failures and return nothing for ever (seen once in a
fresh `make test`: fetches timed out every 30 s and the lane loaded nothing). The fault cannot be
provoked on purpose, so the first consumer's poll is made to return nothing; Kafka, ClickHouse
and the rollup message are real.
"""
from __future__ import annotations

import json
import threading

import pytest
from kafka import KafkaProducer

from stream.job import loader
from stream.probes import wait_for
from stream.stack import clickhouse

pytestmark = pytest.mark.slow

WINDOW = 1636560000  # 2021-11-11 00:00 China time


def test_a_lane_that_polls_nothing_while_messages_wait_reconnects_and_loads_them(
        pipeline_settings, monkeypatch, caplog):
    value = {"window_start": WINDOW, "late": 0, "orders_created": 3, "orders_paid": 2, "gmv_fen": 12345,
             "refunds": 0, "refund_fen": 0, "cancellations": 0, "deposits_paid": 0}
    producer = KafkaProducer(bootstrap_servers=pipeline_settings.kafka_bootstrap)
    producer.send(pipeline_settings.rollup_topics["orders_second"], key=b"k", value=json.dumps(value).encode())
    producer.flush(10)
    producer.close()

    monkeypatch.setattr(loader, "STALL_CHECK_S", 2.0)
    real_init, consumers = loader.Loader.__init__, []

    def init_with_a_deaf_first_consumer(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        consumers.append(self.consumer)
        if len(consumers) == 1:
            self.consumer.poll = lambda timeout_ms=0, **_: {}

    monkeypatch.setattr(loader.Loader, "__init__", init_with_a_deaf_first_consumer)
    stop = threading.Event()
    lane = threading.Thread(target=loader._lane, args=(pipeline_settings, stop, ("orders_second",)), daemon=True)
    caplog.set_level("WARNING", logger="gmv.loader")
    lane.start()

    def loaded() -> list:
        with clickhouse.connect(pipeline_settings, "reader") as client:
            return client.execute(f"SELECT orders_paid, gmv_fen FROM {pipeline_settings.clickhouse_database}"
                                  ".orders_per_second FINAL")
    try:
        assert wait_for(lambda: loaded() == [(2, 12345)], timeout=30), "the stalled lane never loaded the row"
    finally:
        stop.set()
        lane.join(10)
    assert len(consumers) == 2
    assert any("LaneStalled" in r.getMessage() and "1 messages wait" in r.getMessage() for r in caplog.records)
