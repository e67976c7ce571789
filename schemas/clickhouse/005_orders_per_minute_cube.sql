-- Per-minute order measures by every low-cardinality field at once (stream.contract's
-- CUBE_DIMENSIONS): one row per (minute, category, province, channel, vip, promotion, wave,
-- presale_phase, late) that had orders. Any combination of filters on these fields is the sum
-- of the rows that match, so the dashboard answers it exactly. vip is 0 or 1 (the APASS flag).
-- Measures, late and written_ms mean what they mean in orders_per_minute: late = 1 rows are
-- corrections for the same minute and fields, readers sum both; ReplacingMergeTree(written_ms),
-- read with FINAL.
CREATE TABLE IF NOT EXISTS ${database}.orders_per_minute_cube
(
    window_start   DateTime,
    category       String,
    province       String,
    channel        String,
    vip            UInt8,
    promotion      String,
    wave           String,
    presale_phase  String,
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
ORDER BY (window_start, category, province, channel, vip, promotion, wave, presale_phase, late);
