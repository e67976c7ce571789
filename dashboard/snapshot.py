"""What the wall shows at one instant, assembled from the rollup queries.

"Now" is the newest window in the rollups (so a replay of 2021-11-11 works like a live
festival) and "today" is that instant's Asia/Shanghai day. The job rewrites a window's row
as it fills (every half second), so the newest second is usually still filling: "orders/s
now" is the second before it. The expensive sums are split at ``split`` (the start of the
hour before now): windows before it are settled, summed by background refreshes
(:data:`queries.SETTLED`); the last one to two hours are summed on every poll
(:data:`queries.LIVE`). The breakdowns (brands, categories, provinces, channels) are split
at the open minute instead: the day before it is a settled sum (its cache key changes once a
minute), the open minute is refreshed every second (:data:`queries.MOVING`), so they move
with the open minute and a poll never waits on a sum over the day. Both halves
read FINAL and add the late corrections, so the total equals the ground truth; a late
correction to a window older than the split shows up within the settled tier's 30 s.
"""
from __future__ import annotations

import heapq
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from dashboard import fmt
from dashboard import queries as q

log = logging.getLogger(__name__)

LAST_SECONDS = 600  # the "orders per second, last 10 minutes" chart


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
    brands: list[tuple] = field(default_factory=list)  # today, (value, *MEASURES)
    categories: list[tuple] = field(default_factory=list)
    provinces: list[tuple] = field(default_factory=list)
    channels: list[tuple] = field(default_factory=list)
    logistics: dict[str, int] = field(default_factory=dict)  # today, events per parcel status
    pipeline_today: dict[str, int] = field(default_factory=dict)  # kind -> events
    pipeline_total: dict[str, int] = field(default_factory=dict)
    milestones: list[q.Passed] = field(default_factory=list)  # GMV milestones passed, smallest first


def split_of(now_s: int) -> int:
    """Where the settled sums end: the start of the hour before ``now_s`` (stable for an hour,
    so the settled queries keep their cache key)."""
    return now_s // 3600 * 3600 - 3600


def wall_snapshot(run: q.Run, db: str, hint: int | None = None,
                  pool: Executor | None = None) -> WallSnapshot | None:
    """The wall's numbers as of the newest window, or None when the rollups are empty.

    With ``pool``, the queries after ``newest`` (none depends on another) run side by side, so a
    poll waits for the slowest of them rather than for their sum."""
    newest = q.newest(run, db, hint)
    if newest is None:
        return None
    now_s, written_ms = newest
    day0 = fmt.day_start(now_s)
    split = split_of(now_s)
    minute = now_s // 60 * 60
    day1 = day0 + fmt.DAY_S
    calls: dict[str, tuple] = {
        "recent": (q.minutes, run, db, split, now_s + 1, q.LIVE),
        "settled": (q.totals, run, db, 0, split, q.SETTLED),
        "live": (q.totals, run, db, split, now_s + 1, q.LIVE),
        "earlier": (q.minutes, run, db, day0, split, q.SETTLED) if split > day0 else (list,),
        "last": (q.per_second, run, db, now_s - LAST_SECONDS + 1, now_s + 1, q.LIVE),
        "logistics": (q.logistics, run, db, day0, day1, q.MINUTE),
        "pipeline_today": (q.pipeline, run, db, day0, day1, q.MINUTE),
        "pipeline_total": (q.pipeline, run, db, 0, 2**32 - 1, q.SETTLED),
        "milestones": (_milestones, run, db),
        **{name: (_day_breakdown, run, db, dim, day0, minute, limit) for name, dim, limit in _BREAKDOWNS},
    }
    got = _gather(calls, pool)
    festival = {m: got["settled"][m] + got["live"][m] for m in q.MEASURES}
    today = got["earlier"] + [r for r in got["recent"] if r.minute >= day0]
    last = got["last"]
    return WallSnapshot(
        now_s=now_s, written_ms=written_ms, day_start_s=day0, festival=festival,
        today={m: sum(getattr(r, m) for r in today) for m in ("gmv_fen", "orders_created", "orders_paid")},
        minutes=today, last=last,
        orders_now=next((n for s, n, _ in reversed(last) if s == now_s - 1), 0),
        peak=max(((r.peak_orders, r.peak_second) for r in today), default=(0, now_s)),
        logistics=got["logistics"], pipeline_today=_by_kind(got["pipeline_today"]),
        pipeline_total=_by_kind(got["pipeline_total"]), milestones=got["milestones"],
        **{name: got[name] for name, _, _ in _BREAKDOWNS},
    )


def _gather(calls: dict[str, tuple], pool: Executor | None) -> dict:
    """Each ``name: (function, *args)`` called, side by side on ``pool`` when there is one."""
    if pool is None:
        return {name: f(*args) for name, (f, *args) in calls.items()}
    futures = {name: pool.submit(f, *args) for name, (f, *args) in calls.items()}
    return {name: future.result() for name, future in futures.items()}


# Every value of a dimension, so the settled and live halves can be added before ranking.
_ALL_VALUES = 100_000


def _day_breakdown(run: q.Run, db: str, dim: str, day0: int, minute: int, limit: int) -> list[tuple]:
    """Today's ``(value, *MEASURES)`` of ``dim``, largest GMV first: the minutes before the open
    ``minute`` from the settled tier (its key changes once a minute), the open minute on every
    poll (a few rows), added up per value."""
    day1 = day0 + fmt.DAY_S
    moving = q.breakdown(run, db, dim, max(day0, minute), day1, limit=_ALL_VALUES, tier=q.MOVING)
    sums = dict(_by_value(q.breakdown(run, db, dim, day0, minute, limit=_ALL_VALUES, tier=q.SETTLED))
                if minute > day0 else {})
    for value, *measures in moving:
        before = sums.get(value)
        sums[value] = tuple(measures) if before is None else tuple(a + b for a, b in zip(before, measures))
    gmv = q.MEASURES.index("gmv_fen")
    ranked = heapq.nsmallest(limit, sums.items(), key=lambda kv: (-kv[1][gmv], kv[0]))
    return [(value, *measures) for value, measures in ranked]


# The settled half is the same object for as long as the cache keeps it (a minute): its
# per-value map is built once, not on every poll (thousands of brands). id -> (rows, map).
_SETTLED_MAPS: dict[int, tuple[tuple, dict]] = {}


def _by_value(rows: tuple[tuple, ...]) -> dict:
    known = _SETTLED_MAPS.get(id(rows))
    if known is not None and known[0] is rows:
        return known[1]
    by_value = {value: tuple(measures) for value, *measures in rows}
    if len(_SETTLED_MAPS) >= 16:
        _SETTLED_MAPS.clear()
    _SETTLED_MAPS[id(rows)] = (rows, by_value)
    return by_value


# (field of WallSnapshot, dimension, how many values it shows)
_BREAKDOWNS = (("brands", "brand", 10), ("categories", "category", 50), ("provinces", "province", 50),
               ("channels", "channel", 50))


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


def _by_kind(rows: list[tuple[str, str, str, int]]) -> dict[str, int]:
    out = {"rejected": 0, "late": 0}
    for _source, kind, _reason, n in rows:
        out[kind] = out.get(kind, 0) + n
    return out
