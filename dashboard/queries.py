"""Every SQL statement of the dashboard, in one place.

Each function takes ``run`` -- a callable ``run(sql, params, tier) -> rows`` such as
:meth:`dashboard.db.Database.run` (real ClickHouse through the shared cache) or a chDB
adapter in the tests -- and the database name (a validated identifier from settings).
Every filter *value* is a bound parameter (clickhouse-driver's ``%(name)s``), never pasted
into the SQL; only identifiers from fixed lists here reach the SQL text.

Rollup semantics (the contract with the Flink job): tables are
``ReplacingMergeTree(written_ms)``, so reads use ``FINAL`` (the newest version of each
window); rows with ``late = 1`` are corrections for the same window and dimensions, so sums
include both ``late`` values. Windows are UTC ``DateTime``; bounds are epoch seconds and
every window comes back as epoch seconds (``toUInt32``), the same on ClickHouse 18.16 and
current servers. No statement uses what 18.16 lacks (see DESIGN.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from stream.contract import CUBE_DIMENSIONS, DIMENSIONS, MEASURES, PARCEL_STATUSES, ROLLUPS


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


class Run(Protocol):
    def __call__(self, sql: str, params: dict | None = None, tier: Tier | None = None) -> list[tuple]: ...


# The rollup tables, named once in stream.contract.
SECONDS = ROLLUPS["orders_second"].table
BREAKDOWN = ROLLUPS["orders_minute"].table
PAIR = ROLLUPS["orders_minute_pair"].table
CUBE = ROLLUPS["orders_minute_cube"].table
PARCELS = ROLLUPS["logistics_minute"].table
SET_ASIDE = ROLLUPS["pipeline_events"].table
NEW_BUYERS = ROLLUPS["buyers_second"].table
BUYERS = ROLLUPS["buyers_minute"].table
_SUMS = ", ".join(f"sum({m})" for m in MEASURES)
_RANGE = "window_start >= toDateTime(%(start)s) AND window_start < toDateTime(%(end)s)"


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


def _totals(row: tuple) -> dict[str, int]:
    return {m: int(v or 0) for m, v in zip(MEASURES, row)}


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


def totals(run: Run, db: str, start: int = 0, end: int = 2**32 - 1, tier: Tier = SETTLED) -> dict[str, int]:
    """Sum of every measure of the per-second rollup over [start, end) (late rows included)."""
    sql = f"SELECT {_SUMS} FROM {db}.{SECONDS} FINAL WHERE {_RANGE}"
    rows = run(sql, _bounds(start, end), tier)
    return _totals(rows[0]) if rows else _totals(())


def per_second(run: Run, db: str, start: int, end: int, tier: Tier = LIVE) -> list[tuple[int, int, int]]:
    """``(second, orders_created, gmv_fen)`` for each second of [start, end) that has rows."""
    sql = f"""
        SELECT toUInt32(window_start) AS s, sum(orders_created), sum(gmv_fen)
        FROM {db}.{SECONDS} FINAL WHERE {_RANGE} GROUP BY s ORDER BY s"""
    return [(int(s), int(c), int(g)) for s, c, g in run(sql, _bounds(start, end), tier)]


def logistics(run: Run, db: str, start: int, end: int, tier: Tier = MINUTE) -> dict[str, int]:
    """Parcel events per status over [start, end), from the per-minute logistics rollup."""
    sql = f"""
        SELECT status, sum(events) FROM {db}.{PARCELS} FINAL
        WHERE {_RANGE} GROUP BY status"""
    found = {s: int(n) for s, n in run(sql, _bounds(start, end), tier)}
    return {s: found.get(s, 0) for s in PARCEL_STATUSES} | found


def pipeline(run: Run, db: str, start: int = 0, end: int = 2**32 - 1,
             tier: Tier = MINUTE) -> list[tuple[str, str, str, int]]:
    """``(source, kind, reason, events)`` set aside by the pipeline: kind 'rejected' or 'late'
    (the table's 'received' rows, every message, are what the rejected-spike alert divides by)."""
    sql = f"""
        SELECT source, kind, reason, sum(events) AS n FROM {db}.{SET_ASIDE} FINAL
        WHERE {_RANGE} AND kind IN ('rejected', 'late') GROUP BY source, kind, reason ORDER BY n DESC"""
    return [(s, k, r, int(n)) for s, k, r, n in run(sql, _bounds(start, end), tier)]


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
    params = {**params, **_bounds(start, end), "bucket": int(bucket)}
    busiest = run(f"""
        SELECT intDiv(m, %(bucket)s) * %(bucket)s AS b, max(n), sum(n) FROM (
            SELECT toUInt32(window_start) AS m, sum(buyers) AS n FROM {db}.{BUYERS} FINAL
            WHERE {_RANGE}{where} GROUP BY m)
        GROUP BY b""", params, tier)
    new = run(f"""
        SELECT intDiv(toUInt32(window_start), %(bucket)s) * %(bucket)s AS b, sum(new_buyers)
        FROM {db}.{NEW_BUYERS} FINAL WHERE {_RANGE}{where} GROUP BY b""", params, tier)
    buyers = {int(b): (int(n), int(total)) for b, n, total in busiest}
    firsts = {int(b): int(n) for b, n in new}
    return [(b, buyers.get(b, (0, 0))[0], firsts.get(b, 0), buyers.get(b, (0, 0))[1])
            for b in sorted(set(buyers) | set(firsts)) if buyers.get(b, (0, 0))[0] or firsts.get(b, 0)]


# -- filters: which rollup answers a selection ---------------------------------------------

# Every filter of a selection: the per-minute dimensions, then the cube's other fields.
FILTERS = (*DIMENSIONS, *(d for d in CUBE_DIMENSIONS if d not in DIMENSIONS))
# How a sentence names a field; the others are named as they are spelled.
FILTER_NAMES = {"vip": "VIP", "presale_phase": "pre-sale phase"}
# Flag columns (UInt8): their values are 1 or 0, bound as integers.
_FLAGS = ("vip",)
# Brand is kept per minute on its own (orders_per_minute) and within its category (the pair
# table's category -> brand rows); nothing else holds it. (The pair table's province -> channel
# rows are no longer read: the cube answers that and more.)
_BRAND_PAIR = {"pdim": "category", "cdim": "brand"}


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
    return Unanswerable(f"The rollups keep brand only per minute on its own and within its category, "
                        f"so nothing holds brand by {named(dims)}.")


def _in_cube(filters: dict[str, str]) -> tuple[str, dict]:
    """``AND d = %(f_d)s`` for each filter (a flag bound as an integer), and the parameters."""
    where = "".join(f" AND {d} = %(f_{d})s" for d in filters)
    return where, {f"f_{d}": int(v) if d in _FLAGS else v for d, v in filters.items()}


def series_table(filters: dict[str, str]) -> str:
    """The rollup table that answers a selection's series (see :func:`_series_source`); raises
    :class:`Unanswerable` for a combination the rollups lack."""
    filters = check_filters(filters)
    if not filters:
        return SECONDS
    if len(filters) == 1 and next(iter(filters)) in DIMENSIONS:
        return BREAKDOWN
    if set(filters) <= set(CUBE_DIMENSIONS):
        return CUBE
    if set(filters) == {"category", "brand"}:
        return PAIR
    raise _brand_by([d for d in filters if d not in ("brand", "category")])


def _series_source(db: str, filters: dict[str, str]) -> tuple[str, str, dict]:
    """FROM clause, extra WHERE and params selecting exactly the rows of ``filters``: the
    per-second totals, one per-minute dimension, any combination of the cube's fields, or a
    brand within its category."""
    table = series_table(filters)
    if table == SECONDS:
        return f"{db}.{SECONDS}", "", {}
    if table == BREAKDOWN:
        (dim, value), = filters.items()
        return (f"{db}.{BREAKDOWN}", " AND dimension = %(dim)s AND value = %(value)s",
                {"dim": dim, "value": value})
    if table == CUBE:
        return (f"{db}.{CUBE}", *_in_cube(filters))
    where = (" AND parent_dimension = %(pdim)s AND parent_value = %(pvalue)s"
             " AND dimension = %(cdim)s AND value = %(cvalue)s")
    return f"{db}.{PAIR}", where, {**_BRAND_PAIR, "pvalue": filters["category"], "cvalue": filters["brand"]}


def has_rows(run: Run, db: str, table: str, tier: Tier = LOOKUP) -> bool:
    """Whether ``db``'s rollup ``table`` holds any row (what a history supports)."""
    if table not in (SECONDS, BREAKDOWN, PAIR, CUBE, PARCELS):
        raise ValueError(f"not a rollup table: {table!r}")
    rows = run(f"SELECT count() FROM {db}.{table}", {}, tier)
    return bool(rows and int(rows[0][0]))


def _breakdown_source(db: str, dim: str, filters: dict[str, str]) -> tuple[str, str, str, dict]:
    """FROM, grouping column, extra WHERE and params of "``dim``'s values under ``filters``"
    (a filter on ``dim`` itself is left out: the bars show every value, the chosen one marked)."""
    others = {d: v for d, v in filters.items() if d != dim}
    if not others and dim in DIMENSIONS:  # one row per value already: cheaper than the cube
        return f"{db}.{BREAKDOWN}", "value", " AND dimension = %(dim)s", {"dim": dim}
    if dim in CUBE_DIMENSIONS and set(others) <= set(CUBE_DIMENSIONS):
        return (f"{db}.{CUBE}", dim, *_in_cube(others))
    pair = f"{db}.{PAIR}"
    where = " AND parent_dimension = %(pdim)s AND dimension = %(cdim)s"
    if dim == "brand" and set(others) == {"category"}:  # a category's brands
        return pair, "value", where + " AND parent_value = %(fvalue)s", {**_BRAND_PAIR, "fvalue": others["category"]}
    if dim == "category" and set(others) == {"brand"}:  # a brand's category
        return pair, "parent_value", where + " AND value = %(fvalue)s", {**_BRAND_PAIR, "fvalue": others["brand"]}
    raise _brand_by([d for d in (dim, *others) if d not in ("brand", "category")])


def extent(run: Run, db: str, tier: Tier = MINUTE) -> tuple[int, int] | None:
    """``(oldest, newest)`` window_start of orders_per_second, or None when it is empty."""
    sql = (f"SELECT toUInt32(min(window_start)), toUInt32(max(window_start)), count() "
           f"FROM {db}.{SECONDS}")
    rows = run(sql, {}, tier)
    return (int(rows[0][0]), int(rows[0][1])) if rows and int(rows[0][2]) else None


# -- explore --------------------------------------------------------------------------------


def series(run: Run, db: str, filters: dict[str, str], start: int, end: int, bucket: int,
           tier: Tier = EXPLORE) -> list[tuple[int, ...]]:
    """``(bucket start, *MEASURES)`` per ``bucket`` seconds (a multiple of 60) for a selection.
    Raises :class:`Unanswerable` for a combination the rollups lack (brand with anything but
    its category)."""
    source, where, params = _series_source(db, check_filters(filters))
    sql = f"""
        SELECT intDiv(toUInt32(window_start), %(bucket)s) * %(bucket)s AS b, {_SUMS}
        FROM {source} FINAL WHERE {_RANGE}{where}
        GROUP BY b ORDER BY b LIMIT 20000"""
    rows = run(sql, {**params, **_bounds(start, end), "bucket": int(bucket)}, tier)
    return [tuple(map(int, r)) for r in rows]


def breakdown(run: Run, db: str, dim: str, start: int, end: int, filters: dict[str, str] | None = None,
              order_by: str = "gmv_fen", limit: int = 50, tier: Tier = EXPLORE) -> tuple[tuple, ...]:
    """``(value, *MEASURES)`` of ``dim``'s values under ``filters`` over [start, end), largest
    ``order_by`` first; values are text (a flag's are '1' and '0'). Raises
    :class:`Unanswerable` for a combination the rollups lack."""
    if dim not in FILTERS or order_by not in MEASURES:
        raise ValueError(f"unknown dimension or measure: {dim!r}, {order_by!r}")
    source, column, where, params = _breakdown_source(db, dim, check_filters(filters or {}))
    sql = f"""
        SELECT {column} AS v, {_SUMS} FROM {source} FINAL WHERE {_RANGE}{where}
        GROUP BY v ORDER BY sum({order_by}) DESC, v LIMIT {int(limit)}"""
    return _typed_rows(run(sql, {**params, **_bounds(start, end)}, tier))


def cube_sums(run: Run, db: str, dims: tuple[str, ...], start: int, end: int,
              tier: Tier = EXPLORE) -> tuple[tuple, ...]:
    """``(*values of dims, *MEASURES)`` for each combination of ``dims`` (fields of the cube)
    sold in [start, end); values are text (a flag's are '1' and '0'). A few fields of few values
    each give a few dozen rows, from which a reader takes each field's split at once."""
    if not dims or any(d not in CUBE_DIMENSIONS for d in dims):
        raise ValueError(f"not fields of the cube: {dims!r}")
    columns = ", ".join(dims)
    sql = f"""
        SELECT {columns}, {_SUMS} FROM {db}.{CUBE} FINAL WHERE {_RANGE}
        GROUP BY {columns} ORDER BY {columns}"""
    return _typed_rows(run(sql, _bounds(start, end), tier), keys=len(dims))


# A cached answer is the same list object on every hit: typed once per answer, not per poll
# (the wall's settled brands are thousands of rows). id -> (raw rows, typed rows).
_TYPED: dict[int, tuple[list, tuple]] = {}


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


def _typed_rows(rows: list[tuple], keys: int = 1) -> tuple[tuple, ...]:
    """``(*keys as text, *measures as int)`` of each row (the first ``keys`` columns are values),
    shared by every caller of one answer."""
    known = _recall(_TYPED, rows)
    if known is not None:
        return known
    typed = tuple((*map(str, r[:keys]), *map(int, r[keys:])) for r in rows)
    _remember(_TYPED, id(rows), (rows, typed), 64)
    return typed


def values(run: Run, db: str, dim: str, search: str, start: int, end: int, limit: int = 50,
           tier: Tier = LOOKUP) -> list[str]:
    """Values of ``dim`` sold in [start, end) whose name contains ``search`` (any case), best
    sellers first: the options of a searchable dropdown. Ranks without FINAL (an order, not a sum)."""
    if dim not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dim!r}")
    sql = f"""
        SELECT value FROM {db}.{BREAKDOWN}
        WHERE {_RANGE} AND dimension = %(dim)s AND positionCaseInsensitive(value, %(search)s) > 0
        GROUP BY value ORDER BY sum(gmv_fen) DESC, value LIMIT {int(limit)}"""
    rows = run(sql, {**_bounds(start, end), "dim": dim, "search": search or ""}, tier)
    return [r[0] for r in rows]


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
