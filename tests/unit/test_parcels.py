"""The parcels' rules (stream.parcels) on hand-written events: stages, delivery times, the first delivery.

Times are written out in China time (UTC+8) and every expected number is worked out by hand.
"""
from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone

import pytest

from stream.parcels import (
    BUCKETS,
    DELIVERY_BUCKET_EDGES_S,
    NOT_PER_DAY,
    Parcel,
    bucket_label,
    bucket_of,
    delivery_time_counts,
    exception_counts,
    first_deliveries,
    first_delivery_text,
    fold,
    parcels,
    percentile_upper_edge_s,
    stage,
    stage_counts,
)

CST = timezone(timedelta(hours=8))
NOV11 = 1636560000  # 2021-11-11 00:00 China time, epoch s
NOV12 = 1636646400  # 2021-11-12 00:00 China time


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    """Epoch ms of November ``day`` 2021 at that China time."""
    return int(datetime(2021, 11, day, hour, minute, second, tzinfo=CST).timestamp()) * 1000


def event(status: str, t_ms: int, parcel: str = "p1", step: int | None = None, province: str = "Zhejiang",
          carrier: str = "SF Express") -> dict:
    """A logistics event as the schema spells it; its id is the parcel and the step (as the simulator's)."""
    step = ["created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception"].index(status) \
        if step is None else step
    return {"event_id": f"{parcel}:{step}", "event_time": t_ms, "parcel_id": parcel, "order_id": "o" + parcel[1:],
            "status": status, "province": province, "carrier": carrier}


def test_the_day_constants_are_china_midnights():
    assert NOV11 * 1000 == at(11, 0) and NOV12 * 1000 == at(12, 0) and NOV12 - NOV11 == 86_400


def test_a_redelivered_event_changes_nothing():
    created, picked = event("created", at(11, 10)), event("picked_up", at(11, 11))
    once = parcels([created, picked])
    twice = parcels([created, picked, dict(picked), dict(created)])  # redeliveries: the same event ids again
    assert once == twice
    assert stage_counts(twice.values()) == {("in_transit", NOT_PER_DAY): 1}
    # the pickup leg (1 h, bucket "1-2 h") counts once
    assert delivery_time_counts(twice.values()) == {(NOV11, "Zhejiang", "SF Express", "pickup", 9): 1}
    assert bucket_label(9) == "1-2 h"


def test_a_late_earlier_status_does_not_move_the_parcel_back():
    """out_for_delivery arrives, then its earlier picked_up and in_transit: the parcel stays out for delivery."""
    arrived = [event("created", at(11, 9)), event("out_for_delivery", at(11, 15)),
               event("picked_up", at(11, 10)), event("in_transit", at(11, 12))]
    state = parcels(arrived)["p1"]
    assert stage(state) == ("out_for_delivery", NOT_PER_DAY)
    assert (state.rank, state.created_ms, state.picked_up_ms, state.progress_ms) == (3, at(11, 9), at(11, 10),
                                                                                     at(11, 15))
    # any order of arrival (and a redelivery anywhere) gives the same state
    for order in itertools.permutations([*arrived, arrived[1]]):
        assert parcels(order)["p1"] == state


def test_exception_then_a_later_status_then_delivered():
    created, picked = event("created", at(11, 9)), event("picked_up", at(11, 10))
    exception = event("exception", at(11, 11))
    assert stage(parcels([created, picked, exception])["p1"]) == ("in_exception", NOT_PER_DAY)
    moving_on = event("in_transit", at(11, 20))
    assert stage(parcels([created, picked, exception, moving_on])["p1"]) == ("in_transit", NOT_PER_DAY)
    delivered = event("delivered", at(12, 2))
    assert stage(parcels([created, picked, exception, moving_on, delivered])["p1"]) == ("delivered", NOV12)
    # delivered is delivered even if an exception is reported after it
    late_exception = event("exception", at(12, 3), step=9)
    assert stage(parcels([created, delivered, late_exception])["p1"]) == ("delivered", NOV12)


def test_an_exception_earlier_than_the_latest_progress_is_not_current():
    """The exception arrives late, but in_transit happened after it: the parcel is in transit."""
    events = [event("created", at(11, 9)), event("in_transit", at(11, 14)), event("exception", at(11, 12))]
    assert stage(parcels(events)["p1"]) == ("in_transit", NOT_PER_DAY)
    # an exception at the very same millisecond as the latest progress: progress wins
    tie = [event("created", at(11, 9)), event("picked_up", at(11, 12)), event("exception", at(11, 12))]
    assert stage(parcels(tie)["p1"]) == ("in_transit", NOT_PER_DAY)


def test_only_an_exception_seen_is_in_exception():
    """The parcel's earlier events are still on their way: its exception is all that is known."""
    state = fold(None, event("exception", at(11, 12)))
    assert state.rank == -1 and stage(state) == ("in_exception", NOT_PER_DAY)
    assert delivery_time_counts([state]) == {}


def test_a_parcel_delivered_on_the_next_festival_day():
    """Created 23:50 on Nov 11, picked up 23:55, delivered 00:20 on Nov 12 (China time): the pickup
    leg counts on Nov 11, the delivery on Nov 12, and so does the delivered parcel."""
    events = [event("created", at(11, 23, 50)), event("picked_up", at(11, 23, 55)),
              event("delivered", at(12, 0, 20))]
    state = parcels(events)["p1"]
    assert stage(state) == ("delivered", NOV12)
    assert delivery_time_counts([state]) == {
        (NOV11, "Zhejiang", "SF Express", "pickup", 3): 1,  # 5 min: bucket "5-10 min"
        (NOV12, "Zhejiang", "SF Express", "delivery", 7): 1,  # 30 min: bucket "30-45 min"
    }
    assert (bucket_label(3), bucket_label(7)) == ("5-10 min", "30-45 min")
    # 07:59 and 08:00 China time are one festival day (a UTC day would split them)
    early = parcels([event("delivered", at(12, 7, 59), "p2"), event("delivered", at(12, 8, 0), "p3")])
    assert stage_counts(early.values()) == {("delivered", NOV12): 2}


def test_stage_counts_put_each_parcel_in_one_stage():
    events = [
        event("created", at(11, 9), "p1"),  # waiting for pickup
        event("created", at(11, 9), "p2"), event("picked_up", at(11, 10), "p2"),  # in transit
        event("in_transit", at(11, 11), "p3"),  # in transit (its earlier events not seen)
        event("out_for_delivery", at(11, 12), "p4"),
        event("delivered", at(11, 13), "p5"), event("delivered", at(12, 1), "p6"), event("delivered", at(12, 2), "p7"),
        event("picked_up", at(11, 10), "p8"), event("exception", at(11, 11), "p8"),  # in exception
    ]
    assert stage_counts(parcels(events).values()) == {
        ("waiting_for_pickup", 0): 1, ("in_transit", 0): 2, ("out_for_delivery", 0): 1,
        ("delivered", NOV11): 1, ("delivered", NOV12): 2, ("in_exception", 0): 1}


@pytest.mark.parametrize("duration_ms, bucket", [
    (0, 0), (59_999, 0), (60_000, 1), (119_999, 1), (120_000, 2), (3_599_999, 8), (3_600_000, 9),
    (7_199_999, 9), (7_200_000, 10), (86_400_000, 17), (15 * 86_400_000 - 1, BUCKETS - 2),
    (15 * 86_400_000, BUCKETS - 1), (400 * 86_400_000, BUCKETS - 1), (-5_000, 0),
])
def test_bucket_edges(duration_ms, bucket):
    """A bucket holds its lower edge, not its upper one; a negative duration counts in the first."""
    assert bucket_of(duration_ms) == bucket


def test_bucket_edges_grow_and_labels_say_them():
    assert list(DELIVERY_BUCKET_EDGES_S) == sorted(set(DELIVERY_BUCKET_EDGES_S)) and DELIVERY_BUCKET_EDGES_S[0] == 0
    assert [bucket_label(b) for b in (0, 8, 16, 17, 18, BUCKETS - 1)] == [
        "0-1 min", "45 min-1 h", "18 h-1 d", "1-1.5 d", "1.5-2 d", ">= 15 d"]


def counts(**by_bucket: int) -> list[int]:
    """Bucket counts from ``b<index>=count``."""
    out = [0] * BUCKETS
    for name, n in by_bucket.items():
        out[int(name[1:])] = n
    return out


def test_p50_and_p90_are_upper_edges_of_the_bucket_where_the_cumulative_count_reaches_them():
    # 10 legs: 5 in "1-2 h", 4 in "2-3 h", 1 in "4-6 h"
    legs = counts(b9=5, b10=4, b12=1)
    assert percentile_upper_edge_s(legs, 50) == 2 * 3600  # 5 of 10 reached at "1-2 h": exactly 50 %
    assert percentile_upper_edge_s(legs, 90) == 3 * 3600  # 9 of 10 reached at "2-3 h"
    assert percentile_upper_edge_s(legs, 91) == 6 * 3600
    assert percentile_upper_edge_s(legs, 100) == 6 * 3600
    # one more leg in "1-2 h" does not move p50; one more in "4-6 h" moves p50 up
    assert percentile_upper_edge_s(counts(b9=6, b10=4, b12=1), 50) == 2 * 3600
    assert percentile_upper_edge_s(counts(b9=5, b10=4, b12=2), 50) == 3 * 3600
    assert percentile_upper_edge_s(counts(b0=1, **{f"b{BUCKETS - 1}": 9}), 50) == math.inf
    assert percentile_upper_edge_s([0] * BUCKETS, 50) is None
    with pytest.raises(ValueError):
        percentile_upper_edge_s(legs, 0)


def test_delivery_times_are_per_day_province_and_carrier():
    events = [event("created", at(11, 9), "p1"), event("delivered", at(11, 10, 30), "p1"),  # 1.5 h
              event("created", at(11, 9), "p2", province="Guangdong"),
              event("delivered", at(11, 10, 59, 59), "p2", province="Guangdong"),  # 1 h 59 min 59 s
              event("created", at(11, 9), "p3", carrier="EMS"), event("delivered", at(11, 11), "p3", carrier="EMS"),
              event("delivered", at(11, 11), "p4")]  # its creation not seen: no leg
    assert delivery_time_counts(parcels(events).values()) == {
        (NOV11, "Zhejiang", "SF Express", "delivery", 9): 1,
        (NOV11, "Guangdong", "SF Express", "delivery", 9): 1,
        (NOV11, "Zhejiang", "EMS", "delivery", 10): 1,  # exactly 2 h: the "2-3 h" bucket
    }


def test_exception_share_by_carrier_counts_parcels_not_events():
    events = [event("created", at(11, 9), "p1"), event("exception", at(11, 10), "p1"),
              event("exception", at(11, 11), "p1", step=7),  # a second exception of the same parcel
              event("created", at(11, 9), "p2"), event("delivered", at(11, 12), "p2"),
              event("created", at(11, 9), "p3", carrier="EMS")]
    assert exception_counts(parcels(events).values()) == {"SF Express": (2, 1), "EMS": (1, 0)}


def test_the_first_delivery_moves_when_a_late_event_shows_an_earlier_one():
    nov10, nov11 = at(10, 0) // 1000, at(11, 0) // 1000  # festival days: midnight in Shanghai
    arrived = [event("delivered", at(10, 23, 59), "p0"),  # the day before's
               event("delivered", at(11, 0, 15), "p1")]
    assert first_deliveries(arrived) == {nov10: at(10, 23, 59), nov11: at(11, 0, 15)}
    arrived.append(event("delivered", at(11, 0, 13, 27), "p2"))  # late: delivered before p1
    assert first_deliveries(arrived)[nov11] == at(11, 0, 13, 27)
    seconds = (first_deliveries(arrived)[nov11] // 1000) - nov11
    assert first_delivery_text(seconds) == "first parcel delivered 00:13:27 after the start"
    arrived.append(event("delivered", at(11, 0, 20), "p3"))  # a later one changes nothing
    assert first_deliveries(arrived)[nov11] == at(11, 0, 13, 27)
    assert first_deliveries([event("created", at(11, 1))]) == {}
    assert first_delivery_text(27 * 3600 + 61) == "first parcel delivered 27:01:01 after the start"


def test_province_and_carrier_do_not_depend_on_arrival_order():
    a, b = event("created", at(11, 9), carrier="EMS"), event("picked_up", at(11, 10), carrier="SF Express")
    assert fold(fold(None, a), b) == fold(fold(None, b), a)
    assert fold(None, a) == Parcel(rank=0, progress_ms=at(11, 9), created_ms=at(11, 9), province="Zhejiang",
                                   carrier="EMS")
