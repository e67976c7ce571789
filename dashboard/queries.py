"""Every SQL statement of the dashboard, in one place.

Each function takes ``run`` -- a callable ``run(sql, params, tier) -> rows`` such as
:meth:`dashboard.db.Database.run` (real ClickHouse through the shared cache) or a chDB
adapter in the tests -- and the database name (a validated identifier from settings).
Every filter *value* is a bound parameter (clickhouse-driver's ``%(name)s``), never pasted
into the SQL; only identifiers from fixed lists here reach the SQL text.

Rollup semantics (stream.contract): tables are ``ReplacingMergeTree(written_ms)``, so reads
use ``FINAL`` (the newest version of each row); rows with ``late = 1`` are corrections for the
same window and keys, so sums include both ``late`` values. Windows are UTC ``DateTime``;
bounds are epoch seconds and every window comes back as epoch seconds (``toUInt32``), the same
on ClickHouse 18.16 and current servers. No statement uses what 18.16 lacks (DateTime64, TTL,
toStartOfInterval, WITH FILL, LowCardinality).

**Time tiers.** A family of rollups (totals, each field on its own, the cube, brands, parcels)
keeps the same rows per second or 5 minutes (its finest tier) and per closed minute, hour and
UTC day (00:00 UTC is 08:00 in Shanghai). A read of [start, end) takes closed days from the day
tier, closed hours from the hour tier, and so on down to the finest (:func:`plan`), so its cost
follows the rows it needs, not the festival's length (a Shanghai day takes its hours: no UTC day
lies wholly inside it). A coarse window counts as closed when its tier has rows for it and it ended
at least :data:`SETTLE_S` before the newest second (rows of a window just closed may still be
loading: those are read from the finer tier). Filters on key columns go in ``PREWHERE``, which
18.16 applies before ``FINAL`` merges the rows (correct: every version of a row has the same keys).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple, Protocol

from stream.contract import (
    BRAND,
    CUBE_DIMENSIONS,
    MEASURES,
    PARCEL_STATUSES,
    ROLLUPS,
    TOP_BRANDS,
    UTC_OFFSET_S,
    Rollup,
    family,
    window_start,
)
from stream.parcels import BUCKETS, LEGS, NOT_PER_DAY, STAGES, bucket_of

PER_DAY_STAGE = "delivered"  # the one stage counted per festival day (of the delivery)
assert PER_DAY_STAGE in STAGES


@dataclass(frozen=True)
class Tier:
    """How long an answer may be reused, and whether an expired one may be served while a
    background refresh runs (for slow aggregates that change rarely)."""

    name: str
    ttl: float
    refresh_ahead: bool = False


# what ticks every second: a little under the 1 s poll, so even a lone screen gets new data each tick
LIVE = Tier("live", 0.9)
# The wall's breakdowns of the open minute: they move every half second; the last answer is
# served while one refresh runs, so a poll never waits on them.
MOVING = Tier("moving", 1.0, refresh_ahead=True)
MINUTE = Tier("minute", 5.0, refresh_ahead=True)  # slow-moving counts (parcels, set aside), lookups
SETTLED = Tier("settled", 30.0, refresh_ahead=True)  # windows older than the live span
EXPLORE = Tier("explore", 10.0)
LOOKUP = Tier("lookup", 60.0, refresh_ahead=True)  # dropdown options
# Which windows a coarse tier holds: a window once there stays there, so an older answer is never
# wrong, only more cautious (a window it lacks is read from the finer tier).
COVERAGE = Tier("coverage", 5.0, refresh_ahead=True)


class Run(Protocol):
    def __call__(self, sql: str, params: dict | None = None, tier: Tier | None = None) -> list[tuple]: ...


# The rollups, named once in stream.contract; each family finest tier first.
TOTALS = family("orders_second")
DIMENSIONS = family("dimensions_second")
CUBE = family("cube_5min")
BRANDS = family("brands_5min")
FAMILIES = {"totals": TOTALS, "dimensions": DIMENSIONS, "cube": CUBE, "brands": BRANDS}
SECONDS = TOTALS[0].table
TOP = ROLLUPS["top_brands"]
PARCELS = family("logistics_second")
SET_ASIDE = ROLLUPS["pipeline_events"].table
NEW_BUYERS = ROLLUPS["buyers_second"].table
BUYERS = ROLLUPS["buyers_minute"].table
_SUMS = ", ".join(f"sum({m})" for m in MEASURES)
_RANGE = "window_start >= toDateTime(%(start)s) AND window_start < toDateTime(%(end)s)"
# A coarse window counts as closed this long (event time) after it ended: its rows have been loaded.
SETTLE_S = 60


class Unanswerable(ValueError):
    """The rollups cannot answer this combination of filters exactly (one sentence why)."""


class Minute(NamedTuple):
    minute: int  # epoch seconds
    gmv_fen: int
    orders_created: int
    orders_paid: int
    peak_orders: int  # busiest second of the minute: orders created in it
    peak_second: int


def _bounds(start: int, end: int) -> dict:
    return {"start": int(start), "end": int(end)}


# A window's bucket of %(bucket)s seconds, aligned in Shanghai time (a day bucket is a festival day,
# from midnight in Asia/Shanghai; up to an hour, the same as in UTC): shifted by %(shift)s.
_BUCKET = "intDiv(toUInt32(window_start) + %(shift)s, %(bucket)s) * %(bucket)s - %(shift)s"


def bucket_start(epoch_s: int, bucket: int) -> int:
    """The start (epoch s) of the ``bucket``-second bucket that holds ``epoch_s``, in Shanghai time."""
    return (int(epoch_s) + UTC_OFFSET_S) // bucket * bucket - UTC_OFFSET_S


def _bucket(bucket: int) -> dict:
    return {"bucket": int(bucket), "shift": UTC_OFFSET_S}


def _totals(row: tuple) -> dict[str, int]:
    return {m: int(v or 0) for m, v in zip(MEASURES, row)}


# -- time tiers: which rollup answers which part of a range -----------------------------------


@dataclass(frozen=True)
class Piece:
    """Windows of one rollup that a read takes: those starting in each of ``spans`` [lo, hi)."""

    rollup: Rollup
    spans: tuple[tuple[int, int], ...]


def candidates(rollup: Rollup, start: int, end: int, settled: int, bucket: int | None = None) -> list[int]:
    """Starts of ``rollup``'s windows that lie within [start, end) and ended by ``settled``, and
    (with ``bucket``, seconds) each within one bucket: those a read could take from it."""
    size = rollup.window_s
    found, w = [], window_start(start + size - 1, size)  # the first window starting at or after start
    while w + size <= min(end, settled):
        if bucket is None or bucket_start(w, bucket) == bucket_start(w + size - 1, bucket):
            found.append(w)
        w += size
    return found


def plan(tiers: Sequence[Rollup], start: int, end: int, present: Mapping[str, Collection[int]], settled: int,
         bucket: int | None = None) -> list[Piece]:
    """The pieces of a read of [start, end) from a family's ``tiers`` (finest first): coarsest
    first, each coarse tier's windows that are in ``present[name]`` (its rows are there), ended
    by ``settled`` and within the remaining spans; the finest tier takes what is left."""
    todo = [(start, end)] if end > start else []
    pieces = []
    for rollup in reversed(tiers[1:]):
        have, taken, rest = present.get(rollup.name, ()), [], []
        for lo, hi in todo:
            windows = [w for w in candidates(rollup, lo, hi, settled, bucket) if w in have]
            taken += _runs(windows, rollup.window_s)
            rest += _gaps(lo, hi, windows, rollup.window_s)
        if taken:
            pieces.append(Piece(rollup, tuple(taken)))
        todo = rest
    if todo:
        pieces.append(Piece(tiers[0], tuple(todo)))
    return pieces


def _runs(windows: list[int], size: int) -> list[tuple[int, int]]:
    """Consecutive windows joined into spans [first start, last end)."""
    runs: list[tuple[int, int]] = []
    for w in windows:
        if runs and runs[-1][1] == w:
            runs[-1] = (runs[-1][0], w + size)
        else:
            runs.append((w, w + size))
    return runs


def _gaps(lo: int, hi: int, windows: list[int], size: int) -> list[tuple[int, int]]:
    """What of [lo, hi) the windows leave uncovered."""
    gaps, at = [], lo
    for start, end in _runs(windows, size):
        if start > at:
            gaps.append((at, start))
        at = end
    return gaps + ([(at, hi)] if hi > at else [])


@dataclass(frozen=True)
class Source:
    """Which rows of which family answer a selection: the family's tiers, a condition on key
    columns (PREWHERE, may be empty) and its parameters, and the measures summed."""

    tiers: tuple[Rollup, ...]
    keys: str = ""
    params: dict = field(default_factory=dict)
    measures: tuple[str, ...] = MEASURES

    @property
    def grain(self) -> int:
        return self.tiers[0].window_s


def present(run: Run, db: str, windows: Mapping[Rollup, list[int]], tier: Tier = COVERAGE) -> dict[str, frozenset[int]]:
    """Of each coarse tier's ``windows`` (starts, in order), those that have rows, in one statement
    (each tier asked over the span from its first window to its last)."""
    asked = [(rollup, found[0], found[-1]) for rollup, found in windows.items() if found]
    if not asked:
        return {}
    params = {f"first{i}": int(first) for i, (_, first, _) in enumerate(asked)}
    params |= {f"last{i}": int(last) for i, (_, _, last) in enumerate(asked)}
    sql = " UNION ALL ".join(
        f"SELECT '{rollup.name}' AS r, toUInt32(window_start) AS w FROM {db}.{rollup.table} "
        f"WHERE window_start >= toDateTime(%(first{i})s) AND window_start <= toDateTime(%(last{i})s) GROUP BY w"
        for i, (rollup, _, _) in enumerate(asked))
    found: dict[str, set[int]] = {rollup.name: set() for rollup, _, _ in asked}
    for name, w in run(sql, params, tier):
        found[name].add(int(w))
    return {name: frozenset(ws) for name, ws in found.items()}


def pieces(run: Run, db: str, tiers: Sequence[Rollup], start: int, end: int, span: tuple[int, int],
           bucket: int | None = None) -> list[Piece]:
    """:func:`plan` of [start, end) with the coverage of each coarse tier read from ``db``
    (only over the windows the read could take: a range shorter than an hour asks nothing).
    ``span``: the oldest and newest second in ``db`` (no window ending before the oldest has rows)."""
    settled = span[1] - SETTLE_S
    windows = {rollup: candidates(rollup, max(start, window_start(span[0], rollup.window_s)), end, settled, bucket)
               for rollup in tiers[1:]}
    return plan(tiers, start, end, present(run, db, windows), settled, bucket)


def _tiered(db: str, parts: list[Piece], source: Source, select: str, group: str) -> tuple[str, dict]:
    """One statement summing the pieces' rows per ``group`` (``select`` names its columns): a
    branch per piece (a long one in a few, which the server reads side by side: FINAL reads a
    branch in one thread on 18.16), added up in the outer query (``m_<measure>`` columns). The
    windows and the keys go in PREWHERE: only the matching rows are merged by FINAL."""
    params = dict(source.params)
    branches = []
    for i, (rollup, spans) in enumerate((p.rollup, chunk) for p in parts for chunk in _chunks(p)):
        ranges = []
        for j, (lo, hi) in enumerate(spans):
            params |= {f"lo{i}_{j}": int(lo), f"hi{i}_{j}": int(hi)}
            ranges.append(f"window_start >= toDateTime(%(lo{i}_{j})s) AND window_start < toDateTime(%(hi{i}_{j})s)")
        where = "(" + " OR ".join(f"({r})" for r in ranges) + ")" + (f" AND {source.keys}" if source.keys else "")
        branches.append(f"SELECT {select}, {', '.join(f'sum({m}) AS m_{m}' for m in source.measures)} "
                        f"FROM {db}.{rollup.table} FINAL PREWHERE {where} GROUP BY {group}")
    sums = ", ".join(f"sum(m_{m})" for m in source.measures)
    return f"SELECT {group}, {sums} FROM ({' UNION ALL '.join(branches)}) GROUP BY {group}", params


# A piece longer than this is read in branches of about this length each, at most _BRANCHES.
_BRANCH_S, _BRANCHES = 2 * 86400, 4


def _chunks(piece: Piece) -> list[tuple[tuple[int, int], ...]]:
    """The piece's spans cut into a few chunks of about equal length, to read side by side (the
    windows that start in a span are those starting in its parts); a short piece, or a tier of
    days (few rows), is one."""
    lo, hi = piece.spans[0][0], piece.spans[-1][1]
    if piece.rollup.window_s >= 86400 or hi - lo <= _BRANCH_S:
        return [piece.spans]
    n = min(_BRANCHES, -(-(hi - lo) // _BRANCH_S))
    cuts = [lo + (hi - lo) * i // n for i in range(n)] + [hi]
    chunks = [tuple((max(a, c0), min(b, c1)) for a, b in piece.spans if max(a, c0) < min(b, c1))
              for c0, c1 in pairwise(cuts)]
    return [c for c in chunks if c]


def read(run: Run, db: str, source: Source, start: int, end: int, span: tuple[int, int], select: str,
         group: str, tail: str = "", bucket: int | None = None, tier: Tier = EXPLORE) -> list[tuple]:
    """``(*group columns, *source.measures)`` of ``source``'s rows in [start, end), each tier where it
    answers (see the module), summed per ``group``; ``tail``: ORDER BY / LIMIT of the sums.
    ``span``: :func:`extent` of ``db``."""
    parts = pieces(run, db, source.tiers, start, end, span, bucket)
    if not parts:
        return []
    sql, params = _tiered(db, parts, source, select, group)
    return run(f"{sql} {tail}".rstrip(), params, tier)


# -- wall ------------------------------------------------------------------------------------


def newest(run: Run, db: str, hint: int | None = None) -> tuple[int, int] | None:
    """``(newest window_start, its newest written_ms)`` of orders_per_second, or None if empty.

    With ``hint`` (the previous answer) only the last hour is scanned, which is what every
    poll needs; the whole table is read when that finds nothing (first call, or data reset).
    """
    sql = f"SELECT toUInt32(max(window_start)), max(written_ms), count() FROM {db}.{SECONDS}"
    if hint:
        rows = run(sql + " WHERE window_start >= toDateTime(%(since)s)", {"since": int(hint) - 3600}, LIVE)
        if rows and int(rows[0][2]):
            return int(rows[0][0]), int(rows[0][1])
    rows = run(sql, {}, LIVE)
    return (int(rows[0][0]), int(rows[0][1])) if rows and int(rows[0][2]) else None


def minutes(run: Run, db: str, start: int, end: int, tier: Tier = LIVE) -> list[Minute]:
    """Per-minute totals of the per-second rollup over [start, end), with each minute's peak second."""
    sql = f"""
        SELECT intDiv(s, 60) * 60 AS m, sum(g), sum(c), sum(p), max(c), argMax(s, c)
        FROM (
            SELECT toUInt32(window_start) AS s, sum(gmv_fen) AS g, sum(orders_created) AS c,
                   sum(orders_paid) AS p
            FROM {db}.{SECONDS} FINAL
            WHERE {_RANGE}
            GROUP BY s
        )
        GROUP BY m ORDER BY m"""
    rows = run(sql, _bounds(start, end), tier)
    known = _recall(_MINUTES, rows)  # a cached answer is the same rows object: typed once
    if known is None:
        known = [Minute(*map(int, r)) for r in rows]
        _remember(_MINUTES, id(rows), (rows, known), 16)
    return known


_MINUTES: dict[int, tuple[list, list[Minute]]] = {}


def totals(run: Run, db: str, start: int = 0, end: int = 2**32 - 1, span: tuple[int, int] | None = None,
           tier: Tier = SETTLED) -> dict[str, int]:
    """Sum of every measure of the order totals over [start, end) (late rows included): closed
    days and hours from their tiers, the rest per second (``span``: :func:`extent` of ``db``,
    looked up when not given)."""
    span = span or extent(run, db)
    if span is None:
        return _totals(())
    rows = read(run, db, Source(TOTALS), start, end, span, "toUInt8(0) AS k", "k", tier=tier)
    return _totals(rows[0][1:]) if rows else _totals(())


def per_second(run: Run, db: str, start: int, end: int, tier: Tier = LIVE) -> list[tuple[int, int, int]]:
    """``(second, orders_created, gmv_fen)`` for each second of [start, end) that has rows."""
    sql = f"""
        SELECT toUInt32(window_start) AS s, sum(orders_created), sum(gmv_fen)
        FROM {db}.{SECONDS} FINAL WHERE {_RANGE} GROUP BY s ORDER BY s"""
    return [(int(s), int(c), int(g)) for s, c, g in run(sql, _bounds(start, end), tier)]


def dimension_sums(run: Run, db: str, start: int, end: int, span: tuple[int, int],
                   tier: Tier = SETTLED) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every low-cardinality field's values over [start, end), each on its own: ``{field: {value:
    MEASURES}}`` (values as text; VIP's are '1' and '0'), from the live per-second rows and their
    closed minutes, hours and days."""
    rows = read(run, db, Source(DIMENSIONS), start, end, span, "dimension, value", "dimension, value", tier=tier)
    out: dict[str, dict[str, tuple[int, ...]]] = {d: {} for d in CUBE_DIMENSIONS}
    for dim, value, *measures in rows:
        out.setdefault(str(dim), {})[str(value)] = tuple(map(int, measures))
    return out


def top_brands(run: Run, db: str, day0: int, ranking: str = "", tier: Tier = LIVE) -> list[tuple]:
    """The festival day's top brands by GMV (``ranking`` '': over all brands; a category's name:
    within it), ``(brand, *MEASURES)`` first to last: the live ranking's non-zero rows (a brand
    that left it is a row of zeros) in the contract's order, the first ``TOP_BRANDS.n`` of them
    (more may be there after a state expiry)."""
    sql = f"""
        SELECT brand, {", ".join(MEASURES)} FROM {db}.{TOP.table} FINAL
        WHERE window_start = toDateTime(%(day)s) AND ranking = %(ranking)s"""
    rows = [(str(b), tuple(map(int, measures))) for b, *measures in run(sql, {"day": int(day0), "ranking": ranking},
                                                                          tier)]
    ranked = sorted(((b, m) for b, m in rows if any(m)),
                    key=lambda r: TOP_BRANDS.rank_key(r[0], dict(zip(MEASURES, r[1]))))
    return [(b, *m) for b, m in ranked[:TOP_BRANDS.n]]


def logistics(run: Run, db: str, start: int, end: int, span: tuple[int, int],
              tier: Tier = MINUTE) -> dict[str, int]:
    """Parcel events per status over [start, end): closed minutes from the per-minute rollup, the
    rest per second (``span``: :func:`extent` of ``db``)."""
    rows = read(run, db, Source(PARCELS, measures=("events",)), start, end, span, "status", "status", tier=tier)
    found = {str(s): int(n) for s, n in rows}
    return {s: found.get(s, 0) for s in PARCEL_STATUSES} | found


def pipeline(run: Run, db: str, start: int = 0, end: int = 2**32 - 1,
             tier: Tier = MINUTE) -> list[tuple[str, str, str, int]]:
    """``(source, kind, reason, events)`` set aside by the pipeline: kind 'rejected' or 'late'
    (the table's 'received' rows, every message, are what the rejected-spike alert divides by)."""
    sql = f"""
        SELECT source, kind, reason, sum(events) AS n FROM {db}.{SET_ASIDE} FINAL
        WHERE {_RANGE} AND kind IN ('rejected', 'late') GROUP BY source, kind, reason ORDER BY n DESC"""
    return [(s, k, r, int(n)) for s, k, r, n in run(sql, _bounds(start, end), tier)]


# -- parcels as the logistics partner reports them -------------------------------------------
# Continuous rollups of the job's state per parcel (rules: stream/parcels.py): one row per key,
# rewritten as parcels move (a key that empties is a row of 0, left out here). Small tables:
# each read below takes one festival day's rows, or the few rows not per day.

PARCEL_STAGES = ROLLUPS["parcel_stages"].table
DELIVERY_TIMES = ROLLUPS["parcel_delivery_times"].table
CARRIER_EXCEPTIONS = ROLLUPS["parcel_exceptions"].table
FIRST_DELIVERY = ROLLUPS["parcel_first_delivery"].table
PARCEL_FLOWS = ROLLUPS["parcel_flows_minute"].table


def parcel_stages(run: Run, db: str, day0: int, tier: Tier = LIVE) -> dict[str, int]:
    """Parcels in each of :data:`stream.parcels.STAGES` now: the stages not per day (their rows at
    window_start 0) and 'delivered' of the festival day starting at ``day0`` (delivered today).
    Every stage is there, 0 when it has no parcel."""
    sql = f"""
        SELECT stage, sum(parcels) FROM {db}.{PARCEL_STAGES} FINAL
        WHERE (window_start = toDateTime(%(day)s) AND stage = %(per_day)s)
           OR (window_start = toDateTime(%(not_per_day)s) AND stage != %(per_day)s)
        GROUP BY stage"""
    params = {"day": int(day0), "per_day": PER_DAY_STAGE, "not_per_day": NOT_PER_DAY}
    found = {str(s): int(n) for s, n in run(sql, params, tier)}
    return {s: found.get(s, 0) for s in STAGES}


def delivery_time_buckets(run: Run, db: str, day0: int, tier: Tier = MINUTE) -> dict[str, list[int]]:
    """Legs of the festival day starting at ``day0`` (the day of the leg's end), over every
    destination province and carrier: ``{leg: [legs in each bucket of DELIVERY_BUCKET_EDGES_S]}``
    for each of :data:`stream.parcels.LEGS` (zeros when none)."""
    sql = f"""
        SELECT leg, bucket_s, sum(parcels) FROM {db}.{DELIVERY_TIMES} FINAL
        WHERE window_start = toDateTime(%(day)s) GROUP BY leg, bucket_s"""
    return bucket_counts(run(sql, {"day": int(day0)}, tier))


def bucket_counts(rows: Sequence[tuple]) -> dict[str, list[int]]:
    """``(leg, bucket_s, legs)`` rows as ``{leg: [legs per bucket]}``: a bucket_s is its bucket's
    lower edge (one that is not an edge counts in the bucket that holds it)."""
    out = {leg: [0] * BUCKETS for leg in LEGS}
    for leg, bucket_s, n in rows:
        if str(leg) in out:
            out[str(leg)][bucket_of(int(bucket_s) * 1000)] += int(n)
    return out


def carrier_exceptions(run: Run, db: str, tier: Tier = MINUTE) -> list[tuple[str, int, int]]:
    """``(carrier, parcels, parcels with an exception)`` since the stream began, by carrier name."""
    sql = f"""
        SELECT carrier, sum(parcels) AS n, sum(with_exception) FROM {db}.{CARRIER_EXCEPTIONS} FINAL
        GROUP BY carrier HAVING n > 0 ORDER BY carrier"""
    return [(str(c), int(n), int(e)) for c, n, e in run(sql, {}, tier)]


def first_delivery_ms(run: Run, db: str, day0: int, tier: Tier = LIVE) -> int | None:
    """The earliest delivered event time (epoch ms) of the festival day starting at ``day0``, or
    None before its first delivery."""
    sql = f"""
        SELECT min(first_delivered_ms), count() FROM {db}.{FIRST_DELIVERY} FINAL
        WHERE window_start = toDateTime(%(day)s) AND first_delivered_ms > 0"""
    rows = run(sql, {"day": int(day0)}, tier)
    return int(rows[0][0]) if rows and int(rows[0][1]) else None


def parcel_flows(run: Run, db: str, start: int, end: int, tier: Tier = MINUTE) -> dict[tuple[str, str], int]:
    """Parcels picked up in the minutes starting in [start, end), per ``(origin, destination)``
    province (origin 'unknown': events sent without one), late corrections added in."""
    sql = f"""
        SELECT origin, province, sum(parcels) AS n FROM {db}.{PARCEL_FLOWS} FINAL
        WHERE {_RANGE} GROUP BY origin, province HAVING n > 0"""
    return {(str(o), str(p)): int(n) for o, p, n in run(sql, _bounds(start, end), tier)}


# -- buyers ---------------------------------------------------------------------------------
# buyers_per_second: the consumers whose first paid event of their Shanghai day falls in each
# second (new buyers), so a day's seconds add up to its unique buyers; buyers_per_minute: the
# distinct buyers of each minute. Both by VIP flag only, on-time and late together (no late column).


def new_buyers(run: Run, db: str, start: int, end: int, tier: Tier = SETTLED) -> dict[int, int]:
    """New buyers over [start, end) per VIP flag, ``{0: n, 1: n}``: within one festival day, the
    day's unique buyers of that span (each consumer once a day, in the second they first paid)."""
    sql = f"SELECT vip, sum(new_buyers) FROM {db}.{NEW_BUYERS} FINAL WHERE {_RANGE} GROUP BY vip"
    found = {int(v): int(n) for v, n in run(sql, _bounds(start, end), tier)}
    return {0: found.get(0, 0), 1: found.get(1, 0)}


def new_buyers_per_second(run: Run, db: str, start: int, end: int, tier: Tier = LIVE) -> list[tuple[int, int]]:
    """``(second, new buyers)`` for each second of [start, end) that has any."""
    sql = f"""
        SELECT toUInt32(window_start) AS s, sum(new_buyers) AS n FROM {db}.{NEW_BUYERS} FINAL
        WHERE {_RANGE} GROUP BY s HAVING n > 0 ORDER BY s"""
    return [(int(s), int(n)) for s, n in run(sql, _bounds(start, end), tier)]


def buyers_per_minute(run: Run, db: str, start: int, end: int, tier: Tier = LIVE) -> dict[int, int]:
    """Distinct buyers of each minute of [start, end) (VIPs and others: each buyer is one of them)."""
    sql = f"""
        SELECT toUInt32(window_start) AS m, sum(buyers) FROM {db}.{BUYERS} FINAL
        WHERE {_RANGE} GROUP BY m"""
    return {int(m): int(n) for m, n in run(sql, _bounds(start, end), tier)}


def buyer_series(run: Run, db: str, filters: dict[str, str], start: int, end: int, bucket: int,
                 tier: Tier = EXPLORE) -> list[tuple[int, int, int, int]]:
    """``(bucket start, buyers, new buyers, minutes' buyers)`` per ``bucket`` seconds (a multiple
    of 60): the distinct buyers of the bucket's busiest minute (of its only minute for 1-minute
    buckets), its new buyers (first paid event of their day), and its minutes' buyers added up
    (less the new buyers: the minutes' repeat buyers). Only the VIP filter applies: raises
    :class:`Unanswerable` for any other."""
    filters = check_filters(filters)
    others = [d for d in filters if d != "vip"]
    if others:
        raise Unanswerable(f"The rollups keep buyers per second and minute by VIP only, so nothing holds "
                           f"buyers by {named(others)}: clear that filter or pick an order measure.")
    where, params = _in_cube(filters)
    where = f" AND {where}" if where else ""
    params = {**params, **_bounds(start, end), **_bucket(bucket)}
    busiest = run(f"""
        SELECT intDiv(m + %(shift)s, %(bucket)s) * %(bucket)s - %(shift)s AS b, max(n), sum(n) FROM (
            SELECT toUInt32(window_start) AS m, sum(buyers) AS n FROM {db}.{BUYERS} FINAL
            WHERE {_RANGE}{where} GROUP BY m)
        GROUP BY b""", params, tier)
    new = run(f"""
        SELECT {_BUCKET} AS b, sum(new_buyers)
        FROM {db}.{NEW_BUYERS} FINAL WHERE {_RANGE}{where} GROUP BY b""", params, tier)
    buyers = {int(b): (int(n), int(total)) for b, n, total in busiest}
    firsts = {int(b): int(n) for b, n in new}
    return [(b, buyers.get(b, (0, 0))[0], firsts.get(b, 0), buyers.get(b, (0, 0))[1])
            for b in sorted(set(buyers) | set(firsts)) if buyers.get(b, (0, 0))[0] or firsts.get(b, 0)]


# -- filters: which rollup answers a selection ---------------------------------------------

# Every filter of a selection, in the order the page lists them.
FILTERS = (*CUBE_DIMENSIONS[:3], BRAND, *CUBE_DIMENSIONS[3:])
# How a sentence names a field; the others are named as they are spelled.
FILTER_NAMES = {"vip": "VIP", "presale_phase": "pre-sale phase"}
# Flag columns (UInt8): their values are 1 or 0, bound as integers.
_FLAGS = ("vip",)


def check_filters(filters: dict[str, str]) -> dict[str, str]:
    """The non-empty filters, after checking their fields are known ones (and a flag is 1 or 0)."""
    unknown = [d for d in filters if d not in FILTERS]
    if unknown:
        raise ValueError(f"unknown dimension {unknown[0]!r}")
    found = {d: str(v) for d, v in filters.items() if v not in (None, "")}
    bad = [d for d in _FLAGS if found.get(d, "1") not in ("0", "1")]
    if bad:
        raise ValueError(f"{bad[0]} is 1 or 0, not {found[bad[0]][:40]!r}")
    return found


def named(dims) -> str:
    return " and ".join(FILTER_NAMES.get(d, d) for d in dims)


def _brand_by(dims: list[str]) -> Unanswerable:
    """Why brand does not combine with ``dims`` (fields other than brand and category)."""
    return Unanswerable(f"The rollups keep brand only on its own and with its category, "
                        f"so nothing holds brand by {named(dims)}.")


def _in_cube(filters: dict[str, str]) -> tuple[str, dict]:
    """``d = %(f_d)s AND ...`` for each filter (a flag bound as an integer), and the parameters."""
    where = " AND ".join(f"{d} = %(f_{d})s" for d in filters)
    return where, {f"f_{d}": int(v) if d in _FLAGS else v for d, v in filters.items()}


def series_source(filters: dict[str, str]) -> Source:
    """Exactly the rows of a selection: the order totals (no filter), one field on its own, any
    combination of the cube's fields, or brands (a brand alone: summed over its categories; or
    within a category). Raises :class:`Unanswerable` for brand with any other field."""
    filters = check_filters(filters)
    if not filters:
        return Source(TOTALS)
    if len(filters) == 1 and next(iter(filters)) in CUBE_DIMENSIONS:
        (dim, value), = filters.items()
        return Source(DIMENSIONS, "dimension = %(dim)s AND value = %(value)s", {"dim": dim, "value": value})
    if set(filters) <= set(CUBE_DIMENSIONS):
        return Source(CUBE, *_in_cube(filters))
    if set(filters) <= {BRAND, "category"}:
        return Source(BRANDS, *_in_cube(filters))
    raise _brand_by([d for d in filters if d not in (BRAND, "category")])


def bar_source(dim: str, filters: dict[str, str]) -> Source:
    """The rows of "``dim``'s values under ``filters``" (a filter on ``dim`` itself is left out:
    the bars show every value, the chosen one marked): each field on its own when no other filter
    applies, else the cube or brands."""
    others = {d: v for d, v in filters.items() if d != dim}
    if dim in CUBE_DIMENSIONS and not others:  # one row per value already: cheaper than the cube
        return Source(DIMENSIONS)
    if dim in CUBE_DIMENSIONS and set(others) <= set(CUBE_DIMENSIONS):
        return Source(CUBE, *_in_cube(others))
    if {dim, *others} <= {BRAND, "category"}:  # brands, of a category; a brand's category
        return Source(BRANDS, *_in_cube(others))
    raise _brand_by([d for d in (dim, *others) if d not in (BRAND, "category")])

def has_rows(run: Run, db: str, tiers: Sequence[Rollup], tier: Tier = LOOKUP) -> bool:
    """Whether any of a family's ``tiers`` holds a row in ``db`` (what a history supports: it
    keeps the breakdowns from the minute up, none per second)."""
    count = " UNION ALL ".join(f"SELECT count() AS n FROM {db}.{r.table}" for r in tiers)
    rows = run(f"SELECT sum(n) FROM ({count})", {}, tier)
    return bool(rows and int(rows[0][0]))


def extent(run: Run, db: str, tier: Tier = MINUTE) -> tuple[int, int] | None:
    """``(oldest, newest)`` window_start of orders_per_second, or None when it is empty."""
    sql = (f"SELECT toUInt32(min(window_start)), toUInt32(max(window_start)), count() "
           f"FROM {db}.{SECONDS}")
    rows = run(sql, {}, tier)
    return (int(rows[0][0]), int(rows[0][1])) if rows and int(rows[0][2]) else None


def newest_window(run: Run, db: str, rollup: Rollup, start: int, end: int, tier: Tier = COVERAGE) -> int | None:
    """The newest window of ``rollup`` that starts in [start, end) (None: none there): of an
    explore rollup, the newest closed one. Looked for in the range's last day first (a table
    sorted by brand first is scanned for it)."""
    sql = f"SELECT toUInt32(max(window_start)), count() FROM {db}.{rollup.table} WHERE {_RANGE}"
    for lo in dict.fromkeys((max(start, end - 86400), start)):
        rows = run(sql, _bounds(lo, end), tier)
        if rows and int(rows[0][1]):
            return int(rows[0][0])
    return None


# -- explore --------------------------------------------------------------------------------


def series(run: Run, db: str, filters: dict[str, str], start: int, end: int, bucket: int,
           span: tuple[int, int] | None = None, tier: Tier = EXPLORE) -> list[tuple[int, ...]]:
    """``(bucket start, *MEASURES)`` per ``bucket`` seconds (a multiple of the selection's grain,
    :func:`series_source`) for a selection. Raises :class:`Unanswerable` for a combination the
    rollups lack (brand with anything but its category)."""
    source = series_source(filters)
    if bucket % source.grain:
        raise ValueError(f"{bucket} s buckets from rows per {source.grain} s")
    span = span or extent(run, db)
    if span is None:
        return []
    source = Source(source.tiers, source.keys, {**source.params, **_bucket(bucket)})
    rows = read(run, db, source, start, end, span, f"{_BUCKET} AS b", "b", "ORDER BY b LIMIT 20000", bucket, tier)
    return [tuple(map(int, r)) for r in rows]


def breakdown(run: Run, db: str, dim: str, start: int, end: int, filters: dict[str, str] | None = None,
              order_by: str = "gmv_fen", limit: int = 50, span: tuple[int, int] | None = None,
              tier: Tier = EXPLORE) -> tuple[tuple, ...]:
    """``(value, *MEASURES)`` of ``dim``'s values under ``filters`` over [start, end), largest
    ``order_by`` first; values are text (a flag's are '1' and '0'). Raises
    :class:`Unanswerable` for a combination the rollups lack."""
    found = breakdowns(run, db, (dim,), start, end, filters, order_by, limit, span, tier=tier)[dim]
    if isinstance(found, Unanswerable):
        raise found
    return found


def breakdowns(run: Run, db: str, dims: Sequence[str], start: int, end: int, filters: dict[str, str] | None = None,
               order_by: str = "gmv_fen", limit: int = 50, span: tuple[int, int] | None = None,
               pool: Executor | None = None, tier: Tier = EXPLORE) -> dict[str, tuple[tuple, ...] | Unanswerable]:
    """:func:`breakdown` of each of ``dims`` (or why the rollups cannot answer it). Bars read from
    the same rows share one read, grouped by all their fields at once; each bar is its field's
    margin. With ``pool``, the reads run side by side."""
    if any(d not in FILTERS for d in dims) or order_by not in MEASURES:
        raise ValueError(f"unknown dimension or measure: {dims!r}, {order_by!r}")
    filters = check_filters(filters or {})
    out: dict[str, tuple[tuple, ...] | Unanswerable] = {}
    groups: dict[tuple, tuple[Source, list[str]]] = {}
    for dim in dims:
        try:
            source = bar_source(dim, filters)
        except Unanswerable as exc:
            out[dim] = exc
            continue
        key = (source.tiers, source.keys, tuple(sorted(source.params.items())))
        groups.setdefault(key, (source, []))[1].append(dim)
    span = span or extent(run, db)
    submit = pool.submit if pool else _now
    reads = [(fields, submit(_bars_read, run, db, source, fields, start, end, span, tier))
             for source, fields in groups.values()]
    for fields, answer in reads:
        each = bar_source(fields[0], filters).tiers == DIMENSIONS
        for dim, sums in _margins(answer.result(), fields, each).items():
            out[dim] = _ranked_rows(sums, order_by, limit)
    return {dim: out[dim] for dim in dims}


def _bars_read(run: Run, db: str, source: Source, fields: list[str], start: int, end: int,
               span: tuple[int, int] | None, tier: Tier) -> list[tuple]:
    """Rows of ``source`` summed per combination of ``fields``; of each field on its own, rows of
    ``(field, value, *MEASURES)``."""
    if span is None:
        return []
    if source.tiers == DIMENSIONS:
        source, columns = Source(DIMENSIONS, "dimension IN %(fields)s", {"fields": tuple(fields)}), "dimension, value"
    else:
        columns = ", ".join(fields)
    return read(run, db, source, start, end, span, columns, columns, tier=tier)


class _Done:
    """An answer already there, shaped like a finished future."""

    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


def _now(f, *args) -> _Done:
    return _Done(f(*args))


# A cached answer is the same list object on every hit: its margins are added up once.
_MARGINS: dict[int, tuple[list, dict]] = {}


def _margins(rows: list[tuple], fields: list[str], each: bool) -> dict[str, dict[str, tuple[int, ...]]]:
    """``{field: {value as text: MEASURES}}`` from rows per combination of ``fields``, or (``each``)
    from rows of ``(field, value, *MEASURES)`` (see :func:`_bars_read`)."""
    known = _recall(_MARGINS, rows)
    if known is not None:
        return known
    width = len(MEASURES)
    out: dict[str, dict[str, tuple[int, ...]]] = {f: {} for f in fields}
    for row in rows:
        keys, measures = row[:-width], tuple(map(int, row[-width:]))
        for dim, value in ([keys] if each else zip(fields, keys)):
            before = out[dim].get(str(value))
            out[dim][str(value)] = measures if before is None else tuple(a + b for a, b in zip(before, measures))
    _remember(_MARGINS, id(rows), (rows, out), 64)
    return out


def _ranked_rows(sums: dict[str, tuple[int, ...]], order_by: str, limit: int) -> tuple[tuple, ...]:
    """``(value, *MEASURES)`` rows, largest ``order_by`` first (then by value), at most ``limit``."""
    at = MEASURES.index(order_by)
    order = sorted(sums.items(), key=lambda kv: (-kv[1][at], kv[0]))
    return tuple((value, *measures) for value, measures in order[:limit])


def grain(filters: dict[str, str]) -> int:
    """Seconds of the finest rows of a selection (raises :class:`Unanswerable` as series does)."""
    return series_source(filters).grain


# The answers of the queries are memoized per answer object (the cache hands out the same one
# while it lasts), so a poll does not redo Python work over rows it already saw.


def _remember(memo: dict, key, value, most: int) -> None:
    """Keep ``value`` under ``key``, dropping the least recently used entries beyond ``most`` (the
    answers refreshed every second must not push out the settled ones asked for on every poll)."""
    memo.pop(key, None)
    memo[key] = value
    for old in list(memo)[: max(0, len(memo) - most)]:
        memo.pop(old, None)


def _recall(memo: dict, rows):
    """The memo's value for this very ``rows`` object (None if absent), marked as just used."""
    known = memo.get(id(rows))
    if known is None or known[0] is not rows:
        return None
    memo.pop(id(rows), None)
    memo[id(rows)] = known
    return known[1]


def values(run: Run, db: str, dim: str, search: str, start: int, end: int, limit: int = 50,
           span: tuple[int, int] | None = None, tier: Tier = LOOKUP) -> list[str]:
    """Values of ``dim`` (category, province or brand) sold in [start, end) whose name contains
    ``search`` (any case), best sellers first: the options of a searchable dropdown."""
    if dim not in ("category", "province", BRAND):
        raise ValueError(f"unknown dimension {dim!r}")
    span = span or extent(run, db)
    if span is None:
        return []
    column = "value" if dim != BRAND else BRAND
    keys = f"positionCaseInsensitive({column}, %(search)s) > 0"
    source = (Source(BRANDS, keys, {"search": search or ""}) if dim == BRAND else
              Source(DIMENSIONS, f"dimension = %(dim)s AND {keys}", {"dim": dim, "search": search or ""}))
    rows = read(run, db, source, start, end, span, f"{column} AS v", "v",
                f"ORDER BY sum(m_gmv_fen) DESC, v LIMIT {int(limit)}", tier=tier)
    return [str(r[0]) for r in rows]


# -- alerts ---------------------------------------------------------------------------------

ALERT_COLUMNS = ("event_ms", "rule", "severity", "state", "observed", "baseline", "window_start",
                 "window_seconds", "message", "delivery", "attempts")


def alert_events(run: Run, db: str, limit: int = 500, tier: Tier = MINUTE) -> list[dict]:
    """The newest alert state changes (firing / resolved), newest first."""
    cols = ", ".join("toUInt32(window_start)" if c == "window_start" else c for c in ALERT_COLUMNS)
    sql = f"SELECT {cols} FROM {db}.alert_events FINAL ORDER BY event_ms DESC, rule LIMIT {int(limit)}"
    return [dict(zip(ALERT_COLUMNS, r)) for r in run(sql, {}, tier)]



# -- milestones -----------------------------------------------------------------------------


class Passed(NamedTuple):
    """A GMV milestone as the alert service stored it (table ``milestones``, migration 006)."""

    figure_fen: int
    second: int  # epoch s: the first second whose cumulative festival GMV reaches the figure
    gmv_fen: int  # the cumulative GMV at the end of that second
    first_second: int  # the second as first recorded (a late correction may have moved it since)
    recorded_ms: int  # wall clock: when the service first recorded it
    moved_ms: int  # wall clock: when it last moved (0: never)


def milestones(run: Run, db: str, tier: Tier = LIVE) -> list[Passed]:
    """Every GMV milestone passed so far (newest version of each row), smallest figure first."""
    sql = (f"SELECT figure_fen, toUInt32(passed_second), gmv_fen, toUInt32(first_second), recorded_ms, moved_ms "
           f"FROM {db}.milestones FINAL ORDER BY figure_fen")
    return [Passed(*map(int, r)) for r in run(sql, {}, tier)]
