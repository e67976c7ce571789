"""Kafka administration with kafka-python: readiness, topic creation, consumer lag."""
from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from stream.errors import GmvError
from stream.probes import wait_for
from stream.settings import Settings


def admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="gmv-admin",
        request_timeout_ms=5000,
    )


def cluster_ready(settings: Settings) -> bool:
    """True once the broker answers metadata requests (not just accepts TCP)."""
    client = admin(settings)
    try:
        return bool(client.describe_cluster().get("brokers"))
    finally:
        client.close()


def whole_cluster_ready(settings: Settings) -> bool:
    """True once every one of the settings' brokers has joined the cluster."""
    client = admin(settings)
    try:
        return len(client.describe_cluster().get("brokers") or ()) >= settings.kafka_brokers
    finally:
        client.close()


# The raw topics (orders, logistics) take messages up to this size, above Kafka's default of
# 1 MiB: an oversized message must reach the job to be counted and rejected (too_large, over
# stream.job.rollup_sql.MAX_MESSAGE_BYTES) rather than be refused to its producer unseen.
RAW_TOPIC_MAX_BYTES = 2 * 1024 * 1024


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    """A topic's settings: ``min.insync.replicas`` one less than the replicas (at least 1), and
    for the raw topics the message size."""
    configs = {"min.insync.replicas": str(settings.kafka_min_insync)}
    if name in (settings.orders_topic, settings.logistics_topic):
        configs["max.message.bytes"] = str(RAW_TOPIC_MAX_BYTES)
    return configs


def create_topics(settings: Settings, names: tuple[str, ...] | None = None) -> None:
    """Create the pipeline's topics if missing, with ``settings.kafka_partitions`` partitions,
    ``settings.kafka_replicas`` replicas and :func:`topic_configs` (a topic that already exists
    is left as it is)."""
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        wanted = [n for n in (names or settings.topics) if n not in existing]
        if wanted:
            try:
                client.create_topics(
                    [NewTopic(n, settings.kafka_partitions, settings.kafka_replicas,
                              topic_configs=topic_configs(settings, n))
                     for n in wanted], timeout_ms=10000
                )
            except TopicAlreadyExistsError:
                pass
        # Creation is asynchronous: return only once every partition has a leader.
        if not wait_for(lambda: _all_partitions_led(client, names or settings.topics), 30):
            raise GmvError(f"kafka: topics {', '.join(wanted)} did not get partition leaders within 30 s.")
    finally:
        client.close()


def delete_topics(settings: Settings, names: tuple[str, ...]) -> None:
    """Delete topics (a bench's scratch topic); one that is already gone is fine."""
    client = admin(settings)
    try:
        client.delete_topics(list(names), timeout_ms=10000)
    except UnknownTopicOrPartitionError:
        pass
    finally:
        client.close()


def _all_partitions_led(client: KafkaAdminClient, names: tuple[str, ...]) -> bool:
    described = client.describe_topics(list(names))
    return all(t["partitions"] and all(p["leader_id"] >= 0 for p in t["partitions"]) for t in described)


def consumer_lag(settings: Settings, group: str, topics: tuple[str, ...]) -> int | None:
    """Messages behind the end of ``topics`` for consumer ``group``; None if it never committed."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        # Committed offsets first: the end offsets read after them can only be further on, so the
        # lag is never negative (read the other way round, a commit in between showed "-16").
        committed = [consumer.committed(tp) for tp in partitions]
        if all(c is None for c in committed):
            return None
        ends = consumer.end_offsets(partitions)
        return sum(ends[tp] - (c or 0) for tp, c in zip(partitions, committed))
    finally:
        consumer.close()


def end_offsets(settings: Settings, topics: tuple[str, ...]) -> dict[str, int]:
    """Messages written to each topic so far (the sum of its partitions' end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = consumer.end_offsets(partitions)
        return {t: sum(n for tp, n in ends.items() if tp.topic == t) for t in topics}
    finally:
        consumer.close()
