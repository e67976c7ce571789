"""How fast the simulator produces events: null sink (generation + JSON bytes) and a real Kafka broker.

    .venv/bin/python bench/bench_simulator.py [--events N] [--kafka-events N] [--runs K] [--no-kafka]

The null sink measures the generator alone on one core (numpy + string formatting;
the sink touches every value's bytes). The Kafka figure starts a private single-node
broker with the project's own launcher (free ports, a temp folder, the shared jar
cache), produces with the kafka sink (lz4, acks=all, batched) and stops it again.
Each figure is the median of ``--runs`` runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream import probes, registry
from stream.settings import PROJECT_ROOT, load
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.run import RunOptions, run
from stream.simulator.sinks import KafkaSink, NullSink, compression
from stream.stack import kafka_admin, processes

# Nov 11 from 10:00, parcels compressed 24x as in a replay: a steady mix of order and
# logistics events (a run from midnight would be mostly order events: parcels come later).
CONFIG = DEFAULT.replace(scale=0.002, delay_compression=24.0)


def options(events: int, seed: int) -> RunOptions:
    return RunOptions(clock=ClockSpec("replay", local_ms(2021, 11, 11, 10), 3600), rate=None, paced=False,
                      events=events, seed=seed)


def measure(sink_factory, events: int, runs: int) -> list[dict]:
    out = []
    for seed in range(runs):
        sink = sink_factory()
        stats = run(CONFIG, options(events, seed), sink)
        out.append({"events/s": stats.messages / stats.seconds, "order events/s": stats.order_events / stats.seconds,
                    "MB/s": stats.bytes / stats.seconds / 1e6, "order share": stats.order_events / stats.messages})
    return out


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(name: str, rows: list[dict]) -> None:
    print(f"{name}: median of {len(rows)} runs: {median(rows, 'events/s'):,.0f} events/s "
          f"({median(rows, 'order events/s'):,.0f} order events/s, order share {median(rows, 'order share'):.0%}), "
          f"{median(rows, 'MB/s'):.1f} MB/s")


def private_broker(home: Path):
    ports = sorted({probes.free_port() for _ in range(6)})
    while len(ports) < 2:
        ports = sorted({probes.free_port() for _ in range(6)})
    settings = load(env={}, home=home, jars_dir=PROJECT_ROOT / "var" / "jars", kafka_port=ports[0],
                    kafka_controller_port=ports[1], start_timeout=120.0)
    processes.start(registry.KAFKA, settings)
    return settings


def kafka_rows(events: int, runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="gmv-bench-") as home:
        settings = private_broker(Path(home))
        try:
            def fresh_sink():
                own = settings.replace(topic_prefix=f"bench{uuid.uuid4().hex[:8]}-")
                kafka_admin.create_topics(own)
                return KafkaSink(own)
            return measure(fresh_sink, events, runs)
        finally:
            processes.stop(registry.KAFKA, settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--kafka-events", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    report("null sink", measure(NullSink, args.events, args.runs))
    if not args.no_kafka:
        report(f"kafka sink ({compression()}, acks=all)", kafka_rows(args.kafka_events, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
