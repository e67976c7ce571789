-- Buyers (stream.contract's buyers_second and buyers_minute): consumers with a paid event (a
-- pre-sale deposit or a final payment counts, as in gmv_fen).
-- buyers_per_second: new_buyers = the consumers whose first paid event of their festival day
-- (Asia/Shanghai) falls in this second, so a day's seconds add up to its unique buyers.
-- buyers_per_minute: buyers = the distinct consumers who paid in this minute; the minute's
-- repeat buyers are buyers minus the new buyers of its seconds.
-- vip = 1: a buyer any of whose paid events of that day (that minute) was a VIP's (APASS).
-- No late column: a late event earlier than a consumer's first moves them to its second, and the
-- job rewrites both seconds' rows (a row that empties is rewritten as 0). ReplacingMergeTree
-- (written_ms) as every rollup: read with FINAL.
CREATE TABLE IF NOT EXISTS ${database}.buyers_per_second
(
    window_start DateTime,
    vip          UInt8,
    new_buyers   UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, vip);

CREATE TABLE IF NOT EXISTS ${database}.buyers_per_minute
(
    window_start DateTime,
    vip          UInt8,
    buyers       UInt64,
    written_ms   UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, vip);
