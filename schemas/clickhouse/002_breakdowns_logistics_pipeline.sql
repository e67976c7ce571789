-- Per-minute order breakdowns: one row per (minute, dimension, value, late).
-- dimension is one of category | province | channel | brand; measures as in orders_per_second.
CREATE TABLE IF NOT EXISTS ${database}.orders_per_minute
(
    window_start   DateTime,
    dimension      String,
    value          String,
    late           UInt8,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (dimension, window_start, value, late);

-- Logistics events per parcel status, per second and per minute (event time).
-- status: created | picked_up | in_transit | out_for_delivery | delivered | exception
CREATE TABLE IF NOT EXISTS ${database}.logistics_per_second
(
    window_start DateTime,
    status       String,
    late         UInt8,
    events       UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, status, late);

CREATE TABLE IF NOT EXISTS ${database}.logistics_per_minute
(
    window_start DateTime,
    status       String,
    late         UInt8,
    events       UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, status, late);

-- What the pipeline set aside, per minute: kind = 'rejected' (malformed events, kept in the
-- rejected topic; window = minute the event reached Kafka; reason says why) or 'late' (valid
-- events that arrived behind the watermark and went to the late corrections; window = minute
-- of their event time; reason = ''). source = orders | logistics.
CREATE TABLE IF NOT EXISTS ${database}.pipeline_events_per_minute
(
    window_start DateTime,
    source       String,
    kind         String,
    reason       String,
    events       UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, source, kind, reason);
