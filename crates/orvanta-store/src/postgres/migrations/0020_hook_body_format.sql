-- How an inbound event's body is stored. SQLite packs large bodies (its
-- migration 0020); PostgreSQL stores them as received (0) and compresses
-- large values itself. The column keeps the two schemas' event rows alike.
ALTER TABLE hook_events ADD COLUMN body_format INTEGER NOT NULL DEFAULT 0;
