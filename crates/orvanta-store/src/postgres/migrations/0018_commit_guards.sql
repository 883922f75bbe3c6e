-- SQLite's migration 0018 adds the guards of its one-round-trip
-- transactions. PostgreSQL checks those conditions between the statements
-- of its transactions and needs nothing; this keeps the two lists in step.
SELECT 1;
