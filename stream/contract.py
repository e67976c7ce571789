"""The contract between the stages, declared once: event enums, the festival's time zone, and
every rollup (topic, ClickHouse table, key columns, measures, dimensions, drill-down pairs).

This module imports nothing from the project. The job's SQL and sinks, the loader, ``gmv
verify``, the simulator's ledger, the settings' topic names and the dashboard's queries all
derive from it. Fast tests hold it against ``schemas/*.json`` and the ClickHouse migrations.

Adding an order measure: add a :class:`Measure` below, a migration that adds its column to
each table of ``ORDER_ROLLUPS``, and the code that shows it. The job computes it, the ledger
counts it, the loader writes it and verify compares it, all from this declaration.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np

# -- time ------------------------------------------------------------------------------------

# The festival's clock: Asia/Shanghai (China Standard Time, UTC+8, no daylight saving).
UTC_OFFSET_S = 8 * 3600
FESTIVAL_TZ = timezone(timedelta(seconds=UTC_OFFSET_S), "CST")
FESTIVAL_TZ_NAME = "Asia/Shanghai"

# The festival's calendar, in its local time: sales periods as ``(month, day, hour)`` start and end.
# 2021: pre-sale opened at 20:00 on Oct 20 (its final payments fall in wave 1) and on Nov 4 (in wave
# 2); wave 1 is Nov 1-3, wave 2 is Nov 11 (the midnight surge). On every festival day sales spike at
# ``SPIKE_HOUR``. The simulator draws its festival on it; the dashboard counts down to its next event
# and projects to its end.
@dataclass(frozen=True)
class Period:
    wave: str  # one of WAVES
    start: tuple[int, int, int]
    end: tuple[int, int, int]
    finals_in: str = ""  # a pre-sale period: the wave in which its final payments fall


FESTIVAL_PERIODS = (
    Period("presale", (10, 20, 20), (11, 1, 0), finals_in="wave1"),
    Period("wave1", (11, 1, 0), (11, 4, 0)),
    Period("presale", (11, 4, 20), (11, 11, 0), finals_in="wave2"),
    Period("wave2", (11, 11, 0), (11, 12, 0)),
)
SPIKE_HOUR = 20

# -- topics ----------------------------------------------------------------------------------

# Event topics (before the settings' prefix); each rollup has its own topic too (Rollup.topic).
ORDERS_TOPIC, LOGISTICS_TOPIC, REJECTED_TOPIC = "orders", "logistics", "rejected"

# -- event enums (exactly what schemas/order.schema.json and logistics.schema.json allow) -----

ORDER_STATUSES = ("created", "paid", "cancelled", "refunded")
CHANNELS = ("app", "web", "livestream", "mini_program")
PROMOTIONS = ("none", "coupon", "cross_store", "flash_sale", "livestream_deal", "presale_deposit")
WAVES = ("presale", "wave1", "wave2", "other")
PRESALE_PHASES = ("none", "deposit", "final")
PARCEL_STATUSES = ("created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception")

# schema file stem -> field -> allowed values
EVENT_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "order": {"status": ORDER_STATUSES, "channel": CHANNELS, "promotion": PROMOTIONS, "wave": WAVES,
              "presale_phase": PRESALE_PHASES},
    "logistics": {"status": PARCEL_STATUSES},
}

# -- measures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One order measure: over the distinct valid order events of a window, the events whose
    status is ``status`` (and whose pre-sale phase is not ``except_phase``, or is ``phase``),
    counted, or their ``amount`` field summed (integer fen)."""

    name: str
    label: str  # what the dashboard calls it
    status: str
    amount: str | None = None
    except_phase: str | None = None
    phase: str | None = None

    @property
    def is_money(self) -> bool:
        return self.amount is not None


ORDER_MEASURES = (
    Measure("orders_created", "orders created", "created"),
    # an order counts as paid once fully paid: a pre-sale deposit is not yet a paid order
    Measure("orders_paid", "orders paid", "paid", except_phase="deposit"),
    Measure("gmv_fen", "GMV", "paid", amount="paid_fen"),  # deposits and finals both count
    Measure("refunds", "refunds", "refunded"),
    Measure("refund_fen", "refunded amount", "refunded", amount="paid_fen"),
    Measure("cancellations", "cancellations", "cancelled"),
    # pre-sale deposits paid: the paid events that orders_paid leaves out (their amounts are in gmv_fen)
    Measure("deposits_paid", "deposits paid", "paid", phase="deposit"),
)
MEASURES = tuple(m.name for m in ORDER_MEASURES)
MEASURE_BY_NAME = {m.name: m for m in ORDER_MEASURES}

# A buyer is a consumer with an order event of this status (deposits and finals both count, as
# in gmv_fen); the buyers rollups below count them per festival day (UTC_OFFSET_S) and minute.
BUYER_STATUS = "paid"

# The low-cardinality order fields (a few to a few dozen values each). The live path keeps a
# per-minute row for each value of each of them on its own (``dimensions_minute``: ~65 rows a
# minute whatever the rate); the explore path keeps the cube keyed by all of them at once, which
# answers any combination of filters on them exactly (readers sum the rows that match). ``vip``
# is 0 or 1.
CUBE_DIMENSIONS = ("category", "province", "channel", "vip", "promotion", "wave", "presale_phase")
# The high-cardinality field: hundreds of thousands of brands. Kept with its category (a brand may
# sell in several), on the explore path, and as the live ranking of the top brands.
BRAND = "brand"

# -- rollups ---------------------------------------------------------------------------------

# Column kinds; each stage maps a kind to its own type (Flink SQL, ClickHouse, Python).
WINDOW, FLAG, COUNT, FEN, TEXT = "window", "flag", "count", "fen", "text"
# Every rollup table also has this column: when the loader wrote the row (epoch ms). It is the
# ReplacingMergeTree version, so a rewritten window replaces the older row.
VERSION_COLUMN = "written_ms"
# Key column of every event-time order and parcel rollup: 1 marks a row of corrections from late
# events, which readers add in.
LATE_COLUMN = "late"

# The two paths out of the job, each sized for its reader. LIVE: what the wall shows, within about
# a second: per-second windows, each row written once as its second closes (the watermark passes its
# end), and the day's top brands (a continuous ranking: a row is written again when it changes).
# EXPLORE: coarser time tiers for drill-down (a minute, 5 minutes, an hour, a day), each row written
# once as its window closes. Every windowed rollup also has ``late = 1`` rows: corrections from
# events that reached the job after their window had closed, which readers add in.
LIVE, EXPLORE = "live", "explore"
# Loader lanes, each a consumer and a ClickHouse connection of its own: the per-second rollups
# never queue behind the continuous ones, nor those behind the burst of rows a closing window brings.
SECONDS_LANE, MINUTES_LANE, EXPLORE_LANE = "seconds", "minutes", "explore"

# Grains of the time tiers (seconds), and how a tier's name says it.
MINUTE_S, FIVE_MINUTES_S, HOUR_S, DAY_S = 60, 300, 3600, 86400
GRAIN_NAMES = {1: "second", MINUTE_S: "minute", FIVE_MINUTES_S: "5min", HOUR_S: "hour", DAY_S: "day"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str


@dataclass(frozen=True)
class Top:
    """Rankings: the ``n`` values of ``of`` with the largest ``measure`` per window, over all of
    them (key column ``ranking`` = '') and within each value of ``within`` (``ranking`` = that
    value); ties broken by ``of`` ascending. Key columns: window, ``ranking``, ``of``."""

    n: int
    of: str  # the field ranked
    measure: str
    within: str  # the field of the per-value rankings
    # The count measures of the events ``measure`` sums: a value with none of them has no measure
    # yet (NULL in the job) and ranks after every value with one, even one whose sum is 0.
    events: tuple[str, ...]

    def rank_key(self, value: str, row: Mapping[str, int]) -> tuple:
        """Sorts a ranking's rows first to last: by ``measure``, largest first; a value with no
        event of it after every value with one; ties by the value (as strings compare: by code point)."""
        return (not any(row[e] for e in self.events), -row[self.measure], value)


@dataclass(frozen=True)
class Rollup:
    """One rollup: the job writes it to topic ``rollup-<name>``, the loader into ``table``.

    ``keys`` identify a row (window first; ``late`` = 1 marks corrections from late events,
    which readers add in; the buyers rollups have no ``late``, their late events are counted with
    the rest); ``values`` are what is counted. The grouping: one row per combination of the
    ``by`` fields' values, or with ``each``, one row per value of each of those fields on its own
    (key columns ``dimension`` and ``value``). ``path``: LIVE or EXPLORE (see above). ``tier_of``:
    the finest rollup of the same grouping, of which this is a coarser time tier (the same rows
    per ``window_s``), so a reader can take closed hours and days from it instead of summing the
    finer windows. ``top``: a ranking instead of a grouping. ``in_ledger``: the simulator's ledger
    has the same rows under the kind ``name``, so ``gmv verify`` compares them.
    """

    name: str
    table: str
    window_s: int
    keys: tuple[Column, ...]
    values: tuple[Column, ...]
    lane: str
    path: str = LIVE
    by: tuple[str, ...] = ()
    each: bool = False
    tier_of: str = ""
    top: Top | None = None
    continuous: bool = False
    in_ledger: bool = False

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.keys + self.values

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Key columns other than the window and the late flag (a flag such as ``vip`` is one)."""
        return tuple(c.name for c in self.keys if c.kind != WINDOW and c.name != LATE_COLUMN)

    @property
    def value_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.values)

    @property
    def family(self) -> str:
        """The name of the finest rollup of this grouping (this one's, when it is not a tier)."""
        return self.tier_of or self.name

    @property
    def grain(self) -> str:
        return GRAIN_NAMES[self.window_s]

    def topic(self, prefix: str = "") -> str:
        return f"{prefix}rollup-{self.name}"


def _texts(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, TEXT) for n in names)


def _fields(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, FLAG if n == "vip" else TEXT) for n in names)


_WINDOW = (Column("window_start", WINDOW),)
_LATE = (Column(LATE_COLUMN, FLAG),)
_ORDER_VALUES = tuple(Column(m.name, FEN if m.is_money else COUNT) for m in ORDER_MEASURES)
_EVENTS = (Column("events", COUNT),)
_PARCELS = (Column("parcels", COUNT),)


def _tiers(rollup: Rollup, *tables: tuple[str, int]) -> tuple[Rollup, ...]:
    """``rollup`` and its coarser time tiers ``(name, window_s)``: the same keys and values per
    longer window, written when each closes (EXPLORE), in a table named after the tier."""
    stem = rollup.table.rsplit("_per_", 1)[0]
    return (rollup, *(replace(rollup, name=name, table=f"{stem}_per_{GRAIN_NAMES[window_s]}", window_s=window_s,
                              path=EXPLORE, lane=EXPLORE_LANE, tier_of=rollup.name)
                      for name, window_s in tables))


TOP_BRANDS = Top(n=10, of=BRAND, measure="gmv_fen", within="category", events=("orders_paid", "deposits_paid"))

ROLLUPS: dict[str, Rollup] = {r.name: r for r in (
    # Order totals: per second, live (the wall's GMV and orders per second); closed hours and days.
    *_tiers(Rollup("orders_second", "orders_per_second", 1, _WINDOW + _LATE, _ORDER_VALUES, SECONDS_LANE,
                   in_ledger=True),
            ("orders_hour", HOUR_S), ("orders_day", DAY_S)),
    # Each low-cardinality field on its own: per second, live (~65 rows a second whatever the rate:
    # the wall's breakdowns and splits of the open minute); closed minutes, hours and days.
    *_tiers(Rollup("dimensions_second", "orders_by_dimension_per_second", 1,
                   _WINDOW + _texts("dimension", "value") + _LATE, _ORDER_VALUES, SECONDS_LANE,
                   by=CUBE_DIMENSIONS, each=True, in_ledger=True),
            ("dimensions_minute", MINUTE_S), ("dimensions_hour", HOUR_S), ("dimensions_day", DAY_S)),
    # Every combination of them: the cube, per 5 minutes (explore draws 5-minute buckets from a
    # few hours up), hours and days.
    *_tiers(Rollup("cube_5min", "orders_cube_per_5min", FIVE_MINUTES_S,
                   _WINDOW + _fields(*CUBE_DIMENSIONS) + _LATE, _ORDER_VALUES, EXPLORE_LANE,
                   path=EXPLORE, by=CUBE_DIMENSIONS, in_ledger=True),
            ("cube_hour", HOUR_S), ("cube_day", DAY_S)),
    # Brands with their category (a brand sells in one), per 5 minutes, hours and days.
    *_tiers(Rollup("brands_5min", "brands_per_5min", FIVE_MINUTES_S, _WINDOW + _texts("category", BRAND) + _LATE,
                   _ORDER_VALUES, EXPLORE_LANE, path=EXPLORE, by=("category", BRAND), in_ledger=True),
            ("brands_hour", HOUR_S), ("brands_day", DAY_S)),
    # The festival day's (Asia/Shanghai, festival_day_start) top brands by GMV, live: over all brands (ranking = '')
    # and within each category (ranking = its name). A brand that leaves a ranking is written as a
    # row of zeros.
    Rollup("top_brands", "top_brands_per_day", DAY_S, _WINDOW + _texts("ranking", BRAND),
           _texts("category") + _ORDER_VALUES, MINUTES_LANE, top=TOP_BRANDS, continuous=True, in_ledger=True),
    # Parcel events per status: per second, live; closed minutes.
    *_tiers(Rollup("logistics_second", "logistics_per_second", 1, _WINDOW + _texts("status") + _LATE, _EVENTS,
                   SECONDS_LANE, by=("status",), in_ledger=True),
            ("logistics_minute", MINUTE_S)),
    # Buyers: consumers with a paid event (a deposit or a final payment counts, as in gmv_fen).
    # buyers_second: the day's *new* buyers per second, each consumer counted once per festival
    # day (Asia/Shanghai), in the second of their first paid event that day, so the seconds add up
    # to the day's unique buyers. buyers_minute: the distinct buyers of each minute. A buyer's
    # ``vip`` is 1 when any of their paid events of that day (of that minute) is a VIP's. No late
    # split: a late event earlier than a consumer's first moves them (their old second's row is
    # lowered, to 0 when it empties), so these rows can go down, never below 0.
    Rollup("buyers_second", "buyers_per_second", 1, (*_WINDOW, Column("vip", FLAG)),
           (Column("new_buyers", COUNT),), SECONDS_LANE, continuous=True, in_ledger=True),
    Rollup("buyers_minute", "buyers_per_minute", MINUTE_S, (*_WINDOW, Column("vip", FLAG)),
           (Column("buyers", COUNT),), MINUTES_LANE, continuous=True, in_ledger=True),
    # Parcels as the logistics partner reports them (the rules: stream/parcels.py), continuous over
    # every valid logistics event, on-time and late together, from the job's state per parcel:
    # parcel_stages: parcels in each stage now (window_start: the festival day of a delivered
    # parcel's delivery, 0 for the other stages, which are not per day); parcel_delivery_times:
    # legs from the parcel's creation to its pickup and to its delivery, per festival day of the
    # leg's end, destination province, carrier and fixed bucket (bucket_s: its lower edge);
    # parcel_exceptions: per carrier (window_start 0: since the stream began), the parcels seen and
    # those with an exception; parcel_first_delivery: each festival day's earliest delivered event
    # time (epoch ms). A parcel that moves on lowers its old row (to 0 when it empties).
    Rollup("parcel_stages", "parcels_per_stage", DAY_S, _WINDOW + _texts("stage"), _PARCELS, MINUTES_LANE,
           continuous=True, in_ledger=True),
    Rollup("parcel_delivery_times", "parcel_delivery_times_per_day", DAY_S,
           _WINDOW + _texts("province", "carrier", "leg") + (Column("bucket_s", COUNT),), _PARCELS, MINUTES_LANE,
           continuous=True, in_ledger=True),
    Rollup("parcel_exceptions", "parcel_exceptions_by_carrier", DAY_S, _WINDOW + _texts("carrier"),
           (*_PARCELS, Column("with_exception", COUNT)), MINUTES_LANE, continuous=True, in_ledger=True),
    Rollup("parcel_first_delivery", "parcel_first_delivery_per_day", DAY_S, _WINDOW,
           (Column("first_delivered_ms", COUNT),), MINUTES_LANE, continuous=True, in_ledger=True),
    # Parcels leaving a warehouse (picked up) per minute, from its province (origin; 'unknown' for an
    # event without one) to the buyer's: the map's flows. Written as each minute closes.
    Rollup("parcel_flows_minute", "parcel_flows_per_minute", MINUTE_S, _WINDOW + _texts("origin", "province") + _LATE,
           _PARCELS, MINUTES_LANE, by=("origin", "province"), in_ledger=True),
    # What the pipeline set aside per minute: kind 'rejected' (with its reason) or 'late'; and
    # kind 'received', every message that reached the job (what a rejected share is of).
    Rollup("pipeline_events", "pipeline_events_per_minute", MINUTE_S,
           _WINDOW + _texts("source", "kind", "reason"), _EVENTS, MINUTES_LANE, continuous=True),
)}
PARCEL_ROLLUPS = ("parcel_stages", "parcel_delivery_times", "parcel_exceptions", "parcel_first_delivery")
# An event's origin when it has none (an event from before origins were sent).
UNKNOWN_ORIGIN = "unknown"
ORDER_ROLLUPS = tuple(r for r in ROLLUPS.values() if set(_ORDER_VALUES) <= set(r.values))


# epoch seconds: one, or a numpy array of them
Epoch = TypeVar("Epoch", int, "np.ndarray")


def window_start(epoch_s: Epoch, window_s: int) -> Epoch:
    """The start (epoch s) of the time tier window of ``window_s`` seconds that holds ``epoch_s``.
    Every tier aligns in UTC, the day too (08:00 to 08:00 China time): Flink's two-phase window
    aggregation flushes its first phase only at UTC day ends, so a day window shifted to China's
    midnight would close before its last hour reached it. Readers of China days take hours at their
    edges. Works on numpy arrays too."""
    return epoch_s // window_s * window_s


def festival_day_start(epoch_s: Epoch) -> Epoch:
    """The start (epoch s) of the festival day (midnight Asia/Shanghai) that holds ``epoch_s``: the
    day of the top brands' rankings and of the buyers. Works on numpy arrays too."""
    return (epoch_s + UTC_OFFSET_S) // DAY_S * DAY_S - UTC_OFFSET_S


def family(name: str) -> tuple[Rollup, ...]:
    """A rollup and its time tiers, finest first (``name`` may be any of them)."""
    base = ROLLUPS[name].family
    return tuple(sorted((r for r in ROLLUPS.values() if r.family == base), key=lambda r: r.window_s))


# The rejected messages themselves go to the rejected topic (not a rollup): these fields.
# ``msg`` is the message, cut to its first 64 KiB when longer (``truncated`` = 1; ``msg_chars``
# is the whole message's length in characters); ``msg_base64`` holds the exact bytes of a
# message that is not UTF-8 (reason bad_encoding), empty otherwise.
REJECTED_FIELDS = (Column("source", TEXT), Column("reason", TEXT), Column("kafka_partition", COUNT),
                   Column("kafka_offset", COUNT), Column("kafka_time", TEXT), Column("msg", TEXT),
                   Column("truncated", FLAG), Column("msg_chars", COUNT), Column("msg_base64", TEXT))
