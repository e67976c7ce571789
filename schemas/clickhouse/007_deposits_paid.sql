-- Pre-sale deposits paid (stream.contract's measure deposits_paid): the paid events whose
-- presale_phase is 'deposit', counted. orders_paid leaves them out (an order counts as paid once
-- fully paid) while gmv_fen adds their amounts, so without this column no rollup could say how
-- many deposits were paid. Rows written before this migration read 0.
ALTER TABLE ${database}.orders_per_second ADD COLUMN deposits_paid UInt64 DEFAULT 0 AFTER cancellations;
ALTER TABLE ${database}.orders_per_minute ADD COLUMN deposits_paid UInt64 DEFAULT 0 AFTER cancellations;
ALTER TABLE ${database}.orders_per_minute_pair ADD COLUMN deposits_paid UInt64 DEFAULT 0 AFTER cancellations;
ALTER TABLE ${database}.orders_per_minute_cube ADD COLUMN deposits_paid UInt64 DEFAULT 0 AFTER cancellations;
