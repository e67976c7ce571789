"""What the wall shows at one instant, assembled from the rollup queries.

"Now" is the newest window in the rollups (so a replay of 2021-11-11 works like a live
festival) and "today" is that instant's Asia/Shanghai day. The job rewrites a live window's
row as it fills (every half second), so the newest second is usually still filling: "orders/s
now" is the second before it. Everything here comes from the live path and its closed tiers:

- the festival's totals: closed days and hours from their tiers, the rest per second, in one
  read per poll (:func:`dashboard.queries.totals`);
- today's minutes (the GMV chart, the busiest second): the per-second rows, split at ``split``
  (the start of the hour before now): the minutes before it settled (:data:`queries.SETTLED`),
  the last one to two hours on every poll (:data:`queries.LIVE`);
- the breakdowns (categories, provinces, channels) and the festival's own splits (VIP, pre-sale
  phase, promotion, sales wave), each field on its own: today's closed hours and the minutes
  since before the open minute (a read whose key changes once a minute), and the open minute
  refreshed every second (:data:`queries.MOVING`), added up per value;
- the top brands: the live ranking of today's festival day.

Every read uses FINAL and adds the late corrections, so the totals equal the ground truth.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from dashboard import fmt, lastyear
from dashboard import queries as q

log = logging.getLogger(__name__)

LAST_SECONDS = 600  # the "orders per second, last 10 minutes" chart
FLOW_MINUTES = 10  # the map's flows: parcels picked up in the last 10 closed minutes


@dataclass(frozen=True)
class WallSnapshot:
    now_s: int  # newest window_start in orders_per_second
    written_ms: int  # newest written_ms there: freshness
    day_start_s: int
    festival: dict[str, int]  # every measure summed over all windows
    today: dict[str, int]  # gmv_fen, orders_created, orders_paid of today
    minutes: list[q.Minute]  # today's minutes
    last: list[tuple[int, int, int]]  # (second, orders_created, gmv_fen), last 10 minutes
    orders_now: int  # orders created in the newest complete second (the one before now_s)
    peak: tuple[int, int]  # (orders in today's busiest second, that second)
    brands: list[tuple] = field(default_factory=list)  # today's top brands by GMV, (brand, *MEASURES)
    # today, (value, *MEASURES), largest GMV first
    categories: list[tuple] = field(default_factory=list)
    provinces: list[tuple] = field(default_factory=list)
    channels: list[tuple] = field(default_factory=list)
    # today, by each of FESTIVAL_FIELDS: field -> [(value, *MEASURES)], largest GMV first
    splits: dict[str, list[tuple]] = field(default_factory=dict)
    logistics: dict[str, int] = field(default_factory=dict)  # today, events per parcel status
    pipeline_today: dict[str, int] = field(default_factory=dict)  # kind -> events
    pipeline_total: dict[str, int] = field(default_factory=dict)
    milestones: list[q.Passed] = field(default_factory=list)  # GMV milestones passed, smallest first
    buyers: Buyers | None = None
    parcels: Parcels | None = None  # None: the parcel rollups could not be read (a database before them)
    history: lastyear.History | None = None  # last year at this moment (None: no history to compare with)


@dataclass(frozen=True)
class Buyers:
    """Today's buyers: consumers with a paid event (each counted once a Shanghai day)."""

    today: dict[int, int]  # unique buyers today per VIP flag {0: n, 1: n}
    last: list[tuple[int, int]]  # (second, new buyers) of the last 10 minutes, seconds with any
    minute: int  # the last complete minute (the one before the open one), epoch s
    minute_buyers: int  # its distinct buyers
    minute_new: int  # of them, new buyers (their first paid event today was in it)

    @property
    def total(self) -> int:
        return sum(self.today.values())

    @property
    def repeat(self) -> int | None:
        """Buyers of the last complete minute who had paid earlier today (None while its two tables
        disagree: more new buyers than buyers, a moment when one lane has loaded and not the other)."""
        repeat = self.minute_buyers - self.minute_new
        return repeat if repeat >= 0 else None


@dataclass(frozen=True)
class Parcels:
    """Parcels as the logistics partner reports them (stream/parcels.py), as of the snapshot."""

    stages: dict[str, int]  # parcels in each stage now ('delivered': today)
    legs: dict[str, list[int]]  # today's legs (pickup, delivery) per delivery-time bucket
    exceptions: list[tuple[str, int, int]]  # (carrier, parcels, with an exception), by carrier
    first_delivered_ms: int | None  # today's first delivered event (epoch ms), None before it
    flows: dict[tuple[str, str], int]  # (origin, destination) -> parcels picked up in flow_span
    flow_span: tuple[int, int]  # [start, end) of the flows' minutes, epoch s


def flow_span(now_s: int) -> tuple[int, int]:
    """The last FLOW_MINUTES closed minutes before the one holding ``now_s`` (a minute's flows are
    written as it closes); stable for a minute, so its read keeps its cache key."""
    minute = now_s // 60 * 60
    return minute - 60 * FLOW_MINUTES, minute


def split_of(now_s: int) -> int:
    """Where the settled sums end: the start of the hour before ``now_s`` (stable for an hour,
    so the settled queries keep their cache key)."""
    return now_s // 3600 * 3600 - 3600


def wall_snapshot(run: q.Run, db: str, hint: int | None = None,
                  pool: Executor | None = None, history_db: str | None = None) -> WallSnapshot | None:
    """The wall's numbers as of the newest window, or None when the rollups are empty; with
    ``history_db``, last year's at the same moment too (:mod:`dashboard.lastyear`).

    With ``pool``, the queries after ``newest`` (none depends on another) run side by side, so a
    poll waits for the slowest of them rather than for their sum."""
    newest = q.newest(run, db, hint)
    extent = q.extent(run, db)
    if newest is None or extent is None:
        return None
    now_s, written_ms = newest
    span = (extent[0], now_s)
    day0 = fmt.day_start(now_s)
    split = split_of(now_s)
    minute = now_s // 60 * 60
    day1 = day0 + fmt.DAY_S
    settled_minute = last_complete_minute(now_s)
    calls: dict[str, tuple] = {
        "recent": (q.minutes, run, db, split, now_s + 1, q.LIVE),
        "festival": (q.totals, run, db, span[0], now_s + 1, span, q.LIVE),
        "earlier": (q.minutes, run, db, day0, split, q.SETTLED) if split > day0 else (list,),
        "last": (q.per_second, run, db, now_s - LAST_SECONDS + 1, now_s + 1, q.LIVE),
        "logistics": (q.logistics, run, db, day0, day1, span, q.MINUTE),
        "pipeline_today": (q.pipeline, run, db, day0, day1, q.MINUTE),
        "pipeline_total": (q.pipeline, run, db, 0, 2**32 - 1, q.SETTLED),
        "milestones": (_milestones, run, db),
        # today before the open minute (its key changes once a minute), and the open minute
        "dims_settled": (q.dimension_sums, run, db, day0, minute, span, q.SETTLED),
        "dims_moving": (q.dimension_sums, run, db, minute, day1, span, q.MOVING),
        "brands": (q.top_brands, run, db, day0, "", q.MOVING),
        "buyers_settled": (q.new_buyers, run, db, day0, split, q.SETTLED) if split > day0 else (dict,),
        "buyers_live": (q.new_buyers, run, db, max(day0, split), now_s + 1, q.LIVE),
        "buyers_last": (q.new_buyers_per_second, run, db, now_s - LAST_SECONDS + 1, now_s + 1, q.LIVE),
        # the last complete minute is settled: its key holds for a minute, refreshed in the background
        "buyers_minute": (q.buyers_per_minute, run, db, settled_minute, settled_minute + 60, q.MINUTE),
        # parcels: small tables, today's rows (or the few not per day)
        "parcel_stages": (_optional, q.parcel_stages, run, db, day0),
        "delivery_times": (_optional, q.delivery_time_buckets, run, db, day0),
        "carrier_exceptions": (_optional, q.carrier_exceptions, run, db),
        "first_delivery": (_optional, q.first_delivery_ms, run, db, day0),
        "flows": (_optional, q.parcel_flows, run, db, *flow_span(now_s)),
        "history": (_history, run, db, history_db, now_s, day0) if history_db else (lambda: None,),
    }
    got = _gather(calls, pool)
    today = got["earlier"] + [r for r in got["recent"] if r.minute >= day0]
    last = got["last"]
    fields = added(got["dims_settled"], got["dims_moving"])
    return WallSnapshot(
        now_s=now_s, written_ms=written_ms, day_start_s=day0, festival=got["festival"],
        today={m: sum(getattr(r, m) for r in today) for m in ("gmv_fen", "orders_created", "orders_paid")},
        minutes=today, last=last,
        orders_now=next((n for s, n, _ in reversed(last) if s == now_s - 1), 0),
        peak=max(((r.peak_orders, r.peak_second) for r in today), default=(0, now_s)),
        logistics=got["logistics"], pipeline_today=_by_kind(got["pipeline_today"]),
        pipeline_total=_by_kind(got["pipeline_total"]), milestones=got["milestones"],
        splits={dim: ranked(fields.get(dim, {})) for dim in FESTIVAL_FIELDS},
        buyers=_buyers(got, settled_minute), parcels=_parcels(got, flow_span(now_s)), history=got["history"],
        brands=got["brands"],
        **{name: ranked(fields.get(dim, {}), limit) for name, dim, limit in _BREAKDOWNS},
    )


# A minute counts as complete this long after it ended: its last events have reached both buyers
# tables by then (they load on different lanes), so its repeat buyers are not read mid-update.
MINUTE_SETTLE_S = 5


def last_complete_minute(now_s: int) -> int:
    """The newest minute that ended at least MINUTE_SETTLE_S before ``now_s`` (epoch s)."""
    return (now_s - MINUTE_SETTLE_S) // 60 * 60 - 60


def _buyers(got: dict, last_minute: int) -> Buyers:
    """Today's buyers from the snapshot's answers: the settled and live halves of the day added
    per VIP flag; the last complete minute's buyers, and its new buyers from the last seconds."""
    today = {vip: got["buyers_settled"].get(vip, 0) + got["buyers_live"][vip] for vip in (0, 1)}
    new = sum(n for s, n in got["buyers_last"] if last_minute <= s < last_minute + 60)
    return Buyers(today=today, last=got["buyers_last"], minute=last_minute,
                  minute_buyers=got["buyers_minute"].get(last_minute, 0), minute_new=new)


def _parcels(got: dict, span: tuple[int, int]) -> Parcels | None:
    """The parcels' answers of a snapshot, or None when any of them could not be read."""
    names = ("parcel_stages", "delivery_times", "carrier_exceptions", "first_delivery", "flows")
    if any(got[n] is _UNREAD for n in names):
        return None
    return Parcels(stages=got["parcel_stages"], legs=got["delivery_times"], exceptions=got["carrier_exceptions"],
                   first_delivered_ms=got["first_delivery"], flows=got["flows"], flow_span=span)


def _gather(calls: dict[str, tuple], pool: Executor | None) -> dict:
    """Each ``name: (function, *args)`` called, side by side on ``pool`` when there is one."""
    if pool is None:
        return {name: f(*args) for name, (f, *args) in calls.items()}
    futures = {name: pool.submit(f, *args) for name, (f, *args) in calls.items()}
    return {name: future.result() for name, future in futures.items()}


def added(*parts: dict[str, dict[str, tuple[int, ...]]]) -> dict[str, dict[str, tuple[int, ...]]]:
    """``{field: {value: MEASURES}}`` of several spans added up per field and value."""
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for part in parts:
        for dim, by_value in part.items():
            sums = out.setdefault(dim, {})
            for value, measures in by_value.items():
                before = sums.get(value)
                sums[value] = measures if before is None else tuple(a + b for a, b in zip(before, measures))
    return out


_GMV = q.MEASURES.index("gmv_fen")


def ranked(sums: dict[str, tuple[int, ...]], limit: int | None = None) -> list[tuple]:
    """``(value, *MEASURES)`` rows, largest GMV first (then by value), at most ``limit``."""
    order = sorted(sums.items(), key=lambda kv: (-kv[1][_GMV], kv[0]))
    return [(value, *measures) for value, measures in order[:limit]]


# The fields the wall splits today's sales by (the festival's own: the APASS tier, pre-sale
# deposits and finals, promotions, sales waves), each on its own.
FESTIVAL_FIELDS = ("vip", "presale_phase", "promotion", "wave")


def measure(rows: list[tuple], value: str, name: str) -> int:
    """Measure ``name`` of ``value`` in ``(value, *MEASURES)`` rows (0 when it has no row)."""
    at = q.MEASURES.index(name) + 1
    return next((int(r[at]) for r in rows if r[0] == value), 0)


# (field of WallSnapshot, field of the rollups, how many values it shows)
_BREAKDOWNS = (("categories", "category", 50), ("provinces", "province", 50), ("channels", "channel", 50))


_WARNED = [float("-inf")]  # when a failed read of the milestones was last logged (once a minute)


def _milestones(run: q.Run, db: str) -> list[q.Passed]:
    """The milestones, or none when they cannot be read (a database from before migration 006):
    the wall's numbers do not depend on them, so they never make the whole wall stale."""
    try:
        return q.milestones(run, db)
    except Exception as exc:  # noqa: BLE001 - logged (once a minute); the rest of the wall goes on
        if time.monotonic() - _WARNED[0] >= 60:
            _WARNED[0] = time.monotonic()
            log.warning("wall: milestones not read (%s)", str(exc).splitlines()[0][:200] if str(exc) else exc)
        return []


_UNREAD = object()  # an optional read that failed
_OPTIONAL_WARNED = [float("-inf")]


def _optional(f, *args):
    """``f(*args)``, or _UNREAD when it fails (the parcel tables missing from a database made
    before them): the wall's other numbers do not depend on it (logged once a minute)."""
    try:
        return f(*args)
    except Exception as exc:  # noqa: BLE001 - logged (once a minute); the rest of the wall goes on
        if time.monotonic() - _OPTIONAL_WARNED[0] >= 60:
            _OPTIONAL_WARNED[0] = time.monotonic()
            log.warning("wall: %s not read (%s)", f.__name__, str(exc).splitlines()[0][:200] if str(exc) else exc)
        return _UNREAD


_HISTORY_WARNED = [float("-inf")]


def _history(run: q.Run, db: str, history_db: str, now_s: int, day0: int) -> lastyear.History | None:
    """Last year at this moment, or None when it cannot be read (no history database yet): the
    wall's own numbers do not depend on it, so it never makes the wall stale (logged once a minute)."""
    try:
        return lastyear.read(run, db, history_db, now_s, day0)
    except Exception as exc:  # noqa: BLE001 - logged (once a minute); the rest of the wall goes on
        if time.monotonic() - _HISTORY_WARNED[0] >= 60:
            _HISTORY_WARNED[0] = time.monotonic()
            log.warning("wall: last year's history not read (%s)", str(exc).splitlines()[0][:200] if str(exc) else exc)
        return None


def _by_kind(rows: list[tuple[str, str, str, int]]) -> dict[str, int]:
    out = {"rejected": 0, "late": 0}
    for _source, kind, _reason, n in rows:
        out[kind] = out.get(kind, 0) + n
    return out
