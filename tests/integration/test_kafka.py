import json

import pytest
from kafka import KafkaConsumer, KafkaProducer

from stream.probes import wait_for
from stream.stack import kafka_admin

pytestmark = pytest.mark.slow


def test_topics_exist_with_the_configured_partitions(kafka_settings):
    admin = kafka_admin.admin(kafka_settings)
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(kafka_settings.topics))}
    finally:
        admin.close()
    assert set(described) == set(kafka_settings.topics)
    for topic in described.values():
        assert len(topic["partitions"]) == kafka_settings.kafka_partitions


def test_produce_and_consume_round_trip(kafka_settings):
    producer = KafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap, acks="all")
    sent = [{"event_id": f"e{i}", "order_id": f"o{i % 7}", "paid_fen": i * 101} for i in range(500)]
    for event in sent:
        producer.send(kafka_settings.orders_topic, key=event["order_id"].encode(),
                      value=json.dumps(event).encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(kafka_settings.orders_topic, bootstrap_servers=kafka_settings.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    received = []
    wait_for(lambda: received.extend(consumer) or len(received) >= len(sent), timeout=30)
    consumer.close()
    assert sorted((json.loads(m.value)["event_id"] for m in received), key=lambda e: int(e[1:])) == \
        [e["event_id"] for e in sent]
    assert sum(json.loads(m.value)["paid_fen"] for m in received) == sum(i * 101 for i in range(500))
    # keyed by order id: one order's events share a partition
    partitions: dict[bytes, set[int]] = {}
    for message in received:
        partitions.setdefault(message.key, set()).add(message.partition)
    assert all(len(p) == 1 for p in partitions.values())


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(tmp_path, monkeypatch):
    # urlsafe base64 of a first byte 0xF8 starts with "-": once a 1-in-64 flake of every fresh start.
    import uuid

    from stream import registry
    from tests.support.stack import fresh_settings

    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(bytes=b"\xf8" + bytes(15)))
    settings = fresh_settings(tmp_path)
    registry.KAFKA.prepare(settings)
    meta = (settings.home / "data" / "kafka" / "meta.properties").read_text()
    assert "cluster.id=-" in meta
