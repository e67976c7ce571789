-- The first delivery of each festival day, written by the alert service
-- (stream/alerts/first_delivery_watch.py) from parcel_first_delivery_per_day, shown on the wall:
-- "first parcel delivered 00:13:27 after the start".
-- window_start: the festival day (its midnight, Asia/Shanghai, as in the rollup); delivered_ms: its
-- earliest delivered event time (epoch ms) as now known; first_delivered_ms: delivered_ms as first
-- recorded (a late event that shows an earlier delivery moves it); recorded_ms / moved_ms: wall
-- clock when it was first recorded / last moved (0: never); announce: its latest webhook
-- announcement, 'waiting' (until its second is settled), 'pending', 'delivered', 'failed', 'none'
-- (no webhook announces milestones) or 'old' (first found over an hour after it: not announced);
-- announced_delivered_ms: the time that announcement says, previous_delivered_ms the time the one
-- before said (0: it was the first; else it announced a move); announced_ms when it was queued,
-- attempts the tries in all.
-- ReplacingMergeTree(written_ms) keyed by the day alone: a move, or an announcement that
-- progressed, replaces its row. Read with FINAL.
CREATE TABLE IF NOT EXISTS ${database}.first_deliveries
(
    window_start           DateTime,
    delivered_ms           UInt64,
    first_delivered_ms     UInt64,
    recorded_ms            UInt64,
    moved_ms               UInt64,
    announce               String,
    announced_delivered_ms UInt64,
    previous_delivered_ms  UInt64,
    announced_ms           UInt64,
    attempts               UInt32,
    written_ms             UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
ORDER BY window_start;
