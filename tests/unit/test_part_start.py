"""A part whose server starts but whose set-up after it fails (migrations on a replica while
ZooKeeper is down): one line naming the part and the cause, and nothing left running."""
from __future__ import annotations

import sys

import pytest

from stream.errors import GmvError
from stream.settings import load
from stream.stack import processes

ZOOKEEPER_DOWN = ("Code: 999.\nCoordination::Exception. Coordination::Exception: All connection tries failed while "
                  "connecting to ZooKeeper. Addresses: 127.0.0.1:2181\n Stack trace:\n0. StackTrace()+0x16")


def failing_setup(settings) -> None:
    raise RuntimeError(ZOOKEEPER_DOWN)


def test_a_failed_set_up_is_one_line_and_stops_the_part(tmp_path):
    settings = load(env={"GMV_HOME": str(tmp_path)})
    part = processes.Part("replica", ports=lambda s: {}, healthy=lambda s: True, after_start=failing_setup,
                          command=lambda s: [sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(GmvError) as raised:
        processes.start(part, settings, echo=lambda line: None)
    message = str(raised.value)
    assert message == ("replica: started, but its set-up failed: Code: 999. Coordination::Exception. "
                       "Coordination::Exception: All connection tries failed while connecting to ZooKeeper. "
                       "Addresses: 127.0.0.1:2181")
    assert not processes.state(part, settings).started  # stopped: the supervisor starts it again later
