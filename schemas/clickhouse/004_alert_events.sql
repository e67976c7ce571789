-- History of the alert service: one row per alert state change (firing, then resolved).
-- event_ms: when the service decided it (epoch ms); observed/baseline: the measured value and
-- what the rule compared it with; window_start/window_seconds: the rollup window judged.
-- delivery: 'delivered' | 'failed' | 'pending' webhook state after `attempts` tries; the service
-- rewrites the row (same event_ms, rule, state; newer written_ms) as delivery progresses,
-- so read with FINAL.
CREATE TABLE IF NOT EXISTS ${database}.alert_events
(
    event_ms       UInt64,
    rule           String,
    severity       String,
    state          String,
    observed       Float64,
    baseline       Float64,
    window_start   DateTime,
    window_seconds UInt32,
    message        String,
    delivery       String,
    attempts       UInt32,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
ORDER BY (event_ms, rule, state);
