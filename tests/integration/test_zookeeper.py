"""ZooKeeper as `gmv up` runs it beside ClickHouse replicas: one node, and a quorum of three."""
from __future__ import annotations

import pytest

from stream import registry
from stream.stack import processes
from stream.stack.zookeeper import mode
from tests.support.stack import fresh_settings
from tests.support.zookeeper import running_zookeeper, zk_cli

pytestmark = pytest.mark.slow


def test_one_node_serves_a_client(tmp_path):
    with running_zookeeper(fresh_settings(tmp_path / "home"), nodes=1) as settings:
        assert mode(settings.zookeeper_node_ports(0)[0]) == "standalone"
        zk_cli(settings, 0, "create", "/gmv-test", "written")
        assert "written" in zk_cli(settings, 0, "get", "/gmv-test")
        assert processes.state(registry.ZOOKEEPER, settings).up


def test_three_nodes_form_a_quorum_that_replicates_a_write(tmp_path):
    with running_zookeeper(fresh_settings(tmp_path / "home"), nodes=3) as settings:
        modes = sorted(mode(settings.zookeeper_node_ports(n)[0]) or "none" for n in range(3))
        assert modes == ["follower", "follower", "leader"]
        zk_cli(settings, 0, "create", "/gmv-quorum", "on-every-node")
        assert "on-every-node" in zk_cli(settings, 2, "get", "/gmv-quorum")


def test_zookeeper_runs_only_beside_replicas(tmp_path):
    single = fresh_settings(tmp_path / "home")
    assert not any(name.startswith("zookeeper") for name in registry.parts(single))
    replicated = single.replace(clickhouse_replicas=2, zookeeper_nodes=3)
    names = list(registry.parts(replicated))
    assert names.index("zookeeper-3") < names.index("clickhouse")
    assert [p.name for p in registry.select(["zookeeper"], replicated)] == ["zookeeper", "zookeeper-2", "zookeeper-3"]
