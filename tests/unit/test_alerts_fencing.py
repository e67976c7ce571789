"""Fencing at delivery: a service that no longer holds the alert lease sends nothing, and a real
receiver refuses a page whose token is older than one it has seen; repeats share a key."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from stream import probes
from stream.alerts import lease
from stream.alerts.config import Webhook
from stream.alerts.delivery import FENCED, deliver
from stream.alerts.payload import EVENT_HEADER, TOKEN_HEADER
from stream.alerts.receiver import Receiver
from stream.errors import GmvError


@dataclass
class HeldLease:
    """The two things delivery asks of the lease (stream.alerts.lease.Lease, here without ZooKeeper)."""

    token: int
    held: bool = True

    def holding(self) -> bool:
        return self.held


@dataclass(frozen=True)
class Item:
    label: str = "throughput-drop firing"


def hook(receiver: Receiver) -> Webhook:
    return Webhook(name="pager", url=receiver.url, attempts=3, backoff_seconds=0)


HEADERS = {EVENT_HEADER: "throughput-drop/firing/1700000000000"}


def test_a_service_without_the_lease_sends_nothing():
    with Receiver() as receiver:
        outcome = deliver(hook(receiver), Item(), b"{}", HEADERS, fence=HeldLease(token=3, held=False))
    assert (outcome.delivered, outcome.attempts, outcome.detail) == (False, 0, FENCED)
    assert receiver.received == [] and receiver.fenced == []


def test_the_receiver_refuses_a_replaced_leaders_token_once_and_for_good():
    with Receiver() as receiver:
        assert deliver(hook(receiver), Item(), b"{}", HEADERS, fence=HeldLease(token=7)).delivered
        stale = deliver(hook(receiver), Item(), b"{}", HEADERS, fence=HeldLease(token=6))
        again = deliver(hook(receiver), Item(), b"{}", HEADERS, fence=HeldLease(token=7))  # the leader's retry
    assert (stale.delivered, stale.attempts, stale.detail) == (False, 1, FENCED)  # 409 is not retried
    assert [r.headers[TOKEN_HEADER] for r in receiver.fenced] == ["6"]
    assert again.delivered and [r.headers[TOKEN_HEADER] for r in receiver.received] == ["7", "7"]
    assert len(receiver.unique()) == 1  # the same X-Gmv-Alert key twice: acted on once


def test_without_a_standby_no_token_is_sent_or_checked():
    with Receiver() as receiver:
        assert deliver(hook(receiver), Item(), b"{}", HEADERS).delivered
    (item,) = receiver.received
    assert TOKEN_HEADER not in item.headers and receiver.newest_token is None


def test_no_zookeeper_at_start_is_one_line():
    port = probes.free_port()
    with pytest.raises(GmvError) as caught, lease.Lease(f"127.0.0.1:{port}", "/gmv/alerts/x", "alerts-2",
                                                        connect_timeout=0.5):
        pass
    assert str(caught.value) == (f"alerts alerts-2: ZooKeeper at 127.0.0.1:{port} did not answer within 0.5 s; the "
                                 "alert lease needs it (`gmv up zookeeper`; with GMV_ALERTS_STANDBY=1 `gmv up` "
                                 "starts it).")
