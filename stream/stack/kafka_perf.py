"""Kafka's own performance tools on the local broker: the raw produce and consume rates.

``ProducerPerformance`` and ``ConsumerPerformance`` (Maven artifact ``kafka-tools``, the jar set
``kafka-tools`` fetched by ``gmv setup``) are what Kafka's project uses to measure a broker. Every
throughput figure of the pipeline is quoted beside these two, measured in the same run, because
machines differ by 3x or more. Pure parsers of the tools' output, and a thin shell that runs them.
"""
from __future__ import annotations

import re
import subprocess
import uuid
from dataclasses import dataclass

from stream.errors import GmvError
from stream.settings import Settings
from stream.stack import jars, kafka_admin
from stream.stack.servers import java_binary

PRODUCER = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER = "org.apache.kafka.tools.ConsumerPerformance"
# "500000 records sent, 181422.3 records/sec (65.78 MB/sec), 310.1 ms avg latency, ..."
_PRODUCED = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)", re.MULTILINE)


@dataclass(frozen=True)
class Rate:
    """Messages per second and MB per second of one run of a tool."""

    messages: int
    per_second: float
    mb_per_second: float


def parse_producer(output: str) -> Rate:
    """The summary line ProducerPerformance prints last (it also prints a line every 5 s)."""
    found = _PRODUCED.findall(output)
    if not found:
        raise ValueError(f"no 'records sent' summary in ProducerPerformance output: {output[-300:]!r}")
    sent, rate, mb = found[-1]
    return Rate(int(sent), float(rate), float(mb))


def parse_consumer(output: str) -> Rate:
    """ConsumerPerformance's CSV: a header with ``nMsg.sec`` and ``MB.sec``, then one row."""
    lines = [line for line in output.splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if "nMsg.sec" in line), None)
    if header_at is None or header_at + 1 >= len(lines):
        raise ValueError(f"no nMsg.sec table in ConsumerPerformance output: {output[-300:]!r}")
    names = [n.strip() for n in lines[header_at].split(",")]
    values = [v.strip() for v in lines[header_at + 1].split(",")]
    row = dict(zip(names, values))
    return Rate(int(row["data.consumed.in.nMsg"]), float(row["nMsg.sec"]), float(row["MB.sec"]))


def _run(settings: Settings, main: str, args: list[str], timeout: float) -> str:
    classpath = ":".join(str(p) for p in jars.classpath(settings, "kafka-tools"))
    cmd = [java_binary(), "-Xmx512m", "-cp", classpath, main, *args]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GmvError(f"{main.rsplit('.', 1)[-1]} did not finish within {timeout:.0f} s; is Kafka at "
                       f"{settings.kafka_bootstrap} up (`gmv status`)?") from None
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise GmvError(f"{main.rsplit('.', 1)[-1]} failed (exit {result.returncode}): {last[0]}")
    return result.stdout


def produce(settings: Settings, topic: str, records: int, record_size: int = 380,
            timeout: float = 300.0) -> Rate:
    """Write ``records`` messages of ``record_size`` bytes to ``topic`` as fast as the broker takes
    them (acks=all, lz4, the simulator's producer settings)."""
    return parse_producer(_run(settings, PRODUCER, [
        "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={settings.kafka_bootstrap}",
        "acks=all", "compression.type=lz4", "linger.ms=20", "batch.size=524288",
    ], timeout))


def consume(settings: Settings, topic: str, messages: int, timeout: float = 300.0) -> Rate:
    """Read ``messages`` messages of ``topic`` from its beginning with a new consumer group."""
    return parse_consumer(_run(settings, CONSUMER, [
        "--bootstrap-server", settings.kafka_bootstrap, "--topic", topic, "--messages", str(messages),
        "--timeout", str(int(timeout * 1000)),
    ], timeout + 30))


def measure(settings: Settings, records: int, record_size: int = 380, runs: int = 1) -> tuple[list[Rate], list[Rate]]:
    """Produce, then consume, ``records`` messages on a scratch topic of their own, ``runs`` times:
    the rates of each run (the topic is deleted afterwards)."""
    produced, consumed = [], []
    for _ in range(runs):
        topic = f"{settings.topic_prefix}bench-baseline-{uuid.uuid4().hex[:8]}"
        kafka_admin.create_topics(settings, (topic,))
        try:
            produced.append(produce(settings, topic, records, record_size))
            consumed.append(consume(settings, topic, records))
        finally:
            kafka_admin.delete_topics(settings, (topic,))
    return produced, consumed
