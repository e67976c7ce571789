"""The alert leader's lease on a real ZooKeeper: one leader, the next in line takes over when its
session ends, and every new leader's fencing token is higher than the last."""
from __future__ import annotations

import time

import pytest

from stream import registry
from stream.alerts.lease import Lease, election_path
from stream.probes import wait_for
from tests.support.stack import fresh_settings
from tests.support.zookeeper import running_zookeeper

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    with running_zookeeper(fresh_settings(tmp_path_factory.mktemp("zk-home"))) as zk:
        yield ",".join(f"{host}:{port}" for host, port in zk.zookeeper_hosts)


def leads(lease: Lease, timeout: float = 10) -> bool:
    return wait_for(lambda: lease.wait(timeout=0.2), timeout, interval=0)


def test_one_leader_then_the_next_with_a_higher_token(hosts):
    path = election_path("lease_test_handover")
    with Lease(hosts, path, "a") as a, Lease(hosts, path, "b") as b, Lease(hosts, path, "c") as c:
        tokens = [lease.enter() for lease in (a, b, c)]
        assert tokens == sorted(tokens) and len(set(tokens)) == 3
        assert leads(a) and a.holding()
        assert not b.wait(timeout=0.2) and not b.holding() and not c.holding()
        b.client.stop()  # the standby in the middle goes: c waits on a now, and still does not lead
        assert not c.wait(timeout=0.5) and a.holding()
        began = time.monotonic()
        a.client.stop()  # a clean stop ends the session at once
        assert leads(c) and c.holding() and c.token > a.token
        assert time.monotonic() - began < 2


def test_a_leader_whose_session_ended_holds_nothing_and_enters_again_with_a_new_token(hosts):
    path = election_path("lease_test_expiry")
    with Lease(hosts, path, "a", session_timeout=2) as a, Lease(hosts, path, "b", session_timeout=2) as b:
        a.enter()
        b.enter()
        assert leads(a)
        old = a.token
        a.client.stop()  # as the server sees a paused process: the session is gone...
        a.client.start(timeout=10)  # ...and the client comes back with a new one
        assert not a.holding()
        assert leads(b) and b.holding()
        assert a.enter() > b.token > old and not a.wait(timeout=0.2)


def test_a_standby_brings_a_second_alert_service_and_zookeeper(tmp_path):
    single = fresh_settings(tmp_path / "home")
    assert [n for n in registry.parts(single) if n.startswith(("alerts", "zookeeper"))] == ["alerts"]
    names = list(registry.parts(single.replace(alerts_standby=1)))
    assert names.index("zookeeper") < names.index("clickhouse") < names.index("alerts") < names.index("alerts-2")
    assert registry.ALERTS_2.command(single) == registry.gmv_command("alerts", "--name", "alerts-2")
