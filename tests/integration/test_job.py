"""The Flink job end to end: real Kafka, the real job on Flink's embedded cluster, real ClickHouse.

Each test simulates a seeded festival stream with duplicates, late and malformed events,
and waits (with a deadline) until `gmv verify` finds the rollups equal to the simulator's
ledger, to the fen.
"""
from __future__ import annotations

import os
import signal

import pytest

from stream import probes
from stream.job import runner, verify
from stream.probes import wait_for
from stream.stack import clickhouse, kafka_admin, launcher, migrations, processes
from tests.support.stack import fresh_settings, simulate, unique_suffix, wait_exact

pytestmark = pytest.mark.slow

EVENTS = 200_000


def job_lag(settings) -> int | None:
    return kafka_admin.consumer_lag(settings, f"{settings.topic_prefix}{runner.CONSUMER_GROUP}",
                                    (settings.orders_topic, settings.logistics_topic))


def test_rollups_equal_the_ledger_with_duplicates_late_and_malformed_events(running_job, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulate(running_job, ledger)
    wait_exact(running_job, ledger)
    _, report = verify.verify(clickhouse.connect(running_job, "reader"), running_job.clickhouse_database, ledger)
    assert report["gmv_fen"] > 0 and sum(report["rejected"].values()) > 0


def test_kill_9_mid_stream_then_restart_is_still_exact(running_job, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulate(running_job, ledger)
    assert wait_for(lambda: runner.latest_checkpoint(running_job) is not None, 120)
    lag_at_kill = job_lag(running_job)
    pid = processes.state(launcher.JOB, running_job).pid
    os.killpg(pid, signal.SIGKILL)  # the job, its loader and Flink's JVM, with no goodbye
    assert wait_for(lambda: not probes.port_in_use(running_job.flink_port), 30)  # the whole group is gone
    assert lag_at_kill is None or lag_at_kill > 0, "the stream was already consumed: not mid-stream"
    processes.start(launcher.JOB, running_job)  # resumes from the latest retained checkpoint
    wait_exact(running_job, ledger)


def test_clickhouse_down_for_30_seconds_loses_nothing(kafka_server, tmp_path):
    # A private ClickHouse, so stopping it disturbs no other test.
    private = fresh_settings(tmp_path / "home")
    settings = private.replace(
        kafka_port=kafka_server.kafka_port, kafka_controller_port=kafka_server.kafka_controller_port,
        topic_prefix=f"t{unique_suffix()}-", jars_dir=kafka_server.jars_dir,
    )
    kafka_admin.create_topics(settings)
    processes.start(launcher.CLICKHOUSE, settings)
    try:
        processes.start(launcher.JOB, settings)
        ledger = tmp_path / "ledger.jsonl"
        simulate(settings, ledger)
        assert wait_for(lambda: bool(count_rows(settings)), 120)
        processes.stop(launcher.CLICKHOUSE, settings)
        down_for = 30.0
        assert not wait_for(lambda: probes.port_answers(settings.clickhouse_port), down_for, interval=1)
        processes.start(launcher.CLICKHOUSE, settings)
        wait_exact(settings, ledger)
    finally:
        processes.stop(launcher.JOB, settings)
        processes.stop(launcher.CLICKHOUSE, settings)


def count_rows(settings) -> int:
    try:
        with clickhouse.connect(settings, "reader") as client:
            return client.execute(f"SELECT count() FROM {settings.clickhouse_database}.orders_per_second")[0][0]
    except Exception:  # noqa: BLE001 - ClickHouse restarting counts as no rows yet
        return 0


def test_every_migration_and_verify_query_runs_on_a_current_clickhouse():
    from tests.support.chdb_engine import ChdbClient

    client = ChdbClient()
    try:
        migrations.apply(client, "gmv_verify")
        assert verify.rollup_totals(client, "gmv_verify") == {}
        assert verify.rejected_totals(client, "gmv_verify") == {}
        assert verify.pair_mismatches(client, "gmv_verify") == []
    finally:
        client.close()
