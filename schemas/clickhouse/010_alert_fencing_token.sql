-- The fencing token of the alert leader that wrote each alert_events row (its lease number in
-- ZooKeeper, higher for every new leader; 0 without a standby): who paged, and that a replaced
-- leader did not. Rows written before this migration read 0.
ALTER TABLE ${database}.alert_events ADD COLUMN fencing_token UInt64 DEFAULT 0 AFTER attempts;
