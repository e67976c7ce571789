-- Rollups sized for their readers (stream.contract): a live path for the wall and time tiers for
-- explore. Measures, late and written_ms mean what they mean in orders_per_second: late = 1 rows
-- are corrections from events that reached the job behind the watermark, readers add both;
-- ReplacingMergeTree(written_ms): a rewritten row replaces the older one, read with FINAL.
-- A day is a festival day (Asia/Shanghai): window_start is its midnight there (16:00 UTC).
--
-- Every windowed table is written by the Flink job once when its window closes (the watermark
-- passes its end), then only corrected by late rows: the live path's per-second tables as each
-- second closes, the explore path's minutes, 5 minutes, hours and days as each closes. The day's
-- top brands are a continuous ranking, rewritten as it changes.
--
-- The per-minute breakdowns by dimension (with brand), the drill-down pairs and the per-minute cube
-- are gone: each low-cardinality field on its own per second and minute, the cube per 5 minutes and
-- brands with their category per 5 minutes answer what they answered. Their rows are not carried over:
-- `gmv job --from-start` writes the new rollups again from the raw topics.
DROP TABLE IF EXISTS ${database}.orders_per_minute;
DROP TABLE IF EXISTS ${database}.orders_per_minute_pair;
DROP TABLE IF EXISTS ${database}.orders_per_minute_cube;

-- Order totals per closed hour and day (tiers of orders_per_second).
CREATE TABLE IF NOT EXISTS ${database}.orders_per_hour
(
    window_start   DateTime,
    late           UInt8,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, late);

CREATE TABLE IF NOT EXISTS ${database}.orders_per_day
(
    window_start   DateTime,
    late           UInt8,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, late);

-- Each low-cardinality field on its own: one row per (window, dimension, value, late); dimension is
-- one of category, province, channel, vip ('0' or '1'), promotion, wave, presale_phase. Per second
-- (live: the wall's breakdowns of the open minute; sorted by time first, as it is read by time),
-- per minute, hour and day.
CREATE TABLE IF NOT EXISTS ${database}.orders_by_dimension_per_second
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, dimension, value, late);

CREATE TABLE IF NOT EXISTS ${database}.orders_by_dimension_per_minute
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (dimension, window_start, value, late);

CREATE TABLE IF NOT EXISTS ${database}.orders_by_dimension_per_hour
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (dimension, window_start, value, late);

CREATE TABLE IF NOT EXISTS ${database}.orders_by_dimension_per_day
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (dimension, window_start, value, late);

-- The cube: one row per (window, category, province, channel, vip, promotion, wave, presale_phase,
-- late) that had orders; any combination of filters on these fields is the sum of the rows that
-- match. Per closed 5 minutes, hour and day.
CREATE TABLE IF NOT EXISTS ${database}.orders_cube_per_5min
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, category, province, channel, vip, promotion, wave, presale_phase, late);

CREATE TABLE IF NOT EXISTS ${database}.orders_cube_per_hour
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, category, province, channel, vip, promotion, wave, presale_phase, late);

CREATE TABLE IF NOT EXISTS ${database}.orders_cube_per_day
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
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, category, province, channel, vip, promotion, wave, presale_phase, late);

-- Brands with their category: one row per (window, category, brand, late). Sorted by brand first:
-- one brand's rows are a short range of each day's part. Per closed 5 minutes, hour and day.
CREATE TABLE IF NOT EXISTS ${database}.brands_per_5min
(
    window_start   DateTime,
    category       String,
    brand          String,
    late           UInt8,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (brand, window_start, category, late);

CREATE TABLE IF NOT EXISTS ${database}.brands_per_hour
(
    window_start   DateTime,
    category       String,
    brand          String,
    late           UInt8,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (brand, window_start, category, late);

CREATE TABLE IF NOT EXISTS ${database}.brands_per_day
(
    window_start   DateTime,
    category       String,
    brand          String,
    late           UInt8,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (brand, window_start, category, late);

-- The festival day's top brands by GMV, live: ranking = '' is the ranking over all brands, ranking
-- = a category's name the ranking inside that category; category is the brand's. Each ranking holds
-- stream.contract's TOP_BRANDS.n brands; a brand that leaves it is written as a row of zeros (read
-- past it: every brand in a ranking has at least one valid order event, so a measure above 0).
-- Ranked by gmv_fen, largest first; a brand with no paid event after every brand with one; ties
-- by brand name. Late events count in the day of their event time.
CREATE TABLE IF NOT EXISTS ${database}.top_brands_per_day
(
    window_start   DateTime,
    ranking        String,
    brand          String,
    category       String,
    orders_created UInt64,
    orders_paid    UInt64,
    gmv_fen        Int64,
    refunds        UInt64,
    refund_fen     Int64,
    cancellations  UInt64,
    deposits_paid  UInt64,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, ranking, brand);
