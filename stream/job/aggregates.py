"""The job's rollups as Flink SQL, composed from their declarations in ``stream.contract``.

Pure text builders, no I/O. The input is the deduplicated valid events of
``stream.job.rollup_sql`` (``orders_valid``, split into ``orders_ontime`` and ``orders_late`` by the
per-partition watermark; the same for logistics); the output is one INSERT per sink. What a rollup
declares (its window, grouping, path, tier, ranking) says which statement it gets:

- LIVE (``path``): a continuously updated aggregate keyed by its window and grouping, one over the
  on-time events and one over the late ones (``late = 1`` rows, which readers add in). With the
  job's mini-batch, a key that changed is written once per batch, so the wall's rows move while
  their window is open; the number of rows is the number of keys, whatever the event rate.
- EXPLORE: an event-time window (``TUMBLE``) over the on-time events, written once when the
  watermark passes its end. A coarser tier (``tier_of``) is a window over the closed windows of the
  coarsest finer rollup whose rows hold its grouping (cascading windows: an hour of the cube is
  twelve closed 5 minutes of it, not a million events again). Late events go to a continuous
  aggregate per tier, as above.
- ``top``: a continuous aggregate per day and ranked field over every valid event (on-time and
  late together), then Flink's Top-N per day and per value of ``within``, emitting only what
  changed; a row that leaves a ranking is deleted (the loader writes it as a row of zeros).

Windows are identified by their start in epoch seconds (UTC); a day is a festival day
(Asia/Shanghai). Every measure is additive, so a tier's value is the sum of the finer rows'.
"""
from __future__ import annotations

from dataclasses import dataclass

from stream.contract import (
    BUYER_STATUS,
    DAY_S,
    EXPLORE,
    LATE_COLUMN,
    ORDER_MEASURES,
    ROLLUPS,
    UTC_OFFSET_S,
    Measure,
    Rollup,
    family,
)
from stream.job.rollup_sql import HEARTBEAT, MAX_MESSAGE_BYTES, RollupOptions, duration_s, interval_sql

# Which stream feeds a rollup: the order rollups carry the order measures; the others count events.
LOGISTICS_ROLLUPS = ("logistics_second", "logistics_minute")
# Rollups with statements of their own (below), not composed from their grouping.
SPECIAL = ("buyers_second", "buyers_minute", "pipeline_events")


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
    amount summed (NULL when none matched if ``nullable``: Flink then knows the sum only grows,
    which its Top-N needs to keep only the top rows; see :func:`top_inserts`)."""
    if m.amount is None:
        return f"COUNT(*) FILTER (WHERE {_condition(m)}) AS {m.name}"
    summed = f"SUM({m.amount}) FILTER (WHERE {_condition(m)})"
    return f"{summed} AS {m.name}" if nullable else f"COALESCE({summed}, 0) AS {m.name}"


def _measures(rollup: Rollup, over_rows: bool) -> tuple[str, ...]:
    """The rollup's values: over events (the order measures, or ``events`` counted), or summed over
    the rows of a finer window (``over_rows``)."""
    if over_rows:
        return tuple(f"SUM({v}) AS {v}" for v in rollup.value_names)
    if rollup.name in LOGISTICS_ROLLUPS:
        return ("COUNT(*) AS events",)
    return tuple(event_measure(m) for m in ORDER_MEASURES)


# -- keys ----------------------------------------------------------------------------------------


def window_of_event(window_s: int) -> str:
    """An event's window start (epoch s) from its ``event_time`` (ms); a day starts at midnight in
    Asia/Shanghai (UTC_OFFSET_S, a whole number of hours, so shorter windows align either way)."""
    if window_s == 1:
        return "event_time / 1000"
    if window_s == DAY_S:
        return f"(event_time / 1000 + {UTC_OFFSET_S}) / {DAY_S} * {DAY_S} - {UTC_OFFSET_S}"
    return f"event_time / {window_s * 1000} * {window_s}"


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


# -- statements ----------------------------------------------------------------------------------


def _stream(rollup: Rollup) -> str:
    return "logistics" if rollup.name in LOGISTICS_ROLLUPS else "orders"


def continuous(rollup: Rollup, sink: str) -> str:
    """A LIVE rollup as a continuously updated aggregate over the on-time events."""
    window = window_of_event(rollup.window_s)
    keys, group = grouping(rollup)
    return insert(sink, Select(
        columns=(f"{window} AS window_start", *keys, f"0 AS {LATE_COLUMN}", *_measures(rollup, False)),
        source=f"{_stream(rollup)}_ontime AS e", group_by=(window, *group)))


def _tier_column(rollup: Rollup) -> str:
    return f"window_{rollup.window_s}"


def late_view(family: tuple[Rollup, ...], ttl: str) -> str:
    """The late corrections of every time tier of a rollup in one continuous aggregate, kept
    ``ttl``: one grouping set per tier (its window and the grouping), so a late event passes one
    operator, not one per tier. A row's tier is the window column that is not NULL."""
    base = family[0]
    windows = tuple(f"{window_of_event(r.window_s)} AS {_tier_column(r)}" for r in family)
    if base.each:
        sets = tuple(f"({_tier_column(r)}, {f})" for r in family for f in base.by)
        keys = _each_columns(base.by)
    else:
        sets = tuple(f"({', '.join((_tier_column(r), *base.by))})" for r in family)
        keys = base.by
    source = Select(columns=("*", *windows), source=f"{_stream(base)}_late").sql()
    select = Select(columns=(*(_tier_column(r) for r in family), *keys, *_measures(base, False)),
                    source=f"(\n{source}\n) AS e", group_by=(f"GROUPING SETS ({', '.join(sets)})",),
                    hint=f"/*+ STATE_TTL('e' = '{ttl}') */")
    return f"CREATE TEMPORARY VIEW {late_view_name(base)} AS\n{select.sql()}"


def late_view_name(rollup: Rollup) -> str:
    return f"{rollup.family}_late"


def late_rows(rollup: Rollup, sink: str) -> str:
    """A rollup's ``late = 1`` rows: its tier's rows of the family's late view."""
    window = _tier_column(rollup)
    keys = ("dimension", "`value`") if rollup.each else rollup.by
    return insert(sink, Select(columns=(f"{window} AS window_start", *keys, f"1 AS {LATE_COLUMN}",
                                        *rollup.value_names),
                               source=late_view_name(rollup), where=f"{window} IS NOT NULL"))


def closed_view(rollup: Rollup) -> str:
    """Name of the view of a combination rollup's closed windows (see :func:`window_views`)."""
    return f"{rollup.name}_closed"


def _tumble(source: str, time_column: str, window_s: int) -> str:
    offset = f", INTERVAL '-{UTC_OFFSET_S // 3600}' HOUR" if window_s == DAY_S else ""
    return f"TABLE(TUMBLE(TABLE {source}, DESCRIPTOR({time_column}), {interval_sql(window_s)}{offset}))"


def cascade_source(rollup: Rollup) -> Rollup | None:
    """The rollup whose closed windows a tier is summed from: among the windowed combination
    rollups whose window divides this one's and whose grouping holds this one's fields, the one
    with the longest window (the fewest rows); None when the events themselves are windowed."""
    if rollup.tier_of == "":
        return None
    found = [r for r in ROLLUPS.values()
             if r.path == EXPLORE and not r.each and r.window_s < rollup.window_s
             and rollup.window_s % r.window_s == 0 and set(rollup.by) <= set(r.by)]
    if not found:
        raise ValueError(f"no finer windowed rollup holds the fields of {rollup.name}")
    return max(found, key=lambda r: r.window_s)  # max keeps the first of equal windows (declared order)


def _windowed_select(rollup: Rollup, late_column: bool) -> Select:
    """The rollup's on-time rows per closed window: over the events, or over a finer rollup's
    closed windows (:func:`cascade_source`). With ``late_column``, its sink's columns (``late`` =
    0); without, a combination rollup's closed windows (from ``opened_at``, epoch s) with their
    time (``closed_at``), to cascade."""
    source = cascade_source(rollup)
    if source is None:
        table = _tumble(f"{_stream(rollup)}_ontime", "ts", rollup.window_s)
    else:
        table = _tumble(closed_view(source), "closed_at", rollup.window_s)
    keys, group = grouping(rollup)
    start = "window_start" if late_column else "opened_at"  # a view's may not clash with a cascade's
    extra = f"0 AS {LATE_COLUMN}" if late_column else "window_time AS closed_at"
    return Select(columns=(f"{CLOSED_WINDOW_START} AS {start}", *keys, extra,
                           *_measures(rollup, source is not None)),
                  source=table, group_by=("window_start", "window_end", "window_time", *group))


def window_views() -> list[str]:
    """A view of the closed windows of every windowed combination rollup, which its sink and the
    coarser tiers summed from it read (Flink plans the shared view once)."""
    windowed = sorted((r for r in ROLLUPS.values() if r.path == EXPLORE and not r.each), key=lambda r: r.window_s)
    return [f"CREATE TEMPORARY VIEW {closed_view(r)} AS\n{_windowed_select(r, late_column=False).sql()}"
            for r in windowed]  # finest first: a tier's view reads a finer one


def windowed(rollup: Rollup, sink: str) -> str:
    """The on-time rows of an EXPLORE rollup, written as each window closes: a combination
    rollup's from its view of closed windows (shared with the tiers summed from it), a rollup of
    GROUPING SETS (never a cascade source) straight from its window."""
    if rollup.each:
        return insert(sink, _windowed_select(rollup, late_column=True))
    return insert(sink, Select(columns=("opened_at AS window_start", *rollup.dimensions, f"0 AS {LATE_COLUMN}",
                                        *rollup.value_names), source=closed_view(rollup)))


def top_inserts(rollup: Rollup, sink: str, ttl: str) -> list[str]:
    """The day's ranking of ``rollup.top.of`` by its measure, over every brand and within each value
    of ``within``: a continuous aggregate per (day, within's value, ranked value) over every valid
    event, then Top-N. Flink keeps only the top rows per ranking (its update-fast strategy) because
    the ranked sum only grows: it is a nullable SUM over amounts the view keeps at 0 or more (the
    checks already refuse a negative amount; the filter tells the planner). NULL (no paid event)
    ranks last; ties by the ranked field ascending."""
    top = rollup.top
    assert top is not None
    day = window_of_event(DAY_S)
    measures = tuple(event_measure(m, nullable=m.name == top.measure) for m in ORDER_MEASURES)
    amounts = sorted({m.amount for m in ORDER_MEASURES if m.amount})
    ranked = Select(columns=(f"{day} AS window_start", top.within, top.of, *measures),
                    source="orders_valid AS e", where=" AND ".join(f"{a} >= 0" for a in amounts),
                    group_by=(day, top.within, top.of), hint=f"/*+ STATE_TTL('e' = '{ttl}') */")
    values = tuple(f"COALESCE({m.name}, 0) AS {m.name}" if m.name == top.measure else m.name for m in ORDER_MEASURES)
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
FESTIVAL_DAY = f"(event_time / 1000 + {UTC_OFFSET_S}) / 86400"
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


# -- the whole job -------------------------------------------------------------------------------


def rollup_statements(sinks: dict[str, str], options: RollupOptions) -> tuple[list[str], list[str]]:
    """(views, INSERTs) of every rollup of stream.contract into the named sink tables.

    ``sinks`` maps each rollup name, and ``rejected``, to a sink table name."""
    views, inserts = window_views(), []
    for rollup in ROLLUPS.values():
        sink = sinks[rollup.name]
        if rollup.name in SPECIAL:
            continue
        if rollup.top is not None:
            inserts += top_inserts(rollup, sink, lifetime_ttl(options))
            continue
        if rollup.family == rollup.name:
            views.append(late_view(family(rollup.name), late_ttl(options)))
        on_time = windowed(rollup, sink) if rollup.path == EXPLORE else continuous(rollup, sink)
        inserts += [on_time, late_rows(rollup, sink)]
    inserts += buyers_inserts(sinks, options) + pipeline_inserts(sinks, options)
    return views, inserts
