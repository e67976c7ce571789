"""Session servers and per-test isolation.

Kafka and ClickHouse start once per test session, with the same launcher code as
``gmv up``, on free ports in a temp folder. Each test that needs them asks for
``kafka_settings`` (its own topics) and/or ``clickhouse_settings`` (its own
database), so tests never see each other's data.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from stream import probes, registry
from stream.settings import Settings
from stream.stack import clickhouse, jars, kafka_admin, migrations, processes
from tests.support.last_year import migrate_history
from tests.support.stack import fresh_settings, unique_suffix


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory) -> Settings:
    settings = fresh_settings(tmp_path_factory.mktemp("gmv-home"))
    jars.ensure(settings)
    return settings


@pytest.fixture(scope="session")
def kafka_server(stack_settings):
    """A real single-node KRaft broker for the whole session."""
    processes.start(registry.KAFKA, stack_settings)
    yield stack_settings
    processes.stop(registry.KAFKA, stack_settings)


@pytest.fixture(scope="session")
def clickhouse_server(stack_settings):
    """A real ClickHouse server for the whole session."""
    processes.start(registry.CLICKHOUSE, stack_settings)
    yield stack_settings
    processes.stop(registry.CLICKHOUSE, stack_settings)


@pytest.fixture
def kafka_settings(kafka_server) -> Iterator[Settings]:
    """Settings whose orders/logistics/rejected topics exist and belong to this test alone
    (deleted at the end)."""
    settings = kafka_server.replace(topic_prefix=f"t{unique_suffix()}-")
    kafka_admin.create_topics(settings)
    yield settings
    _delete_topics(settings)


def _delete_topics(settings: Settings) -> None:
    """The test's topics go, so the session's broker does not keep every test's messages on disk
    (~0.5 GB over a run). A broker that does not answer only leaves them there."""
    if not settings.topic_prefix:  # never the shared, unprefixed topics
        return
    try:
        client = kafka_admin.admin(settings)
        try:
            ours = [t for t in client.list_topics() if t.startswith(settings.topic_prefix)]
        finally:
            client.close()
        if ours:
            kafka_admin.delete_topics(settings, tuple(ours))
    except Exception as exc:  # noqa: BLE001 - cleanup only; a test's result never depends on it
        print(f"topics {settings.topic_prefix}* not deleted: {exc}")


@pytest.fixture
def clickhouse_settings(clickhouse_server):
    """Settings whose rollup database is migrated and belongs to this test alone (its history
    database too, if the test makes one: dropped at the end)."""
    settings = clickhouse_server.replace(clickhouse_database=f"test_{unique_suffix()}")
    with clickhouse.connect(settings, "admin") as client:
        migrations.apply(client, settings.clickhouse_database)
    yield settings
    _drop(settings)


@pytest.fixture
def history_settings(clickhouse_settings):
    """``clickhouse_settings`` whose history database (last year's rollups, the same migrations)
    is migrated too; both dropped at the end."""
    migrate_history(clickhouse_settings)
    return clickhouse_settings


def _drop(settings: Settings) -> None:
    with clickhouse.connect(settings, "admin") as client:
        for database in (settings.clickhouse_database, settings.history_database):
            client.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def pipeline_settings(kafka_server, clickhouse_server):
    """Own topics and own database on the session's Kafka and ClickHouse."""
    settings = kafka_server.replace(
        topic_prefix=f"t{unique_suffix()}-", clickhouse_database=f"test_{unique_suffix()}"
    )
    kafka_admin.create_topics(settings)
    with clickhouse.connect(settings, "admin") as client:
        migrations.apply(client, settings.clickhouse_database)
    yield settings
    _drop(settings)
    _delete_topics(settings)


@pytest.fixture
def running_job(pipeline_settings):
    """The real Flink job (embedded cluster) plus its loader, as `gmv up job` starts it, on this
    test's topics and database; stopped (and its process group gone) at the end."""
    settings = pipeline_settings.replace(flink_port=probes.free_port(), home=pipeline_settings.home / unique_suffix(),
                                         jars_dir=pipeline_settings.jars_dir)
    processes.start(registry.JOB, settings)
    yield settings
    processes.stop(registry.JOB, settings)
