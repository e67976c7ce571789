"""Parsing the summaries of Kafka's own performance tools (their real output shapes)."""
import pytest

from stream.stack import kafka_perf

PRODUCER_OUTPUT = """\
540214 records sent, 108042.8 records/sec (39.15 MB/sec), 190.2 ms avg latency, 531.0 ms max latency.
1000000 records sent, 112570.4 records/sec (40.80 MB/sec), 178.11 ms avg latency, 531.00 ms max latency, \
160 ms 50th, 390 ms 95th, 480 ms 99th, 521 ms 99.9th.
"""
CONSUMER_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-27 01:57:01:123, 2026-11-27 01:57:02:070, 108.7341, 114.8035, 300000, 316789.8627, 302, 645, 168.5800, \
465116.2791
"""


def test_the_producer_summary_is_the_last_records_sent_line():
    assert kafka_perf.parse_producer(PRODUCER_OUTPUT) == kafka_perf.Rate(1_000_000, 112570.4, 40.80)


def test_the_consumer_table_gives_messages_and_megabytes_per_second():
    assert kafka_perf.parse_consumer(CONSUMER_OUTPUT) == kafka_perf.Rate(300_000, 316789.8627, 114.8035)


@pytest.mark.parametrize("parse", [kafka_perf.parse_producer, kafka_perf.parse_consumer])
def test_output_without_a_summary_is_refused(parse):
    with pytest.raises(ValueError, match="output"):
        parse("WARN something went wrong\n")
