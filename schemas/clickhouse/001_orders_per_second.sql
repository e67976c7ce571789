-- Per-second order totals, one row per (second, late) written by the Flink job.
-- late = 0: the event-time window as it closed; late = 1: corrections from events that
-- arrived behind the watermark, for the same second. Readers sum both.
-- ReplacingMergeTree(written_ms): rewriting a window replaces it (idempotent writes);
-- read with FINAL or argMax(..., written_ms).
CREATE TABLE IF NOT EXISTS ${database}.orders_per_second
(
    window_start   DateTime,
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
ORDER BY (window_start, late);
