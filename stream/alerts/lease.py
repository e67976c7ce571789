"""The alert leader's lease in ZooKeeper: of several alert services, exactly one pages.

Each service enters the election with an ephemeral sequential znode
``/gmv/alerts/<database>/candidate-NNNNNNNNNN`` (gone when its ZooKeeper session ends: a
process killed, or paused past the session timeout); the candidate with the lowest number leads.
A standby watches only the candidate just ahead of it, so a leader's end wakes one service.

The candidate's number is the **fencing token**: ZooKeeper numbers the children of a znode in
creation order, and leadership passes to the lowest remaining candidate, so every new leader's
token is higher than any earlier leader's. It goes with every page (``X-Gmv-Fencing-Token``) and
into ``alert_events``; a receiver that remembers the highest token it has seen refuses a page
from a leader that has been replaced (:mod:`stream.alerts.receiver` does).

Before each send the service asks :meth:`Lease.holding`, one round trip to ZooKeeper: a leader
whose session has ended (it was paused past the timeout) gets no answer or no znode, and does
not send. The token covers what that check cannot: a pause between the check and the POST.
"""
from __future__ import annotations

import logging
import threading

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from stream.errors import GmvError

log = logging.getLogger("gmv.alerts.lease")

SESSION_TIMEOUT_S = 3.0  # a dead leader's znode goes this long after its last heartbeat to ZooKeeper
CHECK_TIMEOUT_S = 1.0  # holding(): no answer within this is "not holding"
TOKEN_HEADER = "X-Gmv-Fencing-Token"


def election_path(database: str) -> str:
    """One election per rollup database (tests give each test a database of its own)."""
    return f"/gmv/alerts/{database}"


class Lease:
    """``with Lease(hosts, path, name) as lease``: ``enter()``, then ``wait()`` until it leads;
    ``holding()`` before each page; ``lost`` is set when the session ends (enter again then)."""

    def __init__(self, hosts: str, path: str, name: str, session_timeout: float = SESSION_TIMEOUT_S,
                 connect_timeout: float = 30.0) -> None:
        self.path, self.name, self.hosts, self.connect_timeout = path, name, hosts, connect_timeout
        self.client = KazooClient(hosts=hosts, timeout=session_timeout,
                                  connection_retry={"max_tries": -1, "max_delay": 1.0})
        self.node: str | None = None  # our candidate's name (``candidate-0000000007``)
        self.token = 0
        self.lost = threading.Event()  # our session (and so our candidate) has ended
        self._woken = threading.Event()

    def __enter__(self) -> Lease:
        self.client.add_listener(self._on_state)
        try:
            self.client.start(timeout=self.connect_timeout)
        except KazooTimeoutError:
            self.client.stop()  # no retrying in the background: the caller says why and ends
            self.client.close()
            raise GmvError(f"alerts {self.name}: ZooKeeper at {self.hosts} did not answer within "
                           f"{self.connect_timeout:g} s; the alert lease needs it (`gmv up zookeeper`; with "
                           "GMV_ALERTS_STANDBY=1 `gmv up` starts it).") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop()  # ends the session: our candidate goes at once, the next one leads
        self.client.close()

    def _on_state(self, state: str) -> None:
        if state == KazooState.LOST:
            self.lost.set()
        self._woken.set()

    def enter(self) -> int:
        """A new candidate in a new session's name; its fencing token."""
        self.client.ensure_path(self.path)
        self.lost.clear()
        created = self.client.create(f"{self.path}/candidate-", self.name.encode(), ephemeral=True, sequence=True)
        self.node = created.rsplit("/", 1)[1]
        self.token = int(self.node.rsplit("-", 1)[1])
        log.info("alerts %s: candidate for leader with fencing token %d", self.name, self.token)
        return self.token

    def wait(self, timeout: float) -> bool:
        """True when we lead; else wait up to ``timeout`` for the candidate ahead to go, False."""
        self._woken.clear()
        if self.lost.is_set():
            return False
        try:
            ahead = self._ahead()
            if not ahead:
                return True
            if self.client.exists(f"{self.path}/{ahead}", watch=lambda _event: self._woken.set()) is None:
                return False  # gone between the two reads: look again at once
        except (KazooException, KazooTimeoutError) as exc:
            log.warning("alerts %s: ZooKeeper did not answer (%s); waiting", self.name, exc)
        self._woken.wait(timeout)
        return False

    def _ahead(self) -> str | None:
        """The candidate just ahead of ours (None: ours is first, we lead)."""
        candidates = sorted(self.client.get_children(self.path))
        if self.node not in candidates:
            self.lost.set()  # our session ended and took our candidate with it
            raise NoNodeError(f"{self.path}/{self.node}")
        before = [c for c in candidates if c < self.node]
        return before[-1] if before else None

    def holding(self) -> bool:
        """Whether we lead now, asked of ZooKeeper (one round trip): False when the session is
        not connected, ZooKeeper does not answer in time, or another candidate is first."""
        if self.node is None or self.lost.is_set() or self.client.state != KazooState.CONNECTED:
            return False
        try:
            candidates = self.client.get_children_async(self.path).get(timeout=CHECK_TIMEOUT_S)
        except (KazooException, KazooTimeoutError):
            return False
        return bool(candidates) and min(candidates) == self.node

    def connected(self) -> bool:
        """No round trip: the session is connected and has not ended (checked every evaluation)."""
        return not self.lost.is_set() and self.client.state == KazooState.CONNECTED
