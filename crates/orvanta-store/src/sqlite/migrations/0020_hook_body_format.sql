-- How an inbound event's body is stored: 0 as received, 1 packed (LZ4, as
-- the large job values; see packed.rs). A raw body may be any bytes, so the
-- form is a column of its own.
ALTER TABLE hook_events ADD COLUMN body_format INTEGER NOT NULL DEFAULT 0;
