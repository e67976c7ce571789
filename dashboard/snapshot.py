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

from dataclasses import dataclass, field

from dashboard import fmt
from dashboard import queries as q

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


def split_of(now_s: int) -> int:
    """Where the settled sums end: the start of the hour before ``now_s`` (stable for an hour,
    so the settled queries keep their cache key)."""
    return now_s // 3600 * 3600 - 3600


def wall_snapshot(run: q.Run, db: str, hint: int | None = None) -> WallSnapshot | None:
    """The wall's numbers as of the newest window, or None when the rollups are empty."""
    newest = q.newest(run, db, hint)
    if newest is None:
        return None
    now_s, written_ms = newest
    day0 = fmt.day_start(now_s)
    split = split_of(now_s)
    recent = q.minutes(run, db, split, now_s + 1, q.LIVE)
    settled = q.totals(run, db, 0, split, q.SETTLED)
    live = q.totals(run, db, split, now_s + 1, q.LIVE)
    festival = {m: settled[m] + live[m] for m in q.MEASURES}
    today = (q.minutes(run, db, day0, split, q.SETTLED) if split > day0 else []) + \
        [r for r in recent if r.minute >= day0]
    last = q.per_second(run, db, now_s - LAST_SECONDS + 1, now_s + 1, q.LIVE)
    return WallSnapshot(
        now_s=now_s, written_ms=written_ms, day_start_s=day0, festival=festival,
        today={m: sum(getattr(r, m) for r in today) for m in ("gmv_fen", "orders_created", "orders_paid")},
        minutes=today, last=last,
        orders_now=next((n for s, n, _ in reversed(last) if s == now_s - 1), 0),
        peak=max(((r.peak_orders, r.peak_second) for r in today), default=(0, now_s)),
        **_breakdowns(run, db, day0, now_s), **_side_counts(run, db, day0),
    )


# Every value of a dimension, so the settled and live halves can be added before ranking.
_ALL_VALUES = 100_000


def _day_breakdown(run: q.Run, db: str, dim: str, day0: int, minute: int, limit: int) -> list[tuple]:
    """Today's ``(value, *MEASURES)`` of ``dim``, largest GMV first: the minutes before the open
    ``minute`` from the settled tier (its key changes once a minute), the open minute on every
    poll (a few rows), added up per value."""
    day1 = day0 + fmt.DAY_S
    parts = [q.breakdown(run, db, dim, max(day0, minute), day1, limit=_ALL_VALUES, tier=q.MOVING)]
    if minute > day0:
        parts.append(q.breakdown(run, db, dim, day0, minute, limit=_ALL_VALUES, tier=q.SETTLED))
    sums: dict[str, list[int]] = {}
    for rows in parts:
        for value, *measures in rows:
            total = sums.setdefault(value, [0] * len(measures))
            total[:] = [a + b for a, b in zip(total, measures)]
    gmv = q.MEASURES.index("gmv_fen")
    ranked = sorted(sums.items(), key=lambda kv: (-kv[1][gmv], kv[0]))[:limit]
    return [(value, *measures) for value, measures in ranked]


def _breakdowns(run: q.Run, db: str, day0: int, now_s: int) -> dict:
    minute = now_s // 60 * 60
    return {
        "brands": _day_breakdown(run, db, "brand", day0, minute, limit=10),
        "categories": _day_breakdown(run, db, "category", day0, minute, limit=50),
        "provinces": _day_breakdown(run, db, "province", day0, minute, limit=50),
        "channels": _day_breakdown(run, db, "channel", day0, minute, limit=50),
    }


def _side_counts(run: q.Run, db: str, day0: int) -> dict:
    day1 = day0 + fmt.DAY_S
    return {
        "logistics": q.logistics(run, db, day0, day1, q.MINUTE),
        "pipeline_today": _by_kind(q.pipeline(run, db, day0, day1, q.MINUTE)),
        "pipeline_total": _by_kind(q.pipeline(run, db, tier=q.SETTLED)),
    }


def _by_kind(rows: list[tuple[str, str, str, int]]) -> dict[str, int]:
    out = {"rejected": 0, "late": 0}
    for _source, kind, _reason, n in rows:
        out[kind] = out.get(kind, 0) + n
    return out
