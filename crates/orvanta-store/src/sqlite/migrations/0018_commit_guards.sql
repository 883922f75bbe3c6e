-- Guards for transactions sent in one round trip (sqlite/trip.rs): after a
-- statement whose change count decides whether the rest may be written,
-- `INSERT INTO commit_guard (what, ok) VALUES ('lost', changes() = 1)`
-- aborts the query with the error 'orvanta guard: lost' when the count is
-- not 1, and the transaction is rolled back. The view holds no rows; only
-- its triggers act.
CREATE VIEW commit_guard (what, ok) AS SELECT NULL, NULL WHERE 0;
CREATE TRIGGER commit_guard_lost INSTEAD OF INSERT ON commit_guard WHEN NEW.what = 'lost' AND NOT NEW.ok
BEGIN
    SELECT RAISE(ABORT, 'orvanta guard: lost');
END;
CREATE TRIGGER commit_guard_conflict INSTEAD OF INSERT ON commit_guard WHEN NEW.what = 'conflict' AND NOT NEW.ok
BEGIN
    SELECT RAISE(ABORT, 'orvanta guard: conflict');
END;
