"""The job's logic as Flink SQL: raw Kafka messages in, deduplicated valid events out.

Pure text builders, no I/O: ``stream/job/runner.py`` declares the connectors and runs
these statements; tests/integration/test_rollup_sql_batch.py runs the same statements in
Flink's batch mode on file sources.

The path of one message:

1. ``*_checked``: the message is parsed once by ``JSON_FIELDS`` (a small Java function,
   ``stream/job/java``, that returns what ``JSON_VALUE`` would for each field, and what is wrong
   with the message as a whole: too large, not UTF-8, nested too deep) and every field is
   checked; the first failed check becomes ``reject_reason`` (NULL for a valid event).
2. Rejected messages go, with their reason, to the rejected topic (at most MAX_MESSAGE_BYTES
   of each) and are counted per minute of Kafka time, as is every message ('received').
3. ``*_parsed``: the fields the rollups need (not the message text), and a ``late`` flag: an
   event is *late* when its time is at or behind the newest event time seen so far in its
   Kafka partition minus the delay. That is the partition's own watermark, computed before
   dedup so the partition's order holds, and kept in checkpointed state, so the split is the
   same after a restart. (Flink's ``CURRENT_WATERMARK`` is not checkpointed.) An event more
   than ``late_ttl`` behind that newest time is rejected there (TOO_OLD): its window's late
   state may have expired, and a correction would restart the row instead of adding to it.
4. Valid events are deduplicated by ``event_id`` (first one wins; keyed state whose TTL is
   the dedup horizon).
5. The rollups over the valid events (on-time and late apart) are composed from their
   declarations in ``stream.contract`` by ``stream/job/aggregates.py``.

Windows are identified by their start in epoch seconds (UTC).
"""
from __future__ import annotations

from dataclasses import dataclass

from stream.contract import (
    CHANNELS,
    COUNT,
    FEN,
    FLAG,
    ORDER_STATUSES,
    PARCEL_STATUSES,
    PRESALE_PHASES,
    PROMOTIONS,
    REJECTED_FIELDS,
    ROLLUPS,
    TEXT,
    UNKNOWN_ORIGIN,
    WAVES,
    WINDOW,
    Column,
)

# Events may not claim to happen more than this far after they reached Kafka: a clock gone
# wrong must not drag the watermark into the future and make every later event late.
MAX_FUTURE_MS = 60_000

# Nor before 2000-01-01 UTC: no event this pipeline is fed can be that old; a clock reset to
# 1970, or seconds sent as milliseconds, would otherwise count in a window of 1970.
MIN_EVENT_TIME_MS = 946_684_800_000

# A message over this many bytes is rejected unread (too_large); an event is ~400. The raw
# topics take messages up to RAW_TOPIC_MAX_BYTES (stream/stack/kafka_admin.py), so an
# oversized one still reaches the job and is counted, and a rejected record keeps at most
# this much of its message (with ``truncated`` = 1), well within Kafka's default 1 MiB.
# JsonFields.MAX_BYTES (stream/job/java) is the same number.
MAX_MESSAGE_BYTES = 64 * 1024

# Objects or arrays nested deeper than this are rejected (too_deep); an event is one flat
# object. JsonFields.MAX_DEPTH is the same number.
MAX_DEPTH = 64

# What JSON_FIELDS says is wrong with a message as a whole; each is its reject reason.
MESSAGE_PROBLEMS = ("too_large", "bad_encoding", "too_deep")

# Producers send {"heartbeat":true,"event_time":T} to every partition so quiet partitions still
# move event time on; a heartbeat is neither an event nor a rejected message.
HEARTBEAT = "heartbeat"

# JSON_FIELDS(msg, 'a', 'b', ...) -> ARRAY<STRING>: one parse instead of one JSON_VALUE per field
# (each of which parses the whole message again). Built from stream/job/java by `make setup`.
JSON_FIELDS_FUNCTION = ("CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS JSON_FIELDS "
                        "AS 'gmv.flink.JsonFields' LANGUAGE JAVA")
# MESSAGE_HEAD(msg, max_bytes) -> STRING: the message, or its first max_bytes bytes cut at a
# character (what a rejected record keeps). Not SUBSTRING: see stream/job/java.
MESSAGE_HEAD_FUNCTION = ("CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS MESSAGE_HEAD "
                         "AS 'gmv.flink.MessageHead' LANGUAGE JAVA")
FUNCTIONS = (JSON_FIELDS_FUNCTION, MESSAGE_HEAD_FUNCTION)

TOO_OLD = "event_time_too_old"


@dataclass(frozen=True)
class RollupOptions:
    watermark_delay_ms: int = 200
    # How long a window keeps accepting late corrections; also the event-time horizon: an event
    # further than this behind the newest event time of its partition is rejected (TOO_OLD).
    late_ttl: str = "7 d"
    # What orders messages by arrival, for the per-partition watermark and first-wins dedup:
    # ``pt`` (PROCTIME) in the streaming job. A batch run, where processing time says nothing
    # about order, passes ``kafka_offset`` (a redelivery shares its original's key, so partition).
    arrival_order: str = "pt"
    # The stream's "now" when spotting an event that may be too old, before the per-partition
    # state (Kafka time until there is one): the watermark in the streaming job. A batch run
    # has no watermark (nor time attributes) and passes NO_WATERMARK.
    watermark: str = "CURRENT_WATERMARK(ts)"


NO_WATERMARK = "CAST(NULL AS TIMESTAMP_LTZ(3))"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_UNITS = {"d": 86_400, "day": 86_400, "days": 86_400, "h": 3600, "hour": 3600, "hours": 3600,
          "min": 60, "minute": 60, "minutes": 60, "s": 1, "second": 1, "seconds": 1}


def duration_s(text: str) -> int:
    """Seconds of a Flink duration such as ``7 d``, ``1 h``, ``30 min`` (the units used here)."""
    number, _, unit = text.strip().partition(" ")
    if not number.isdigit() or unit.strip() not in _UNITS:
        raise ValueError(f"not a duration like '7 d' or '1 h': {text!r}")
    return int(number) * _UNITS[unit.strip()]


def interval_sql(seconds: int) -> str:
    """A SQL interval literal of ``seconds``, in the largest unit that divides it."""
    for unit, size in (("DAY", 86_400), ("HOUR", 3600), ("MINUTE", 60), ("SECOND", 1)):
        if seconds % size == 0:
            n = seconds // size
            precision = f"({len(str(n))})" if n > 99 else ""
            return f"INTERVAL '{n}' {unit}{precision}"
    raise AssertionError(seconds)


def source_columns(options: RollupOptions) -> str:
    """Columns of a raw topic table: the message, Kafka metadata, and its event time.

    ``ts`` is the event time when the message has one (else epoch 0, so a message
    without a time never moves the watermark), capped at Kafka time + MAX_FUTURE_MS.
    """
    return f"""
    msg STRING,
    kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    kafka_partition INT METADATA FROM 'partition' VIRTUAL,
    kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
    ts AS LEAST(
        TO_TIMESTAMP_LTZ(COALESCE(TRY_CAST(JSON_FIELDS(msg, 'event_time')[1] AS BIGINT), 0), 3),
        kafka_ts + INTERVAL '{MAX_FUTURE_MS // 1000}' SECOND),
    WATERMARK FOR ts AS ts - INTERVAL '{options.watermark_delay_ms / 1000:.3f}' SECOND"""


def _reason(valid: str, checks: list[tuple[str, str]]) -> str:
    """CASE that is NULL for a valid row, else the name of the first failed check.

    The all-valid test comes first so valid rows (nearly all) stop there.
    """
    branches = "\n".join(f"        WHEN NOT ({cond}) THEN '{name}'" for name, cond in checks)
    problems = "\n".join(f"        WHEN json_problem = '{p}' THEN '{p}'" for p in MESSAGE_PROBLEMS)
    return f"""CASE
        WHEN {valid} THEN CAST(NULL AS STRING)
{problems}
        WHEN msg LIKE '{{"heartbeat":true%' THEN '{HEARTBEAT}'
        WHEN NOT (msg IS JSON OBJECT) THEN 'not_json'
{branches}
        ELSE 'invalid' END"""


def _parsed_views(name: str, source: str, strings: tuple[str, ...], uints: tuple[str, ...],
                  enums: dict[str, tuple[str, ...]], extra: list[tuple[str, str]], keep: tuple[str, ...],
                  options: RollupOptions, optional: tuple[str, ...] = ()) -> list[str]:
    """``<name>_checked``: every message with its fields and ``reject_reason``;
    ``<name>_parsed``: the same rows without the message text, only the ``keep`` fields, and
    the ``late`` and ``too_old`` flags; ``<name>_rejected``: every rejected message with its reason.

    The flags need every message of a partition in order (one keyed operator), so what crosses
    to it is kept small: the text stays behind for the rejected sink, but for the rare event that
    may be too old (``old_msg``: more than half the horizon behind the watermark, or behind its
    Kafka time before there is a watermark). Under the job's assumption that no partition runs an
    hour behind the others, every event found too old is one of those, so its text is kept.
    ``optional`` fields are read (NULL when absent) but not required."""
    required = strings + uints + tuple(enums)
    fields = required + optional
    names = ", ".join(f"'{f}'" for f in fields)
    extract = ",\n        ".join(f"v[{i}] AS {f}" for i, f in enumerate(fields, 1))
    extract += f",\n        v[{len(fields) + 1}] AS json_types, v[{len(fields) + 2}] AS json_problem"

    def json_type(field: str) -> str:  # the field's JSON type, from JSON_FIELDS' types element
        return f"SUBSTRING(json_types, {fields.index(field) + 1}, 1)"

    not_text = uints + ("vip",) * ("vip" in enums)  # numbers and the flag, never quoted
    checks = [("missing_field", " AND ".join(f"{f} IS NOT NULL" for f in required))]
    checks.append(("duplicate_field", "POSITION('d' IN json_types) = 0"))
    checks.append(("wrong_type", " AND ".join(f"{json_type(f)} <> 's'" for f in not_text)))
    # a JSON integer of at most 15 digits, not negative (floats, exponents and signs refused)
    checks.append(("bad_number", " AND ".join(f"{json_type(f)} = 'n' AND {f} NOT LIKE '-%' AND CHAR_LENGTH({f}) <= 15"
                                             for f in uints)))
    checks += [(f"bad_{f}", f"{f} IN {_in(values)}") for f, values in enums.items()]
    checks += extra
    checks.append((TOO_OLD, f"CAST(event_time AS BIGINT) >= {MIN_EVENT_TIME_MS}"))
    checks.append(("event_time_in_future",
                   (f"TO_TIMESTAMP_LTZ(CAST(event_time AS BIGINT), 3) "
                    f"<= kafka_ts + INTERVAL '{MAX_FUTURE_MS // 1000}' SECOND")))
    valid = " AND ".join(["json_problem IS NULL", *(f"({cond})" for _, cond in checks)])
    checked = f"""
CREATE TEMPORARY VIEW {name}_checked AS
SELECT *, {_reason(valid, checks)} AS reject_reason
FROM (
    SELECT msg, kafka_ts, kafka_partition, kafka_offset, ts,
        {extract}
    FROM (SELECT *, JSON_FIELDS(msg, {names}) AS v FROM {source})
)"""
    kept = ", ".join(keep)
    horizon_s = duration_s(options.late_ttl)
    parsed = f"""
CREATE TEMPORARY VIEW {name}_parsed AS
SELECT {kept}, ts, kafka_offset, valid AND NOT too_old AS valid, late, too_old, kafka_partition, kafka_ts, old_msg
FROM (
    SELECT *, ts <= newest - INTERVAL '{options.watermark_delay_ms / 1000:.3f}' SECOND AS late,
           valid AND ts < newest - {interval_sql(horizon_s)} AS too_old
    FROM (
        SELECT *, MAX(ts) OVER (PARTITION BY kafka_partition ORDER BY {options.arrival_order}
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS newest
        FROM (SELECT {kept}, ts, reject_reason IS NULL AS valid, kafka_partition, kafka_offset, kafka_ts,
                     CASE WHEN reject_reason IS NULL
                          AND ts < COALESCE({options.watermark}, kafka_ts) - {interval_sql(horizon_s // 2)}
                     THEN msg END AS old_msg,
                     PROCTIME() AS pt
              FROM {name}_checked)))"""
    rejected = f"""
CREATE TEMPORARY VIEW {name}_rejected AS
SELECT reject_reason AS reason, kafka_ts, kafka_partition, kafka_offset, msg
FROM {name}_checked WHERE reject_reason IS NOT NULL AND reject_reason <> '{HEARTBEAT}'
UNION ALL
SELECT '{TOO_OLD}' AS reason, kafka_ts, kafka_partition, kafka_offset, old_msg AS msg
FROM {name}_parsed WHERE too_old"""
    return [checked, parsed, rejected]


# What the aggregates read from a valid event (the rest is only checked).
ORDER_KEEP = ("event_id", "event_time", "consumer_id", "status", "brand", "category", "province", "channel", "vip",
              "promotion", "wave", "presale_phase", "paid_fen")
LOGISTICS_KEEP = ("event_id", "event_time", "status", "parcel_id", "province", "carrier", "origin")


def parsed_views(orders_source: str, logistics_source: str, options: RollupOptions) -> list[str]:
    orders = _parsed_views(
        "orders", orders_source,
        strings=("event_id", "order_id", "consumer_id", "brand", "category", "province"),
        uints=("event_time", "items", "list_fen", "discount_fen", "paid_fen"),
        enums={"status": ORDER_STATUSES, "channel": CHANNELS, "vip": ("true", "false"),
               "promotion": PROMOTIONS, "wave": WAVES, "presale_phase": PRESALE_PHASES},
        extra=[("bad_items", "items <> '0'"),
               ("discount_exceeds_list", "CAST(discount_fen AS BIGINT) <= CAST(list_fen AS BIGINT)")],
        keep=ORDER_KEEP,
        options=options,
    )
    logistics = _parsed_views(
        "logistics", logistics_source,
        strings=("event_id", "parcel_id", "order_id", "province", "carrier"),
        uints=("event_time",),
        enums={"status": PARCEL_STATUSES},
        extra=[],
        keep=LOGISTICS_KEEP,
        options=options,
        optional=("origin",),  # the warehouse's province: events sent before it was added have none
    )
    return [*orders, *logistics]


def valid_views(options: RollupOptions = RollupOptions()) -> list[str]:
    """Deduplicated valid events, typed, with a ``late`` flag from the watermark."""
    orders = f"""
CREATE TEMPORARY VIEW orders_valid AS
SELECT event_id, CAST(event_time AS BIGINT) AS event_time, ts, late, consumer_id, status, brand, category, province,
       channel, CASE WHEN vip = 'true' THEN 1 ELSE 0 END AS vip, promotion, wave, presale_phase,
       CAST(paid_fen AS BIGINT) AS paid_fen
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {options.arrival_order}) AS rn
    FROM (SELECT *, PROCTIME() AS pt FROM orders_parsed WHERE valid)
)
WHERE rn = 1"""
    logistics = f"""
CREATE TEMPORARY VIEW logistics_valid AS
SELECT event_id, CAST(event_time AS BIGINT) AS event_time, ts, late, status, parcel_id, province, carrier,
       COALESCE(origin, '{UNKNOWN_ORIGIN}') AS origin
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {options.arrival_order}) AS rn
    FROM (SELECT *, PROCTIME() AS pt FROM logistics_parsed WHERE valid)
)
WHERE rn = 1"""
    splits = []
    for stream in ("orders", "logistics"):
        splits.append(f"""
CREATE TEMPORARY VIEW {stream}_ontime AS
SELECT * FROM {stream}_valid WHERE NOT late""")
        splits.append(f"""
CREATE TEMPORARY VIEW {stream}_late AS
SELECT * FROM {stream}_valid WHERE late""")
    return [orders, logistics, *splits]


# Flink SQL type of each column kind of the contract.
FLINK_TYPES = {WINDOW: "BIGINT", FLAG: "INT", FEN: "BIGINT", COUNT: "BIGINT", TEXT: "STRING"}


def column_list(columns: tuple[Column, ...]) -> str:
    return ",\n    ".join(f"`{c.name}` {FLINK_TYPES[c.kind]}" for c in columns)


def sink_columns(rollup: str) -> tuple[str, str]:
    """(column list, primary key list) of a rollup's sink table, from the contract."""
    declared = ROLLUPS[rollup]
    return column_list(declared.columns), ", ".join(f"`{c.name}`" for c in declared.keys)


REJECTED_COLUMNS = column_list(REJECTED_FIELDS)
