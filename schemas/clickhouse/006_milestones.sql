-- GMV milestones, written by the alert service (stream/alerts/milestone_watch.py), shown on the
-- wall: one row per round figure of festival GMV (the config's [milestones] figures_fen) that
-- the running total has reached.
-- figure_fen: the figure; passed_second: the first second (event time, UTC) whose cumulative
-- festival GMV (every second up to it, late corrections added in) reaches it; gmv_fen: that
-- cumulative GMV at the end of passed_second; first_second: passed_second as first recorded (a
-- late correction can move the milestone earlier); recorded_ms / moved_ms: wall clock when it
-- was first recorded / last moved (0: never); announce: its webhook announcement, 'waiting'
-- (until its second is settled), 'pending', 'delivered', 'failed', 'none' (no webhook
-- announces milestones) or 'old' (first found over an hour after its second: not announced),
-- announced_ms when it was queued, attempts the tries in all.
-- ReplacingMergeTree(written_ms) keyed by the figure alone: a moved milestone, or one whose
-- announcement progressed, replaces its row. Read with FINAL.
CREATE TABLE IF NOT EXISTS ${database}.milestones
(
    figure_fen     Int64,
    passed_second  DateTime,
    gmv_fen        Int64,
    first_second   DateTime,
    recorded_ms    UInt64,
    moved_ms       UInt64,
    announce       String,
    announced_ms   UInt64,
    attempts       UInt32,
    written_ms     UInt64
)
ENGINE = ReplacingMergeTree(written_ms)
ORDER BY figure_fen;
