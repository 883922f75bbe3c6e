-- A script's concurrency limit, copied to its jobs when they are queued:
-- the claim skips a job whose key ({workspace}/{path}) has `limit` jobs running.
ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
ALTER TABLE jobs ADD COLUMN concurrency_limit INTEGER;
CREATE INDEX jobs_concurrency ON jobs(concurrency_key, status) WHERE concurrency_key IS NOT NULL;
