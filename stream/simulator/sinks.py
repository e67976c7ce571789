"""Where messages go: Kafka (the pipeline), stdout (JSON Lines), null (benchmarks), memory (tests).

A sink takes a batch as three parallel lists: topic index (0 orders, 1 logistics),
key bytes (the order id) and value bytes (the event's JSON, or a malformed message).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import BinaryIO

from stream.errors import GmvError
from stream.probes import port_answers
from stream.settings import Settings


class NullSink:
    """Drops messages (after they were made: benchmarks pay for producing every byte)."""

    def __init__(self) -> None:
        self.messages = 0

    def send(self, topics: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        self.messages += len(values)

    def close(self, timeout_s: float = 60.0) -> None:
        pass


class MemorySink:
    """Keeps every message as ``(topic, key, value)`` (tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, bytes, bytes]] = []

    def send(self, topics: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        self.messages.extend(zip(topics, keys, values))

    def close(self, timeout_s: float = 60.0) -> None:
        pass


class StdoutSink:
    """One message per line on a binary stream (stdout by default)."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdout.buffer
        self.bytes = 0

    def send(self, topics: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        if values:
            data = b"\n".join(values) + b"\n"
            self.bytes += len(data)
            try:
                self.stream.write(data)
            except BrokenPipeError:  # `gmv simulate --sink stdout | head` is fine
                raise GmvError("stdout was closed by the reader.") from None

    def close(self, timeout_s: float = 60.0) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            pass


def compression() -> str:
    """lz4 when its codec is installed, else gzip (always available)."""
    from kafka.codec import has_lz4

    return "lz4" if has_lz4() else "gzip"


def newest_event_ms(settings: Settings, timeout_s: float = 10.0) -> int | None:
    """The newest event time (epoch ms) among the last messages of the event topics' partitions
    (heartbeats count: they carry the event time reached), or None when the topics are empty."""
    import orjson
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                             request_timeout_ms=int(timeout_s * 1000) + 1000)
    try:
        consumer.topics()  # a metadata request: a fresh consumer knows no partitions before one
        parts = [TopicPartition(topic, p) for topic in (settings.orders_topic, settings.logistics_topic)
                 for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = {tp: end for tp, end in consumer.end_offsets(parts).items() if end > 0}
        if not ends:
            return None
        consumer.assign(list(ends))
        for tp, end in ends.items():
            consumer.seek(tp, end - 1)
        newest, waiting = None, set(ends)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                waiting.discard(tp)
                for record in records:
                    try:
                        event_ms = int(orjson.loads(record.value)["event_time"])
                    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                        continue  # a malformed message says nothing about time
                    newest = event_ms if newest is None else max(newest, event_ms)
        return newest
    finally:
        consumer.close()


class KafkaSink:
    """Batched, compressed, acks=all producer keyed by order id, to the settings' topics.

    Idempotent with retries: through a broker restart, messages wait in the producer's buffer and
    are sent again until acknowledged (up to ``DELIVERY_TIMEOUT_MS``), and the broker drops a
    retried copy it already has, so each message lands once. Every message's outcome is counted,
    so a run that ends with messages unacknowledged says how many.
    """

    DELIVERY_TIMEOUT_MS = 120_000

    def __init__(self, settings: Settings, linger_ms: int = 20, batch_size: int = 512 * 1024):
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.settings = settings
        self.topics = (settings.orders_topic, settings.logistics_topic)
        self.bytes = 0
        self.sent = self.acked = self.failed = 0
        self._error: BaseException | None = None
        if not any(port_answers(settings.kafka_broker_ports(b)[0], settings.kafka_host, timeout=2.0)
                   for b in range(settings.kafka_brokers)):  # fail fast, not in 30 s
            raise GmvError(f"cannot reach Kafka at {settings.kafka_bootstrap} (nothing listens there); start it "
                           "with `gmv up kafka` or point GMV_KAFKA_HOST/GMV_KAFKA_PORT at a broker.")
        try:
            self.producer = KafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap, client_id="gmv-simulator", acks="all",
                linger_ms=linger_ms, batch_size=batch_size, compression_type=compression(),
                max_block_ms=15_000, request_timeout_ms=15_000, bootstrap_timeout_ms=10_000,
                enable_idempotence=True, retries=2**31 - 1, delivery_timeout_ms=self.DELIVERY_TIMEOUT_MS,
                reconnect_backoff_max_ms=1000,  # back within a second of the broker (default: up to 30 s)
            )
        except KafkaError as exc:
            raise GmvError(f"cannot reach Kafka at {settings.kafka_bootstrap} ({type(exc).__name__}); "
                           "start it with `gmv up kafka` or point GMV_KAFKA_HOST/GMV_KAFKA_PORT at a broker.") from None
        self._check_topics()

    def _check_topics(self) -> None:
        from kafka.errors import KafkaError

        for topic in self.topics:
            try:
                found = self.producer.partitions_for(topic)
            except KafkaError:
                found = None
            if not found:
                self.producer.close(timeout=1)
                raise GmvError(f"topic {topic!r} does not exist at {self.settings.kafka_bootstrap}; "
                               "`gmv up kafka` creates the pipeline's topics.")

    def _failed(self, exc: BaseException) -> None:
        self.failed += 1
        self._error = self._error or exc

    def _acked(self, _metadata) -> None:
        self.acked += 1

    def send(self, topics: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        from kafka.errors import KafkaError

        if self._error is not None:
            self._raise()
        send, names, acked, failed = self.producer.send, self.topics, self._acked, self._failed
        try:
            for topic, key, value in zip(topics, keys, values):
                send(names[topic], value=value, key=key).add_callback(acked).add_errback(failed)
                self.sent += 1
        except KafkaError as exc:
            self._failed(exc)
            self._raise()
        self.bytes += sum(map(len, values))

    def heartbeat(self, event_ms: int) -> None:
        """Tell every partition of both topics that event time has reached ``event_ms``.

        The job's watermark is the slowest partition's; a quiet partition would hold every
        window open. A heartbeat is not an event: the job counts it nowhere.
        """
        value = b'{"heartbeat":true,"event_time":%d}' % event_ms
        for topic in self.topics:
            for partition in self.producer.partitions_for(topic) or ():
                self.producer.send(topic, value=value, partition=partition).add_errback(self._failed)

    def _raise(self) -> None:
        raise GmvError(f"sending to Kafka at {self.settings.kafka_bootstrap} failed "
                       f"({type(self._error).__name__}: {self._error}); is the broker up?")

    def close(self, timeout_s: float = 60.0) -> None:
        """Wait up to ``timeout_s`` until every message is acknowledged; if some are not, fail with
        one line that says how many (and that the ledger counts them)."""
        from kafka.errors import KafkaError

        try:
            self.producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            self._error = self._error or exc
        finally:
            try:  # messages still unacknowledged are given up on: they are counted below
                self.producer.close(timeout=0 if self.acked + self.failed < self.sent else 5)
            except KafkaError:
                pass
        unacknowledged = self.sent - self.acked
        if unacknowledged:
            cause = type(self._error).__name__ if self._error else "none"
            raise GmvError(f"{unacknowledged:,} of {self.sent:,} messages were not delivered to Kafka at "
                           f"{self.settings.kafka_bootstrap} ({self.failed:,} refused, the rest unacknowledged "
                           f"after {timeout_s:.0f} s; last error: {cause}); the ledger counts them, so "
                           "`gmv verify` will report them missing.")
