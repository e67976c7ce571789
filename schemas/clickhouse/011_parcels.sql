-- Parcels as the logistics partner reports them (stream.contract's parcel_* rollups; the rules are
-- stream/parcels.py). The job keeps a state per parcel (its furthest status, the earliest time of
-- its created, picked-up and delivered events, its latest progress and exception times) over every
-- valid event, on-time and late together, and writes these rows as they change, at most once a
-- second per key. No late column: a late event is folded into its parcel, and a parcel that moves on
-- lowers the row of the stage (or bucket) it left, to 0 when it empties. ReplacingMergeTree
-- (written_ms) as every rollup: read with FINAL.

-- Parcels in each stage now: stage is one of waiting_for_pickup, in_transit, out_for_delivery,
-- delivered, in_exception. window_start is the festival day (its midnight, Asia/Shanghai) of a
-- delivered parcel's delivery, 1970-01-01 (0) for the other stages, which are not per day.
CREATE TABLE IF NOT EXISTS ${database}.parcels_per_stage
(
    window_start DateTime,
    stage        String,
    parcels      UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
ORDER BY (window_start, stage);

-- Delivery times: legs (leg pickup: creation -> picked_up; delivery: creation -> delivered) per
-- festival day of the leg's end, destination province, carrier and bucket; bucket_s is the
-- bucket's lower edge in seconds (stream.parcels.DELIVERY_BUCKET_EDGES_S).
CREATE TABLE IF NOT EXISTS ${database}.parcel_delivery_times_per_day
(
    window_start DateTime,
    province     String,
    carrier      String,
    leg          String,
    bucket_s     UInt64,
    parcels      UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, province, carrier, leg, bucket_s);

-- Per carrier, since the stream began (window_start 0): parcels seen, and those with an exception.
CREATE TABLE IF NOT EXISTS ${database}.parcel_exceptions_by_carrier
(
    window_start   DateTime,
    carrier        String,
    parcels        UInt64,
    with_exception UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
ORDER BY (window_start, carrier);

-- Each festival day's first delivery: its earliest delivered event time (epoch ms). A late event
-- that shows an earlier one rewrites it.
CREATE TABLE IF NOT EXISTS ${database}.parcel_first_delivery_per_day
(
    window_start       DateTime,
    first_delivered_ms UInt64,
    written_ms         UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
ORDER BY window_start;

-- The map's flows: parcels picked up per minute, from the warehouse's province (origin; 'unknown'
-- for an event sent without one) to the buyer's (province). Written as each minute closes; late = 1
-- rows are corrections from late events, which readers add in.
CREATE TABLE IF NOT EXISTS ${database}.parcel_flows_per_minute
(
    window_start DateTime,
    origin       String,
    province     String,
    late         UInt8,
    parcels      UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, origin, province, late);
