"""Parcels as the festival reports them: the rules shared by the job, the ledger, verify and the wall.

Pure functions over logistics events (dicts as ``schemas/logistics.schema.json`` spells them); no I/O.

**A parcel's state** (:class:`Parcel`) is folded from its events with :func:`fold`. Every field is a
maximum or a minimum of what the events carry, so the state does not depend on the order the events
arrive in, and folding the same event again changes nothing: a redelivered event (same event_id)
never counts twice and a late event (an earlier status arriving after a later one) never moves a
parcel back.

**Its stage now** (:func:`stage`): the furthest status reached, by :data:`RANK` (created <
picked_up < in_transit < out_for_delivery < delivered), reported as one of :data:`STAGES`:
waiting for pickup (created), in transit (picked_up or in_transit), out for delivery, delivered (per
festival day of its delivered event, see ``festival_day_start``), and in exception. *Exception rule*:
a parcel not delivered is in exception while its latest exception event is later (event time) than
its latest other event; a later non-exception status takes it out, a delivered parcel is delivered
whatever came before. At equal event times the progress status wins (the parcel moved on).

**Delivery times** (:func:`legs`): from the parcel's *creation* event to its pickup and to its
delivery. Creation rather than the order's payment: the logistics events carry the parcel, its order
id, status, destination province and carrier, not the payment time, and joining the orders stream
for it would hold every paid order in state until its parcel turns up. A leg counts in the festival
day of its end event, the parcel's destination province and carrier, in one of the fixed buckets of
:data:`DELIVERY_BUCKET_EDGES_S`; p50 / p90 come from the bucket counts
(:func:`percentile_upper_edge_s`).

**The first delivery of the festival** (:func:`first_deliveries`): each festival day's earliest
delivered event time, shown after that day's start (11.11 begins at midnight in Shanghai), so a late
event that shows an earlier delivery moves it.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from stream.contract import DAY_S, HOUR_S, MINUTE_S, PARCEL_STATUSES, festival_day_start

# A parcel's progress: a status of higher rank is further along. ``exception`` has no rank.
RANK = {status: rank for rank, status in enumerate(("created", "picked_up", "in_transit",
                                                    "out_for_delivery", "delivered"))}
EXCEPTION = "exception"
assert set(RANK) | {EXCEPTION} == set(PARCEL_STATUSES)
DELIVERED_RANK = RANK["delivered"]

STAGES = ("waiting_for_pickup", "in_transit", "out_for_delivery", "delivered", "in_exception")
STAGE_OF_RANK = ("waiting_for_pickup", "in_transit", "in_transit", "out_for_delivery", "delivered")
# The day of a stage counted over the whole festival (all but delivered, which is per festival day).
NOT_PER_DAY = 0

# How long the job keeps a parcel's state after its last event: the festival's delivery window.
# The simulator's parcel steps (20 min, 8 h, 6 h, 22 h, 4 h medians, log-normal, sigma 0.6; an
# exception holds a parcel 12 h more) deliver half the parcels within 1.9 days of payment, 99 %
# within 4.7 and 99.99 % within 9.5 (uncompressed); a gap of over 15 days between two events of a
# parcel is about 4 in 10 million. 15 days covers that window and bounds the state to the parcels
# of the last two weeks (a replay compresses the delays, and state TTL counts wall time).
PARCEL_STATE_TTL_S = 15 * DAY_S

# The delivery-time buckets' lower edges (s); the last bucket is open-ended. Fine at the start for
# replays (parcel delays compressed: a delivery in minutes), an hour wide where the real ones take
# hours, days wide at the end (a parcel held by an exception). Bucket i is [edge i, edge i+1).
_M, _H = MINUTE_S, HOUR_S
DELIVERY_BUCKET_EDGES_S = (
    0, 1 * _M, 2 * _M, 5 * _M, 10 * _M, 15 * _M, 20 * _M, 30 * _M, 45 * _M,
    1 * _H, 2 * _H, 3 * _H, 4 * _H, 6 * _H, 8 * _H, 12 * _H, 18 * _H,
    1 * DAY_S, 36 * _H, 2 * DAY_S, 3 * DAY_S, 4 * DAY_S, 5 * DAY_S, 7 * DAY_S, 10 * DAY_S, 15 * DAY_S,
)
BUCKETS = len(DELIVERY_BUCKET_EDGES_S)
_EDGES_MS = tuple(1000 * e for e in DELIVERY_BUCKET_EDGES_S)

LEGS = ("pickup", "delivery")  # creation -> picked_up, creation -> delivered
_LEG_END = {"pickup": "picked_up", "delivery": "delivered"}

NONE_MS = -1  # no such event (event times are >= 0)


@dataclass(frozen=True)
class Parcel:
    """What the job keeps per parcel: each field a max or a min over the parcel's events.

    ``rank``: the highest :data:`RANK` reached (-1: only exceptions seen); ``progress_ms`` /
    ``exception_ms``: the latest event time of a ranked status / of an exception (``NONE_MS`` if
    none); ``created_ms``, ``picked_up_ms``, ``delivered_ms``: the earliest event time of that status
    (``NONE_MS`` if none); ``province`` (destination) and ``carrier``: as its events say (the largest
    name if they disagreed, so the order of arrival still does not matter)."""

    rank: int = -1
    progress_ms: int = NONE_MS
    exception_ms: int = NONE_MS
    created_ms: int = NONE_MS
    picked_up_ms: int = NONE_MS
    delivered_ms: int = NONE_MS
    province: str = ""
    carrier: str = ""


def _earliest(before: int, t: int) -> int:
    return t if before == NONE_MS else min(before, t)


def fold(parcel: Parcel | None, event: Mapping) -> Parcel:
    """The parcel's state after ``event`` (a valid logistics event). Commutative and idempotent:
    any order of the same events, each any number of times, gives the same state."""
    p = parcel or Parcel()
    status, t = event["status"], int(event["event_time"])
    p = replace(p, province=max(p.province, event["province"]), carrier=max(p.carrier, event["carrier"]))
    if status == EXCEPTION:
        return replace(p, exception_ms=max(p.exception_ms, t))
    p = replace(p, rank=max(p.rank, RANK[status]), progress_ms=max(p.progress_ms, t))
    if status == "created":
        p = replace(p, created_ms=_earliest(p.created_ms, t))
    elif status == "picked_up":
        p = replace(p, picked_up_ms=_earliest(p.picked_up_ms, t))
    elif status == "delivered":
        p = replace(p, delivered_ms=_earliest(p.delivered_ms, t))
    return p


def parcels(events: Iterable[Mapping]) -> dict[str, Parcel]:
    """Every parcel's state from valid logistics events (redeliveries and any order welcome)."""
    out: dict[str, Parcel] = {}
    for event in events:
        out[event["parcel_id"]] = fold(out.get(event["parcel_id"]), event)
    return out


def in_exception(p: Parcel) -> bool:
    """Not delivered, and the latest event (event time) is an exception; a tie goes to progress."""
    return p.rank < DELIVERED_RANK and p.exception_ms > p.progress_ms


def stage(p: Parcel) -> tuple[str, int]:
    """``(stage, day)``: one of :data:`STAGES`; ``day`` is the festival day (epoch s of its
    midnight, Asia/Shanghai) of a delivered parcel's delivery, :data:`NOT_PER_DAY` otherwise."""
    if p.rank == DELIVERED_RANK:
        return "delivered", festival_day_start(p.delivered_ms // 1000)
    if in_exception(p):
        return "in_exception", NOT_PER_DAY
    return STAGE_OF_RANK[p.rank], NOT_PER_DAY


def stage_counts(states: Iterable[Parcel]) -> dict[tuple[str, int], int]:
    """Parcels per ``(stage, day)`` (see :func:`stage`); each parcel in exactly one."""
    return dict(Counter(map(stage, states)))


def bucket_of(duration_ms: int) -> int:
    """The delivery-time bucket of a duration (ms); a negative one (clocks of two scanners that
    disagree) counts in the first bucket."""
    return max(0, bisect_right(_EDGES_MS, duration_ms) - 1)


def legs(p: Parcel) -> list[tuple[str, int, int]]:
    """``(leg, end_ms, duration_ms)`` of each leg of :data:`LEGS` whose two events were seen."""
    ends = {"pickup": p.picked_up_ms, "delivery": p.delivered_ms}
    if p.created_ms == NONE_MS:
        return []
    return [(leg, ends[leg], ends[leg] - p.created_ms) for leg in LEGS if ends[leg] != NONE_MS]


def delivery_time_counts(states: Iterable[Parcel]) -> dict[tuple[int, str, str, str, int], int]:
    """Legs per ``(day, province, carrier, leg, bucket)``: ``day`` the festival day of the leg's
    end event, ``province`` the destination."""
    out: Counter = Counter()
    for p in states:
        for leg, end_ms, duration_ms in legs(p):
            out[(festival_day_start(end_ms // 1000), p.province, p.carrier, leg, bucket_of(duration_ms))] += 1
    return dict(out)


def percentile_upper_edge_s(counts: Sequence[int], percent: int) -> float | None:
    """The ``percent`` percentile (e.g. 50, 90) of a duration from its bucket counts (one per
    bucket, in bucket order): the upper edge (s) of the first bucket where the cumulative count
    reaches ``percent`` % of all (so "p50 <= 2 h"); ``inf`` if that is the open-ended last bucket,
    None if there are no counts. Integer arithmetic: exact, as verify needs."""
    if not 0 < percent <= 100:
        raise ValueError(f"percent {percent} is not in (0, 100]")
    total = sum(counts)
    if total == 0:
        return None
    cumulative = 0
    for i, n in enumerate(counts):
        cumulative += n
        if cumulative * 100 >= percent * total:
            return float(DELIVERY_BUCKET_EDGES_S[i + 1]) if i + 1 < BUCKETS else float("inf")
    raise AssertionError("unreachable: the cumulative count reaches the total")


def _duration_text(s: int) -> tuple[str, str]:
    """``(number, unit)`` of a bucket edge, in its largest unit: ``("1.5", "d")``, ``("45", "min")``."""
    for unit, width in (("d", DAY_S), ("h", HOUR_S), ("min", MINUTE_S)):
        if s >= width:
            return f"{s / width:g}", unit
    return f"{s}", "s"


def bucket_label(bucket: int) -> str:
    """A bucket as the wall says it: ``"0-1 min"``, ``"1-2 h"``, ``"45 min-1 h"``, ``">= 15 d"``."""
    lo = DELIVERY_BUCKET_EDGES_S[bucket]
    if bucket + 1 == BUCKETS:
        return ">= " + " ".join(_duration_text(lo))
    (hi, unit), (lo_number, lo_unit) = _duration_text(DELIVERY_BUCKET_EDGES_S[bucket + 1]), _duration_text(lo)
    return f"{lo_number}-{hi} {unit}" if lo == 0 or lo_unit == unit else f"{lo_number} {lo_unit}-{hi} {unit}"


def exception_counts(states: Iterable[Parcel]) -> dict[str, tuple[int, int]]:
    """Per carrier, ``(parcels, parcels with an exception)``: parcels seen (any event) and those with
    at least one exception event. The exception share is their ratio."""
    out: dict[str, tuple[int, int]] = {}
    for p in states:
        seen, excepted = out.get(p.carrier, (0, 0))
        out[p.carrier] = (seen + 1, excepted + (p.exception_ms != NONE_MS))
    return out


def first_deliveries(events: Iterable[Mapping]) -> dict[int, int]:
    """Each festival day's first delivery: ``{day start (epoch s): earliest delivered event time (ms)}``.
    A day's first delivery is shown as seconds after that day's start (:func:`first_delivery_text`)."""
    out: dict[int, int] = {}
    for e in events:
        if e["status"] == "delivered":
            t = int(e["event_time"])
            day = festival_day_start(t // 1000)
            out[day] = min(out.get(day, t), t)
    return out


def first_delivery_text(seconds: int) -> str:
    """``"first parcel delivered 00:13:27 after the start"`` (hours go past 24 if need be)."""
    hours, rest = divmod(seconds, HOUR_S)
    return f"first parcel delivered {hours:02d}:{rest // 60:02d}:{rest % 60:02d} after the start"
