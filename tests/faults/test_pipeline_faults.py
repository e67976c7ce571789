"""Faults under load, through the real stack: a seeded stream with a ledger, one fault injected
mid-stream, then `gmv verify` exact to the fen and the wall (the dashboard's own poll over HTTP)
showing the ledger's GMV. No command is typed after the part that was killed is started again.

Kafka and ClickHouse here are private to this module (killing them disturbs no other test); each
case has its own topics and database and starts its own job. Each prints how long the pipeline
took to recover: from the fault until the wall showed the ledger's GMV.
"""
from __future__ import annotations

import time

import pytest

from stream import registry
from stream.probes import wait_for
from stream.stack import clickhouse, kafka_admin, migrations, processes
from tests.support.faults import finish, kill_9, kill_9_during_a_checkpoint, sent_some, start_simulator
from tests.support.stack import fresh_settings, unique_suffix

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    # 300 s: a job started on a loaded 2-core CI box took more than the default 120 s to become healthy
    settings = fresh_settings(tmp_path_factory.mktemp("faults")).replace(start_timeout=300.0)
    processes.start(registry.KAFKA, settings)
    processes.start(registry.CLICKHOUSE, settings)
    yield settings
    for part in (registry.DASHBOARD, registry.JOB, registry.CLICKHOUSE, registry.KAFKA):
        processes.stop(part, settings)


@pytest.fixture
def pipeline(fault_stack):
    """This case's topics, database, job and dashboard on the module's Kafka and ClickHouse."""
    settings = fault_stack.replace(topic_prefix=f"f{unique_suffix()}-", clickhouse_database=f"f_{unique_suffix()}")
    kafka_admin.create_topics(settings)
    with clickhouse.connect(settings, "admin") as client:
        migrations.apply(client, settings.clickhouse_database)
    processes.start(registry.JOB, settings)
    processes.start(registry.DASHBOARD, settings)
    yield settings
    processes.stop(registry.DASHBOARD, settings)
    processes.stop(registry.JOB, settings)


def test_kafka_broker_kill_9_then_started_again_under_the_simulator(pipeline, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulator = start_simulator(pipeline, ledger)
    assert wait_for(lambda: sent_some(pipeline), 60)
    assert simulator.poll() is None, "the simulator finished before the fault"
    fault_at = time.monotonic()
    kill_9(registry.KAFKA, pipeline)
    time.sleep(10)  # the outage itself (what is being tested), not a synchronisation
    processes.start(registry.KAFKA, pipeline)  # `gmv up kafka`; nothing else is typed after it
    recovered = finish(pipeline, simulator, ledger, fault_at)
    print(f"kafka kill -9, down 10 s: exact and the wall showed the ledger's GMV {recovered:.1f} s after the kill")


def test_clickhouse_kill_9_then_started_again(pipeline, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulator = start_simulator(pipeline, ledger)
    assert wait_for(lambda: sent_some(pipeline), 60)
    fault_at = time.monotonic()
    kill_9(registry.CLICKHOUSE, pipeline)
    time.sleep(10)  # the outage itself
    processes.start(registry.CLICKHOUSE, pipeline)
    recovered = finish(pipeline, simulator, ledger, fault_at)
    print(f"clickhouse kill -9, down 10 s: exact and the wall showed the ledger's GMV {recovered:.1f} s after the kill")


def test_job_kill_9_during_a_checkpoint(pipeline, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulator = start_simulator(pipeline, ledger)
    assert wait_for(lambda: sent_some(pipeline), 60)
    fault_at = time.monotonic()
    # the job, its loader and Flink's JVM, frozen the moment a checkpoint starts and killed in it
    interrupted, let_go = kill_9_during_a_checkpoint(registry.JOB, pipeline)
    assert not (interrupted / "_metadata").exists()
    processes.start(registry.JOB, pipeline)  # resumes from the last completed checkpoint
    recovered = finish(pipeline, simulator, ledger, fault_at)
    print(f"job kill -9 during checkpoint {interrupted.name} ({let_go} completed before the freeze and let go): "
          f"exact, the wall showed the ledger's GMV {recovered:.1f} s after the kill")
