"""The job's rollups as Flink SQL, composed from their declarations in ``stream.contract``.

Pure text builders, no I/O. The input is the deduplicated valid events of
``stream.job.rollup_sql`` (``orders_valid``, split into ``orders_ontime`` and ``orders_late`` by the
per-partition watermark; the same for logistics); the output is one INSERT per sink.

- Every rollup but the continuous ones is an event-time window (``TUMBLE``) over the on-time
  events, written once when the watermark passes its end: the live path's per-second windows a
  moment after each second, the explore path's minutes, 5 minutes, hours and days as each closes.
  The job sums the on-time events per second in two windows of its own first (:data:`ROOTS`): every
  combination of the low-cardinality fields (the cube), and every brand with its category. Each
  rollup is then a window over the closed windows of the coarsest finer source whose rows hold its
  grouping (cascading windows: an hour of the cube is twelve closed 5 minutes of it; the seconds'
  totals and breakdowns are the cube's second summed), so an event costs two in-memory sums, not one
  per rollup, and the rest of the job works on a few thousand rows a second whatever the rate.
- Late events (behind the watermark) go to one continuous aggregate per rollup and its tiers:
  ``late = 1`` rows, which readers add in.
- Continuous: the day's top brands (every valid event summed per festival day and brand, then
  Flink's Top-N emitting only what changed), the buyers, what the pipeline set aside.

No mini-batch: Flink's processing-time mini-batch replaces the event-time watermark downstream with
processing-time marks (every window would close at once on a replay), and a continuous aggregate
over the events needs that mode. Its job, writing a changed row once a second rather than on every
event, is the sinks' (``stream.job.runner``): the late rows and the continuous rollups go through an
upsert sink that keeps the last row per key and writes what it holds once a second.

Windows are identified by their start in epoch seconds and align in UTC, days too
(``contract.window_start``); the top brands and the buyers count festival days (Asia/Shanghai).
Every measure is additive, so a tier's value is the sum of the finer rows'.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from stream.contract import (
    BRAND,
    BUYER_STATUS,
    CUBE_DIMENSIONS,
    DAY_S,
    LATE_COLUMN,
    ORDER_MEASURES,
    PARCEL_ROLLUPS,
    ROLLUPS,
    UTC_OFFSET_S,
    Measure,
    Rollup,
    family,
)
from stream.job.rollup_sql import HEARTBEAT, MAX_MESSAGE_BYTES, RollupOptions, duration_s, interval_sql
from stream.parcels import (
    DELIVERY_BUCKET_EDGES_S,
    EXCEPTION,
    NONE_MS,
    NOT_PER_DAY,
    PARCEL_STATE_TTL_S,
    RANK,
    STAGE_OF_RANK,
)

# Which stream feeds a windowed rollup (its views ``<stream>_ontime`` and ``<stream>_late``): the order
# rollups sum the order measures over the orders; the others count events: every logistics event, or
# the parcels picked up (leaving a warehouse: the map's flows).
STREAM_OF = {"logistics_second": "logistics", "logistics_minute": "logistics", "parcel_flows_minute": "pickups"}
# Continuous rollups with statements of their own (below), not composed from their grouping.
SPECIAL = ("buyers_second", "buyers_minute", "pipeline_events", *PARCEL_ROLLUPS)


@dataclass(frozen=True)
class Select:
    """One SELECT, rendered on lines a reader can follow: what it selects, from where, grouped how."""

    columns: tuple[str, ...]
    source: str
    group_by: tuple[str, ...] = ()
    where: str = ""
    hint: str = ""

    def sql(self) -> str:
        head = f"SELECT {self.hint + ' ' if self.hint else ''}" + ",\n       ".join(self.columns)
        lines = [head, f"FROM {self.source}"]
        if self.where:
            lines.append(f"WHERE {self.where}")
        if self.group_by:
            lines.append("GROUP BY " + ", ".join(self.group_by))
        return "\n".join(lines)


def insert(sink: str, select: Select) -> str:
    return f"INSERT INTO {sink}\n{select.sql()}"


# -- measures ------------------------------------------------------------------------------------


def _condition(m: Measure) -> str:
    condition = f"status = '{m.status}'"
    if m.except_phase:
        condition += f" AND presale_phase <> '{m.except_phase}'"
    if m.phase:
        condition += f" AND presale_phase = '{m.phase}'"
    return condition


def event_measure(m: Measure, nullable: bool = False) -> str:
    """One order measure over events, from its declaration: the matching events counted, or their
    amount summed (NULL when none matched, if ``nullable``)."""
    if m.amount is None:
        return f"COUNT(*) FILTER (WHERE {_condition(m)}) AS {m.name}"
    summed = f"SUM({m.amount}) FILTER (WHERE {_condition(m)})"
    return f"{summed} AS {m.name}" if nullable else f"COALESCE({summed}, 0) AS {m.name}"


def _measures(values: tuple[str, ...], stream: str, over_rows: bool) -> tuple[str, ...]:
    """A rollup's values: over events (the order measures, or ``events`` counted), or summed over
    the rows of a finer window (``over_rows``)."""
    if over_rows:
        return tuple(f"SUM({v}) AS {v}" for v in values)
    if stream != "orders":
        return tuple(f"COUNT(*) AS {v}" for v in values)
    return tuple(event_measure(m) for m in ORDER_MEASURES)


# -- keys ----------------------------------------------------------------------------------------


def window_of_event(window_s: int) -> str:
    """An event's time tier window start (epoch s, aligned in UTC: contract.window_start)."""
    if window_s == 1:
        return "event_time / 1000"
    return f"event_time / {window_s * 1000} * {window_s}"


# An event's festival day (contract.festival_day_start): the day of the top brands and the buyers.
FESTIVAL_DAY_START = f"(event_time / 1000 + {UTC_OFFSET_S}) / {DAY_S} * {DAY_S} - {UTC_OFFSET_S}"


# A closed window's start as epoch seconds (the window TVF gives a TIMESTAMP in the job's UTC zone).
CLOSED_WINDOW_START = "UNIX_TIMESTAMP(CAST(window_start AS STRING))"


def _each_columns(fields: tuple[str, ...]) -> tuple[str, str]:
    """``dimension`` and ``value`` of a row of GROUPING SETS, one set per field."""
    which = " ".join(f"WHEN GROUPING({f}) = 0 THEN '{f}'" for f in fields)
    values = ", ".join(f"CAST({f} AS STRING)" if f == "vip" else f for f in fields)
    return f"CASE {which} END AS dimension", f"COALESCE({values}) AS `value`"


def grouping(rollup: Rollup) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(key columns after the window, GROUP BY items after the window) of the rollup's grouping."""
    if rollup.each:
        return _each_columns(rollup.by), ("GROUPING SETS (" + ", ".join(f"({f})" for f in rollup.by) + ")",)
    return rollup.by, rollup.by


def _stream(rollup: Rollup) -> str:
    return STREAM_OF.get(rollup.name, "orders")


def pickup_views() -> list[str]:
    """The picked-up parcel events, on time and late: what the flows count."""
    return [f"CREATE TEMPORARY VIEW pickups_{split} AS\nSELECT * FROM logistics_{split} WHERE status = 'picked_up'"
            for split in ("ontime", "late")]


# -- windows: written once each closes --------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Closed windows another window can sum: the job's own per-second roots, or a rollup's."""

    name: str
    window_s: int
    by: tuple[str, ...]
    stream: str
    values: tuple[str, ...]

    @property
    def view(self) -> str:
        return f"{self.name}_closed"


_ORDER_VALUES = tuple(m.name for m in ORDER_MEASURES)
# The job's own first sums, per second over the on-time orders: every combination of the cube's
# fields, and every brand with its category. Not written anywhere: the windows below read them.
ROOTS = (Source("cube_second", 1, CUBE_DIMENSIONS, "orders", _ORDER_VALUES),
         Source("brands_second", 1, ("category", BRAND), "orders", _ORDER_VALUES))


def _as_source(rollup: Rollup) -> Source:
    return Source(rollup.name, rollup.window_s, rollup.by, _stream(rollup), rollup.value_names)


def windowed_rollups() -> list[Rollup]:
    return [r for r in ROLLUPS.values() if not r.continuous]


def sources() -> list[Source]:
    """Every source of closed windows, finest first: the roots, then each windowed rollup that is
    one row per combination (a rollup of GROUPING SETS is not summed further)."""
    found = [_as_source(r) for r in windowed_rollups() if not r.each]
    return [*ROOTS, *sorted(found, key=lambda s: s.window_s)]


def cascade_source(rollup: Rollup) -> Source | None:
    """The source a windowed rollup is summed from: among the sources of its stream whose window
    divides its own (shorter, or the roots' second) and whose rows hold its grouping, the one with
    the longest window (the fewest rows; the first declared of equals). None: over the events."""
    found = [s for s in sources()
             if s.stream == _stream(rollup) and s.name != rollup.name and rollup.window_s % s.window_s == 0
             and (s.window_s < rollup.window_s or s in ROOTS) and set(rollup.by) <= set(s.by)]
    if not found:
        return None
    longest = max(s.window_s for s in found)
    return next(s for s in found if s.window_s == longest)


def _tumble(source: str, time_column: str, window_s: int) -> str:
    return f"TABLE(TUMBLE(TABLE {source}, DESCRIPTOR({time_column}), {interval_sql(window_s)}))"


def _window_select(window_s: int, keys: tuple[str, ...], group: tuple[str, ...], measures: tuple[str, ...],
                   source: Source | None, stream: str, sink_columns: bool) -> Select:
    """Closed windows of ``window_s``: over ``source``'s closed windows, or over the on-time events
    (``source`` None). With ``sink_columns``, a sink's columns (``late`` = 0); without, a view's to
    cascade: the start as ``opened_at`` (epoch s) and the window's time as ``closed_at``."""
    table = (_tumble(f"{stream}_ontime", "ts", window_s) if source is None
             else _tumble(source.view, "closed_at", window_s))
    start, extra = (("window_start", f"0 AS {LATE_COLUMN}") if sink_columns
                    else ("opened_at", "window_time AS closed_at"))
    return Select(columns=(f"{CLOSED_WINDOW_START} AS {start}", *keys, extra, *measures),
                  source=table, group_by=("window_start", "window_end", "window_time", *group))


def window_views() -> list[str]:
    """A view of the closed windows of every source (the roots and each rollup of combinations),
    finest first, which sinks and coarser windows read (Flink plans a shared view once)."""
    views = []
    for s in sources():
        rollup = ROLLUPS.get(s.name)
        upstream = cascade_source(rollup) if rollup is not None else None
        measures = _measures(s.values, s.stream, over_rows=upstream is not None)
        select = _window_select(s.window_s, s.by, s.by, measures, upstream, s.stream, sink_columns=False)
        views.append(f"CREATE TEMPORARY VIEW {s.view} AS\n{select.sql()}")
    return views


def windowed(rollup: Rollup, sink: str) -> str:
    """The on-time rows of a windowed rollup, written as each window closes: a rollup of
    combinations from its own view of closed windows (shared with the windows summed from it), a
    rollup of GROUPING SETS straight from its window over its source."""
    if rollup.each:
        source = cascade_source(rollup)
        keys, group = grouping(rollup)
        measures = _measures(rollup.value_names, _stream(rollup), over_rows=source is not None)
        return insert(sink, _window_select(rollup.window_s, keys, group, measures, source, _stream(rollup),
                                           sink_columns=True))
    return insert(sink, Select(columns=("opened_at AS window_start", *rollup.dimensions, f"0 AS {LATE_COLUMN}",
                                        *rollup.value_names), source=_as_source(rollup).view))


# -- late corrections ------------------------------------------------------------------------------


def _tier_column(rollup: Rollup) -> str:
    return f"window_{rollup.window_s}"


def late_view_name(rollup: Rollup) -> str:
    return f"{rollup.family}_late"


def late_view(rollups: tuple[Rollup, ...], ttl: str) -> str:
    """The late corrections of a rollup and its tiers in one continuous aggregate, kept ``ttl``:
    one grouping set per tier (its window and the grouping), so a late event passes one
    operator, not one per tier. A row's tier is the window column that is not NULL."""
    base = rollups[0]
    windows = tuple(f"{window_of_event(r.window_s)} AS {_tier_column(r)}" for r in rollups)
    if base.each:
        sets = tuple(f"({_tier_column(r)}, {f})" for r in rollups for f in base.by)
        keys: tuple[str, ...] = _each_columns(base.by)
    else:
        sets = tuple(f"({', '.join((_tier_column(r), *base.by))})" for r in rollups)
        keys = tuple(base.by)
    source = Select(columns=("*", *windows), source=f"{_stream(base)}_late").sql()
    select = Select(columns=(*(_tier_column(r) for r in rollups), *keys,
                             *_measures(base.value_names, _stream(base), over_rows=False)),
                    source=f"(\n{source}\n) AS e", group_by=(f"GROUPING SETS ({', '.join(sets)})",),
                    hint=f"/*+ STATE_TTL('e' = '{ttl}') */")
    return f"CREATE TEMPORARY VIEW {late_view_name(base)} AS\n{select.sql()}"


def late_rows(rollup: Rollup, sink: str) -> str:
    """A rollup's ``late = 1`` rows: its tier's rows of the family's late view."""
    window = _tier_column(rollup)
    keys = ("dimension", "`value`") if rollup.each else rollup.by
    return insert(sink, Select(columns=(f"{window} AS window_start", *keys, f"1 AS {LATE_COLUMN}",
                                        *rollup.value_names),
                               source=late_view_name(rollup), where=f"{window} IS NOT NULL"))


# -- the day's top brands ------------------------------------------------------------------------------


def top_inserts(rollup: Rollup, sink: str, ttl: str) -> list[str]:
    """The day's rankings of ``rollup.top.of`` by its measure, over all of them and within each
    value of ``within``: a continuous aggregate per (day, within's value, ranked value) over every
    valid event (on-time and late), kept ``ttl``, then Top-N. Flink keeps only each ranking's top
    rows (its update-fast strategy) because it can tell the ranked sum only grows: a nullable SUM
    over amounts the filter keeps at 0 or more (the checks already refuse a negative one). NULL (no
    event of the measure yet) ranks last; ties by the ranked value ascending (``Top.rank_key``).
    (Summed from the brands' closed seconds instead, the planner cannot tell, and its other strategy
    keeps every brand of the day in one state value per ranking.)"""
    top = rollup.top
    assert top is not None
    day = FESTIVAL_DAY_START
    measures = tuple(event_measure(m, nullable=m.name == top.measure) for m in ORDER_MEASURES)
    amounts = sorted({m.amount for m in ORDER_MEASURES if m.amount})
    ranked = Select(columns=(f"{day} AS window_start", top.within, top.of, *measures),
                    source="orders_valid AS e", where=" AND ".join(f"{a} >= 0" for a in amounts),
                    group_by=(day, top.within, top.of), hint=f"/*+ STATE_TTL('e' = '{ttl}') */")
    values = tuple(f"COALESCE({v}, 0) AS {v}" if v == top.measure else v for v in _ORDER_VALUES)
    statements = []
    for ranking, partition in (("''", "window_start"), (top.within, f"window_start, {top.within}")):
        order = f"{top.measure} DESC NULLS LAST, {top.of}"
        rows = (f"SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {order}) AS rank_in\n"
                f"FROM (\n{ranked.sql()}\n)")
        statements.append(insert(sink, Select(
            columns=("window_start", f"{ranking} AS ranking", top.of, top.within, *values),
            source=f"(\n{rows}\n)", where=f"rank_in <= {top.n}")))
    return statements


def late_ttl(options: RollupOptions) -> str:
    return options.late_ttl


def lifetime_ttl(options: RollupOptions) -> str:
    """State TTL of aggregates over on-time and late events together (the buyers', the top
    brands'): the late horizon plus a day. A key of a day is written first at the earliest at the
    day's start, and an event of that day is accepted until it is ``late_ttl`` behind its
    partition's newest event, so its state must outlive the last write by a day more than the
    horizon (the minutes' keys keep the same, for one rule)."""
    return f"{duration_s(options.late_ttl) + 86_400} s"


# -- buyers, and what the pipeline set aside -------------------------------------------------------

# Festival day of an event (days since the epoch in Asia/Shanghai): the buyers' day.
FESTIVAL_DAY = f"(event_time / 1000 + {UTC_OFFSET_S}) / {DAY_S}"
MINUTE = window_of_event(60)
KAFKA_MINUTE = "UNIX_TIMESTAMP(DATE_FORMAT(kafka_ts, 'yyyy-MM-dd HH:mm:00'))"  # of a message's Kafka time
# pipeline_events kinds: 'late' (per minute of event time), 'rejected' (with a reason) and
# 'received' (every message but heartbeats), both per minute of Kafka time.
RECEIVED = "received"


def buyers_inserts(sinks: dict[str, str], options: RollupOptions) -> list[str]:
    """INSERTs of the buyers rollups (stream.contract: buyers_second, buyers_minute), each two
    aggregates over the deduplicated paid events, on-time and late together.

    ``buyers_second``: per (festival day, consumer) the first paid event's time (and whether any
    was a VIP's), then per second of that first time the consumers counted: new buyers per
    second, which add up to the day's unique buyers. A late event earlier than a consumer's first
    moves them: the inner aggregate retracts its old row and the outer one lowers that second's
    count (to 0: the row is deleted, which the loader writes as a 0 row). ``buyers_minute``: per
    (minute, consumer), then per minute the consumers counted: each minute's distinct buyers.

    Exact under any arrival order while the state lives: a key whose state expired would count a
    consumer again (inner), or take a retraction as a first row (outer: Flink's global aggregate
    then stores a count of -1), so every operator keeps its state :func:`lifetime_ttl`. Should
    that ever happen (a job stopped for longer than the horizon), the count written is held at 0,
    never negative: ClickHouse's UInt64 column would refuse it and stall the loader's lane."""
    ttl = lifetime_ttl(options)
    paid = f"FROM orders_valid AS b WHERE status = '{BUYER_STATUS}'"
    return [
        f"""INSERT INTO {sinks['buyers_second']}
SELECT /*+ STATE_TTL('f' = '{ttl}') */ first_ms / 1000 AS window_start, vip,
       GREATEST(COUNT(*), 0) AS new_buyers
FROM (
    SELECT /*+ STATE_TTL('b' = '{ttl}') */ MIN(event_time) AS first_ms, MAX(vip) AS vip
    {paid} GROUP BY {FESTIVAL_DAY}, consumer_id
) AS f GROUP BY first_ms / 1000, vip""",
        f"""INSERT INTO {sinks['buyers_minute']}
SELECT /*+ STATE_TTL('m' = '{ttl}') */ window_start, vip, GREATEST(COUNT(*), 0) AS buyers
FROM (
    SELECT /*+ STATE_TTL('b' = '{ttl}') */ {MINUTE} AS window_start, MAX(vip) AS vip
    {paid} GROUP BY {MINUTE}, consumer_id
) AS m GROUP BY window_start, vip""",
    ]


def pipeline_inserts(sinks: dict[str, str], options: RollupOptions) -> list[str]:
    """Late and rejected counts per minute, every message counted, and the rejected messages kept."""
    hint = f"/*+ STATE_TTL('l' = '{options.late_ttl}') */"
    out = []
    for stream in ("orders", "logistics"):
        out += [
            f"""INSERT INTO {sinks['pipeline_events']}
SELECT {hint} {MINUTE} AS window_start, '{stream}' AS source, 'late' AS kind,
       '' AS reason, COUNT(*) AS events
FROM {stream}_late AS l GROUP BY {MINUTE}""",
            f"""INSERT INTO {sinks['pipeline_events']}
SELECT {hint} {KAFKA_MINUTE} AS window_start,
       '{stream}' AS source, 'rejected' AS kind, reason, COUNT(*) AS events
FROM {stream}_rejected AS l GROUP BY {KAFKA_MINUTE}, reason""",
            # every message but heartbeats, per minute of Kafka time: what a rejected share is of
            f"""INSERT INTO {sinks['pipeline_events']}
SELECT {hint} {KAFKA_MINUTE} AS window_start,
       '{stream}' AS source, '{RECEIVED}' AS kind, '' AS reason, COUNT(*) AS events
FROM {stream}_checked AS l WHERE reject_reason IS NULL OR reject_reason <> '{HEARTBEAT}'
GROUP BY {KAFKA_MINUTE}""",
            # the rejected messages themselves, kept with their reason (at most MAX_MESSAGE_BYTES of
            # each; the bytes, in base64, of one that is not UTF-8)
            f"""INSERT INTO {sinks['rejected']}
SELECT '{stream}' AS source, reason, kafka_partition, kafka_offset,
       DATE_FORMAT(kafka_ts, 'yyyy-MM-dd HH:mm:ss.SSS') AS kafka_time,
       MESSAGE_HEAD(msg, {MAX_MESSAGE_BYTES}) AS msg,
       CASE WHEN reason = 'too_large' THEN 1 ELSE 0 END AS truncated,
       CAST(COALESCE(CHAR_LENGTH(msg), 0) AS BIGINT) AS msg_chars,
       CASE WHEN reason = 'bad_encoding' THEN TO_BASE64(msg) ELSE '' END AS msg_base64
FROM {stream}_rejected""",
        ]
    return out


# -- parcels ---------------------------------------------------------------------------------------

# The job's state per parcel (stream.parcels.Parcel, each field a max or a min over its events, so
# arrival order and repeats change nothing), from every deduplicated valid event, on-time and late.
PARCEL_STATE = "parcel_state"


def _day_start(ms: str) -> str:
    """The festival day (Asia/Shanghai midnight, epoch s) of a time in ms (contract.festival_day_start)."""
    return f"({ms} / 1000 + {UTC_OFFSET_S}) / {DAY_S} * {DAY_S} - {UTC_OFFSET_S}"


def _earliest(status: str) -> str:
    return f"COALESCE(MIN(event_time) FILTER (WHERE status = '{status}'), {NONE_MS}) AS {status}_ms"


def parcel_state_view() -> str:
    """One row per parcel, kept PARCEL_STATE_TTL_S after its last event (the festival's delivery
    window): a changelog whose row changes when the parcel's state does."""
    rank = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in RANK.items()) + " ELSE -1 END"
    select = Select(
        columns=("parcel_id", f"MAX({rank}) AS furthest",
                 f"COALESCE(MAX(event_time) FILTER (WHERE status <> '{EXCEPTION}'), {NONE_MS}) AS progress_ms",
                 f"COALESCE(MAX(event_time) FILTER (WHERE status = '{EXCEPTION}'), {NONE_MS}) AS exception_ms",
                 _earliest("created"), _earliest("picked_up"), _earliest("delivered"),
                 "MAX(province) AS province", "MAX(carrier) AS carrier"),
        source="logistics_valid AS p", group_by=("parcel_id",),
        hint=f"/*+ STATE_TTL('p' = '{PARCEL_STATE_TTL_S} s') */")
    return f"CREATE TEMPORARY VIEW {PARCEL_STATE} AS\n{select.sql()}"


def _stage() -> tuple[str, str]:
    """(stage, day) of a parcel state row, as stream.parcels.stage says."""
    delivered = RANK["delivered"]
    by_rank = " ".join(f"WHEN {r} THEN '{s}'" for r, s in enumerate(STAGE_OF_RANK) if r != delivered)
    stage = (f"CASE WHEN furthest = {delivered} THEN 'delivered' WHEN exception_ms > progress_ms THEN 'in_exception' "
             f"ELSE CASE furthest {by_rank} END END")
    day = f"CASE WHEN furthest = {delivered} THEN {_day_start('delivered_ms')} ELSE {NOT_PER_DAY} END"
    return stage, day


def _bucket_s(duration_ms: str) -> str:
    """The lower edge (s) of a duration's bucket (stream.parcels.bucket_of; a negative one: the first)."""
    edges = DELIVERY_BUCKET_EDGES_S
    branches = " ".join(f"WHEN {duration_ms} < {1000 * hi} THEN {lo}" for lo, hi in pairwise(edges))
    return f"CASE {branches} ELSE {edges[-1]} END"


def parcel_inserts(sinks: dict[str, str]) -> list[str]:
    """INSERTs of the parcel rollups (stream.contract's PARCEL_ROLLUPS) from the state per parcel.

    A parcel that moves on retracts its old row of each count and adds its new one, so every count
    is exact whatever order its events arrive in; each count keeps its state as long as the parcels'
    (a key idle longer, taking a retraction as a first row, would count -1: held at 0, as the
    buyers). The first delivery is a MIN over the delivered events of each festival day."""
    ttl = f"/*+ STATE_TTL('s' = '{PARCEL_STATE_TTL_S} s') */"
    stage, day = _stage()
    legs = " UNION ALL ".join(
        f"SELECT {_day_start(end)} AS window_start, province, carrier, '{leg}' AS leg, "
        f"{_bucket_s(f'{end} - created_ms')} AS bucket_s FROM {PARCEL_STATE} "
        f"WHERE created_ms <> {NONE_MS} AND {end} <> {NONE_MS}"
        for leg, end in (("pickup", "picked_up_ms"), ("delivery", "delivered_ms")))
    return [
        f"""INSERT INTO {sinks['parcel_stages']}
SELECT {ttl} window_start, stage, GREATEST(COUNT(*), 0) AS parcels
FROM (SELECT {stage} AS stage, {day} AS window_start FROM {PARCEL_STATE}) AS s
GROUP BY window_start, stage""",
        f"""INSERT INTO {sinks['parcel_delivery_times']}
SELECT {ttl} window_start, province, carrier, leg, bucket_s, GREATEST(COUNT(*), 0) AS parcels
FROM ({legs}) AS s
GROUP BY window_start, province, carrier, leg, bucket_s""",
        f"""INSERT INTO {sinks['parcel_exceptions']}
SELECT {ttl} {NOT_PER_DAY} AS window_start, carrier, GREATEST(COUNT(*), 0) AS parcels,
       GREATEST(COUNT(*) FILTER (WHERE exception_ms <> {NONE_MS}), 0) AS with_exception
FROM {PARCEL_STATE} AS s GROUP BY carrier""",
        f"""INSERT INTO {sinks['parcel_first_delivery']}
SELECT {ttl} {_day_start('event_time')} AS window_start, MIN(event_time) AS first_delivered_ms
FROM logistics_valid AS s WHERE status = 'delivered' GROUP BY {_day_start('event_time')}""",
    ]


# -- the whole job -------------------------------------------------------------------------------


def rollup_statements(sinks: dict[str, str], options: RollupOptions,
                      buffered: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(views, INSERTs) of every rollup of stream.contract into the named sink tables.

    ``sinks`` maps each rollup name, and ``rejected``, to a sink table name: the closed windows go
    there. ``buffered`` (default the same) maps each to the sink of rows that change on every event
    (late corrections, the top brands, the buyers, the pipeline's counts), which the job declares
    with a buffer keeping the last row per key (stream.job.runner)."""
    buffered = buffered or sinks
    views, inserts = [*pickup_views(), *window_views()], []
    for rollup in ROLLUPS.values():
        if rollup.name in SPECIAL:
            continue
        if rollup.top is not None:  # an update on each event of a ranked brand: the buffered sink
            inserts += top_inserts(rollup, buffered[rollup.name], lifetime_ttl(options))
            continue
        if rollup.family == rollup.name:
            views.append(late_view(family(rollup.name), late_ttl(options)))
        inserts += [windowed(rollup, sinks[rollup.name]), late_rows(rollup, buffered[rollup.name])]
    views.append(parcel_state_view())
    inserts += buyers_inserts(buffered, options) + pipeline_inserts(buffered, options) + parcel_inserts(buffered)
    return views, inserts
