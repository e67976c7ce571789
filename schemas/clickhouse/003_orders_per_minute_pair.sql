-- Per-minute order measures by a PAIR of dimensions, for the dashboard's drill-downs
-- ("a category's brands", "a province's channels"): orders_per_minute keeps one dimension
-- per row, so it cannot say which brands sold inside one category.
-- One row per (minute, parent_dimension, parent_value, dimension, value, late); the pairs
-- written are exactly (parent_dimension, dimension) = ('category', 'brand') and
-- ('province', 'channel'). Measures, late and written_ms mean what they mean in
-- orders_per_minute: late = 1 rows are corrections for the same window and pair, readers
-- sum both; ReplacingMergeTree(written_ms), read with FINAL.
CREATE TABLE IF NOT EXISTS ${database}.orders_per_minute_pair
(
    window_start     DateTime,
    parent_dimension String,
    parent_value     String,
    dimension        String,
    value            String,
    late             UInt8,
    orders_created   UInt64,
    orders_paid      UInt64,
    gmv_fen          Int64,
    refunds          UInt64,
    refund_fen       Int64,
    cancellations    UInt64,
    written_ms       UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (parent_dimension, dimension, parent_value, window_start, value, late);
