"""GMV_FLINK_TASKMANAGERS: the parts `gmv up` runs and the standalone cluster's configuration."""
from __future__ import annotations

import pytest

from stream import registry
from stream.settings import ConfigError, load
from stream.stack import flink_cluster


def test_without_the_setting_the_job_runs_its_embedded_cluster():
    parts = registry.parts(load(env={}))
    assert not any(name.startswith("flink") for name in parts)
    assert parts["job"] is registry.JOB


def test_two_taskmanagers_start_after_their_jobmanager_and_before_the_job():
    parts = registry.parts(load(env={"GMV_FLINK_TASKMANAGERS": "2"}))
    names = list(parts)
    assert names[names.index("clickhouse") + 1:names.index("job")] == [
        "flink-jobmanager", "flink-taskmanager", "flink-taskmanager-2"]
    assert parts["job"] is registry.JOB_ON_CLUSTER
    assert parts["job"].command(load(env={"GMV_FLINK_PORT": "9181"}))[-2:] == ["--cluster", "127.0.0.1:9181"]
    assert registry.select(["flink-taskmanager-2"], load(env={"GMV_FLINK_TASKMANAGERS": "2"}))[0].name \
        == "flink-taskmanager-2"


@pytest.mark.parametrize("value", ["-1", "9"])
def test_a_bad_number_of_taskmanagers_is_one_line(value):
    with pytest.raises(ConfigError, match=r"^GMV_FLINK_TASKMANAGERS=.* use 0-8") as error:
        load(env={"GMV_FLINK_TASKMANAGERS": value})
    assert "\n" not in str(error.value)


def test_the_cluster_notices_a_dead_taskmanager_in_seconds_and_can_lose_one():
    settings = load(env={"GMV_FLINK_PORT": "9181", "GMV_FLINK_RPC_PORT": "9182", "GMV_FLINK_TASKMANAGERS": "2"})
    config = flink_cluster.cluster_config(settings, "-Dx=1")
    assert (config["rest.port"], config["jobmanager.rpc.port"]) == ("9181", "9182")
    # a killed TaskManager refuses the heartbeats: found dead after this many ms, not the timeout
    assert int(config["heartbeat.interval"]) * int(config["heartbeat.rpc-failure-threshold"]) <= 5000
    # one TaskManager alone has the slots for the whole job (parallelism 2)
    assert int(config["taskmanager.numberOfTaskSlots"]) >= 2
