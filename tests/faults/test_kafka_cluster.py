"""Three KRaft brokers (GMV_KAFKA_BROKERS=3: replication factor 3, min.insync.replicas 2), started
by the same launcher as `gmv up`. One broker is killed -9 under load and started again: the
simulator, the job and the loader fail over by themselves; nothing is lost or counted twice."""
from __future__ import annotations

import time

import pytest

from stream import probes, registry
from stream.stack import clickhouse, kafka_admin, migrations, processes
from tests.support.faults import finish, kill_9, sent_some, start_simulator
from tests.support.stack import fresh_settings

pytestmark = pytest.mark.slow
BROKERS = 3


def free_run(n: int) -> int:
    """A port p with p, p+2, ... p+2(n-1) all free (a later broker's port follows the first's)."""
    while True:
        port = probes.free_port()
        if port + 2 * n < 65535 and not any(probes.port_in_use(port + 2 * b) for b in range(n)):
            return port


def test_one_broker_of_three_killed_9_and_started_again_loses_nothing(tmp_path):
    base = fresh_settings(tmp_path / "home")
    client, controller = free_run(BROKERS), free_run(BROKERS)
    while abs(client - controller) < 2 * BROKERS:
        controller = free_run(BROKERS)
    settings = base.replace(kafka_brokers=BROKERS, kafka_port=client, kafka_controller_port=controller)
    brokers = [registry.kafka_broker(b) for b in range(BROKERS)]
    started = []
    try:
        for part in (*brokers, registry.CLICKHOUSE):
            processes.start(part, settings)
            started.append(part)
        described = kafka_admin.admin(settings)
        try:
            topic = described.describe_topics([settings.orders_topic])[0]
        finally:
            described.close()
        replicas = [p.get("replica_nodes") or p.get("replicas") or () for p in topic["partitions"]]
        assert replicas and all(len(r) == BROKERS for r in replicas), topic
        with clickhouse.connect(settings, "admin") as ch:
            migrations.apply(ch, settings.clickhouse_database)
        for part in (registry.JOB, registry.DASHBOARD):
            processes.start(part, settings)
            started.append(part)
        ledger = tmp_path / "ledger.jsonl"
        simulator = start_simulator(settings, ledger)
        assert probes.wait_for(lambda: sent_some(settings), 60)
        fault_at = time.monotonic()
        kill_9(brokers[0], settings)  # the first address of every client's bootstrap list
        time.sleep(10)  # the outage itself, not a synchronisation
        processes.start(brokers[0], settings)
        recovered = finish(settings, simulator, ledger, fault_at)
        print(f"one of {BROKERS} brokers kill -9, down 10 s: exact and the wall showed the ledger's GMV "
              f"{recovered:.1f} s after the kill")
    finally:
        for part in reversed(started):
            processes.stop(part, settings)
