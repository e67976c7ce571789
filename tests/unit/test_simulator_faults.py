"""Each fault flag produces the share it asks for, and the shape it promises."""
from __future__ import annotations

import json

import pytest

from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.faults import LOGISTICS_KINDS, ORDER_KINDS, Faults
from stream.simulator.run import RunOptions, Stats, run
from stream.simulator.sinks import MemorySink

SPEED = 10  # a tick spans at most 1 s of festival time, so positions are precise to 1 s


def faulty(**faults) -> tuple[list, Stats]:
    sink = MemorySink()
    options = RunOptions(clock=ClockSpec("replay", local_ms(2021, 11, 11, 21), SPEED), rate=150, paced=False,
                         events=30_000, seed=5, faults=Faults(**faults))
    stats = run(DEFAULT.replace(delay_compression=3000.0), options, sink)
    return sink.messages, stats


def decoded(messages):
    """(position, event or None) for each message."""
    for i, (_, _, value) in enumerate(messages):
        try:
            yield i, json.loads(value)
        except ValueError:
            yield i, None


def test_duplicates_repeat_the_same_bytes_within_30_s_of_stream_time():
    messages, stats = faulty(duplicates=0.1)
    first: dict[bytes, float] = {}
    stream_time = 0
    dups = 0
    for _topic, _key, value in messages:
        event = json.loads(value)
        stream_time = max(stream_time, event["event_time"])
        if value in first:
            dups += 1
            assert stream_time - first[value] <= 30_000 + 1000 * SPEED / 10
        else:
            first[value] = stream_time
    assert dups == stats.duplicates
    assert dups / (len(messages) - dups) == pytest.approx(0.1, rel=0.1)
    ids = [json.loads(v)["event_id"] for v in first]
    assert len(ids) == len(set(ids))  # a repeated event id always comes with the same bytes


def test_late_events_arrive_late_by_the_requested_time():
    messages, stats = faulty(late=0.08, late_by_s=30)
    stream_time, lags, seen = 0, [], []
    for _, event in decoded(messages):
        late = event["event_time"] < stream_time - 1000
        if late:
            lags.append(stream_time - event["event_time"])
        seen.append((event["event_time"], late))
        stream_time = max(stream_time, event["event_time"])
    assert len(lags) == stats.late
    assert all(29_000 <= lag <= 31_000 + 1000 for lag in lags), (min(lags), max(lags))
    # the share, among events old enough that their late copy was due before the run ended
    eligible = [late for t, late in seen if t < stream_time - 31_000]
    assert sum(eligible) / len(eligible) == pytest.approx(0.08, rel=0.1)


def test_malformed_messages_of_every_kind_on_both_topics():
    messages, stats = faulty(malformed=0.05)
    bad = sum(stats.malformed.values())
    assert bad / len(messages) == pytest.approx(0.05, rel=0.1)
    assert stats.malformed["orders"] > 0 and stats.malformed["logistics"] > 0
    assert set(stats.malformed_by_kind) == set(ORDER_KINDS) | set(LOGISTICS_KINDS)
    not_json = sum(1 for _, event in decoded(messages) if event is None)
    assert not_json == stats.malformed_by_kind["not_json"] + stats.malformed_by_kind["truncated_json"]


def test_no_faults_means_clean_stream():
    messages, stats = faulty()
    assert stats.duplicates == stats.late == sum(stats.malformed.values()) == 0
    times = [json.loads(v)["event_time"] for _, _, v in messages]
    assert times == sorted(times)  # in event-time order when nothing is late


@pytest.mark.parametrize("faults", [{"duplicates": 1.5}, {"late": -0.1}, {"malformed": 1.0}, {"late_by_s": -1}])
def test_bad_fault_shares_are_refused(faults):
    from stream.errors import GmvError

    with pytest.raises(GmvError):
        Faults(**faults)
